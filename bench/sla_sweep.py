"""SLA sweep cost on DynamoDB Local: items read ÷ items due (bar <= 1.2, flat as the table grows 10x).

A table holds BASE open orders, each filed in the sweep's index (GSI4) by its next
due timer as the order repository files it; 50 of them are real orders (placed and
paid through the services) with one timer due in the last two hours, the others
are due over the next four days (minimal order items: the key attributes and the
index key, which is all the sweep could see of them, since it never reads them).
The sweep's cursor says it last ran two hours ago. One `SlaService.sweep(now)` then
runs while every DynamoDB response is counted at botocore's API-call layer
(pynamodb's calls included): items returned by Query/Scan (`Count`), 1 per GetItem
hit, the items of BatchGetItem / TransactGetItems. The sweep really acts on the due
orders (conditional writes, which read nothing).

Then the table grows 10x (more open orders, 50 fresh due ones, the cursor set
back again) and the same sweep is measured once more. By default the 10x step is
2 000 -> 20 000 open orders; OC_BENCH_SWEEP_BASE=20000 measures 20 000 -> 200 000
(200 000 items, about a minute of loading into DynamoDB Local on a 2-core machine).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DUE = 50
GROWTH = 10
BASE = int(os.environ.get("OC_BENCH_SWEEP_BASE", "2000"))
TABLE = "ordercare-bench-sla"
BATCH = 25  # BatchWriteItem's limit
LOADERS = 4  # client threads: DynamoDB Local is the bottleneck beyond this on 2 cores
READ_OPERATIONS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")


@dataclass
class ReadCount:
    items: int = 0
    calls: Counter[str] = field(default_factory=Counter)


def _items_in(operation: str, response: dict[str, Any]) -> int:
    if operation in ("Query", "Scan"):
        return int(response.get("Count", len(response.get("Items", []))))
    if operation == "GetItem":
        return 1 if response.get("Item") else 0
    if operation == "BatchGetItem":
        return sum(len(items) for items in response.get("Responses", {}).values())
    if operation == "TransactGetItems":
        return sum(1 for item in response.get("Responses", []) if item.get("Item"))
    return 0


@contextmanager
def counting_reads() -> Iterator[ReadCount]:
    """Items read from DynamoDB responses while the block runs (every botocore client)."""
    from botocore.client import BaseClient

    count = ReadCount()
    client_class: Any = BaseClient  # patched on the class: pynamodb's clients are counted too
    original = client_class._make_api_call

    def counted(self: Any, operation: str, params: dict[str, Any]) -> Any:
        response = original(self, operation, params)
        if self.meta.service_model.service_name == "dynamodb":
            count.calls[operation] += 1
            count.items += _items_in(operation, response)
        return response

    client_class._make_api_call = counted
    try:
        yield count
    finally:
        client_class._make_api_call = original


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _future_due(now: datetime, rng: random.Random) -> datetime:
    """An open order's next due timer: its shipping "at risk" point, within the next four days."""
    return (now + timedelta(seconds=rng.uniform(60, 4 * 86400))).replace(microsecond=0)


