"""Durable intents in the single table.

  ORDER#<order id> / INTENT#<kind>#<key>    one effect of an order change

While pending an intent sits in GSI1 under INTENT#DUE#<day it was recorded> (the
documents lane's under INTENT#DUE#documents#<day>) with its next attempt time as
sort key, so each lane's retry schedule finds what is due without a scan; ending
it removes it from the index, drops the payload (rendered text and addresses) and
lets the item expire by TTL 90 days later.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.attributes import TTLAttribute as _TTL
from pynamodb.exceptions import QueryError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.adapters.dynamo.conditions import AlreadyDone, Guarded, condition_failed
from chalicelib.adapters.dynamo.documents import DynamoDocumentRecords, stored_update
from chalicelib.adapters.dynamo.models import TableItem, Transactional
from chalicelib.adapters.dynamo.repositories import follow_up_key, order_pk, timeline_item
from chalicelib.adapters.dynamo.schema import GSI1
from chalicelib.domain.orders import DomainEvent
from chalicelib.services.documents import IssuedDocument
from chalicelib.services.intents import MAIN_LANE, PENDING, Attempt, Intent

INTENT_PREFIX = "INTENT#"
DUE_PREFIX = "INTENT#DUE#"
KEEP_ENDED = timedelta(days=90)
MAX_TRANSACTION = 100
MAX_DUE_DAYS = 31  # how far back the due query looks (the give-up window is at most this)


class DueIntentsIndex(GlobalSecondaryIndex["IntentItem"]):
    class Meta:
        index_name = GSI1
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class IntentItem(TableItem):
    """One effect of an order change: pk ORDER#<id>, sk INTENT#<kind>#<key>."""

    order_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    key = UnicodeAttribute()
    cause_version = NumberAttribute(null=True)  # places its timeline entries after the change that caused it
    status = UnicodeAttribute()
    lane = UnicodeAttribute(null=True)  # absent: the main lane; the documents function's stream filter reads it
    payload = JSONAttribute(null=True)
    after = JSONAttribute(null=True)  # ids of intents to end first
    followers = JSONAttribute(null=True)  # another lane's intent: the main-lane ones that come after it
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    give_up_at = UTCDateTimeAttribute()
    next_at = UTCDateTimeAttribute()
    ended_at = UTCDateTimeAttribute(null=True)
    expires_at = _TTL(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    due = DueIntentsIndex()


def intent_sk(kind: str, key: str) -> str:
    return f"{INTENT_PREFIX}{kind}#{key}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _due_pk(day: date, lane: str = MAIN_LANE) -> str:
    return f"{DUE_PREFIX}{lane}#{day.isoformat()}" if lane else f"{DUE_PREFIX}{day.isoformat()}"


def _follow_up(intent: Intent, event: DomainEvent) -> str:
    """An intent's timeline entry sorts after the order change that caused it."""
    return follow_up_key(intent.cause_version, event.at, f"{intent.kind}#{intent.key}")


class _Stored(Exception):
    def __init__(self, index: int):
        self.index = index


def _attempt(item: IntentItem) -> Attempt:
    intent = Intent(
        order_id=item.order_id,
        kind=item.kind,
        key=item.key,
        payload=dict(item.payload or {}),
        after=tuple(item.after or ()),
        status=item.status,
        cause_version=int(item.cause_version or 0),
        lane=item.lane or MAIN_LANE,
        followers=None if item.followers is None else tuple(item.followers),
    )
    return Attempt(intent, int(item.attempts or 0), item.created_at, item.give_up_at)


class DynamoIntentRecords(Transactional):
    def __init__(self, *, lookback_days: int = 2) -> None:
        self._documents = DynamoDocumentRecords()
        self.lookback_days = min(lookback_days, MAX_DUE_DAYS)  # the give-up window, in days, plus one
        IntentItem._connection = None  # the table may have been re-configured since the last container

    def _item(self, intent: Intent, now: datetime, give_up_at: datetime, lease: datetime | None) -> IntentItem:
        item = IntentItem(
            pk=order_pk(intent.order_id),
            sk=intent_sk(intent.kind, intent.key),
            type="intent",
            order_id=intent.order_id,
            kind=intent.kind,
            key=intent.key,
            cause_version=intent.cause_version,
            status=intent.status,
            lane=intent.lane or None,
            payload=intent.payload if intent.status == PENDING else None,
            after=list(intent.after) or None,
            followers=None if intent.followers is None else list(intent.followers),
            attempts=0,
            created_at=now,
            give_up_at=give_up_at,
            next_at=lease or now,  # leased at birth: due for the retry schedule only once the lease runs out
        )
        if intent.status == PENDING:
            item.gsi1pk, item.gsi1sk = _due_pk(now.date(), intent.lane), _stamp(lease or now)
        else:
            item.ended_at, item.expires_at = now, now + KEEP_ENDED
        return item

    def record(
        self,
        intents: Sequence[Intent],
        *,
        now: datetime,
        give_up_at: datetime,
        lease_until: datetime | None = None,
        leased: Collection[str] = (),
    ) -> list[Intent]:
        """Usually one TransactWriteItems for all; intents already stored are left as they are."""
        stored: list[Intent] = []
        leases = {intent.id: lease_until for intent in intents if intent.id in leased}
        for start in range(0, len(intents), MAX_TRANSACTION):
            batch = list(intents[start : start + MAX_TRANSACTION])
            while batch:
                existing = self._record_batch(batch, now, give_up_at, leases)
                if not existing:
                    stored += batch
                    break
                batch = [intent for index, intent in enumerate(batch) if index not in existing]
        return stored

    def _record_batch(
        self, batch: list[Intent], now: datetime, give_up_at: datetime, leases: dict[str, datetime | None]
    ) -> set[int]:
        """Write the batch; on a cancelled transaction, the positions of the intents that exist already."""
        try:
            with self.transaction() as transaction:
                guarded = Guarded(transaction)
                for index, intent in enumerate(batch):
                    guarded.save(
                        self._item(intent, now, give_up_at, leases.get(intent.id)),
                        condition=IntentItem.pk.does_not_exist(),
                        error=lambda index=index: _Stored(index),  # type: ignore[misc]
                    )
                    if intent.timeline is not None:
                        guarded.save(
                            timeline_item(intent.order_id, intent.timeline, _follow_up(intent, intent.timeline))
                        )
        except TransactWriteError as error:
            stored = {failure.index for failure in guarded.failures(error) if isinstance(failure, _Stored)}
            if not stored:
                raise
            return stored
        return set()

    def take(self, intent: Intent, *, now: datetime, lease_seconds: int) -> Attempt | None:
        lease = now + timedelta(seconds=lease_seconds)
        try:
            updated = IntentItem(pk=order_pk(intent.order_id), sk=intent_sk(intent.kind, intent.key)).update(
                actions=[IntentItem.next_at.set(lease), IntentItem.gsi1sk.set(_stamp(lease))],
                condition=(IntentItem.status == PENDING) & (IntentItem.next_at <= now),
            )
        except UpdateError as error:
            if condition_failed(error):
                return None
            raise
        return self._from_update(updated)

    @staticmethod
    def _from_update(updated: dict[str, Any]) -> Attempt:
        # `update` returns the item's new attributes (ALL_NEW) as DynamoDB JSON.
        return _attempt(IntentItem.from_raw_data(updated["Attributes"]))

    def complete(
        self,
        attempt: Attempt,
        status: str,
        event: DomainEvent | None,
        *,
        now: datetime,
        stored: Sequence[IssuedDocument] = (),
    ) -> None:
        intent = attempt.intent
        actions: list[Action] = [
            IntentItem.status.set(status),
            IntentItem.ended_at.set(now),
            IntentItem.expires_at.set(now + KEEP_ENDED),
            IntentItem.payload.remove(),
            IntentItem.gsi1pk.remove(),
            IntentItem.gsi1sk.remove(),
        ]
        try:
            with self.transaction() as transaction:
                guarded = Guarded(transaction)
                guarded.update(
                    IntentItem(pk=order_pk(intent.order_id), sk=intent_sk(intent.kind, intent.key)),
                    actions,
                    condition=IntentItem.status == PENDING,
                    error=AlreadyDone,
                )
                if event is not None:
                    guarded.save(timeline_item(intent.order_id, event, _follow_up(intent, event)))
                for document in stored:  # two UpdateItem calls fewer per paid order than marking each alone
                    item, marked, condition = stored_update(document)
                    guarded.update(item, marked, condition=condition)
        except TransactWriteError as error:
            if isinstance(guarded.map(error), AlreadyDone):
                # Another worker ended it first; the PDFs this attempt put are in S3 all the same.
                for document in stored:
                    self._documents.mark_stored(document)
                return
            raise

    def retry_later(self, attempt: Attempt, *, at: datetime, error: str) -> None:
        intent = attempt.intent
        try:
            IntentItem(pk=order_pk(intent.order_id), sk=intent_sk(intent.kind, intent.key)).update(
                actions=[
                    IntentItem.attempts.set(attempt.attempts),
                    IntentItem.last_error.set(error[:200]),
                    IntentItem.next_at.set(at),
                    IntentItem.gsi1sk.set(_stamp(at)),
                ],
                condition=IntentItem.status == PENDING,
            )
        except UpdateError as update_error:
            if not condition_failed(update_error):
                raise

    def due(self, now: datetime, limit: int, *, lane: str = MAIN_LANE) -> list[Attempt]:
        found: list[Attempt] = []
        unread = 0
        for age in range(self.lookback_days, -1, -1):  # oldest first
            day = now.date() - timedelta(days=age)
            try:
                for item in IntentItem.due.query(
                    _due_pk(day, lane), IntentItem.gsi1sk <= _stamp(now), limit=limit - len(found)
                ):
                    found.append(_attempt(item))
            except QueryError:  # one day's bucket unreadable now: the other days are still retried
                unread += 1
            if len(found) >= limit:
                break
        if unread == self.lookback_days + 1:
            raise QueryError("no day of due intents could be read")  # nothing read at all: the schedule failed
        return found

    def statuses(self, order_id: str, ids: Iterable[str]) -> dict[str, str]:
        keys = [(order_pk(order_id), intent_sk(*intent_id.split(":", 1))) for intent_id in ids]
        return {f"{item.kind}:{item.key}": item.status for item in IntentItem.batch_get(keys)}

    def pending(self, order_id: str) -> list[Intent]:
        query = IntentItem.query(
            order_pk(order_id), IntentItem.sk.startswith(INTENT_PREFIX), filter_condition=IntentItem.status == PENDING
        )
        return [_attempt(item).intent for item in query]
