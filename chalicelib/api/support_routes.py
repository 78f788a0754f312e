"""Support routes: tickets, the ticket queue, held inbound mail, the agent's view of an order.

Thin views (parse → service → present); registered by app.py as a blueprint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.http import Call, QueryParam, endpoint, json_response
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import ValidationError

if TYPE_CHECKING:
    from chalice.app import Response

    from chalicelib.api import support_schemas as ss  # routes name their models: pydantic waits for a body
    from chalicelib.domain.tickets import Ticket
    from chalicelib.services.tickets import Caller, TicketReply

support_routes = Blueprint(__name__)

STAFF = ("agent", "admin")
PAGE_QUERY = (
    QueryParam("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
    QueryParam("cursor", "next_cursor of the previous page", {"type": "string"}),
)


def caller_of(call: Call) -> Caller:
    from chalicelib.services.tickets import Caller

    return Caller(call.caller.role, call.caller.subject)


def ticket_response(call: Call, ticket: Ticket, status: int = 200) -> Response:
    return json_response(status, _ticket_presenter(call)(ticket))


def _ticket_presenter(call: Call) -> Callable[[Ticket], dict[str, Any]]:
    from chalicelib.presentation.support_presenters import present_ticket

    container = get_container()
    staff_reader = call.caller.role in STAFF
    return lambda ticket: present_ticket(ticket, staff_reader=staff_reader, link=container.attachment_link)


def ticket_answer(call: Call, run: Callable[[TicketReply | None], Ticket], status: int = 200) -> Response:
    """Answer with the changed ticket; an Idempotency-Key's response is stored in the same transaction."""
    code, body = get_container().tickets.answer(call.idempotent_request(), _ticket_presenter(call), status, run)
    return json_response(code, body)


@endpoint(
    support_routes,
    "/v1/tickets",
    "POST",
    summary="Open a ticket on an order (the customer, or an agent on their behalf)",
    roles=("customer", "agent"),
    request="chalicelib.api.support_schemas:TicketIn",
    responses={201: "chalicelib.api.support_schemas:TicketOut"},
    idempotency="optional",
    tags=("support",),
)
def open_ticket(call: Call) -> Response:
    body: ss.TicketIn = call.body
    if call.caller.role == "customer" and body.channel != "web":
        raise ValidationError("customers open tickets on the web channel", details=[{"field": "channel"}])
    tickets = get_container().tickets
    return ticket_answer(
        call,
        lambda reply: tickets.open(
            order_id=body.order_id,
            category=body.category,
            message=body.message,
            channel=body.channel,
            caller=caller_of(call),
            reply=reply,
        ),
        201,
    )


@endpoint(
    support_routes,
    "/v1/tickets/{ticket_id}",
    "GET",
    summary="A ticket with its messages (customers: their own, without internal notes)",
    roles=("customer", "agent"),
    responses={200: "chalicelib.api.support_schemas:TicketOut"},
    tags=("support",),
)
def get_ticket(call: Call, ticket_id: str) -> Response:
    return ticket_response(call, get_container().tickets.get(ticket_id, caller_of(call)))


@endpoint(
    support_routes,
    "/v1/tickets/{ticket_id}/messages",
    "POST",
    summary="Write on a ticket (agents: a public reply, emailed to the customer, or an internal note)",
    roles=("customer", "agent"),
    request="chalicelib.api.support_schemas:TicketMessageIn",
    responses={201: "chalicelib.api.support_schemas:TicketOut"},
    idempotency="optional",
    tags=("support",),
)
def post_ticket_message(call: Call, ticket_id: str) -> Response:
    body: ss.TicketMessageIn = call.body
    tickets = get_container().tickets
    return ticket_answer(
        call,
        lambda reply: tickets.add_message(
            ticket_id,
            caller_of(call),
            body.message,
            internal=body.internal,
            await_customer=body.await_customer,
            reply=reply,
        ),
        201,
    )


@endpoint(
    support_routes,
    "/v1/tickets/{ticket_id}/acknowledge",
    "POST",
    summary="Acknowledge a ticket (the first human answer stops the 24 h clock)",
    roles=("agent",),
    responses={200: "chalicelib.api.support_schemas:TicketOut"},
    idempotency="optional",
    tags=("support",),
)
def acknowledge_ticket(call: Call, ticket_id: str) -> Response:
    tickets = get_container().tickets
    return ticket_answer(call, lambda reply: tickets.acknowledge(ticket_id, caller_of(call), reply))


