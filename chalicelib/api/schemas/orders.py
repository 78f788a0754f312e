"""Orders: placing, paying, cancelling, holds, shipments, and the order, timeline and document views."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from chalicelib.api.schemas.common import (
    Country,
    Currency,
    CustomerId,
    Email,
    Money,
    Out,
    Phone,
    Sku,
    Strict,
    Text,
    Timestamp,
    VatId,
)


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
    discounts: Annotated[list[DiscountIn], Field(max_length=20)] = []  # noqa: RUF012 - pydantic copies defaults
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


class OrderListOut(Out):
    items: list[OrderOut]
    next_cursor: str | None
