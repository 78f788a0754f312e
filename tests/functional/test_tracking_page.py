"""GET /track/{token}: the customer's tracking page through the real app, for every order state."""

from __future__ import annotations

import re
import time
import uuid
from html.parser import HTMLParser
from typing import Any

import pytest

from chalicelib.bootstrap import reset_container
from chalicelib.domain.signing import sign
from chalicelib.presentation.links import tracking_token
from chalicelib.settings import Settings
from tests.functional.conftest import Api
from tests.functional.test_lifecycle_api import carrier, pay, place, processing_order, staff

LINK_SECRET = Settings().link_secrets[0]
PRIVATE = ("alice@example.com", "+4915112345678", "015112345678", "Hauptstr", "Alice", "Müller", "10115", "cus_alice")
MAX_PAGE_BYTES = 30 * 1024


class Page:
    def __init__(self, response: Any):
        self.status = response.status_code
        self.headers = response.headers
        self.raw: bytes = response.body if isinstance(response.body, bytes) else response.body.encode()
        self.html = self.raw.decode("utf-8")

    def attr(self, pattern: str) -> str:
        match = re.search(pattern, self.html)
        assert match, pattern
        return match.group(1)

    @property
    def status_key(self) -> str:
        return self.attr(r'data-status="([^"]+)"')

    @property
    def current_step(self) -> str | None:
        match = re.search(r'data-step="([^"]+)" data-state="current" aria-current="step"', self.html)
        return match.group(1) if match else None

    def step_states(self) -> dict[str, str]:
        return dict(re.findall(r'data-step="([^"]+)" data-state="([^"]+)"', self.html))

    def notices(self) -> list[str]:
        return re.findall(r'data-notice="([^"]+)"', self.html)


def token_of(order: dict[str, Any]) -> str:
    url: str = order["tracking_url"]
    assert url.startswith("http://127.0.0.1:8000/track/")
    return url.rsplit("/", 1)[1]


def track(api: Api, token: str, headers: dict[str, str] | None = None) -> Page:
    return Page(api.client.http.get(f"/track/{token}", headers=headers or {}))


def page_of(api: Api, order: dict[str, Any]) -> Page:
    page = track(api, token_of(order))
    assert page.status == 200, page.html[:500]
    return page


def get(api: Api, order_id: str) -> dict[str, Any]:
    response = api.call("GET", f"/v1/orders/{order_id}", role="agent", sub="agt_1")
    assert response.status_code == 200
    return response.data  # type: ignore[no-any-return]


def shipped_order(api: Api, **overrides: Any) -> tuple[dict[str, Any], str]:
    order = processing_order(api, **overrides)
    tracking = f"JJD{uuid.uuid4().int % 10**14:014d}"
    response = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "DHL", "tracking_number": tracking})
    assert response.status_code == 201, response.data
    return response.data, tracking


# --- every lifecycle state -----------------------------------------------------------------------


def test_page_follows_the_order_through_its_lifecycle(api: Api) -> None:
    order = place(api)
    page = page_of(api, order)
    assert (page.status_key, page.current_step) == ("placed", "placed")
    assert 'lang="de-DE"' in page.html and "<title>Bestellung " in page.html
    assert "Zugesagte Lieferung bis" in page.html and "Noch ist nichts versandt" in page.html
    assert "34,47\xa0€" in page.html

    assert pay(api, order).status_code == 201
    assert (page_of(api, order).status_key, page_of(api, order).current_step) == ("paid", "paid")

    assert staff(api, f"/v1/orders/{order['id']}/processing").status_code == 200
    assert page_of(api, order).current_step == "processing"

    response = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "DHL", "tracking_number": "JJD0001"})
    assert response.status_code == 201
    page = page_of(api, order)
    assert (page.status_key, page.current_step) == ("shipped", "shipped")
    assert "JJD0001" in page.html
    assert 'href="https://www.dhl.com/global-en/home/tracking.html?tracking-id=JJD0001"' in page.html
    assert 'rel="noopener noreferrer external"' in page.html

    assert carrier(api, "JJD0001", "out_for_delivery", occurred_at="2026-12-03T07:00:00Z").status_code == 200
    page = page_of(api, order)
    assert (page.status_key, page.current_step) == ("out_for_delivery", "out_for_delivery")
    assert 'data-event="out_for_delivery"' in page.html

    assert carrier(api, "JJD0001", "delivered", occurred_at="2026-12-03T12:30:00Z").status_code == 200
    page = page_of(api, order)
    assert (page.status_key, page.current_step) == ("delivered", "delivered")
    assert set(page.step_states().values()) == {"done", "current"}
    assert "Zugestellt am Donnerstag, 3. Dezember 2026" in page.html


def test_the_token_from_any_response_opens_the_same_page(api: Api) -> None:
    order = place(api)
    later = get(api, order["id"])  # the same token all day long (the expiry is rounded to the day)
    assert page_of(api, later).html == page_of(api, order).html


