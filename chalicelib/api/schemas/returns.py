"""Returns (RMAs): requesting, deciding, receiving, and the return view."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from chalicelib.api.schemas.common import (
    Out,
    Sku,
    Strict,
    Timestamp,
)

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
