"""Accuracy checks: what must be true of an order before it is processed or shipped.

Each failed check becomes a Hold with a stable code (HOLD_CODES, the API's `holds[].code`). Run at
placement and again before processing and shipment, against the catalogue as
it is then.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.domain.address import Address, address_problems
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.money import format_minor
from chalicelib.domain.orders import Hold, OrderLine

UNKNOWN_SKU = "unknown_sku"
PRICE_MISMATCH = "price_mismatch"
INSUFFICIENT_STOCK = "insufficient_stock"
INVALID_ADDRESS = "invalid_address"
UNSUPPORTED_COUNTRY = "unsupported_country"
HOLD_CODES = (UNKNOWN_SKU, PRICE_MISMATCH, INSUFFICIENT_STOCK, INVALID_ADDRESS, UNSUPPORTED_COUNTRY)


def check_lines(lines: Sequence[OrderLine], catalog: Mapping[str, CatalogItem], currency: str) -> list[Hold]:
    """Holds for lines whose SKU is unknown, whose price differs, or whose stock is short."""
    holds: list[Hold] = []
    for line in lines:
        item = catalog.get(line.sku)
        if item is None:
            holds.append(Hold(UNKNOWN_SKU, f"SKU '{line.sku}' is not in the catalogue", line.sku))
            continue
        if item.currency != currency or item.unit_price != line.unit_price:
            holds.append(
                Hold(
                    PRICE_MISMATCH,
                    f"'{line.sku}' costs {format_minor(item.unit_price, item.currency)} in the catalogue, "
                    f"the order says {format_minor(line.unit_price, currency)}",
                    line.sku,
                )
            )
        if item.stock < line.quantity:
            holds.append(
                Hold(
                    INSUFFICIENT_STOCK,
                    f"'{line.sku}': {line.quantity} ordered, {max(item.stock, 0)} in stock",
                    line.sku,
                )
            )
    return holds


@dataclass(frozen=True)
class CatalogExpectation:
    """What one catalogue item must say for its order line to pass `check_lines`: the line's checks
    as a condition a write can carry instead of reading the item first."""

    min_stock: int
    price: tuple[str, int] | None  # (currency, unit price) the line was sold at; None: its price check is waived


def catalog_expectations(
    lines: Sequence[OrderLine], currency: str, waivers: Collection[Hold]
) -> dict[str, CatalogExpectation] | None:
    """Per SKU, what its catalogue item must say for `check_lines` to find no hold the order does not
    waive: it exists, has the line's currency and unit price (unless a price_mismatch on that SKU is
    waived) and at least the line's quantity in stock. Items that all meet theirs need no reading; one
    that does not is read and checked (a hold's wording names the catalogue's values). None when the
    lines repeat a SKU: one condition per item cannot say that."""
    waived = {(waiver.code, waiver.sku) for waiver in waivers}
    expectations: dict[str, CatalogExpectation] = {}
    for line in lines:
        if line.sku in expectations:
            return None
        priced = (PRICE_MISMATCH, line.sku) not in waived
        price = (currency, line.unit_price) if priced else None
        expectations[line.sku] = CatalogExpectation(min_stock=line.quantity, price=price)
    return expectations


def check_address(address: Address, supported_countries: Collection[str]) -> list[Hold]:
    """Holds for an address the shop cannot ship to or that looks undeliverable."""
    holds: list[Hold] = []
    if address.country not in supported_countries:
        holds.append(Hold(UNSUPPORTED_COUNTRY, f"the shop does not ship to '{address.country}'"))
    problems = address_problems(address)
    if problems:
        holds.append(Hold(INVALID_ADDRESS, "; ".join(problems)))
    return holds


def check_order(
    lines: Sequence[OrderLine],
    catalog: Mapping[str, CatalogItem],
    currency: str,
    address: Address,
    supported_countries: Collection[str],
) -> list[Hold]:
    """Every accuracy check, in a stable order."""
    return check_lines(lines, catalog, currency) + check_address(address, supported_countries)
