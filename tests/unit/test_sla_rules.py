"""Deadline rules with a fixed clock: which timers are open, when an order is next due, what a
sweep flags on it, what a breach promises next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.bootstrap import calendar_from
from chalicelib.domain.orders import Order, OrderStatus, SlaState
from chalicelib.domain.sla import (
    Timer,
    already_flagged,
    due_timers,
    estimate_after_breach,
    flag_due,
    next_due,
    open_timers,
    stall_timers,
)
from chalicelib.settings import Settings
from tests.unit.test_notify_render import sample_order

CALENDAR = calendar_from(Settings())


def kinds(order: object) -> set[str]:
    return {timer.kind for timer in open_timers(order)}  # type: ignore[arg-type]


def test_an_order_awaiting_payment_watches_no_promise() -> None:
    # The promise assumes immediate payment and is computed again when it comes (API.md): unpaid, none is due.
    order = sample_order("en")
    order.shipments, order.payments = [], []
    assert order.status == OrderStatus.PLACED and open_timers(order) == set()
    assert next_due(order, CALENDAR, 3) is None


def test_a_paid_order_watches_both_promises_with_risk_points_at_75_percent() -> None:
    order = sample_order("en")
    order.shipments, order.status = [], OrderStatus.PAID  # paid as it was placed
    timers = {t.kind: t for t in open_timers(order)}
    assert set(timers) == {"shipping:at_risk", "shipping:breached", "delivery:at_risk", "delivery:breached"}
    assert timers["shipping:breached"].due_at == order.ship_by
    window = order.ship_by - order.placed_at
    assert abs(timers["shipping:at_risk"].due_at - (order.placed_at + window * 0.75)) < timedelta(seconds=1)


def test_timers_close_as_facts_change() -> None:
    order = sample_order("en")
    order.status = OrderStatus.SHIPPED
    assert kinds(order) == {"delivery:at_risk", "delivery:breached"}
    order.sla_delivery = SlaState.AT_RISK
    assert kinds(order) == {"delivery:breached"}
    order.status = OrderStatus.DELIVERED
    assert kinds(order) == set()
    cancelled = sample_order("en")
    cancelled.status = OrderStatus.CANCELLED
    assert kinds(cancelled) == set()


def test_payment_moves_the_risk_point() -> None:
    before = sample_order("en")
    after = sample_order("en")
    before.status = after.status = OrderStatus.PAID
    after.paid_at = before.placed_at + timedelta(hours=20)
    moved = open_timers(after) ^ open_timers(before)
    assert {t.kind for t in moved} == {"shipping:at_risk", "delivery:at_risk"}


def promise_only() -> Order:
    order = sample_order("en")  # placed (and paid) Fri 27 Nov 09:00 UTC; ship by 1 Dec, deliver by 4 Dec 22:59:59
    order.shipments, order.status = [], OrderStatus.PAID
    return order


SHIPPING_RISK = datetime(2026, 11, 30, 19, 29, 59, tzinfo=UTC)  # 75 % of placed → ship_by, whole seconds
DELIVERY_RISK = datetime(2026, 12, 3, 1, 29, 59, tzinfo=UTC)  # 75 % of placed → deliver_by
STALL = datetime(2026, 12, 2, 22, 59, 59, tzinfo=UTC)  # shipped Fri: Mon, Tue, Wed without a scan


def test_next_due_is_the_earliest_open_timer_and_none_once_nothing_is_watched() -> None:
    order = promise_only()
    assert next_due(order, CALENDAR, 3) == SHIPPING_RISK == min(t.due_at for t in open_timers(order))
    order.sla_shipping = SlaState.AT_RISK
    assert next_due(order, CALENDAR, 3) == order.ship_by
    order.status, order.sla_shipping = OrderStatus.SHIPPED, SlaState.MET
    assert next_due(order, CALENDAR, 3) == DELIVERY_RISK
    order.status = OrderStatus.DELIVERED
    assert next_due(order, CALENDAR, 3) is None
    cancelled = promise_only()
    cancelled.status = OrderStatus.CANCELLED
    assert next_due(cancelled, CALENDAR, 3) is None


def test_a_parcels_stall_deadline_is_the_next_due_when_it_comes_first() -> None:
    order = sample_order("en")
    order.status, order.sla_shipping = OrderStatus.SHIPPED, SlaState.MET
    assert {t.due_at for t in stall_timers(order, CALENDAR, 3)} == {STALL}
    assert next_due(order, CALENDAR, 3) == STALL  # before the delivery promise's risk point
    assert next_due(order, CALENDAR, 5) == DELIVERY_RISK  # five business days: the end of Fri 4 Dec
    order.sla_delivery = SlaState.AT_RISK  # warned already
    assert next_due(order, CALENDAR, 5) == order.deliver_by


def test_past_ship_by_the_breach_is_flagged_once_and_its_warnings_are_superseded() -> None:
    order = promise_only()
    now = order.ship_by + timedelta(hours=1)
    assert [t.kind for t in due_timers(order, now, CALENDAR, 3)] == ["shipping:at_risk", "shipping:breached"]
    outcomes = {t.kind: result for t, result in flag_due(order, now, CALENDAR, 3)}
    assert outcomes == {"shipping:breached": "acted", "shipping:at_risk": "superseded"}
    # A broken shipping promise puts delivery at risk too: that warning is not due any more.
    assert (order.sla_shipping, order.sla_delivery) == (SlaState.BREACHED, SlaState.AT_RISK)
    assert [e.kind for e in order.events if e.kind.startswith("sla_")] == ["sla_breached"]
    assert next_due(order, CALENDAR, 3) == order.deliver_by
    assert flag_due(order, now, CALENDAR, 3) == []  # once
    assert already_flagged(order, Timer(order.ship_by, order.id, "shipping:breached"))
    assert already_flagged(order, Timer(SHIPPING_RISK, order.id, "shipping:at_risk"))
    assert not already_flagged(order, Timer(order.deliver_by, order.id, "delivery:breached"))


def test_at_the_risk_point_only_the_warning_is_flagged() -> None:
    order = promise_only()
    assert flag_due(order, SHIPPING_RISK - timedelta(seconds=1), CALENDAR, 3) == []
    [(timer, outcome)] = flag_due(order, SHIPPING_RISK, CALENDAR, 3)
    assert (timer.kind, outcome, order.sla_shipping) == ("shipping:at_risk", "acted", SlaState.AT_RISK)
    assert next_due(order, CALENDAR, 3) == order.ship_by


def test_a_sweep_a_week_late_flags_every_due_timer_in_one_change() -> None:
    order = sample_order("en")
    order.status, order.sla_shipping = OrderStatus.SHIPPED, SlaState.MET
    outcomes = {t.kind: result for t, result in flag_due(order, order.deliver_by, CALENDAR, 3)}
    assert outcomes == {"delivery:breached": "acted", "stall:shp_1": "acted", "delivery:at_risk": "superseded"}
    assert order.sla_delivery == SlaState.BREACHED and order.shipments[0].stalled
    assert next_due(order, CALENDAR, 3) is None  # nothing left to watch
    stall = Timer(STALL, order.id, "stall:shp_1")
    assert already_flagged(order, stall) and not already_flagged(sample_order("en"), stall)


def test_new_estimates() -> None:
    friday_evening = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)  # 18:00 Berlin, after the cut-off
    # Not shipped: the checkout promise from now (the contract: Fri 16:00 → ship by Wed 2 Dec), plus
    # 3 transit business days → Mon 7 Dec.
    assert estimate_after_breach("shipping", "standard", friday_evening, CALENDAR) == datetime(
        2026, 12, 7, 22, 59, 59, tzinfo=UTC
    )
    # Shipped but late: the end of the next business day.
    assert estimate_after_breach("delivery", "standard", friday_evening, CALENDAR) == datetime(
        2026, 11, 30, 22, 59, 59, tzinfo=UTC
    )
