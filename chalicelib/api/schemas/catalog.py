"""Catalog items and delivery estimates."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field

from chalicelib.api.schemas.common import (
    Country,
    Currency,
    Money,
    Out,
    Strict,
    Text,
    Timestamp,
)


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