def test_cancelled_order_explains_itself(api: Api) -> None:
    order = place(api, customer={**_customer(), "locale": "en-GB"})
    assert pay(api, order).status_code == 201
    response = api.call(
        "POST", f"/v1/orders/{order['id']}/cancel", {"reason": "too slow"}, role="customer", sub="cus_alice"
    )
    assert response.status_code == 200
    page = page_of(api, order)
    assert page.status_key == "cancelled" and page.current_step is None
    assert page.notices() == ["cancelled"]
    assert "This order was cancelled" in page.html and "The refund is on its way" in page.html
    assert "€34.47" in page.html and "too slow" not in page.html
    assert page.step_states()["paid"] == "done" and page.step_states()["shipped"] == "stopped"
    assert 'id="parcels-h"' not in page.html


def test_held_order_explains_itself_without_internal_details(api: Api) -> None:
    order = place(api, lines=[{"sku": "MUG-1", "quantity": 1, "unit_price": 999}])
    assert [hold["code"] for hold in order["holds"]] == ["price_mismatch"]
    page = page_of(api, order)
    assert page.status_key == "on_hold" and page.current_step == "placed"
    assert page.notices() == ["hold"]
    assert "Wir bestätigen den Preis eines Artikels." in page.html
    assert "1299" not in page.html and "catalogue" not in page.html  # the hold's internal detail
    assert 'class="steps held"' in page.html


def test_partially_shipped_order_shows_one_parcel_and_what_follows(api: Api) -> None:
    order = processing_order(
        api,
        lines=[
            {"sku": "MUG-1", "quantity": 2, "unit_price": 1299},
            {"sku": "BOOK-1", "quantity": 1, "unit_price": 2500},
        ],
    )
    body = {"carrier": "dpd", "tracking_number": "01234567890123", "lines": [{"sku": "BOOK-1", "quantity": 1}]}
    assert staff(api, f"/v1/orders/{order['id']}/shipments", body).status_code == 201
    page = page_of(api, order)
    assert (page.status_key, page.current_step) == ("partially_shipped", "shipped")
    assert page.notices() == ["partial"]
    assert "Teilweise versandt" in page.html and "1 × Cookbook" in page.html
    assert page.html.count('class="parcel"') == 1 and "DPD" in page.html


def test_delayed_order_shows_the_revised_estimate_and_the_reason(api: Api) -> None:
    order, tracking = shipped_order(api, customer={**_customer(), "locale": "en"})
    late = "2026-12-15T16:00:00Z"
    response = carrier(api, tracking, "delayed", occurred_at="2026-12-02T08:00:00Z", estimated_delivery=late)
    assert response.status_code == 200
    assert get(api, order["id"])["revised_deliver_by"] == late
    page = page_of(api, order)
    assert "delay" in page.notices()
    assert "New estimate: Tuesday, December 15, 2026" in page.html
    assert "The carrier reported a delay in transit." in page.html
    assert 'data-event="delayed"' in page.html


def test_carrier_problem_is_shown(api: Api) -> None:
    order, tracking = shipped_order(api, customer={**_customer(), "locale": "en"})
    assert carrier(api, tracking, "exception", occurred_at="2026-12-02T08:00:00Z").status_code == 200
    page = page_of(api, order)
    assert "problem" in page.notices() and 'data-parcel-status="exception"' in page.html


def _customer() -> dict[str, Any]:
    return {
        "id": "cus_alice",
        "email": "alice@example.com",
        "phone": "+4915112345678",
        "name": "Alice Müller",
        "locale": "de-DE",
    }


# --- privacy, headers, structure, weight ---------------------------------------------------------


def test_no_personal_data_on_the_page(api: Api) -> None:
    order, tracking = shipped_order(api)
    carrier(api, tracking, "in_transit", occurred_at="2026-12-01T08:00:00Z")
    html = page_of(api, order).html
    for private in PRIVATE:
        assert private not in html, private


def test_headers_are_safe_to_cache_privately_and_never_indexed(api: Api) -> None:
    page = page_of(api, place(api))
    headers = page.headers
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "private, max-age=60"
    assert headers["X-Robots-Tag"] == "noindex"
    assert headers["Content-Security-Policy"].startswith(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"
    )
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer"
    assert '<meta name="robots" content="noindex">' in page.html
    assert '<meta name="referrer" content="no-referrer">' in page.html
    assert "<script" not in page.html.lower()


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.lang: str | None = None
        self.open: list[str] = []
        self.void = {"meta", "br", "img", "link", "input", "hr"}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "html":
            self.lang = dict(attrs).get("lang")
        if tag not in self.void:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (tag, self.open[-5:])
        self.open.pop()


def test_page_is_well_formed_with_landmarks_and_headings(api: Api) -> None:
    order, _ = shipped_order(api)
    outline = Outline()
    outline.feed(page_of(api, order).html)
    assert outline.open == []  # every element closed, properly nested
    assert outline.lang == "de-DE"
    assert {"header", "main", "footer"} <= set(outline.tags)
    assert outline.tags.count("h1") == 1 and outline.tags.count("main") == 1
    assert outline.tags.index("h1") < outline.tags.index("h2") < outline.tags.index("h3")


