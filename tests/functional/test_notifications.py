"""Milestone notifications through the real stream consumer, SES and SNS (moto)."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_string, policy
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from chalicelib.bootstrap import get_container
from chalicelib.domain.order_numbers import parse_order_number
from chalicelib.domain.webhooks import signature_header
from chalicelib.services.ports import TransientDeliveryError
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, deliver, drain, retry_sweep, sweep_until_quiet
from tests.functional.test_lifecycle_api import carrier, pay, place, staff

REGION = "eu-central-1"


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()  # the catalogue seeding is history
    yield stream


def emails() -> list[Any]:
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    return [
        message_from_string(m.raw_data, policy=policy.default) for m in backend.sent_messages if hasattr(m, "raw_data")
    ]


def sms_sent() -> list[tuple[str, str]]:
    return [(phone, body) for phone, body, *_ in sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values()]


def subjects() -> list[str]:
    return [str(message["Subject"]) for message in emails()]


def timeline(api: Api, order_id: str) -> list[dict[str, Any]]:
    return api.call("GET", f"/v1/orders/{order_id}/timeline?limit=100", role="agent", sub="a").data["items"]  # type: ignore[no-any-return]


def deliver_order(api: Api, tap: StreamTap) -> str:
    order = place(api)
    drain(tap)
    assert pay(api, order).status_code == 201
    drain(tap)  # the documents function sends the receipt (it waits for the invoice) before the parcel moves
    staff(api, f"/v1/orders/{order['id']}/processing")
    staff(
        api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": f"TRK{uuid.uuid4().hex[:8]}"}
    )
    tracking = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["shipments"][0][
        "tracking_number"
    ]
    carrier(api, tracking, "out_for_delivery")
    carrier(api, tracking, "delivered", occurred_at="2026-11-30T15:00:00Z")
    drain(tap)
    return str(order["id"])


def test_every_milestone_emailed_once_with_text_html_and_links(api: Api, tap: StreamTap) -> None:
    order_id = deliver_order(api, tap)
    number = api.call("GET", f"/v1/orders/{order_id}", role="agent", sub="agt").data["number"]
    assert parse_order_number(number) == number and number not in order_id.upper()  # never derived from the id
    assert subjects() == [
        f"Bestellung {number} bestätigt",
        f"Zahlung für Bestellung {number} erhalten",
        f"Bestellung {number} ist unterwegs",
        f"Bestellung {number} kommt heute",
        f"Bestellung {number} wurde zugestellt",
    ]
    confirmation = emails()[0]
    assert confirmation["To"] == "alice@example.com"
    text = confirmation.get_body(preferencelist=("plain",)).get_content()
    html = confirmation.get_body(preferencelist=("html",)).get_content()
    assert "Hallo Alice Müller," in text and "34,47\xa0€" in text  # de-DE money: the order total
    assert "/track/" in text and '<html lang="de">' in html and "Alice Müller" in html
    assert "List-Unsubscribe" not in confirmation  # transactional mail
    assert sms_sent() == []  # SMS is off until the customer turns it on
    entries = timeline(api, order_id)
    sent = [e for e in entries if e["kind"] == "notification_sent"]
    skipped = [e for e in entries if e["kind"] == "notification_skipped"]
    assert len(sent) == 5 and all(e["data"]["channel"] == "email" and e["data"]["message_id"] for e in sent)
    assert sent[0]["data"]["to"] == "a***@example.com"
    assert len(skipped) == 5 and {e["data"]["reason"] for e in skipped} == {"SMS not turned on by the customer"}


def test_replayed_stream_sends_nothing_more(api: Api, tap: StreamTap) -> None:
    deliver_order(api, tap)
    before = (len(emails()), len(sms_sent()))
    for _ in range(3):
        assert deliver(tap.all) == {"batchItemFailures": []}
    assert (len(emails()), len(sms_sent())) == before


def test_sms_follows_preferences_and_stop(api: Api, tap: StreamTap) -> None:
    prefs = api.call(
        "PUT",
        "/v1/customers/cus_alice/preferences",
        {"email": False, "sms": True, "locale": "en-GB"},
        role="customer",
        sub="cus_alice",
    )
    assert prefs.status_code == 200 and prefs.data["sms"] is True
    order = place(api)
    drain(tap)
    assert emails() == [] and len(sms_sent()) == 1
    phone, body = sms_sent()[0]
    assert phone == "+4915112345678" and body.startswith(f"Order {order['number']} confirmed") and len(body) <= 160
    raw = json.dumps({"originationNumber": "+4915112345678", "messageBody": "stop"}).encode()
    header = signature_header("local-sms-inbound-secret", raw, int(time.time()))
    stop = api.call("POST", "/v1/webhooks/sms-inbound", raw=raw, headers={"X-OrderCare-Signature": header})
    assert stop.status_code == 200 and stop.data["action"] == "opt_out"
    assert pay(api, order).status_code == 201
    drain(tap)
    assert len(sms_sent()) == 1
    reasons = [e["data"].get("reason") for e in timeline(api, order["id"]) if e["kind"] == "notification_skipped"]
    assert "phone number opted out (STOP)" in reasons and "email turned off by the customer" in reasons


def test_preferences_are_private(api: Api) -> None:
    assert api.call("GET", "/v1/customers/cus_alice/preferences", role="customer", sub="cus_mallory").status_code == 404
    assert api.call("GET", "/v1/customers/cus_alice/preferences", role="agent", sub="a").status_code == 403
    defaults = api.call("GET", "/v1/customers/cus_alice/preferences", role="customer", sub="cus_alice").data
    assert defaults == {"customer_id": "cus_alice", "email": True, "sms": False, "locale": None}
    bad = api.call(
        "PUT",
        "/v1/customers/cus_alice/preferences",
        {"email": "yes", "sms": False, "locale": "de"},
        role="customer",
        sub="cus_alice",
    )
    assert bad.status_code == 422


def test_sms_inbound_rejects_unsigned(api: Api) -> None:
    raw = json.dumps({"originationNumber": "+4915112345678", "messageBody": "STOP"}).encode()
    assert api.call("POST", "/v1/webhooks/sms-inbound", raw=raw).status_code == 401
    bad = signature_header("wrong", raw, int(time.time()))
    assert (
        api.call("POST", "/v1/webhooks/sms-inbound", raw=raw, headers={"X-OrderCare-Signature": bad}).status_code == 401
    )


def test_an_inbound_sms_without_its_fields_is_a_422_naming_them_and_the_body_is_documented(api: Api) -> None:
    raw = json.dumps({"messageBody": "STOP"}).encode()
    header = signature_header("local-sms-inbound-secret", raw, int(time.time()))
    response = api.call("POST", "/v1/webhooks/sms-inbound", raw=raw, headers={"X-OrderCare-Signature": header})
    assert response.status_code == 422
    assert [d["field"] for d in response.data["error"]["details"]] == ["originationNumber"]
    document = api.call("GET", "/openapi.json").data
    body = document["paths"]["/v1/webhooks/sms-inbound"]["post"]["requestBody"]["content"]["application/json"]
    schema = document["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    shapes = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["anyOf"]}
    assert shapes == {"SmsInboundIn", "SnsDelivery"}
    assert {"originationNumber", "messageBody"} <= set(document["components"]["schemas"]["SmsInboundIn"]["required"])


def test_flaky_provider_still_sends_each_message_exactly_once(
    api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifications = get_container().notifications
    real_send = notifications.mailer.send
    rng = random.Random(7)
    failures = Counter[str]()

    def flaky(to: str, payload: dict[str, Any]) -> str:
        if rng.random() < 0.2:
            failures["email"] += 1
            raise TransientDeliveryError("Throttling: rate exceeded")
        return real_send(to, payload)

    monkeypatch.setattr(notifications.mailer, "send", flaky)
    for _ in range(4):
        deliver_order(api, tap)
    sweep_until_quiet(get_container().clock.now())  # the retry schedule finishes what failed
    assert failures["email"] > 0  # the injection really happened
    counts = Counter(str(m["Subject"]).split()[0] + " " + str(m["Subject"]).split()[-1] for m in emails())
    assert len(emails()) == 4 * 5 and len(set(subjects())) == 20, counts


def test_permanent_failure_is_recorded_not_retried(api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.services.ports import PermanentDeliveryError

    notifications = get_container().notifications
    calls = Counter[str]()

    def rejected(to: str, payload: dict[str, Any]) -> str:
        calls["send"] += 1
        raise PermanentDeliveryError("MessageRejected: Email address is not verified.")

    monkeypatch.setattr(notifications.mailer, "send", rejected)
    order = place(api)
    drain(tap)
    deliver(tap.all)
    assert calls["send"] == 1
    failed = [e for e in timeline(api, order["id"]) if e["kind"] == "notification_failed"]
    assert len(failed) == 1 and "MessageRejected" in failed[0]["data"]["reason"]


def test_retry_sweep_sends_what_an_outage_left_pending(
    api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    notifications = get_container().notifications

    def down(to: str, payload: dict[str, Any]) -> str:
        raise TransientDeliveryError("ServiceUnavailable")

    original = notifications.mailer.send
    monkeypatch.setattr(notifications.mailer, "send", down)
    order = place(api)
    for _ in range(3):  # stream redeliveries: the intent is recorded, nothing more is attempted
        deliver(tap.new_records() or tap.all[-3:])
    assert emails() == []
    monkeypatch.setattr(notifications.mailer, "send", original)
    now = get_container().clock.now()
    assert retry_sweep(now) == {}  # not due yet: backing off
    later = now + timedelta(minutes=5)
    assert retry_sweep(later) == {"sent": 1}
    assert retry_sweep(later) == {}
    assert len(emails()) == 1
    sent = [e for e in timeline(api, order["id"]) if e["kind"] == "notification_sent"]
    assert len(sent) == 1


def test_daily_sms_cap(api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch) -> None:
    api.call(
        "PUT",
        "/v1/customers/cus_alice/preferences",
        {"email": False, "sms": True, "locale": "de-DE"},
        role="customer",
        sub="cus_alice",
    )
    monkeypatch.setattr(get_container().notifications, "sms_daily_cap", 2)
    for _ in range(3):
        place(api)
    drain(tap)
    assert len(sms_sent()) == 2
