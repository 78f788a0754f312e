"""Promise deadlines as timers: which are open for an order, and what a due one means.

An order has up to four open timers: the "at risk" point (75 % of the window
gone) and the deadline itself, for shipping (ship_by) and for delivery
(deliver_by). They follow from the order's facts alone, so nothing stores them:
the order item carries its `next_due` (the earliest of them and of its stall
timers) in the sweep's index, and the sweep that reads it there lets the
aggregate flag what is due (`flag_due`), which closes those timers and so moves
the order on in the index in that same write.

Each parcel on its way also has a stall timer (`stall:<shipment id>`): the end of the
Nth business day (the shop's calendar, as for the promise) after the carrier's latest
scan. A newer scan moves it (the order's next due moves with it); a delivered parcel, one
waiting at a pickup point (the customer's move, not the carrier's) and one that
already needs a person have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.orders import (
    DELIVERY,
    NOT_DELIVERED,
    NOT_SHIPPED,
    SHIPPING,
    Order,
    OrderStatus,
    Shipment,
    SlaState,
)

__all__ = [
    "DELIVERY",
    "NOT_DELIVERED",
    "NOT_SHIPPED",
    "SHIPPING",
    "SlaState",
    "Timer",
    "already_flagged",
    "due_timers",
    "flag_due",
    "next_due",
    "open_timers",
    "stall_deadline",
    "stall_timers",
]

RISK_SHARE = 0.75  # "at risk" once three quarters of the window are gone


@dataclass(frozen=True, order=True)
class Timer:
    due_at: datetime
    order_id: str
    kind: str  # "<shipping|delivery>:<at_risk|breached>", or "stall:<shipment id>"

    @property
    def promise(self) -> str:
        return self.kind.split(":")[0]

    @property
    def state(self) -> SlaState:
        return SlaState(self.kind.split(":")[1])


def _risk_point(start: datetime, deadline: datetime) -> datetime:
    # Whole seconds: timers are stored (and identified) at second precision.
    return (start + timedelta(seconds=(deadline - start).total_seconds() * RISK_SHARE)).replace(microsecond=0)


def open_timers(order: Order) -> set[Timer]:
    """The deadlines still to watch for this order, given its current facts.

    None while it awaits payment: the promise assumes immediate payment and is computed again when
    the payment comes (API.md), so an order nobody paid breaks no promise (no miss, no notice)."""
    timers: set[Timer] = set()
    if order.status == OrderStatus.PLACED:
        return timers
    start = order.paid_at or order.placed_at
    if order.status in NOT_SHIPPED and order.sla_shipping not in (SlaState.BREACHED, SlaState.MET):
        if order.sla_shipping != SlaState.AT_RISK:
            timers.add(Timer(_risk_point(start, order.ship_by), order.id, "shipping:at_risk"))
        timers.add(Timer(order.ship_by, order.id, "shipping:breached"))
    if order.status in NOT_DELIVERED and order.sla_delivery not in (SlaState.BREACHED, SlaState.MET):
        if order.sla_delivery != SlaState.AT_RISK:
            timers.add(Timer(_risk_point(start, order.deliver_by), order.id, "delivery:at_risk"))
        timers.add(Timer(order.deliver_by, order.id, "delivery:breached"))
    return timers


def estimate_after_breach(promise: str, shipping_method: str, now: datetime, calendar: BusinessCalendar) -> datetime:
    """When a late order can now arrive.

    Not shipped in time: shipped within the usual handling days from now, plus
    transit. Not delivered in time: by the end of the next business day."""
    if promise == SHIPPING and shipping_method in calendar.transit_days:
        return calendar.promise(now, shipping_method).deliver_by
    return calendar.end_of_day_utc(calendar.next_business_day(now.astimezone(calendar.zone).date()))


# --- stalled parcels ----------------------------------------------------------------------------

STALL = "stall"
STALL_WATCHED = frozenset({"shipped", "in_transit", "out_for_delivery"})  # the carrier's move next


def stall_kind(shipment_id: str) -> str:
    return f"{STALL}:{shipment_id}"


def stalled_shipment_id(kind: str) -> str | None:
    """The shipment a stall timer watches; None for a promise or ticket timer."""
    prefix, _, shipment_id = kind.partition(":")
    return shipment_id if prefix == STALL and shipment_id else None


def stall_deadline(shipment: Shipment, calendar: BusinessCalendar, days: int) -> datetime | None:
    """When a parcel with no newer scan counts as stalled: the end (23:59:59 local) of the
    `days`-th business day after its latest scan's local day; None when it is not watched."""
    if shipment.status not in STALL_WATCHED or shipment.delivered_at is not None or shipment.needs_attention:
        return None
    day = shipment.last_scan_at.astimezone(calendar.zone).date()
    return calendar.end_of_day_utc(calendar.add_business_days(day, days))


