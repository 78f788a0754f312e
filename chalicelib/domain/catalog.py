"""Catalogue items: what a SKU costs, how it is taxed, how many are in stock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    name: str
    unit_price: int
    currency: str
    stock: int
    tax_rate_bps: int
    updated_at: datetime | None = None
    returnable: bool = True  # False: the item cannot be returned (e.g. hygiene goods)
