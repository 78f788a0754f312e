"""Promise timers, sweeps, delay notices and escalations, end to end on moto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import sla_sweep
from chalicelib.bootstrap import get_container
from local.lambda_runtime import LambdaContext
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import pay, place, staff
from tests.functional.test_notifications import emails, timeline


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


def sweep(at: datetime) -> dict[str, Any]:
    """The scheduled sweep at `at`: the clock moves there first, as the schedule fires in real time
    (a sweep ahead of the clock, `make sweep AT=…`, is the e2e tier's)."""
    from tests.clock import advance_to

    advance_to(at)
    event = {
        "version": "0",
        "id": "x",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "1",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-central-1",
        "resources": [],
        "detail": {},
    }
    result: dict[str, Any] = sla_sweep(event, LambdaContext("sla_sweep"))["sla"]
    return result


def order(api: Api, order_id: str) -> dict[str, Any]:
    return api.call("GET", f"/v1/orders/{order_id}", role="agent", sub="a").data  # type: ignore[no-any-return]


def paid_order(api: Api, tap: StreamTap) -> dict[str, Any]:
    placed = place(api)
    assert pay(api, placed).status_code == 201
    drain(tap)
    return placed


def test_breach_flags_once_tells_the_customer_once_and_escalates_once(api: Api, tap: StreamTap) -> None:
    placed = paid_order(api, tap)
    before = len(emails())
    later = datetime.now(UTC) + timedelta(days=10)  # past ship_by and deliver_by: both break at once
    first = sweep(later)
    assert first["due"] == 4, first
    assert first["shipping:breached:acted"] == 1 and first["delivery:breached:acted"] == 1
    current = order(api, placed["id"])
    assert current["sla"]["shipping"] == "breached" and current["sla"]["delivery"] == "breached"
    assert current["revised_deliver_by"] > current["deliver_by"]
    drain(tap)
    new = [str(m["Subject"]) for m in emails()[before:]]
    delay = [s for s in new if "neuer Liefertermin" in s]
    ops = [s for s in new if s.startswith("[OrderCare Demo Shop]")]
    assert len(delay) == 1 and len(ops) == 1, new
    assert "shipping and delivery promise broken" in ops[0]  # both broke in the one write that flagged them
    # Sweeping again (or late, or twice) changes nothing more.
    assert sweep(later)["due"] == 0
    assert sweep(later + timedelta(days=1))["due"] == 0
    drain(tap)
    assert len(emails()) == before + 2
    kinds = [e["kind"] for e in timeline(api, placed["id"])]
    assert kinds.count("sla_breached") == 2 and kinds.count("notification_sent") == 2 + 1 + 1 + 1


def test_an_order_never_paid_breaks_no_promise(api: Api, tap: StreamTap) -> None:
    # The promise assumes immediate payment (API.md): unpaid, nothing is due, so no notice, no escalation, no miss.
    placed = place(api)
    drain(tap)
    before = len(emails())
    assert sweep(datetime.now(UTC) + timedelta(days=10))["due"] == 0
    drain(tap)
    assert emails()[before:] == []
    current = order(api, placed["id"])
    assert current["sla"]["shipping"] == current["sla"]["delivery"] == "on_track"
    report = api.call("GET", "/v1/reports/kpis?period=quarter&start=2026-10-01", role="admin", sub="boss").data
    assert next(k for k in report["kpis"] if k["name"] == "shipped_on_time")["denominator"] == 0


def test_at_risk_warns_operations_only(api: Api, tap: StreamTap) -> None:
    placed = paid_order(api, tap)
    current = order(api, placed["id"])
    paid_at = datetime.fromisoformat(current["paid_at"].replace("Z", "+00:00"))
    ship_by = datetime.fromisoformat(current["ship_by"].replace("Z", "+00:00"))
    risk_point = paid_at + (ship_by - paid_at) * 0.8
    before = len(emails())
    result = sweep(risk_point)
    assert result.get("shipping:at_risk:acted") == 1
    drain(tap)
    new = [str(m["Subject"]) for m in emails()[before:]]
    assert len(new) == 1 and "shipping promise at risk" in new[0]
    assert order(api, placed["id"])["sla"]["shipping"] == "at_risk"


def test_orders_shipped_on_time_never_trigger(api: Api, tap: StreamTap) -> None:
    placed = paid_order(api, tap)
    staff(api, f"/v1/orders/{placed['id']}/processing")
    staff(api, f"/v1/orders/{placed['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-SLA-1"})
    drain(tap)
    assert order(api, placed["id"])["sla"]["shipping"] == "met"
    before = len(emails())
    result = sweep(datetime.now(UTC) + timedelta(days=3))
    assert result.get("due", 0) <= 1 and not any(key.startswith("shipping") for key in result)
    drain(tap)
    assert [str(m["Subject"]) for m in emails()[before:]] == []


def test_cancelled_orders_lose_their_timers(api: Api, tap: StreamTap) -> None:
    placed = paid_order(api, tap)
    staff(api, f"/v1/orders/{placed['id']}/cancel")
    drain(tap)
    assert sweep(datetime.now(UTC) + timedelta(days=30))["due"] == 0


def test_sweep_reads_only_what_is_due(api: Api, tap: StreamTap) -> None:
    placed = [paid_order(api, tap)["id"] for _ in range(3)]
    assert sweep(datetime.now(UTC))["due"] == 0  # nothing is due yet, though 12 timers are open
    store = get_container().sla.timers
    start, _ = store.window(datetime.now(UTC), datetime.now(UTC))
    later = datetime.now(UTC) + timedelta(days=30)
    # Each order is in the sweep's index once, however many of its timers are due; no timer
    # item was written for them (the stream has no timers to keep).
    assert sorted(order.id for order in store.due_orders(start, later)) == sorted(placed)
    assert store.due(start, later) == []


