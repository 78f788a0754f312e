"""The authorisation matrix, generated from Chalice's route table (the app's routes and every blueprint's).

Alice owns an order (paid, shipped, with invoice and receipt), a ticket and a return. Mallory is
another customer with her own token and her own portal session. For every route:

- a route that takes an id, called by Mallory with Alice's ids, with every method: 404 where a
  customer may call it, 403 where the route is role-gated, 405 for a method the path does not
  have; in no case does the body (or a header) carry anything of Alice's;
- every role a route does not admit gets 403 (staff and admin routes, the storefront's);
- a customer route without an id in its path names its ids in the body (Alice's there: 404) or lists
  the caller's own things (Mallory's list shows nothing of Alice's);
- a portal page with an id, with Mallory's portal session (and a valid CSRF token): 404, nothing leaked;
- a public route is on the explicit allow-list below, each with the reason it needs no caller.

A route the matrix does not know (a new path, a new id name, a new customer route) fails
`test_every_route_is_in_the_matrix`: coverage is part of adding a route.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import bearer
from tests.functional.conftest import Api
from tests.functional.portal_tools import Browser, Clock
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_returns_api import delivered_order

ROLES = ("customer", "agent", "admin", "storefront")
MALLORY = "cus_mallory"
MALLORY_EMAIL = "mallory@example.com"
UNKNOWN_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Routes that need no caller, each with the reason. A new public route must be added here.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/health"): "liveness probe, says only 'ok'",
    ("GET", "/openapi.json"): "the API's own description",
    ("POST", "/v1/webhooks/carrier"): "signed: X-OrderCare-Signature over the raw body",
    ("POST", "/v1/webhooks/payment"): "signed: X-OrderCare-Signature over the raw body",
    ("POST", "/v1/webhooks/stripe"): "signed: Stripe-Signature (Stripe's verification)",
    ("POST", "/v1/webhooks/aftership"): "signed: aftership-hmac-sha256",
    ("POST", "/v1/webhooks/sms-inbound"): "signed: the SNS message signature",
    ("GET", "/track/{token}"): "capability link: the signed token in the URL is the credential",
    ("GET", "/surveys/{token}"): "capability link: the signed survey token is the credential",
    ("POST", "/v1/surveys/{token}"): "capability link: the signed survey token is the credential",
    ("GET", "/desk/sign-in"): "the staff sign-in form",
    ("POST", "/desk/sign-in"): "the staff sign-in form's post (Cognito checks the password)",
    ("GET", "/desk/login"): "redirect to the Cognito hosted UI",
    ("GET", "/desk/callback"): "the OAuth callback (code exchanged with Cognito, state checked)",
    ("GET", "/local/outbox"): "local stack only (404 in AWS: settings.is_local)",
    ("POST", "/local/faults"): "local stack only (404 in AWS: settings.is_local)",
    ("GET", "/local/faults"): "local stack only (404 in AWS: settings.is_local)",
    ("DELETE", "/local/faults"): "local stack only (404 in AWS: settings.is_local)",
    ("DELETE", "/local/faults/{fault_id}"): "local stack only (404 in AWS: settings.is_local)",
    ("POST", "/local/inbound-email"): "local stack only (404 in AWS: settings.is_local)",
}

# Shared, not owned: every role may read the catalogue.
SHARED = {("GET", "/v1/catalog/{sku}")}

# Portal pages: their own session cookie, no bearer token. Pages without an id show only the
# session's own things (checked with Mallory's session below); pages with an id are in the matrix.
PORTAL_PREFIX = "/account"

# A valid body for each customer route that takes a body, so a foreign id is refused by the
# ownership check, not by validation first. A new customer route with a body must add one here.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/orders/{order_id}/returns"): {
        "lines": [{"sku": "MUG-1", "quantity": 1}],
        "reason": "changed_mind",
        "resolution": "refund",
    },
    ("POST", "/v1/tickets/{ticket_id}/messages"): {"message": "let me in"},
    ("PUT", "/v1/customers/{customer_id}/preferences"): {"email": False, "sms": False, "locale": "en-GB"},
    ("POST", "/v1/orders/{order_id}/cancel"): {},
    ("POST", "/v1/returns/{return_id}/cancel"): {},
    ("POST", "/v1/tickets/{ticket_id}/reopen"): {},
}

# Customer routes without an id in the path: the ids they take are in the body (Alice's → 404) ...
BODY_IDS: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/tickets"): {"order_id": "{order_id}", "category": "damaged", "message": "mine", "channel": "web"},
    ("POST", "/v1/feedback"): {"order_id": "{order_id}", "rating": 1, "comment": "mine"},
}
# ... or they list the caller's own things.
OWN_LISTS = {("GET", "/v1/orders")}

# The path parameters the world below has one of Alice's things for. A new name must be added there.
ID_NAMES = {
    "order_id",
    "document_id",
    "ticket_id",
    "return_id",
    "customer_id",
    "subscription_id",
    "code",
    "name",
    "sku",
}

PORTAL_FORMS: dict[str, dict[str, str]] = {
    "/account/orders/{order_id}/help": {"category": "damaged", "message": "mine now"},
    "/account/orders/{order_id}/tickets/{ticket_id}/messages": {"message": "hijack"},
    "/account/orders/{order_id}/returns": {"qty_MUG-1": "1", "reason": "changed_mind", "resolution": "refund"},
}


def route_table() -> dict[tuple[str, str], Any]:
    """Every (method, path) Chalice serves, blueprints included, with its RouteDoc where it has one."""
    from app import app
    from chalicelib.api.http import ROUTES

    docs = {(r.method, r.path): r for r in ROUTES}
    return {(method, path): docs.get((method, path)) for path, entries in app.routes.items() for method in entries}


def params(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


@dataclass
class World:
    """Alice's things, by path parameter name."""

    ids: dict[str, str]
    secrets: tuple[str, ...]

    def fill(self, path: str) -> str:
        missing = [name for name in params(path) if name not in self.ids]
        assert not missing, f"{path}: the matrix has no id of Alice's for {missing} (add one to the world)"
        return re.sub(r"{(\w+)}", lambda m: self.ids[m.group(1)], path)


