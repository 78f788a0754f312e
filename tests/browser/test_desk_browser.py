"""The agents' desk in headless Chromium: 1280 px and tablet, no overflow, no script, axe-core clean.

The page comes from the real app (chalice's test client on moto) exactly as served,
headers and CSP included, for an order with a ticket, an internal note and an agent's
reply; a tiny HTTP server on 127.0.0.1 hands it to the browser. Screenshots land in
tests/artifacts/ (git-ignored) for a person to look at.

The returns flow runs live: a small HTTP server on 127.0.0.1 forwards every request of
the browser (JavaScript off) to the app, so the agent signs in on the dev page, approves
a return and records its receipt by submitting the desk's own forms.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.adapters.dynamo.schema import ensure_table
from chalicelib.bootstrap import reset_container
from tests.browser.conftest import ARTIFACTS, DESKTOP, StaticSite
from tests.clock import frozen
from tests.conftest import bearer
from tests.functional.conftest import CATALOG, Api
from tests.functional.test_lifecycle_api import place

pytestmark = pytest.mark.timeout(300)
TABLET = {"width": 820, "height": 1180}
VIEWPORTS = {"desktop": DESKTOP, "tablet": TABLET}


@pytest.fixture(scope="module")
def desk_pages(site: StaticSite) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("OC_") or name.startswith("AWS_ENDPOINT_URL"):
                env.delenv(name)
        env.setenv("OC_TABLE_NAME", "ordercare-test")
        reset_container()
        try:
            with mock_aws(), frozen():
                ensure_table(boto3.client("dynamodb"), "ordercare-test")
                boto3.client("s3").create_bucket(
                    Bucket="ordercare-local-documents",
                    CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
                )
                from app import app

                with Client(app) as client:
                    api = Api(client)
                    for sku, item in CATALOG.items():
                        assert api.call("PUT", f"/v1/catalog/{sku}", item, role="admin").status_code == 200
                    order = place(api)
                    body = {"order_id": order["id"], "category": "damaged", "message": "The mug arrived broken."}
                    ticket = api.call("POST", "/v1/tickets", body, role="customer", sub="cus_alice").data
                    for message in ({"message": "Photo looks bad; refund ok", "internal": True}, {"message": "Sorry!"}):
                        path = f"/v1/tickets/{ticket['id']}/messages"
                        assert api.call("POST", path, message, role="agent", sub="agt_1").status_code == 201
                    second = {"order_id": order["id"], "category": "invoice", "message": "Company address please"}
                    api.call("POST", "/v1/tickets", second, role="customer", sub="cus_alice")
                    for name, path in (("order", f"/desk?order={order['id']}"), ("queue", "/desk")):
                        headers = {"Accept": "text/html", **bearer("agent", "agt_1")}
                        response: Any = client.http.request("GET", path, headers=headers)
                        assert response.status_code == 200, response.body
                        raw = response.body if isinstance(response.body, bytes) else response.body.encode()
                        site.responses[path] = (response.status_code, dict(response.headers), raw)
                        urls[name] = f"{site.base_url}{path}"
        finally:
            reset_container()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield urls


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", ["order", "queue"])
def test_desk_layout_without_overflow_or_scripts(
    browser: Any, desk_pages: dict[str, str], name: str, viewport: str
) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport], device_scale_factor=1, java_script_enabled=False)
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: requests.append(request.url))
    try:
        response = page.goto(desk_pages[name], wait_until="load")
        assert response is not None and response.status == 200
        assert problems == [] and requests == [desk_pages[name]]  # nothing else to fetch, no CSP violation
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        assert page.locator("h1").count() == 1
        assert page.locator("table tbody tr").count() == 2  # both tickets in the queue, countdowns shown
        assert "left" in page.locator("table tbody").inner_text()
        forms = page.locator("form[method=post]")
        for index in range(forms.count()):
            assert forms.nth(index).locator('input[name="csrf_token"]').count() == 1
        if name == "order":
            assert page.locator(".thread li.note").count() == 1  # the internal note, marked as such
            assert page.locator("textarea[name=message]").first.is_visible()
            queue_box = page.locator("aside").bounding_box()
            main_box = page.locator("main").bounding_box()
            assert queue_box and main_box
            if viewport == "desktop":  # side by side at 1280 px; stacked on a tablet
                assert abs(queue_box["y"] - main_box["y"]) < 5
            else:
                assert queue_box["y"] > main_box["y"]
        page.screenshot(path=str(ARTIFACTS / f"desk-{name}-{viewport}.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_axe_finds_no_serious_accessibility_violations_on_the_desk(
    browser: Any, desk_pages: dict[str, str], axe_source: Any, viewport: str
) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport], bypass_csp=True)  # to inject axe-core
    page = context.new_page()
    try:
        page.goto(desk_pages["order"], wait_until="load")
        page.add_script_tag(path=str(axe_source))
        results = page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
            }"""
        )
        assert [v for v in results if v["impact"] in ("serious", "critical")] == [], results
    finally:
        context.close()


# --- the returns flow, live ----------------------------------------------------------------------


@dataclass(frozen=True)
class LiveDesk:
    base_url: str
    order_id: str
    return_id: str
    number: str
    api: Api


