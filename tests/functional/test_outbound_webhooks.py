"""Outbound webhooks end to end on moto: subscriptions over HTTP, deliveries from the stream
to a real HTTP receiver on 127.0.0.1, retries with backoff, dead-lettering after 24 h."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.domain.webhooks import verify_signature
from local.lambda_runtime import LambdaContext
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap
from tests.functional.test_lifecycle_api import pay, place, staff


class Receiver:
    """A storefront's webhook endpoint: answers 500 to the first `failures` requests, then 200."""

    def __init__(self, failures: int = 0, delay: float = 0.0) -> None:
        self.failures = failures
        self.delay = delay
        self.requests: list[tuple[int, dict[str, str], bytes]] = []  # (answer, headers, body)
        self.arrivals: list[float] = []  # time.monotonic() of each request's arrival
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.arrivals.append(time.monotonic())
                time.sleep(receiver.delay)
                with receiver.lock:
                    answer = 500 if len(receiver.requests) < receiver.failures else 200
                    receiver.requests.append((answer, dict(self.headers.items()), body))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ordercare"

    def accepted(self) -> list[dict[str, Any]]:
        return [json.loads(body) for answer, _, body in self.requests if answer == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


def subscribe(api: Api, url: str, events: list[str]) -> dict[str, Any]:
    response = api.call("POST", "/v1/webhook-subscriptions", {"url": url, "events": events}, role="admin", sub="adm")
    assert response.status_code == 201, response.data
    return response.data  # type: ignore[no-any-return]


def pump(tap: StreamTap, rounds: int = 10) -> None:
    """Feed new stream records to both consumers, as each event source mapping would."""
    from app import order_events, webhook_deliveries
    from chalicelib.documents_app import document_intents

    consumers = (
        ("order_events", order_events),
        ("webhook_deliveries", webhook_deliveries),
        ("document_intents", document_intents),  # credit notes: the documents function's
    )
    for _ in range(rounds):
        records = tap.new_records()
        if not records:
            return
        for name, consumer in consumers:
            result = consumer({"Records": records}, LambdaContext(name))
            assert result["batchItemFailures"] == [], result


def retry(at: datetime) -> dict[str, int]:
    import app
    from local.scheduler import discover_schedules, fire

    [schedule] = [s for s in discover_schedules(app) if s.name == "retry_notifications"]  # every intent's
    summary = fire(schedule, at)
    assert summary["ok"], summary
    return summary["result"]["intents"]  # type: ignore[no-any-return]


def deliveries(api: Api, subscription_id: str) -> list[dict[str, Any]]:
    response = api.call("GET", f"/v1/webhook-subscriptions/{subscription_id}/deliveries?limit=100", role="admin")
    assert response.status_code == 200, response.data
    return response.data["items"]  # type: ignore[no-any-return]


def test_subscription_routes_show_the_secret_once(api: Api) -> None:
    created = subscribe(api, "http://127.0.0.1:9/hook", ["order.shipped", "order.paid"])
    assert created["secret"].startswith("whsec_") and created["status"] == "active"
    path = f"/v1/webhook-subscriptions/{created['id']}"
    read = api.call("GET", path, role="admin")
    assert read.status_code == 200 and "secret" not in read.data
    assert read.data["events"] == ["order.shipped", "order.paid"]
    for role in ("agent", "customer", "storefront"):
        assert api.call("GET", path, role=role).status_code == 403
    assert api.call("DELETE", path, role="admin").status_code == 204
    assert api.call("GET", path, role="admin").status_code == 404
    assert api.call("DELETE", path, role="admin").status_code == 404
    assert api.call("GET", "/v1/webhook-subscriptions/whs_nope", role="admin").status_code == 404


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("http://example.com/hook", ["order.paid"]),  # http only to 127.0.0.1 (and only locally)
        ("https://10.1.2.3/hook", ["order.paid"]),
        ("https://169.254.169.254/latest/meta-data", ["order.paid"]),
        ("https://[::1]/hook", ["order.paid"]),
        ("https://user:pw@shop.example.com/hook", ["order.paid"]),
        ("https://shop.example.com/hook", ["order.exploded"]),
        ("https://shop.example.com/hook", []),
    ],
)
def test_unsafe_urls_and_unknown_events_are_422(api: Api, url: str, events: list[str]) -> None:
    response = api.call("POST", "/v1/webhook-subscriptions", {"url": url, "events": events}, role="admin")
    assert response.status_code == 422, response.data