def test_the_board_lists_orders_whose_ship_by_is_within_8_hours(api: Api, tap: StreamTap) -> None:
    from tests import clock

    soon = paid_order(api, tap)
    shipped = paid_order(api, tap)
    staff(api, f"/v1/orders/{shipped['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-SLA-SOON"})
    drain(tap)
    ship_by = datetime.fromisoformat(order(api, soon["id"])["ship_by"].replace("Z", "+00:00"))

    def ship_soon() -> list[str]:
        board = get_container().kpis.dashboard()["board"]
        return [row["order_id"] for row in board if row["kind"] == "ship_soon"]

    assert ship_soon() == []  # days away
    clock.advance_to(ship_by - timedelta(hours=4))
    # The schedule would have warned hours ago (its next due is ship-by now); the shipped one is not at risk.
    assert sweep(clock.now()) == {"due": 1, "shipping:at_risk:acted": 1}
    assert ship_soon() == [soon["id"]]
    clock.advance_to(ship_by + timedelta(minutes=5))
    sweep(clock.now())
    assert ship_soon() == []  # broken now: on the board as late instead


def test_the_board_still_lists_an_order_to_ship_soon_while_the_sweep_is_down(api: Api, tap: StreamTap) -> None:
    from tests import clock

    sweep(clock.now())  # the last sweep ran: its cursor trails that moment
    soon = paid_order(api, tap)
    ship_by = datetime.fromisoformat(order(api, soon["id"])["ship_by"].replace("Z", "+00:00"))
    clock.advance_to(ship_by - timedelta(hours=4))
    # No sweep since: the order is still filed at its "at risk" point, hours before the last hour.
    board = get_container().kpis.dashboard()["board"]
    assert [row["order_id"] for row in board if row["kind"] == "ship_soon"] == [soon["id"]]


def test_an_order_from_before_the_index_is_found_by_its_legacy_timer_and_decided(api: Api, tap: StreamTap) -> None:
    import boto3

    from chalicelib.domain.sla import open_timers

    placed = paid_order(api, tap)
    # As an order paid before orders carried their timers: off the index, one timer item per deadline.
    boto3.client("dynamodb").update_item(
        TableName="ordercare-test",
        Key={"pk": {"S": f"ORDER#{placed['id']}"}, "sk": {"S": "#ORDER"}},
        UpdateExpression="REMOVE gsi4pk, gsi4sk",
    )
    container = get_container()
    paid = container.orders.get(placed["id"])
    assert paid is not None
    container.sla.timers.apply(open_timers(paid), [])
    ship_by = datetime.fromisoformat(order(api, placed["id"])["ship_by"].replace("Z", "+00:00"))
    result = sweep(ship_by + timedelta(minutes=5))
    assert result["shipping:at_risk:legacy"] == 1 and result["shipping:breached:legacy"] == 1, result
    assert result["shipping:breached:acted"] == 1, result
    assert order(api, placed["id"])["sla"]["shipping"] == "breached"
    # The delivery deadline: found by its legacy item and on the index (filed by that save), acted once.
    deliver_by = datetime.fromisoformat(order(api, placed["id"])["deliver_by"].replace("Z", "+00:00"))
    later = sweep(deliver_by + timedelta(minutes=5))
    assert later["delivery:breached:acted"] == 1 and later["delivery:breached:legacy"] == 1, later
    assert order(api, placed["id"])["sla"]["delivery"] == "breached"
    assert sweep(deliver_by + timedelta(hours=1))["due"] == 0  # the legacy items are gone


@pytest.mark.parametrize("failing", ["save", "decide"])
def test_an_order_the_sweep_cannot_save_is_left_for_the_next_sweep_without_stopping_the_others(
    api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The table refuses the order's write, or its data breaks the rules themselves (flag_due and
    next_due both raise): the others are decided, and the cursor stays before the order's hour."""
    import chalicelib.services.sla as sla_service
    from chalicelib.domain.sla import flag_due, next_due

    broken, healthy = paid_order(api, tap), paid_order(api, tap)
    repository = get_container().sla.orders
    originals = {"save": repository.save, "flag_due": flag_due, "next_due": next_due}

    def refusing(original: Any) -> Any:
        def call(order: Any, *args: Any, **kwargs: Any) -> Any:
            if order.id == broken["id"]:
                raise ValueError("the order cannot be decided")
            return original(order, *args, **kwargs)

        return call

    patched = [(repository, "save")] if failing == "save" else [(sla_service, "flag_due"), (sla_service, "next_due")]
    for target, name in patched:
        monkeypatch.setattr(target, name, refusing(originals[name]))
    later = datetime.now(UTC) + timedelta(days=10)
    first = sweep(later)
    assert first["error:ValueError"] == 1 and first["shipping:breached:acted"] == 1, first
    assert order(api, healthy["id"])["sla"]["shipping"] == "breached"
    assert order(api, broken["id"])["sla"]["shipping"] != "breached"
    for target, name in patched:
        monkeypatch.setattr(target, name, originals[name])
    second = sweep(later + timedelta(hours=5))  # past the 2 h overlap: only the held cursor finds it
    assert second["shipping:breached:acted"] == 1 and "error:ValueError" not in second, second
    assert order(api, broken["id"])["sla"]["shipping"] == "breached"