def _proxy(client: Client) -> ThreadingHTTPServer:
    """127.0.0.1 → the app in-process, one request at a time (moto and the test client are not threadsafe)."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            with lock:
                response: Any = client.http.request(self.command, self.path, headers=headers, body=body)
            payload = response.body if isinstance(response.body, bytes) else (response.body or "").encode()
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: Any) -> None:
            return

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def live_desk() -> Iterator[LiveDesk]:
    from tests.functional.test_returns_api import delivered_order, request_return

    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("OC_") or name.startswith("AWS_ENDPOINT_URL"):
                env.delenv(name)
        env.setenv("OC_TABLE_NAME", "ordercare-test")
        reset_container()
        try:
            with mock_aws(), frozen():
                ensure_table(boto3.client("dynamodb"), "ordercare-test")
                boto3.client("s3").create_bucket(
                    Bucket="ordercare-local-documents",
                    CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
                )
                from app import app

                with Client(app) as client:
                    api = Api(client)
                    for sku, item in CATALOG.items():
                        assert api.call("PUT", f"/v1/catalog/{sku}", item, role="admin").status_code == 200
                    order = delivered_order(api)
                    lines = [{"sku": "MUG-1", "quantity": 2}]
                    ret = request_return(api, order["id"], lines, reason="damaged").data
                    server = _proxy(client)
                    thread = threading.Thread(target=server.serve_forever, daemon=True)
                    thread.start()
                    try:
                        base = f"http://127.0.0.1:{server.server_address[1]}"
                        yield LiveDesk(base, order["id"], ret["id"], ret["number"], api)
                    finally:
                        server.shutdown()
                        server.server_close()
                        thread.join(timeout=5)
        finally:
            reset_container()


def _axe(browser: Any, signed_in: Any, url: str, axe_source: Any) -> list[dict[str, Any]]:
    """axe-core over the page as this session sees it (a scripted context of its own: the desk has none)."""
    context = browser.new_context(viewport=DESKTOP, bypass_csp=True, storage_state=signed_in.storage_state())
    try:
        page = context.new_page()
        page.goto(url, wait_until="load")
        page.add_script_tag(path=str(axe_source))
        results: list[dict[str, Any]] = page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
            }"""
        )
    finally:
        context.close()
    return [v for v in results if v["impact"] in ("serious", "critical")]


def test_an_agent_approves_and_receives_a_return_in_the_browser(
    browser: Any, live_desk: LiveDesk, axe_source: Any
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP, device_scale_factor=1, java_script_enabled=False)
    page = context.new_page()
    statuses: list[tuple[str, int]] = []
    page.on("response", lambda response: statuses.append((response.request.method, response.status)))
    base, rma = live_desk.base_url, live_desk.number
    card = f"section[aria-labelledby='r-{live_desk.return_id}']"
    try:
        page.goto(f"{base}/desk/sign-in", wait_until="load")
        page.fill("#sub", "agt_browser")
        page.select_option("#role", "agent")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/desk")
        page.goto(f"{base}/desk?order={live_desk.order_id}", wait_until="load")
        assert rma in page.locator("dl.facts").first.inner_text()  # the order's story lists the RMA
        assert page.locator(f"{card} .pill").first.inner_text() == "requested"
        page.screenshot(path=str(ARTIFACTS / "desk-return-requested.png"), full_page=True)
        assert _axe(browser, context, page.url, axe_source) == []  # approve and reject forms

        page.click(f"{card} button:has-text('Approve return')")
        page.wait_for_load_state("load")
        assert page.url.endswith(f"/desk?order={live_desk.order_id}#r-{live_desk.return_id}")
        assert page.locator(f"{card} .pill").first.inner_text() == "approved"
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        assert _axe(browser, context, page.url, axe_source) == []  # the receipt form: labels, contrast
        page.screenshot(path=str(ARTIFACTS / "desk-return-approved.png"), full_page=True)

        # A wrong quantity first: the page says what to fix, nothing changes.
        quantity = page.locator(f"{card} input[name='quantity:MUG-1']")
        quantity.evaluate("input => input.removeAttribute('max')")  # max=2 is a hint; the server decides
        quantity.fill("3")
        page.click(f"{card} button:has-text('Record receipt')")
        page.wait_for_load_state("load")
        assert ("POST", 422) in statuses
        assert "too many units" in page.locator("[role=alert]").inner_text()
        assert page.locator(f"{card} .pill").first.inner_text() == "approved"

        page.fill(f"{card} input[name='quantity:MUG-1']", "2")
        page.select_option(f"{card} select[name='condition:MUG-1']", "damaged")
        page.click(f"{card} button:has-text('Record receipt')")
        page.wait_for_load_state("load")
        assert page.locator(f"{card} .pill").first.inner_text() == "received"
        assert "0 restockable, 2 damaged" in page.locator(card).inner_text()
        assert ("POST", 303) in statuses and not any(status >= 500 for _, status in statuses)
        page.screenshot(path=str(ARTIFACTS / "desk-return-received.png"), full_page=True)
    finally:
        context.close()
    current = live_desk.api.call("GET", f"/v1/returns/{live_desk.return_id}", role="agent").data
    assert current["status"] == "received" and current["history"][-1]["actor"] == "agent:agt_browser"
