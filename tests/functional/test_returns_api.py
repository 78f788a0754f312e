"""Returns and exchanges over HTTP: every route and role, the quantity and window rules, refunds, exchanges."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamo.returns import DynamoReturnRepository
from chalicelib.api.schemas import ReturnOut
from chalicelib.domain.returns import ReturnTally
from chalicelib.domain.webhooks import signature_header
from chalicelib.services.ports import StaleVersionError
from tests.clock import advance_to, now
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import carrier, pay, place, staff

ALICE = "cus_alice"


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def delivered_order(api: Api, **overrides: Any) -> dict[str, Any]:
    """Placed, paid, processed, shipped and delivered, all at the frozen clock's now."""
    order = place(api, **overrides)
    assert pay(api, order).status_code == 201
    assert staff(api, f"/v1/orders/{order['id']}/processing").status_code == 200
    tracking = f"TRK{uuid.uuid4().hex[:12]}"
    shipped = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking})
    assert shipped.status_code == 201, shipped.data
    assert carrier(api, tracking, "delivered", occurred_at=iso(now())).status_code == 200
    return order


def request_return(
    api: Api,
    order_id: str,
    lines: list[dict[str, Any]] | None = None,
    *,
    sub: str = ALICE,
    role: str = "customer",
    reason: str = "changed_mind",
    resolution: str = "refund",
) -> Any:
    body = {"lines": lines or [{"sku": "MUG-1", "quantity": 1}], "reason": reason, "resolution": resolution}
    return api.call("POST", f"/v1/orders/{order_id}/returns", body, role=role, sub=sub)


def act(api: Api, return_id: str, action: str, body: Any = None, *, role: str = "agent", sub: str = "agt_1") -> Any:
    return api.call("POST", f"/v1/returns/{return_id}/{action}", body, role=role, sub=sub)


def stock(api: Api, sku: str) -> int:
    return int(api.call("GET", f"/v1/catalog/{sku}", role="admin").data["stock"])


def refund_webhook(api: Api, order_id: str, amount: int, event_id: str | None = None) -> Any:
    payload = {
        "event_id": event_id or str(uuid.uuid4()),
        "order_id": order_id,
        "amount": amount,
        "provider_ref": "pi_1",
        "status": "refunded",
    }
    raw = json.dumps(payload).encode()
    header = signature_header("local-payment-webhook-secret", raw, int(time.time()))
    return api.call("POST", "/v1/webhooks/payment", raw=raw, headers={"X-OrderCare-Signature": header})


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


def _assert_names_the_order_number(document: dict[str, Any], order: dict[str, Any]) -> None:
    """The PDF and its e-invoice XML give the order's number (what the customer knows), never its id."""
    import io

    import boto3
    from pypdf import PdfReader

    from tests.functional.test_documents_api import _bucket_key

    s3 = boto3.client("s3")
    pdf, xml = (
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for bucket, key in (_bucket_key(document["download_url"]), _bucket_key(document["xml_url"]))
    )
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert order["number"] in text and order["id"] not in text
    assert order["number"].encode() in xml and order["id"].encode() not in xml


