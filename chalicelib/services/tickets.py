"""Support tickets: open, read, reply, acknowledge, resolve, reopen, queue; SLA timers and sweeps.

Customers act only on tickets of their own orders and never see internal notes;
an id that is not theirs is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.domain.ids import has_prefix, new_id
from chalicelib.domain.orders import Order
from chalicelib.domain.sla import Timer
from chalicelib.domain.tickets import (
    ACTIVE,
    CATEGORIES,
    Deadlines,
    Ticket,
    TicketMessage,
    TicketStatus,
    parse_ticket_timer_kind,
    ticket_number,
    ticket_timers,
)
from chalicelib.services.ports import (
    Clock,
    CustomerOrderReader,
    Page,
    StaleVersionError,
    StoredResponse,
    TicketRepository,
    TimerWriter,
)

if TYPE_CHECKING:
    from chalicelib.services.orders import IdempotentRequest, OrderService

ATTEMPTS = 3
QUEUE_BUCKETS = {"open": "active", "acknowledged": "active", "waiting_on_customer": "active"}


@dataclass(frozen=True)
class Caller:
    """Who acts: a customer (only on their own orders) or staff."""

    role: str
    subject: str

    @property
    def is_staff(self) -> bool:
        return self.role in ("agent", "admin")

    @property
    def actor(self) -> str:
        return "customer" if self.role == "customer" else f"{self.role}:{self.subject}"

    @property
    def customer_id(self) -> str | None:
        return self.subject if self.role == "customer" else None


TicketPresenter = Callable[[Ticket], dict[str, Any]]


@dataclass
class TicketReply:
    """An idempotent request being answered: its response is written in the change's own transaction."""

    request: IdempotentRequest
    present: TicketPresenter
    status: int
    body: dict[str, Any] | None = None

    def record(self, ticket: Ticket, answers: OrderService) -> StoredResponse:
        self.body = self.present(replace(ticket, version=ticket.version + 1))  # the version being written
        return answers.stored(self.request, self.status, self.body)


