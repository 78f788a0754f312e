"""Due timers in time-bucketed partitions, so a sweep reads only what is due.

  DUE#<yyyy-mm-ddThh> / <due iso>#<order id>#<kind>   one open deadline
  SWEEP#orders / #CURSOR                              the last hour fully swept

A sweep queries the hour buckets from the cursor to now with `sk <= now`: every
item it reads is due. Acting on a timer deletes it (conditionally) in the same
transaction that flags the order, so two sweeps never act twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib.adapters.dynamo.models import OrderItem, TableItem, Transactional
from chalicelib.adapters.dynamo.repositories import order_pk, timeline_item
from chalicelib.domain.orders import DomainEvent
from chalicelib.domain.sla import NOT_DELIVERED, NOT_SHIPPED, Timer

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

    def act(self, timer: Timer, now: datetime, estimate: datetime | None, *, _retried: bool = False) -> str:
        """Flag the order for a due timer and delete the timer, atomically, once.

        Returns "acted", "stale" (the order moved on; timer removed) or "done" (another sweep had it)."""
        actions, condition = self._order_update(timer, estimate)
        event = DomainEvent(
            f"sla_{timer.state}",
            now,
            "sla_sweep",
            {"promise": timer.promise, "due_at": _iso(timer.due_at), "new_estimate": _iso(estimate)},
        )
        try:
            with self._transaction() as transaction:
                transaction.delete(_timer_item(timer), condition=TimerItem.pk.exists())
                transaction.update(
                    # version=0: pynamodb then ADDs 1 to the stored version (None would SET it to 1)
                    OrderItem(pk=order_pk(timer.order_id), sk="#ORDER", version=0),
                    actions=actions,
                    condition=condition,
                    add_version_condition=False,  # a blind, conditional flag; the version is still bumped
                )
                transaction.save(timeline_item(timer.order_id, event))
        except TransactWriteError as error:
            # pynamodb sends deletes, then puts, then updates: [timer, timeline entry, order].
            codes = [getattr(reason, "code", None) for reason in error.cancellation_reasons or []]
            if codes and codes[0] == "ConditionalCheckFailed":
                return "done"
            if "TransactionConflict" in codes and not _retried:
                return self.act(timer, now, estimate, _retried=True)  # a concurrent sweep or write; once more
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                if estimate is not None:  # maybe only the estimate is no longer news: flag without it
                    return self.act(timer, now, None, _retried=_retried)
                return self.discard(timer)
            raise
        return "acted"

    def _transaction(self) -> Any:

        return self.transaction()

    def discard(self, timer: Timer) -> str:
        _timer_item(timer).delete()
        return "stale"

    def _order_update(self, timer: Timer, estimate: datetime | None) -> tuple[list[Any], Any]:
        """SET the promise's state (and the new estimate) only while the order is still late."""
        field = OrderItem.sla_shipping if timer.promise == "shipping" else OrderItem.sla_delivery
        statuses = NOT_SHIPPED if timer.promise == "shipping" else NOT_DELIVERED
        condition = OrderItem.status.is_in(*[str(s) for s in statuses]) & field.is_in("on_track", "at_risk")
        if timer.state == "at_risk":
            condition &= field == "on_track"
        actions = [field.set(str(timer.state))]  # pynamodb adds version = version + 1 itself
        if timer.promise == "shipping" and timer.state == "breached":
            # Not shipped in time: the delivery promise is now at risk too (no separate warning).
            actions.append(OrderItem.sla_delivery.set("at_risk"))
            condition &= OrderItem.sla_delivery.is_in("on_track", "at_risk")
        if estimate is not None:
            actions.append(OrderItem.revised_deliver_by.set(estimate))
            condition &= OrderItem.revised_deliver_by.does_not_exist() | (OrderItem.revised_deliver_by < estimate)
        return actions, condition


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None
