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
