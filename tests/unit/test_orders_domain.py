"""The order aggregate's transition table and events, and the accuracy checks that become holds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.accuracy import (
    HOLD_CODES,
    INSUFFICIENT_STOCK,
    INVALID_ADDRESS,
    PRICE_MISMATCH,
    UNKNOWN_SKU,
    UNSUPPORTED_COUNTRY,
    check_address,
    check_lines,
    check_order,
)
from chalicelib.domain.address import Address, address_problems
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.orders import (
    TRANSITIONS,
    Customer,
    Discount,
    Hold,
    IllegalTransitionError,
    Order,
    OrderLine,
    OrderStatus,
)
from chalicelib.settings import Settings

S = OrderStatus
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SUPPORTED = Settings().supported_countries

# The contract: placed → paid → processing → partially_shipped → shipped →
# out_for_delivery → delivered; cancelled from placed/paid/processing; anything else → 409.
# Plus two documented shortcuts: more partial shipments, and delivery without an
# "out for delivery" scan.
EXPECTED: dict[OrderStatus, set[OrderStatus]] = {
    S.PLACED: {S.PAID, S.CANCELLED},
    S.PAID: {S.PROCESSING, S.CANCELLED},
    S.PROCESSING: {S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED},
    S.PARTIALLY_SHIPPED: {S.PARTIALLY_SHIPPED, S.SHIPPED},
    S.SHIPPED: {S.OUT_FOR_DELIVERY, S.DELIVERED},
    S.OUT_FOR_DELIVERY: {S.DELIVERED},
    S.DELIVERED: set(),
    S.CANCELLED: set(),
}


def new_order(holds: list[Hold] | None = None, status: OrderStatus = S.PLACED) -> Order:
    order = Order.place(
        order_id="ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S",
        customer=Customer("cus_alice", "alice@example.com", "Alice Müller", "+4915112345678", "de-DE"),
        currency="EUR",
        lines=[OrderLine("MUG-1", 2, 1299, 1900, "Ceramic mug")],
        shipping_address=Address("Alice Müller", "Hauptstr. 1", "Berlin", "10115", "DE"),
        shipping_method="standard",
        shipping_fee=499,
        discounts=[Discount("WELCOME", 200)],
        placed_at=NOW,
        ship_by=NOW + timedelta(days=4),
        deliver_by=NOW + timedelta(days=7),
        holds=holds or [],
        actor="storefront:web",
    )
    order.status = status
    return order


# --- the transition table -------------------------------------------------------------------------


def test_table_covers_every_status_and_matches_the_contract() -> None:
    assert set(TRANSITIONS) == set(OrderStatus)
    assert {status: set(targets) for status, targets in TRANSITIONS.items()} == EXPECTED


def test_terminal_states_have_no_way_out() -> None:
    assert not TRANSITIONS[S.DELIVERED] and not TRANSITIONS[S.CANCELLED]


def test_nothing_goes_back_to_placed_or_paid_after_shipping() -> None:
    shipped_or_later = (S.PARTIALLY_SHIPPED, S.SHIPPED, S.OUT_FOR_DELIVERY, S.DELIVERED)
    for status in shipped_or_later:
        assert not TRANSITIONS[status] & {S.PLACED, S.PAID, S.PROCESSING, S.CANCELLED}


@pytest.mark.parametrize(
    ("current", "target"),
    list(itertools.product(OrderStatus, OrderStatus)),
    ids=lambda status: str(status),
)
def test_every_pair(current: OrderStatus, target: OrderStatus) -> None:
    order = new_order(status=current)
    events_before = list(order.events)
    at = NOW + timedelta(hours=1)
    if target in EXPECTED[current]:
        assert order.can_transition(target)
        order.transition(target, at, "agent:agt_1", note="why")
        assert order.status == target
        assert order.events[: len(events_before)] == events_before
        assert len(order.events) == len(events_before) + 1
        event = order.events[-1]
        assert (event.kind, event.at, event.actor) == ("status_changed", at, "agent:agt_1")
        assert event.data == {"from": str(current), "to": str(target), "note": "why"}
    else:
        assert not order.can_transition(target)
        with pytest.raises(IllegalTransitionError) as raised:
            order.transition(target, at, "agent:agt_1")
        error = raised.value
        assert isinstance(error, ConflictError)
        assert (error.status, error.code) == (409, "illegal_transition")
        assert error.details == [{"current_status": str(current), "requested_status": str(target)}]
        assert str(current) in error.message
        assert order.status == current  # unchanged
        assert order.events == events_before  # nothing recorded


def test_happy_path_records_one_event_per_move() -> None:
    order = new_order()
    path = [S.PAID, S.PROCESSING, S.PARTIALLY_SHIPPED, S.PARTIALLY_SHIPPED, S.SHIPPED, S.OUT_FOR_DELIVERY]
    path.append(S.DELIVERED)
    for step, target in enumerate(path):
        order.transition(target, NOW + timedelta(hours=step), "system")
    moves = [(e.data["from"], e.data["to"]) for e in order.events if e.kind == "status_changed"]
    assert moves == list(zip(["placed", *map(str, path[:-1])], map(str, path), strict=True))
    assert order.status == S.DELIVERED


# --- Order.place ----------------------------------------------------------------------------------


def test_place_records_placed_and_no_holds_for_a_clean_order() -> None:
    order = new_order()
    assert order.status == S.PLACED and order.holds == [] and not order.is_on_hold
    assert [(e.kind, e.at, e.actor) for e in order.events] == [("placed", NOW, "storefront:web")]
    assert order.events[0].data["status"] == "placed"
    assert order.totals.total == 2598 - 200 + 499 + 550


def test_place_records_one_hold_added_per_hold_in_order() -> None:
    holds = [
        Hold(UNKNOWN_SKU, "SKU 'NOPE' is not in the catalogue", "NOPE"),
        Hold(PRICE_MISMATCH, "'MUG-1' costs 1299", "MUG-1"),
        Hold(INVALID_ADDRESS, "postal code '1011' is not valid for DE"),
    ]
    order = new_order(holds)
    assert order.holds == holds and order.is_on_hold
    assert [e.kind for e in order.events] == ["placed", "hold_added", "hold_added", "hold_added"]
    for event, hold in zip(order.events[1:], holds, strict=True):
        assert event.at == NOW and event.actor == "storefront:web"
        assert event.data["code"] == hold.code and event.data["detail"] == hold.detail


def test_place_rejects_discounts_over_the_subtotal() -> None:
    with pytest.raises(ValidationError, match="exceed"):
        Order.place(
            order_id="ord_x",
            customer=Customer("c", "c@example.com", "C"),
            currency="EUR",
            lines=[OrderLine("MUG-1", 1, 1000, 1900)],
            shipping_address=Address("C", "Street 1", "Berlin", "10115", "DE"),
            shipping_method="standard",
            shipping_fee=0,
            discounts=[Discount("A", 600), Discount("B", 401)],
            placed_at=NOW,
            ship_by=NOW,
            deliver_by=NOW,
            holds=[],
            actor="storefront:web",
        )


# --- accuracy checks ----------------------------------------------------------------------------------

CATALOG = {
    "MUG-1": CatalogItem("MUG-1", "Ceramic mug", 1299, "EUR", 10, 1900),
    "BOOK-1": CatalogItem("BOOK-1", "Cookbook", 2500, "EUR", 0, 700),
}
GOOD_ADDRESS = Address("Alice Müller", "Hauptstr. 1", "Berlin", "10115", "DE")


def codes(holds: list[Hold]) -> list[str]:
    return [hold.code for hold in holds]


def test_hold_codes_are_the_documented_ones() -> None:
    assert set(HOLD_CODES) == {
        "unknown_sku",
        "price_mismatch",
        "insufficient_stock",
        "invalid_address",
        "unsupported_country",
    }


def test_a_clean_order_has_no_holds() -> None:
    lines = [OrderLine("MUG-1", 10, 1299, 1900)]  # exactly the stock
    assert check_order(lines, CATALOG, "EUR", GOOD_ADDRESS, SUPPORTED) == []


def test_unknown_sku() -> None:
    holds = check_lines([OrderLine("NOPE-1", 1, 100, 1900)], CATALOG, "EUR")
    assert holds == [Hold(UNKNOWN_SKU, holds[0].detail, "NOPE-1")]
    assert "NOPE-1" in holds[0].detail


def test_price_mismatch() -> None:
    holds = check_lines([OrderLine("MUG-1", 1, 999, 1900)], CATALOG, "EUR")
    assert codes(holds) == [PRICE_MISMATCH] and holds[0].sku == "MUG-1"
    assert "12.99 EUR" in holds[0].detail and "9.99 EUR" in holds[0].detail


def test_same_amount_in_another_currency_is_a_price_mismatch() -> None:
    holds = check_lines([OrderLine("MUG-1", 1, 1299, 1900)], CATALOG, "USD")
    assert codes(holds) == [PRICE_MISMATCH]
    assert "EUR" in holds[0].detail and "USD" in holds[0].detail


def test_insufficient_stock() -> None:
    holds = check_lines([OrderLine("MUG-1", 11, 1299, 1900), OrderLine("BOOK-1", 1, 2500, 700)], CATALOG, "EUR")
    assert [(h.code, h.sku) for h in holds] == [(INSUFFICIENT_STOCK, "MUG-1"), (INSUFFICIENT_STOCK, "BOOK-1")]
    assert "11 ordered, 10 in stock" in holds[0].detail


def test_one_line_can_fail_price_and_stock_but_unknown_stops_there() -> None:
    lines = [OrderLine("NOPE-1", 99, 1, 0), OrderLine("MUG-1", 50, 1, 1900)]
    assert codes(check_lines(lines, CATALOG, "EUR")) == [UNKNOWN_SKU, PRICE_MISMATCH, INSUFFICIENT_STOCK]


def test_check_order_runs_every_check_in_a_stable_order() -> None:
    lines = [OrderLine("NOPE-1", 1, 100, 1900), OrderLine("MUG-1", 1, 999, 1900)]
    address = Address("A", "x", "Paris", "1011", "US")
    assert codes(check_order(lines, CATALOG, "EUR", address, SUPPORTED)) == [
        UNKNOWN_SKU,
        PRICE_MISMATCH,
        UNSUPPORTED_COUNTRY,
        INVALID_ADDRESS,
    ]


@pytest.mark.parametrize(
    ("country", "postal_code"),
    [
        ("DE", "10115"),
        ("DE", " 10115 "),
        ("AT", "1010"),
        ("NL", "1012 AB"),
        ("NL", "1012ab"),  # upper-cased before matching
        ("PL", "00-950"),
        ("PT", "1000-001"),
        ("GB", "SW1A 1AA"),
        ("GB", "m1 1ae"),
        ("IE", "D02 X285"),
        ("CZ", "110 00"),
        ("SE", "11455"),
        ("LU", "L-1009"),
        ("MT", "VLT 1117"),
        ("RO", "010011"),
    ],
)
def test_valid_postal_codes(country: str, postal_code: str) -> None:
    address = Address("A", "Street 1", "City", postal_code, country)
    assert address_problems(address) == []
    assert check_address(address, SUPPORTED) == []


@pytest.mark.parametrize(
    ("country", "postal_code"),
    [
        ("DE", "1011"),
        ("DE", "101155"),
        ("DE", "ABCDE"),
        ("DE", "10 115"),
        ("DE", "١٠١١٥"),  # Arabic-Indic digits are not a German postal code
        ("DE", "１０１１５"),  # nor are full-width digits
        ("AT", "10100"),
        ("NL", "1012"),
        ("PL", "00950"),
        ("PT", "1000"),
        ("GB", "12345"),
        ("IE", "12345"),
        ("FR", "7500"),
        ("CH", "80001"),
        ("RO", "01001"),
    ],
)
def test_invalid_postal_codes(country: str, postal_code: str) -> None:
    holds = check_address(Address("A", "Street 1", "City", postal_code, country), SUPPORTED)
    assert codes(holds) == [INVALID_ADDRESS]
    assert f"postal code '{postal_code}' is not valid for {country}" in holds[0].detail


@pytest.mark.parametrize("field", ["name", "line1", "city", "postal_code"])
@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_required_fields(field: str, blank: str) -> None:
    values = {"name": "A", "line1": "Street 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}
    values[field] = blank
    holds = check_address(Address(**values), SUPPORTED)
    assert codes(holds) == [INVALID_ADDRESS]
    assert f"{field} is empty" in holds[0].detail


def test_every_problem_is_listed_in_one_hold() -> None:
    holds = check_address(Address("", "", "Berlin", "1", "DE"), SUPPORTED)
    assert codes(holds) == [INVALID_ADDRESS]
    assert holds[0].detail == "name is empty; line1 is empty; postal code '1' is not valid for DE"


@pytest.mark.parametrize("country", ["US", "CA", "XX", "JP"])
def test_unsupported_country(country: str) -> None:
    postal = {"US": "10001", "CA": "K1A 0B1"}.get(country, "12345")
    holds = check_address(Address("A", "Street 1", "City", postal, country), SUPPORTED)
    assert codes(holds) == [UNSUPPORTED_COUNTRY]
    assert country in holds[0].detail


def test_blank_country_is_unsupported_and_invalid() -> None:
    holds = check_address(Address("A", "Street 1", "City", "10115", " "), SUPPORTED)
    assert codes(holds) == [UNSUPPORTED_COUNTRY, INVALID_ADDRESS]
    assert "country is empty" in holds[1].detail


def test_supported_countries_come_from_settings() -> None:
    address = Address("A", "Street 1", "Wien", "1010", "AT")
    assert check_address(address, SUPPORTED) == []
    assert codes(check_address(address, ("DE",))) == [UNSUPPORTED_COUNTRY]
