"""KPI report cost on DynamoDB Local: items read for a quarter with 10x the orders ÷ with 1x (bar <= 1.1).

Every order of the quarter leaves its facts (shipped / delivered on time, accuracy, perfect
order; some misses) through the same idempotent `DynamoKpiStore.record` the stream consumer
uses; then `KpiService.report("quarter", …)` runs while DynamoDB reads are counted. The
report reads day counters, so the figure stays flat however many orders there were.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

from bench.sla_sweep import _environment, counting_reads

BASE = int(os.environ.get("OC_BENCH_KPI_ORDERS", "200"))
GROWTH = 10
TABLE = "ordercare-bench-kpi"
QUARTER = date(2026, 10, 1)


def _facts(order_index: int, rng: random.Random) -> list[object]:
    from chalicelib.domain import kpis

    day = QUARTER + timedelta(days=rng.randrange(92))
    subject = f"ord_bench_{order_index:07d}"
    on_time, accurate = rng.random() < 0.95, rng.random() < 0.98
    late = {} if on_time else {kpis.cause("late_ship", rng.choice(["dhl", "dpd", "ups"])): 1}
    return [
        kpis.hit_fact("shipped_on_time", subject, day, on_time, late),
        kpis.hit_fact("order_accuracy", subject, day, accurate),
        kpis.hit_fact("delivered_on_time", subject, day + timedelta(days=2), on_time),
        kpis.hit_fact("perfect_order_rate", subject, day + timedelta(days=2), on_time and accurate),
    ]


def _load(store: object, start: int, count: int, rng: random.Random) -> None:
    facts = [fact for i in range(start, start + count) for fact in _facts(i, rng)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(store.record, facts))  # type: ignore[attr-defined]


def _measure(service: object) -> tuple[int, float]:
    with counting_reads() as reads:
        started = time.perf_counter()
        service.report("quarter", QUARTER)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - started
    return reads.items, elapsed * 1000


def run() -> list[str]:
    from chalicelib.adapters.dynamo.kpis import DynamoKpiStore
    from chalicelib.adapters.dynamo.schema import ensure_table
    from chalicelib.bootstrap import build_container, reset_container
    from chalicelib.services.feedback import FeedbackSettings, KpiService
    from chalicelib.settings import Settings
    from local.dynamodb_local import DynamoDBLocal

    rng = random.Random(11)
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
        build_container(Settings(table_name=TABLE, region="eu-central-1"))  # points the models at TABLE

        class AfterTheQuarter:
            def now(self) -> datetime:
                return datetime(2027, 1, 15, tzinfo=UTC)

        store = DynamoKpiStore()
        service = KpiService(store, AfterTheQuarter(), FeedbackSettings())  # no archive: always computed
        _load(store, 0, BASE, rng)
        small_items, small_ms = _measure(service)
        _load(store, BASE, BASE * (GROWTH - 1), rng)
        large_items, large_ms = _measure(service)
    reset_container()
    return [
        f"kpi_report_reads_growth: {large_items / small_items:.2f} "
        f"({small_items} items read for {BASE} orders, {large_items} for {BASE * GROWTH}; bar <= 1.1)",
        f"kpi_report_ms: {large_ms:.1f} (a quarter, {BASE * GROWTH} orders; {small_ms:.1f} with {BASE})",
    ]


if __name__ == "__main__":
    for figure in run():
        print(figure, flush=True)
