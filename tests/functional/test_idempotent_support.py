"""Idempotency-Key on the ticket and feedback routes: a retry replays the first answer and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import clock
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import place
from tests.functional.test_notifications import emails
from tests.functional.test_tickets_api import ALICE

AGENT = "agt_1"


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


def keyed(api: Api, path: str, body: Any, key: str | None, *, role: str = "agent", sub: str = AGENT) -> Any:
    headers = {"Idempotency-Key": key} if key else None
    return api.call("POST", path, body, role=role, sub=sub, headers=headers)


def reused(response: Any) -> bool:
    return bool(response.status_code == 409 and response.data["error"]["code"] == "idempotency_key_reused")


def tickets_of(order_id: str) -> list[Any]:
    from chalicelib.bootstrap import get_container

    return get_container().ticket_repository.for_order(order_id)


def ticket_body(order_id: str, message: str = "Where is my parcel?") -> dict[str, Any]:
    return {"order_id": order_id, "category": "delay", "message": message}


def test_a_retried_ticket_opening_is_the_same_ticket(api: Api, tap: StreamTap) -> None:
    order = place(api)
    drain(tap)
    before = len(emails())
    first = keyed(api, "/v1/tickets", ticket_body(order["id"]), "open-1", role="customer", sub=ALICE)
    assert first.status_code == 201, first.data
    retry = keyed(api, "/v1/tickets", ticket_body(order["id"]), "open-1", role="customer", sub=ALICE)
    assert (retry.status_code, retry.data) == (201, first.data)
    assert reused(keyed(api, "/v1/tickets", ticket_body(order["id"], "Other"), "open-1", role="customer", sub=ALICE))
    drain(tap)
    assert [t.id for t in tickets_of(order["id"])] == [first.data["id"]]
    assert len(emails()) == before + 1  # one receipt
    # Another caller's same key is theirs: a ticket of its own. Without a key: a new ticket each time.
    assert keyed(api, "/v1/tickets", ticket_body(order["id"]), "open-1").data["id"] != first.data["id"]
    keyed(api, "/v1/tickets", ticket_body(order["id"]), None, role="customer", sub=ALICE)
    keyed(api, "/v1/tickets", ticket_body(order["id"]), None, role="customer", sub=ALICE)
    assert len(tickets_of(order["id"])) == 4


def test_a_retried_public_reply_is_written_and_emailed_once(api: Api, tap: StreamTap) -> None:
    order = place(api)
    ticket = keyed(api, "/v1/tickets", ticket_body(order["id"]), None, role="customer", sub=ALICE).data
    drain(tap)
    before = len(emails())
    path = f"/v1/tickets/{ticket['id']}/messages"
    reply = keyed(api, path, {"message": "Your parcel left today."}, "reply-1")
    assert reply.status_code == 201, reply.data
    retry = keyed(api, path, {"message": "Your parcel left today."}, "reply-1")
    assert (retry.status_code, retry.data) == (201, reply.data)
    assert reused(keyed(api, path, {"message": "Your parcel left yesterday."}, "reply-1"))
    assert reused(keyed(api, path, {"message": "Your parcel left today.", "internal": True}, "reply-1"))
    drain(tap)
    stored = api.call("GET", f"/v1/tickets/{ticket['id']}", role="agent", sub=AGENT).data
    assert [m["body"] for m in stored["messages"]] == ["Where is my parcel?", "Your parcel left today."]
    sent = emails()[before:]
    assert len(sent) == 1 and "Your parcel left today." in sent[0].get_body(("plain",)).get_content()
    # The customer's own retried message lands once too.
    answer = keyed(api, path, {"message": "Thanks!"}, "thanks", role="customer", sub=ALICE)
    assert keyed(api, path, {"message": "Thanks!"}, "thanks", role="customer", sub=ALICE).data == answer.data
    stored = api.call("GET", f"/v1/tickets/{ticket['id']}", role="agent", sub=AGENT).data
    assert [m["body"] for m in stored["messages"]][-2:] == ["Your parcel left today.", "Thanks!"]


def test_retried_transitions_replay_their_answer_instead_of_a_409(api: Api) -> None:
    order = place(api)
    ticket = keyed(api, "/v1/tickets", ticket_body(order["id"]), None, role="customer", sub=ALICE).data
    tid = ticket["id"]
    acknowledged = keyed(api, f"/v1/tickets/{tid}/acknowledge", None, "ack")
    assert acknowledged.status_code == 200 and acknowledged.data["status"] == "acknowledged"
    assert keyed(api, f"/v1/tickets/{tid}/acknowledge", None, "ack").data == acknowledged.data
    assert keyed(api, f"/v1/tickets/{tid}/acknowledge", None, None).status_code == 409  # without a key: as before
    resolved = keyed(api, f"/v1/tickets/{tid}/resolve", {"resolution": "Re-sent"}, "res")
    assert resolved.status_code == 200 and resolved.data["status"] == "resolved"
    assert keyed(api, f"/v1/tickets/{tid}/resolve", {"resolution": "Re-sent"}, "res").data == resolved.data
    assert reused(keyed(api, f"/v1/tickets/{tid}/resolve", {"resolution": "Refunded"}, "res"))
    assert reused(keyed(api, f"/v1/tickets/{tid}/acknowledge", None, "res"))  # the key names another request
    reopened = keyed(api, f"/v1/tickets/{tid}/reopen", None, "again", role="customer", sub=ALICE)
    assert reopened.status_code == 200 and reopened.data["reopened"] == 1
    retry = keyed(api, f"/v1/tickets/{tid}/reopen", None, "again", role="customer", sub=ALICE)
    assert (retry.status_code, retry.data) == (200, reopened.data)
    assert api.call("GET", f"/v1/tickets/{tid}", role="agent", sub=AGENT).data["reopened"] == 1


def monday() -> Any:
    from datetime import timedelta

    today = clock.now().date()
    return today - timedelta(days=today.weekday())


def week_csat() -> tuple[int, int]:
    from chalicelib.bootstrap import get_container

    kpis = {k["name"]: k for k in get_container().kpis.report("week", monday())["kpis"]}
    return kpis["csat"]["numerator"], kpis["csat"]["denominator"]


def test_a_retried_rating_counts_once(api: Api) -> None:
    first = keyed(api, "/v1/feedback", {"rating": 5}, "fb-1", role="customer", sub=ALICE)
    assert first.status_code == 201, first.data
    retry = keyed(api, "/v1/feedback", {"rating": 5}, "fb-1", role="customer", sub=ALICE)
    assert (retry.status_code, retry.data) == (201, first.data)
    assert reused(keyed(api, "/v1/feedback", {"rating": 1}, "fb-1", role="customer", sub=ALICE))
    assert week_csat() == (1, 1)
    outside = {"source": "review", "rating": 2, "occurred_at": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    recorded = keyed(api, "/v1/feedback/external", outside, "fb-1")
    assert recorded.status_code == 201 and recorded.data["id"] != first.data["id"]  # another caller's key
    assert keyed(api, "/v1/feedback/external", outside, "fb-1").data == recorded.data
    assert reused(keyed(api, "/v1/feedback/external", {**outside, "rating": 4}, "fb-1"))
    assert week_csat() == (1, 2)
    # Without a key every post is a rating of its own, as before.
    keyed(api, "/v1/feedback", {"rating": 5}, None, role="customer", sub=ALICE)
    keyed(api, "/v1/feedback", {"rating": 5}, None, role="customer", sub=ALICE)
    assert week_csat() == (3, 4)


def test_a_rating_whose_write_failed_is_counted_once_by_its_retry(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.bootstrap import get_container

    store = get_container().kpis.store
    real = store.save_feedback

    def outage(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("DynamoDB unavailable")

    monkeypatch.setattr(store, "save_feedback", outage)
    failed = keyed(api, "/v1/feedback", {"rating": 5}, "fb-2", role="customer", sub=ALICE)
    assert failed.status_code == 500
    monkeypatch.setattr(store, "save_feedback", real)
    retry = keyed(api, "/v1/feedback", {"rating": 5}, "fb-2", role="customer", sub=ALICE)
    assert retry.status_code == 201, retry.data
    assert keyed(api, "/v1/feedback", {"rating": 5}, "fb-2", role="customer", sub=ALICE).data == retry.data
    assert week_csat() == (1, 1)