@dataclass
class TicketService:
    tickets: TicketRepository
    orders: CustomerOrderReader
    clock: Clock
    deadlines: Deadlines
    timers: TimerWriter | None = None
    queue_key: Callable[[Ticket], tuple[str, str]] | None = None
    answers: OrderService | None = None  # idempotency records: stored and replayed as for orders

    def answer(
        self,
        request: IdempotentRequest | None,
        present: TicketPresenter,
        status: int,
        run: Callable[[TicketReply | None], Ticket],
    ) -> tuple[int, dict[str, Any]]:
        """Run a ticket change as the answer to a request; with an Idempotency-Key the response is
        written in the change's transaction, so a retry adds no second message (nor its email) and
        gets the first answer back; the same key with another body is a 409."""
        from chalicelib.services.idempotency import answer_once

        if request is None or self.answers is None:
            return status, present(run(None))
        reply = TicketReply(request, present, status)

        def change() -> tuple[int, dict[str, Any]]:
            ticket = run(reply)
            return status, reply.body if reply.body is not None else present(ticket)

        return answer_once(self.answers.idempotency, request, change)

    def _stored(self, reply: TicketReply | None, ticket: Ticket) -> StoredResponse | None:
        return reply.record(ticket, self.answers) if reply is not None and self.answers is not None else None

    # --- reading ---------------------------------------------------------------------------

    def get(self, ticket_id: str, caller: Caller) -> Ticket:
        """The ticket (one Query); customers get their own only, without internal notes."""
        return self._visible(self._load(ticket_id, caller), caller)

    def _load(self, ticket_id: str, caller: Caller, order_id: str | None = None, read: Ticket | None = None) -> Ticket:
        """The ticket if the caller may act on it (and, with `order_id`, if it is that order's);
        `read`: the ticket as the caller read it for this request (then nothing is read here)."""
        if read is not None and read.id != ticket_id:
            read = None
        ticket = read or (self.tickets.get(ticket_id) if has_prefix(ticket_id, "tkt") else None)
        if ticket is None or (caller.customer_id is not None and ticket.customer_id != caller.customer_id):
            raise NotFoundError("ticket not found")
        if order_id is not None and ticket.order_id != order_id:
            raise NotFoundError("ticket not found")
        return ticket

    def queue(self, *, status: str | None, sla: str | None, limit: int, start: dict[str, Any] | None) -> Page:
        """Oldest deadline first. Without a status: every ticket still waiting for the team."""
        if status is not None and status not in TicketStatus.__members__.values():
            allowed = [str(s) for s in TicketStatus]
            raise ValidationError("unknown status", details=[{"field": "status", "allowed": allowed}])
        if sla is not None and sla not in ("at_risk", "breached"):
            raise ValidationError("unknown sla filter", details=[{"field": "sla", "allowed": ["at_risk", "breached"]}])
        bucket = QUEUE_BUCKETS.get(status or "open", status or "active")
        filter_status = status if status in QUEUE_BUCKETS else None
        return self.tickets.queue(bucket, status=filter_status, sla=sla, limit=limit, start=start)

    # --- opening ---------------------------------------------------------------------------

    def open(
        self,
        *,
        order_id: str,
        category: str,
        message: str,
        channel: str,
        caller: Caller,
        attachments: tuple[Any, ...] = (),
        email_message_id: str | None = None,
        once_key: str | None = None,
        sender_quota: tuple[str, datetime, int] | None = None,
        reply: TicketReply | None = None,
        order: Order | None = None,
    ) -> Ticket:
        """A new ticket; with `once_key` (a fact's marker, e.g. an inbound email's) only the first
        request that records it succeeds — the others raise DuplicateAutoTicketError; `sender_quota`
        counts it against its sender's hourly cap in the same transaction (SenderQuotaExceededError).
        `order`: the order as the caller has just read it (the portal, with the session), not read again."""
        if order is None or order.id != order_id:
            order = self.orders.get(order_id, customer_id=caller.customer_id)  # 404 for someone else's order
        elif caller.customer_id is not None and order.customer.id != caller.customer_id:
            raise NotFoundError("order not found")
        if category not in CATEGORIES:
            raise ValidationError("unknown category", details=[{"field": "category", "allowed": list(CATEGORIES)}])
        return self._open(
            order,
            category=category,
            channel=channel,
            actor=caller.actor,
            first=self._message_factory(caller.actor, message, channel, attachments, email_message_id),
            auto_key=once_key,
            sender_quota=sender_quota,
            reply=reply,
        )

    def open_for_shipment(self, order: Order, shipment_id: str, reason: str) -> Ticket | None:
        """The automatic ticket for a parcel that needs attention: one per shipment, whatever retries."""
        from chalicelib.adapters.dynamo.tickets import DuplicateAutoTicketError

        body = f"Automatic: shipment {shipment_id} needs attention ({reason}). Reach out before the customer does."
        try:
            return self._open(
                order,
                category="delay",
                channel="system",
                actor="system",
                first=self._message_factory("system", body, "system", (), None, internal=True),
                shipment_id=shipment_id,
                auto_key=f"AUTOTICKET#{shipment_id}",
            )
        except DuplicateAutoTicketError:
            return None

    def open_for_survey(self, order: Order, survey_id: str, summary: str) -> Ticket | None:
        """A detractor's answer: one follow-up ticket per survey, so an agent calls back."""
        from chalicelib.adapters.dynamo.tickets import DuplicateAutoTicketError

        try:
            return self._open(
                order,
                category="other",
                channel="survey",
                actor="system",
                first=self._message_factory("system", summary, "survey", (), None, internal=True),
                auto_key=f"SURVEYTICKET#{survey_id}",
            )
        except DuplicateAutoTicketError:
            return None

    def _message_factory(
        self,
        author: str,
        body: str,
        channel: str,
        attachments: tuple[Any, ...],
        email_message_id: str | None,
        *,
        internal: bool = False,
    ) -> Callable[[str, datetime], TicketMessage]:
        def build(ticket_id: str, now: datetime) -> TicketMessage:
            return TicketMessage(
                id=new_id("msg", now),
                ticket_id=ticket_id,
                at=now,
                author=author,
                body=body,
                internal=internal,
                channel=channel,
                attachments=tuple(attachments),
                email_message_id=email_message_id,
            )

        return build

    def _open(
        self,
        order: Order,
        *,
        category: str,
        channel: str,
        actor: str,
        first: Callable[[str, datetime], TicketMessage],
        shipment_id: str | None = None,
        auto_key: str | None = None,
        sender_quota: tuple[str, datetime, int] | None = None,
        reply: TicketReply | None = None,
    ) -> Ticket:
        now = self.clock.now()
        ticket_id = new_id("tkt", now)
        ticket = Ticket.open(
            ticket_id=ticket_id,
            number=ticket_number(ticket_id),
            order_id=order.id,
            customer_id=order.customer.id,
            category=category,
            channel=channel,
            now=now,
            deadlines=self.deadlines,
            actor=actor,
            first=first(ticket_id, now),
            shipment_id=shipment_id,
        )
        ticket.order_version = order.version  # its first entries follow the order as just read
        response = self._stored(reply, ticket)
        self.tickets.save(
            ticket, new=True, previous_queue_key=None, auto_key=auto_key, sender_quota=sender_quota, response=response
        )
        return ticket

    # --- changing --------------------------------------------------------------------------

    def _change(
        self,
        ticket_id: str,
        caller: Caller,
        change: Callable[[Ticket], None],
        *,
        once_key: str | None = None,
        reply: TicketReply | None = None,
        order_id: str | None = None,
        read: Ticket | None = None,
    ) -> Ticket:
        """Read (unless the caller did: `read`), apply, write conditionally on the version read;
        retry a lost race from a fresh read.

        `once_key` is written in the same transaction, so a fact recorded by another request
        fails this one (DuplicateAutoTicketError) instead of landing twice; so is the
        request's idempotency record (`reply`: IdempotencyKeyTakenError on a retry).
        `order_id`: only a ticket of that order (another's is a 404, like a missing one)."""
        from chalicelib.adapters.dynamo.tickets import queue_key

        for attempt in range(ATTEMPTS):
            ticket = self._load(ticket_id, caller, order_id, read if attempt == 0 else None)
            before = queue_key(ticket)
            change(ticket)
            response = self._stored(reply, ticket)
            try:
                self.tickets.save(ticket, new=False, previous_queue_key=before, auto_key=once_key, response=response)
                return ticket
            except StaleVersionError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def add_message(
        self,
        ticket_id: str,
        caller: Caller,
        body: str,
        *,
        internal: bool = False,
        await_customer: bool = False,
        channel: str = "web",
        attachments: tuple[Any, ...] = (),
        email_message_id: str | None = None,
        once_key: str | None = None,
        reopen_resolved: bool = False,
        reply: TicketReply | None = None,
        order_id: str | None = None,
        read: Ticket | None = None,
    ) -> Ticket:
        """Append a message; `reopen_resolved` reopens a resolved ticket in the same change (a customer's
        email answer), `once_key` makes the append happen once whatever retries race (see `_change`);
        `read`: the ticket as the caller read it (its messages may be left out: only the new one is written)."""
        if internal and not caller.is_staff:
            raise ValidationError("only agents write internal notes", details=[{"field": "internal"}])
        if await_customer and not caller.is_staff:
            raise ValidationError("only agents wait for the customer", details=[{"field": "await_customer"}])

        def change(ticket: Ticket) -> None:
            now = self.clock.now()
            message = TicketMessage(
                id=new_id("msg", now),
                ticket_id=ticket.id,
                at=now,
                author=caller.actor,
                body=body,
                internal=internal,
                channel=channel,
                attachments=tuple(attachments),
                email_message_id=email_message_id,
            )
            if reopen_resolved and not caller.is_staff and ticket.status == TicketStatus.RESOLVED:
                ticket.reopen(now, caller.actor, self.deadlines)
            if caller.is_staff:
                ticket.add_staff_message(message, await_customer=await_customer)
            else:
                ticket.add_customer_message(message)

        changed = self._change(ticket_id, caller, change, once_key=once_key, reply=reply, order_id=order_id, read=read)
        return self._visible(changed, caller)

    def acknowledge(self, ticket_id: str, caller: Caller, reply: TicketReply | None = None) -> Ticket:
        return self._change(ticket_id, caller, lambda t: t.acknowledge(self.clock.now(), caller.actor), reply=reply)

    def resolve(self, ticket_id: str, caller: Caller, resolution: str, reply: TicketReply | None = None) -> Ticket:
        return self._change(
            ticket_id, caller, lambda t: t.resolve(resolution, self.clock.now(), caller.actor), reply=reply
        )

    def reopen(self, ticket_id: str, caller: Caller, reply: TicketReply | None = None) -> Ticket:
        ticket = self._change(
            ticket_id, caller, lambda t: t.reopen(self.clock.now(), caller.actor, self.deadlines), reply=reply
        )
        return self._visible(ticket, caller)

    def _visible(self, ticket: Ticket, caller: Caller) -> Ticket:
        return ticket if caller.is_staff else visible_to_customer(ticket)

    # --- the stream and the sweep -----------------------------------------------------------

    def on_ticket_change(self, before: Ticket | None, after: Ticket) -> int:
        """Open and close the ticket's deadline timers as its facts change; how many changed."""
        if self.timers is None:
            return 0
        old = ticket_timers(before) if before is not None else set()
        new = ticket_timers(after)
        create = [Timer(due, after.order_id, kind) for due, kind in new - old]
        delete = [Timer(due, after.order_id, kind) for due, kind in old - new]
        if create or delete:
            self.timers.apply(create, delete)
        return len(create) + len(delete)

    def act_on_timer(self, timer: Timer, now: datetime) -> str:
        """A ticket deadline came due: warn at 80 %, flag a breach, or close a resolved ticket — once."""
        from chalicelib.adapters.dynamo.tickets import queue_key

        ticket_id, clock, state = parse_ticket_timer_kind(timer.kind)
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            self.tickets.delete_timer(timer)
            return "stale"
        before = queue_key(ticket)
        if clock == "close":
            if ticket.status != TicketStatus.RESOLVED or ticket.close_at is None or ticket.close_at > now:
                self.tickets.delete_timer(timer)
                return "stale"
            ticket.close(now)
        elif not ticket.flag(clock, state):
            self.tickets.delete_timer(timer)
            return "stale"
        else:
            ticket.events.append(_sla_event(ticket, clock, state, now))
        try:
            self.tickets.save(ticket, new=False, previous_queue_key=before, timer=timer)
        except StaleVersionError:
            return "retry_later"  # the ticket changed meanwhile; the timer is still there for the next sweep
        except ConflictError:
            return "done"  # another sweep had it
        return "acted"


def _sla_event(ticket: Ticket, clock: str, state: str, now: datetime) -> Any:
    from chalicelib.domain.orders import DomainEvent

    due = ticket.acknowledge_by if clock == "acknowledgement" else ticket.resolve_by
    return DomainEvent(
        f"ticket_sla_{state}",
        now,
        "sla_sweep",
        {"ticket_id": ticket.id, "number": ticket.number, "clock": clock, "due_at": due.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )


def visible_to_customer(ticket: Ticket) -> Ticket:
    """The ticket as its customer may see it: no internal notes."""
    return replace(ticket, messages=[m for m in ticket.messages if m.public])


def is_ticket_timer(timer: Timer) -> bool:
    return timer.kind.startswith("ticket:")


__all__ = ["ACTIVE", "Caller", "TicketReply", "TicketService", "is_ticket_timer", "visible_to_customer"]
