"""catalog_expectations: the lines' accuracy checks as conditions on their catalogue items.

The conditions stand in for reading the catalogue, so a catalogue that meets them must be one
check_lines finds nothing (unwaived) in, and one that check_lines finds nothing in should meet
them (else the write fails for nothing and the catalogue is read after all)."""

from __future__ import annotations

import itertools

import pytest

from chalicelib.domain.accuracy import (
    HOLD_CODES,
    INSUFFICIENT_STOCK,
    PRICE_MISMATCH,
    UNKNOWN_SKU,
    CatalogExpectation,
    catalog_expectations,
    check_address,
    check_lines,
)
from chalicelib.domain.address import Address
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.orders import Hold, OrderLine

LINES = [OrderLine("MUG-1", 2, 1299, 1900, "Mug"), OrderLine("BOOK-1", 5, 2500, 700, "Book")]


def test_each_line_expects_its_price_currency_and_quantity() -> None:
    assert catalog_expectations(LINES, "EUR", []) == {
        "MUG-1": CatalogExpectation(min_stock=2, price=("EUR", 1299)),
        "BOOK-1": CatalogExpectation(min_stock=5, price=("EUR", 2500)),
    }


def test_a_waived_price_drops_only_that_lines_price_condition() -> None:
    waivers = [Hold(PRICE_MISMATCH, "agreed", "MUG-1"), Hold("invalid_address", "ok")]
    assert catalog_expectations(LINES, "EUR", waivers) == {
        "MUG-1": CatalogExpectation(min_stock=2, price=None),
        "BOOK-1": CatalogExpectation(min_stock=5, price=("EUR", 2500)),
    }


def test_lines_repeating_a_sku_cannot_be_conditions() -> None:
    repeated = [*LINES, OrderLine("MUG-1", 1, 1299, 1900, "Mug")]
    assert catalog_expectations(repeated, "EUR", []) is None


def _meets(item: CatalogItem | None, expected: CatalogExpectation) -> bool:
    """What the adapter's condition says of an item: it exists, has the stock and (unless waived) the price."""
    if item is None or item.stock < expected.min_stock:
        return False
    return expected.price is None or (item.currency, item.unit_price) == expected.price


MUG_STATES = [  # MUG-1 as the catalogue may have it now
    None,
    CatalogItem("MUG-1", "Mug", 1299, "EUR", 2, 1900),
    CatalogItem("MUG-1", "Mug", 1299, "EUR", 1, 1900),
    CatalogItem("MUG-1", "Mug", 1300, "EUR", 10, 1900),
    CatalogItem("MUG-1", "Mug", 1299, "USD", 10, 1900),
    CatalogItem("MUG-1", "Mug", 999, "GBP", 0, 1900),
    CatalogItem("MUG-1", "Mug", 1299, "EUR", -3, 1900),
]
BOOK_STATES = [
    None,
    CatalogItem("BOOK-1", "Book", 2500, "EUR", 5, 700),
    CatalogItem("BOOK-1", "Book", 2499, "EUR", 4, 700),
]
WAIVERS = [[], [Hold(PRICE_MISMATCH, "agreed", "MUG-1")], [Hold(PRICE_MISMATCH, "agreed", "BOOK-1")]]


@pytest.mark.parametrize("waivers", WAIVERS)
def test_met_conditions_mean_check_lines_finds_nothing_and_back(waivers: list[Hold]) -> None:
    expected = catalog_expectations(LINES, "EUR", waivers)
    assert expected is not None
    waived = {(w.code, w.sku) for w in waivers}
    for mug, book in itertools.product(MUG_STATES, BOOK_STATES):
        catalog = {item.sku: item for item in (mug, book) if item is not None}
        holds = [h for h in check_lines(LINES, catalog, "EUR") if (h.code, h.sku) not in waived]
        met = all(_meets(catalog.get(sku), condition) for sku, condition in expected.items())
        assert met == (not holds), (mug, book, waivers, holds)


def test_every_hold_code_but_the_address_ones_is_a_condition() -> None:
    """A new check on the lines must join the conditions (and this list), or a write would pass it unread."""
    address_codes = {h.code for h in check_address(Address("", "", "", "", "XX"), ["DE"])}
    assert set(HOLD_CODES) - address_codes == {UNKNOWN_SKU, PRICE_MISMATCH, INSUFFICIENT_STOCK}