def test_idempotent_subscription(api: Api) -> None:
    body = {"url": "https://shop.example.com/hook", "events": ["order.paid"]}
    key = {"Idempotency-Key": "sub-1"}
    first = api.call("POST", "/v1/webhook-subscriptions", body, role="admin", sub="adm", headers=key)
    again = api.call("POST", "/v1/webhook-subscriptions", body, role="admin", sub="adm", headers=key)
    assert first.status_code == again.status_code == 201 and first.data == again.data
    other = api.call(
        "POST", "/v1/webhook-subscriptions", {**body, "events": ["order.placed"]}, role="admin", sub="adm", headers=key
    )
    assert other.status_code == 409


def test_receiver_failing_twice_gets_each_event_once_per_id_signed(api: Api, receivers: list[Receiver]) -> None:
    receiver = Receiver(failures=2)
    receivers.append(receiver)
    subscription = subscribe(api, receiver.url, ["order.placed", "order.paid", "order.shipped"])
    tap = StreamTap("ordercare-test")
    order = place(api)
    assert pay(api, order).status_code == 201
    staff(api, f"/v1/orders/{order['id']}/processing")
    shipped = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "TRK-OUT-1"})
    assert shipped.status_code == 201
    pump(tap)
    pump(tap)  # a replayed stream changes nothing: the intents exist, their ids are stable
    assert len(receiver.requests) == 3 and [a for a, _, _ in receiver.requests].count(500) == 2
    now = datetime.now(UTC)
    for minutes in (2, 5, 10):  # the schedule, later: backoff has come due
        retry(now + timedelta(minutes=minutes))
    pump(tap)
    accepted = receiver.accepted()
    types = sorted(event["type"] for event in accepted)
    assert types == ["order.paid", "order.placed", "order.shipped"]
    assert len({event["id"] for event in accepted}) == 3  # each event once per id
    for _, headers, body in receiver.requests:
        verify_signature(headers["X-OrderCare-Signature"], body, (subscription["secret"],), time.time())
    ids = {json.loads(body)["type"]: json.loads(body)["id"] for _, _, body in receiver.requests}
    retried = [json.loads(body) for answer, _, body in receiver.requests if answer == 500]
    assert all(ids[event["type"]] == event["id"] for event in retried)  # a retry carries the same id
    shipped_event = next(event for event in accepted if event["type"] == "order.shipped")
    assert shipped_event["data"]["order_id"] == order["id"] and shipped_event["data"]["tracking_number"] == "TRK-OUT-1"
    assert set(shipped_event) == {"id", "type", "created_at", "data"}
    listed = deliveries(api, subscription["id"])
    assert sorted(d["status"] for d in listed) == ["delivered"] * 3
    assert sum(d["attempts"] for d in listed) == 5


def test_a_dead_receiver_is_dead_lettered_after_24_hours(api: Api, receivers: list[Receiver]) -> None:
    receiver = Receiver(failures=10_000)
    receivers.append(receiver)
    subscription = subscribe(api, receiver.url, ["order.placed"])
    tap = StreamTap("ordercare-test")
    place(api)
    pump(tap)
    moment = datetime.now(UTC)
    gaps = []
    for _ in range(60):
        [delivery] = deliveries(api, subscription["id"])
        if delivery["status"] != "pending":
            break
        due = datetime.fromisoformat(delivery["next_attempt_at"].replace("Z", "+00:00"))
        gaps.append((due - moment).total_seconds())
        moment = due + timedelta(seconds=1)
        retry(moment)
    assert delivery["status"] == "dead" and delivery["next_attempt_at"] is None
    assert delivery["last_status_code"] == 500 and delivery["log"][0]["status_code"] == 500
    assert gaps[0] < gaps[1] < gaps[2] < gaps[3]  # exponential backoff
    assert max(gaps) <= 3600 + 1  # capped at an hour
    assert len(receiver.requests) == delivery["attempts"] and delivery["attempts"] >= 20
    created = datetime.fromisoformat(delivery["created_at"].replace("Z", "+00:00"))
    assert timedelta(hours=23) <= moment - created <= timedelta(hours=25)
    attempts = len(receiver.requests)
    retry(moment + timedelta(days=1))
    assert len(receiver.requests) == attempts  # dead: never tried again


