"""The same order-store contract on the in-memory fakes (tests/fakes.py), moto and DynamoDB Local,
plus races that only the fake's lock and a real database's transactions answer correctly."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.dynamo.models import CatalogItemModel
from chalicelib.adapters.dynamo.repositories import ITEM_SK, sku_pk
from chalicelib.bootstrap import Adapters, Container, SystemClock, build_container, dynamo_adapters
from chalicelib.domain.accuracy import CatalogExpectation, check_order
from chalicelib.domain.address import Address
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.orders import Customer, Order, OrderLine, OrderOnHoldError, Payment
from chalicelib.services.orders import CarrierUpdate, IdempotentRequest, PlaceOrder
from chalicelib.services.ports import (
    CatalogChangedError,
    DuplicateEventError,
    Effects,
    IdempotencyKeyTakenError,
    StaleVersionError,
    StockShortError,
    StoredResponse,
    TrackingNumberTakenError,
)
from chalicelib.settings import Settings
from tests.fakes import InMemoryCatalogRepository, memory_adapters

SUPPORTED = Settings().supported_countries

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(params=["memory", "moto", "dynamodb_local"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    """A container wired to a fresh table on the chosen backend."""
    from chalicelib.adapters.dynamo.schema import ensure_table

    if request.param == "memory":
        yield _container("unused", memory=True)
    elif request.param == "moto":
        with mock_aws():
            ensure_table(boto3.client("dynamodb", region_name="eu-central-1"), "it-moto")
            yield _container("it-moto")
    else:
        endpoint = request.getfixturevalue("dynamodb_local_endpoint")
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        yield _container(request.getfixturevalue("table_name"))


@pytest.fixture(params=["memory", "dynamodb_local"])
def real_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Container:
    """Not moto: its transactions are not atomic across threads, so races (and their
    one-winner guarantee) are tested on the fake (a lock) and the real engine."""
    if request.param == "memory":
        return _container("unused", memory=True)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", request.getfixturevalue("dynamodb_local_endpoint"))
    return _container(request.getfixturevalue("table_name"))


def _container(table: str, *, memory: bool = False) -> Container:
    settings = Settings(table_name=table, region="eu-central-1")
    container = build_container(settings, adapters=memory_adapters() if memory else None)
    for sku, price, stock in (("MUG-1", 1299, 100), ("BOOK-1", 2500, 3)):
        container.catalog.upsert(CatalogItem(sku, sku.title(), price, "EUR", stock, 1900))
    return container


def _place(container: Container, key: str | None = None, quantity: int = 2, sku: str = "MUG-1") -> dict[str, Any]:
    price = container.catalog.get(sku).unit_price
    command = PlaceOrder(
        customer=Customer("cus_it", "it@example.com", "Integration", None, "de-DE"),
        currency="EUR",
        lines=[(sku, quantity, price)],
        shipping_address=Address("Integration", "Hauptstr. 1", "Berlin", "10115", "DE"),
        shipping_method="standard",
        shipping_fee=499,
        discounts=[],
    )
    body = {"sku": sku, "quantity": quantity}
    request = IdempotentRequest("web", key or str(uuid.uuid4()), body)
    _, response = container.orders.place(command, request, "storefront:web", lambda order: {"id": order.id})
    return response


def _pay(container: Container, order_id: str, key: str | None = None) -> Any:
    order = container.orders.get(order_id)
    payment = Payment(order.totals.total, "card", f"pi_{uuid.uuid4().hex[:8]}", datetime.now(UTC))
    request = IdempotentRequest("web", key or str(uuid.uuid4()), {"order_id": order_id})
    return container.orders.pay(order_id, payment, request, "storefront:web", lambda o: {"status": str(o.status)})


def _processing(container: Container, quantity: int = 2, sku: str = "MUG-1") -> str:
    order_id = _place(container, quantity=quantity, sku=sku)["id"]
    _pay(container, order_id)
    container.orders.start_processing(order_id, "agent:a")
    return str(order_id)


def test_lifecycle_round_trip(store: Container) -> None:
    order_id = _processing(store)
    order, shipment = store.orders.ship(order_id, "dhl", f"T{uuid.uuid4().hex[:10]}", None, "agent:a")
    assert order.status == "shipped" and order.version == 4
    update = CarrierUpdate("ev-1", shipment.tracking_number, "delivered", datetime.now(UTC), None)
    assert store.orders.carrier_event(update) == "applied"
    assert store.orders.carrier_event(update) == "duplicate"
    final = store.orders.get(order_id)
    assert final.status == "delivered" and final.deliver_by_met is True
    entries, _ = store.orders.timeline(order_id, customer_id="cus_it", limit=100, cursor=None)
    assert [e.kind for e in entries][:2] == ["placed", "status_changed"]
    assert store.catalog.get("MUG-1").stock == 98


def test_pagination_with_real_cursors(store: Container) -> None:
    ids = [_place(store)["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        orders, cursor = store.orders.list_for_customer("cus_it", limit=2, cursor=cursor, status=None)
        seen += [order.id for order in orders]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    timeline: list[str] = []
    cursor = None
    while True:
        entries, cursor = store.orders.timeline(ids[0], customer_id=None, limit=1, cursor=cursor)
        timeline += [entry.kind for entry in entries]
        if cursor is None:
            break
    assert timeline == ["placed"]


def _race(workers: int, task: Any) -> tuple[list[Any], list[Exception]]:
    """`task(i)` on `workers` threads released at once (a barrier: the first must not be done
    before the last has started), each one's result or exception."""
    start = threading.Barrier(workers)

    def raced(index: int) -> Any:
        start.wait(timeout=30)
        return task(index)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(raced, index) for index in range(workers)]
    results, errors = [], []
    for future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
    return results, errors


