"""Promise keeping: maintain the timers from order changes, sweep what is due (promises, tickets, stalls)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.orders import Order
from chalicelib.domain.sla import (
    SlaState,
    Timer,
    estimate_after_breach,
    is_stalled,
    stall_timers,
    stalled_shipment_id,
    timer_changes,
)
from chalicelib.services.ports import Clock, OrderRepository, StaleVersionError, TicketTimers, TimerStore

ATTEMPTS = 3  # reads of an order that keeps changing under the sweep; the next sweep tries again


@dataclass
class SlaService:
    timers: TimerStore
    calendar: BusinessCalendar
    clock: Clock
    orders: OrderRepository
    tickets: TicketTimers | None = None  # ticket deadlines share the due-work buckets
    stall_days: int = 3  # business days without a carrier scan before a parcel counts as stalled

    def on_order_change(self, before: Order | None, after: Order) -> int:
        """Open and close timers as the order's facts change; how many changed."""
        create, delete = timer_changes(before, after)
        old_stalls = stall_timers(before, self.calendar, self.stall_days) if before is not None else set()
        new_stalls = stall_timers(after, self.calendar, self.stall_days)
        # A deadline already past (a scan reported days late) is filed as due now: the sweep
        # only reads buckets from its cursor on. Such a timer's key differs from its fact's,
        # so a later change may leave it behind; firing, it finds the parcel moved on.
        now = self.clock.now().replace(microsecond=0)
        create |= {replace(t, due_at=max(t.due_at, now)) for t in new_stalls - old_stalls}
        delete |= old_stalls - new_stalls
        if create or delete:
            self.timers.apply(create, delete, after.shipping_method)
        return len(create) + len(delete)

    def sweep(self, now: datetime) -> dict[str, int]:
        """Act once on every timer due by `now` (safe to run twice, concurrently, or after a crash)."""
        due, through = self.timers.due(now, self.clock.now())
        outcome: Counter[str] = Counter()
        due = self._ticket_timers(due, now, outcome)
        due = self._stall_timers(due, now, outcome)
        # An order breaking a promise in this sweep gets no "at risk" warnings on top:
        # one escalation and one delay notice say it all.
        breaking = {t.order_id for t, _ in due if t.state == SlaState.BREACHED}
        for timer, shipping_method in sorted(due):
            if timer.state == SlaState.AT_RISK and timer.order_id in breaking:
                self.timers.discard(timer)
                outcome[f"{timer.kind}:superseded"] += 1
                continue
            estimate = None
            if timer.state == SlaState.BREACHED:
                estimate = estimate_after_breach(timer.promise, shipping_method, now, self.calendar)
            outcome[f"{timer.kind}:{self._act(timer, now, estimate)}"] += 1
        self.timers.advance(through)
        return {"due": len(due) + outcome.pop("_ticket_due", 0), **outcome}

    def _act(self, timer: Timer, now: datetime, estimate: datetime | None) -> str:
        """Let the aggregate decide what the due timer means; persist that with the timer's deletion."""
        for _ in range(ATTEMPTS):
            order = self.orders.get(timer.order_id)
            if order is None or not order.flag_sla(
                timer.promise, timer.state, now, due_at=timer.due_at, estimate=estimate
            ):
                return self.timers.discard(timer)  # the order moved on
            try:
                return self.timers.act(timer, order)
            except StaleVersionError:
                continue  # changed meanwhile: read it again
        return "retry_later"

    def _stall_timers(
        self, due: list[tuple[Timer, str]], now: datetime, outcome: Counter[str]
    ) -> list[tuple[Timer, str]]:
        """Act on the stall timers among `due`; return the rest."""
        rest = []
        for timer, shipping_method in sorted(due):
            shipment_id = stalled_shipment_id(timer.kind)
            if shipment_id is None:
                rest.append((timer, shipping_method))
            else:
                outcome[f"stall:{self._act_stall(timer, shipment_id, now)}"] += 1
        return rest

    def _act_stall(self, timer: Timer, shipment_id: str, now: datetime) -> str:
        """Flag the parcel stalled if it is still silent (Order.flag_stalled), deleting the timer in that write."""
        for _ in range(ATTEMPTS):
            order = self.orders.get(timer.order_id)
            if order is None or not is_stalled(order, shipment_id, now, self.calendar, self.stall_days):
                return self.timers.discard(timer)  # a newer scan, delivered, or already flagged
            if not order.flag_stalled(shipment_id, now, "sla_sweep", business_days=self.stall_days):
                return self.timers.discard(timer)
            try:
                return self.timers.act(timer, order)
            except StaleVersionError:
                continue
        return "retry_later"

    def _ticket_timers(
        self, due: list[tuple[Timer, str]], now: datetime, outcome: Counter[str]
    ) -> list[tuple[Timer, str]]:
        """Act on the ticket deadlines among `due` (a breach supersedes its own warning); return the rest."""
        ticket_due = sorted(t for t, _ in due if t.kind.startswith("ticket:"))
        if not ticket_due:
            return due
        breaking = {t.kind.rsplit(":", 1)[0] for t in ticket_due if t.kind.endswith(":breached")}
        for timer in ticket_due:
            clock = timer.kind.rsplit(":", 1)[0]
            name = "ticket_" + clock.split(":")[2] + ":" + timer.kind.rsplit(":", 1)[1]
            if self.tickets is None:
                continue  # not wired (tests of the order sweep alone): leave the timer for a sweep that can
            if timer.kind.endswith(":at_risk") and clock in breaking:
                self.timers.discard(timer)
                outcome[f"{name}:superseded"] += 1
                continue
            outcome[f"{name}:{self.tickets.act_on_timer(timer, now)}"] += 1
        outcome["_ticket_due"] += len(ticket_due)
        return [(t, m) for t, m in due if not t.kind.startswith("ticket:")]
