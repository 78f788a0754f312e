"""Request and response models: what the API validates with and what /openapi.json shows.

Requests forbid unknown fields (server-owned ones such as `status` or `total`
included) and take money as strict integers in minor units.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from chalicelib.domain.catalog import SKU_RE

Money = Annotated[int, Field(strict=True, ge=0, le=10**11, description="integer minor units")]
Sku = Annotated[str, Field(pattern=SKU_RE.pattern, examples=["MUG-1"])]
CustomerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$", examples=["cus_alice"])]
# ISO 4217 codes that are not money one can be paid in: testing, no currency, metals, funds.
NOT_MONEY = frozenset({"XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA"})


def _currency(code: str) -> str:
    from babel.numbers import is_currency  # lazy: Babel's data is loaded on first use

    if code in NOT_MONEY or not is_currency(code):
        raise ValueError(f"{code} is not an ISO 4217 currency")
    return code


Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217", examples=["EUR"]),
    AfterValidator(_currency),
]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2", examples=["DE"])]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Timestamp = Annotated[str, Field(description="ISO-8601 UTC with Z", examples=["2026-12-01T22:59:59Z"])]


def _e164(value: str) -> str:
    import phonenumbers  # lazy: metadata tables are large

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("phone must be an E.164 number such as +4915112345678") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("phone is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(value: str) -> str:
    # Imported on first use: email_validator (and pydantic's EmailStr, which imports
    # it eagerly) would add ~70 ms to every cold start.
    from email_validator import EmailNotValidError, validate_email

    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc


Email = Annotated[str, Field(max_length=254, examples=["alice@example.com"]), AfterValidator(_email)]


def _vat_id(value: str) -> str:
    """An EU (or UK) VAT identification number, format and check digit (python-stdnum), compacted."""
    from stdnum import exceptions  # lazy: only placements with a VAT id pay for it
    from stdnum.eu import vat as eu_vat
    from stdnum.gb import vat as gb_vat

    module = gb_vat if value.strip().upper().startswith("GB") else eu_vat
    try:
        return str(module.compact(module.validate(value)))
    except exceptions.ValidationError as exc:
        raise ValueError(f"not a valid VAT identification number ({exc})") from exc


VatId = Annotated[
    str,
    Field(min_length=4, max_length=32, examples=["DE136695976"], description="EU or UK VAT id with its country prefix"),
    AfterValidator(_vat_id),
]
Phone = Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$", examples=["+4915112345678"]), AfterValidator(_e164)]


class Out(BaseModel):
    """Response shapes: used for the OpenAPI document and tests, never on the hot path."""

    model_config = ConfigDict(defer_build=True)


# --- requests ----------------------------------------------------------------------


class Strict(BaseModel):
    # defer_build: validators are compiled on first use, not at import (cold start).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class CatalogItemIn(Strict):
    name: Text
    unit_price: Money
    currency: Currency
    stock: Annotated[int, Field(strict=True, ge=0, le=10**9)]
    tax_rate_bps: Annotated[int, Field(strict=True, ge=0, le=10_000, description="1900 = 19 %")]
    returnable: Annotated[bool, Field(strict=True, description="false: customers cannot return it")] = True


class DeliveryEstimateIn(Strict):
    shipping_method: Annotated[str, Field(min_length=1, max_length=32, examples=["standard"])]
    country: Country
    at: AwareDatetime | None = Field(default=None, description="when the order would be paid; default now")


class CustomerIn(Strict):
    id: CustomerId
    email: Email
    name: Text
    phone: Phone | None = None
    locale: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$", examples=["de-DE"])] = "en"
    company: Annotated[str, Field(min_length=1, max_length=200, description="a business buyer's name")] | None = None
    vat_id: VatId | None = None


class LineIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, ge=1, le=10_000)]
    unit_price: Money


class AddressIn(Strict):
    name: Text
    line1: Text
    line2: Annotated[str, Field(max_length=200)] | None = None
    city: Text
    region: Annotated[str, Field(max_length=100)] | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=16)]
    country: Country


class DiscountIn(Strict):
    code: Annotated[str, Field(min_length=1, max_length=64)]
    amount: Annotated[int, Field(strict=True, gt=0, le=10**11)]


class PlaceOrderIn(Strict):
    customer: CustomerIn
    currency: Currency
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=100)]
    shipping_address: AddressIn
    shipping_method: Annotated[str, Field(min_length=1, max_length=32)]
    shipping_fee: Money = 0
    discounts: Annotated[list[DiscountIn], Field(max_length=20)] = []
    billing_address: AddressIn | None = Field(default=None, description="default: the shipping address")
    buyer_reference: (
        Annotated[
            str,
            Field(min_length=1, max_length=100, description="BT-10, e.g. a Leitweg-ID", examples=["04011000-12345-34"]),
        ]
        | None
    ) = None

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[LineIn]) -> list[LineIn]:
        seen: set[str] = set()
        for line in lines:
            if line.sku in seen:
                raise ValueError(f"sku '{line.sku}' appears twice: put the quantity on one line")
            seen.add(line.sku)
        return lines


class PaymentIn(Strict):
    amount: Money
    method: Annotated[str, Field(min_length=1, max_length=32, examples=["card"])]
    provider_ref: Annotated[str, Field(min_length=1, max_length=128, examples=["pi_3Nx…"])]


class CancelIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500)] = "cancelled on request"


class ReleaseHoldIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500, description="why the hold may be released")]


class ShipmentLineIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, ge=1, le=10_000)]


class ShipmentIn(Strict):
    carrier: Annotated[str, Field(min_length=1, max_length=40, examples=["dhl"])]
    tracking_number: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{3,63}$", examples=["00340434161234567890"])
    ]
    lines: Annotated[list[ShipmentLineIn], Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="default: every unshipped unit"
    )

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[ShipmentLineIn] | None) -> list[ShipmentLineIn] | None:
        skus = [line.sku for line in lines or []]
        if len(skus) != len(set(skus)):
            raise ValueError("each sku once per shipment")
        return lines


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
EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


def _plausible(moment: datetime) -> datetime:
    if not datetime(2000, 1, 1, tzinfo=UTC) <= moment <= datetime(2100, 1, 1, tzinfo=UTC):
        raise ValueError("must lie between 2000 and 2100")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]


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


ReturnReason = Literal["damaged", "wrong_item", "not_as_described", "too_late", "changed_mind", "other"]


class ReturnLineIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, ge=1, le=10_000)]


def _skus_once(lines: list[Any] | None) -> list[Any] | None:
    skus = [line.sku for line in lines or []]
    if len(skus) != len(set(skus)):
        raise ValueError("each sku once: put the quantity on one line")
    return lines


class ReturnIn(Strict):
    lines: Annotated[list[ReturnLineIn], Field(min_length=1, max_length=100)]
    reason: ReturnReason
    resolution: Literal["refund", "exchange"]
    comment: Annotated[str, Field(max_length=2000)] | None = None

    _once = field_validator("lines")(_skus_once)


class RejectReturnIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500, description="shown to the customer")]


class CancelReturnIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class ReceivedLineIn(Strict):
    sku: Sku
    quantity: Annotated[int, Field(strict=True, ge=0, le=10_000)]
    condition: Literal["restockable", "damaged"]


class ReceiveReturnIn(Strict):
    lines: Annotated[list[ReceivedLineIn], Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="default: every unit of the return arrived restockable"
    )

    _once = field_validator("lines")(_skus_once)


class PreferencesIn(Strict):
    email: Annotated[bool, Field(strict=True)]
    sms: Annotated[bool, Field(strict=True)]
    locale: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$", examples=["de-DE"])]


class SmsInboundIn(BaseModel):
    """An inbound SMS as AWS End User Messaging delivers it (extra fields are ignored)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)
    originationNumber: Phone
    messageBody: Annotated[str, Field(max_length=1600)]
    inboundMessageId: str | None = None


