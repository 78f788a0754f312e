"""The SLA sweep against a real table: orders filed by their next due timer (GSI4), read once
each, acted on once — with a stale index copy, after a crash mid-sweep, and raced by other sweeps."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamo.repositories import ORDER_SK, due_bucket, due_stamp, order_pk
from chalicelib.adapters.dynamo.timers import DynamoTimerStore
from chalicelib.bootstrap import Container
from chalicelib.domain.orders import Order
from chalicelib.domain.sla import next_due
from chalicelib.services.ports import Effects
from chalicelib.services.sla import SlaService
from tests.integration.test_order_store import _pay, _place

pytestmark = pytest.mark.timeout(180)

LATER = timedelta(days=10)  # past ship-by and deliver-by of an order placed at the frozen clock


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    """A fixed (ticking) Monday: ten days is past deliver-by only away from the holidays,
    so the real date would turn these tests red around Christmas and Easter."""
    from tests.clock import frozen

    with frozen():
        yield


def _paid(container: Container) -> str:
    order_id = str(_place(container)["id"])
    _pay(container, order_id)
    return order_id


def _raw(order_id: str) -> dict[str, Any]:
    from chalicelib.adapters.dynamo.models import OrderItem

    item = OrderItem.get(order_pk(order_id), ORDER_SK, consistent_read=True)
    return {"gsi4pk": item.gsi4pk, "gsi4sk": item.gsi4sk}


def _breaches(container: Container, order_id: str) -> int:
    entries, _ = container.orders.timeline(order_id, customer_id=None, limit=100, cursor=None)
    return [e.kind for e in entries].count("sla_breached")


def _acted(*outcomes: dict[str, int]) -> Counter[str]:
    total: Counter[str] = Counter()
    for outcome in outcomes:
        total.update({key: n for key, n in outcome.items() if key.endswith(":acted")})
    return total


def test_an_order_is_filed_by_its_next_due_timer_and_leaves_the_index_when_none_is_open(store: Container) -> None:
    order_id = _paid(store)
    order = store.orders.get(order_id)
    due = next_due(order, store.sla.calendar, store.sla.stall_days)
    assert due is not None and due > datetime.now(UTC)
    assert _raw(order_id) == {"gsi4pk": due_bucket(due), "gsi4sk": f"{due_stamp(due)}#{order_id}"}
    timers, now = store.sla.timers, datetime.now(UTC)
    start, _ = timers.window(now, now)
    assert [o.id for o in timers.due_orders(start, due - timedelta(seconds=1))] == []
    assert [o.id for o in timers.due_orders(start, due)] == [order_id]
    store.orders.cancel(order_id, "changed my mind", "agent:a", customer_id=None)
    assert _raw(order_id) == {"gsi4pk": None, "gsi4sk": None}  # off the sparse index
    assert list(timers.due_orders(start, now + timedelta(days=60))) == []


def test_one_read_per_due_order_and_nothing_twice(store: Container) -> None:
    ids = [_paid(store) for _ in range(3)]
    later = datetime.now(UTC) + LATER
    first = store.sla.sweep(later)
    assert first["due"] == 12  # four timers each, from one index read of each order
    assert _acted(first) == {"shipping:breached:acted": 3, "delivery:breached:acted": 3}
    assert first["shipping:at_risk:superseded"] == first["delivery:at_risk:superseded"] == 3
    assert all(_raw(order_id)["gsi4pk"] is None for order_id in ids)  # nothing left to watch
    assert store.sla.sweep(later)["due"] == 0
    assert all(_breaches(store, order_id) == 2 for order_id in ids)


class StaleIndex(DynamoTimerStore):
    """The index as DynamoDB may serve it for a moment: the order's copy from before its last write."""

    def __init__(self, copies: list[Order]) -> None:
        self.copies = copies

    def due_orders(self, start: datetime, now: datetime) -> Iterator[Order]:
        yield from self.copies


def test_a_stale_index_copy_is_read_again_consistently_and_decided_again(store: Container) -> None:
    order_id = _paid(store)
    stale = store.orders.get(order_id)
    store.orders.ship(order_id, "dhl", f"T{uuid.uuid4().hex[:10]}", None, "agent:a")  # on time: shipping met
    sla = store.sla
    sweep = SlaService(StaleIndex([stale]), sla.calendar, sla.clock, sla.orders, stall_days=sla.stall_days)
    outcome = sweep.sweep(datetime.now(UTC) + LATER)
    # The copy said both promises were due; the order as it is says only the delivery one
    # (and the parcel nobody scanned since): the shipping timers were gone, not done.
    assert outcome == {
        "due": 5,
        "shipping:at_risk:stale": 1,
        "shipping:breached:stale": 1,
        "delivery:at_risk:superseded": 1,
        "delivery:breached:acted": 1,
        "stall:acted": 1,
    }, outcome
    order = store.orders.get(order_id)
    assert (order.sla_shipping, order.sla_delivery) == ("met", "breached") and order.shipments[0].stalled


class LambdaTimeout(BaseException):
    """The process dying (a Lambda timeout ends it): nothing in the sweep may catch this."""


class CrashingOrders:
    """The order repository, but the process dies on the n-th save (after the earlier ones committed)."""

    def __init__(self, orders: Any, crash_on: int) -> None:
        self.orders, self.crash_on, self.saves = orders, crash_on, 0

    def save(self, order: Order, effects: Effects) -> None:
        self.saves += 1
        if self.saves == self.crash_on:
            raise LambdaTimeout("the Lambda timed out mid-sweep")
        self.orders.save(order, effects)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.orders, name)


def test_a_sweep_that_crashed_midway_is_finished_by_the_next_one_acting_once(store: Container) -> None:
    ids = [_paid(store) for _ in range(3)]
    sla, later = store.sla, datetime.now(UTC) + LATER
    crashing = SlaService(sla.timers, sla.calendar, sla.clock, CrashingOrders(sla.orders, 2), stall_days=3)
    with pytest.raises(LambdaTimeout):
        crashing.sweep(later)
    assert sum(_breaches(store, order_id) for order_id in ids) == 2  # the first order's, committed
    rest = sla.sweep(later)  # the cursor did not move: the same window, minus what is done
    assert _acted(rest) == {"shipping:breached:acted": 2, "delivery:breached:acted": 2}, rest
    assert all(_breaches(store, order_id) == 2 for order_id in ids)


def test_concurrent_sweeps_act_on_each_due_timer_once(real_store: Container) -> None:
    ids = [_paid(real_store) for _ in range(6)]
    later = datetime.now(UTC) + LATER
    start = threading.Barrier(3)

    def sweep() -> dict[str, int]:
        start.wait(timeout=10)
        return real_store.sla.sweep(later)

    with ThreadPoolExecutor(3) as pool:
        outcomes = [future.result() for future in [pool.submit(sweep) for _ in range(3)]]
    assert _acted(*outcomes) == {"shipping:breached:acted": 6, "delivery:breached:acted": 6}, outcomes
    assert all(_breaches(real_store, order_id) == 2 for order_id in ids)
    others = Counter[str]()
    for outcome in outcomes:
        others.update({key: n for key, n in outcome.items() if key.endswith((":stale", ":retry_later"))})
    assert others == {}, outcomes  # a sweep that lost a race finds it done, never stale or left over
