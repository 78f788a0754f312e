"""The order-number alphabet: readable aloud, a check character that catches typos."""

from __future__ import annotations

import itertools

from chalicelib.domain.order_numbers import (
    ALPHABET,
    BODY_LENGTH,
    check_symbol,
    legacy_reference,
    new_order_number,
    parse_order_number,
)


def test_alphabet_has_no_symbols_that_read_alike() -> None:
    assert not set(ALPHABET) & set("0O1IL")
    assert len(ALPHABET) == len(set(ALPHABET)) == 31  # prime: the weighted check catches all single errors
    assert "".join(sorted(ALPHABET)) == ALPHABET and ALPHABET.isupper()


def test_new_numbers_are_well_formed_and_parse_to_themselves() -> None:
    numbers = {new_order_number() for _ in range(2000)}
    assert len(numbers) > 1990  # random (uniqueness itself comes from the conditional claim)
    for number in numbers:
        assert len(number) == 9 and number[4] == "-"
        assert set(number.replace("-", "")) <= set(ALPHABET)
        assert parse_order_number(number) == number


def test_parsing_accepts_what_people_type() -> None:
    assert parse_order_number("k7qm-r3te") == "K7QM-R3TE"
    assert parse_order_number(" K7QM R3TE ") == "K7QM-R3TE"
    assert parse_order_number("K7QMR3TE") == "K7QM-R3TE"
    for bad in ("", "K7QM-R3T", "K7QM-R3TEE", "K7QM-R3T0", "OOOO-OOOO", "ord_01JD3M5X"):
        assert parse_order_number(bad) is None, bad


def test_every_single_substitution_and_neighbour_swap_is_caught() -> None:
    body = "K7QMR3T"
    number = body + check_symbol(body)
    for position, symbol in itertools.product(range(BODY_LENGTH + 1), ALPHABET):
        typo = number[:position] + symbol + number[position + 1 :]
        if typo != number:
            assert parse_order_number(typo) is None, typo
    for position in range(BODY_LENGTH):
        swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
        if swapped != number:
            assert parse_order_number(swapped) is None, swapped


def test_orders_without_a_number_show_the_old_short_reference() -> None:
    assert legacy_reference("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S") == "9N0P-1R2S"
    assert legacy_reference("ord_abc") == "ABC"
