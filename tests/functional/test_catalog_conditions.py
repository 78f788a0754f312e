"""Order writes in at most two DynamoDB round trips (QUALITY.md), on moto through the real app.

Processing and the one-scan shipment carry the lines' accuracy checks as conditions of their
write instead of reading the catalogue; when the catalogue no longer meets one, the change runs
again the old way (read, check_order, save), so the holds and their wording are check_order's.
A retried placement is answered from the idempotency record read with its catalogue.
"""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import boto3
import pytest

from bench.round_trips import counting
from chalicelib.adapters.dynamo.repositories import ITEM_SK, sku_pk
from chalicelib.domain.accuracy import check_lines
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.orders import OrderLine
from tests.functional.conftest import CATALOG, Api, order_body
from tests.functional.test_lifecycle_api import pay, place, staff

TABLE = "ordercare-test"
FALLBACK = Counter({"GetItem": 2, "BatchGetItem": 1, "TransactWriteItems": 2})  # cancelled write, then the old path


def _put(api: Api, sku: str, **changes: Any) -> dict[str, Any]:
    item = {**CATALOG[sku], **changes}
    assert api.call("PUT", f"/v1/catalog/{sku}", item, role="admin").status_code == 200
    return item


def _remove(sku: str) -> None:
    """A SKU taken out of the catalogue (no route deletes one: a feed would)."""
    boto3.client("dynamodb").delete_item(TableName=TABLE, Key={"pk": {"S": sku_pk(sku)}, "sk": {"S": ITEM_SK}})