def test_request_approve_receive_refund_with_credit_note(api: Api, tap: StreamTap) -> None:
    order = delivered_order(api)
    created = request_return(api, order["id"])
    assert created.status_code == 201, created.data
    ret = ReturnOut.model_validate(created.data)
    assert ret.status == "requested" and ret.number.startswith("RMA-") and ret.id.startswith("ret_")
    approved = act(api, ret.id, "approve")
    assert approved.status_code == 200 and approved.data["status"] == "approved" and approved.data["receive_by"]
    before = stock(api, "MUG-1")
    received = act(api, ret.id, "receive", {"lines": [{"sku": "MUG-1", "quantity": 1, "condition": "restockable"}]})
    assert received.status_code == 200, received.data
    body = received.data
    # One mug: 1299 net less its share of the 200 discount (100), plus 19 % tax: 1199 + 228.
    assert body["status"] == "received" and body["refund_amount"] == 1427 and body["shipping_refund"] == 0
    assert stock(api, "MUG-1") == before + 1
    assert act(api, ret.id, "receive").data["status"] == "received"  # a retry changes nothing
    assert stock(api, "MUG-1") == before + 1
    drain(tap)
    documents = api.call("GET", f"/v1/orders/{order['id']}/documents", role="customer", sub=ALICE).data["items"]
    notes = [d for d in documents if d["kind"] == "credit_note"]
    assert len(notes) == 1 and notes[0]["total"] == -1427
    _assert_names_the_order_number(notes[0], order)
    shown = api.call("GET", f"/v1/returns/{ret.id}", role="customer", sub=ALICE).data
    assert shown["credit_note_number"] == notes[0]["number"]
    # Its customer sees who acted by role, never a staff id (as on timelines); staff see the id.
    assert {step["actor"].split(":")[0] for step in shown["history"]} <= {"customer", "agent", "system"}
    assert all(":" not in step["actor"] or step["actor"].startswith("customer") for step in shown["history"])
    staff_view = api.call("GET", f"/v1/returns/{ret.id}", role="agent", sub="agt_1").data
    assert any(step["actor"].startswith("agent:") for step in staff_view["history"])
    assert refund_webhook(api, order["id"], 1427).status_code == 200
    drain(tap)
    final = api.call("GET", f"/v1/returns/{ret.id}", role="agent", sub="agt_1").data
    assert final["status"] == "refunded" and final["refunded_amount"] == 1427
    documents = api.call("GET", f"/v1/orders/{order['id']}/documents", role="agent", sub="a").data["items"]
    assert len([d for d in documents if d["kind"] == "credit_note"]) == 1  # no second note for the same money
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="customer", sub=ALICE).data
    kinds = [entry["kind"] for entry in timeline["items"]]
    for step in ("return_requested", "return_approved", "return_received", "return_refunded"):
        assert step in kinds
    templates = {entry["data"].get("template") for entry in timeline["items"] if entry["kind"] == "notification_sent"}
    assert {"return_requested", "return_approved", "return_received", "return_refunded"} <= templates


def test_refund_of_another_amount_is_held_for_an_agent(api: Api, tap: StreamTap) -> None:
    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    act(api, ret["id"], "approve")
    act(api, ret["id"], "receive")
    drain(tap)
    assert refund_webhook(api, order["id"], 1000).status_code == 200
    drain(tap)
    held = api.call("GET", f"/v1/returns/{ret['id']}", role="agent", sub="agt_1").data
    assert held["status"] == "received"
    assert held["holds"][0]["code"] == "refund_mismatch" and held["holds"][0]["data"]["received"] == 1000


def test_whole_order_returned_for_shop_fault_refunds_shipping(api: Api, tap: StreamTap) -> None:
    order = delivered_order(api)
    ret = request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 2}], reason="damaged").data
    act(api, ret["id"], "approve")
    received = act(api, ret["id"], "receive", {"lines": [{"sku": "MUG-1", "quantity": 2, "condition": "damaged"}]})
    assert received.data["refund_amount"] == order["total"] and received.data["shipping_refund"] > 0
    drain(tap)
    documents = api.call("GET", f"/v1/orders/{order['id']}/documents", role="agent", sub="a").data["items"]
    assert [d["total"] for d in documents if d["kind"] == "credit_note"] == [-order["total"]]


def test_an_order_returned_in_two_parts_refunds_its_shipping_once(api: Api, tap: StreamTap) -> None:
    order = delivered_order(api)  # two mugs
    first, second = (request_return(api, order["id"], reason="damaged").data for _ in range(2))
    for ret in (first, second):
        assert act(api, ret["id"], "approve").status_code == 200
    one = act(api, first["id"], "receive").data
    assert one["shipping_refund"] == 0  # the other mug is still on its way back
    other = act(api, second["id"], "receive").data
    assert other["shipping_refund"] > 0  # this parcel completes the order
    assert act(api, first["id"], "receive").data["shipping_refund"] == 0  # a retried receipt decides nothing anew
    assert one["refund_amount"] + other["refund_amount"] == order["total"]  # to the cent, not a cent over
    drain(tap)
    documents = api.call("GET", f"/v1/orders/{order['id']}/documents", role="agent", sub="a").data["items"]
    assert -sum(d["total"] for d in documents if d["kind"] == "credit_note") == order["total"]