def test_sixteen_threads_ship_the_same_order_once(real_store: Container) -> None:
    order_id = _processing(real_store, quantity=3, sku="BOOK-1")
    results, errors = _race(
        16,
        lambda i: real_store.orders.ship(order_id, "dhl", f"RACE{i:02d}{uuid.uuid4().hex[:6]}", None, "agent:a"),
    )
    assert len(results) == 1, errors
    assert len(errors) == 15 and all(isinstance(error, ConflictError) for error in errors), errors
    order = real_store.orders.get(order_id)
    assert order.status == "shipped" and len(order.shipments) == 1
    assert real_store.catalog.get("BOOK-1").stock == 0  # 3 taken out, exactly once


def test_sixteen_threads_one_scan_the_same_paid_order_once(real_store: Container) -> None:
    """The one-scan path writes with the lines' checks as conditions: the winner takes the last
    units out; the losers see a changed order (never a hold for the stock the winner took)."""
    order_id = _place(real_store, quantity=3, sku="BOOK-1")["id"]
    _pay(real_store, order_id)
    results, errors = _race(
        16,
        lambda i: real_store.orders.ship(order_id, "dhl", f"SCAN{i:02d}{uuid.uuid4().hex[:6]}", None, "agent:a"),
    )
    assert len(results) == 1, errors
    assert len(errors) == 15 and all(isinstance(error, ConflictError) for error in errors), errors
    order = real_store.orders.get(order_id)
    assert order.status == "shipped" and len(order.shipments) == 1 and order.holds == []
    assert real_store.catalog.get("BOOK-1").stock == 0


def test_concurrent_payments_one_winner(real_store: Container) -> None:
    order_id = _place(real_store)["id"]
    results, errors = _race(8, lambda i: _pay(real_store, order_id))
    assert len(results) == 1 and len(errors) == 7
    assert all(isinstance(error, ConflictError) for error in errors)
    order = real_store.orders.get(order_id)
    assert order.status == "paid" and len(order.payments) == 1


def test_same_idempotency_key_from_many_threads_places_one_order(real_store: Container) -> None:
    key = str(uuid.uuid4())
    results, errors = _race(8, lambda i: _place(real_store, key=key))
    assert not errors, errors
    assert len({result["id"] for result in results}) == 1
    orders, _ = real_store.orders.list_for_customer("cus_it", limit=100, cursor=None, status=None)
    assert len(orders) == 1