def test_page_weight_stays_under_30_kb_for_a_busy_order(api: Api) -> None:
    lines = [{"sku": "MUG-1", "quantity": 3, "unit_price": 1299}, {"sku": "BOOK-1", "quantity": 3, "unit_price": 2500}]
    order = processing_order(api, lines=lines)
    for number, sku in enumerate(["MUG-1", "BOOK-1", "MUG-1", "BOOK-1"]):
        body = {
            "carrier": "ups",
            "tracking_number": f"1Z999AA1012345678{number}",
            "lines": [{"sku": sku, "quantity": 1}],
        }
        assert staff(api, f"/v1/orders/{order['id']}/shipments", body).status_code == 201
        for hour in range(8):
            carrier(api, f"1Z999AA1012345678{number}", "in_transit", occurred_at=f"2026-12-01T{hour:02d}:00:00Z")
    page = page_of(api, order)
    assert page.html.count('class="parcel"') == 4
    assert len(page.raw) < MAX_PAGE_BYTES, len(page.raw)


# --- links that do not open a page ----------------------------------------------------------------


def _expired(order_id: str) -> str:
    return sign({"o": order_id, "k": "track", "exp": int(time.time()) - 1}, LINK_SECRET)


def test_tampered_expired_and_unknown_links_get_the_same_404(api: Api) -> None:
    order = place(api)
    token = token_of(order)
    body, mac = token.split(".")
    flipped = mac[:-3] + ("A" if mac[-3] != "A" else "B") + mac[-2:]
    bad = {
        "tampered": f"{body}.{flipped}",
        "expired": _expired(order["id"]),
        "unknown order": tracking_token("ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", LINK_SECRET, now=time.time(), days=180),
        "other secret": tracking_token(order["id"], "someone-elses-secret", now=time.time(), days=180),
        "old unexpiring shape": sign({"o": order["id"]}, LINK_SECRET),
        "garbage": "not-a-token",
        "very long": "A" * 2000 + "." + "B" * 43,
        "not an order id": tracking_token("cus_alice", LINK_SECRET, now=time.time(), days=180),
    }
    pages = {name: track(api, value) for name, value in bad.items()}
    first = pages["tampered"]
    assert first.status == 404
    assert "<h1>Diese Seite zur Sendungsverfolgung gibt es nicht</h1>" not in first.html  # English by default
    assert "We could not find this tracking page" in first.html and 'lang="en"' in first.html
    for name, page in pages.items():
        assert page.status == 404, name
        assert page.raw == first.raw, name
        assert dict(page.headers) == dict(first.headers), name
    assert first.headers["Content-Type"] == "text/html; charset=utf-8"
    assert first.headers["X-Robots-Tag"] == "noindex"
    assert order["id"] not in first.html
    assert page_of(api, order).status == 200  # the real link still works


def test_404_page_speaks_the_browsers_language(api: Api) -> None:
    german = track(api, "nope", {"Accept-Language": "fr-FR,de;q=0.8,en;q=0.5"})
    assert german.status == 404 and 'lang="de"' in german.html and "gibt es nicht" in german.html
    english = track(api, "nope", {"Accept-Language": "de;q=0.1, en-GB"})
    assert 'lang="en"' in english.html
    assert german.headers["Vary"] == "Accept-Language"


def test_rotating_the_link_secrets_keeps_or_revokes_old_links(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    order = place(api)
    old_token = token_of(order)
    monkeypatch.setenv("OC_LINK_SECRETS", f"brand-new-secret,{LINK_SECRET}")
    reset_container()
    assert page_of(api, order).status == 200  # still accepted while the old secret is listed
    new_token = token_of(get(api, order["id"]))
    assert new_token != old_token
    monkeypatch.setenv("OC_LINK_SECRETS", "brand-new-secret")
    reset_container()
    assert track(api, old_token).status == 404  # revoked
    assert track(api, new_token).status == 200


def test_openapi_documents_the_page_as_public_html(api: Api) -> None:
    document = api.call("GET", "/openapi.json").data
    operation = document["paths"]["/track/{token}"]["get"]
    assert operation["security"] == []
    assert "text/html" in operation["responses"]["200"]["content"]


def test_a_page_costs_one_read_and_a_bad_link_none(api: Api) -> None:
    from bench.round_trips import counting

    order = place(api)
    page_of(api, order)  # warm: the container is built once per Lambda instance
    with counting() as calls:
        assert page_of(api, order).status == 200
    assert dict(calls) == {"GetItem": 1}
    with counting() as calls:
        assert track(api, _expired(order["id"])).status == 404
    assert dict(calls) == {}


def test_paid_order_page_never_links_documents(api: Api) -> None:
    """The PDFs carry name and street address; the public, long-lived page does not hand them out."""
    from tests.functional.stream_tools import StreamTap, drain
    from tests.functional.test_lifecycle_api import pay

    tap = StreamTap("ordercare-test")
    order = place(api)
    assert pay(api, order).status_code == 201
    drain(tap)
    html = page_of(api, order).html
    assert "data-document" not in html and "X-Amz-" not in html and "Hauptstr" not in html
