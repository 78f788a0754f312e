"""The tracking page in headless Chromium: phone and desktop layouts, progress bar, overflow, accessibility.

The pages come from the real app (chalice's test client on moto), exactly as served,
headers included, and a tiny HTTP server on 127.0.0.1 hands them to the browser, so
the Content-Security-Policy is the one a customer's browser enforces. Screenshots
land in tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.adapters.dynamo.schema import ensure_table
from chalicelib.bootstrap import reset_container
from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, StaticSite
from tests.clock import FROZEN_AT, frozen
from tests.functional.conftest import CATALOG, Api
from tests.functional.test_lifecycle_api import carrier, pay, place, processing_order, staff

pytestmark = pytest.mark.timeout(300)


@dataclass(frozen=True)
class Case:
    name: str
    status: int
    current_step: str | None  # the step marked aria-current, None for cancelled and the 404 page
    lang: str


CASES = [
    Case("placed", 200, "placed", "de-DE"),
    Case("on_hold", 200, "paid", "de-DE"),
    Case("partially_shipped", 200, "shipped", "en"),
    Case("delayed", 200, "out_for_delivery", "en-GB"),
    Case("delivered", 200, "delivered", "de-DE"),
    Case("cancelled", 200, None, "en-GB"),
    Case("not_found", 404, None, "en"),
]
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
TOKEN_PREFIX = "http://127.0.0.1:8000/track/"


def _customer(locale: str) -> dict[str, Any]:
    return {
        "id": "cus_alice",
        "email": "alice@example.com",
        "phone": "+4915112345678",
        "name": "Alice Müller",
        "locale": locale,
    }


def _ship(api: Api, order_id: str, carrier_name: str, lines: list[dict[str, Any]] | None = None) -> str:
    tracking = f"JJD{uuid.uuid4().int % 10**16:016d}"
    body: dict[str, Any] = {"carrier": carrier_name, "tracking_number": tracking}
    if lines:
        body["lines"] = lines
    assert staff(api, f"/v1/orders/{order_id}/shipments", body).status_code == 201
    return tracking


def _orders(api: Api) -> Iterator[tuple[str, dict[str, Any]]]:
    """One order in each state the page must explain, each rendered as soon as it is built."""
    yield "placed", place(api)

    held = place(api, lines=[{"sku": "BOOK-1", "quantity": 1, "unit_price": 1999}])
    assert pay(api, held).status_code == 201
    yield "on_hold", held

    partial = processing_order(
        api,
        customer=_customer("en"),
        lines=[
            {"sku": "MUG-1", "quantity": 2, "unit_price": 1299},
            {"sku": "BOOK-1", "quantity": 1, "unit_price": 2500},
        ],
    )
    tracking = _ship(api, partial["id"], "dhl", [{"sku": "MUG-1", "quantity": 2}])
    carrier(api, tracking, "in_transit", occurred_at="2026-12-01T06:10:00Z")
    yield "partially_shipped", partial

    delayed = processing_order(api, customer=_customer("en-GB"))
    tracking = _ship(api, delayed["id"], "ups")
    carrier(api, tracking, "in_transit", occurred_at="2026-12-01T06:10:00Z")
    carrier(api, tracking, "delayed", occurred_at="2026-12-02T15:42:00Z", estimated_delivery="2026-12-18T17:00:00Z")
    carrier(api, tracking, "out_for_delivery", occurred_at="2026-12-18T07:05:00Z")
    yield "delayed", delayed

    delivered = processing_order(api)
    tracking = _ship(api, delivered["id"], "dpd")
    carrier(api, tracking, "in_transit", occurred_at="2026-12-01T06:10:00Z")
    carrier(api, tracking, "out_for_delivery", occurred_at="2026-12-02T07:30:00Z")
    carrier(api, tracking, "delivered", occurred_at="2026-12-02T11:15:00Z")
    yield "delivered", delivered

    cancelled = place(api, customer=_customer("en-GB"))
    assert pay(api, cancelled).status_code == 201
    response = api.call(
        "POST", f"/v1/orders/{cancelled['id']}/cancel", {"reason": "x"}, role="customer", sub="cus_alice"
    )
    assert response.status_code == 200
    yield "cancelled", cancelled


@pytest.fixture(scope="module")
def pages(site: StaticSite) -> Iterator[dict[str, str]]:
    """Render every case through the app once (moto) and publish it on the local server."""
    urls: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith("OC_") or name.startswith("AWS_ENDPOINT_URL"):
                env.delenv(name)
        env.setenv("OC_TABLE_NAME", "ordercare-test")
        reset_container()
        try:
            with mock_aws():
                ensure_table(boto3.client("dynamodb"), "ordercare-test")
                from app import app

                with Client(app) as client:
                    api = Api(client)
                    for sku, item in CATALOG.items():
                        assert api.call("PUT", f"/v1/catalog/{sku}", item, role="admin").status_code == 200
                    with frozen() as traveller:
                        built = (
                            (name, order["tracking_url"].removeprefix(TOKEN_PREFIX)) for name, order in _orders(api)
                        )
                        for name, token in chain(built, [("not_found", "this-link-was-tampered-with")]):
                            response: Any = client.http.get(f"/track/{token}")
                            body = response.body if isinstance(response.body, bytes) else response.body.encode()
                            path = f"/track/{token}"
                            site.responses[path] = (response.status_code, dict(response.headers), body)
                            urls[name] = f"{site.base_url}{path}"
                            traveller.move_to(FROZEN_AT)  # every order starts from the same moment
        finally:
            reset_container()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield urls


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_layout_progress_and_no_horizontal_overflow(
    browser: Any, pages: dict[str, str], site: StaticSite, case: Case, viewport: str
) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport], device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    try:
        response = page.goto(pages[case.name], wait_until="load")
        assert response is not None and response.status == case.status
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert page.evaluate("document.documentElement.lang") == case.lang
        if case.status == 404:  # Chromium logs every 4xx document; that one is expected
            problems = [text for text in problems if "status of 404" not in text]
        assert problems == []  # no CSP violation, no error of any kind
        assert requests == [pages[case.name]]  # one request: no script, font, image or stylesheet to fetch
        assert "/favicon.ico" not in site.requests  # the page names an inline icon
        # The inline stylesheet applied under the strict CSP.
        banner = page.locator("header.banner").evaluate("e => getComputedStyle(e).backgroundColor")
        assert banner == "rgb(21, 50, 74)"
        # Nothing wider than the window.
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        if case.status == 200:
            steps = page.locator("ol.steps > li")
            assert steps.count() == 6
            current = page.locator('ol.steps > li[aria-current="step"]')
            if case.current_step is None:
                assert current.count() == 0
                assert page.locator('ol.steps > li[data-state="stopped"]').count() >= 4
            else:
                assert current.count() == 1
                assert current.get_attribute("data-step") == case.current_step
                assert current.locator(".dot").is_visible()
            # Phone: the steps stack; desktop: they run left to right, all on one row.
            tops = steps.evaluate_all("items => items.map(e => Math.round(e.getBoundingClientRect().top))")
            lefts = steps.evaluate_all("items => items.map(e => Math.round(e.getBoundingClientRect().left))")
            if viewport == "phone":
                assert tops == sorted(tops) and len(set(tops)) == 6 and len(set(lefts)) == 1, (tops, lefts)
            else:
                assert len(set(tops)) == 1 and lefts == sorted(lefts) and len(set(lefts)) == 6, (tops, lefts)
            assert page.locator("h1").count() == 1
        page.screenshot(path=str(ARTIFACTS / f"tracking-{case.name}-{viewport}.png"), full_page=True)
    finally:
        context.close()


SERIOUS = ("serious", "critical")


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_axe_finds_no_serious_accessibility_violations(
    browser: Any, pages: dict[str, str], axe_source: Any, case: Case, viewport: str
) -> None:
    # The page's CSP (rightly) forbids scripts, so this context bypasses it to inject axe-core.
    context = browser.new_context(viewport=VIEWPORTS[viewport], bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(pages[case.name], wait_until="load")
        page.add_script_tag(path=str(axe_source))
        results = page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
            }"""
        )
        serious = [violation for violation in results if violation["impact"] in SERIOUS]
        assert serious == [], serious
        minor = [violation["id"] for violation in results]
        assert "landmark-one-main" not in minor and "page-has-heading-one" not in minor, minor
    finally:
        context.close()


def test_page_works_without_javascript(browser: Any, pages: dict[str, str]) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(pages["delayed"])
        assert page.locator("h1").inner_text().startswith("Order ")
        assert page.locator('[data-notice="delay"]').is_visible()
        link = page.locator("article.parcel a.button")
        assert link.get_attribute("href", timeout=1000) is not None
        assert "noreferrer" in (link.get_attribute("rel") or "")
    finally:
        context.close()
