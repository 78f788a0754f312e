"""KPI counters on DynamoDB Local: a fact counts once however often (and however concurrently) it is
recorded, a demotion happens once, and a quarter is one Query of day items."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pytest

from chalicelib.domain import kpis


@pytest.fixture
def store(table_name: str, dynamodb_client: Any) -> Any:
    from chalicelib.adapters.dynamo import models
    from chalicelib.adapters.dynamo.kpis import DynamoKpiStore

    models.configure(table_name, "eu-central-1")
    return DynamoKpiStore(dynamodb_client)


def test_replayed_and_concurrent_facts_count_once(store: Any) -> None:
    day = date(2026, 11, 30)
    fact = kpis.hit_fact("shipped_on_time", "ord_1", day, False, {kpis.cause("late_ship", "dhl"): 1})
    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = list(pool.map(lambda _: store.record(fact), range(5)))
    assert sorted(outcomes) == [False, False, False, False, True]
    store.record(kpis.hit_fact("shipped_on_time", "ord_2", day, True))
    totals, days, read = store.totals(date(2026, 10, 1), date(2027, 1, 1))
    assert (totals.get("shipped_on_time__num"), totals.get("shipped_on_time__den")) == (1, 2)
    assert totals.get("cause__late_ship__dhl") == 1 and read == 1 and days[0][0] == day
    items, cursor = store.misses("shipped_on_time", date(2026, 10, 1), date(2027, 1, 1), 10, None)
    assert [i["subject"] for i in items] == ["ord_1"] and cursor is None


def test_a_later_complaint_demotes_a_hit_once(store: Any) -> None:
    day = date(2026, 12, 1)
    store.record(kpis.hit_fact("order_accuracy", "ord_3", day, True))
    assert store.demote("order_accuracy", "order_accuracy#ord_3", kpis.cause("complaint", "wrong_item")) is True
    assert store.demote("order_accuracy", "order_accuracy#ord_3", kpis.cause("complaint", "wrong_item")) is False
    assert store.demote("order_accuracy", "order_accuracy#nobody", None) is False
    totals, _, _ = store.totals(day, date(2026, 12, 2))
    assert (totals.get("order_accuracy__num"), totals.get("order_accuracy__den")) == (0, 1)
    assert totals.get("cause__complaint__wrong_item") == 1