def test_a_tally_that_does_not_know_what_came_back_lets_the_returns_tell(api: Api) -> None:
    from chalicelib.adapters.dynamo.models import TableItem
    from chalicelib.adapters.dynamo.returns import BACK_PREFIX, GUARD_SK

    order = delivered_order(api)  # two mugs
    first, second = (request_return(api, order["id"], reason="damaged").data for _ in range(2))
    for ret in (first, second):
        act(api, ret["id"], "approve")
    one = act(api, first["id"], "receive").data
    # As a return received before the tally kept what came back.
    TableItem._get_connection().connection.client.update_item(
        TableName=TableItem.Meta.table_name,
        Key={"pk": {"S": f"ORDER#{order['id']}"}, "sk": {"S": GUARD_SK}},
        UpdateExpression="REMOVE #back",
        ExpressionAttributeNames={"#back": f"{BACK_PREFIX}{first['id']}"},
    )
    assert not _tally(order["id"]).knows_what_came_back
    other = act(api, second["id"], "receive").data
    assert other["shipping_refund"] > 0 and one["refund_amount"] + other["refund_amount"] == order["total"]
    assert _tally(order["id"]).knows_what_came_back is False  # the first return's line comes with its next change


def test_a_receipt_decided_on_a_stale_tally_is_refused(api: Api) -> None:
    """Two parcels received at once: each would find the other still on its way, and neither refund
    shipping. A receipt counts itself on the tally's counter, so the later write decides again."""
    order = delivered_order(api)
    first, second = (request_return(api, order["id"], reason="damaged").data for _ in range(2))
    for ret in (first, second):
        act(api, ret["id"], "approve")
    repository = DynamoReturnRepository()
    _, _, tally = repository.order_for_request(order["id"], [])
    assert tally.receipts == 0 and tally.knows_what_came_back
    racing = repository.by_id(second["id"], consistent=True)
    assert racing is not None
    assert act(api, first["id"], "receive").status_code == 200  # counted first
    racing.receive(now(), "agt_2", racing.lines, None)
    with pytest.raises(StaleVersionError):
        repository.save(racing, receipts=tally.receipts)
    assert repository.order_for_request(order["id"], [])[2].receipts == 1


def test_changed_mind_never_refunds_shipping(api: Api) -> None:
    order = delivered_order(api)
    ret = request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 2}]).data
    act(api, ret["id"], "approve")
    received = act(api, ret["id"], "receive", {"lines": [{"sku": "MUG-1", "quantity": 2, "condition": "damaged"}]})
    assert received.data["shipping_refund"] == 0 and received.data["refund_amount"] < order["total"]
    assert received.data["lines"][0]["damaged"] == 2 and received.data["lines"][0]["restockable"] == 0


