"""Deadline rules with a fixed clock: which timers are open, what a breach promises next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chalicelib.bootstrap import calendar_from
from chalicelib.domain.orders import OrderStatus, SlaState
from chalicelib.domain.sla import estimate_after_breach, open_timers, timer_changes
from chalicelib.settings import Settings
from tests.unit.test_notify_render import sample_order

CALENDAR = calendar_from(Settings())


def kinds(order: object) -> set[str]:
    return {timer.kind for timer in open_timers(order)}  # type: ignore[arg-type]


def test_a_new_order_watches_both_promises_with_risk_points_at_75_percent() -> None:
    order = sample_order("en")
    order.shipments, order.payments = [], []
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


def test_changes_are_diffs() -> None:
    before = sample_order("en")
    after = sample_order("en")
    after.status = OrderStatus.SHIPPED
    create, delete = timer_changes(before, after)
    assert create == set() and {t.kind for t in delete} == {"shipping:at_risk", "shipping:breached"}
    assert timer_changes(after, after) == (set(), set())


def test_payment_moves_the_risk_point() -> None:
    before = sample_order("en")
    after = sample_order("en")
    after.paid_at = before.placed_at + timedelta(hours=20)
    create, delete = timer_changes(before, after)
    assert {t.kind for t in create} == {t.kind for t in delete} == {"shipping:at_risk", "delivery:at_risk"}


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