class Loader:
    """Open orders' index entries written in parallel BatchWriteItem calls."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.items = 0
        self.seconds = 0.0

    def _write(self, batch: list[dict[str, Any]]) -> None:
        request: dict[str, Any] | None = {self.table: [{"PutRequest": {"Item": item}} for item in batch]}
        while request:
            request = self.client.batch_write_item(RequestItems=request).get("UnprocessedItems") or None

    def write(self, due: list[tuple[str, datetime]]) -> None:
        # The keys the order repository writes (order_to_item: the item key and the GSI4 entry).
        from chalicelib.adapters.dynamo.repositories import ORDER_SK, order_due_key, order_pk

        started = time.perf_counter()
        items = []
        for order_id, due_at in due:
            bucket, stamp = order_due_key(due_at, order_id)
            items.append(
                {
                    "pk": {"S": order_pk(order_id)},
                    "sk": {"S": ORDER_SK},
                    "type": {"S": "order"},
                    "gsi4pk": {"S": bucket},
                    "gsi4sk": {"S": stamp},
                }
            )
        batches = [items[i : i + BATCH] for i in range(0, len(items), BATCH)]
        with ThreadPoolExecutor(LOADERS) as pool:
            list(pool.map(self._write, batches))
        self.items += len(items)
        self.seconds += time.perf_counter() - started


@dataclass
class _Fixed:
    at: datetime

    def now(self) -> datetime:
        return self.at


def _due_orders(container: Any, now: datetime, rng: random.Random) -> None:
    """50 real, paid orders whose shipping promise has a timer due in the last two hours.

    Half are at the "at risk" point, half past ship-by (warned already: no "at risk" timer
    left); their delivery promise is days away. Their promise facts are set so, and the order
    saved through the repository as any change is, filed at that due time (a clock a day back:
    the write happened before the timer came due, as in production)."""
    from chalicelib.adapters.dynamo.repositories import DynamoOrderRepository
    from chalicelib.bootstrap import sweep_schedule
    from chalicelib.domain.address import Address
    from chalicelib.domain.orders import Customer, Payment, SlaState
    from chalicelib.services.orders import IdempotentRequest, PlaceOrder
    from chalicelib.services.ports import Effects

    filing = DynamoOrderRepository(sweep_schedule(container.settings), _Fixed(now - timedelta(days=1)))
    for n in range(DUE):
        command = PlaceOrder(
            customer=Customer(f"cus_{n}", f"bench{n}@example.com", "Bench", None, "de-DE"),
            currency="EUR",
            lines=[("MUG-1", 1, 1299)],
            shipping_address=Address("Bench", "Hauptstr. 1", "Berlin", "10115", "DE"),
            shipping_method="standard",
            shipping_fee=499,
            discounts=[],
        )
        request = IdempotentRequest("bench", str(uuid.uuid4()), {"n": n})
        _, placed = container.orders.place(command, request, "storefront:bench", lambda o: {"id": o.id})
        order_id = placed["id"]
        total = container.orders.get(order_id).totals.total
        container.orders.pay(
            order_id,
            Payment(total, "card", f"pi_{n}", datetime.now(UTC)),
            IdempotentRequest("bench", str(uuid.uuid4()), {"order_id": order_id}),
            "storefront:bench",
            lambda o: {},
        )
        order = container.orders.get(order_id)  # paid
        due_at = (now - timedelta(seconds=rng.uniform(60, 110 * 60))).replace(microsecond=0)
        order.placed_at = order.paid_at = start = now - timedelta(days=3)
        if n % 2 == 0:  # the "at risk" point (75 % of the window) is due_at
            order.ship_by = (start + (due_at - start) / 0.75).replace(microsecond=0)
            order.deliver_by = order.ship_by + timedelta(days=10)
        else:  # past ship-by, warned before
            order.ship_by, order.sla_shipping = due_at, SlaState.AT_RISK
            order.deliver_by = now + timedelta(days=10)
        filing.save(order, Effects())


def _measure(container: Any, loader: Loader, new_open: int, open_total: int, rng: random.Random) -> dict[str, Any]:
    """Add `new_open` open orders (50 of them due now), sweep once, count what was read."""
    now = datetime.now(UTC)
    _due_orders(container, now, rng)
    loader.write([(f"{uuid.uuid4().hex[:20]}{n}", _future_due(now, rng)) for n in range(new_open - DUE)])
    # The last sweep ran two hours ago: every due order is in a bucket after the cursor.
    store = container.sla.timers
    store.advance(now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2))
    with counting_reads() as reads:
        outcome = container.sla.sweep(now)
    acted = sum(n for key, n in outcome.items() if key.endswith(":acted"))
    if outcome["due"] != DUE or acted != DUE:
        raise AssertionError(f"expected {DUE} due timers acted on, the sweep says {outcome}")
    return {"open": open_total, "due": outcome["due"], "items": reads.items, "calls": reads.calls}


def _line(result: dict[str, Any], note: str = "") -> str:
    calls = ", ".join(f"{op} x{n}" for op, n in sorted(result["calls"].items()) if op in READ_OPERATIONS)
    return (
        f"sweep_reads_per_due: {result['items'] / result['due']:.2f} "
        f"({result['open']} open, {result['due']} due; {result['items']} items read in {calls}; bar <= 1.2{note})"
    )


def run() -> list[str]:
    from chalicelib.adapters.dynamo.schema import ensure_table
    from chalicelib.bootstrap import build_container, reset_container
    from chalicelib.domain.catalog import CatalogItem
    from chalicelib.settings import Settings
    from local.dynamodb_local import DynamoDBLocal

    rng = random.Random(7)
    with (
        DynamoDBLocal(startup_timeout=90) as ddb,
        _environment(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_DEFAULT_REGION="eu-central-1",
            AWS_REGION="eu-central-1",
            AWS_ENDPOINT_URL_DYNAMODB=ddb.endpoint_url,
        ),
    ):
        ensure_table(ddb.client(), TABLE)
        container = build_container(Settings(table_name=TABLE, region="eu-central-1"))
        container.catalog.upsert(CatalogItem("MUG-1", "Mug", 1299, "EUR", 10**6, 1900))
        loader = Loader(ddb.client(max_pool_connections=LOADERS * 2), TABLE)

        small = _measure(container, loader, BASE, BASE, rng)
        large = _measure(container, loader, BASE * (GROWTH - 1), BASE * GROWTH, rng)
        per_item = loader.seconds / loader.items
    reset_container()

    ratio_small, ratio_large = small["items"] / small["due"], large["items"] / large["due"]
    growth = f"sweep_reads_per_due_growth_x{GROWTH}: {ratio_large / ratio_small:.2f} ({BASE} -> {BASE * GROWTH} open"
    if BASE * GROWTH >= 200_000:
        return [_line(small), _line(large), growth + ")"]
    minutes = 200_000 * per_item / 60
    note = (
        f"; the x{GROWTH} step is measured from {BASE}, not to 200000: loading 200000 open orders "
        f"would take ~{minutes:.0f} min here, OC_BENCH_SWEEP_BASE=20000 runs it"
    )
    return [_line(large), _line(small, note), growth + ")"]


if __name__ == "__main__":
    for figure in run():
        print(figure, flush=True)
