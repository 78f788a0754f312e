"""The KPI dashboard and the survey form in Debian's Chromium: phone and desktop, charts drawn, axe-core clean.

The pages come from the real app (moto), after a few orders were delivered, one late and
one survey answered by a detractor; they are served from a local socket like the tracking pages.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.adapters.dynamo.schema import ensure_table
from chalicelib.bootstrap import reset_container
from tests import clock
from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, StaticSite
from tests.clock import frozen
from tests.conftest import bearer
from tests.functional.conftest import CATALOG, Api
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_feedback import run_feedback, survey_links
from tests.functional.test_lifecycle_api import carrier, processing_order, staff

VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
SERIOUS = ("serious", "critical")


def _body(response: Any) -> bytes:
    return response.body if isinstance(response.body, bytes) else response.body.encode()


@pytest.fixture(scope="module")
def pages(site: StaticSite) -> Iterator[dict[str, str]]:
    urls: dict[str, str] = {}
    with pytest.MonkeyPatch.context() as env, frozen():
        for name in list(os.environ):
            if name.startswith("OC_") or name.startswith("AWS_ENDPOINT_URL"):
                env.delenv(name)
        env.setenv("OC_TABLE_NAME", "ordercare-test")
        reset_container()
        try:
            with mock_aws():
                ensure_table(boto3.client("dynamodb"), "ordercare-test")
                boto3.client("s3").create_bucket(
                    Bucket="ordercare-local-documents",
                    CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
                )
                boto3.client("ses").verify_email_identity(EmailAddress="orders@ordercare.local")
                from app import app

                with Client(app) as client:
                    api = Api(client)
                    for sku, item in CATALOG.items():
                        api.call("PUT", f"/v1/catalog/{sku}", item, role="admin")
                    tap = StreamTap("ordercare-test")
                    for _ in range(3):
                        order = processing_order(api)
                        tracking = f"TRK{uuid.uuid4().hex[:8]}"
                        staff(
                            api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking}
                        )
                        carrier(api, tracking, "delivered")
                    drain(tap)
                    run_feedback(clock.now() + timedelta(days=4))
                    token = survey_links()[0].split("/surveys/")[1].split("?")[0]
                    survey = client.http.get(f"/surveys/{token}?score=2")
                    site.responses[f"/survey/{token}"] = (survey.status_code, dict(survey.headers), _body(survey))
                    urls["survey"] = f"{site.base_url}/survey/{token}"
                    api.call("POST", f"/v1/surveys/{token}", {"csat": 2, "comment": "Zu spät"})
                    drain(tap)
                    dashboard = client.http.get("/reports/dashboard", headers=bearer("admin", "boss"))
                    assert dashboard.status_code == 200
                    site.responses["/dashboard"] = (200, dict(dashboard.headers), _body(dashboard))
                    urls["dashboard"] = f"{site.base_url}/dashboard"
        finally:
            reset_container()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield urls


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", ["dashboard", "survey"])
def test_fits_the_screen_draws_and_loads_nothing_else(
    browser: Any, pages: dict[str, str], name: str, viewport: str
) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport], device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("request", lambda request: requests.append(request.url))
    try:
        response = page.goto(pages[name], wait_until="load")
        assert response is not None and response.status == 200
        assert problems == [] and requests == [pages[name]]  # no CSP violation; no script, font or CDN
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        if name == "dashboard":
            assert page.locator("article.kpi").count() == 12
            charts = page.locator("svg.spark")
            assert charts.count() == 12 and charts.first.is_visible()
            assert page.locator("svg.spark polyline, svg.spark circle").count() >= 1  # a point drawn this week
            box = charts.first.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] >= 40
            assert page.locator("#board-h").is_visible()
        else:
            assert page.locator('input[name="csat"][value="2"]').is_checked()
            assert re.search(r"post|POST", page.locator("form").get_attribute("method") or "")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{viewport}.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", ["dashboard", "survey"])
def test_axe_finds_no_serious_violations(
    browser: Any, pages: dict[str, str], axe_source: Any, name: str, viewport: str
) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport], bypass_csp=True)
    page = context.new_page()
    try:
        page.goto(pages[name], wait_until="load")
        page.add_script_tag(path=str(axe_source))
        results = page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}));
            }"""
        )
        assert [v for v in results if v["impact"] in SERIOUS] == []
    finally:
        context.close()