def test_exchange_creates_one_linked_replacement_order(api: Api, tap: StreamTap) -> None:
    order = delivered_order(api)
    ret = request_return(api, order["id"], reason="wrong_item", resolution="exchange").data
    act(api, ret["id"], "approve")
    received = act(api, ret["id"], "receive")
    assert received.status_code == 200, received.data
    assert received.data["status"] == "exchanged"
    replacement_id = received.data["replacement_order_id"]
    again = act(api, ret["id"], "receive")
    assert again.data["replacement_order_id"] == replacement_id
    replacement = api.call("GET", f"/v1/orders/{replacement_id}", role="customer", sub=ALICE).data
    assert replacement["status"] == "paid" and replacement["total"] == 0
    assert replacement["replaces_order_id"] == order["id"]
    assert replacement["number"] and replacement["number"] != order["number"]  # its own human number
    assert replacement["payments"][0]["method"] == "exchange"
    assert [(line["sku"], line["quantity"]) for line in replacement["lines"]] == [("MUG-1", 1)]
    # The normal lifecycle: processing re-checks accuracy and the zero price is not a hold.
    processing = staff(api, f"/v1/orders/{replacement_id}/processing")
    assert processing.status_code == 200, processing.data
    drain(tap)
    listed = api.call("GET", "/v1/orders?limit=100", role="customer", sub=ALICE).data["items"]
    assert sum(1 for o in listed if o.get("replaces_order_id") == order["id"]) == 1
    # Shipped, it is an accurate order: its zero price was waived by design, not released by a person.
    shipped = staff(api, f"/v1/orders/{replacement_id}/shipments", {"carrier": "dhl", "tracking_number": "EXCH-1"})
    assert shipped.status_code == 201, shipped.data
    drain(tap)
    report = api.call("GET", "/v1/reports/kpis?period=quarter&start=2026-10-01", role="admin", sub="boss").data
    accuracy = next(k for k in report["kpis"] if k["name"] == "order_accuracy")
    assert (accuracy["numerator"], accuracy["denominator"]) == (1, 2), accuracy
    misses = api.call(
        "GET", "/v1/reports/kpis/order_accuracy/misses?period=quarter&start=2026-10-01", role="admin", sub="boss"
    ).data["items"]
    assert [m["subject"] for m in misses] == [order["id"]]  # the wrong item sent, not its replacement
    assert not any(c["cause"] == "price_mismatch" for c in report["causes"].get("hold", []))


def test_quantity_rules_name_the_line(api: Api) -> None:
    order = delivered_order(api)
    too_many = request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 3}])
    assert too_many.status_code == 422
    assert too_many.data["error"]["details"][0] == {
        "sku": "MUG-1",
        "problem": "too_many_units",
        "requested": 3,
        "returnable": 2,
    }
    assert request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 2}]).status_code == 201
    again = request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 1}])
    assert again.status_code == 422 and again.data["error"]["details"][0]["returnable"] == 0
    other = request_return(api, order["id"], [{"sku": "BOOK-1", "quantity": 1}])
    assert other.status_code == 422 and other.data["error"]["details"][0]["problem"] == "not_delivered"


def test_cancelled_and_rejected_units_may_be_requested_again(api: Api) -> None:
    order = delivered_order(api)
    first = request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 2}]).data
    assert act(api, first["id"], "cancel", role="customer", sub=ALICE).data["status"] == "cancelled"
    second = request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 2}]).data
    rejected = act(api, second["id"], "reject", {"reason": "used"})
    assert rejected.data["status"] == "rejected" and rejected.data["rejection_reason"] == "used"
    assert request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 2}]).status_code == 201


def test_window_closed_and_not_returnable_and_undelivered(api: Api) -> None:
    old = delivered_order(api)
    advance_to(now() + timedelta(days=29, hours=23))
    assert request_return(api, old["id"]).status_code == 201  # still within 30 days of delivery
    advance_to(now() + timedelta(hours=2))
    closed = request_return(api, old["id"])
    assert closed.status_code == 422 and closed.data["error"]["code"] == "return_window_closed"
    undelivered = place(api)
    assert request_return(api, undelivered["id"]).status_code == 409
    item = {
        "name": "Socks",
        "unit_price": 500,
        "currency": "EUR",
        "stock": 10,
        "tax_rate_bps": 1900,
        "returnable": False,
    }
    assert api.call("PUT", "/v1/catalog/SOCKS-1", item, role="admin").data["returnable"] is False
    socks = delivered_order(api, lines=[{"sku": "SOCKS-1", "quantity": 1, "unit_price": 500}], discounts=[])
    refused = request_return(api, socks["id"], [{"sku": "SOCKS-1", "quantity": 1}])
    assert refused.status_code == 422 and refused.data["error"]["details"][0]["problem"] == "not_returnable"


def test_transitions_out_of_order_are_409(api: Api) -> None:
    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    assert act(api, ret["id"], "receive").status_code == 409  # not approved yet
    act(api, ret["id"], "approve")
    assert act(api, ret["id"], "approve").status_code == 409
    assert act(api, ret["id"], "reject", {"reason": "late"}).status_code == 409
    act(api, ret["id"], "receive")
    cancelled = act(api, ret["id"], "cancel", role="customer", sub=ALICE)
    assert cancelled.status_code == 409 and cancelled.data["error"]["code"] == "illegal_transition"


