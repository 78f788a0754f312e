"""DynamoDB round trips of the ticket write routes (QUALITY.md: writes ≤ 2 incl. idempotency).

Counted at botocore as bench/round_trips.py counts them, every route warm. A ticket change
is one read of the ticket (or, opening one, of its order) and one TransactWriteItems; the
order's version its timeline entries follow is checked inside that transaction, not read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.round_trips import READS, WRITES, counting
from tests.functional.conftest import Api
from tests.functional.test_desk import _csrf, html, post_form, sign_in
from tests.functional.test_lifecycle_api import place
from tests.functional.test_tickets_api import ALICE

AGENT = "agt_1"


def counted(api: Api, method: str, path: str, body: Any = None, *, key: str | None = None, **who: Any) -> Any:
    who = {"role": "agent", "sub": AGENT, **who}
    headers = {"Idempotency-Key": key} if key else None
    with counting() as calls:
        response = api.call(method, path, body, headers=headers, **who)
    assert response.status_code < 300, (path, response.status_code, response.data)
    response.calls = dict(calls)
    return response


def trips(calls: Counter[str] | dict[str, int]) -> int:
    return sum(n for op, n in calls.items() if op in READS | WRITES)


def by_customer(api: Api, method: str, path: str, body: Any = None, *, key: str | None = None) -> Any:
    return counted(api, method, path, body, key=key, role="customer", sub=ALICE)


def opened(api: Api, key: str | None = None) -> tuple[dict[str, Any], Any]:
    order = place(api)
    body = {"order_id": order["id"], "category": "delay", "message": "Where is my parcel?"}
    return order, by_customer(api, "POST", "/v1/tickets", body, key=key)


def test_every_ticket_write_is_one_read_and_one_transaction(api: Api) -> None:
    _, first = opened(api)  # warm: clients are built once per container
    assert first.calls == {"GetItem": 1, "TransactWriteItems": 1}  # the order (ownership, its version)
    tid = first.data["id"]
    read_and_write = {"Query": 1, "TransactWriteItems": 1}  # the ticket by id, then the change
    assert counted(api, "POST", f"/v1/tickets/{tid}/acknowledge").calls == read_and_write
    reply = counted(api, "POST", f"/v1/tickets/{tid}/messages", {"message": "On its way", "await_customer": True})
    assert reply.calls == read_and_write and reply.data["status"] == "waiting_on_customer"
    answer = by_customer(api, "POST", f"/v1/tickets/{tid}/messages", {"message": "Thanks, still nothing"})
    assert answer.calls == read_and_write and answer.data["status"] == "acknowledged"
    note = counted(api, "POST", f"/v1/tickets/{tid}/messages", {"message": "call DHL", "internal": True})
    assert note.calls == read_and_write
    assert counted(api, "POST", f"/v1/tickets/{tid}/resolve", {"resolution": "found"}).calls == read_and_write
    assert by_customer(api, "POST", f"/v1/tickets/{tid}/reopen").calls == read_and_write
    # A first public reply acknowledges in the same change: still one read and one write.
    _, other = opened(api)
    first_reply = counted(api, "POST", f"/v1/tickets/{other.data['id']}/messages", {"message": "Looking"})
    assert first_reply.calls == read_and_write and first_reply.data["status"] == "acknowledged"


def test_with_an_idempotency_key_and_on_replay_still_two_round_trips(api: Api) -> None:
    order, first = opened(api, key="open-rt")
    assert first.calls == {"GetItem": 1, "TransactWriteItems": 1}
    opening = {"order_id": order["id"], "category": "delay", "message": "Where is my parcel?"}
    replay = by_customer(api, "POST", "/v1/tickets", opening, key="open-rt")
    assert replay.data == first.data
    # The failed write hands the stored answer back: no read of the idempotency record.
    assert replay.calls == {"GetItem": 1, "TransactWriteItems": 1}
    tid = first.data["id"]
    for path, body, role in (
        (f"/v1/tickets/{tid}/acknowledge", None, "agent"),
        (f"/v1/tickets/{tid}/messages", {"message": "On its way"}, "agent"),
        (f"/v1/tickets/{tid}/resolve", {"resolution": "found"}, "agent"),
        (f"/v1/tickets/{tid}/reopen", None, "customer"),
    ):
        who = {"role": role, "sub": ALICE if role == "customer" else AGENT}
        key = f"rt-{path.rsplit('/', 1)[-1]}"
        done = counted(api, "POST", path, body, key=key, **who)
        assert done.calls == {"Query": 1, "TransactWriteItems": 1}, path
        again = counted(api, "POST", path, body, key=key, **who)
        assert again.data == done.data, path
        # A retry either fails the domain checks (acknowledged already: the record is read, nothing
        # written) or finds its key taken by the write (a message may be added twice: no read).
        assert trips(again.calls) <= 2 and again.calls.get("Query") == 1, (path, again.calls)


def test_the_desk_forms_are_one_read_and_one_transaction(api: Api) -> None:
    order, ticket = opened(api)
    tid = ticket.data["id"]
    cookie = sign_in(api)
    _, page, _ = html(api, f"/desk?order={order['id']}", cookie)
    token = _csrf(page)
    for path, fields in (
        (f"/desk/tickets/{tid}/acknowledge", {}),
        (f"/desk/tickets/{tid}/reply", {"message": "On its way", "await_customer": "on"}),
        (f"/desk/tickets/{tid}/resolve", {"resolution": "found"}),
    ):
        with counting() as calls:
            status, _, _ = post_form(api, path, cookie, {"csrf_token": token, **fields})
        assert status == 303, path
        assert dict(calls) == {"Query": 1, "TransactWriteItems": 1}, path


def test_an_order_changed_since_the_ticket_costs_one_more_write_and_keeps_the_story_in_order(api: Api) -> None:
    order, ticket = opened(api)
    pay = {"amount": order["total"], "method": "card", "provider_ref": "pi_rt"}
    key = {"Idempotency-Key": "pay-rt"}
    paid = api.call("POST", f"/v1/orders/{order['id']}/payments", pay, role="storefront", headers=key)
    assert paid.status_code == 201, paid.data
    # The change expected the order as the ticket last saw it; the check hands back where it is now.
    acknowledged = counted(api, "POST", f"/v1/tickets/{ticket.data['id']}/acknowledge")
    assert acknowledged.calls == {"Query": 1, "TransactWriteItems": 2}
    # ... and the next change expects it there: one write again.
    resolved = counted(api, "POST", f"/v1/tickets/{ticket.data['id']}/resolve", {"resolution": "paid now"})
    assert resolved.calls == {"Query": 1, "TransactWriteItems": 1}
    kinds = [e["kind"] for e in api.call("GET", f"/v1/orders/{order['id']}/timeline", role="agent").data["items"]]
    assert kinds.index("ticket_opened") < kinds.index("status_changed") < kinds.index("ticket_acknowledged")
    assert kinds[-1] == "ticket_status_changed"  # resolved: after everything before it
