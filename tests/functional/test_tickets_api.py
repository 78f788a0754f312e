"""Tickets over HTTP: every route and role, ownership, internal notes, transitions, the queue."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.api.support_schemas import TicketOut, TicketQueueOut
from tests.functional.conftest import Api
from tests.functional.test_lifecycle_api import place

ALICE = "cus_alice"


def open_ticket(api: Api, order_id: str, *, role: str = "customer", sub: str = ALICE, **extra: Any) -> Any:
    body = {"order_id": order_id, "category": "delay", "message": "Where is my parcel?", **extra}
    return api.call("POST", "/v1/tickets", body, role=role, sub=sub)


def agent(api: Api, method: str, path: str, body: Any = None) -> Any:
    return api.call(method, path, body, role="agent", sub="agt_1")


def test_customer_opens_a_ticket_with_24h_and_48h_deadlines(api: Api) -> None:
    order = place(api)
    response = open_ticket(api, order["id"])
    assert response.status_code == 201, response.data
    ticket = TicketOut.model_validate(response.data)
    assert ticket.id.startswith("tkt_") and ticket.number.startswith("T-")
    assert ticket.status == "open" and ticket.channel == "web" and ticket.category == "delay"
    assert ticket.sla.acknowledgement == "on_track" and ticket.sla.resolution == "on_track"
    from datetime import datetime

    created = datetime.fromisoformat(ticket.created_at.replace("Z", "+00:00"))
    assert (datetime.fromisoformat(ticket.acknowledge_by.replace("Z", "+00:00")) - created).total_seconds() == 24 * 3600
    assert (datetime.fromisoformat(ticket.resolve_by.replace("Z", "+00:00")) - created).total_seconds() == 48 * 3600
    assert [m.author for m in ticket.messages] == ["customer"]
    # The same ticket, read back by its owner and by an agent.
    assert api.call("GET", f"/v1/tickets/{ticket.id}", role="customer", sub=ALICE).data["id"] == ticket.id
    assert agent(api, "GET", f"/v1/tickets/{ticket.id}").data["number"] == ticket.number


def test_other_customers_get_404_for_orders_and_tickets(api: Api) -> None:
    order = place(api)
    assert open_ticket(api, order["id"], sub="cus_mallory").status_code == 404
    ticket = open_ticket(api, order["id"]).data
    for method, path, body in (
        ("GET", f"/v1/tickets/{ticket['id']}", None),
        ("POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "hi"}),
        ("POST", f"/v1/tickets/{ticket['id']}/reopen", None),
    ):
        response = api.call(method, path, body, role="customer", sub="cus_mallory")
        assert response.status_code == 404, (path, response.data)
        assert ticket["number"] not in str(response.data)
    assert api.call("GET", "/v1/tickets/tkt_nonsense", role="agent", sub="a").status_code == 404


def test_customers_cannot_act_as_agents(api: Api) -> None:
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    assert api.call("POST", f"/v1/tickets/{ticket['id']}/acknowledge", role="customer", sub=ALICE).status_code == 403
    assert (
        api.call(
            "POST", f"/v1/tickets/{ticket['id']}/resolve", {"resolution": "x"}, role="customer", sub=ALICE
        ).status_code
        == 403
    )
    assert api.call("GET", "/v1/tickets", role="customer", sub=ALICE).status_code == 403
    assert api.call("GET", "/v1/inbound/held", role="customer", sub=ALICE).status_code == 403
    assert api.call("GET", f"/v1/agent/orders/{order['id']}", role="customer", sub=ALICE).status_code == 403
    note = api.call(
        "POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "x", "internal": True}, role="customer", sub=ALICE
    )
    assert note.status_code == 422
    assert open_ticket(api, order["id"], channel="phone").status_code == 422  # customers write on the web


def test_internal_notes_never_reach_the_customer(api: Api) -> None:
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    note = agent(
        api, "POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "VIP, refund freely", "internal": True}
    )
    assert note.status_code == 201 and note.data["status"] == "open"  # a note is not an acknowledgement
    reply = agent(api, "POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "On its way!"})
    assert reply.data["status"] == "acknowledged" and reply.data["sla"]["acknowledgement"] == "met"
    assert [m["internal"] for m in reply.data["messages"]] == [False, True, False]
    mine = api.call("GET", f"/v1/tickets/{ticket['id']}", role="customer", sub=ALICE).data
    assert "VIP" not in str(mine) and "agt_1" not in str(mine)
    assert [m["author"] for m in mine["messages"]] == ["customer", "agent"]
    answer = api.call("POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "Thanks"}, role="customer", sub=ALICE)
    assert answer.status_code == 201 and "VIP" not in str(answer.data)


def test_status_flow_waiting_resolve_reopen(api: Api) -> None:
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    tid = ticket["id"]
    assert agent(api, "POST", f"/v1/tickets/{tid}/resolve", {"resolution": ""}).status_code == 422
    assert agent(api, "POST", f"/v1/tickets/{tid}/acknowledge").data["status"] == "acknowledged"
    assert agent(api, "POST", f"/v1/tickets/{tid}/acknowledge").status_code == 409
    asked = agent(api, "POST", f"/v1/tickets/{tid}/messages", {"message": "Which address?", "await_customer": True})
    assert asked.data["status"] == "waiting_on_customer"
    answered = api.call("POST", f"/v1/tickets/{tid}/messages", {"message": "Hauptstr."}, role="customer", sub=ALICE)
    assert answered.data["status"] == "acknowledged"
    resolved = agent(api, "POST", f"/v1/tickets/{tid}/resolve", {"resolution": "Re-sent"})
    assert resolved.data["status"] == "resolved" and resolved.data["sla"]["resolution"] == "met"
    late = api.call("POST", f"/v1/tickets/{tid}/messages", {"message": "still nothing"}, role="customer", sub=ALICE)
    assert late.status_code == 409
    assert agent(api, "POST", f"/v1/tickets/{tid}/reopen").status_code == 403  # API.md: reopen is the owner's
    reopened = api.call("POST", f"/v1/tickets/{tid}/reopen", role="customer", sub=ALICE)
    assert reopened.status_code == 200 and reopened.data["status"] == "acknowledged" and reopened.data["reopened"] == 1
    assert reopened.data["resolve_by"] >= resolved.data["resolve_by"] and reopened.data["resolved_at"] is None
    assert api.call("POST", f"/v1/tickets/{tid}/reopen", role="customer", sub=ALICE).status_code == 409


def test_queue_lists_oldest_deadline_first_and_filters(api: Api) -> None:
    order = place(api)
    first = open_ticket(api, order["id"]).data
    second = open_ticket(api, order["id"], category="damaged").data
    queue = agent(api, "GET", "/v1/tickets")
    assert queue.status_code == 200
    page = TicketQueueOut.model_validate(queue.data)
    assert [t.id for t in page.items] == [first["id"], second["id"]]
    agent(api, "POST", f"/v1/tickets/{first['id']}/resolve", {"resolution": "done"})
    assert [t["id"] for t in agent(api, "GET", "/v1/tickets?status=open").data["items"]] == [second["id"]]
    assert [t["id"] for t in agent(api, "GET", "/v1/tickets?status=resolved").data["items"]] == [first["id"]]
    assert agent(api, "GET", "/v1/tickets?sla=breached").data["items"] == []
    paged = agent(api, "GET", "/v1/tickets?limit=1&status=resolved").data
    assert len(paged["items"]) == 1
    assert agent(api, "GET", "/v1/tickets?status=nope").status_code == 422
    assert agent(api, "GET", "/v1/tickets?sla=late").status_code == 422
    assert agent(api, "GET", "/v1/tickets?cursor=forged").status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"order_id": "ord_x", "category": "delay", "message": "m"},
        {"order_id": "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "category": "angry", "message": "m"},
        {"order_id": "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "category": "delay", "message": ""},
        {"order_id": "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", "category": "delay", "message": "m", "status": "closed"},
    ],
)
def test_invalid_ticket_bodies_are_422(api: Api, body: dict[str, Any]) -> None:
    assert api.call("POST", "/v1/tickets", body, role="agent", sub="a").status_code == 422


def test_agent_opens_a_phone_ticket_for_the_customer(api: Api) -> None:
    order = place(api)
    response = open_ticket(api, order["id"], role="agent", sub="agt_1", channel="phone")
    assert response.status_code == 201 and response.data["channel"] == "phone"
    assert open_ticket(api, "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", role="agent", sub="agt_1").status_code == 404
