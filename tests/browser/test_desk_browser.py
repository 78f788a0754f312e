"""The agents' desk in headless Chromium: 1280 px and tablet, no overflow, no script, axe-core clean.

The page comes from the real app (chalice's test client on moto) exactly as served,
headers and CSP included, for an order with a ticket, an internal note and an agent's
reply; a tiny HTTP server on 127.0.0.1 hands it to the browser. Screenshots land in
tests/artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
