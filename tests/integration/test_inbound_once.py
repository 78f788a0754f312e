"""Inbound email on DynamoDB Local: the same message delivered many times at once (SES retries, a
duplicate receipt) lands on its ticket once — the email's marker is written in the append's own
transaction, so there is no check-then-write window. Real threads, the real engine (moto's
transactions are not atomic across threads)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from chalicelib.adapters.dynamo.tickets import InboundRateItem, _sender_rate_key
from chalicelib.bootstrap import Container
from chalicelib.notify.inbound_email import InboundEmailHandler
from chalicelib.services.tickets import Caller
from tests.integration.test_order_store import _container, _place, _race

pytestmark = pytest.mark.timeout(240)
RACERS = 8
SENDER = "it@example.com"


class MemoryMailStore:
    """S3 stand-in: the race is in DynamoDB; attachments and raw copies are not under test."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_raw(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def get_raw(self, key: str, bucket: str | None = None) -> bytes:
        return self.objects[key]

    def put_attachment(self, order_id: str, ticket_id: str, filename: str, content_type: str, data: bytes) -> str:
        key = f"inbound/attachments/{order_id}/{uuid.uuid4().hex}/{filename}"
        self.objects[key] = data
        return key


@pytest.fixture
def container(dynamodb_local_endpoint: str, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Container:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    return _container(table_name)


def _handler(container: Container) -> InboundEmailHandler:
    return replace(container.inbound_email, store=MemoryMailStore())


def _mail(container: Container, order_id: str, body: str, *, message_id: str | None, received: str = "") -> bytes:
    headers = [
        *([f"Received: from mx{received}.example.net by inbound-smtp"] if received else []),
        f"From: Integration <{SENDER}>",
        f"To: Shop <{container.reply_address(order_id)}>",
        "Subject: Re: your order",
        *([f"Message-ID: {message_id}"] if message_id else []),
        "Content-Type: text/plain; charset=utf-8",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


def _tickets(container: Container, order_id: str) -> list[Any]:
    return list(container.ticket_repository.for_order(order_id))


def test_one_email_received_eight_times_at_once_opens_one_ticket(container: Container) -> None:
    """Duplicate receipts: other bytes (Received headers) and other object keys, the same Message-ID."""
    order_id = _place(container)["id"]
    handler = _handler(container)
    message_id = f"<{uuid.uuid4().hex}@mail.example.com>"

    def deliver(i: int) -> dict[str, Any]:
        raw = _mail(container, order_id, "Where is my parcel?", message_id=message_id, received=str(i))
        return handler.handle(raw, f"inbound/ses/copy-{i}")

    results, errors = _race(RACERS, deliver)
    assert not errors, errors
    [ticket] = _tickets(container, order_id)
    assert [m.body for m in ticket.messages] == ["Where is my parcel?"]
    assert {r["ticket_id"] for r in results} == {ticket.id}
    assert {r["outcome"] for r in results} == {"ticket_created"}
    assert sum(not r.get("duplicate") for r in results) == 1
    pk, sk = _sender_rate_key(SENDER, container.clock.now())
    assert InboundRateItem.get(pk, sk).sent == 1  # the duplicates cost the sender no quota
    assert container.ticket_repository.held(limit=10, start=None).items == []


def test_a_reply_retried_eight_times_at_once_is_appended_once(container: Container) -> None:
    """SES retries of one invocation: the same bytes and object key, concurrently."""
    order_id = _place(container)["id"]
    handler = _handler(container)
    first = handler.handle(_mail(container, order_id, "First question", message_id="<q1@example.com>"), "k/q1")
    raw = _mail(container, order_id, "And one more thing", message_id=f"<{uuid.uuid4().hex}@example.com>")

    results, errors = _race(RACERS, lambda i: handler.handle(raw, "inbound/ses/retried"))
    assert not errors, errors
    [ticket] = _tickets(container, order_id)
    assert [m.body for m in ticket.messages] == ["First question", "And one more thing"]
    assert {r["ticket_id"] for r in results} == {first["ticket_id"]}
    assert {r["outcome"] for r in results} == {"message_added"}


def test_a_reply_without_message_id_is_keyed_by_its_object(container: Container) -> None:
    order_id = _place(container)["id"]
    handler = _handler(container)
    handler.handle(_mail(container, order_id, "Opening", message_id="<open@example.com>"), "k/open")

    def deliver(i: int) -> dict[str, Any]:  # other bytes each time, the same stored object
        return handler.handle(_mail(container, order_id, "No id here", message_id=None, received=str(i)), "k/same")

    results, errors = _race(RACERS, deliver)
    assert not errors, errors
    [ticket] = _tickets(container, order_id)
    assert [m.body for m in ticket.messages] == ["Opening", "No id here"]
    assert {r["ticket_id"] for r in results} == {ticket.id}
    # another object without a Message-ID is another email
    handler.handle(_mail(container, order_id, "No id here", message_id=None), "k/other")
    assert len(_tickets(container, order_id)[0].messages) == 3


def test_an_answer_to_a_resolved_ticket_reopens_it_once(container: Container) -> None:
    order_id = _place(container)["id"]
    handler = _handler(container)
    opened = handler.handle(_mail(container, order_id, "Broken mug", message_id="<b1@example.com>"), "k/b1")
    container.tickets.resolve(opened["ticket_id"], Caller("agent", "a"), "refund issued")
    raw = _mail(container, order_id, "The refund never came", message_id="<b2@example.com>")

    results, errors = _race(RACERS, lambda i: handler.handle(raw, f"inbound/ses/b2-{i}"))
    assert not errors, errors
    [ticket] = _tickets(container, order_id)
    assert ticket.status == "acknowledged" and ticket.reopened == 1
    assert {(r["outcome"], r["ticket_id"]) for r in results} == {("message_added", ticket.id)}
    assert [m.body for m in ticket.messages] == ["Broken mug", "The refund never came"]


def test_a_held_email_received_eight_times_at_once_is_held_once(container: Container) -> None:
    """Another sender writes to the order's reply address: held for an agent, once, whatever the copies."""
    order_id = _place(container)["id"]
    handler = _handler(container)
    raw = _mail(container, order_id, "Let me see that order", message_id="<m1@elsewhere.example>")
    raw = raw.replace(SENDER.encode(), b"mallory@elsewhere.example")

    results, errors = _race(
        RACERS, lambda i: handler.handle(raw.replace(b"Subject:", f"X-Copy: {i}\r\nSubject:".encode()), f"k/h{i}")
    )
    assert not errors, errors
    held = container.ticket_repository.held(limit=20, start=None).items
    assert len(held) == 1 and held[0]["reason"] == "sender_mismatch"
    assert {(r["outcome"], r["held_id"]) for r in results} == {("held", held[0]["id"])}
    assert _tickets(container, order_id) == []  # never attached silently
