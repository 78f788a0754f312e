"""Returns on DynamoDB Local: concurrent receives make one replacement order and restock once;
concurrent requests never return more than was delivered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.bootstrap import Container
from chalicelib.domain.errors import OrderCareError
from chalicelib.domain.returns import tally_of
from chalicelib.services.orders import CarrierUpdate
from chalicelib.services.returns import RequestReturn
from tests.integration.test_order_store import _processing, _race

pytestmark = pytest.mark.timeout(240)


def _delivered(container: Container, quantity: int = 2) -> str:
    order_id = _processing(container, quantity=quantity)
    _, shipment = container.orders.ship(order_id, "dhl", f"T{uuid.uuid4().hex[:10]}", None, "agent:a")
    moment = datetime.now(UTC) - timedelta(hours=1)
    container.orders.carrier_event(
        CarrierUpdate(str(uuid.uuid4()), shipment.tracking_number, "delivered", moment, None)
    )
    return order_id


def _approved(container: Container, order_id: str, resolution: str, quantity: int = 1) -> str:
    command = RequestReturn([("MUG-1", quantity)], "wrong_item", resolution)
    ret = container.returns.request(order_id, command, "customer:cus_it", customer_id="cus_it")
    container.returns.approve(ret.id, "agent:a")
    return ret.id


def test_return_round_trip(store: Container) -> None:
    order_id = _delivered(store)
    return_id = _approved(store, order_id, "refund")
    before = store.catalog.get("MUG-1").stock
    received = store.returns.receive(return_id, None, "agent:a")
    assert received.status == "received" and received.refund_amount and received.refund_amount > 0
    assert store.catalog.get("MUG-1").stock == before + 1
    assert [r.id for r in store.returns.for_order(order_id)] == [return_id]
    queue, _ = store.returns.queue("received", limit=10, cursor=None)
    assert [r.id for r in queue] == [return_id]


def test_a_change_after_the_order_moved_on_follows_it_without_reading_it(store: Container) -> None:
    """The change checks the order's version in its own transaction; the failed check hands the
    order back (ReturnValuesOnConditionCheckFailure), and the entry is written after the order's."""
    from chalicelib.services.orders import PaymentEvent

    order_id = _delivered(store)
    command = RequestReturn([("MUG-1", 1)], "changed_mind", "refund")
    requested = store.returns.request(order_id, command, "customer:cus_it", customer_id="cus_it")
    refund = PaymentEvent(str(uuid.uuid4()), order_id, 100, "pi_it", "refunded")
    assert store.orders.payment_event(refund) == "applied"
    moved_to = store.orders.get(order_id).version
    assert requested.order_version < moved_to
    approved = store.returns.approve(requested.id, "agent:a")
    assert approved.order_version == moved_to
    assert store.returns.get(requested.id).status == "approved"  # by its id, through GSI2
    entries, _ = store.orders.timeline(order_id, customer_id=None, limit=100, cursor=None)
    kinds = [entry.kind for entry in entries]
    assert kinds[-3:] == ["return_requested", "refunded", "return_approved"], kinds


def test_noting_the_credit_note_moves_the_version_on_once(store: Container) -> None:
    """The note is written without a version condition, but must never send the version back
    (a version's outbound webhook key, `return.updated` v<n>, would be used twice)."""
    order_id = _delivered(store)
    return_id = _approved(store, order_id, "refund")
    received = store.returns.receive(return_id, None, "agent:a")
    assert received.version == 3  # requested, approved, received
    store.returns.returns.set_credit_note(received, "doc_1", "CN-1")
    store.returns.returns.set_credit_note(received, "doc_2", "CN-2")  # a replay changes nothing
    noted = store.returns.get(return_id)
    assert (noted.version, noted.credit_note_number) == (4, "CN-1")


