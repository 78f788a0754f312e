"""On DynamoDB Local: order numbers are unique by their conditional claim, an order is
found by its number, the timeline keeps the recorded order within one second, and the
one condition mapper reads real cancellation reasons."""

from __future__ import annotations

import itertools
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.conditions import AlreadyDone, Guarded, condition_failed
from chalicelib.adapters.dynamo.models import OrderNumberItem, TrackingItem
from chalicelib.bootstrap import Container
from chalicelib.domain.order_numbers import parse_order_number
from chalicelib.domain.orders import Payment
from chalicelib.services.orders import CarrierUpdate, IdempotentRequest
from tests.integration.test_order_store import _place, _race

pytestmark = pytest.mark.timeout(240)


def test_fifty_concurrent_placements_get_fifty_distinct_numbers(real_store: Container) -> None:
    results, errors = _race(50, lambda i: _place(real_store))
    assert not errors, errors
    numbers = [real_store.orders.get(result["id"]).number for result in results]
    assert len(set(numbers)) == 50 and all(parse_order_number(n) == n for n in numbers if n)


def test_colliding_draws_under_concurrency_still_end_distinct(real_store: Container) -> None:
    """Every thread first draws the same number: only one claim wins, the rest draw again."""
    lock = threading.Lock()
    fresh = itertools.cycle(["AAAA-AAA5", "BBBB-BBBC", "CCCC-CCC3", "DDDD-DDDU", "EEEE-EEEM"])
    tried: set[int] = set()

    def draw() -> str:
        with lock:
            me = threading.get_ident()
            if me not in tried:
                tried.add(me)
                return "K7QM-R3TE"
            return next(fresh)

    real_store.orders.numbers = draw
    results, errors = _race(5, lambda i: _place(real_store))
    assert not errors, errors
    numbers = [real_store.orders.get(result["id"]).number for result in results]
    assert len(set(numbers)) == 5 and "K7QM-R3TE" in numbers
    assert OrderNumberItem.get("ORDERNO#K7QM-R3TE", "#ORDERNO").order_id in {r["id"] for r in results}


def test_an_order_is_found_by_its_number_in_one_query(real_store: Container) -> None:
    order_id = _place(real_store)["id"]
    order = real_store.orders.get(order_id)
    assert order.number is not None
    found = real_store.orders.find_by_number(order.number.lower().replace("-", ""))
    assert found is not None and found.id == order_id
    assert real_store.orders.find_by_number(order.number, customer_id="cus_other") is None


class Frozen:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def test_walk_through_within_one_second_keeps_its_order(real_store: Container) -> None:
    moment = datetime.now(UTC).replace(microsecond=0)
    real_store.orders.clock = Frozen(moment)
    order_id = _place(real_store)["id"]
    order = real_store.orders.get(order_id)
    payment = Payment(order.totals.total, "card", "pi_frozen", moment)
    real_store.orders.pay(order_id, payment, IdempotentRequest("web", "k", {}), "storefront:web", lambda o: {})
    real_store.orders.start_processing(order_id, "agent:a")
    _, shipment = real_store.orders.ship(order_id, "dhl", f"T{uuid.uuid4().hex[:10]}", None, "agent:a")
    real_store.orders.carrier_event(CarrierUpdate("e1", shipment.tracking_number, "delivered", moment, None))
    kinds: list[str] = []
    cursor = None
    while True:  # two at a time: the cursor pages across the version keys
        entries, cursor = real_store.orders.timeline(order_id, customer_id=None, limit=2, cursor=cursor)
        kinds += [e.kind if e.kind != "status_changed" else e.data["to"] for e in entries]
        if cursor is None:
            break
    assert kinds == ["placed", "paid", "processing", "shipped", "shipment_created", "carrier_event", "delivered"]


def _tracking(number: str) -> TrackingItem:
    return TrackingItem(pk=f"TRACKING#{number}", sk="#TRACKING", type="tracking", order_id="o", shipment_id="s")


def test_condition_mapper_reads_single_writes_and_transactions(real_store: Container) -> None:
    number = uuid.uuid4().hex
    _tracking(number).save()
    with pytest.raises(PutError) as single:
        _tracking(number).save(condition=TrackingItem.pk.does_not_exist())
    assert condition_failed(single.value)
    # A transaction whose items pynamodb reorders (puts before updates, deletes first):
    # the mapper still names the item whose condition failed.
    connection: Any = real_store.orders.orders.connection()  # type: ignore[attr-defined]
    with pytest.raises(TransactWriteError) as failed, TransactWrite(connection=connection) as transaction:
        guarded = Guarded(transaction)
        guarded.update(
            _tracking(f"other{number}"),
            [TrackingItem.order_id.set("x")],
            condition=TrackingItem.pk.does_not_exist(),
            error=lambda: LookupError("update"),
        )
        guarded.save(_tracking(number), condition=TrackingItem.pk.does_not_exist(), error=AlreadyDone)
    assert isinstance(guarded.map(failed.value), AlreadyDone)