@pytest.fixture
def world(api: Api) -> Iterator[World]:
    from chalicelib.bootstrap import get_container

    get_container().portal.clock = Clock()
    tap = StreamTap("ordercare-test")
    tap.new_records()
    order = delivered_order(api)  # the demo order: Alice Müller, alice@example.com, Hauptstr. 1
    drain(tap)
    alice = bearer("customer", "cus_alice")
    documents = api.call("GET", f"/v1/orders/{order['id']}/documents", headers=alice)
    assert documents.status_code == 200, documents.data
    document = documents.data["items"][0]
    ticket = api.call(
        "POST",
        "/v1/tickets",
        {"order_id": order["id"], "category": "damaged", "message": "Alice's secret complaint", "channel": "web"},
        headers=alice,
    )
    assert ticket.status_code == 201, ticket.data
    returned = api.call(
        "POST", f"/v1/orders/{order['id']}/returns", BODIES[("POST", "/v1/orders/{order_id}/returns")], headers=alice
    )
    assert returned.status_code == 201, returned.data
    subscription = api.call(
        "POST",
        "/v1/webhook-subscriptions",
        {"url": "https://shop.example.com/hooks", "events": ["order.paid"]},
        role="admin",
        sub="adm_1",
    )
    assert subscription.status_code == 201, subscription.data
    drain(tap)
    ids = {
        "order_id": order["id"],
        "document_id": document["id"],
        "ticket_id": ticket.data["id"],
        "return_id": returned.data["id"],
        "customer_id": "cus_alice",
        "subscription_id": subscription.data["id"],
        "code": "payment_mismatch",
        "name": "csat",
        "sku": "MUG-1",
    }
    secrets = (
        order["id"],
        order["number"],
        document["id"],
        ticket.data["id"],
        returned.data["id"],
        "alice@example.com",
        "Alice",
        "Müller",
        "Hauptstr",
        "10115",
        "+4915112345678",
        "15112345678",
        "Alice's secret complaint",
    )
    assert set(ids) == ID_NAMES
    yield World(ids, secrets)


