"""Promise keeping: maintain the timers from order changes, sweep what is due."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.orders import Order
from chalicelib.domain.sla import SlaState, Timer, estimate_after_breach, timer_changes
from chalicelib.services.ports import Clock


class TimerStore(Protocol):
    def apply(self, create: Iterable[Timer], delete: Iterable[Timer], shipping_method: str) -> None: ...

    def due(self, now: datetime, real_now: datetime) -> tuple[list[tuple[Timer, str]], datetime]: ...

    def advance(self, through: datetime) -> None: ...

    def act(self, timer: Timer, now: datetime, estimate: datetime | None) -> str: ...

    def discard(self, timer: Timer) -> str: ...


@dataclass
class SlaService:
    timers: TimerStore
    calendar: BusinessCalendar
    clock: Clock

    def on_order_change(self, before: Order | None, after: Order) -> int:
        """Open and close timers as the order's facts change; how many changed."""
        create, delete = timer_changes(before, after)
        if create or delete:
            self.timers.apply(create, delete, after.shipping_method)
        return len(create) + len(delete)

    def sweep(self, now: datetime) -> dict[str, int]:
        """Act once on every timer due by `now` (safe to run twice, concurrently, or after a crash)."""
        due, through = self.timers.due(now, self.clock.now())
        outcome: Counter[str] = Counter()
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
            outcome[f"{timer.kind}:{self.timers.act(timer, now, estimate)}"] += 1
        self.timers.advance(through)
        return {"due": len(due), **outcome}
