"""Promise keeping: sweep what is due (order promises and stalled parcels, ticket deadlines), once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.orders import Order
from chalicelib.domain.sla import Timer, already_flagged, flag_due, next_due, stalled_shipment_id
from chalicelib.services.ports import Clock, Effects, OrderRepository, StaleVersionError, TicketTimers, TimerStore

ATTEMPTS = 3  # decisions on an order that keeps changing under the sweep; the next sweep tries again


def _name(timer: Timer) -> str:
    """The outcome key of an order timer: its kind ("shipping:breached"), or "stall" for any parcel."""
    return "stall" if stalled_shipment_id(timer.kind) is not None else timer.kind


@dataclass
class SlaService:
    timers: TimerStore
    calendar: BusinessCalendar
    clock: Clock
    orders: OrderRepository
    tickets: TicketTimers | None = None  # ticket deadlines share the due-work buckets
    stall_days: int = 3  # business days without a carrier scan before a parcel counts as stalled

    def sweep(self, now: datetime) -> dict[str, int]:
        """Act once on everything due by `now` (safe to run twice, concurrently, or after a crash).

        {"due": timers due, "<kind>:<outcome>": n}, the outcomes being "acted", "superseded"
        (an "at risk" point a breach flagged in the same sweep covers), "done" (another sweep
        had it), "stale" (the order moved on), "retry_later" (it kept changing: the next sweep),
        "legacy" (an order timer item from before orders carried their timers: dropped, its
        order decided), and "error:<exception>" for an order the sweep could not decide."""
        start, through = self.timers.window(now, self.clock.now())
        outcome: Counter[str] = Counter()
        due, legacy = self._ticket_timers(self.timers.due(start, now), now, outcome)
        for order in [*legacy, *self.timers.due_orders(start, now)]:
            decided = self._isolated(order, now, outcome)
            if decided is None:  # left for the next sweep: the cursor stays before its hour
                through = min(through, self._hour_due(order, start))
            due += decided or 0
        self.timers.advance(through)
        return {"due": due, **outcome}

    def _hour_due(self, order: Order, start: datetime) -> datetime:
        """The hour bucket the next sweep must read again to meet the order (never before `start`)."""
        try:
            due = next_due(order, self.calendar, self.stall_days) or start
        except Exception:  # the order's data is what failed: read this sweep's whole window again
            due = start
        return max(start, due.astimezone(UTC).replace(minute=0, second=0, microsecond=0))

    def _isolated(self, order: Order, now: datetime, outcome: Counter[str]) -> int | None:
        """`_act`, so that one order the sweep cannot save (bad data, an item the table refuses)
        is logged and left for the next sweep (None) instead of stopping every order after it."""
        try:
            return self._act(order, now, outcome)
        except Exception as error:
            from chalicelib.observability import get_logger

            get_logger().exception("sla sweep: order not decided", extra={"order_id": order.id})
            outcome[f"error:{type(error).__name__}"] += 1
            return None

    def _act(self, order: Order, now: datetime, outcome: Counter[str]) -> int:
        """Let the aggregate flag the order's due timers and save it once; how many were due.

        The order is the index's copy: saving it is conditional on its version, so a stale
        copy (or another sweep's write) is read again, consistently, and decided again."""
        first: set[Timer] = set()
        results: list[tuple[Timer, str]] = []
        for attempt in range(ATTEMPTS):
            results = flag_due(order, now, self.calendar, self.stall_days)
            first = first if attempt else {timer for timer, _ in results}
            if not any(result == "acted" for _, result in results) and (results or attempt):
                break  # nothing to write: nothing the aggregate flags, or done meanwhile
            try:
                self.orders.save(order, Effects())  # refiled by its next due timer
                if not results:
                    # Filed as due, yet nothing is (the shop's calendar or stall days changed
                    # since): the save alone refiled it where its timers are now.
                    outcome["refiled"] += 1
                break
            except StaleVersionError:
                fresh = self.orders.get(order.id, consistent=True)
                if fresh is None:
                    results = [(timer, "stale") for timer in first]
                    break
                order = fresh
        else:
            results = [(timer, "retry_later") for timer, _ in results]
        decided = {timer for timer, _ in results}
        for timer, result in results:
            outcome[f"{_name(timer)}:{result}"] += 1
        for timer in sorted(first - decided):  # no longer due when read again
            outcome[f"{_name(timer)}:{'done' if already_flagged(order, timer) else 'stale'}"] += 1
        return len(first | decided)

    def _ticket_timers(self, due: list[Timer], now: datetime, outcome: Counter[str]) -> tuple[int, list[Order]]:
        """Act on the ticket deadlines among the timer items (a breach supersedes its own warning);
        (how many were due, the orders of legacy order timer items).

        An order timer item dates from before orders carried their timers: its order may never
        have been written since, so it is not on the index. The item is dropped, and its order
        returned to be decided (and so filed) like one the index found."""
        ticket_due = sorted(t for t in due if t.kind.startswith("ticket:"))
        legacy: dict[str, Order] = {}
        for timer in sorted(t for t in due if not t.kind.startswith("ticket:")):
            order = legacy.get(timer.order_id) or self.orders.get(timer.order_id, consistent=True)
            if order is not None:
                legacy[order.id] = order
            self.timers.discard(timer)
            outcome[f"{_name(timer)}:legacy"] += 1
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
        return len(ticket_due), list(legacy.values())