def assert_nothing_leaked(world: World, response: Any, what: str) -> None:
    body = response.body.decode("utf-8", "replace") if isinstance(response.body, bytes) else str(response.body)
    headers = str(dict(response.headers))
    for secret in world.secrets:
        assert secret not in body, f"{what}: the body shows Alice's {secret!r}: {body[:300]}"
        assert secret not in headers, f"{what}: a header shows Alice's {secret!r}"


def call(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    import json

    payload = b"" if body is None else json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
    return api.client.http.request(method, path, headers=all_headers, body=payload)


def test_every_route_is_in_the_matrix() -> None:
    """Each route is public (allow-listed), a portal page, role-gated for customers, or covered below."""
    unclassified = []
    for (method, path), doc in sorted(route_table().items()):
        assert doc is not None, f"{method} {path} is not registered through endpoint(): no roles to check"
        unknown = set(params(path)) - ID_NAMES
        if unknown and (method, path) not in PUBLIC:
            unclassified.append(
                f"{method} {path}: no id of Alice's for {sorted(unknown)} (add it to ID_NAMES and the world)"
            )
            continue
        if (method, path) in PUBLIC:
            assert doc.roles is None, f"{method} {path} is allow-listed as public but needs {doc.roles}"
            continue
        if path.startswith(PORTAL_PREFIX):
            if params(path):
                assert method == "GET" or path in PORTAL_FORMS, f"portal {method} {path}: add a form to PORTAL_FORMS"
            continue
        if doc.roles is None:
            unclassified.append(f"{method} {path}: public but not on the allow-list")
        elif "customer" in doc.roles and (method, path) not in SHARED:
            if params(path):
                if doc.request is not None and (method, path) not in BODIES:
                    unclassified.append(f"{method} {path}: a customer route with a body, none in BODIES")
            elif (method, path) not in BODY_IDS and (method, path) not in OWN_LISTS:
                unclassified.append(f"{method} {path}: a customer route without an id: add it to BODY_IDS or OWN_LISTS")
    assert not unclassified, "routes the authorisation matrix does not cover:\n" + "\n".join(unclassified)
    assert set(PUBLIC) <= set(route_table()), (
        f"allow-listed routes that no longer exist: {set(PUBLIC) - set(route_table())}"
    )


def test_a_foreign_customer_gets_404_or_403_and_nothing_of_alice(api: Api, world: World) -> None:
    mallory = bearer("customer", MALLORY)
    table = route_table()
    checked = 0
    for path in sorted({path for _, path in table if params(path)}):
        if path.startswith(PORTAL_PREFIX) or all((m, path) in PUBLIC for m, p in table if p == path):
            continue
        concrete = world.fill(path)
        for method in UNKNOWN_METHODS:
            doc = table.get((method, path), "absent")
            if doc == "absent":
                response = call(api, method, concrete, {}, mallory)
                assert response.status_code in (403, 405), f"{method} {path}: {response.status_code}"
            elif (method, path) in PUBLIC or (method, path) in SHARED:
                continue
            else:
                expected = 404 if "customer" in doc.roles else 403
                response = call(api, method, concrete, BODIES.get((method, path)), mallory)
                assert response.status_code == expected, (
                    f"{method} {concrete}: {response.status_code} {response.body[:300]!r}"
                )
            assert_nothing_leaked(world, response, f"{method} {path}")
            checked += 1
    assert checked >= 60  # every id route and method, not a handful


def test_every_role_a_route_does_not_admit_gets_403(api: Api, world: World) -> None:
    for (method, path), doc in sorted(route_table().items()):
        if doc.roles is None or path.startswith(PORTAL_PREFIX):
            continue
        for role in sorted(set(ROLES) - set(doc.roles)):
            response = call(api, method, world.fill(path), BODIES.get((method, path)), bearer(role, MALLORY))
            assert response.status_code == 403, (
                f"{role} {method} {path}: {response.status_code} {response.body[:200]!r}"
            )
            assert_nothing_leaked(world, response, f"{role} {method} {path}")


def test_alice_herself_reads_what_mallory_cannot(api: Api, world: World) -> None:
    """The control: the same GETs with Alice's token answer 200 and show her data (the leak check can fail)."""
    alice = bearer("customer", "cus_alice")
    for (method, path), doc in sorted(route_table().items()):
        if method != "GET" or not params(path) or doc.roles is None or "customer" not in doc.roles:
            continue
        if path.startswith(PORTAL_PREFIX) or (method, path) in SHARED:
            continue
        response = call(api, method, world.fill(path), None, alice)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.body[:200]!r}"
        body = response.body.decode()
        assert any(secret in body for secret in (*world.secrets, world.ids["customer_id"])), path