# --- responses ---------------------------------------------------------------------


class Health(Out):
    status: Literal["ok"]


class ErrorBody(Out):
    code: str = Field(examples=["validation_error"])
    message: str
    details: list[Any] = []


class ErrorOut(Out):
    error: ErrorBody


class CatalogItemOut(Out):
    sku: str
    name: str
    unit_price: int
    currency: str
    stock: int
    tax_rate_bps: int
    updated_at: Timestamp
    returnable: bool = True


class DeliveryEstimateOut(Out):
    shipping_method: str
    country: str
    start_day: str = Field(description="local business day on which work starts (YYYY-MM-DD)")
    ship_by: Timestamp
    deliver_by: Timestamp


class LineOut(Out):
    sku: str
    name: str
    quantity: int
    unit_price: int
    tax_rate_bps: int
    line_total: int


class HoldOut(Out):
    code: str = Field(examples=["unknown_sku", "price_mismatch", "insufficient_stock", "invalid_address"])
    detail: str
    sku: str | None = None


class TaxOut(Out):
    rate_bps: int
    net: int
    tax: int


class CustomerOut(Out):
    id: str
    email: str
    name: str
    phone: str | None
    locale: str
    company: str | None
    vat_id: str | None


class AddressOut(Out):
    name: str
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str