def _holds_check_order_finds(order: dict[str, Any], catalog: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The holds the catalogue-reading path words for this order against `catalog` (sku → item body)."""
    items = {
        sku: CatalogItem(sku, v["name"], v["unit_price"], v["currency"], v["stock"], v["tax_rate_bps"])
        for sku, v in catalog.items()
    }
    lines = [OrderLine(line["sku"], line["quantity"], line["unit_price"], 0) for line in order["lines"]]
    return [{"code": h.code, "detail": h.detail, "sku": h.sku} for h in check_lines(lines, items, order["currency"])]


def _holds(api: Api, order_id: str) -> tuple[str, list[dict[str, Any]]]:
    current = api.call("GET", f"/v1/orders/{order_id}", role="agent", sub="agt_1").data
    return current["status"], [
        {"code": h["code"], "detail": h["detail"], "sku": h.get("sku")} for h in current["holds"]
    ]


def _scan(api: Api, order: dict[str, Any]) -> Any:
    body = {"carrier": "dhl", "tracking_number": f"CC{uuid.uuid4().hex[:12]}"}
    return staff(api, f"/v1/orders/{order['id']}/shipments", body)


def _process(api: Api, order: dict[str, Any]) -> Any:
    return staff(api, f"/v1/orders/{order['id']}/processing")


def _paid(api: Api, lines: list[dict[str, Any]]) -> dict[str, Any]:
    order = place(api, lines=lines)
    assert order["holds"] == [] and pay(api, order).status_code == 201
    return order


MUG_AND_BOOK = [
    {"sku": "MUG-1", "quantity": 2, "unit_price": 1299},
    {"sku": "BOOK-1", "quantity": 5, "unit_price": 2500},
]
CHANGES = {  # what happened to the catalogue between placement and the agent's step → the hold codes
    "price changed": (lambda api: _put(api, "MUG-1", unit_price=1499), ["price_mismatch"]),
    "currency changed": (lambda api: _put(api, "MUG-1", currency="USD"), ["price_mismatch"]),
    "stock short": (lambda api: _put(api, "BOOK-1", stock=4), ["insufficient_stock"]),
    "SKU removed": (lambda api: _remove("MUG-1"), ["unknown_sku"]),
    "price and stock": (
        lambda api: (_put(api, "MUG-1", unit_price=1, stock=1), _put(api, "BOOK-1", stock=0)),
        ["price_mismatch", "insufficient_stock", "insufficient_stock"],
    ),
}


def _catalog_now(api: Api) -> dict[str, dict[str, Any]]:
    catalog = {}
    for sku in CATALOG:
        response = api.call("GET", f"/v1/catalog/{sku}", role="admin")
        if response.status_code == 200:
            catalog[sku] = response.data
    return catalog


@pytest.mark.parametrize("step", [_process, _scan], ids=["processing", "one-scan shipment"])
@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
def test_a_catalogue_that_changed_puts_the_same_holds_as_reading_it(api: Api, step: Any, change: str) -> None:
    order = _paid(api, MUG_AND_BOOK)
    alter, codes = CHANGES[change]
    alter(api)
    catalog = _catalog_now(api)
    with counting() as calls:
        response = step(api, order)
    assert response.status_code == 409, response.data
    assert response.data["error"]["code"] == "order_on_hold"
    assert [d["code"] for d in response.data["error"]["details"]] == codes
    assert calls == FALLBACK  # the conditional write was cancelled; nothing of it was kept
    status, holds = _holds(api, order["id"])
    assert status == "paid" and holds == _holds_check_order_finds(order, catalog)
    assert _catalog_now(api) == catalog  # no stock taken out
    current = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="agt_1").data
    assert current["shipments"] == [] and current["version"] == 3  # placed, paid, put on hold


@pytest.mark.parametrize("step", [_process, _scan], ids=["processing", "one-scan shipment"])
def test_a_catalogue_that_still_matches_costs_two_round_trips(api: Api, step: Any) -> None:
    order = _paid(api, MUG_AND_BOOK)  # BOOK-1: all 5 in stock, the edge of the condition
    with counting() as calls:
        response = step(api, order)
    assert response.status_code in (200, 201), response.data
    assert calls == Counter({"GetItem": 1, "TransactWriteItems": 1})
    assert response.data["holds"] == [] and response.data["processing_at"] is not None
    shipped = step is _scan
    assert response.data["status"] == ("shipped" if shipped else "processing")
    stock = {sku: item["stock"] for sku, item in _catalog_now(api).items()}
    assert stock == ({"MUG-1": 98, "BOOK-1": 0} if shipped else {"MUG-1": 100, "BOOK-1": 5})


def test_a_waived_price_is_not_a_condition(api: Api) -> None:
    order = place(api, lines=[{"sku": "MUG-1", "quantity": 1, "unit_price": 999}])
    assert pay(api, order).status_code == 201
    release = staff(api, f"/v1/orders/{order['id']}/holds/price_mismatch/release", {"reason": "promo price agreed"})
    assert release.status_code == 200, release.data
    with counting() as calls:
        response = _scan(api, order)
    assert response.status_code == 201, response.data
    assert calls == Counter({"GetItem": 1, "TransactWriteItems": 1})  # the waived check did not fail the write
    assert _catalog_now(api)["MUG-1"]["stock"] == 99


def test_a_partial_one_scan_checks_the_lines_it_leaves_behind(api: Api) -> None:
    body = {"carrier": "dhl", "lines": [{"sku": "MUG-1", "quantity": 2}]}
    order = _paid(api, MUG_AND_BOOK)
    with counting() as calls:
        response = staff(api, f"/v1/orders/{order['id']}/shipments", {**body, "tracking_number": "PART-1"})
    assert response.status_code == 201 and response.data["status"] == "partially_shipped", response.data
    assert calls == Counter({"GetItem": 1, "TransactWriteItems": 1})
    assert {sku: item["stock"] for sku, item in _catalog_now(api).items()} == {"MUG-1": 98, "BOOK-1": 5}
    held = _paid(api, MUG_AND_BOOK)
    _put(api, "BOOK-1", unit_price=2600)  # not in this parcel, but processing checks every line
    response = staff(api, f"/v1/orders/{held['id']}/shipments", {**body, "tracking_number": "PART-2"})
    assert response.status_code == 409 and [d["code"] for d in response.data["error"]["details"]] == ["price_mismatch"]
    assert _catalog_now(api)["MUG-1"]["stock"] == 98


def _place_keyed(api: Api, key: str, body: dict[str, Any]) -> Any:
    return api.call("POST", "/v1/orders", body, role="storefront", sub="web", headers={"Idempotency-Key": key})


def test_order_writes_cost_at_most_two_round_trips(api: Api) -> None:
    """The budget of each order write route, counted at botocore as bench/round_trips.py counts."""
    key, body = str(uuid.uuid4()), order_body()
    with counting() as placing:
        first = _place_keyed(api, key, body)
    with counting() as replaying:
        again = _place_keyed(api, key, body)
    with counting() as reusing:
        reused = _place_keyed(api, key, {**body, "shipping_fee": 1})
    assert first.status_code == again.status_code == 201 and again.data == first.data
    assert reused.status_code == 409 and reused.data["error"]["code"] == "idempotency_key_reused"
    order = first.data
    with counting() as paying:
        assert pay(api, order).status_code == 201
    with counting() as processing:
        assert _process(api, order).status_code == 200
    with counting() as shipping:
        assert _scan(api, order).status_code == 201
    scanned = _paid(api, MUG_AND_BOOK)
    with counting() as one_scan:
        assert _scan(api, scanned).status_code == 201
    assert placing == Counter({"BatchGetItem": 1, "TransactWriteItems": 1})  # catalogue + idempotency, one read
    assert replaying == reusing == Counter({"BatchGetItem": 1})  # answered from the record read with it
    for calls in (paying, processing, shipping, one_scan):
        assert calls == Counter({"GetItem": 1, "TransactWriteItems": 1})


def test_a_retry_racing_its_first_attempt_is_answered_from_the_record(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry read before the first attempt wrote: its own write fails on the key, and the
    record is read then (today's fallback)."""
    from chalicelib.adapters.dynamo.repositories import DynamoIdempotencyStore

    key, body = str(uuid.uuid4()), order_body()
    first = _place_keyed(api, key, body)
    read_together = DynamoIdempotencyStore.get_with_catalog
    monkeypatch.setattr(
        DynamoIdempotencyStore,
        "get_with_catalog",
        lambda self, principal, key, skus: (None, read_together(self, principal, key, skus)[1]),
    )
    with counting() as calls:
        again = _place_keyed(api, key, body)
    assert again.status_code == 201 and again.data == first.data
    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 1, "GetItem": 1})
    other = _place_keyed(api, key, {**body, "shipping_fee": 1})
    assert other.status_code == 409 and other.data["error"]["code"] == "idempotency_key_reused"
    orders = api.call("GET", "/v1/orders", role="customer", sub=body["customer"]["id"]).data["items"]
    assert [o["id"] for o in orders] == [first.data["id"]]