@pytest.fixture(params=["memory", "dynamodb_local"])
def repository(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Adapters:
    """The bare repositories (no service in front), fake or DynamoDB Local."""
    if request.param == "memory":
        return memory_adapters()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", request.getfixturevalue("dynamodb_local_endpoint"))
    from chalicelib.adapters.dynamo import models

    models.configure(request.getfixturevalue("table_name"), "eu-central-1")
    return dynamo_adapters(Settings(), SystemClock())


def test_every_write_condition_maps_to_its_domain_error(repository: Adapters) -> None:
    """The OrderRepository contract of chalicelib/services/ports.py, condition by condition."""
    orders, now = repository.orders, datetime.now(UTC)
    repository.catalog.put(CatalogItem("MUG-1", "Mug", 1299, "EUR", 2, 1900, now))
    order = Order.place(
        order_id=f"ord_{uuid.uuid4().hex}",
        customer=Customer("cus_contract", "c@example.com", "C", None, "de-DE"),
        currency="EUR",
        lines=[OrderLine("MUG-1", 1, 1299, 1900, "Mug")],
        shipping_address=Address("C", "Hauptstr. 1", "Berlin", "10115", "DE"),
        shipping_method="standard",
        shipping_fee=0,
        discounts=[],
        placed_at=now,
        ship_by=now + timedelta(days=2),
        deliver_by=now + timedelta(days=5),
        holds=[],
        actor="test",
    )
    response = StoredResponse("web", f"k-{uuid.uuid4().hex}", "h", 201, {"ok": True}, now + timedelta(hours=1))
    orders.add(order, response)
    assert order.version == 1 and not order.events
    kept = repository.idempotency.get("web", response.key)
    assert kept is not None and (kept.request_hash, kept.status_code, kept.body) == ("h", 201, {"ok": True})
    with pytest.raises(StaleVersionError):  # the same id again
        orders.add(replace(order, version=0), None)
    stored = orders.get(order.id)
    assert stored is not None and stored.version == 1 and sum(line.quantity for line in stored.lines) == 1
    other = replace(response, key=f"k-{uuid.uuid4().hex}")
    event = f"evt-{uuid.uuid4().hex}"
    number = f"T{uuid.uuid4().hex[:10]}"
    orders.save(stored, Effects(response=other, event_key=event, tracking={number: "shp_1"}, stock={"MUG-1": 1}))
    assert stored.version == 2 and orders.event_seen(event) and orders.order_id_for_tracking(number) == order.id
    assert _stock(repository) == 1
    stale = replace(stored, version=1)
    with pytest.raises(StaleVersionError):
        orders.save(stale, Effects())
    for effects, error in (
        (Effects(response=other), IdempotencyKeyTakenError),
        (Effects(event_key=event), DuplicateEventError),
        (Effects(tracking={number: "shp_2"}), TrackingNumberTakenError),
        (Effects(stock={"MUG-1": 2}), StockShortError),
    ):
        current = orders.get(order.id)
        assert current is not None
        with pytest.raises(error):
            orders.save(current, effects)
        assert _version(repository, order.id) == 2  # nothing of a failed write is kept
    assert _stock(repository) == 1
    first, page = orders.timeline(order.id, limit=10, start=None)
    assert first is not None and first.id == order.id and [entry.kind for entry in page.items] == ["placed"]
    listed = orders.list_for_customer("cus_contract", limit=10, start=None, status=None)
    assert [o.id for o in listed.items] == [order.id] and listed.last_key is None


def _stock(repository: Adapters) -> int:
    item = repository.catalog.get("MUG-1")
    assert item is not None
    return item.stock


def _version(repository: Adapters, order_id: str) -> int:
    order = repository.orders.get(order_id)
    assert order is not None
    return order.version


# --- the lines' accuracy checks as conditions of the write (Effects.catalog) -------------------------


def _remove_sku(container: Container, sku: str) -> None:
    """A SKU taken out of the catalogue (the API has no route for it)."""
    repository = container.orders.catalog
    if isinstance(repository, InMemoryCatalogRepository):
        del repository.store.catalog[sku]
    else:
        CatalogItemModel(pk=sku_pk(sku), sk=ITEM_SK).delete()


def test_catalogue_conditions_cancel_the_write_and_name_the_sku(store: Container) -> None:
    """Each condition on its own (item exists, currency, unit price, stock), alone or joined to the
    stock update of a shipment: the engine's cancellation reasons map to CatalogChangedError for
    that SKU, and nothing of the write is kept."""
    order_id = _place(store, quantity=2)["id"]
    _pay(store, order_id)
    repository = store.orders.orders
    mug, book = CatalogExpectation(2, ("EUR", 1299)), CatalogExpectation(3, ("EUR", 2500))
    failing = [
        replace(mug, price=("EUR", 1300)),
        replace(mug, price=("USD", 1299)),
        replace(mug, min_stock=101),
    ]
    cases = [
        *(Effects(catalog={"MUG-1": expected, "BOOK-1": book}) for expected in failing),  # condition checks
        *(Effects(catalog={"MUG-1": expected, "BOOK-1": book}, stock={"MUG-1": 2}) for expected in failing),
        Effects(catalog={"MUG-1": mug, "BOOK-1": book}, stock={"MUG-1": 101}),  # the stock update's own condition
    ]
    for effects in cases:
        current = store.orders.get(order_id)
        with pytest.raises(CatalogChangedError) as failed:
            repository.save(current, effects)
        assert failed.value.skus == ["MUG-1"], effects
        assert store.orders.get(order_id).version == 2 and store.catalog.get("MUG-1").stock == 100
    # A waived price is no condition; both items meet theirs: written, stock taken once.
    current = store.orders.get(order_id)
    repository.save(current, Effects(catalog={"MUG-1": replace(mug, price=None), "BOOK-1": book}, stock={"MUG-1": 2}))
    assert store.orders.get(order_id).version == 3 and store.catalog.get("MUG-1").stock == 98
    _remove_sku(store, "BOOK-1")
    current = store.orders.get(order_id)
    with pytest.raises(CatalogChangedError) as failed:
        repository.save(current, Effects(catalog={"BOOK-1": replace(book, price=None)}))
    assert failed.value.skus == ["BOOK-1"] and store.orders.get(order_id).version == 3
    # The item is gone for a stock update too, and a stale version still reads as a conflict.
    with pytest.raises(CatalogChangedError):
        repository.save(current, Effects(catalog={"BOOK-1": book}, stock={"BOOK-1": 1}))
    with pytest.raises(ConflictError):
        repository.save(replace(current, version=1), Effects(catalog={"MUG-1": replace(mug, min_stock=1)}))


@pytest.mark.parametrize("one_scan", [False, True], ids=["processing", "one-scan shipment"])
def test_a_changed_catalogue_puts_check_orders_holds(store: Container, one_scan: bool) -> None:
    """Against each backend's real conditions: a price changed, stock short, a SKU removed → the
    holds check_order words from a fresh read, and no stock moves."""
    for change in ("price", "stock", "removed"):
        order_id = _place(store, quantity=2, sku="BOOK-1")["id"]
        _pay(store, order_id)
        if change == "price":
            store.catalog.upsert(CatalogItem("BOOK-1", "Book-1", 2600, "EUR", 3, 1900))
        elif change == "stock":
            store.catalog.upsert(CatalogItem("BOOK-1", "Book-1", 2500, "EUR", 1, 1900))
        else:
            _remove_sku(store, "BOOK-1")
        before = store.orders.catalog.get_many(["BOOK-1"])
        order = store.orders.get(order_id)
        expected = check_order(order.lines, before, "EUR", order.shipping_address, SUPPORTED)
        with pytest.raises(OrderOnHoldError):
            if one_scan:
                store.orders.ship(order_id, "dhl", f"T{uuid.uuid4().hex[:10]}", None, "agent:a")
            else:
                store.orders.start_processing(order_id, "agent:a")
        held = store.orders.get(order_id)
        assert held.status == "paid" and held.holds == expected and expected, change
        assert held.shipments == [] and store.orders.catalog.get_many(["BOOK-1"]) == before
        store.catalog.upsert(CatalogItem("BOOK-1", "Book-1", 2500, "EUR", 3, 1900))  # as it was


def test_an_idempotency_record_is_read_with_the_catalogue(store: Container) -> None:
    idempotency, key = store.orders.idempotency, str(uuid.uuid4())
    stored, catalog = idempotency.get_with_catalog("web", key, ["MUG-1", "NOPE-1", "MUG-1"])
    assert stored is None and list(catalog) == ["MUG-1"] and catalog["MUG-1"].unit_price == 1299
    placed = _place(store, key=key)
    stored, catalog = idempotency.get_with_catalog("web", key, ["BOOK-1"])
    assert stored is not None and stored.body == placed and stored.status_code == 201
    assert list(catalog) == ["BOOK-1"]
    # More SKUs than one BatchGetItem takes (100 keys, the record's among them): every one comes back.
    skus = [f"SKU-{n:03d}" for n in range(120)]
    for sku in skus:
        store.catalog.upsert(CatalogItem(sku, sku, 100, "EUR", 1, 1900))
    stored, catalog = idempotency.get_with_catalog("web", key, skus)
    assert stored is not None and sorted(catalog) == skus