def test_ten_concurrent_receives_make_exactly_one_replacement(real_store: Container) -> None:
    order_id = _delivered(real_store)
    return_id = _approved(real_store, order_id, "exchange")
    before = real_store.catalog.get("MUG-1").stock
    results, errors = _race(10, lambda i: real_store.returns.receive(return_id, None, f"agent:a{i}"))
    assert not errors, errors
    replacements = {result.replacement_order_id for result in results}
    assert len(replacements) == 1 and None not in replacements
    final = real_store.returns.get(return_id)
    assert final.status == "exchanged" and final.replacement_order_id in replacements
    orders, _ = real_store.orders.list_for_customer("cus_it", limit=100, cursor=None, status=None)
    copies = [order for order in orders if order.replaces_order_id == order_id]
    assert len(copies) == 1 and copies[0].id == final.replacement_order_id
    assert copies[0].status == "paid" and copies[0].payments[0].method == "exchange"
    assert real_store.catalog.get("MUG-1").stock == before + 1  # restocked exactly once


def test_concurrent_requests_never_return_more_than_delivered(real_store: Container) -> None:
    order_id = _delivered(real_store, quantity=2)
    command = RequestReturn([("MUG-1", 1)], "changed_mind", "refund")
    results, errors = _race(
        8, lambda i: real_store.returns.request(order_id, command, "customer:cus_it", customer_id="cus_it")
    )
    assert len(results) == 2, errors
    assert all(isinstance(error, OrderCareError) and error.status in (409, 422) for error in errors), errors
    assert sum(line.quantity for r in real_store.returns.for_order(order_id) for line in r.lines) == 2
    # The tally the requests decided on says the same, and is complete (read with the order).
    _, _, tally = real_store.returns.returns.order_for_request(order_id, ["MUG-1"])
    assert tally.complete and tally.count == 2 and tally.units() == {"MUG-1": 2}


def test_releases_racing_new_requests_never_let_more_than_delivered_go_back(real_store: Container) -> None:
    """A cancel writes its return's line in the tally while new requests decide on the tally they read:
    each line is its own attribute, so neither overwrites the other."""
    order_id = _delivered(real_store, quantity=2)
    command = RequestReturn([("MUG-1", 1)], "changed_mind", "refund")
    first, second = (
        real_store.returns.request(order_id, command, "customer:cus_it", customer_id="cus_it") for _ in range(2)
    )

    def act(i: int) -> object:
        if i == 0:
            return real_store.returns.cancel(first.id, "customer:cus_it", customer_id="cus_it")
        return real_store.returns.request(order_id, command, "customer:cus_it", customer_id="cus_it")

    results, errors = _race(6, act)
    assert all(isinstance(error, OrderCareError) and error.status in (409, 422) for error in errors), errors
    returns, stored = real_store.returns.returns.for_order(order_id)
    taken = len(results) - 1  # besides the cancel: the requests that got the freed unit (0 or 1)
    assert taken in (0, 1) and len(returns) == 2 + taken
    assert sum(r.held_units.get("MUG-1", 0) for r in returns) == 1 + taken <= 2
    assert second.id in {r.id for r in returns if r.held_units}
    assert stored == tally_of(returns)  # the stored tally is exactly what the returns say


def test_two_parcels_received_at_once_refund_the_order_s_shipping_exactly_once(real_store: Container) -> None:
    """Each receipt would find the other parcel still on its way: the tally's receipt counter makes
    the later write decide again, on the other parcel as arrived."""
    for _ in range(3):
        order_id = _delivered(real_store, quantity=2)
        parts = [_approved(real_store, order_id, "refund") for _ in range(2)]  # one mug each, the shop's fault
        _, errors = _race(2, lambda i, parts=parts: real_store.returns.receive(parts[i], None, f"agent:a{i}"))
        assert not errors, errors
        received = [real_store.returns.get(return_id, consistent=True) for return_id in parts]
        assert sorted(ret.shipping_refund > 0 for ret in received) == [False, True]
        order = real_store.orders.get(order_id)
        assert sum(ret.refund_amount or 0 for ret in received) == order.totals.total
        _, _, tally = real_store.returns.returns.order_for_request(order_id, [])
        assert tally.receipts == 2 and tally.knows_what_came_back