def test_a_slow_receiver_does_not_hold_up_the_others(
    api: Api, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.bootstrap import reset_container

    monkeypatch.setenv("OC_WEBHOOK_TIMEOUT_SECONDS", "2")
    reset_container()
    from app import order_events, webhook_deliveries

    slow, slower, fast = Receiver(delay=6.0), Receiver(delay=6.0), Receiver()
    receivers += [slow, slower, fast]
    slow_sub = subscribe(api, slow.url, ["order.placed"])
    subscribe(api, slower.url, ["order.placed"])
    subscribe(api, fast.url, ["order.placed"])
    tap = StreamTap("ordercare-test")
    place(api)
    order_events({"Records": tap.new_records()}, LambdaContext("order_events"))  # writes the two intents
    intents = tap.new_records()
    webhook_deliveries({"Records": intents}, LambdaContext("webhook_deliveries"))
    assert len(fast.accepted()) == 1 and len(slow.arrivals) == len(slower.arrivals) == 1
    # All were called at once: none waited for another's answer (6 s) or timeout (2 s) — the margin
    # is wide because a loaded CI machine may take a while to start three threads.
    arrivals = [fast.arrivals[0], slow.arrivals[0], slower.arrivals[0]]
    assert max(arrivals) - min(arrivals) < 1.8, arrivals
    [pending] = deliveries(api, slow_sub["id"])
    assert pending["status"] == "pending" and "timed out" in (pending["last_error"] or "")
    assert pending["log"][0]["duration_ms"] < 5000  # the 2 s timeout, not the receiver's 6 s


def test_deleted_subscription_gets_nothing_more(api: Api, receivers: list[Receiver]) -> None:
    receiver = Receiver(failures=1)
    receivers.append(receiver)
    subscription = subscribe(api, receiver.url, ["order.placed"])
    tap = StreamTap("ordercare-test")
    place(api)
    pump(tap)
    assert api.call("DELETE", f"/v1/webhook-subscriptions/{subscription['id']}", role="admin").status_code == 204
    retry(datetime.now(UTC) + timedelta(minutes=5))
    assert len(receiver.requests) == 1
    assert [d["status"] for d in deliveries(api, subscription["id"])] == ["cancelled"]


def replay(tap: StreamTap) -> None:
    """Deliver the whole stream again to both consumers (a redrive, a shard retried from the start)."""
    from app import order_events, webhook_deliveries
    from chalicelib.documents_app import document_intents

    consumers = (
        ("order_events", order_events),
        ("webhook_deliveries", webhook_deliveries),
        ("document_intents", document_intents),
    )
    for name, consumer in consumers:
        result = consumer({"Records": list(tap.all)}, LambdaContext(name))
        assert result["batchItemFailures"] == [], result


def by_type(receiver: Receiver) -> dict[str, list[dict[str, Any]]]:
    """Accepted events by type, one per id (a duplicate must carry the same id and body)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for event in receiver.accepted():
        same = found.setdefault(event["type"], {}).setdefault(event["id"], event)
        assert same == event, "one event id, two bodies"
    return {kind: list(events.values()) for kind, events in found.items()}


def test_return_and_refund_events_once_per_id_through_replays(api: Api, receivers: list[Receiver]) -> None:
    from tests.functional.test_returns_api import act, delivered_order, refund_webhook, request_return

    receiver = Receiver()
    receivers.append(receiver)
    subscription = subscribe(api, receiver.url, ["return.updated", "refund.requested"])
    tap = StreamTap("ordercare-test")
    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    assert act(api, ret["id"], "approve").status_code == 200
    received = act(api, ret["id"], "receive")
    assert received.status_code == 200 and received.data["refund_amount"] == 1427
    pump(tap)
    replay(tap)
    assert refund_webhook(api, order["id"], 1427).status_code == 200
    pump(tap)
    replay(tap)
    pump(tap)
    events = by_type(receiver)
    updates = sorted(events["return.updated"], key=lambda e: e["data"]["status"])
    shown = api.call("GET", f"/v1/returns/{ret['id']}", role="agent", sub="agt_1").data
    assert shown["status"] == "refunded", shown
    assert [e["data"]["status"] for e in updates] == ["approved", "received", "refunded", "requested"]
    assert len(receiver.accepted()) == 5  # nothing delivered twice: the replays found every intent recorded
    [refund] = events["refund.requested"]
    assert refund["data"] == {
        "return_id": ret["id"],
        "number": ret["number"],
        "order_id": order["id"],
        "amount": 1427,
        "currency": "EUR",
        "shipping": 0,
        "lines": [{"sku": "MUG-1", "quantity": 1, "amount": 1427}],
    }
    assert updates[2]["data"]["refunded_amount"] == 1427 and updates[2]["data"]["holds"] == []
    assert "customer_id" not in str(updates) and "alice" not in str(events).lower()  # no personal data
    for _, headers, body in receiver.requests:
        verify_signature(headers["X-OrderCare-Signature"], body, (subscription["secret"],), time.time())
    assert sorted(d["status"] for d in deliveries(api, subscription["id"])) == ["delivered"] * 5


def test_a_refund_mismatch_hold_is_a_return_update(api: Api, receivers: list[Receiver]) -> None:
    from tests.functional.test_returns_api import act, delivered_order, refund_webhook, request_return

    receiver = Receiver()
    receivers.append(receiver)
    subscribe(api, receiver.url, ["return.updated"])
    tap = StreamTap("ordercare-test")
    order = delivered_order(api)
    ret = request_return(api, order["id"]).data
    act(api, ret["id"], "approve")
    act(api, ret["id"], "receive")
    pump(tap)
    assert refund_webhook(api, order["id"], 1000).status_code == 200
    pump(tap)
    replay(tap)
    updates = by_type(receiver)["return.updated"]
    seen = sorted((e["data"]["status"], e["data"]["holds"]) for e in updates)
    assert seen == [("approved", []), ("received", []), ("received", ["refund_mismatch"]), ("requested", [])]


def test_ticket_updates_once_per_change_without_internal_notes(api: Api, receivers: list[Receiver]) -> None:
    from tests.functional.test_tickets_api import ALICE, agent, open_ticket

    receiver = Receiver()
    receivers.append(receiver)
    subscribe(api, receiver.url, ["ticket.updated"])
    tap = StreamTap("ordercare-test")
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    pump(tap)
    path = f"/v1/tickets/{ticket['id']}"
    note = agent(api, "POST", f"{path}/messages", {"message": "VIP, refund freely", "internal": True})
    assert note.status_code == 201
    pump(tap)
    assert len(receiver.accepted()) == 1  # an internal note changes nothing the customer sees
    assert agent(api, "POST", f"{path}/messages", {"message": "On its way!"}).data["status"] == "acknowledged"
    assert agent(api, "POST", f"{path}/resolve", {"resolution": "Re-sent"}).status_code == 200
    assert api.call("POST", f"{path}/reopen", role="customer", sub=ALICE).status_code == 200
    pump(tap)
    replay(tap)
    pump(tap)
    [updates] = by_type(receiver).values()
    updates.sort(key=lambda e: (e["data"]["reopened"], e["data"]["resolved_at"] or "", e["data"]["status"] != "open"))
    assert [e["data"]["status"] for e in updates] == ["open", "acknowledged", "resolved", "acknowledged"]
    assert len(receiver.accepted()) == 4
    first, acknowledged = updates[0]["data"], updates[1]["data"]
    assert first["ticket_id"] == ticket["id"] and first["number"] == ticket["number"]
    assert first["order_id"] == order["id"] and first["sla"] == {
        "acknowledgement": "on_track",
        "resolution": "on_track",
    }
    assert acknowledged["acknowledged_at"] and acknowledged["sla"]["acknowledgement"] == "met"
    assert updates[-1]["data"]["reopened"] == 1
    text = json.dumps([e["data"] for e in updates])
    for secret in ("VIP", "On its way", "Where is my parcel", "agt_1", "Re-sent", "messages"):
        assert secret not in text  # no message, note, staff id or free text


def _failed_payment(api: Api, receiver: Receiver, tap: StreamTap) -> dict[str, Any]:
    from tests.functional.test_stripe_webhook import send
    from tests.provider_fixtures import payment_intent_failed

    order = place(api)
    event = payment_intent_failed(order["id"], order["total"], "pi_declined_1")
    assert send(api, event).data["outcome"] == "recorded"
    assert send(api, event).data["outcome"] == "duplicate"
    pump(tap)
    replay(tap)
    return order


def test_a_failed_payment_is_no_on_hold_event_by_default(api: Api, receivers: list[Receiver]) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    subscribe(api, receiver.url, ["order.on_hold"])
    order = _failed_payment(api, receiver, StreamTap("ordercare-test"))
    assert receiver.accepted() == []
    shown = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="agt_1").data
    assert shown["status"] == "placed" and shown["holds"] == []


def test_a_failed_payment_is_an_on_hold_event_where_the_shop_wants_it(
    api: Api, receivers: list[Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.bootstrap import reset_container

    monkeypatch.setenv("OC_WEBHOOK_PAYMENT_FAILED_ON_HOLD", "true")
    reset_container()
    receiver = Receiver()
    receivers.append(receiver)
    subscribe(api, receiver.url, ["order.on_hold"])
    order = _failed_payment(api, receiver, StreamTap("ordercare-test"))
    [event] = receiver.accepted()
    assert event["type"] == "order.on_hold" and event["data"]["order_id"] == order["id"]
    assert event["data"]["reason"] == "payment_failed" and event["data"]["holds"] == []
    assert event["data"]["payment"] == {"provider_ref": "pi_declined_1", "reason": "card_declined"}
    assert event["data"]["status"] == "placed"  # no state change
    shown = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="agt_1").data
    assert shown["status"] == "placed" and shown["holds"] == []


def _record_deliveries(subscription_id: str, count: int) -> list[str]:
    """`count` deliveries as the intent handler records them; their event ids, newest first."""
    from chalicelib.bootstrap import get_container
    from chalicelib.services.webhooks import Attempt, Delivery

    store = get_container().webhooks.store
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    ids = [f"evt_01JD3M5X8Q2W7Y6Z4K9N0P{n:04d}" for n in range(count)]  # ids sort by time
    for n, event_id in enumerate(ids):
        delivery = Delivery(subscription_id, event_id, "order.placed", "pending", 0, at + timedelta(seconds=n))
        store.record_attempt(delivery, Attempt(_z(at), 500, None, 12))
    return ids[::-1]


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pages(api: Api, subscription_id: str, limit: int) -> list[tuple[list[str], bool, Any]]:
    """Every page, following the cursors: (event ids, a next cursor given, the round trips)."""
    from bench.round_trips import counting

    pages: list[tuple[list[str], bool, Any]] = []
    cursor: str | None = None
    while len(pages) < 20:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        with counting() as calls:
            response = api.call("GET", f"/v1/webhook-subscriptions/{subscription_id}/deliveries{query}", role="admin")
        assert response.status_code == 200, response.data
        assert response.data["subscription_id"] == subscription_id
        cursor = response.data["next_cursor"]
        pages.append(([item["event_id"] for item in response.data["items"]], cursor is not None, calls))
        if cursor is None:
            return pages
    raise AssertionError("the cursors never end")


def test_deliveries_are_one_query_a_page_and_never_list_the_subscription(api: Api) -> None:
    """QUALITY.md: one read per request. The subscription's item shares the deliveries' partition
    and key range; it proves the subscription exists and is never a delivery or a page's slot."""
    from bench.round_trips import counting

    subscription = subscribe(api, "http://127.0.0.1:9/hook", ["order.placed"])
    assert _pages(api, subscription["id"], 20) == [([], False, {"Query": 1})]

    newest_first = _record_deliveries(subscription["id"], 5)
    for limit in (1, 2, 3, 4, 5, 6, 100):
        pages = _pages(api, subscription["id"], limit)
        assert [event_id for ids, _, _ in pages for event_id in ids] == newest_first, limit
        # As DynamoDB's `Limit` pages: a full page has a cursor (after the last one: an empty page).
        assert len(pages) == len(newest_first) // limit + 1, (limit, pages)
        for ids, more, calls in pages:
            assert calls == {"Query": 1}, (limit, calls)
            assert more == (len(ids) == limit), (limit, pages)

    # Deleted: its deliveries stay readable (cancelled ones included), still one Query a page.
    path = f"/v1/webhook-subscriptions/{subscription['id']}"
    assert api.call("DELETE", path, role="admin").status_code == 204
    assert [ids for ids, _, _ in _pages(api, subscription["id"], 2)] == [
        newest_first[:2],
        newest_first[2:4],
        newest_first[4:],
    ]

    # Unknown: 404, one Query (none for an id that cannot be one).
    for unknown, reads in (("whs_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", {"Query": 1}), ("nope", {})):
        with counting() as calls:
            response = api.call("GET", f"/v1/webhook-subscriptions/{unknown}/deliveries", role="admin")
        assert response.status_code == 404 and calls == reads, (unknown, response.status_code, calls)

    # An item removed behind the service's back (never by the app): the list read to its end finds
    # no subscription — 404, as when it was read first.
    from chalicelib.adapters.dynamo.models import TableItem

    TableItem._get_connection().connection.client.delete_item(
        TableName=TableItem.Meta.table_name, Key={"pk": {"S": f"WEBHOOKSUB#{subscription['id']}"}, "sk": {"S": "#SUB"}}
    )
    assert api.call("GET", f"{path}/deliveries?limit=100", role="admin").status_code == 404
