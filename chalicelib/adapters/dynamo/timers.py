"""The sweep's due work in hour-bucketed partitions, so a sweep reads only what is due.

  GSI4 on the order item:  DUE#<yyyy-mm-ddThh> / <due iso>#<order id>   an order's next due timer
  DUE#<yyyy-mm-ddThh> / <due iso>#<order id>#<kind>   one open ticket deadline (a timer item)
  SWEEP#orders / #CURSOR                              the last hour fully swept

An order's promise and stall timers follow from its facts (domain/sla.py), so no item
stores them: the order repository files every order it writes in GSI4 under the earliest
of them (`DynamoOrderRepository.due_at`), or off the index when none is open. A sweep
queries the hour buckets from the cursor to now with `sk <= now`, in GSI4 and in the
table: every item it reads is due, and an order is read once, however many of its timers
are due. What they mean is the aggregate's rule (`domain.sla.flag_due`); the flagged
order is saved conditionally on the version read, which refiles it in the index by its
next due timer, so two sweeps never act twice. Order timer items written before the order
carried its timers are discarded when a sweep meets them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist

from chalicelib.adapters.dynamo.models import OrderItem, TableItem
from chalicelib.adapters.dynamo.repositories import due_bucket, due_stamp, order_from_item
from chalicelib.domain.orders import Order
from chalicelib.domain.sla import Timer

CURSOR_PK, CURSOR_SK = "SWEEP#orders", "#CURSOR"
MAX_CATCH_UP_HOURS = 24 * 7  # a first sweep (no cursor) looks back a week
LATE_WRITE_HOURS = 2  # stream records (ticket timers) are retried for at most an hour (MaximumRecordAgeInSeconds)


class TimerItem(TableItem):
    order_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    due_at = UTCDateTimeAttribute()


class SweepCursorItem(TableItem):
    through = UTCDateTimeAttribute()  # every bucket before this hour is done


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _sort_key(timer: Timer) -> str:
    return f"{due_stamp(timer.due_at)}#{timer.order_id}#{timer.kind}"


def _timer_item(timer: Timer) -> TimerItem:
    return TimerItem(
        pk=due_bucket(timer.due_at),
        sk=_sort_key(timer),
        type="timer",
        order_id=timer.order_id,
        kind=timer.kind,
        due_at=timer.due_at,
    )


def _hours(start: datetime, now: datetime) -> Iterator[datetime]:
    hour = _hour(start)
    while hour <= _hour(now):
        yield hour
        hour += timedelta(hours=1)


def _upper(now: datetime) -> str:
    return f"{due_stamp(now)}#~"  # after every id and kind due at that second


class DynamoTimerStore:
    def apply(self, create: Iterable[Timer], delete: Iterable[Timer]) -> None:
        """Create and delete timers (idempotent: puts and deletes by key)."""
        creating = {_sort_key(timer) for timer in create}
        with TimerItem.batch_write() as batch:
            for timer in create:
                batch.save(_timer_item(timer))
            for timer in delete:
                if _sort_key(timer) not in creating:  # the same record: keep it
                    batch.delete(_timer_item(timer))

    def window(self, now: datetime, real_now: datetime) -> tuple[datetime, datetime]:
        """The first hour to read and the hour the cursor may move to.

        `now` is the sweep's notion of time (the schedule's, or a time-travelling
        `make sweep`); the cursor never passes the real clock, so work filed after a
        sweep into the future is still found."""
        try:
            start = SweepCursorItem.get(CURSOR_PK, CURSOR_SK, consistent_read=True).through
        except DoesNotExist:
            start = _hour(real_now) - timedelta(hours=MAX_CATCH_UP_HOURS)
        # The cursor trails the clock by a few hours, so a timer written late (stream
        # retries) into an hour already swept is still found; acted work has left those
        # buckets (timer deleted, order refiled later), so the overlap costs a few empty
        # queries, not reads.
        return _hour(start), min(_hour(now), _hour(real_now)) - timedelta(hours=LATE_WRITE_HOURS)

    def due(self, start: datetime, now: datetime) -> list[Timer]:
        upper = _upper(now)
        return [
            Timer(item.due_at, item.order_id, item.kind)
            for hour in _hours(start, now)
            for item in TimerItem.query(due_bucket(hour), TimerItem.sk <= upper)
        ]

    def due_orders(self, start: datetime, now: datetime) -> Iterator[Order]:
        upper = _upper(now)
        for hour in _hours(start, now):
            for item in OrderItem.by_due.query(due_bucket(hour), OrderItem.gsi4sk <= upper):
                yield order_from_item(item)

    def advance(self, through: datetime) -> None:
        SweepCursorItem(pk=CURSOR_PK, sk=CURSOR_SK, type="sweep_cursor", through=through).save()

    def discard(self, timer: Timer) -> None:
        _timer_item(timer).delete()