@endpoint(
    support_routes,
    "/v1/tickets/{ticket_id}/resolve",
    "POST",
    summary="Resolve a ticket (closed automatically 7 days later)",
    roles=("agent",),
    request="chalicelib.api.support_schemas:ResolveIn",
    responses={200: "chalicelib.api.support_schemas:TicketOut"},
    idempotency="optional",
    tags=("support",),
)
def resolve_ticket(call: Call, ticket_id: str) -> Response:
    body: ss.ResolveIn = call.body
    tickets = get_container().tickets
    return ticket_answer(call, lambda reply: tickets.resolve(ticket_id, caller_of(call), body.resolution, reply))


@endpoint(
    support_routes,
    "/v1/tickets/{ticket_id}/reopen",
    "POST",
    summary="The owner reopens their resolved ticket within 7 days (restarts the resolution clock)",
    roles=("customer",),  # API.md: reopen is the owner's (an agent who is not done simply does not resolve)
    responses={200: "chalicelib.api.support_schemas:TicketOut"},
    idempotency="optional",
    tags=("support",),
)
def reopen_ticket(call: Call, ticket_id: str) -> Response:
    tickets = get_container().tickets
    return ticket_answer(call, lambda reply: tickets.reopen(ticket_id, caller_of(call), reply))


@endpoint(
    support_routes,
    "/v1/tickets",
    "GET",
    summary="The ticket queue, oldest deadline first",
    roles=STAFF,
    responses={200: "chalicelib.api.support_schemas:TicketQueueOut"},
    query=(
        *PAGE_QUERY,
        QueryParam(
            "status",
            "only tickets in this status (default: every ticket still waiting for the team)",
            {"type": "string", "enum": ["open", "acknowledged", "waiting_on_customer", "resolved", "closed"]},
        ),
        QueryParam(
            "sla",
            "only tickets whose deadline is at risk or broken",
            {"type": "string", "enum": ["at_risk", "breached"]},
        ),
    ),
    tags=("support",),
)
def ticket_queue(call: Call) -> Response:
    container = get_container()
    scope = f"tickets:{call.query.get('status') or ''}:{call.query.get('sla') or ''}"
    page = container.tickets.queue(
        status=call.query.get("status"),
        sla=call.query.get("sla"),
        limit=call.query_int("limit", default=20, low=1, high=100),
        start=container.orders.cursors.decode(scope, call.query.get("cursor")),
    )
    return json_response(
        200, {"items": page.items, "next_cursor": container.orders.cursors.encode(scope, page.last_key)}
    )


@endpoint(
    support_routes,
    "/v1/inbound/held",
    "GET",
    summary="Inbound emails held for an agent (unknown or forged token, another sender, rate limit)",
    roles=STAFF,
    responses={200: "chalicelib.api.support_schemas:HeldEmailListOut"},
    query=PAGE_QUERY,
    tags=("support",),
)
def held_inbound(call: Call) -> Response:
    container = get_container()
    page = container.ticket_repository.held(
        limit=call.query_int("limit", default=20, low=1, high=100),
        start=container.orders.cursors.decode("held", call.query.get("cursor")),
    )
    return json_response(
        200, {"items": page.items, "next_cursor": container.orders.cursors.encode("held", page.last_key)}
    )


@endpoint(
    support_routes,
    "/v1/agent/orders/{order_id}",
    "GET",
    summary="The whole story of an order for an agent, from one query over its item collection",
    roles=STAFF,
    responses={200: "chalicelib.api.support_schemas:AgentOrderOut"},
    tags=("support",),
)
def agent_order(call: Call, order_id: str) -> Response:
    from chalicelib.services.agent_view import agent_story

    return json_response(200, agent_story(get_container(), call.settings, order_id))


@endpoint(
    support_routes,
    "/local/inbound-email",
    "POST",
    summary="Local stack only: hand a raw RFC 5322 message to the inbound-email handler (404 elsewhere)",
    roles=None,
    responses={202: "chalicelib.api.support_schemas:InboundEmailOut"},
    consumes=("message/rfc822", "application/octet-stream", "text/plain"),
    tags=("local",),
)
def local_inbound_email(call: Call) -> Response:
    from chalicelib.api.http import raw_bytes
    from chalicelib.domain.errors import NotFoundError, PayloadTooLargeError
    from chalicelib.notify.inbound_email import MAX_MESSAGE_BYTES

    if not call.settings.is_local:
        raise NotFoundError("the inbound-email helper exists on the local stack only")
    raw = raw_bytes(call.request)
    if len(raw) > MAX_MESSAGE_BYTES:
        raise PayloadTooLargeError(f"messages are at most {MAX_MESSAGE_BYTES} bytes")
    if not raw.strip():
        raise ValidationError("the body must be a raw RFC 5322 message", details=[{"field": "body"}])
    result = get_container().inbound_email.receive(raw)
    return json_response(202, result)
