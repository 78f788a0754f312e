"""Catalogue items: what a SKU costs, how it is taxed, how many are in stock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


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
