"""The desk page and its forms: staff sessions, bearer tokens, CSRF, the agent's view of an order."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from tests.functional.conftest import Api
from tests.functional.test_lifecycle_api import place
from tests.functional.test_tickets_api import agent, open_ticket

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def cookie_of(response: Any, name: str) -> str:
    header = response.headers.get("Set-Cookie") or response.headers.get("set-cookie") or ""
    match = re.search(rf"{name}=([^;]*)", header)
    assert match, header
    return match.group(1)


def sign_in(api: Api, role: str = "agent") -> str:
    _, raw, page = html(api, "/desk/sign-in")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', raw).group(1)  # type: ignore[union-attr]
    signin_cookie = cookie_of(page, "oc_desk_signin")
    response = api.call(
        "POST",
        "/desk/sign-in",
        raw=urlencode({"csrf_token": token, "role": role, "sub": "agt_7"}).encode(),
        headers={**FORM, "Cookie": f"oc_desk_signin={signin_cookie}"},
    )
    assert response.status_code == 303 and response.headers["Location"] == "/desk"
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header
    return cookie_of(response, "oc_desk")


def html(api: Api, path: str, cookie: str | None = None, **headers: str) -> tuple[int, str, Any]:
    all_headers = {"Accept": "text/html", **headers}
    if cookie:
        all_headers["Cookie"] = f"oc_desk={cookie}"
    response = api.client.http.request("GET", path, headers=all_headers)
    body = response.body.decode() if isinstance(response.body, bytes) else response.body
    return response.status_code, body, response


def test_browser_without_session_is_sent_to_sign_in_api_client_gets_401(api: Api) -> None:
    status, _, response = html(api, "/desk")
    assert status == 303 and response.headers["Location"] == "/desk/sign-in"
    assert api.call("GET", "/desk").status_code == 401


def test_customers_cannot_open_the_desk(api: Api) -> None:
    assert api.call("GET", "/desk", role="customer", sub="cus_alice").status_code == 403


def test_the_desk_shows_the_queue_and_an_orders_whole_story(api: Api) -> None:
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "Checking with DHL", "internal": True})
    cookie = sign_in(api)
    status, body, response = html(api, "/desk", cookie)
    assert status == 200 and ticket["number"] in body and "left" in body
    assert "script" not in body.lower() and "default-src 'none'" in response.headers["Content-Security-Policy"]
    status, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    assert status == 200
    assert "Where is my parcel?" in body and "Checking with DHL" in body and "Internal note" in body
    assert order["customer"]["email"] in body
    forms = re.findall(r"<form method=\"post\"[^>]*>(.*?)</form>", body, flags=re.S)
    assert forms and all('name="csrf_token"' in f for f in forms)  # every form carries the token
    # The same page with a bearer token (no cookie, no sign-in).
    from tests.conftest import bearer

    status, body, _ = html(api, f"/desk?order={order['id']}", **bearer("admin", "adm"))
    assert status == 200 and ticket["number"] in body


def test_forms_need_the_sessions_csrf_token(api: Api) -> None:
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    cookie = sign_in(api)
    _, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)  # type: ignore[union-attr]
    path = f"/desk/tickets/{ticket['id']}/reply"
    headers = {**FORM, "Cookie": f"oc_desk={cookie}"}
    for bad in ({}, {"csrf_token": "forged"}):
        refused = api.call("POST", path, raw=urlencode({"message": "hi", **bad}).encode(), headers=headers)
        assert refused.status_code == 403, refused.data
    reply = urlencode({"message": "On its way!", "csrf_token": csrf}).encode()
    sent = api.call("POST", path, raw=reply, headers=headers)
    assert sent.status_code == 303 and sent.headers["Location"].startswith(f"/desk?order={order['id']}")
    note = urlencode({"message": "VIP", "internal": "1", "csrf_token": csrf}).encode()
    assert api.call("POST", path, raw=note, headers=headers).status_code == 303
    resolve = urlencode({"resolution": "Sent again", "csrf_token": csrf}).encode()
    resolved = api.call("POST", f"/desk/tickets/{ticket['id']}/resolve", raw=resolve, headers=headers)
    assert resolved.status_code == 303
    current = agent(api, "GET", f"/v1/tickets/{ticket['id']}").data
    assert current["status"] == "resolved" and [m["internal"] for m in current["messages"]] == [False, False, True]
    assert current["messages"][1]["author"] == "agent:agt_7"
    # Another session's token does not fit this session.
    other = sign_in(api, "admin")
    stolen = api.call(
        "POST",
        f"/desk/tickets/{ticket['id']}/acknowledge",
        raw=urlencode({"csrf_token": csrf}).encode(),
        headers={**FORM, "Cookie": f"oc_desk={other}"},
    )
    assert stolen.status_code == 403


def test_sign_in_refuses_a_missing_csrf_and_customer_roles(api: Api) -> None:
    refused = api.call("POST", "/desk/sign-in", raw=b"role=agent&sub=x", headers=FORM)
    assert refused.status_code == 403
    _, raw, page = html(api, "/desk/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', raw).group(1)  # type: ignore[union-attr]
    response = api.call(
        "POST",
        "/desk/sign-in",
        raw=urlencode({"csrf_token": token, "role": "customer", "sub": "cus_alice"}).encode(),
        headers={**FORM, "Cookie": f"oc_desk_signin={cookie_of(page, 'oc_desk_signin')}"},
    )
    assert response.status_code == 422


def test_agent_view_is_one_query_and_includes_internal_notes(api: Api) -> None:
    from bench.round_trips import counting

    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "note", "internal": True})
    with counting() as calls:
        story = agent(api, "GET", f"/v1/agent/orders/{order['id']}")
    assert story.status_code == 200
    assert dict(calls) == {"Query": 1}
    data = story.data
    assert data["order"]["id"] == order["id"] and data["cost"]["round_trips"] == 1
    assert [m["internal"] for m in data["tickets"][0]["messages"]] == [False, True]
    assert {"payments", "shipments", "documents", "timeline", "returns", "survey_answers", "holds"} <= set(data)
    assert agent(api, "GET", "/v1/agent/orders/ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S").status_code == 404


# --- returns on the desk: approve / reject / receive --------------------------------------------------


def _csrf(body: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)  # type: ignore[union-attr]


def post_form(api: Api, path: str, cookie: str, fields: dict[str, str]) -> tuple[int, str, Any]:
    response = api.client.http.request(
        "POST",
        path,
        headers={**FORM, "Accept": "text/html", "Cookie": f"oc_desk={cookie}"},
        body=urlencode(fields).encode(),
    )
    body = response.body.decode() if isinstance(response.body, bytes) else response.body or ""
    return response.status_code, body, response


def _returned(api: Api, quantity: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    from tests.functional.test_returns_api import delivered_order, request_return

    order = delivered_order(api)
    ret = request_return(api, order["id"], [{"sku": "MUG-1", "quantity": quantity}], reason="damaged")
    assert ret.status_code == 201, ret.data
    return order, ret.data


def test_the_desk_approves_then_receives_a_return(api: Api) -> None:
    from tests.functional.test_returns_api import stock

    order, ret = _returned(api)
    cookie = sign_in(api)
    status, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    assert status == 200 and ret["number"] in body and f'id="r-{ret["id"]}"' in body
    assert f'action="/desk/returns/{ret["id"]}/approve"' in body and f"/desk/returns/{ret['id']}/receive" not in body
    csrf = _csrf(body)

    status, _, response = post_form(api, f"/desk/returns/{ret['id']}/approve", cookie, {"csrf_token": csrf})
    assert status == 303 and response.headers["Location"] == f"/desk?order={order['id']}#r-{ret['id']}"
    status, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    assert f'action="/desk/returns/{ret["id"]}/receive"' in body and 'name="condition:MUG-1"' in body
    assert f'action="/desk/returns/{ret["id"]}/approve"' not in body  # approved: only receipt is left

    before = stock(api, "MUG-1")
    fields = {"csrf_token": csrf, "quantity:MUG-1": "1", "condition:MUG-1": "damaged"}
    status, _, response = post_form(api, f"/desk/returns/{ret['id']}/receive", cookie, fields)
    assert status == 303 and response.headers["Location"].endswith(f"#r-{ret['id']}")
    current = agent(api, "GET", f"/v1/returns/{ret['id']}").data
    assert current["status"] == "received" and current["history"][-1]["actor"] == "agent:agt_7"
    assert [(line["restockable"], line["damaged"]) for line in current["lines"]] == [(0, 1)]
    assert stock(api, "MUG-1") == before  # damaged units do not go back to stock
    status, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    assert "0 restockable, 1 damaged" in body and f'action="/desk/returns/{ret["id"]}/receive"' not in body
    # The agent view (JSON) presents returns as the returns API does, RMA number included.
    story = agent(api, "GET", f"/v1/agent/orders/{order['id']}").data
    assert [(r["number"], r["status"]) for r in story["returns"]] == [(ret["number"], "received")]


def test_a_return_received_restockable_goes_back_to_stock(api: Api) -> None:
    from tests.functional.test_returns_api import stock

    order, ret = _returned(api)
    assert agent(api, "POST", f"/v1/returns/{ret['id']}/approve").status_code == 200
    cookie = sign_in(api)
    _, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    before = stock(api, "MUG-1")
    fields = {"csrf_token": _csrf(body), "quantity:MUG-1": "1", "condition:MUG-1": "restockable"}
    assert post_form(api, f"/desk/returns/{ret['id']}/receive", cookie, fields)[0] == 303
    assert stock(api, "MUG-1") == before + 1


def test_the_desk_rejects_a_return_with_a_reason(api: Api) -> None:
    order, ret = _returned(api)
    cookie = sign_in(api)
    _, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    fields = {"csrf_token": _csrf(body), "reason": "The photo shows no damage"}
    assert post_form(api, f"/desk/returns/{ret['id']}/reject", cookie, fields)[0] == 303
    current = agent(api, "GET", f"/v1/returns/{ret['id']}").data
    assert current["status"] == "rejected" and current["rejection_reason"] == "The photo shows no damage"
    _, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    assert "The photo shows no damage" in body and f'action="/desk/returns/{ret["id"]}/reject"' not in body


def test_bad_return_forms_answer_the_page_with_what_to_fix(api: Api) -> None:
    order, ret = _returned(api, quantity=1)
    cookie = sign_in(api)
    _, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    csrf = _csrf(body)
    rid = ret["id"]
    cases = [
        (f"/desk/returns/{rid}/approve", {}, 403, "reload the page"),
        (f"/desk/returns/{rid}/approve", {"csrf_token": "forged"}, 403, "reload the page"),
        (f"/desk/returns/{rid}/reject", {"csrf_token": csrf, "reason": "  "}, 422, "&#39;reason&#39; is required"),
        (f"/desk/returns/{rid}/reject", {"csrf_token": csrf, "reason": "x" * 501}, 422, "longer than 500"),
        (
            f"/desk/returns/{rid}/receive",
            {"csrf_token": csrf, "quantity:MUG-1": "1", "condition:MUG-1": "restockable"},
            409,
            "requested",
        ),
        ("/desk/returns/ret_01JD3M5X8Q2W7Y6Z4K9N0P1R2S/approve", {"csrf_token": csrf}, 404, "return not found"),
    ]
    for path, fields, expected, text in cases:
        status, page, response = post_form(api, path, cookie, fields)
        assert status == expected, (path, fields, status, page[:300])
        assert response.headers["Content-Type"].startswith("text/html") and 'role="alert"' in page
        assert text in page, (text, page[:2000])
        if expected != 404:
            assert ret["number"] in page  # the order's story again, beside the error
    assert agent(api, "GET", f"/v1/returns/{rid}").data["status"] == "requested"  # nothing changed

    assert post_form(api, f"/desk/returns/{rid}/approve", cookie, {"csrf_token": csrf})[0] == 303
    status, page, _ = post_form(api, f"/desk/returns/{rid}/approve", cookie, {"csrf_token": csrf})
    assert status == 409 and 'role="alert"' in page  # approved already
    for fields, text in (
        ({"quantity:MUG-1": "5", "condition:MUG-1": "restockable"}, "MUG-1: too many units"),
        ({"quantity:MUG-1": "one", "condition:MUG-1": "restockable"}, "must be a whole number"),
        ({"quantity:MUG-1": "-1", "condition:MUG-1": "restockable"}, "must be a whole number"),
        ({"quantity:MUG-1": "1", "condition:MUG-1": "broken"}, "the receipt is invalid"),
        ({"quantity:BOOK-1": "1", "condition:BOOK-1": "damaged"}, "BOOK-1: not on return"),
    ):
        status, page, _ = post_form(api, f"/desk/returns/{rid}/receive", cookie, {"csrf_token": csrf, **fields})
        assert status == 422 and text in page, (fields, status, page[:2000])
    assert agent(api, "GET", f"/v1/returns/{rid}").data["status"] == "approved"


def test_return_forms_read_the_return_once_as_the_api_routes_do(api: Api) -> None:
    """The form reads the return only through the ReturnService action: the redirect takes the
    order from the return the action hands back (QUALITY.md: one read, at most two writes)."""
    from bench.round_trips import counting
    from tests.functional.test_returns_api import act

    cookie = sign_in(api)
    order, approved = _returned(api)
    _, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    csrf = _csrf(body)
    with counting() as approving:
        status, _, response = post_form(api, f"/desk/returns/{approved['id']}/approve", cookie, {"csrf_token": csrf})
    assert status == 303 and response.headers["Location"] == f"/desk?order={order['id']}#r-{approved['id']}"
    assert approving == {"Query": 1, "TransactWriteItems": 1}

    _, rejected = _returned(api)
    fields = {"csrf_token": csrf, "reason": "The photo shows no damage"}
    with counting() as rejecting:
        status, _, response = post_form(api, f"/desk/returns/{rejected['id']}/reject", cookie, fields)
    assert status == 303 and response.headers["Location"].endswith(f"#r-{rejected['id']}")
    assert rejecting == {"Query": 1, "TransactWriteItems": 1}

    # A receipt costs what the API's receive costs for a twin return: the form adds no read.
    _, twin = _returned(api)
    assert act(api, twin["id"], "approve").status_code == 200
    receipt = {"lines": [{"sku": "MUG-1", "quantity": 1, "condition": "damaged"}]}
    with counting() as by_api:
        assert act(api, twin["id"], "receive", receipt).status_code == 200
    fields = {"csrf_token": csrf, "quantity:MUG-1": "1", "condition:MUG-1": "damaged"}
    with counting() as receiving:
        status, _, response = post_form(api, f"/desk/returns/{approved['id']}/receive", cookie, fields)
    assert status == 303 and response.headers["Location"].endswith(f"#r-{approved['id']}")
    assert receiving == by_api, (receiving, by_api)

    # Refused forms still answer as before: an unknown return is 404 whatever else is wrong.
    unknown = "/desk/returns/ret_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"
    for path, fields in (
        (f"{unknown}/approve", {"csrf_token": "forged"}),
        (f"{unknown}/reject", {"csrf_token": csrf, "reason": ""}),
        (f"{unknown}/receive", {"csrf_token": csrf, "quantity:MUG-1": "x", "condition:MUG-1": "damaged"}),
        ("/desk/returns/nope/approve", {"csrf_token": csrf}),
    ):
        status, page, _ = post_form(api, path, cookie, fields)
        assert status == 404 and "return not found" in page and 'role="alert"' in page, (path, status, page[:300])
    status, page, _ = post_form(api, f"/desk/returns/{rejected['id']}/approve", cookie, {"csrf_token": csrf})
    assert status == 409 and rejected["number"] in page  # a stale transition: the order's page again


def test_ticket_forms_answer_bad_input_on_the_page_too(api: Api) -> None:
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    cookie = sign_in(api)
    _, body, _ = html(api, f"/desk?order={order['id']}", cookie)
    status, page, response = post_form(
        api, f"/desk/tickets/{ticket['id']}/reply", cookie, {"csrf_token": _csrf(body), "message": " "}
    )
    assert status == 422 and response.headers["Content-Type"].startswith("text/html")
    assert "&#39;message&#39; is required" in page and ticket["number"] in page
    status, page, _ = post_form(api, f"/desk/tickets/{ticket['id']}/resolve", cookie, {"csrf_token": _csrf(body)})
    assert status == 422 and "resolution" in page
    status, _, _ = html(api, "/desk?order=ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", cookie)
    assert status == 404
