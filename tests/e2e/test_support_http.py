"""End to end over HTTP on `make run`: the README's support loop.

A customer opens a ticket, the receipt lands in /local/outbox with its signed reply_to,
the customer's emailed answer (a raw message to /local/inbound-email and through
`make -s inbound-email`) lands on the ticket, an agent answers from /desk (dev sign-in,
CSRF), and the threaded reply appears in the outbox.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_make_run import REPO_ROOT, Stack, _free_ports, _kill, _request, _start, _token, _wait_healthy
from tests.e2e.test_portal_http import Browser, csrf

pytestmark = pytest.mark.timeout(420)
EMAIL = "support-e2e@example.com"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    names = ("OC_API_PORT", "OC_DDB_PORT", "OC_AWS_PORT")
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    running = _start(ports, Path(tmp_path_factory.mktemp("support-e2e")) / "make-run.log")
    try:
        _wait_healthy(running)
        yield running
    finally:
        _kill(running)


def _order(stack: Stack) -> dict[str, Any]:
    storefront = {"Authorization": f"Bearer {_token(stack, 'storefront', 'web')}", "Idempotency-Key": str(uuid.uuid4())}
    body = {
        "customer": {"id": "cus_support", "email": EMAIL, "name": "Sam Support", "locale": "en-GB"},
        "currency": "EUR",
        "lines": [{"sku": "MUG-1", "quantity": 1, "unit_price": 1299}],
        "shipping_address": {
            "name": "Sam",
            "line1": "Hauptstr. 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "shipping_method": "standard",
        "shipping_fee": 499,
    }
    status, order = _request("POST", f"{stack.url}/v1/orders", body, storefront)
    assert status == 201, (order, stack.log_tail())
    return dict(order)


def _mail(stack: Stack, predicate: Any, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status, sent = _request("GET", f"{stack.url}/local/outbox")
        found = [m for m in sent["emails"] if predicate(m)] if status == 200 else []
        if found:
            return dict(found[0])
        time.sleep(1)
    pytest.fail(f"no {what} in the outbox within 90 s:\n{stack.log_tail()}")


def _inbound(stack: Stack, raw: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1
        f"{stack.url}/local/inbound-email", data=raw, method="POST", headers={"Content-Type": "message/rfc822"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        import json

        return response.status, json.loads(response.read())


def test_ticket_email_reply_desk_answer_threaded(stack: Stack, tmp_path: Path) -> None:
    order = _order(stack)
    customer = {"Authorization": f"Bearer {_token(stack, 'customer', 'cus_support')}"}
    body = {"order_id": order["id"], "category": "damaged", "message": "The mug arrived broken."}
    status, ticket = _request("POST", f"{stack.url}/v1/tickets", body, customer)
    assert status == 201, ticket
    receipt = _mail(stack, lambda m: ticket["number"] in m["subject"], "receipt")
    assert receipt["reply_to"].startswith("reply+") and EMAIL in str(receipt["to"])

    # The customer answers the receipt from their mail client.
    raw = (
        f"From: Sam Support <{EMAIL}>\r\nTo: {receipt['reply_to']}\r\nSubject: Re: {receipt['subject']}\r\n"
        f"Message-ID: <e2e-{uuid.uuid4().hex}@example.com>\r\nIn-Reply-To: {receipt['message_id']}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nHere is the order number again.\r\n\r\n"
        "On Tue, 1 Dec 2026, Shop wrote:\r\n> We received your request\r\n"
    ).encode()
    status, result = _inbound(stack, raw)
    assert status == 202 and result["outcome"] == "message_added" and result["ticket_id"] == ticket["id"], result
    # The same through the make target (a new message: another Message-ID).
    eml = tmp_path / "reply.eml"
    eml.write_bytes(raw.replace(b"Message-ID: <e2e-", b"Message-ID: <e2e-make-"))
    made = subprocess.run(
        ["make", "-s", "inbound-email", f"FILE={eml}"],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert '"message_added"' in made.stdout, made.stdout + made.stderr
    status, current = _request("GET", f"{stack.url}/v1/tickets/{ticket['id']}", headers=customer)
    bodies = [m["body"] for m in current["messages"]]
    assert bodies[1] == "Here is the order number again." and len(bodies) == 3, bodies

    # An agent answers from the desk.
    browser = Browser(stack.url)
    status, page = browser.page("sign-in", "GET", "/desk/sign-in")
    assert status == 200
    status, _, _ = browser.open("POST", "/desk/sign-in", {"csrf_token": csrf(page), "role": "agent", "sub": "agt_e2e"})
    assert status == 303
    status, desk = browser.page("desk", "GET", f"/desk?order={order['id']}")
    assert status == 200 and "Here is the order number again." in desk
    form = {"message": "A replacement is on its way.", "csrf_token": csrf(desk)}
    status, headers, _ = browser.open("POST", f"/desk/tickets/{ticket['id']}/reply", form)
    assert status == 303 and headers["Location"].startswith("/desk?order=")
    reply = _mail(stack, lambda m: "Re:" in m["subject"] and ticket["number"] in m["subject"], "agent reply")
    assert "A replacement is on its way." in reply["text"] and reply["in_reply_to"]
    assert reply["reply_to"] == receipt["reply_to"]