def stall_timers(order: Order, calendar: BusinessCalendar, days: int) -> set[Timer]:
    """One stall timer per parcel on its way, at its current deadline."""
    timers = set()
    for shipment in order.shipments:
        deadline = stall_deadline(shipment, calendar, days)
        if deadline is not None:
            timers.add(Timer(deadline, order.id, stall_kind(shipment.id)))
    return timers


# --- what the sweep does with an order ----------------------------------------------------------


def _watched(order: Order, calendar: BusinessCalendar, stall_days: int) -> set[Timer]:
    return open_timers(order) | stall_timers(order, calendar, stall_days)


def next_due(order: Order, calendar: BusinessCalendar, stall_days: int) -> datetime | None:
    """When the sweep next has work on this order: its earliest open promise or stall timer (None: none)."""
    return min((timer.due_at for timer in _watched(order, calendar, stall_days)), default=None)


def due_timers(order: Order, now: datetime, calendar: BusinessCalendar, stall_days: int) -> list[Timer]:
    """The order's timers due by `now`, earliest first."""
    return sorted(timer for timer in _watched(order, calendar, stall_days) if timer.due_at <= now)


def _rank(timer: Timer) -> int:
    # Breaches first: a broken promise decides which "at risk" warnings are left to give.
    if stalled_shipment_id(timer.kind) is not None:
        return 1
    return 0 if timer.state == SlaState.BREACHED else 2


def flag_due(order: Order, now: datetime, calendar: BusinessCalendar, stall_days: int) -> list[tuple[Timer, str]]:
    """Let the aggregate flag every timer of the order due by `now`; each timer's outcome.

    "acted": flagged (Order.flag_sla / flag_stalled recorded it); "superseded": an
    "at risk" point whose promise a breach flagged here already covers (one escalation
    and one delay notice say it all); "stale": the aggregate found nothing to flag."""
    outcomes = []
    for timer in sorted(due_timers(order, now, calendar, stall_days), key=lambda t: (_rank(t), t)):
        shipment_id = stalled_shipment_id(timer.kind)
        if shipment_id is not None:
            flagged = order.flag_stalled(shipment_id, now, "sla_sweep", business_days=stall_days)
        elif timer.state == SlaState.AT_RISK and timer not in open_timers(order):
            outcomes.append((timer, "superseded"))
            continue
        else:
            estimate = None
            if timer.state == SlaState.BREACHED:
                estimate = estimate_after_breach(timer.promise, order.shipping_method, now, calendar)
            flagged = order.flag_sla(timer.promise, timer.state, now, due_at=timer.due_at, estimate=estimate)
        outcomes.append((timer, "acted" if flagged else "stale"))
    return outcomes


def already_flagged(order: Order, timer: Timer) -> bool:
    """Whether what `timer` would flag is already on the order (another sweep had it)."""
    shipment_id = stalled_shipment_id(timer.kind)
    if shipment_id is not None:
        shipment = next((s for s in order.shipments if s.id == shipment_id), None)
        return shipment is not None and shipment.stalled
    current = order.sla_shipping if timer.promise == SHIPPING else order.sla_delivery
    return current == SlaState.BREACHED or (timer.state == SlaState.AT_RISK and current == SlaState.AT_RISK)
