"""The demo order (the README's curl example), shared by the functional and e2e tests and `make bench`.

Two MUG-1 at the demo catalogue's price (local/demo_catalog.json), shipped to Berlin.
"""

from __future__ import annotations

import copy
from typing import Any

DEMO_ORDER: dict[str, Any] = {
    "customer": {
        "id": "cus_alice",
        "email": "alice@example.com",
        "phone": "+4915112345678",
        "name": "Alice Müller",
        "locale": "de-DE",
    },
    "currency": "EUR",
    "lines": [{"sku": "MUG-1", "quantity": 2, "unit_price": 1299}],
    "shipping_address": {
        "name": "Alice Müller",
        "line1": "Hauptstr. 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    },
    "shipping_method": "standard",
    "shipping_fee": 499,
    "discounts": [{"code": "WELCOME", "amount": 200}],
}


def order_body(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of the demo order with top-level fields replaced."""
    return {**copy.deepcopy(DEMO_ORDER), **overrides}
