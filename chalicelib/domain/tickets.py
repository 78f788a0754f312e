"""The support ticket aggregate: statuses and their transition table, deadlines, messages.

A ticket belongs to one order. Its clocks are calendar hours (the brief's "acknowledged
within 24 h, resolved within 48 h"): acknowledgement is the first *human* agent action
(an explicit acknowledge, a public reply or a resolution) — automatic receipts never
count. A resolved ticket closes by itself after `REOPEN_DAYS`; until then the customer
may reopen it, which restarts the resolution clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.orders import DomainEvent


class TicketStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


T = TicketStatus
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    T.OPEN: frozenset({T.ACKNOWLEDGED, T.WAITING_ON_CUSTOMER, T.RESOLVED}),
    T.ACKNOWLEDGED: frozenset({T.WAITING_ON_CUSTOMER, T.RESOLVED}),
    T.WAITING_ON_CUSTOMER: frozenset({T.ACKNOWLEDGED, T.RESOLVED}),
    T.RESOLVED: frozenset({T.ACKNOWLEDGED, T.CLOSED}),  # reopened by the customer, or closed by the sweep
    T.CLOSED: frozenset(),
}
ACTIVE = frozenset({T.OPEN, T.ACKNOWLEDGED, T.WAITING_ON_CUSTOMER})
CATEGORIES = ("delay", "wrong_item", "damaged", "missing_item", "payment", "invoice", "return", "other")
CUSTOMER_CHANNELS = ("web", "email", "phone", "chat")
CHANNELS = (*CUSTOMER_CHANNELS, "system", "survey")
REOPEN_DAYS = 7
WARN_SHARE = 0.8  # operations are warned once 80 % of a deadline has gone
MAX_MESSAGE_CHARS = 20_000


class TicketTransitionError(ConflictError):
    code = "illegal_transition"


@dataclass(frozen=True)
class Deadlines:
    """How long acknowledgement and resolution may take (calendar hours, configurable)."""

    acknowledge_hours: int = 24
    resolve_hours: int = 48


@dataclass(frozen=True)
class TicketAttachment:
    filename: str
    content_type: str
    size: int
    key: str  # the object's key in the inbound bucket; presented as a presigned link


@dataclass(frozen=True)
class TicketMessage:
    id: str
    ticket_id: str
    at: datetime
    author: str  # "customer", "agent:<id>", "system"
    body: str
    internal: bool = False
    channel: str = "web"
    attachments: tuple[TicketAttachment, ...] = ()
    email_message_id: str | None = None  # the Message-ID of the email it came in as

    @property
    def from_staff(self) -> bool:
        return self.author.startswith(("agent:", "admin:"))

    @property
    def public(self) -> bool:
        return not self.internal


@dataclass
class Ticket:
    id: str
    number: str
    order_id: str
    customer_id: str
    category: str
    channel: str
    created_at: datetime
    acknowledge_by: datetime
    resolve_by: datetime
    status: TicketStatus = TicketStatus.OPEN
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str | None = None
    reopened: int = 0
    sla_acknowledgement: str = "on_track"  # on_track | at_risk | breached | met
    sla_resolution: str = "on_track"
    shipment_id: str | None = None  # automatic tickets: the parcel that needs attention
    resolution_started_at: datetime | None = None  # the resolution clock's start (creation, or the last reopen)
    version: int = 0
    # The order version its last timeline entries followed: where the next change expects the order
    # (its store checks that in the change's transaction rather than reading the order first).
    order_version: int = field(default=0, repr=False, compare=False)
    messages: list[TicketMessage] = field(default_factory=list)
    new_messages: list[TicketMessage] = field(default_factory=list, repr=False, compare=False)
    events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    # --- creation ---------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        *,
        ticket_id: str,
        number: str,
        order_id: str,
        customer_id: str,
        category: str,
        channel: str,
        now: datetime,
        deadlines: Deadlines,
        actor: str,
        first: TicketMessage | None,
        shipment_id: str | None = None,
    ) -> Ticket:
        if category not in CATEGORIES:
            raise ValidationError("unknown category", details=[{"field": "category", "allowed": list(CATEGORIES)}])
        if channel not in CHANNELS:
            raise ValidationError("unknown channel", details=[{"field": "channel", "allowed": list(CHANNELS)}])
        ticket = cls(
            id=ticket_id,
            number=number,
            order_id=order_id,
            customer_id=customer_id,
            category=category,
            channel=channel,
            created_at=now,
            acknowledge_by=now + timedelta(hours=deadlines.acknowledge_hours),
            resolve_by=now + timedelta(hours=deadlines.resolve_hours),
            shipment_id=shipment_id,
            resolution_started_at=now,
        )
        ticket._event("ticket_opened", now, actor, category=category, channel=channel)
        if first is not None:
            ticket._append(first)
        return ticket

    # --- what people do ------------------------------------------------------------------

    def add_customer_message(self, message: TicketMessage) -> None:
        """The customer writes: an answer to a question puts the ticket back on the agents' side."""
        if self.status == T.CLOSED:
            raise TicketTransitionError("the ticket is closed; open a new one", details=self._details(T.CLOSED))
        if self.status == T.RESOLVED:
            raise TicketTransitionError(
                "the ticket is resolved; reopen it first", details=self._details(T.ACKNOWLEDGED)
            )
        self._append(message)
        if self.status == T.WAITING_ON_CUSTOMER:
            self._move(T.ACKNOWLEDGED, message.at, "customer")

    def add_staff_message(self, message: TicketMessage, *, await_customer: bool = False) -> None:
        """An agent writes. A public reply acknowledges; an internal note changes nothing but the thread."""
        if self.status == T.CLOSED:
            raise TicketTransitionError("the ticket is closed", details=self._details(T.CLOSED))
        if message.internal:
            self._append(message)
            return
        if self.status == T.RESOLVED:
            raise TicketTransitionError("the ticket is resolved", details=self._details(T.ACKNOWLEDGED))
        self._append(message)
        self._acknowledge_at(message.at, message.author)
        if await_customer and self.status != T.WAITING_ON_CUSTOMER:
            self._move(T.WAITING_ON_CUSTOMER, message.at, message.author)

    def acknowledge(self, at: datetime, actor: str) -> None:
        if self.status != T.OPEN:
            raise TicketTransitionError(
                f"cannot acknowledge a ticket that is '{self.status}'", details=self._details(T.ACKNOWLEDGED)
            )
        self._acknowledge_at(at, actor)

    def resolve(self, resolution: str, at: datetime, actor: str) -> None:
        self._ensure(T.RESOLVED)
        self._acknowledge_at(at, actor, move=False)  # resolving is a human answer too
        self.resolution = resolution
        self.resolved_at = at
        self.sla_resolution = "met" if at <= self.resolve_by else "breached"
        self._move(T.RESOLVED, at, actor, resolution=resolution)

    def reopen(self, at: datetime, actor: str, deadlines: Deadlines) -> None:
        """The customer is not satisfied: within `REOPEN_DAYS` of the resolution, the resolution clock restarts."""
        self._ensure(T.ACKNOWLEDGED)
        if self.status != T.RESOLVED or self.resolved_at is None:
            raise TicketTransitionError("only a resolved ticket can be reopened", details=self._details(T.ACKNOWLEDGED))
        if at > self.resolved_at + timedelta(days=REOPEN_DAYS):
            raise TicketTransitionError(
                f"a ticket can be reopened within {REOPEN_DAYS} days of its resolution",
                details=self._details(T.ACKNOWLEDGED),
                code="reopen_window_closed",
            )
        self.reopened += 1
        self.resolution_started_at = at
        self.resolve_by = at + timedelta(hours=deadlines.resolve_hours)
        self.sla_resolution = "on_track"
        self.resolved_at, self.resolution = None, None
        self._move(T.ACKNOWLEDGED, at, actor, reopened=self.reopened, resolve_by=_iso(self.resolve_by))

    def close(self, at: datetime, actor: str = "sla_sweep") -> None:
        self._ensure(T.CLOSED)
        self.closed_at = at
        self._move(T.CLOSED, at, actor)

    # --- SLA ------------------------------------------------------------------------------

    def flag(self, clock: str, state: str) -> bool:
        """Record that a deadline is at risk or broken; False when that is no longer news."""
        field_name = "sla_acknowledgement" if clock == "acknowledgement" else "sla_resolution"
        current = getattr(self, field_name)
        still_running = self.acknowledged_at is None if clock == "acknowledgement" else self.status in ACTIVE
        if not still_running or current in ("breached", "met") or current == state:
            return False
        setattr(self, field_name, state)
        return True

    @property
    def close_at(self) -> datetime | None:
        return self.resolved_at + timedelta(days=REOPEN_DAYS) if self.resolved_at else None

    @property
    def next_deadline(self) -> datetime:
        """What the queue sorts by: the deadline the team must meet next."""
        if self.acknowledged_at is None and self.status in ACTIVE:
            return self.acknowledge_by
        if self.status in ACTIVE:
            return self.resolve_by
        return self.close_at or self.resolve_by

    @property
    def sla_state(self) -> str:
        """The worse of the two clocks, for the queue's `sla=` filter."""
        states = {self.sla_acknowledgement, self.sla_resolution}
        if self.status in ACTIVE and "breached" in states:
            return "breached"
        if self.status in ACTIVE and "at_risk" in states:
            return "at_risk"
        return "on_track"

    # --- internals ------------------------------------------------------------------------

    def _acknowledge_at(self, at: datetime, actor: str, *, move: bool = True) -> None:
        if self.acknowledged_at is None:
            self.acknowledged_at = at
            self.sla_acknowledgement = "met" if at <= self.acknowledge_by else "breached"
            self._event("ticket_acknowledged", at, actor, within_deadline=at <= self.acknowledge_by)
        if move and self.status == T.OPEN:
            self._move(T.ACKNOWLEDGED, at, actor, event=False)

    def _ensure(self, target: TicketStatus) -> None:
        if target not in TRANSITIONS[self.status]:
            raise TicketTransitionError(
                f"cannot move ticket from '{self.status}' to '{target}'", details=self._details(target)
            )

    def _move(self, target: TicketStatus, at: datetime, actor: str, *, event: bool = True, **data: Any) -> None:
        self._ensure(target)
        previous, self.status = self.status, target
        if event:
            self._event("ticket_status_changed", at, actor, **{"from": str(previous), "to": str(target), **data})

    def _details(self, target: TicketStatus) -> list[dict[str, str]]:
        return [{"current_status": str(self.status), "requested_status": str(target)}]

    def _append(self, message: TicketMessage) -> None:
        if not message.body.strip() and not message.attachments:
            raise ValidationError("the message is empty", details=[{"field": "message"}])
        if len(message.body) > MAX_MESSAGE_CHARS:
            raise ValidationError(
                f"messages are at most {MAX_MESSAGE_CHARS} characters", details=[{"field": "message"}]
            )
        self.messages.append(message)
        self.new_messages.append(message)

    def _event(self, kind: str, at: datetime, actor: str, **data: Any) -> None:
        self.events.append(DomainEvent(kind, at, actor, {"ticket_id": self.id, "number": self.number, **data}))