def test_roles_and_privacy(api: Api) -> None:
    order = delivered_order(api)
    assert request_return(api, order["id"], sub="cus_mallory").status_code == 404
    assert request_return(api, order["id"], role="storefront", sub="web").status_code == 403
    by_agent = request_return(api, order["id"], role="agent", sub="agt_1")
    assert by_agent.status_code == 201
    ret = by_agent.data
    assert api.call("GET", f"/v1/returns/{ret['id']}", role="customer", sub="cus_mallory").status_code == 404
    assert api.call("GET", f"/v1/returns/{ret['id']}", role="customer", sub=ALICE).status_code == 200
    assert api.call("GET", f"/v1/returns/{ret['id']}", role="admin", sub="adm").status_code == 200
    assert api.call("GET", "/v1/returns/ret_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", role="agent", sub="a").status_code == 404
    assert api.call("GET", "/v1/returns/nonsense", role="agent", sub="a").status_code == 404
    assert api.call("GET", "/v1/returns", role="customer", sub=ALICE).status_code == 403
    for action in ("approve", "receive"):
        assert act(api, ret["id"], action, role="customer", sub=ALICE).status_code == 403
    assert act(api, ret["id"], "reject", {"reason": "x"}, role="customer", sub=ALICE).status_code == 403
    assert act(api, ret["id"], "cancel", role="customer", sub="cus_mallory").status_code == 404
    assert act(api, "ret_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "approve").status_code == 404
    assert act(api, ret["id"], "reject", {}).status_code == 422  # reason required
    bad = request_return(api, order["id"], reason="bored")
    assert bad.status_code == 422
    unknown = api.call(
        "POST",
        f"/v1/orders/{order['id']}/returns",
        {"lines": [], "reason": "other", "resolution": "refund", "status": "refunded"},
        role="agent",
        sub="a",
    )
    assert unknown.status_code == 422


def test_queue_oldest_first_paginated(api: Api) -> None:
    ids = []
    for _ in range(3):
        order = delivered_order(api)
        ids.append(request_return(api, order["id"]).data["id"])
    first = api.call("GET", "/v1/returns?status=requested&limit=2", role="agent", sub="a").data
    assert [r["id"] for r in first["items"]] == ids[:2] and first["next_cursor"]
    second = api.call(
        "GET", f"/v1/returns?status=requested&limit=2&cursor={first['next_cursor']}", role="agent", sub="a"
    ).data
    assert [r["id"] for r in second["items"]] == ids[2:]
    assert api.call("GET", "/v1/returns?status=bogus", role="agent", sub="a").status_code == 422
    act(api, ids[0], "approve")
    approved = api.call("GET", "/v1/returns?status=approved", role="admin", sub="adm").data["items"]
    assert [r["id"] for r in approved] == [ids[0]]


def sweep(at: datetime) -> dict[str, Any]:
    """The scheduled sweep at `at`: the clock moves there first, as the schedule fires in real time
    (a sweep ahead of the clock, `make sweep AT=…`, is the e2e tier's)."""
    from tests.clock import advance_to

    advance_to(at)
    from app import sla_sweep
    from local.lambda_runtime import LambdaContext

    event = {
        "version": "0",
        "id": "x",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "1",
        "time": iso(at),
        "region": "eu-central-1",
        "resources": [],
        "detail": {},
    }
    result: dict[str, Any] = sla_sweep(event, LambdaContext("sla_sweep"))["returns"]
    return result


def _tally(order_id: str) -> ReturnTally:
    from chalicelib.adapters.dynamo.returns import DynamoReturnRepository

    return DynamoReturnRepository().order_for_request(order_id, [])[2]


def test_a_return_request_reads_the_order_its_lines_and_its_tally_at_once_and_every_change_keeps_the_tally(
    api: Api,
) -> None:
    from bench.round_trips import counting

    order = delivered_order(api)  # two mugs delivered
    with counting() as calls:
        first = request_return(api, order["id"]).data
    assert calls == {"BatchGetItem": 1, "TransactWriteItems": 1}
    assert _tally(order["id"]) == ReturnTally(1, {first["id"]: {"MUG-1": 1}}, {first["id"]: {}})
    second = request_return(api, order["id"]).data
    with counting() as refused:
        too_many = request_return(api, order["id"])
    assert too_many.status_code == 422 and too_many.data["error"]["details"][0]["returnable"] == 0
    assert refused == {"BatchGetItem": 1}  # what the two returns hold came with the order
    assert act(api, first["id"], "cancel", role="customer", sub=ALICE).data["status"] == "cancelled"
    assert act(api, second["id"], "approve").status_code == 200
    assert _tally(order["id"]) == ReturnTally(
        2, {first["id"]: {}, second["id"]: {"MUG-1": 1}}, {first["id"]: {}, second["id"]: {}}
    )
    with counting() as again:
        assert request_return(api, order["id"]).status_code == 201  # the cancelled unit is free again
    assert again == {"BatchGetItem": 1, "TransactWriteItems": 1}


def test_a_return_is_one_read_by_its_id_and_a_change_one_read_and_one_write(api: Api) -> None:
    from bench.round_trips import counting

    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    with counting() as read:
        assert api.call("GET", f"/v1/returns/{ret['id']}", role="customer", sub=ALICE).data["id"] == ret["id"]
    assert read == {"Query": 1}
    # The order moves on after the return was requested (a refund the provider reports, not the return's).
    assert refund_webhook(api, order["id"], 100).status_code == 200
    with counting() as approved:
        assert act(api, ret["id"], "approve").status_code == 200
    # The return's entry follows the order as the return last saw it: the check in the write hands
    # back where the order is now and the change is written again after it — no read of the order.
    assert approved == {"Query": 1, "TransactWriteItems": 2}
    with counting() as cancelled:
        assert act(api, ret["id"], "cancel", role="customer", sub=ALICE).status_code == 200
    assert cancelled == {"Query": 1, "TransactWriteItems": 1}  # ... and the next change expects it there
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent").data["items"]
    kinds = [entry["kind"] for entry in timeline]
    assert kinds[-4:] == ["return_requested", "refunded", "return_approved", "return_cancelled"], kinds


def test_a_receipt_reads_the_return_then_its_order_with_the_tally(api: Api) -> None:
    from bench.round_trips import counting

    order = delivered_order(api)
    everything = request_return(api, order["id"], [{"sku": "MUG-1", "quantity": 2}], reason="damaged").data
    assert act(api, everything["id"], "approve").status_code == 200
    with counting() as calls:
        received = act(api, everything["id"], "receive")
    assert received.status_code == 200, received.data
    # The return; the order and its returns' tally (whether the whole order came back); the write.
    assert calls == {"Query": 1, "BatchGetItem": 1, "TransactWriteItems": 1}
    assert received.data["shipping_refund"] > 0  # the whole order came back, for the shop's fault


@pytest.fixture
def lagging_index(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """GSI2 as it may be in AWS a moment after a change: `freeze(id)` keeps serving the return as it is
    now to every read that is not strongly consistent (moto's indexes never lag)."""
    from chalicelib.bootstrap import get_container

    repository = get_container().returns.returns
    read = repository.by_id
    frozen: dict[str, Any] = {}

    def by_id(return_id: str, *, consistent: bool = False) -> Any:
        if consistent or return_id not in frozen:
            return read(return_id, consistent=consistent)
        return copy.deepcopy(frozen[return_id])  # a copy: the caller changes what it reads

    monkeypatch.setattr(repository, "by_id", by_id)
    return lambda return_id: frozen.__setitem__(return_id, read(return_id, consistent=True))


def test_a_change_is_never_refused_or_skipped_on_a_lagging_index(
    api: Api, tap: StreamTap, lagging_index: Callable[[str], None]
) -> None:
    order = delivered_order(api)
    refund = request_return(api, order["id"], reason="damaged").data
    exchange = request_return(api, order["id"], reason="wrong_item", resolution="exchange").data
    for ret in (refund, exchange):
        lagging_index(ret["id"])  # the index still says "requested" ...
        assert act(api, ret["id"], "approve").status_code == 200  # ... approved all the same
    received = act(api, refund["id"], "receive")  # "requested" there: refused, then decided as it is
    assert received.status_code == 200 and received.data["status"] == "received", received.data
    exchanged = act(api, exchange["id"], "receive")  # the inline finish reads "requested" there too
    assert exchanged.status_code == 200 and exchanged.data["status"] == "exchanged", exchanged.data
    assert api.call("GET", f"/v1/orders/{exchanged.data['replacement_order_id']}", role="agent").status_code == 200
    drain(tap)  # the credit note's intent reads the return as it is, not the index's copy
    documents = api.call("GET", f"/v1/orders/{order['id']}/documents", role="agent").data["items"]
    assert [d["total"] for d in documents if d["kind"] == "credit_note"] == [-received.data["refund_amount"]]
    assert act(api, refund["id"], "approve").status_code == 409  # a real refusal is still one


def test_a_return_written_before_the_index_is_read_through_its_pointer(api: Api) -> None:
    from bench.round_trips import counting
    from chalicelib.adapters.dynamo.models import TableItem

    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    TableItem._get_connection().connection.client.update_item(
        TableName=TableItem.Meta.table_name,
        Key={"pk": {"S": f"ORDER#{order['id']}"}, "sk": {"S": f"RETURN#{ret['id']}"}},
        UpdateExpression="REMOVE gsi2pk, gsi2sk",
    )
    with counting() as read:
        assert api.call("GET", f"/v1/returns/{ret['id']}", role="agent").data["status"] == "requested"
    assert read == {"Query": 1, "GetItem": 2}  # not in the index: the pointer, then the return
    assert act(api, ret["id"], "approve").data["status"] == "approved"  # its change writes it into the index
    with counting() as read:
        assert api.call("GET", f"/v1/returns/{ret['id']}", role="agent").data["status"] == "approved"
    assert read == {"Query": 1}


def test_returns_written_before_the_tally_are_read_and_counted_until_each_is_changed(api: Api) -> None:
    from bench.round_trips import counting
    from chalicelib.adapters.dynamo.models import TableItem
    from chalicelib.adapters.dynamo.returns import BACK_PREFIX, GUARD_SK, HELD_PREFIX

    order = delivered_order(api)
    older = request_return(api, order["id"]).data
    # As a guard written before the tally was kept: the counter without the returns' lines.
    client, key = TableItem._get_connection().connection.client, {"pk": {"S": f"ORDER#{order['id']}"}}
    client.update_item(
        TableName=TableItem.Meta.table_name,
        Key={**key, "sk": {"S": GUARD_SK}},
        UpdateExpression="REMOVE #held, #back",
        ExpressionAttributeNames={"#held": f"{HELD_PREFIX}{older['id']}", "#back": f"{BACK_PREFIX}{older['id']}"},
    )
    assert not _tally(order["id"]).complete
    with counting() as calls:
        newer = request_return(api, order["id"]).data
    assert calls == {"BatchGetItem": 1, "Query": 1, "TransactWriteItems": 1}  # the returns tell instead
    with counting() as refused:
        assert request_return(api, order["id"]).status_code == 422  # the older return's unit still counts
    assert refused == {"BatchGetItem": 1, "Query": 1}
    assert act(api, older["id"], "reject", {"reason": "used"}).status_code == 200  # its change writes its line
    assert _tally(order["id"]) == ReturnTally(
        2, {older["id"]: {}, newer["id"]: {"MUG-1": 1}}, {older["id"]: {}, newer["id"]: {}}
    )
    with counting() as calls:
        assert request_return(api, order["id"]).status_code == 201
    assert calls == {"BatchGetItem": 1, "TransactWriteItems": 1}


@pytest.fixture
def short_receipt(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Approved returns expire 14 days unreceived, inside the 30-day return window."""
    monkeypatch.setenv("OC_RETURN_RECEIPT_DAYS", "14")


def test_sweep_expires_approved_returns_not_received(short_receipt: None, api: Api, tap: StreamTap) -> None:
    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    approved = act(api, ret["id"], "approve").data
    due = datetime.fromisoformat(approved["receive_by"].replace("Z", "+00:00"))
    assert sweep(due - timedelta(hours=1))["expired"] == 0
    result = sweep(due + timedelta(minutes=5))
    assert result["expired"] == 1 and result["due"] == 1  # only the due timer was read
    assert sweep(due + timedelta(minutes=10))["expired"] == 0  # once
    shown = api.call("GET", f"/v1/returns/{ret['id']}", role="customer", sub=ALICE).data
    assert shown["status"] == "expired"
    drain(tap)
    assert request_return(api, order["id"]).status_code == 201  # the units count as not returned again


def _approved_return(api: Api) -> tuple[str, datetime]:
    """An approved return of a delivered order, and its receipt deadline."""
    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    approved = act(api, ret["id"], "approve").data
    return ret["id"], datetime.fromisoformat(approved["receive_by"].replace("Z", "+00:00"))


@contextmanager
def _expiries_losing_every_race(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def conflicting(self: DynamoReturnRepository, *args: Any, **kwargs: Any) -> None:
        raise StaleVersionError("a transaction conflict on the order's tally")

    with monkeypatch.context() as patched:
        patched.setattr(DynamoReturnRepository, "save", conflicting)
        patched.setattr("chalicelib.services.returns._pause", lambda attempt: None)
        yield


def test_an_expiry_that_keeps_losing_races_is_swept_again_later(
    short_receipt: None, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    return_id, due = _approved_return(api)
    with _expiries_losing_every_race(monkeypatch):
        for later in (timedelta(minutes=5), timedelta(hours=6)):  # the second is past the grace for late writes
            result = sweep(due + later)
            assert result["left"] == 1 and result["expired"] == result["done"] == 0  # not counted as done
    assert sweep(due + timedelta(hours=12))["expired"] == 1  # the kept hour is read again
    assert api.call("GET", f"/v1/returns/{return_id}", role="agent").data["status"] == "expired"


def test_an_expiry_losing_races_past_its_retry_window_is_given_up_and_no_longer_read(
    short_receipt: None, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, due = _approved_return(api)
    with _expiries_losing_every_race(monkeypatch):
        assert sweep(due + timedelta(minutes=5))["left"] == 1
        given_up = sweep(due + timedelta(hours=25))
        assert given_up["given_up"] == 1 and given_up["left"] == 0
    assert sweep(due + timedelta(hours=30))["due"] == 0  # the cursor moved on past its hour


def test_received_return_never_expires(api: Api) -> None:
    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    approved = act(api, ret["id"], "approve").data
    act(api, ret["id"], "receive")
    due = datetime.fromisoformat(approved["receive_by"].replace("Z", "+00:00"))
    assert sweep(due + timedelta(minutes=5)) == {
        "due": 0,
        "expired": 0,
        "stale": 0,
        "done": 0,
        "left": 0,
        "given_up": 0,
    }


def test_idempotency_key_replays_and_detects_another_body(api: Api) -> None:
    order = delivered_order(api)
    body = {"lines": [{"sku": "MUG-1", "quantity": 1}], "reason": "other", "resolution": "refund"}
    headers = {"Idempotency-Key": "ret-key-1"}
    path = f"/v1/orders/{order['id']}/returns"
    first = api.call("POST", path, body, role="customer", sub=ALICE, headers=headers)
    again = api.call("POST", path, body, role="customer", sub=ALICE, headers=headers)
    assert first.status_code == again.status_code == 201 and first.data == again.data
    other = api.call("POST", path, {**body, "reason": "damaged"}, role="customer", sub=ALICE, headers=headers)
    assert other.status_code == 409
    queue = api.call("GET", "/v1/returns?status=requested", role="agent", sub="a").data["items"]
    assert [r["id"] for r in queue] == [first.data["id"]]
    approve_key = {"Idempotency-Key": "approve-1"}
    one = api.call("POST", f"/v1/returns/{first.data['id']}/approve", role="agent", sub="a", headers=approve_key)
    two = api.call("POST", f"/v1/returns/{first.data['id']}/approve", role="agent", sub="a", headers=approve_key)
    assert one.status_code == two.status_code == 200 and one.data == two.data
