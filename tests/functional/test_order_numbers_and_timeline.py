"""Human order numbers (unique by a conditional claim, found in one round trip) and a
timeline in exactly the order OrderCare recorded it, even within one frozen second."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.order_numbers import parse_order_number
from chalicelib.domain.webhooks import signature_header
from tests.functional.conftest import Api, order_body
from tests.functional.stream_tools import StreamTap, drain


class FrozenClock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def frozen(api: Api) -> Iterator[datetime]:
    """Every service of the container reads one clock that stands still (whole second)."""
    from chalicelib.bootstrap import get_container

    moment = datetime.now(UTC).replace(microsecond=0)
    container = get_container()
    clock = FrozenClock(moment)
    container.clock = clock  # type: ignore[assignment]
    container.orders.clock = clock
    yield moment


def place(api: Api, key: str | None = None, **overrides: Any) -> dict[str, Any]:
    response = api.call(
        "POST",
        "/v1/orders",
        order_body(**overrides),
        role="storefront",
        sub="web",
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.data
    return response.data  # type: ignore[no-any-return]


def find(api: Api, number: str, role: str = "agent", sub: str = "agt_1") -> Any:
    return api.call("GET", f"/v1/orders?number={number}", role=role, sub=sub)


def test_every_order_gets_a_well_formed_number_shown_in_the_api(api: Api) -> None:
    first, second = place(api), place(api)
    for order in (first, second):
        assert parse_order_number(order["number"]) == order["number"]
        assert order["number"].replace("-", "") not in order["id"]  # not derived from the id
    assert first["number"] != second["number"]
    again = api.call("GET", f"/v1/orders/{first['id']}", role="customer", sub="cus_alice").data
    assert again["number"] == first["number"]


def test_agent_finds_an_order_by_its_number_as_typed(api: Api) -> None:
    order = place(api)
    number = order["number"]
    for typed in (number, number.lower(), number.replace("-", ""), f" {number.lower()} "):
        response = find(api, typed.replace(" ", "%20"))
        assert response.status_code == 200, response.data
        assert [o["id"] for o in response.data["items"]] == [order["id"]]
        assert response.data["next_cursor"] is None
    assert [o["id"] for o in find(api, number, role="admin", sub="adm").data["items"]] == [order["id"]]


def test_customer_finds_only_their_own_order_by_number(api: Api) -> None:
    order = place(api)
    own = find(api, order["number"], role="customer", sub="cus_alice")
    assert [o["id"] for o in own.data["items"]] == [order["id"]]
    other = find(api, order["number"], role="customer", sub="cus_mallory")
    assert other.status_code == 200 and other.data == {"items": [], "next_cursor": None}
    assert find(api, order["number"], role="storefront", sub="web").status_code == 403


def test_a_malformed_number_is_a_422_naming_the_field_and_an_unknown_one_finds_nothing(api: Api) -> None:
    order = place(api)
    number = order["number"]
    typo = number[:-1] + next(c for c in "23456789ABC" if c != number[-1])  # wrong check character
    for bad in (typo, "0O1I-LLLL", "ABC", "x" * 30):
        response = find(api, bad)
        assert response.status_code == 422, (bad, response.data)
        assert response.data["error"]["code"] == "invalid_order_number"
        assert response.data["error"]["details"] == [{"field": "number"}]
    from chalicelib.domain.order_numbers import check_symbol, format_number

    body = "2345678" if number.replace("-", "")[:7] != "2345678" else "3456789"
    assert find(api, format_number(body + check_symbol(body))).data["items"] == []


def test_a_taken_number_is_never_given_twice_placement_draws_again(api: Api) -> None:
    from chalicelib.bootstrap import get_container

    service = get_container().orders
    draws = itertools.chain(["K7QM-R3TE", "K7QM-R3TE", "K7QM-R3TE"], itertools.repeat("HX4P-9AB7"))
    service.numbers = lambda: next(draws)
    first, second = place(api), place(api)
    assert first["number"] == "K7QM-R3TE" and second["number"] == "HX4P-9AB7"
    service.numbers = lambda: "K7QM-R3TE"  # every draw taken: a clear 409, nothing written
    refused = api.call(
        "POST", "/v1/orders", order_body(), role="storefront", sub="web", headers={"Idempotency-Key": "all-taken"}
    )
    assert refused.status_code == 409 and refused.data["error"]["code"] == "order_number_unavailable"
    assert [o["id"] for o in find(api, "K7QM-R3TE").data["items"]] == [first["id"]]
    listed = api.call("GET", "/v1/orders?limit=100", role="customer", sub="cus_alice").data["items"]
    assert len(listed) == 2


def test_a_replayed_placement_keeps_its_number(api: Api) -> None:
    key = str(uuid.uuid4())
    first = place(api, key=key)
    assert place(api, key=key)["number"] == first["number"]


# --- the timeline in the order it was recorded -------------------------------------------


CARRIER_SECRET = "local-carrier-webhook-secret"


def carrier(api: Api, tracking: str, status: str, occurred_at: datetime) -> Any:
    payload = {
        "event_id": str(uuid.uuid4()),
        "tracking_number": tracking,
        "status": status,
        "occurred_at": occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    raw = json.dumps(payload).encode()
    header = signature_header(CARRIER_SECRET, raw, int(time.time()))
    return api.call("POST", "/v1/webhooks/carrier", raw=raw, headers={"X-OrderCare-Signature": header})


def walk_through(api: Api, at: datetime, tap: StreamTap | None = None) -> dict[str, Any]:
    """The README's walk-through: place (on hold) → release → pay → processing → ship → delivered."""
    order = place(api, lines=[{"sku": "MUG-1", "quantity": 1, "unit_price": 999}])  # price mismatch: on hold
    order_id = order["id"]
    agent: dict[str, Any] = {"role": "agent", "sub": "agt_1"}
    release = api.call(
        "POST", f"/v1/orders/{order_id}/holds/price_mismatch/release", {"reason": "agreed discount"}, **agent
    )
    assert release.status_code == 200, release.data
    payment = {"amount": order["total"], "method": "card", "provider_ref": "pi_walk"}
    paid = api.call(
        "POST",
        f"/v1/orders/{order_id}/payments",
        payment,
        role="storefront",
        sub="web",
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert paid.status_code == 201, paid.data
    if tap is not None:
        drain(tap)  # confirmation and receipt are sent (and recorded) before the parcel leaves
    assert api.call("POST", f"/v1/orders/{order_id}/processing", **agent).status_code == 200
    shipment = {"carrier": "dhl", "tracking_number": f"WALK{uuid.uuid4().hex[:12]}"}
    shipped = api.call("POST", f"/v1/orders/{order_id}/shipments", shipment, **agent)
    assert shipped.status_code == 201, shipped.data
    assert carrier(api, shipment["tracking_number"], "delivered", at).status_code == 200
    return order


def timeline(api: Api, order_id: str, limit: int = 100) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = api.call("GET", f"/v1/orders/{order_id}/timeline?limit={limit}{cursor}", role="agent", sub="agt_1").data
        items += page["items"]
        if not page["next_cursor"]:
            return items
        cursor = f"&cursor={page['next_cursor']}"


def story(items: list[dict[str, Any]]) -> list[str]:
    def label(entry: dict[str, Any]) -> str:
        data = entry["data"]
        if entry["kind"] == "status_changed":
            return f"{data['from']}→{data['to']}"
        if entry["kind"].startswith("notification_"):
            return f"{entry['kind']}:{data['template']}:{data['channel']}"
        if entry["kind"] == "document_issued":
            return f"document_issued:{data['kind']}"
        if entry["kind"] in ("hold_added", "hold_released"):
            return f"{entry['kind']}:{data['code']}"
        return str(entry["kind"])

    return [label(entry) for entry in items]


def test_walk_through_in_one_frozen_second_reads_in_the_order_it_happened(api: Api, frozen: datetime) -> None:
    order = walk_through(api, frozen)
    items = timeline(api, order["id"])
    assert {entry["at"] for entry in items} == {frozen.strftime("%Y-%m-%dT%H:%M:%SZ")}  # one second
    assert story(items) == [
        "placed",
        "hold_added:price_mismatch",
        "hold_released:price_mismatch",
        "placed→paid",
        "paid→processing",
        "processing→shipped",
        "shipment_created",
        "carrier_event",
        "shipped→delivered",
    ]
    # Paging through two entries at a time reads the same story across the keys.
    assert story(timeline(api, order["id"], limit=2)) == story(items)


def test_stream_written_entries_follow_their_cause(api: Api, frozen: datetime) -> None:
    tap = StreamTap("ordercare-test")
    order = walk_through(api, frozen, tap)
    drain(tap)
    labels = story(timeline(api, order["id"]))
    position = {label: index for index, label in enumerate(labels)}
    # Confirmation right after placement's change, before the hold release; the receipt,
    # invoice and receipt document after payment, before processing; and so on.
    assert position["placed"] < position["notification_sent:order_confirmation:email"]
    assert position["notification_sent:order_confirmation:email"] < position["hold_released:price_mismatch"]
    for follow_up in (
        "document_issued:invoice",
        "document_issued:receipt",
        "notification_sent:payment_receipt:email",
    ):
        assert position["placed→paid"] < position[follow_up] < position["paid→processing"], (follow_up, labels)
    assert position["shipment_created"] < position["notification_sent:shipped:email"] < position["carrier_event"]
    assert labels[-2:] == ["notification_sent:delivered:email", "notification_skipped:delivered:sms"]