def test_ids_in_the_body_and_own_lists(api: Api, world: World) -> None:
    mallory = bearer("customer", MALLORY)
    for (method, path), template in sorted(BODY_IDS.items()):
        body = {k: world.fill(v) if isinstance(v, str) else v for k, v in template.items()}
        response = call(api, method, path, body, mallory)
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.body[:200]!r}"
        assert_nothing_leaked(world, response, f"{method} {path}")
    for method, path in sorted(OWN_LISTS):
        for query in ("", "?customer_id=cus_alice"):
            response = call(api, method, path + query, None, mallory)
            assert response.status_code in (200, 403, 422), f"{method} {path}{query}: {response.status_code}"
            assert_nothing_leaked(world, response, f"{method} {path}{query}")


def test_a_foreign_portal_session_gets_404_and_nothing_of_alice(api: Api, world: World) -> None:
    from tests.functional.test_lifecycle_api import place

    place(api, customer={"id": MALLORY, "email": MALLORY_EMAIL, "phone": None, "name": "Mal", "locale": "en-GB"})
    mallory = Browser(api)
    mallory.sign_in(MALLORY_EMAIL)
    table = route_table()
    for method, path in sorted(key for key in table if key[1].startswith(PORTAL_PREFIX)):
        if params(path):
            csrf = mallory.get("/account/preferences").csrf
            concrete = world.fill(path)
            if method == "GET":
                visit = mallory.get(concrete)
            else:
                visit = mallory.post(concrete, {"csrf_token": csrf, **PORTAL_FORMS[path]})
            assert visit.status == 404, f"{method} {path}: {visit.status}"
        elif method == "GET":
            visit = mallory.get(path)
        else:
            continue  # sign-in, verify, sign-out, preferences: the session's own address only
        page = type("Page", (), {"body": visit.html, "headers": visit.headers})
        assert_nothing_leaked(world, page, f"portal {method} {path}")
    for path in ("/account/orders/{order_id}", "/account/documents/{document_id}"):
        for method in ("PUT", "PATCH", "DELETE"):
            response = call(
                api, method, world.fill(path), None, {"Cookie": "; ".join(f"{k}={v}" for k, v in mallory.jar.items())}
            )
            assert response.status_code == 405, f"{method} {path}: {response.status_code}"
            assert_nothing_leaked(world, response, f"portal {method} {path}")


def test_the_matrix_fails_on_a_route_it_does_not_know() -> None:
    """A route added without coverage is reported (the coverage check itself can fail)."""
    from chalice.app import Blueprint

    from app import app
    from chalicelib.api.http import ROUTES, endpoint

    before = len(ROUTES)
    blueprint = Blueprint(__name__)
    name = f"/v1/gadgets/{{gadget_id}}/x{uuid.uuid4().hex[:8]}"

    @endpoint(blueprint, name, "GET", summary="x", roles=("customer",), responses={200: None})
    def gadget(call: Any, gadget_id: str) -> Any:
        raise AssertionError("never called")

    app.register_blueprint(blueprint)
    try:
        with pytest.raises(AssertionError, match=r"does not cover:\n.*/v1/gadgets/\{gadget_id\}.*no id of Alice's"):
            test_every_route_is_in_the_matrix()
    finally:
        del ROUTES[before:]
        app.routes.pop(name, None)
