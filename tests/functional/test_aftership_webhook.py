"""POST /v1/webhooks/aftership: AfterShip's tracking webhooks, verified and applied as carrier events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.providers.aftership import AfterShipWebhook, translate
from chalicelib.services.providers import _known_statuses
from tests.functional.conftest import Api
from tests.functional.test_lifecycle_api import pay, place, staff
from tests.provider_fixtures import aftership_request, aftership_update

PATH = "/v1/webhooks/aftership"
TAG_CASES = [
    ("InfoReceived", None, "label_created"),
    ("InTransit", "InTransit_007", "in_transit"),
    ("OutForDelivery", None, "out_for_delivery"),
    ("AttemptFail", "AttemptFail_001", "attempt_failed"),
    ("AvailableForPickup", None, "available_for_pickup"),
    ("Delivered", "Delivered_001", "delivered"),
    ("Exception", "Exception_001", "exception"),
    ("Exception", "Exception_010", "returned_to_sender"),
    ("Exception", "Exception_011", "returned_to_sender"),
    ("Exception", "Exception_013", "lost"),
    ("Expired", None, "stalled"),
]


def send(api: Api, payload: dict[str, Any], secret: str | None = None) -> Any:
    body, headers = aftership_request(payload, *([secret] if secret else []))
    return api.call("POST", PATH, raw=body, headers=headers)


def shipped(api: Api, tracking: str) -> dict[str, Any]:
    order = place(api)
    assert pay(api, order).status_code == 201
    staff(api, f"/v1/orders/{order['id']}/processing")
    response = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking})
    assert response.status_code == 201, response.data
    return order


def status_of(api: Api, order: dict[str, Any]) -> str:
    return str(api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["status"])


@pytest.mark.parametrize(("tag", "subtag", "status"), TAG_CASES)
def test_every_tag_maps_onto_the_carrier_status_model(tag: str, subtag: str | None, status: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    scanned = (now - timedelta(hours=2)).astimezone().isoformat()
    payload = aftership_update("TRK1", tag, subtag=subtag, checkpoint_time=scanned)
    command = translate(AfterShipWebhook.model_validate(payload), now)
    assert command is not None and command.status == status
    assert command.occurred_at == now - timedelta(hours=2)  # the checkpoint's own time
    assert (command.raw_tag, command.raw_subtag) == (tag, payload["msg"]["subtag"])


@pytest.mark.parametrize(("tag", "subtag", "status"), TAG_CASES)
def test_every_tag_over_http(api: Api, tag: str, subtag: str | None, status: str) -> None:
    tracking = f"AS-{tag}-{subtag or 'x'}".replace("_", "-")
    shipped(api, tracking)
    response = send(api, aftership_update(tracking, tag, subtag=subtag))
    assert response.status_code == 200
    assert status in (*_known_statuses(), "stalled")
    assert response.data["outcome"] == "applied"


def test_the_raw_tag_and_subtag_stay_on_the_carrier_event(api: Api) -> None:
    order = shipped(api, "AS-RAW-1")
    payload = aftership_update("AS-RAW-1", "InTransit", subtag="InTransit_007")
    assert send(api, payload).data["outcome"] == "applied"
    view = api.call("GET", f"/v1/agent/orders/{order['id']}", role="agent", sub="a").data
    event = view["shipments"][0]["events"][-1]
    assert (event["status"], event["tag"], event["subtag"]) == ("in_transit", "InTransit", "InTransit_007")
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data["items"]
    scan = [e for e in timeline if e["kind"] == "carrier_event"][-1]
    assert (scan["data"]["tag"], scan["data"]["subtag"]) == ("InTransit", "InTransit_007")
    native = shipped(api, "AS-RAW-2")  # the native webhook: its status is the raw one, no tag
    from tests.functional.test_lifecycle_api import carrier

    carrier(api, "AS-RAW-2", "in_transit")
    event = api.call("GET", f"/v1/orders/{native['id']}", role="agent", sub="a").data["shipments"][0]["events"][-1]
    assert (event["status"], event["tag"], event["subtag"]) == ("in_transit", None, None)


def test_expired_flags_the_parcel_stalled_through_the_sweeps_command_once(api: Api) -> None:
    order = shipped(api, "AS-EXP-1")
    expired = aftership_update("AS-EXP-1", "Expired")
    assert send(api, expired).data["outcome"] == "applied"
    assert send(api, expired).data["outcome"] == "duplicate"
    assert send(api, aftership_update("AS-EXP-1", "Expired")).data["outcome"] == "unchanged"  # already flagged
    shipment = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["shipments"][0]
    assert (shipment["needs_attention"], shipment["attention_reason"]) == (True, "stalled")
    assert shipment["events"] == []  # Expired is not a scan: nothing the carrier reported
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data["items"]
    flagged = [e for e in timeline if e["kind"] == "shipment_needs_attention"]
    assert len(flagged) == 1 and (flagged[0]["data"]["reason"], flagged[0]["data"]["tag"]) == ("stalled", "Expired")
    # The carrier speaks again: the stall is over.
    assert send(api, aftership_update("AS-EXP-1", "InTransit")).data["outcome"] == "applied"
    shipment = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["shipments"][0]
    assert shipment["needs_attention"] is False


def test_out_for_delivery_then_delivered_and_replays(api: Api) -> None:
    order = shipped(api, "AS-OFD-1")
    out = aftership_update("AS-OFD-1", "OutForDelivery")
    assert send(api, out).data["outcome"] == "applied"
    assert status_of(api, order) == "out_for_delivery"
    assert send(api, out).data["outcome"] == "duplicate"  # AfterShip retries: acknowledged, ignored
    assert send(api, aftership_update("AS-OFD-1", "Delivered")).data["outcome"] == "applied"
    assert status_of(api, order) == "delivered"


def test_edd_revise_is_a_delay_with_the_new_estimate(api: Api) -> None:
    order = shipped(api, "AS-EDD-1")
    later = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    payload = aftership_update("AS-EDD-1", "InTransit", event="edd_revise", expected_delivery=later)
    assert send(api, payload).data["outcome"] == "applied"
    timeline = api.call("GET", f"/v1/orders/{order['id']}/timeline?limit=100", role="agent", sub="a").data
    kinds = [entry["kind"] for entry in timeline["items"]]
    assert "delivery_estimate_revised" in kinds
    carrier = [e for e in timeline["items"] if e["kind"] == "carrier_event"]
    assert carrier[-1]["data"]["status"] == "delayed" and carrier[-1]["data"]["estimated_delivery"].startswith(later)
    # A date ends as the shop's day ends (Europe/Berlin, as the promise), not at midnight UTC.
    from datetime import date, time
    from zoneinfo import ZoneInfo

    ends = datetime.combine(date.fromisoformat(later), time(23, 59, 59), tzinfo=ZoneInfo("Europe/Berlin"))
    revised = api.call("GET", f"/v1/orders/{order['id']}", role="agent", sub="a").data["revised_deliver_by"]
    assert revised == ends.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_unknown_tracking_and_other_events_are_acknowledged(api: Api) -> None:
    assert send(api, aftership_update("NOPE-1", "InTransit")).data["outcome"] == "unknown_tracking_number"
    other = aftership_update("NOPE-1", "InTransit", event="tracking_created")
    assert send(api, other).data["outcome"] == "ignored"


def test_signatures_wrong_tampered_missing_and_rotated(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = aftership_update("AS-SIG-1", "InTransit")
    assert send(api, payload, secret="wrong-secret").status_code == 401
    body, headers = aftership_request(payload)
    assert api.call("POST", PATH, raw=body.replace(b"AS-SIG-1", b"AS-SIG-2"), headers=headers).status_code == 401
    assert api.call("POST", PATH, raw=body, headers={"Content-Type": "application/json"}).status_code == 401
    from chalicelib.bootstrap import reset_container

    monkeypatch.setenv("AFTERSHIP_WEBHOOK_SECRET", "new-secret,local-aftership-webhook-secret")
    reset_container()
    shipped(api, "AS-SIG-1")
    assert send(api, payload).data["outcome"] == "applied"  # the old secret still works during rotation
    assert send(api, aftership_update("AS-SIG-1", "OutForDelivery"), secret="new-secret").status_code == 200


def test_a_signed_body_that_is_not_a_tracking_webhook_is_422(api: Api) -> None:
    body, headers = aftership_request({"event": "tracking_update"})
    assert api.call("POST", PATH, raw=body, headers=headers).status_code == 422
