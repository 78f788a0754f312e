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


def test_the_dashboard_reads_counters_board_and_ship_soon_in_one_query_and_reports_skip_the_board(
    table_name: str, dynamodb_client: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from bench.round_trips import counting
    from chalicelib.adapters.dynamo import models
    from chalicelib.adapters.dynamo.kpis import DynamoOpsBoard

    models.configure(table_name, "eu-central-1")
    board = DynamoOpsBoard(dynamodb_client)
    now = datetime(2026, 12, 2, 10, tzinfo=UTC)
    place = kpis.BoardPlace
    board.record(kpis.hit_fact("shipped_on_time", "ord_1", date(2026, 12, 1), True))
    board.place(place("late_shipping", "ord_late", "1001", now - timedelta(hours=3), True))
    board.place(place("stalled", "ord_stall", "1002", None, True))
    for order_id, hours in (("ord_past", -1), ("ord_soon", 7), ("ord_later", 9)):
        board.place(place("ship_soon", order_id, order_id, now + timedelta(hours=hours), True))
    due = now + timedelta(hours=2)
    board.place(place("ship_soon", "ord_gone", "1003", due, True))
    facts = [kpis.hit_fact(kpi, "ord_gone", date(2026, 12, 1), True) for kpi in ("delivered_on_time", "csat")]
    with counting() as calls:  # shipped: the facts it counts and off the list, in one transaction
        assert board.record_all(facts, [place("ship_soon", "ord_gone", "1003", due, False)])
    assert dict(calls) == {"TransactWriteItems": 1}
    board.place(place("ship_soon", "ord_kept", "1004", due, True))
    assert not board.record_all(facts, [place("ship_soon", "ord_kept", "1004", due, False)])  # counted: nothing written

    with counting() as calls:
        days, rows = board.days_and_board(date(2026, 9, 7), date(2026, 12, 7), now, 8)
    assert dict(calls) == {"Query": 1}
    assert [day for day, _ in days] == [date(2026, 12, 1)]
    assert [(row["kind"], row["order_id"]) for row in rows] == [
        ("late_shipping", "ord_late"),
        ("stalled", "ord_stall"),
        ("ship_soon", "ord_kept"),  # the refused transaction took it off nothing
        ("ship_soon", "ord_soon"),  # not the one past its ship-by, nor the one 9 h away
    ]
    assert {row["kind"] for row in board.board()} == {"late_shipping", "stalled"}
    totals, _, read = board.totals(date(2026, 1, 1), date(2027, 12, 31))  # a report's range: days only
    assert read == 1 and totals.get("shipped_on_time__num") == 1
