"""The customer portal in headless Chromium at 390×844 and 1280×800: layout, overflow, axe-core.

Pages come from the real app (chalice's test client on moto) with a real signed-in
session, exactly as served, headers included (so the strict CSP applies), and the
local server hands them to the browser. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.adapters.dynamo.schema import ensure_table
from chalicelib.bootstrap import reset_container
from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, StaticSite
from tests.clock import frozen
from tests.functional.conftest import CATALOG, Api
from tests.functional.portal_tools import Browser, Visit
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import carrier, pay, place, staff

pytestmark = pytest.mark.timeout(300)

VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
PAGES = ("sign_in", "sign_in_error_de", "code", "orders", "order", "preferences", "not_found", "link")
SERIOUS = ("serious", "critical")


def _customer(email: str, locale: str) -> dict[str, Any]:
    return {"id": "cus_pia", "email": email, "phone": "+4915112345678", "name": "Pia Portal", "locale": locale}


def _render(api: Api) -> dict[str, Visit]:
    tap = StreamTap("ordercare-test")
    for n in range(3):
        place(
            api,
            customer=_customer("pia@example.com", "en-GB"),
            lines=[{"sku": "MUG-1", "quantity": n + 1, "unit_price": 1299}],
        )
    order = place(api, customer=_customer("pia@example.com", "en-GB"))
    assert pay(api, order).status_code == 201
    staff(api, f"/v1/orders/{order['id']}/processing")
    staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": "00340434161234567890"})
    carrier(api, "00340434161234567890", "in_transit")
    drain(tap)
    visits: dict[str, Visit] = {}
    stranger = Browser(api)
    visits["sign_in"] = stranger.get("/account")
    german = Browser(api, accept_language="de-DE")
    form = german.get("/account")
    visits["sign_in_error_de"] = german.post("/account/sign-in", {"email": "nope", "csrf_token": form.csrf})
    pia = Browser(api)
    visits["code"] = pia.request_code("pia@example.com")
    from tests.functional.portal_tools import last_code, last_link_token

    pia.post(
        "/account/verify",
        {"email": "pia@example.com", "code": last_code("pia@example.com"), "csrf_token": visits["code"].csrf},
    )
    visits["orders"] = pia.get("/account/orders")
    page = pia.get(f"/account/orders/{order['id']}")
    pia.post(
        f"/account/orders/{order['id']}/help",
        {"csrf_token": page.csrf, "category": "delay", "message": "Where is my parcel?\nIt was due today."},
    )
    ticket = re.findall(r'data-ticket="(tkt_[0-9A-Z]+)"', pia.get(f"/account/orders/{order['id']}").html)[0]
    reply = {"message": "It is with DHL and arrives tomorrow. Sorry for the wait!"}
    assert api.call("POST", f"/v1/tickets/{ticket}/messages", reply, role="agent", sub="agt_1").status_code in (
        200,
        201,
    )
    visits["order"] = pia.get(f"/account/orders/{order['id']}?done=sent")
    visits["preferences"] = pia.get("/account/preferences")
    visits["not_found"] = pia.get("/account/orders/ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S")
    other = Browser(api)
    other.request_code("pia@example.com")
    visits["link"] = other.get(f"/account/verify?token={last_link_token('pia@example.com')}")
    return visits


@pytest.fixture(scope="module")
def pages(site: StaticSite) -> Iterator[dict[str, str]]:
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
                boto3.client("s3").create_bucket(
                    Bucket="ordercare-local-documents",
                    CreateBucketConfiguration={"LocationConstraint": "eu-central-1"},
                )
                boto3.client("ses").verify_email_identity(EmailAddress="orders@ordercare.local")
                from app import app

                with Client(app) as client:
                    api = Api(client)
                    for sku, item in CATALOG.items():
                        assert api.call("PUT", f"/v1/catalog/{sku}", item, role="admin").status_code == 200
                    with frozen():
                        visits = _render(api)
                    for name, visit in visits.items():
                        headers = {k: v for k, v in visit.headers.items() if k != "Set-Cookie"}
                        path = f"/portal/{name}"
                        site.responses[path] = (visit.status, headers, visit.html.encode())
                        urls[name] = f"{site.base_url}{path}"
        finally:
            reset_container()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield urls


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", PAGES)
def test_layout_without_overflow_and_screenshots(browser: Any, pages: dict[str, str], name: str, viewport: str) -> None:
    context = browser.new_context(viewport=VIEWPORTS[viewport], device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    try:
        response = page.goto(pages[name], wait_until="load")
        assert response is not None
        problems = [text for text in problems if not re.search(r"status of (404|410|422)", text)]
        assert problems == []  # no CSP violation, no script error
        assert requests == [pages[name]]  # one request: nothing else to fetch
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], widths
        assert page.locator("h1").count() == 1
        assert 0 < len(page.title()) < 80 and "<" not in page.title()  # a plain title, one per page
        # Every control is big enough to hit with a thumb on the phone.
        if viewport == "phone":
            small = page.evaluate(
                """[...document.querySelectorAll(
                     'main button, main input[type=email], main input[type=text], main a.primary, main a.secondary')]
                   .map(e => e.getBoundingClientRect()).filter(r => r.height < 44).length"""
            )
            assert small == 0
        page.screenshot(path=str(ARTIFACTS / f"portal-{name}-{viewport}.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", PAGES)
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
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
            }"""
        )
        assert [v for v in results if v["impact"] in SERIOUS] == [], results
    finally:
        context.close()


def test_forms_work_without_javascript(browser: Any, pages: dict[str, str]) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(pages["sign_in"])
        assert page.locator("form[action='/account/sign-in'] button[type=submit]").is_visible()
        assert page.locator("input[name=csrf_token]").count() == 1
        page.goto(pages["order"])
        assert page.locator("a[href^='/account/documents/doc_']").count() == 2
    finally:
        context.close()