class DiscountOut(Out):
    code: str
    amount: int


class SlaOut(Out):
    ship_by: Timestamp
    deliver_by: Timestamp
    shipping: Literal["on_track", "at_risk", "breached", "met"]
    delivery: Literal["on_track", "at_risk", "breached", "met"]


class OrderOut(Out):
    id: str = Field(examples=["ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"])
    number: str = Field(
        description="the short human order number, unique per shop: the only order reference customers see",
        examples=["K7QM-R3TE"],
    )
    status: str
    customer_id: str
    customer: CustomerOut
    currency: str
    lines: list[LineOut]
    subtotal: int
    discounts: list[DiscountOut]
    discount_total: int
    shipping_fee: int
    tax_total: int
    taxes: list[TaxOut]
    total: int
    shipping_address: AddressOut
    billing_address: AddressOut | None = Field(description="null: billed to the shipping address")
    buyer_reference: str | None
    shipping_method: str
    placed_at: Timestamp
    ship_by: Timestamp
    deliver_by: Timestamp
    holds: list[HoldOut]
    shipments: list[ShipmentOut]
    payments: list[PaymentOut]
    refunds: list[RefundOut]
    paid_at: Timestamp | None
    processing_at: Timestamp | None = Field(default=None, description="when processing started")
    first_shipped_at: Timestamp | None
    shipped_at: Timestamp | None
    delivered_at: Timestamp | None
    cancelled_at: Timestamp | None
    ship_by_met: bool | None = Field(description="fully shipped by ship_by (None until shipped)")
    deliver_by_met: bool | None = Field(description="delivered by deliver_by (None until delivered)")
    revised_deliver_by: Timestamp | None = Field(description="the latest later estimate (carrier or SLA sweep)")
    sla: SlaOut
    replaces_order_id: str | None = Field(default=None, description="an exchange's replacement: the original order")
    version: int
    tracking_url: str


class TimelineEntryOut(Out):
    kind: str = Field(examples=["status_changed", "hold_added", "shipment_created", "carrier_event"])
    at: Timestamp
    actor: str
    data: dict[str, Any]


class TimelineOut(Out):
    order_id: str
    items: list[TimelineEntryOut]
    next_cursor: str | None


class PreferencesOut(Out):
    customer_id: str
    email: bool
    sms: bool
    locale: str | None


class SmsInboundOut(Out):
    received: bool
    action: str | None = Field(examples=["opt_out", "opt_in", None])


class DocumentOut(Out):
    id: str = Field(examples=["doc_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"])
    kind: Literal["invoice", "receipt", "credit_note"]
    number: str = Field(examples=["INV-2026-000123"])
    issued_at: Timestamp
    total: int = Field(description="minor units; negative for a credit note")
    currency: str
    download_url: str | None = Field(description="presigned, expires in at most 300 s; null until the PDF is stored")
    e_invoice: Literal["factur-x/en16931"] | None = Field(
        description="invoices and credit notes: the PDF is a Factur-X (EN 16931) e-invoice; receipts: null"
    )
    xml_url: str | None = Field(
        description="the bare EN 16931 CII XML, presigned, expires in at most 300 s; null for receipts and until stored"
    )


class DocumentListOut(Out):
    order_id: str
    items: list[DocumentOut]


class WebhookAck(Out):
    received: bool
    outcome: str = Field(examples=["applied", "duplicate", "already_recorded"])


class ShipmentEventOut(Out):
    status: str
    occurred_at: Timestamp
    estimated_delivery: Timestamp | None
    detail: str | None = None
    location: str | None = None
    tag: str | None = Field(default=None, description="the provider's raw tag (AfterShip), as sent; null natively")
    subtag: str | None = Field(default=None, description="the provider's raw subtag (AfterShip), as sent")


class ShipmentOut(Out):
    id: str
    carrier: str
    tracking_number: str
    tracking_link: str | None
    lines: list[dict[str, Any]]
    shipped_at: Timestamp
    status: str
    exception: bool
    needs_attention: bool = Field(default=False, description="returned to sender, lost, an exception or stalled")
    attention_reason: str | None = Field(
        default=None,
        description="returned_to_sender, lost, exception, or stalled: no carrier scan for OC_STALL_BUSINESS_DAYS "
        "business days (default 3, the shop's calendar); a later scan clears a stall",
    )
    estimated_delivery: Timestamp | None
    delivered_at: Timestamp | None
    events: list[ShipmentEventOut]


class PaymentOut(Out):
    amount: int
    method: str
    provider_ref: str
    paid_at: Timestamp


class RefundOut(Out):
    amount: int
    provider_ref: str
    refunded_at: Timestamp


