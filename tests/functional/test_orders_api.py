from __future__ import annotations

import uuid

from chalicelib.api.schemas import OrderListOut, OrderOut
from tests.functional.conftest import Api, order_body


def place(api: Api, body: dict | None = None, key: str | None = None):  # type: ignore[type-arg]
    return api.call(
        "POST",
        "/v1/orders",
        body or order_body(),
        role="storefront",
        sub="web",
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def test_place_order_returns_the_contract_fields(api: Api) -> None:
    response = place(api)
    assert response.status_code == 201, response.data
    order = OrderOut.model_validate(response.data)
    assert order.id.startswith("ord_") and order.status == "placed"
    assert order.customer_id == "cus_alice" and order.currency == "EUR"
    assert order.subtotal == 2598 and order.discount_total == 200 and order.shipping_fee == 499
    assert order.total == order.subtotal - order.discount_total + order.shipping_fee + order.tax_total
    assert order.tax_total == 550  # 19 % of (2598 − 200 + 499) = 550.43
    assert order.lines[0].tax_rate_bps == 1900 and order.lines[0].line_total == 2598
    assert order.holds == [] and order.shipments == [] and order.version == 1
    assert order.ship_by.endswith("Z") and order.deliver_by > order.ship_by
    assert order.tracking_url.startswith("http://127.0.0.1:8000/track/")


def test_order_is_readable_by_owner_and_staff_not_others(api: Api) -> None:
    order_id = place(api).data["id"]
    for role, sub in (("customer", "cus_alice"), ("agent", "agt_1"), ("admin", "adm"), ("storefront", "web")):
        response = api.call("GET", f"/v1/orders/{order_id}", role=role, sub=sub)
        assert response.status_code == 200, (role, response.data)
        assert response.data["id"] == order_id
    other = api.call("GET", f"/v1/orders/{order_id}", role="customer", sub="cus_mallory")
    missing = api.call("GET", "/v1/orders/ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", role="customer", sub="cus_mallory")
    assert other.status_code == missing.status_code == 404
    assert other.data == missing.data  # nothing tells the two apart


def test_same_key_same_body_replays_and_other_body_conflicts(api: Api) -> None:
    key = str(uuid.uuid4())
    first = place(api, key=key)
    again = place(api, key=key)
    assert first.status_code == again.status_code == 201
    assert again.data == first.data
    changed = place(api, order_body(shipping_method="express"), key=key)
    assert changed.status_code == 409
    assert changed.data["error"]["code"] == "idempotency_key_reused"
    listed = api.call("GET", "/v1/orders", role="customer", sub="cus_alice")
    assert [o["id"] for o in listed.data["items"]] == [first.data["id"]]


def test_idempotency_key_is_required(api: Api) -> None:
    response = api.call("POST", "/v1/orders", order_body(), role="storefront", sub="web")
    assert response.status_code == 422
    assert response.data["error"]["code"] == "idempotency_key_required"


def test_accuracy_failures_become_holds(api: Api) -> None:
    body = order_body(
        lines=[
            {"sku": "NOPE-1", "quantity": 1, "unit_price": 100},
            {"sku": "MUG-1", "quantity": 1, "unit_price": 999},
            {"sku": "BOOK-1", "quantity": 6, "unit_price": 2500},
        ],
        shipping_address={
            "name": "A",
            "line1": "x",
            "city": "Berlin",
            "postal_code": "1011",
            "country": "DE",
        },
    )
    response = place(api, body)
    assert response.status_code == 201, response.data
    codes = [hold["code"] for hold in response.data["holds"]]
    assert codes == ["unknown_sku", "price_mismatch", "insufficient_stock", "invalid_address"]


def test_unknown_and_server_owned_fields_are_rejected(api: Api) -> None:
    for extra in ({"status": "paid"}, {"total": 1}, {"id": "ord_x"}, {"surprise": True}):
        response = place(api, order_body(**extra))
        assert response.status_code == 422, extra
        assert response.data["error"]["code"] == "validation_error"
        assert next(iter(extra)) in response.data["error"]["message"]


def test_bad_input_gets_clear_errors_never_500(api: Api) -> None:
    headers = {"Idempotency-Key": "k1"}
    malformed = api.call("POST", "/v1/orders", raw=b"{not json", role="storefront", headers=headers)
    assert malformed.status_code == 400 and malformed.data["error"]["code"] == "malformed_json"
    huge = api.call("POST", "/v1/orders", raw=b" " * (64 * 1024 + 1), role="storefront", headers=headers)
    assert huge.status_code == 413
    for body in (
        order_body(lines=[]),
        order_body(lines=[{"sku": "MUG-1", "quantity": 1.5, "unit_price": 1299}]),
        order_body(lines=[{"sku": "MUG-1", "quantity": 1, "unit_price": "12.99"}]),
        order_body(lines=[{"sku": "MUG-1", "quantity": 1, "unit_price": 1299}] * 2),
        order_body(shipping_method="teleport"),
        order_body(discounts=[{"code": "X", "amount": 10**6}]),
        order_body(customer={"id": "c", "email": "not-an-email", "name": "A"}),
        order_body(customer={"id": "c", "email": "a@example.com", "name": "A", "phone": "+49123"}),
        [1, 2, 3],
        "text",
    ):
        response = place(api, body)  # type: ignore[arg-type]
        assert response.status_code == 422, (body, response.data)
        assert response.data["error"]["message"]


def test_list_orders_newest_first_with_pagination_and_filter(api: Api) -> None:
    ids = [place(api).data["id"] for _ in range(5)]
    page = api.call("GET", "/v1/orders?limit=2", role="customer", sub="cus_alice")
    assert page.status_code == 200
    OrderListOut.model_validate(page.data)
    seen = [o["id"] for o in page.data["items"]]
    cursor = page.data["next_cursor"]
    while cursor:
        page = api.call("GET", f"/v1/orders?limit=2&cursor={cursor}", role="customer", sub="cus_alice")
        seen += [o["id"] for o in page.data["items"]]
        cursor = page.data["next_cursor"]
    assert seen == list(reversed(ids))
    assert api.call("GET", "/v1/orders?status=paid", role="customer", sub="cus_alice").data["items"] == []
    staff = api.call("GET", "/v1/orders?customer_id=cus_alice&limit=100", role="agent", sub="a")
    assert len(staff.data["items"]) == 5
    mallory = api.call("GET", "/v1/orders?customer_id=cus_alice", role="customer", sub="cus_mallory")
    assert mallory.status_code == 200 and mallory.data["items"] == []


def test_list_rejects_bad_query(api: Api) -> None:
    for query in ("limit=0", "limit=101", "limit=x", "status=lost", "cursor=garbage!"):
        response = api.call("GET", f"/v1/orders?{query}", role="customer", sub="cus_alice")
        assert response.status_code == 422, query
    assert api.call("GET", "/v1/orders", role="agent", sub="a").status_code == 422
    assert api.call("GET", "/v1/orders", role="storefront", sub="web").status_code == 403


def test_staff_list_the_orders_of_an_address_whoever_placed_them(api: Api) -> None:
    customer = order_body()["customer"]
    guest = {**customer, "id": "cus_guest_1", "email": "  Alice@Example.COM "}  # a guest checkout, the same person
    ids = [place(api).data["id"], place(api, order_body(customer=guest)).data["id"], place(api).data["id"]]
    place(api, order_body(customer={**customer, "id": "cus_bob", "email": "bob@example.com"}))
    seen: list[str] = []
    cursor: str | None = ""
    while cursor is not None:
        page = api.call("GET", f"/v1/orders?email=ALICE%40example.com&limit=2{cursor}", role="agent", sub="a")
        assert page.status_code == 200, page.data
        OrderListOut.model_validate(page.data)
        seen += [o["id"] for o in page.data["items"]]
        cursor = f"&cursor={page.data['next_cursor']}" if page.data["next_cursor"] else None
    assert seen == list(reversed(ids))
    admin = api.call("GET", "/v1/orders?email=alice%40example.com&status=placed", role="admin", sub="boss")
    assert [o["id"] for o in admin.data["items"]] == list(reversed(ids))
    assert (
        api.call("GET", "/v1/orders?email=alice%40example.com&status=paid", role="agent", sub="a").data["items"] == []
    )


def test_an_email_list_is_staff_only_and_takes_one_address(api: Api) -> None:
    place(api)
    # A customer naming an address proves nothing: their list is empty, as for another's customer_id.
    mallory = api.call("GET", "/v1/orders?email=alice%40example.com", role="customer", sub="cus_mallory")
    assert mallory.status_code == 200 and mallory.data["items"] == []
    for query in ("email=not-an-address", "email=alice%40example.com&customer_id=cus_alice"):
        response = api.call("GET", f"/v1/orders?{query}", role="agent", sub="a")
        assert response.status_code == 422, (query, response.data)
        assert response.data["error"]["details"][0]["field"] == "email"
    first = api.call("GET", "/v1/orders?email=alice%40example.com&limit=1", role="agent", sub="a").data
    place(api)
    cursor = api.call("GET", "/v1/orders?email=alice%40example.com&limit=1", role="agent", sub="a").data["next_cursor"]
    assert first["items"] and cursor
    # A cursor is bound to its address: it cannot page through another one.
    other = api.call("GET", f"/v1/orders?email=bob%40example.com&cursor={cursor}", role="agent", sub="a")
    assert other.status_code == 422
