"""The return aggregate: its transition table, the quantity and window rules, the refund quote."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.address import Address
from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.money import compute_totals
from chalicelib.domain.orders import (
    Customer,
    Discount,
    IllegalTransitionError,
    Order,
    OrderLine,
    OrderStatus,
    Shipment,
    ShipmentLine,
)
from chalicelib.domain.returns import (
    TRANSITIONS,
    Return,
    ReturnLine,
    ReturnStatus,
    ReturnTally,
    check_request,
    eligibility,
    received_lines,
    refund_quote,
    rma_number,
    tally_of,
    whole_order_returned,
)

AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
R = ReturnStatus
EXPECTED = {
    R.REQUESTED: {R.APPROVED, R.REJECTED, R.CANCELLED},
    R.APPROVED: {R.RECEIVED, R.CANCELLED, R.EXPIRED},
    R.RECEIVED: {R.REFUNDED, R.EXCHANGED},
    R.REJECTED: set(),
    R.REFUNDED: set(),
    R.EXCHANGED: set(),
    R.CANCELLED: set(),
    R.EXPIRED: set(),
}


def order(*, delivered: dict[str, int] | None = None, delivered_at: datetime = AT - timedelta(days=2)) -> Order:
    lines = [OrderLine("MUG-1", 2, 1299, 1900, "Mug"), OrderLine("BOOK-1", 1, 2500, 700, "Book")]
    result = Order(
        id="ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S",
        customer=Customer("cus_alice", "alice@example.com", "Alice"),
        currency="EUR",
        lines=lines,
        shipping_address=Address("Alice", "Hauptstr. 1", "Berlin", "10115", "DE"),
        shipping_method="standard",
        shipping_fee=499,
        discounts=[Discount("WELCOME", 200)],
        placed_at=AT - timedelta(days=10),
        ship_by=AT - timedelta(days=8),
        deliver_by=AT - timedelta(days=5),
        status=OrderStatus.DELIVERED,
    )
    units = delivered if delivered is not None else {"MUG-1": 2, "BOOK-1": 1}
    if units:
        result.shipments = [
            Shipment(
                "shp_1",
                "dhl",
                "T1",
                [ShipmentLine(sku, qty) for sku, qty in units.items()],
                AT - timedelta(days=4),
                status="delivered",
                delivered_at=delivered_at,
            )
        ]
    return result


def a_return(status: ReturnStatus = R.REQUESTED, lines: list[ReturnLine] | None = None) -> Return:
    ret = Return(
        id="ret_01JD3M5X8Q2W7Y6Z4K9N0P1R2S",
        number="RMA-4K9N0-P1R2S",
        order_id="ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S",
        customer_id="cus_alice",
        currency="EUR",
        lines=lines or [ReturnLine("MUG-1", 1, "Mug", 1299, 1900)],
        reason="changed_mind",
        resolution="refund",
        created_at=AT,
    )
    ret.status = status
    return ret


def test_transition_table_is_exactly_the_documented_one() -> None:
    assert {status: set(targets) for status, targets in TRANSITIONS.items()} == EXPECTED


@pytest.mark.parametrize("source", list(R))
@pytest.mark.parametrize("target", list(R))
def test_every_move_is_allowed_or_refused_by_the_table(source: ReturnStatus, target: ReturnStatus) -> None:
    ret = a_return(source)
    moves = {
        R.APPROVED: lambda: ret.approve(AT, "agent:a", 30),
        R.REJECTED: lambda: ret.reject(AT, "agent:a", "used"),
        R.CANCELLED: lambda: ret.cancel(AT, "customer:cus_alice"),
        R.EXPIRED: lambda: ret.expire(AT),
        R.RECEIVED: lambda: ret.receive(AT, "agent:a", ret.lines, None),
        R.REFUNDED: lambda: ret.refunded(AT, 1, "evt"),
        R.EXCHANGED: lambda: ret.exchanged(AT, "ord_x"),
    }
    if target == R.REQUESTED:
        return  # only ever the first status
    if target in EXPECTED[source]:
        moves[target]()
        assert ret.status == target and ret.history[-1].status == target and ret.events[-1].kind == f"return_{target}"
    else:
        with pytest.raises(IllegalTransitionError):
            moves[target]()
        assert ret.status == source and not ret.events


def test_approval_sets_the_receipt_deadline() -> None:
    ret = a_return()
    ret.approve(AT, "agent:a", 30)
    assert ret.receive_by == AT + timedelta(days=30)


def test_rma_number_is_short_and_from_the_id() -> None:
    assert rma_number("ret_01JD3M5X8Q2W7Y6Z4K9N0P1R2S") == "RMA-4K9N0-P1R2S"


def test_quantities_never_above_delivered_minus_returned() -> None:
    current = order()
    earlier = a_return(R.APPROVED, [ReturnLine("MUG-1", 1)])
    eligible = eligibility(current, [earlier], AT, 30)
    assert eligible.returnable("MUG-1") == 1
    check_request(current, [("MUG-1", 1)], eligible, [])
    with pytest.raises(ValidationError) as error:
        check_request(current, [("MUG-1", 2), ("BOOK-1", 1)], eligible, [])
    assert error.value.details == [{"sku": "MUG-1", "problem": "too_many_units", "requested": 2, "returnable": 1}]


def test_a_complete_tally_tells_what_the_returns_themselves_tell() -> None:
    returns = [
        replace(a_return(R.APPROVED, [ReturnLine("MUG-1", 1)]), id="ret_a"),
        replace(a_return(R.CANCELLED, [ReturnLine("MUG-1", 1)]), id="ret_b"),
        replace(a_return(R.RECEIVED, [ReturnLine("MUG-1", 1), ReturnLine("BOOK-1", 1)]), id="ret_c"),
    ]
    tally = tally_of(returns)
    assert tally.complete and tally.count == 3 and tally.units() == {"MUG-1": 2, "BOOK-1": 1}
    assert eligibility(order(), tally, AT, 30) == eligibility(order(), returns, AT, 30)


def test_the_whole_order_is_returned_by_the_tally_as_by_the_returns() -> None:
    current = order()  # two mugs and a book
    earlier = replace(a_return(R.RECEIVED, [ReturnLine("MUG-1", 1)]), id="ret_a")
    dropped = replace(a_return(R.CANCELLED, [ReturnLine("MUG-1", 1)]), id="ret_c")
    this = replace(a_return(R.APPROVED, [ReturnLine("MUG-1", 1), ReturnLine("BOOK-1", 1)]), id="ret_b")
    for others in ([earlier, dropped, this], tally_of([earlier, dropped, this])):
        assert whole_order_returned(current, this, others)  # this return's own line is not counted twice
        assert not whole_order_returned(current, replace(this, lines=[ReturnLine("BOOK-1", 1)]), others)
    with pytest.raises(ValueError, match="incomplete"):
        whole_order_returned(current, this, ReturnTally(3, {"ret_a": {"MUG-1": 1}}))


def test_an_order_returned_in_two_parts_for_the_shop_s_fault_refunds_shipping_once() -> None:
    current = order()  # two mugs and a book, 499 shipping
    mugs_lines = [ReturnLine("MUG-1", 2, "Mug", 1299, 1900)]
    book_lines = [ReturnLine("BOOK-1", 1, "Book", 2500, 700)]
    mugs = replace(a_return(R.APPROVED, mugs_lines), id="ret_mugs", reason="damaged")
    book = replace(a_return(R.APPROVED, book_lines), id="ret_book", reason="damaged")
    # The mugs arrive first: the book is only on its way, so the order is not back yet.
    assert not whole_order_returned(current, mugs, [mugs, book])
    assert not whole_order_returned(current, mugs, tally_of([mugs, book]))
    first = refund_quote(current, mugs_lines, whole_order=False, reason="damaged")
    mugs.status = R.RECEIVED
    # The book completes the order: its receipt, and only its, refunds shipping.
    assert whole_order_returned(current, book, [mugs, book])
    assert whole_order_returned(current, book, tally_of([mugs, book]))
    assert whole_order_returned(current, mugs, [mugs, book]) is False  # a re-decided first receipt still not
    second = refund_quote(current, book_lines, whole_order=True, reason="damaged", earlier=[first.by_rate])
    assert first.shipping == 0 and second.shipping > 0
    assert first.total + second.total == current.totals.total  # to the cent: the last parcel gets what is left
    for rate in current.totals.taxes:
        refunded = [part for quote in (first, second) for part in quote.by_rate if part[0] == rate.rate_bps]
        assert sum(net for _, net, _ in refunded) == rate.net and sum(tax for _, _, tax in refunded) == rate.tax
    assert sum(line.amount for line in second.lines) + second.shipping == second.total


def test_three_parcels_whose_rounding_adds_up_refund_exactly_what_was_paid() -> None:
    current = order()
    current.lines = [OrderLine("MUG-1", 3, 1299, 1900, "Mug")]
    current.discounts = [Discount("WELCOME", 100)]  # a third of a cent per mug does not divide
    current.shipments[0].lines = [ShipmentLine("MUG-1", 3)]
    parts: list[list[tuple[int, int, int]]] = []
    for index in range(3):
        quote = refund_quote(
            current,
            [ReturnLine("MUG-1", 1, "Mug", 1299, 1900)],
            whole_order=index == 2,
            reason="damaged",
            earlier=parts,
        )
        parts.append(list(quote.by_rate))
    assert sum(net + tax for part in parts for _, net, tax in part) == current.totals.total


@pytest.mark.parametrize("reason", ["damaged", "changed_mind"])
def test_parcels_whose_tax_rounds_up_never_refund_a_cent_more_than_was_paid(reason: str) -> None:
    current = order()
    current.lines = [OrderLine("PEN-1", 2, 1050, 1900, "Pen")]  # 199.5 tax per pen, 399 on the invoice
    current.discounts, current.shipping_fee = [], 0
    current.shipments[0].lines = [ShipmentLine("PEN-1", 2)]
    pen = [ReturnLine("PEN-1", 1, "Pen", 1050, 1900)]
    first = refund_quote(current, pen, whole_order=False, reason=reason)
    last = refund_quote(current, pen, whole_order=True, reason=reason, earlier=[first.by_rate])
    assert first.total == 1250 and first.total + last.total == current.totals.total == 2499
    assert sum(tax for quote in (first, last) for _, _, tax in quote.by_rate) == current.totals.tax_total


def test_shipping_an_earlier_receipt_already_refunded_is_not_refunded_again() -> None:
    current = order()  # two mugs and a book, 499 shipping
    book = [ReturnLine("BOOK-1", 1, "Book", 2500, 700)]
    # As refunded before shipping went back once: the mugs' parcel carried all of it.
    mugs_with_shipping = refund_quote(
        current, [ReturnLine("MUG-1", 2, "Mug", 1299, 1900)], whole_order=True, reason="damaged"
    )
    assert mugs_with_shipping.shipping > 0
    last = refund_quote(
        current,
        book,
        whole_order=True,
        reason="damaged",
        earlier=[mugs_with_shipping.by_rate],
        shipping_refunded_before=True,
    )
    assert last.shipping == 0 and all(line.net >= 0 and line.tax >= 0 for line in last.lines)
    assert last.total <= current.totals.total - mugs_with_shipping.total


def test_a_tally_without_receipts_for_every_return_is_not_taken_for_what_came_back() -> None:
    current = order()
    this = replace(a_return(R.APPROVED, [ReturnLine("BOOK-1", 1)]), id="ret_b")
    written_before_receipts_were_kept = ReturnTally(2, {"ret_a": {"MUG-1": 2}, "ret_b": {"BOOK-1": 1}})
    assert written_before_receipts_were_kept.complete and not written_before_receipts_were_kept.knows_what_came_back
    with pytest.raises(ValueError, match="incomplete"):
        whole_order_returned(current, this, written_before_receipts_were_kept)
    kept = replace(written_before_receipts_were_kept, back={"ret_a": {"MUG-1": 2}, "ret_b": {}}, receipts=1)
    assert kept.knows_what_came_back and whole_order_returned(current, this, kept)


def test_an_incomplete_tally_is_never_taken_for_what_was_returned() -> None:
    older_return_missing = ReturnTally(2, {"ret_b": {"MUG-1": 1}})
    assert not older_return_missing.complete and ReturnTally().complete
    with pytest.raises(ValueError, match="incomplete"):
        eligibility(order(), older_return_missing, AT, 30)


@pytest.mark.parametrize("status", [R.REJECTED, R.CANCELLED, R.EXPIRED])
def test_released_returns_do_not_count(status: ReturnStatus) -> None:
    eligible = eligibility(order(), [a_return(status, [ReturnLine("MUG-1", 2)])], AT, 30)
    assert eligible.returnable("MUG-1") == 2


def test_only_delivered_lines_and_nothing_delivered_is_a_conflict() -> None:
    partly = order(delivered={"MUG-1": 2})
    with pytest.raises(ValidationError) as error:
        check_request(partly, [("BOOK-1", 1)], eligibility(partly, [], AT, 30), [])
    assert error.value.details[0]["problem"] == "not_delivered"
    none = order(delivered={})
    with pytest.raises(ConflictError):
        check_request(none, [("MUG-1", 1)], eligibility(none, [], AT, 30), [])


def test_window_counts_from_delivery() -> None:
    delivered_at = AT - timedelta(days=30)
    current = order(delivered_at=delivered_at)
    check_request(current, [("MUG-1", 1)], eligibility(current, [], delivered_at + timedelta(days=30), 30), [])
    late = eligibility(current, [], delivered_at + timedelta(days=30, seconds=1), 30)
    with pytest.raises(ValidationError) as error:
        check_request(current, [("MUG-1", 1)], late, [])
    assert error.value.code == "return_window_closed"


def test_not_returnable_items() -> None:
    current = order()
    with pytest.raises(ValidationError) as error:
        check_request(current, [("BOOK-1", 1)], eligibility(current, [], AT, 30), ["BOOK-1"])
    assert error.value.details == [{"sku": "BOOK-1", "problem": "not_returnable"}]


def test_received_lines_default_all_restockable_and_never_more_than_returned() -> None:
    ret = a_return(R.APPROVED, [ReturnLine("MUG-1", 2, "Mug", 1299, 1900)])
    assert received_lines(ret, None)[0].restockable == 2
    mixed = received_lines(ret, {"MUG-1": (1, "damaged")})
    assert (mixed[0].quantity, mixed[0].restockable, mixed[0].damaged) == (1, 0, 1)
    with pytest.raises(ValidationError):
        received_lines(ret, {"MUG-1": (3, "restockable")})
    with pytest.raises(ValidationError):
        received_lines(ret, {"BOOK-1": (1, "restockable")})


def test_refund_quote_per_line_incl_tax_and_whole_order_equals_total() -> None:
    current = order()
    totals = current.totals
    everything = [ReturnLine("MUG-1", 2, "Mug", 1299, 1900), ReturnLine("BOOK-1", 1, "Book", 2500, 700)]
    full = refund_quote(current, everything, whole_order=True, reason="damaged")
    assert full.total == totals.total and full.shipping > 0
    assert sum(line.amount for line in full.lines) + full.shipping == full.total
    no_shipping = refund_quote(current, everything, whole_order=True, reason="changed_mind")
    assert no_shipping.shipping == 0 and no_shipping.total == sum(line.amount for line in no_shipping.lines)
    assert abs(no_shipping.total - (totals.total - full.shipping)) <= 1  # tax is rounded per rate, once
    one = refund_quote(current, [ReturnLine("MUG-1", 1, "Mug", 1299, 1900)], whole_order=False, reason="damaged")
    # 1299 less the ceiling share of the mug lines' discount (200 * 2598/5098 → 102 for 2, 51 for 1), + 19 %.
    net = 1299 - 51
    assert one.total == net + round(net * 0.19) and one.shipping == 0


def test_refunds_of_separate_returns_never_exceed_the_total() -> None:
    current = order()
    parts = [
        [ReturnLine("MUG-1", 1, "Mug", 1299, 1900)],
        [ReturnLine("MUG-1", 1, "Mug", 1299, 1900)],
        [ReturnLine("BOOK-1", 1, "Book", 2500, 700)],
    ]
    refunded = sum(refund_quote(current, lines, whole_order=False, reason="other").total for lines in parts)
    goods = compute_totals([line.priced() for line in current.lines], 200, 0).total
    assert refunded <= goods


def test_whole_order_counts_earlier_returns() -> None:
    current = order()
    earlier = a_return(R.RECEIVED, [ReturnLine("BOOK-1", 1)])
    earlier.id = "ret_other"
    this = a_return(R.APPROVED, [ReturnLine("MUG-1", 2)])
    assert whole_order_returned(current, this, [earlier])
    earlier.status = R.CANCELLED
    assert not whole_order_returned(current, this, [earlier])
