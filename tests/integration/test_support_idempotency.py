"""Idempotency-Key on tickets and feedback, on DynamoDB Local: eight concurrent copies of one request
change the ticket (or count the rating) once and all get the same answer — the record is written in
the change's own transaction, and only a real engine shows the race (moto's transactions are not
atomic across threads)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import Container
from chalicelib.domain.ids import keyed_id
from chalicelib.domain.tickets import Ticket
from chalicelib.services.orders import IdempotentRequest
from chalicelib.services.ports import IdempotencyKeyTakenError
from chalicelib.services.tickets import Caller, TicketReply
from tests.integration.test_order_store import _container, _place, _race

pytestmark = pytest.mark.timeout(240)
RACERS = 8
AGENT = Caller("agent", "agt_it")


@pytest.fixture
def container(dynamodb_local_endpoint: str, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Container:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    return _container(table_name)


def _present(ticket: Ticket) -> dict[str, Any]:
    return {"id": ticket.id, "version": ticket.version, "messages": [m.body for m in ticket.messages]}


def test_eight_concurrent_ticket_openings_with_one_key_open_one_ticket(container: Container) -> None:
    order_id = _place(container)["id"]
    request = IdempotentRequest("agt_it", "open-" + uuid.uuid4().hex, {"path": "/v1/tickets", "body": {}})

    def open_one(reply: TicketReply | None) -> Ticket:
        return container.tickets.open(
            order_id=order_id, category="delay", message="Where?", channel="phone", caller=AGENT, reply=reply
        )

    answers, errors = _race(RACERS, lambda _: container.tickets.answer(request, _present, 201, open_one))
    assert not errors, errors
    assert len({repr(answer) for answer in answers}) == 1, answers
    [ticket] = container.ticket_repository.for_order(order_id)
    assert answers[0] == (201, {"id": ticket.id, "version": 1, "messages": ["Where?"]})


def test_eight_concurrent_replies_with_one_key_are_written_once(container: Container) -> None:
    order_id = _place(container)["id"]
    ticket = container.tickets.open(
        order_id=order_id, category="delay", message="Where?", channel="phone", caller=AGENT
    )
    request = IdempotentRequest("agt_it", "reply-" + uuid.uuid4().hex, {"path": "messages", "body": {"m": "Sent"}})

    def reply_once(reply: TicketReply | None) -> Ticket:
        return container.tickets.add_message(ticket.id, AGENT, "It left today.", reply=reply)

    answers, errors = _race(RACERS, lambda _: container.tickets.answer(request, _present, 201, reply_once))
    assert not errors, errors
    assert len({repr(answer) for answer in answers}) == 1, answers
    stored = container.tickets.get(ticket.id, AGENT)
    assert [m.body for m in stored.messages] == ["Where?", "It left today."]
    assert answers[0] == (201, {"id": ticket.id, "version": stored.version, "messages": ["Where?", "It left today."]})


def test_eight_concurrent_ratings_with_one_key_count_once(container: Container) -> None:
    request = IdempotentRequest("cus_it", "fb-" + uuid.uuid4().hex, {"path": "/v1/feedback", "body": {"rating": 5}})
    now = container.clock.now()

    def rate(_: int) -> dict[str, Any]:
        return container.kpis.record_feedback(
            "website",
            5,
            None,
            None,
            None,
            now,
            feedback_id=keyed_id("fbk", request.principal, request.key),
            stored=lambda body: container.orders.stored(request, 201, body),
        )

    answers, errors = _race(RACERS, rate)
    assert len(answers) == 1 and all(isinstance(error, IdempotencyKeyTakenError) for error in errors), errors
    assert container.orders.replay(request) == (201, answers[0])
    day = now.date()
    totals, _, _ = container.kpis.store.totals(day - timedelta(days=1), day + timedelta(days=2))
    assert (totals.get("csat__num"), totals.get("csat__den")) == (1, 1)
