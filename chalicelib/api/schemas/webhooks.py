"""Webhooks: the carrier's and the payment provider's inbound events, and outbound subscriptions."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chalicelib.api.schemas.common import (
    EventId,
    Moment,
    Money,
    Out,
    Strict,
    Timestamp,
)
from chalicelib.domain.outbound import OutboundEventType

CarrierStatus = Literal[
    "label_created",
    "in_transit",
    "out_for_delivery",
    "attempt_failed",
    "available_for_pickup",
    "delivered",
    "exception",
    "delayed",
    "returned_to_sender",
    "lost",
]


CARRIER_STATUS_HELP = (
    "The carrier's status, kept as reported on the shipment's events. attempt_failed and "
    "available_for_pickup tell the customer (email, and SMS where opted in) what to do next, once per "
    "shipment and status; returned_to_sender, lost and exception flag the shipment `needs_attention` and "
    "escalate to operations once; delivered, out_for_delivery, in_transit and available_for_pickup move "
    "the parcel on (never back); label_created and delayed are recorded only. Every scan re-arms the "
    "parcel's stall timer: with no scan for OC_STALL_BUSINESS_DAYS business days (default 3) the sweep "
    "flags it `needs_attention` (reason stalled), and the next scan clears that."
)


class CarrierWebhookIn(Strict):
    event_id: EventId
    tracking_number: Annotated[str, Field(min_length=1, max_length=64)]
    status: Annotated[CarrierStatus, Field(description=CARRIER_STATUS_HELP)]
    occurred_at: Annotated[
        Moment,
        Field(
            description="When the carrier saw the parcel. More than 300 s ahead of OrderCare's clock → 422 "
            "`occurred_at_in_future`. A time before the shipment was recorded is kept as reported on the "
            "timeline (`data.occurred_at`), but the order's milestones (`delivered_at`, status changes) use the "
            "shipment time instead, so `delivered_at` never precedes `shipped_at`."
        ),
    ]
    estimated_delivery: Moment | None = None
    detail: Annotated[str, Field(max_length=500, description="the carrier's own words, kept as reported")] | None = None
    location: Annotated[str, Field(max_length=200, description="where the parcel is, e.g. the pickup point")] | None = (
        None
    )


class PaymentWebhookIn(Strict):
    event_id: EventId
    order_id: Annotated[str, Field(min_length=1, max_length=64)]
    amount: Money
    provider_ref: Annotated[str, Field(min_length=1, max_length=128)]
    status: Literal["succeeded", "refunded"]


class WebhookAck(Out):
    received: bool
    outcome: str = Field(examples=["applied", "duplicate", "already_recorded"])


class WebhookSubscriptionIn(Strict):
    url: Annotated[
        str,
        Field(
            min_length=8,
            max_length=2048,
            description="https:// to a public host (the local stack also accepts http://127.0.0.1:<port>/…)",
            examples=["https://shop.example.com/hooks/ordercare"],
        ),
    ]
    events: Annotated[
        list[OutboundEventType],
        Field(
            min_length=1,
            max_length=12,
            description=(
                "Event types to receive. `data` per type (never names, addresses, message bodies, internal notes "
                "or staff ids): order.* and shipment.attention — order_id, number, status, customer_id, total, "
                "currency (+ shipment_id, carrier, tracking_number, shipment_status; order.delayed: "
                "estimated_delivery; order.on_hold: holds, and with OC_WEBHOOK_PAYMENT_FAILED_ON_HOLD=true also "
                "each failed provider payment, reason=payment_failed, payment={provider_ref, reason}); "
                "return.updated — return_id, number, order_id, status, resolution, refund_amount, "
                "refunded_amount, currency, replacement_order_id, holds; refund.requested (once per received "
                "return owing money) — return_id, number, order_id, amount, currency, shipping, lines; "
                "ticket.updated (opened, or a customer-visible field changed) — ticket_id, number, order_id, "
                "category, channel, status, created_at, acknowledge_by, resolve_by, acknowledged_at, "
                "resolved_at, closed_at, reopened, sla. The event id is stable across redeliveries."
            ),
        ),
    ]


class WebhookSubscriptionOut(Out):
    id: str
    url: str
    events: list[str]
    status: Literal["active", "deleted"]
    created_at: Timestamp
    secret: str | None = Field(
        default=None, description="only in the 201 answer: signs every delivery (X-OrderCare-Signature)"
    )


class WebhookAttemptOut(Out):
    at: Timestamp
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliveryOut(Out):
    event_id: str
    type: str
    status: Literal["pending", "delivered", "dead", "cancelled"] = Field(
        description="pending: retried with backoff; dead: 24 h of failures, dead-lettered (no more tries)"
    )
    attempts: int
    created_at: Timestamp
    next_attempt_at: Timestamp | None
    last_status_code: int | None
    last_error: str | None
    log: list[WebhookAttemptOut] = Field(description="the last attempts, newest first")


class WebhookDeliveryListOut(Out):
    subscription_id: str
    items: list[WebhookDeliveryOut]
    next_cursor: str | None
