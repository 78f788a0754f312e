"""Tickets in the single table, inside their order's item collection.

  ORDER#<order> / TICKET#<ticket>              the ticket       (GSI1: TICKET#<ticket> / #TICKET)
  ORDER#<order> / TICKET#<ticket>#MSG#<msg>    one message      (GSI1: TICKET#<ticket> / MSG#<msg>)
  ORDER#<order> / AUTOTICKET#<shipment>        "this parcel already has its ticket"
  ORDER#<order> / INBOUNDMAIL#<hash>           "this email is on its ticket" (written with the append)
  TICKETQ#<active|resolved|closed> / <deadline>#<ticket>   the queue entry, oldest deadline first
  INBOUND#HELD / <received>#<id>               an inbound email held for an agent
  INBOUND#<sha256> / #INBOUND                  an inbound email already handled (its outcome)
  INBOUNDHELD#<hash> / #HELD                   "this email is held already" (written with the hold)
  INBOUNDRATE#<sender hash> / <hour>           tickets a sender opened by email in that hour

Because tickets live in the order's partition, the agent's view of an order is one
Query; because ticket and messages share a GSI1 partition, reading a ticket by id is
one Query too. Every change is one TransactWriteItems: the ticket (conditional on its
version), new messages, the queue entry moved, the order's timeline entries and, with
them, a check that the order is at the version those entries follow (so no change reads
the order first: see `DynamoTicketRepository.save`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.adapters.dynamo.conditions import CONFLICT, Guarded, cancellation_codes
from chalicelib.adapters.dynamo.models import IdempotencyItem, TableItem, Transactional
from chalicelib.adapters.dynamo.repositories import (
    ORDER_VERSION_ATTEMPTS,
    OrderMoved,
    _idempotency_item,
    _plain_key,
    _stored_response,
    _typed_key,
    current_version,
    expect_order_at,
    follow_up_key,
    order_moved,
    order_pk,
    timeline_item,
)
from chalicelib.adapters.dynamo.timers import TimerItem, _timer_item
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.sla import Timer
from chalicelib.domain.tickets import ACTIVE, Ticket, TicketAttachment, TicketMessage, TicketStatus
from chalicelib.services.ports import IdempotencyKeyTakenError, Page, StaleVersionError, StoredResponse

TICKET_PREFIX = "TICKET#"
QUEUE_PREFIX = "TICKETQ#"
HELD_PK = "INBOUND#HELD"
INBOUND_DAYS = 30


class ByTicketIndex(GlobalSecondaryIndex["TicketItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class TicketItem(TableItem):
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_ticket = ByTicketIndex()
    id = UnicodeAttribute()
    number = UnicodeAttribute()
    order_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    category = UnicodeAttribute()
    channel = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    acknowledge_by = UTCDateTimeAttribute()
    resolve_by = UTCDateTimeAttribute()
    acknowledged_at = UTCDateTimeAttribute(null=True)
    resolved_at = UTCDateTimeAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)
    resolution_started_at = UTCDateTimeAttribute(null=True)
    resolution = UnicodeAttribute(null=True)
    reopened = NumberAttribute(default=0)
    sla_acknowledgement = UnicodeAttribute(default="on_track")
    sla_resolution = UnicodeAttribute(default="on_track")
    shipment_id = UnicodeAttribute(null=True)
    order_version = NumberAttribute(default=0)  # the order version its last timeline entries followed
    version = VersionAttribute()


class TicketMessageItem(TableItem):
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    id = UnicodeAttribute()
    ticket_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    author = UnicodeAttribute()
    body = UnicodeAttribute()
    internal = BooleanAttribute(default=False)
    channel = UnicodeAttribute()
    attachments = JSONAttribute(default=list)
    email_message_id = UnicodeAttribute(null=True)


class TicketQueueItem(TableItem):
    ticket_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    summary = JSONAttribute()
    sla_state = UnicodeAttribute()
    status = UnicodeAttribute()


class AutoTicketItem(TableItem):
    """A fact that must reach a ticket once (a parcel, a survey, an inbound email), saved with the change."""

    ticket_id = UnicodeAttribute()
    outcome = UnicodeAttribute(null=True)  # "opened" the ticket or "appended" to it


class HeldEmailItem(TableItem):
    id = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    reason = UnicodeAttribute()
    sender = UnicodeAttribute()
    subject = UnicodeAttribute()
    excerpt = UnicodeAttribute()
    raw_key = UnicodeAttribute()
    order_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class HeldMarkerItem(TableItem):
    held_id = UnicodeAttribute()
    expires_at = TTLAttribute()


class InboundSeenItem(TableItem):
    outcome = UnicodeAttribute()
    ticket_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class InboundRateItem(TableItem):
    sent = NumberAttribute(default=0)
    expires_at = TTLAttribute()


def ticket_sk(ticket_id: str) -> str:
    return f"{TICKET_PREFIX}{ticket_id}"


def queue_bucket(status: str) -> str:
    if status in ACTIVE:
        return f"{QUEUE_PREFIX}active"
    return f"{QUEUE_PREFIX}{status}"


def queue_key(ticket: Ticket) -> tuple[str, str]:
    due = ticket.next_deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return queue_bucket(ticket.status), f"{due}#{ticket.id}"


def _attachment_json(attachment: TicketAttachment) -> dict[str, Any]:
    return vars(attachment).copy()


def message_item(message: TicketMessage, order_id: str) -> TicketMessageItem:
    return TicketMessageItem(
        pk=order_pk(order_id),
        sk=f"{ticket_sk(message.ticket_id)}#MSG#{message.id}",
        type="ticket_message",
        gsi1pk=ticket_sk(message.ticket_id),
        gsi1sk=f"MSG#{message.id}",
        id=message.id,
        ticket_id=message.ticket_id,
        order_id=order_id,
        at=message.at,
        author=message.author,
        body=message.body,
        internal=message.internal,
        channel=message.channel,
        attachments=[_attachment_json(a) for a in message.attachments],
        email_message_id=message.email_message_id,
    )


def message_from_item(item: TicketMessageItem) -> TicketMessage:
    return TicketMessage(
        id=item.id,
        ticket_id=item.ticket_id,
        at=item.at,
        author=item.author,
        body=item.body,
        internal=bool(item.internal),
        channel=item.channel,
        attachments=tuple(TicketAttachment(**a) for a in (item.attachments or [])),
        email_message_id=item.email_message_id,
    )


def ticket_item(ticket: Ticket) -> TicketItem:
    versioned: dict[str, Any] = (
        {"version": ticket.version} if ticket.version else {}
    )  # new: pynamodb sets 1, checks absence
    return TicketItem(
        pk=order_pk(ticket.order_id),
        sk=ticket_sk(ticket.id),
        type="ticket",
        gsi1pk=ticket_sk(ticket.id),
        gsi1sk="#TICKET",
        id=ticket.id,
        number=ticket.number,
        order_id=ticket.order_id,
        customer_id=ticket.customer_id,
        category=ticket.category,
        channel=ticket.channel,
        status=str(ticket.status),
        created_at=ticket.created_at,
        acknowledge_by=ticket.acknowledge_by,
        resolve_by=ticket.resolve_by,
        acknowledged_at=ticket.acknowledged_at,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        resolution_started_at=ticket.resolution_started_at,
        resolution=ticket.resolution,
        reopened=ticket.reopened,
        sla_acknowledgement=ticket.sla_acknowledgement,
        sla_resolution=ticket.sla_resolution,
        shipment_id=ticket.shipment_id,
        order_version=ticket.order_version,
        **versioned,
    )


def ticket_from_item(item: TicketItem, messages: list[TicketMessage] | None = None) -> Ticket:
    return Ticket(
        id=item.id,
        number=item.number,
        order_id=item.order_id,
        customer_id=item.customer_id,
        category=item.category,
        channel=item.channel,
        status=TicketStatus(item.status),
        created_at=item.created_at,
        acknowledge_by=item.acknowledge_by,
        resolve_by=item.resolve_by,
        acknowledged_at=item.acknowledged_at,
        resolved_at=item.resolved_at,
        closed_at=item.closed_at,
        resolution_started_at=item.resolution_started_at,
        resolution=item.resolution,
        reopened=int(item.reopened or 0),
        sla_acknowledgement=item.sla_acknowledgement or "on_track",
        sla_resolution=item.sla_resolution or "on_track",
        shipment_id=item.shipment_id,
        version=int(item.version or 0),
        order_version=int(item.order_version or 0),
        messages=sorted(messages or [], key=lambda m: m.id),
    )


def ticket_summary(ticket: Ticket) -> dict[str, Any]:
    """What a queue row shows without reading the ticket."""

    def iso(moment: datetime | None) -> str | None:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None

    return {
        "id": ticket.id,
        "number": ticket.number,
        "order_id": ticket.order_id,
        "customer_id": ticket.customer_id,
        "category": ticket.category,
        "channel": ticket.channel,
        "status": str(ticket.status),
        "created_at": iso(ticket.created_at),
        "acknowledge_by": iso(ticket.acknowledge_by),
        "resolve_by": iso(ticket.resolve_by),
        "next_deadline": iso(ticket.next_deadline),
        "sla": {"acknowledgement": ticket.sla_acknowledgement, "resolution": ticket.sla_resolution},
        "sla_state": ticket.sla_state,
    }


def _queue_item(ticket: Ticket) -> TicketQueueItem:
    pk, sk = queue_key(ticket)
    return TicketQueueItem(
        pk=pk,
        sk=sk,
        type="ticket_queue",
        ticket_id=ticket.id,
        order_id=ticket.order_id,
        summary=ticket_summary(ticket),
        sla_state=ticket.sla_state,
        status=str(ticket.status),
    )


def items_to_tickets(raw_items: list[dict[str, Any]]) -> list[Ticket]:
    """Tickets with their messages from raw items of one Query (order partition or GSI1)."""
    tickets: dict[str, TicketItem] = {}
    messages: dict[str, list[TicketMessage]] = {}
    for raw in raw_items:
        kind = raw.get("type", {}).get("S")
        if kind == "ticket":
            item = TicketItem.from_raw_data(raw)
            tickets[item.id] = item
        elif kind == "ticket_message":
            message = message_from_item(TicketMessageItem.from_raw_data(raw))
            messages.setdefault(message.ticket_id, []).append(message)
    return [ticket_from_item(item, messages.get(ticket_id)) for ticket_id, item in sorted(tickets.items())]


class TicketNumberTakenError(ConflictError):
    code = "ticket_number_taken"


class DuplicateAutoTicketError(ConflictError):
    """The fact behind `auto_key` is already on a ticket (another request recorded it first)."""

    code = "ticket_exists"


class SenderQuotaExceededError(ConflictError):
    """The sender opened their hourly number of tickets by email already."""

    code = "sender_rate_limited"


def _sender_rate_key(sender: str, now: datetime) -> tuple[str, str]:
    digest = hashlib.sha256(sender.lower().encode()).hexdigest()[:32]
    return f"INBOUNDRATE#{digest}", now.astimezone(UTC).strftime("%Y-%m-%dT%H")


class DynamoTicketRepository(Transactional):
    def _client(self) -> Any:
        return TableItem._get_connection().connection.client

    def get(self, ticket_id: str) -> Ticket | None:
        """The ticket and its messages: one Query on GSI1."""
        client = self._client()
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": TableItem.Meta.table_name,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": ticket_sk(ticket_id)}},
        }
        while True:
            response = client.query(**kwargs)
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        found = items_to_tickets(items)
        return found[0] if found else None

    def save(
        self,
        ticket: Ticket,
        *,
        new: bool,
        previous_queue_key: tuple[str, str] | None,
        timer: Timer | None = None,
        auto_key: str | None = None,
        sender_quota: tuple[str, datetime, int] | None = None,
        response: StoredResponse | None = None,
    ) -> None:
        """One TransactWriteItems for the whole change (see the module docstring).

        `auto_key`: the marker of a fact that must reach a ticket once; `sender_quota`
        (sender, now, cap): one of the sender's hourly tickets by email, counted only if the
        change lands (a duplicate delivery that loses on the marker costs the sender nothing);
        `response`: the request's idempotency record — a retry with its key fails the whole change
        (IdempotencyKeyTakenError, carrying the stored record so the replay reads nothing).

        Timeline entries follow the order change current when they are recorded: the change
        expects the order at `ticket.order_version` and checks that in its own transaction
        instead of reading the order first. If the order moved on, the failed check hands back
        its version and the change is written again under it."""
        for _ in range(ORDER_VERSION_ATTEMPTS):
            try:
                self._write(ticket, new, previous_queue_key, timer, auto_key, sender_quota, response)
            except OrderMoved as moved:
                ticket.order_version = moved.version if moved.version is not None else current_version(ticket.order_id)
                continue
            ticket.version = 1 if new else ticket.version + 1
            ticket.events.clear()
            ticket.new_messages.clear()
            return
        raise StaleVersionError("the order kept changing meanwhile; retry")

    def _write(
        self,
        ticket: Ticket,
        new: bool,
        previous_queue_key: tuple[str, str] | None,
        timer: Timer | None,
        auto_key: str | None,
        sender_quota: tuple[str, datetime, int] | None,
        response: StoredResponse | None,
    ) -> None:
        try:
            with self.transaction() as transaction:
                guarded = Guarded(transaction)
                if ticket.events:
                    expect_order_at(guarded, ticket.order_id, ticket.order_version)
                if timer is not None:  # the due timer, gone once acted on
                    guarded.delete(
                        _timer_item(timer),
                        condition=TimerItem.pk.exists(),
                        error=lambda: ConflictError("timer already handled", code="timer_done"),
                    )
                if response is not None:
                    guarded.save(
                        _idempotency_item(response),
                        condition=IdempotencyItem.pk.does_not_exist(),
                        error=lambda: IdempotencyKeyTakenError("idempotency key already used"),
                        return_old=True,
                    )
                new_key = queue_key(ticket)
                if previous_queue_key is not None and previous_queue_key != new_key:
                    guarded.delete(TicketQueueItem(pk=previous_queue_key[0], sk=previous_queue_key[1]))
                if new:
                    guarded.save(
                        ticket_item(ticket),
                        condition=TicketItem.pk.does_not_exist(),
                        error=lambda: ConflictError("ticket exists", code="ticket_exists"),
                    )
                else:  # conditional on the version read (pynamodb adds it)
                    guarded.save(
                        ticket_item(ticket),
                        error=lambda: StaleVersionError("the ticket changed meanwhile; read it and retry"),
                    )
                for message in ticket.new_messages:
                    guarded.save(message_item(message, ticket.order_id))
                guarded.save(_queue_item(ticket))
                for index, event in enumerate(ticket.events):
                    # After the order change current when it was recorded (tickets are not order changes).
                    tie = f"ticket#{ticket.id}#{ticket.version}#{index:03d}"
                    key = follow_up_key(ticket.order_version, event.at, tie)
                    guarded.save(timeline_item(ticket.order_id, event, key))
                if auto_key is not None:  # the fact's marker: a second writer fails the whole change
                    guarded.save(
                        AutoTicketItem(
                            pk=order_pk(ticket.order_id),
                            sk=auto_key,
                            type="auto_ticket",
                            ticket_id=ticket.id,
                            outcome="opened" if new else "appended",
                        ),
                        condition=AutoTicketItem.pk.does_not_exist(),
                        error=lambda: DuplicateAutoTicketError("this is already on its ticket"),
                    )
                if sender_quota is not None:
                    sender, now, cap = sender_quota
                    pk, sk = _sender_rate_key(sender, now)
                    guarded.update(
                        InboundRateItem(pk=pk, sk=sk),
                        [
                            InboundRateItem.sent.add(1),
                            InboundRateItem.type.set("inbound_rate"),
                            InboundRateItem.expires_at.set(now + timedelta(days=1)),
                        ],
                        condition=InboundRateItem.sent.does_not_exist() | (InboundRateItem.sent < cap),
                        error=lambda: SenderQuotaExceededError("too many tickets by email this hour"),
                    )
        except TransactWriteError as error:
            failed = guarded.failed_items(error)
            moved = order_moved(failed)
            if moved is not None:  # the order check alone: write again under the version it handed back
                raise moved from error
            for failure, raw in failed:  # any other failed condition decides: writing again would not help
                if isinstance(failure, OrderMoved):
                    continue
                if isinstance(failure, IdempotencyKeyTakenError) and raw and response is not None:
                    record = IdempotencyItem.from_raw_data(raw)
                    failure.stored = _stored_response(record, response.principal, response.key)
                raise failure from error
            if CONFLICT in cancellation_codes(error):
                raise StaleVersionError("the ticket is being changed by another request; retry") from error
            raise

    def for_order(self, order_id: str) -> list[Ticket]:
        """Every ticket of the order with its messages: one Query (sk begins_with TICKET#)."""
        client = self._client()
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": TableItem.Meta.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": order_pk(order_id)}, ":prefix": {"S": TICKET_PREFIX}},
        }
        while True:
            response = client.query(**kwargs)
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return items_to_tickets(items)
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def delete_timer(self, timer: Timer) -> None:
        _timer_item(timer).delete()

    def queue(
        self, bucket: str, *, status: str | None, sla: str | None, limit: int, start: dict[str, Any] | None
    ) -> Page:
        condition = None
        if status is not None:
            condition = TicketQueueItem.status == status
        if sla is not None:
            sla_condition = TicketQueueItem.sla_state == sla
            condition = sla_condition if condition is None else condition & sla_condition
        results = TicketQueueItem.query(
            f"{QUEUE_PREFIX}{bucket}",
            filter_condition=condition,
            limit=limit,
            page_size=limit if condition is None else max(limit, 50),
            last_evaluated_key=_typed_key(start, {"pk", "sk"}),
        )
        items = [dict(item.summary) for item in results]
        return Page(items=items, last_key=_plain_key(results.last_evaluated_key))

    # --- inbound email bookkeeping -------------------------------------------------------------

    def hold(self, held: dict[str, Any], now: datetime, once_key: str | None = None) -> str:
        """Hold an email for an agent; the id of its entry. With `once_key` the marker is written in the
        same transaction, so the same email held again (a duplicate delivery) keeps the first entry."""
        item = HeldEmailItem(
            pk=HELD_PK,
            sk=f"{now.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{held['id']}",
            type="held_email",
            received_at=now,
            expires_at=now + timedelta(days=90),
            **held,
        )
        if once_key is None:
            item.save()
            return str(held["id"])
        marker = HeldMarkerItem(
            pk=f"INBOUNDHELD#{once_key}", sk="#HELD", type="held_marker", held_id=held["id"], expires_at=item.expires_at
        )
        try:
            with self.transaction() as transaction:
                transaction.save(marker, condition=HeldMarkerItem.pk.does_not_exist())
                transaction.save(item)
        except TransactWriteError as error:
            codes = {getattr(reason, "code", None) for reason in error.cancellation_reasons or []}
            if not codes & {"ConditionalCheckFailed", "TransactionConflict"}:
                raise
            try:
                return str(HeldMarkerItem.get(marker.pk, "#HELD", consistent_read=True).held_id)
            except HeldMarkerItem.DoesNotExist:  # the winner's transaction had not landed: it will
                raise StaleVersionError("the same email is being held by another request; retry") from error
        return str(held["id"])

    def held(self, *, limit: int, start: dict[str, Any] | None) -> Page:
        results = HeldEmailItem.query(
            HELD_PK,
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=_typed_key(start, {"pk", "sk"}),
        )
        items = [
            {
                "id": item.id,
                "received_at": item.received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason": item.reason,
                "from": item.sender,
                "subject": item.subject,
                "excerpt": item.excerpt,
                "order_id": item.order_id,
                "raw_key": item.raw_key,
            }
            for item in results
        ]
        return Page(items=items, last_key=_plain_key(results.last_evaluated_key))

    def inbound_seen(self, digest: str) -> tuple[str, str | None] | None:
        try:
            item = InboundSeenItem.get(f"INBOUND#{digest}", "#INBOUND", consistent_read=True)
        except InboundSeenItem.DoesNotExist:
            return None
        return item.outcome, item.ticket_id

    def mark_inbound(self, digest: str, outcome: str, ticket_id: str | None) -> None:
        InboundSeenItem(
            pk=f"INBOUND#{digest}",
            sk="#INBOUND",
            type="inbound_seen",
            outcome=outcome,
            ticket_id=ticket_id,
            expires_at=timedelta(days=INBOUND_DAYS),
        ).save()

    def recorded(self, order_id: str, key: str) -> tuple[str, str] | None:
        """(outcome, ticket id) of the change that wrote the `auto_key` marker, if one did."""
        try:
            item = AutoTicketItem.get(order_pk(order_id), key, consistent_read=True)
        except AutoTicketItem.DoesNotExist:
            return None
        return item.outcome or "opened", item.ticket_id

    def auto_ticket_exists(self, order_id: str, key: str) -> bool:
        try:
            AutoTicketItem.get(order_pk(order_id), key)
            return True
        except AutoTicketItem.DoesNotExist:
            return False


__all__ = ["DynamoTicketRepository", "PutError", "SenderQuotaExceededError", "items_to_tickets", "ticket_summary"]