class ReturnLineOut(Out):
    sku: str
    name: str
    quantity: int
    unit_price: int
    tax_rate_bps: int
    restockable: int = Field(description="units received restockable (back in stock)")
    damaged: int = Field(description="units received damaged")
    refund_amount: int = Field(description="the line's refund incl. tax (after receipt)")


class ReturnTransitionOut(Out):
    status: str
    at: Timestamp
    actor: str
    reason: str | None


class ReturnHoldOut(Out):
    code: str
    detail: str
    data: dict[str, Any]


class ReturnOut(Out):
    id: str = Field(examples=["ret_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"])
    number: str = Field(description="the RMA number to write on the parcel", examples=["RMA-4K9N0-P1R2S"])
    order_id: str
    customer_id: str
    status: Literal["requested", "approved", "rejected", "received", "refunded", "exchanged", "cancelled", "expired"]
    reason: str
    resolution: Literal["refund", "exchange"]
    comment: str | None
    lines: list[ReturnLineOut]
    currency: str
    created_at: Timestamp
    receive_by: Timestamp | None = Field(description="approved: expires unless received by then")
    received_at: Timestamp | None
    rejection_reason: str | None
    refund_amount: int | None = Field(description="what is refunded (incl. tax; shipping when applicable)")
    shipping_refund: int
    refunded_amount: int | None
    credit_note_id: str | None
    credit_note_number: str | None
    replacement_order_id: str | None
    holds: list[ReturnHoldOut]
    history: list[ReturnTransitionOut]
    version: int


class ReturnListOut(Out):
    items: list[ReturnOut]
    next_cursor: str | None


class OrderListOut(Out):
    items: list[OrderOut]
    next_cursor: str | None


class FaultIn(Strict):
    """An outage drill (local stack only): this share of the matching AWS calls fails from now on."""

    service: Literal["s3", "ses", "sesv2", "sns", "dynamodb"]
    operations: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$")]] | None = Field(
        default=None, max_length=50, description="AWS operation names (e.g. SendEmail); none: every call"
    )
    ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    error: Literal["throttle", "server", "timeout"] = "server"


class FaultOut(Out):
    id: str = Field(examples=["flt_1a2b3c4d"])
    service: str
    operations: list[str]
    ratio: float
    error: str
    description: str


class FaultsOut(Out):
    items: list[FaultOut]


class FaultsCleared(Out):
    cleared: int


# --- surveys, feedback, KPI reports ---------------------------------------------------------------------------

Score = Annotated[int, Field(strict=True, ge=1, le=5)]


class SurveyAspects(Strict):
    accuracy: Score | None = None
    speed: Score | None = None
    communication: Score | None = None
    invoicing: Score | None = None
    resolution: Score | None = None


class SurveyAnswerIn(Strict):
    csat: Score
    nps: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    aspects: SurveyAspects | None = None
    comment: Annotated[str, Field(max_length=2000)] | None = None


class SurveyAnswerOut(Out):
    survey_id: str
    kind: str
    status: str
    answered_at: Timestamp


class FeedbackIn(Strict):
    order_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    rating: Score
    comment: Annotated[str, Field(max_length=2000)] | None = None


class ExternalFeedbackIn(Strict):
    source: Literal["review", "social", "chat", "phone", "other"]
    rating: Score
    order_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    comment: Annotated[str, Field(max_length=2000)] | None = None
    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://")] | None = None
    occurred_at: Moment


class FeedbackOut(Out):
    id: str
    source: str
    rating: int
    order_id: str | None
    recorded_at: Timestamp


class KpiOut(Out):
    name: str
    value: float | None
    target: float | None
    met: bool | None
    numerator: int
    denominator: int
    previous: float | None
    n: int | None = None
    confidence_95: list[float] | None = None


class KpiReportOut(Out):
    period: Literal["week", "month", "quarter"]
    start: str
    end: str
    definitions_version: str
    closed: bool
    kpis: list[KpiOut]
    causes: dict[str, list[dict[str, Any]]]
    csat_by_source: dict[str, float | None]
    perfect_order_components: dict[str, float | None]


class KpiMissOut(Out):
    subject: str
    day: str
    note: str | None = None


class KpiMissesOut(Out):
    name: str
    period: str
    start: str
    items: list[KpiMissOut]


# --- outbound webhooks ----------------------------------------------------------------

OutboundEventType = Literal[
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.out_for_delivery",
    "order.delivered",
    "order.cancelled",
    "order.delayed",
    "order.on_hold",
    "shipment.attention",
    "refund.requested",
    "return.updated",
    "ticket.updated",
]


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