def ticket_number(ticket_id: str) -> str:
    """The number customers see and quote: "T-" and the id's last 8 characters ("T-8K2M-Q4ZD")."""
    tail = ticket_id.rsplit("_", 1)[-1][-8:].upper()
    return f"T-{tail[:4]}-{tail[4:]}"


# --- deadlines as due-work timers (the same DUE# buckets the order promises use) -------------

TIMER_PREFIX = "ticket:"


def ticket_timer_kind(ticket_id: str, clock: str, state: str) -> str:
    return f"{TIMER_PREFIX}{ticket_id}:{clock}:{state}"


def parse_ticket_timer_kind(kind: str) -> tuple[str, str, str]:
    """(ticket id, clock, state) of a ticket timer's kind."""
    _, ticket_id, clock, state = kind.split(":")
    return ticket_id, clock, state


def _warn_point(start: datetime, deadline: datetime) -> datetime:
    return (start + timedelta(seconds=(deadline - start).total_seconds() * WARN_SHARE)).replace(microsecond=0)


def ticket_timers(ticket: Ticket) -> set[tuple[datetime, str]]:
    """(due at, kind) of every deadline still to watch, given the ticket's current facts."""
    timers: set[tuple[datetime, str]] = set()
    if ticket.status in ACTIVE and ticket.acknowledged_at is None:
        if ticket.sla_acknowledgement == "on_track":
            warn = _warn_point(ticket.created_at, ticket.acknowledge_by)
            timers.add((warn, ticket_timer_kind(ticket.id, "acknowledgement", "at_risk")))
        if ticket.sla_acknowledgement in ("on_track", "at_risk"):
            timers.add(
                (
                    ticket.acknowledge_by.replace(microsecond=0),
                    ticket_timer_kind(ticket.id, "acknowledgement", "breached"),
                )
            )
    if ticket.status in ACTIVE and ticket.sla_resolution in ("on_track", "at_risk"):
        if ticket.sla_resolution == "on_track":
            warn = _warn_point(ticket.resolution_started_at or ticket.created_at, ticket.resolve_by)
            timers.add((warn, ticket_timer_kind(ticket.id, "resolution", "at_risk")))
        timers.add((ticket.resolve_by.replace(microsecond=0), ticket_timer_kind(ticket.id, "resolution", "breached")))
    if ticket.status == T.RESOLVED and ticket.close_at is not None:
        timers.add((ticket.close_at.replace(microsecond=0), ticket_timer_kind(ticket.id, "close", "due")))
    return timers


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None
