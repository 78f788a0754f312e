"""End to end over HTTP on `make run`: sign in to the portal with the code from /local/outbox, download an invoice.

Its own stack on free ports; every request is real HTTP, cookies and redirects included.
Prints each page's weight (bytes, gzipped) for the report.
"""

from __future__ import annotations

import gzip
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_make_run import Stack, _free_ports, _kill, _request, _start, _token, _wait_healthy

pytestmark = pytest.mark.timeout(420)
EMAIL = "portal-e2e@example.com"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx is returned to the test as it is


class Browser:
    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        self.weights: dict[str, int] = {}

    def open(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        url = path if path.startswith("http") else f"{self.base}{path}"
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - 127.0.0.1
        if data is not None:
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def page(self, name: str, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        status, _, body = self.open(method, path, form)
        self.weights[name] = len(gzip.compress(body, 9))
        return status, body.decode()


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:2000]
    return match.group(1)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    names = ("OC_API_PORT", "OC_DDB_PORT", "OC_AWS_PORT")
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    running = _start(ports, Path(tmp_path_factory.mktemp("portal-e2e")) / "make-run.log")
    try:
        _wait_healthy(running)
        yield running
    finally:
        _kill(running)


def _paid_order(stack: Stack) -> dict[str, Any]:
    storefront = {"Authorization": f"Bearer {_token(stack, 'storefront', 'web')}"}
    body = {
        "customer": {"id": "cus_portal", "email": "  Portal-E2E@Example.com", "name": "Pia Portal", "locale": "en-GB"},
        "currency": "EUR",
        "lines": [{"sku": "MUG-1", "quantity": 1, "unit_price": 1299}],
        "shipping_address": {
            "name": "Pia Portal",
            "line1": "Hauptstr. 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "shipping_method": "standard",
        "shipping_fee": 499,
    }
    status, order = _request(
        "POST", f"{stack.url}/v1/orders", body, {**storefront, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert status == 201, (order, stack.log_tail())
    payment = {"amount": order["total"], "method": "card", "provider_ref": "pi_e2e"}
    status, paid = _request(
        "POST",
        f"{stack.url}/v1/orders/{order['id']}/payments",
        payment,
        {**storefront, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert status == 201, (paid, stack.log_tail())
    return dict(order)


def _wait_for_invoice(stack: Stack, order_id: str) -> None:
    customer = {"Authorization": f"Bearer {_token(stack, 'customer', 'cus_portal')}"}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status, documents = _request("GET", f"{stack.url}/v1/orders/{order_id}/documents", headers=customer)
        if status == 200 and any(d["kind"] == "invoice" and d["download_url"] for d in documents["items"]):
            return
        time.sleep(1)
    pytest.fail(f"no invoice within 90 s:\n{stack.log_tail()}")


def _code_from_outbox(stack: Stack) -> str:
    status, sent = _request("GET", f"{stack.url}/local/outbox")
    assert status == 200
    mails = [m for m in sent["emails"] if m["to"] and EMAIL in str(m["to"]).lower() and "sign-in code" in m["subject"]]
    assert mails, json.dumps(sent)[:2000]
    match = re.search(r"\b(\d{6})\b", mails[0]["text"])  # newest first
    assert match
    return match.group(1)


def test_sign_in_through_the_outbox_code_and_download_the_invoice(stack: Stack) -> None:
    order = _paid_order(stack)
    _wait_for_invoice(stack, order["id"])
    browser = Browser(stack.url)
    status, form = browser.page("sign-in form", "GET", "/account")
    assert status == 200
    status, code_page = browser.page(
        "code form", "POST", "/account/sign-in", {"email": EMAIL, "csrf_token": csrf(form)}
    )
    assert status == 200, code_page
    code = _code_from_outbox(stack)
    status, headers, _ = browser.open(
        "POST", "/account/verify", {"email": EMAIL, "code": code, "csrf_token": csrf(code_page)}
    )
    assert status == 303 and headers["Location"] == "/account/orders"
    session = [c for c in browser.jar if c.name == "oc_session"]
    assert session and session[0].has_nonstandard_attr("HttpOnly")
    status, orders = browser.page("orders", "GET", "/account/orders")
    assert status == 200 and f"/account/orders/{order['id']}" in orders
    status, detail = browser.page("order", "GET", f"/account/orders/{order['id']}")
    assert status == 200
    documents = re.findall(
        r'data-document="invoice"><span>[^<]*<br>.*?href="(/account/documents/doc_[0-9A-Z]+)"', detail
    )
    assert documents, detail
    status, headers, _ = browser.open("GET", documents[0])
    assert status == 302
    location = headers["Location"]
    assert int(urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["X-Amz-Expires"][0]) <= 300
    with urllib.request.urlopen(location, timeout=20) as response:  # noqa: S310 - the local S3 emulator
        pdf = response.read()
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
    status, preferences = browser.page("preferences", "GET", "/account/preferences")
    assert status == 200
    status, headers, _ = browser.open("POST", "/account/sign-out", {"csrf_token": csrf(preferences)})
    assert status == 303
    assert browser.open("GET", "/account/orders")[0] == 303  # signed out: back to the sign-in form
    artifacts = Path(__file__).resolve().parents[1] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "portal-page-weights.json").write_text(json.dumps(browser.weights, indent=1))
