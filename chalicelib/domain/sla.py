"""Promise deadlines as timers: which are open for an order, and what a due one means.

An order has up to four open timers: the "at risk" point (75 % of the window
gone) and the deadline itself, for shipping (ship_by) and for delivery
(deliver_by). They follow from the order's facts, so the stream handler only
has to diff the timers of the old and the new image. A timer that comes due is
acted on once by the sweep, which deletes it in the same transaction.

Each parcel on its way also has a stall timer (`stall:<shipment id>`): the end of the
Nth business day (the shop's calendar, as for the promise) after the carrier's latest
scan. A newer scan moves it (the old timer is deleted, and were it to fire anyway it
finds the parcel's deadline still ahead and does nothing); a delivered parcel, one
waiting at a pickup point (the customer's move, not the carrier's) and one that
already needs a person have none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.orders import DELIVERY, NOT_DELIVERED, NOT_SHIPPED, SHIPPING, Order, Shipment, SlaState

__all__ = [
    "DELIVERY",
    "NOT_DELIVERED",
    "NOT_SHIPPED",
    "SHIPPING",
    "SlaState",
    "Timer",
    "open_timers",
    "stall_deadline",
    "stall_timers",
    "timer_changes",
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
    """The deadlines still to watch for this order, given its current facts."""
    timers: set[Timer] = set()
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


def timer_changes(before: Order | None, after: Order) -> tuple[set[Timer], set[Timer]]:
    """(timers to create, timers to delete) for a change of the order."""
    old = open_timers(before) if before is not None else set()
    new = open_timers(after)
    return new - old, old - new


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


def is_stalled(order: Order, shipment_id: str, now: datetime, calendar: BusinessCalendar, days: int) -> bool:
    """Whether a stall timer firing at `now` finds its parcel still silent (else it is stale)."""
    shipment = next((s for s in order.shipments if s.id == shipment_id), None)
    deadline = stall_deadline(shipment, calendar, days) if shipment is not None else None
    return deadline is not None and deadline <= now
