"""Request and response models of the support routes (tickets, inbound mail, the agent's view)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from chalicelib.api.schemas.common import Out, Strict, Timestamp
from chalicelib.api.schemas.returns import ReturnOut

Category = Literal["delay", "wrong_item", "damaged", "missing_item", "payment", "invoice", "return", "other"]
MessageText = Annotated[str, Field(min_length=1, max_length=20_000)]
OrderIdField = Annotated[str, Field(pattern=r"^ord_[0-9A-Za-z]{26}$", examples=["ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"])]


class TicketIn(Strict):
    order_id: OrderIdField
    category: Category
    message: MessageText
    channel: Literal["web", "email", "phone", "chat"] = Field(
        default="web", description="customers: web; agents also record email, phone and chat contacts"
    )


class TicketMessageIn(Strict):
    message: MessageText
    internal: bool = Field(default=False, description="agents only: a note never shown or sent to the customer")
    await_customer: bool = Field(default=False, description="agents only: the ticket waits for the customer's answer")


class ResolveIn(Strict):
    resolution: Annotated[str, Field(min_length=1, max_length=2000)]


class TicketSlaOut(Out):
    acknowledgement: str = Field(examples=["on_track", "at_risk", "breached", "met"])
    resolution: str


class AttachmentOut(Out):
    filename: str
    content_type: str = Field(description="sniffed from the content, not taken from the mail")
    size: int
    url: str = Field(description="presigned, valid for at most 300 s")


class TicketMessageOut(Out):
    id: str
    at: Timestamp
    author: str = Field(description="customer, agent (agent:<id> for staff readers) or system")
    internal: bool
    channel: str
    body: str
    attachments: list[AttachmentOut]


class TicketOut(Out):
    id: str
    number: str
    order_id: str
    category: str
    channel: str
    status: str
    created_at: Timestamp
    acknowledge_by: Timestamp
    resolve_by: Timestamp
    acknowledged_at: Timestamp | None
    resolved_at: Timestamp | None
    closed_at: Timestamp | None
    resolution: str | None
    reopened: int
    sla: TicketSlaOut
    messages: list[TicketMessageOut]
    version: int


class TicketSummaryOut(Out):
    id: str
    number: str
    order_id: str
    customer_id: str
    category: str
    channel: str
    status: str
    created_at: Timestamp
    acknowledge_by: Timestamp
    resolve_by: Timestamp
    next_deadline: Timestamp
    sla: TicketSlaOut
    sla_state: str


class TicketQueueOut(Out):
    items: list[TicketSummaryOut]
    next_cursor: str | None


class HeldEmailOut(Out):
    id: str
    received_at: Timestamp
    reason: str = Field(examples=["unknown_token", "sender_mismatch", "rate_limited", "no_ticket_to_reopen"])
    from_: str = Field(alias="from")
    subject: str
    excerpt: str
    order_id: str | None
    raw_key: str


class HeldEmailListOut(Out):
    items: list[HeldEmailOut]
    next_cursor: str | None


class InboundEmailOut(Out):
    outcome: Literal["ticket_created", "message_added", "held", "ignored"]
    ticket_id: str | None = None
    reason: str | None = None


class AgentOrderOut(Out):
    order: dict[str, Any]
    payments: list[dict[str, Any]]
    refunds: list[dict[str, Any]]
    shipments: list[dict[str, Any]]
    documents: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    tickets: list[TicketOut]
    returns: list[ReturnOut] = Field(description="every return of the order, oldest first, with its RMA number")
    survey_answers: list[dict[str, Any]]
    holds: list[dict[str, Any]]
    cost: dict[str, Any] = Field(description="what reading the story cost: DynamoDB round trips and items")
