"""Due timers in time-bucketed partitions, so a sweep reads only what is due.

  DUE#<yyyy-mm-ddThh> / <due iso>#<order id>#<kind>   one open deadline
  SWEEP#orders / #CURSOR                              the last hour fully swept

A sweep queries the hour buckets from the cursor to now with `sk <= now`: every
item it reads is due. What a due timer means is the order aggregate's rule
(`Order.flag_sla`); this adapter only persists: it deletes the timer
(conditionally) in the same transaction that saves the flagged order, so two
sweeps never act twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist

from chalicelib.adapters.dynamo.conditions import AlreadyDone, Guarded
from chalicelib.adapters.dynamo.models import TableItem, Transactional
from chalicelib.adapters.dynamo.repositories import write_change
from chalicelib.domain.orders import Order
from chalicelib.domain.sla import Timer
from chalicelib.services.ports import Effects

CURSOR_PK, CURSOR_SK = "SWEEP#orders", "#CURSOR"
MAX_CATCH_UP_HOURS = 24 * 7  # a first sweep (no cursor) looks back a week
LATE_WRITE_HOURS = 2  # stream records are retried for at most an hour (infra: MaximumRecordAgeInSeconds)


class TimerItem(TableItem):
    order_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    due_at = UTCDateTimeAttribute()
    shipping_method = UnicodeAttribute()


class SweepCursorItem(TableItem):
    through = UTCDateTimeAttribute()  # every bucket before this hour is done


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _bucket(moment: datetime) -> str:
    return f"DUE#{_hour(moment).strftime('%Y-%m-%dT%H')}"


def _sort_key(timer: Timer) -> str:
    return f"{timer.due_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')}#{timer.order_id}#{timer.kind}"


def _timer_item(timer: Timer, shipping_method: str = "") -> TimerItem:
    return TimerItem(
        pk=_bucket(timer.due_at),
        sk=_sort_key(timer),
        type="timer",
        order_id=timer.order_id,
        kind=timer.kind,
        due_at=timer.due_at,
        shipping_method=shipping_method,
    )


class DynamoTimerStore(Transactional):
    def apply(self, create: Iterable[Timer], delete: Iterable[Timer], shipping_method: str) -> None:
        """Create and delete timers (idempotent: puts and deletes by key)."""
        creating = {_sort_key(timer) for timer in create}
        with TimerItem.batch_write() as batch:
            for timer in create:
                batch.save(_timer_item(timer, shipping_method))
            for timer in delete:
                if _sort_key(timer) not in creating:  # the same record: keep it
                    batch.delete(_timer_item(timer))

    def due(self, now: datetime, real_now: datetime) -> tuple[list[tuple[Timer, str]], datetime]:
        """Due timers (with their order's shipping method) and the hour the cursor may move to.

        `now` is the sweep's notion of time (the schedule's, or a time-travelling
        `make sweep`); the cursor never passes the real clock, so timers created
        after a sweep into the future are still found."""
        try:
            start = SweepCursorItem.get(CURSOR_PK, CURSOR_SK, consistent_read=True).through
        except DoesNotExist:
            start = _hour(real_now) - timedelta(hours=MAX_CATCH_UP_HOURS)
        found: list[tuple[Timer, str]] = []
        hour, last = _hour(start), _hour(now)
        upper = f"{now.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')}#~"
        while hour <= last:
            for item in TimerItem.query(f"DUE#{hour.strftime('%Y-%m-%dT%H')}", TimerItem.sk <= upper):
                found.append((Timer(item.due_at, item.order_id, item.kind), item.shipping_method))
            hour += timedelta(hours=1)
        # The cursor trails the clock by a few hours, so a timer written late (stream
        # retries) into an hour already swept is still found; acted timers are gone,
        # so the overlap costs a few empty queries, not reads.
        return found, min(last, _hour(real_now)) - timedelta(hours=LATE_WRITE_HOURS)

    def advance(self, through: datetime) -> None:
        SweepCursorItem(pk=CURSOR_PK, sk=CURSOR_SK, type="sweep_cursor", through=through).save()

    def act(self, timer: Timer, order: Order) -> str:
        """Save the order the aggregate flagged for a due timer and delete the timer, atomically, once.

        Returns "acted", or "done" when another sweep had it; raises StaleVersionError
        when the order changed since it was read (the caller reads it again)."""

        def consume(guarded: Guarded) -> None:
            guarded.delete(_timer_item(timer), condition=TimerItem.pk.exists(), error=AlreadyDone)

        try:
            write_change(self.transaction(), order, Effects(), new=False, extra=[consume])
        except AlreadyDone:
            return "done"
        return "acted"

    def discard(self, timer: Timer) -> str:
        _timer_item(timer).delete()
        return "stale"
