"""A ticket change checks the order's version in its own transaction instead of reading the order,
on DynamoDB Local: where the order moved on, the failed check hands its version back (ALL_OLD on
the ConditionCheck) and the change is written once more under it, so the timeline still reads in
the order things happened; a retry whose key is taken gets the stored answer from the failed write."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bench.round_trips import counting
from chalicelib.bootstrap import Container
from chalicelib.domain.tickets import Ticket
from chalicelib.services.orders import IdempotentRequest
from chalicelib.services.tickets import Caller, TicketReply
from tests.integration.test_order_store import _container, _pay, _place

pytestmark = pytest.mark.timeout(240)
AGENT = Caller("agent", "agt_it")


@pytest.fixture
def container(dynamodb_local_endpoint: str, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Container:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    return _container(table_name)


def _kinds(container: Container, order_id: str) -> list[str]:
    entries, _ = container.orders.timeline(order_id, customer_id=None, limit=100, cursor=None)
    return [entry.kind for entry in entries]


def test_a_ticket_change_after_the_order_moved_follows_the_orders_change(container: Container) -> None:
    order_id = _place(container)["id"]
    ticket = container.tickets.open(
        order_id=order_id, category="delay", message="Where?", channel="phone", caller=AGENT
    )
    _pay(container, order_id)
    with counting() as calls:
        container.tickets.acknowledge(ticket.id, AGENT)
    assert dict(calls) == {"Query": 1, "TransactWriteItems": 2}  # the engine handed the order's version back
    kinds = _kinds(container, order_id)
    assert kinds.index("ticket_opened") < kinds.index("status_changed") < kinds.index("ticket_acknowledged")
    stored = container.ticket_repository.get(ticket.id)
    assert stored is not None and stored.order_version == container.orders.get(order_id).version
    with counting() as calls:  # where the ticket expects the order now: one write
        container.tickets.resolve(ticket.id, AGENT, "paid and found")
    assert dict(calls) == {"Query": 1, "TransactWriteItems": 1}
    assert _kinds(container, order_id)[-1] == "ticket_status_changed"


def test_a_retry_whose_key_is_taken_replays_from_the_failed_write(container: Container) -> None:
    order_id = _place(container)["id"]
    ticket = container.tickets.open(
        order_id=order_id, category="delay", message="Where?", channel="phone", caller=AGENT
    )
    request = IdempotentRequest("agt_it", "reply-" + uuid.uuid4().hex, {"path": "messages", "body": {"m": "Sent"}})

    def present(t: Ticket) -> dict[str, Any]:
        return {"id": t.id, "version": t.version}

    def reply_once(reply: TicketReply | None) -> Ticket:
        return container.tickets.add_message(ticket.id, AGENT, "It left today.", reply=reply)

    first = container.tickets.answer(request, present, 201, reply_once)
    with counting() as calls:
        again = container.tickets.answer(request, present, 201, reply_once)
    assert again == first
    assert dict(calls) == {"Query": 1, "TransactWriteItems": 1}  # no read of the idempotency record
    assert [m.body for m in container.tickets.get(ticket.id, AGENT).messages] == ["Where?", "It left today."]
