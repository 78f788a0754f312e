"""The customer portal through the real app: sign-in, sessions, orders, documents, preferences, CSRF."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

import app as _app  # noqa: F401 - registers every route in ROUTES
from chalicelib.bootstrap import get_container
from chalicelib.domain.sessions import MAX_CODE_ATTEMPTS, PER_ADDRESS, PER_CLIENT
from tests.functional.conftest import Api
from tests.functional.portal_tools import Browser, Clock, last_code, last_link_token, mail_text, sign_in_mails
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import pay, place

ALICE = "alice@example.com"
BOB = "bob@example.com"


def bob_customer() -> dict[str, Any]:
    return {"id": "cus_bob", "email": BOB, "phone": None, "name": "Bob Brown", "locale": "en-GB"}


@pytest.fixture
def portal_clock(api: Api) -> Clock:
    """The portal's own clock: starts at the frozen clock's now, moved by the test (the rest of the app stays)."""
    fixed = Clock()
    get_container().portal.clock = fixed
    return fixed


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


@pytest.fixture
def alice(api: Api, portal_clock: Clock) -> Browser:
    return Browser(api)


def cookie_of(visit: Any, name: str) -> str:
    return str(next(cookie for cookie in visit.cookies() if cookie.startswith(f"{name}=")))


# --- signing in ----------------------------------------------------------------------------


def test_sign_in_page_has_a_labelled_form_with_a_csrf_token(alice: Browser) -> None:
    page = alice.get("/account")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<label for="email">' in page.html and 'autocomplete="email"' in page.html
    assert len(page.csrf) > 20 and "oc_pre" in alice.jar
    assert "<script" not in page.html
    assert "form-action 'self'" in page.headers["Content-Security-Policy"]
    german = Browser(alice.api, accept_language="de-DE,de;q=0.9").get("/account")
    assert '<html lang="de">' in german.html and "E-Mail-Adresse" in german.html


def test_known_and_unknown_addresses_get_the_same_answer(api: Api, alice: Browser) -> None:
    place(api)
    known = alice.request_code(ALICE)
    stranger = Browser(api)
    unknown = stranger.request_code("nobody@example.com")
    assert known.status == unknown.status == 200

    def masked(visit: Any, email: str) -> str:
        return str(visit.html.replace(email, "EMAIL").replace(visit.csrf, "CSRF"))

    assert masked(known, ALICE) == masked(unknown, "nobody@example.com")
    assert len(sign_in_mails(ALICE)) == len(sign_in_mails("nobody@example.com")) == 1


def test_code_signs_in_with_a_safe_cookie_and_lands_on_the_orders(api: Api, alice: Browser) -> None:
    place(api)
    done = alice.sign_in("  Alice@Example.COM ")  # normalised: case and spaces
    assert done.location == "/account/orders"
    cookie = cookie_of(done, "oc_session")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # the local stack is plain http
    assert "oc_pre" not in alice.jar  # the pre-sign-in binding is spent
    orders = alice.get("/account/orders")
    assert orders.status == 200 and "alice@example.com" in orders.html and 'data-order="ord_' in orders.html


def test_sign_in_email_has_code_link_and_validity(api: Api, alice: Browser) -> None:
    alice.request_code(ALICE)
    mail = sign_in_mails(ALICE)[-1]
    text = mail_text(mail)
    code = last_code(ALICE)
    assert str(mail["Subject"]).startswith(code)
    assert "/account/verify?token=" in text and "10 minutes" in text
    assert ALICE not in text.split("token=")[1]  # the link carries a random token, not the address


def test_asking_for_a_code_reads_the_customer_so_redeeming_it_is_one_read_and_one_write(
    api: Api, alice: Browser
) -> None:
    place(api)
    with _recording() as asked:
        sent = alice.request_code(ALICE)
    assert [operation for operation, _ in asked] == ["Query", "TransactWriteItems"]
    with _recording() as redeemed:
        done = alice.post("/account/verify", {"email": ALICE, "code": last_code(ALICE), "csrf_token": sent.csrf})
    assert done.status == 303 and [operation for operation, _ in redeemed] == ["GetItem", "TransactWriteItems"]
    # The session has the customer's language and id from the challenge: no read of the order here.
    assert '<html lang="de">' in alice.get("/account/orders").html
    with _recording() as read:
        alice.get("/account/preferences")
    assert [operation for operation, _ in read] == ["GetItem", "GetItem"]


def test_a_code_works_once(api: Api, alice: Browser) -> None:
    sent = alice.request_code(ALICE)
    code = last_code(ALICE)
    assert alice.post("/account/verify", {"email": ALICE, "code": code, "csrf_token": sent.csrf}).status == 303
    again = Browser(api)
    form = again.get("/account")
    reused = again.post("/account/verify", {"email": ALICE, "code": code, "csrf_token": form.csrf})
    assert reused.status == 422 and "oc_session" not in again.jar


def test_a_code_expires_after_ten_minutes(alice: Browser, portal_clock: Clock) -> None:
    sent = alice.request_code(ALICE)
    code = last_code(ALICE)
    portal_clock.advance(minutes=10, seconds=1)
    late = alice.post("/account/verify", {"email": ALICE, "code": code, "csrf_token": sent.csrf})
    assert late.status == 422 and "data-message" not in late.html and "oc_session" not in alice.jar
    assert "expired" in late.html


def test_five_wrong_codes_void_the_code(alice: Browser) -> None:
    sent = alice.request_code(ALICE)
    code = last_code(ALICE)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for attempt in range(MAX_CODE_ATTEMPTS):
        tried = alice.post("/account/verify", {"email": ALICE, "code": wrong, "csrf_token": sent.csrf})
        assert tried.status == 422
        if attempt < MAX_CODE_ATTEMPTS - 1:
            assert f"Tries left: {MAX_CODE_ATTEMPTS - attempt - 1}" in tried.html
    right = alice.post("/account/verify", {"email": ALICE, "code": code, "csrf_token": sent.csrf})
    assert right.status == 422 and "oc_session" not in alice.jar  # brute force gains nothing, not even the right code


def test_bad_input_gets_the_form_again(alice: Browser) -> None:
    page = alice.get("/account")
    for email in ("", "not-an-address", "a@b", "x" * 400 + "@example.com"):
        answer = alice.post("/account/sign-in", {"email": email, "csrf_token": page.csrf})
        assert answer.status == 422 and 'aria-invalid="true"' in answer.html
    sent = alice.request_code(ALICE)
    for code in ("", "12345", "abcdef", "1234567", "1" * 30):
        answer = alice.post("/account/verify", {"email": ALICE, "code": code, "csrf_token": sent.csrf})
        assert answer.status == 422
    junk = alice.post("/account/verify", {"email": "", "code": "123456", "csrf_token": sent.csrf})
    assert junk.status == 422
    raw = alice.api.client.http.post(
        "/account/sign-in",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"oc_pre={alice.jar['oc_pre']}"},
        body=b"\xff\xfe=%%%",
    )
    assert raw.status_code == 403  # undecodable: no token readable → refused, never a 500


def test_one_click_link_asks_for_a_press_then_signs_in_once(api: Api, alice: Browser) -> None:
    place(api)
    alice.request_code(ALICE)
    token = last_link_token(ALICE)
    other_device = Browser(api)
    landing = other_device.get(f"/account/verify?token={token}")
    assert landing.status == 200 and "oc_session" not in other_device.jar  # a GET (a mail scanner) signs nobody in
    done = other_device.post("/account/verify", {"token": landing.field("token"), "csrf_token": landing.csrf})
    assert done.status == 303 and done.location == "/account/orders" and "oc_session" in other_device.jar
    assert other_device.get(f"/account/verify?token={token}").status == 410
    third = Browser(api)
    page = third.get("/account")
    assert third.post("/account/verify", {"token": token, "csrf_token": page.csrf}).status == 422
    assert Browser(api).get("/account/verify?token=garbage").status == 410


def test_a_new_request_replaces_the_older_code(alice: Browser) -> None:
    alice.request_code(ALICE)
    first = last_code(ALICE)
    sent = alice.request_code(ALICE)
    second = last_code(ALICE)
    if first != second:
        old = alice.post("/account/verify", {"email": ALICE, "code": first, "csrf_token": sent.csrf})
        assert old.status == 422
    assert alice.post("/account/verify", {"email": ALICE, "code": second, "csrf_token": sent.csrf}).status == 303


# --- rate limits ---------------------------------------------------------------------------


def test_sign_in_requests_are_limited_per_address(alice: Browser) -> None:
    for _ in range(PER_ADDRESS.limit):
        assert alice.request_code(ALICE).status == 200
    limited = alice.request_code("ALICE@example.com")
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= PER_ADDRESS.window.total_seconds()
    assert len(sign_in_mails(ALICE)) == PER_ADDRESS.limit
    assert alice.request_code(BOB).status == 200  # another address is not affected


def test_sign_in_requests_are_limited_per_client(alice: Browser, portal_clock: Clock) -> None:
    for n in range(PER_CLIENT.limit):
        assert alice.request_code(f"user{n}@example.com").status == 200
    limited = alice.request_code("one-more@example.com")
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    portal_clock.advance(seconds=PER_CLIENT.window.total_seconds())
    assert alice.request_code("one-more@example.com").status == 200  # the next window starts afresh


# --- sessions --------------------------------------------------------------------------------


def test_session_fixation_a_planted_cookie_is_replaced(api: Api, alice: Browser) -> None:
    alice.jar["oc_session"] = "attacker-chosen-value"
    assert alice.get("/account/orders").status == 303  # the planted value is no session
    alice.sign_in(ALICE)
    assert alice.jar["oc_session"] != "attacker-chosen-value"
    attacker = Browser(api, jar={"oc_session": "attacker-chosen-value"})
    assert attacker.get("/account/orders").status == 303


def test_signing_in_again_rotates_the_session(api: Api, alice: Browser) -> None:
    alice.sign_in(ALICE)
    old = alice.jar.pop("oc_session")
    sent = alice.request_code(BOB)  # e.g. a shared computer: someone else signs in
    alice.jar["oc_session"] = old  # the browser still carries the previous session
    done = alice.post("/account/verify", {"email": BOB, "code": last_code(BOB), "csrf_token": sent.csrf})
    assert done.status == 303 and alice.jar["oc_session"] != old
    stale = Browser(api, jar={"oc_session": old})
    assert stale.get("/account/orders").status == 303  # the browser's previous session ended


def test_tampered_cookie_is_signed_out(api: Api, alice: Browser) -> None:
    alice.sign_in(ALICE)
    token = alice.jar["oc_session"]
    for value in (token[:-1] + ("A" if token[-1] != "A" else "B"), "", "x" * 5000, token + '"; evil=1'):
        assert Browser(api, jar={"oc_session": value}).get("/account/orders").status == 303


def test_idle_sessions_end_after_twelve_hours(alice: Browser, portal_clock: Clock) -> None:
    alice.sign_in(ALICE)
    portal_clock.advance(hours=11, minutes=59)
    assert alice.get("/account/orders").status == 200  # activity refreshes the idle clock
    portal_clock.advance(hours=11, minutes=59)
    assert alice.get("/account/orders").status == 200
    portal_clock.advance(hours=12, minutes=1)
    assert alice.get("/account/orders").status == 303


def test_sessions_end_after_thirty_days_whatever_the_activity(alice: Browser, portal_clock: Clock) -> None:
    alice.sign_in(ALICE)
    start = portal_clock.moment
    while alice.get("/account/orders").status == 200 and portal_clock.moment - start < timedelta(days=40):
        portal_clock.advance(hours=11, minutes=50)
    ended_after = portal_clock.moment - start
    # Each view was within 12 h of the last: only the 30-day limit can have ended it.
    assert timedelta(days=30) <= ended_after < timedelta(days=30, hours=11, minutes=50)


def test_sign_out_revokes_the_session_server_side(api: Api, alice: Browser) -> None:
    alice.sign_in(ALICE)
    token = alice.jar["oc_session"]
    page = alice.get("/account/orders")
    out = alice.post("/account/sign-out", {"csrf_token": page.csrf})
    assert out.status == 303 and out.location == "/account/signed-out" and "oc_session" not in alice.jar
    replay = Browser(api, jar={"oc_session": token})  # a copied cookie is worth nothing afterwards
    assert replay.get("/account/orders").status == 303


def test_sign_out_everywhere_ends_every_device(api: Api, alice: Browser) -> None:
    phone, laptop = alice, Browser(api)
    phone.sign_in(ALICE)
    laptop.sign_in(ALICE)
    bob = Browser(api)
    bob.sign_in(BOB)
    page = laptop.get("/account/preferences")
    assert laptop.post("/account/sign-out", {"csrf_token": page.csrf, "everywhere": "on"}).status == 303
    assert phone.get("/account/orders").status == 303
    assert bob.get("/account/orders").status == 200  # another address keeps its session


def test_a_stranger_is_sent_to_sign_in_and_straight_back(api: Api, alice: Browser) -> None:
    order = place(api)
    path = f"/account/orders/{order['id']}"
    first = alice.get(path)
    assert first.status == 303 and first.location == "/account"
    assert order["id"] not in (first.location or "")
    form = alice.get("/account")
    assert form.field("next") == path
    alice.post("/account/sign-in", {"email": ALICE, "csrf_token": form.csrf, "next": form.field("next")})
    sent_form = alice.get("/account")  # any page keeps the pre-sign-in cookie
    done = alice.post("/account/verify", {"email": ALICE, "code": last_code(ALICE), "csrf_token": sent_form.csrf})
    assert done.location == path
    assert alice.get(path).status == 200


def test_next_cannot_leave_the_portal(alice: Browser) -> None:
    form = alice.get("/account")
    alice.post("/account/sign-in", {"email": ALICE, "csrf_token": form.csrf, "next": "https://evil.example/x"})
    done = alice.post("/account/verify", {"email": ALICE, "code": last_code(ALICE), "csrf_token": form.csrf})
    assert done.location == "/account/orders"


def test_logs_carry_no_code_and_no_address(alice: Browser, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="ordercare")
    alice.sign_in(ALICE)
    alice.get("/account/orders")
    code = last_code(ALICE)
    ours = [record for record in caplog.records if record.name.startswith(("ordercare", "chalicelib", "app"))]
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in ours)
    assert code not in logged and ALICE not in logged


# --- CSRF ------------------------------------------------------------------------------------


def test_every_post_form_needs_its_csrf_token(api: Api, alice: Browser) -> None:
    place(api)
    fresh = Browser(api)
    fresh.get("/account")
    for token in (None, "", "wrong-token"):
        form = {"email": ALICE} if token is None else {"email": ALICE, "csrf_token": token}
        assert fresh.post("/account/sign-in", form).status == 403
        assert fresh.post("/account/verify", {**form, "code": "123456"}).status == 403
    assert sign_in_mails(ALICE) == []
    alice.sign_in(ALICE)
    page = alice.get("/account/preferences")
    for token in (None, "", "wrong-token", fresh.get("/account").csrf):  # another browser's token is wrong too
        extra = {} if token is None else {"csrf_token": token}
        assert alice.post("/account/preferences", {"locale": "en-GB", "email": "on", **extra}).status == 403
        assert alice.post("/account/sign-out", extra).status == 403
    assert alice.get("/account/orders").status == 200  # still signed in
    assert alice.post("/account/preferences", {"locale": "en-GB", "csrf_token": page.csrf}).status == 200


def test_a_session_csrf_token_is_bound_to_that_session(api: Api, alice: Browser) -> None:
    alice.sign_in(ALICE)
    bob = Browser(api)
    bob.sign_in(BOB)
    bobs_token = bob.get("/account/preferences").csrf
    assert alice.post("/account/sign-out", {"csrf_token": bobs_token}).status == 403


# --- orders ----------------------------------------------------------------------------------


def test_orders_of_the_address_newest_first_paginated_with_opaque_cursors(api: Api, alice: Browser) -> None:
    ids = []
    for n in range(12):
        email = "  ALICE@example.com " if n % 2 else ALICE
        ids.append(place(api, customer={**bob_customer(), "id": f"cus_{n}", "email": email, "name": "Alice"})["id"])
    place(api, customer=bob_customer())
    alice.sign_in(ALICE)
    first = alice.get("/account/orders")
    shown = re.findall(r'data-order="(ord_[^"]+)"', first.html)
    assert shown == list(reversed(ids))[:10]
    older = re.search(r'rel="next" href="([^"]+)"', first.html)
    assert older
    link = older.group(1).replace("&amp;", "&")
    assert "ord_" not in link and "alice" not in link.lower()
    second = alice.get(link)
    assert re.findall(r'data-order="(ord_[^"]+)"', second.html) == list(reversed(ids))[10:]
    assert 'rel="next"' not in second.html
    assert alice.get("/account/orders?cursor=forged").status == 422
    bob = Browser(api)
    bob.sign_in(BOB)
    stolen = bob.get(link)  # Alice's cursor opens nothing of hers for Bob
    assert stolen.status == 422 and "ord_" not in stolen.html


def test_order_list_shows_number_date_status_total_promise(api: Api, alice: Browser) -> None:
    place(api)
    alice.sign_in(ALICE)
    page = alice.get("/account/orders")
    assert "Bestellung" in page.html and "Zahlung" not in page.html  # Alice orders in German
    assert "34,47" in page.html and "Bestellung eingegangen" in page.html and "Lieferung bis" in page.html


def test_an_address_without_orders_sees_an_empty_list(api: Api, alice: Browser) -> None:
    alice.sign_in("new@example.com")
    page = alice.get("/account/orders")
    assert page.status == 200 and "no orders" in page.html


def test_order_page_shows_status_parcels_documents_and_messages(api: Api, alice: Browser, tap: StreamTap) -> None:
    order = place(api)
    assert pay(api, order).status_code == 201
    drain(tap)
    alice.sign_in(ALICE)
    page = alice.get(f"/account/orders/{order['id']}")
    assert page.status == 200
    title = re.search(r"<title>([^<]*)</title>", page.html)
    assert title and title.group(1).startswith("Bestellung ") and page.html.count("<title>") == 1
    assert page.html.count('id="help"') == 1
    assert 'data-status="paid"' in page.html and 'aria-current="step"' in page.html
    assert page.html.count('data-document="') == 2 and "/account/documents/doc_" in page.html
    assert "Rechnung INV-" in page.html and "herunterladen (PDF)" in page.html
    assert page.html.count("data-message=") >= 2  # confirmation and receipt emails
    assert "<script" not in page.html


def test_document_download_is_a_short_presigned_redirect(api: Api, alice: Browser, tap: StreamTap) -> None:
    order = place(api)
    pay(api, order)
    drain(tap)
    alice.sign_in(ALICE)
    page = alice.get(f"/account/orders/{order['id']}")
    doc_ids = re.findall(r"/account/documents/(doc_[0-9A-Z]+)", page.html)
    assert len(doc_ids) == 2
    download = alice.get(f"/account/documents/{doc_ids[0]}")
    assert download.status == 302 and download.headers["Cache-Control"] == "no-store"
    assert download.location is not None
    query = parse_qs(urlparse(download.location).query)
    assert int(query["X-Amz-Expires"][0]) <= 300
    assert alice.get("/account/documents/doc_01JD3M5X8Q2W7Y6Z4K9N0P1R2S").status == 404
    assert alice.get("/account/documents/not-a-doc").status == 404


def test_preferences_are_the_api_s_store(api: Api, alice: Browser) -> None:
    place(api)
    alice.sign_in(ALICE)
    page = alice.get("/account/preferences")
    assert page.status == 200 and 'name="email" checked' in page.html
    saved = alice.post("/account/preferences", {"csrf_token": page.csrf, "sms": "on", "locale": "en-GB"})
    assert saved.status == 200 and 'role="status"' in saved.html and '<html lang="en">' in saved.html
    stored = api.call("GET", "/v1/customers/cus_alice/preferences", role="customer", sub="cus_alice").data
    assert stored == {"customer_id": "cus_alice", "email": False, "sms": True, "locale": "en-GB"}
    api.call(
        "PUT",
        "/v1/customers/cus_alice/preferences",
        {"email": True, "sms": False, "locale": "de-DE"},
        role="customer",
        sub="cus_alice",
    )
    again = alice.get("/account/preferences")
    assert 'name="email" checked' in again.html and 'name="sms" checked' not in again.html
    bad = alice.post("/account/preferences", {"csrf_token": page.csrf, "locale": "xx-XX"})
    assert bad.status == 422


def test_preferences_without_orders_say_so(alice: Browser) -> None:
    alice.sign_in("new@example.com")
    page = alice.get("/account/preferences")
    assert page.status == 200 and "first order" in page.html and 'name="locale"' not in page.html


def test_a_first_order_placed_while_signed_in_finds_its_preferences_and_the_session_keeps_its_customer(
    api: Api, alice: Browser
) -> None:
    alice.sign_in(ALICE)  # no order yet: the session knows no customer
    place(api)
    page = alice.get("/account/preferences")
    assert 'name="locale"' in page.html  # found now, by the address's newest order
    with _recording() as saved:
        assert alice.post("/account/preferences", {"csrf_token": page.csrf, "locale": "de-DE"}).status == 200
    # The session, the newest order (whose customer), then the preferences and the session (its new
    # language, its customer) in one transaction.
    assert [operation for operation, _ in saved] == ["GetItem", "Query", "TransactWriteItems"]
    with _recording() as read:
        alice.get("/account/preferences")
    assert [operation for operation, _ in read] == ["GetItem", "GetItem"]  # the session now carries it
    stored = api.call("GET", "/v1/customers/cus_alice/preferences", role="customer", sub="cus_alice").data
    assert stored["locale"] == "de-DE"


def test_preferences_saved_as_the_session_is_signed_out_elsewhere_are_kept_and_the_session_stays_gone(
    api: Api, alice: Browser
) -> None:
    from chalicelib.adapters.dynamo.portal import DynamoPortalStore
    from chalicelib.domain.sessions import token_hash
    from chalicelib.services.ports import Preferences

    place(api)
    alice.sign_in(ALICE)
    store = DynamoPortalStore()
    session = store.session(token_hash(alice.jar["oc_session"]))
    assert session is not None and session.customer_id == "cus_alice"
    store.end_all(ALICE)  # "sign out everywhere" between the page's read and its write
    chosen = Preferences(email=False, sms=True, locale="de-DE")
    store.save_preferences(replace(session, lang="de"), chosen, get_container().portal.clock.now())
    assert store.session(session.id_hash) is None
    stored = api.call("GET", "/v1/customers/cus_alice/preferences", role="customer", sub="cus_alice").data
    assert (stored["sms"], stored["locale"]) == (True, "de-DE")


def test_cookies_are_secure_outside_the_local_stack(api: Api, alice: Browser, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.api import http
    from chalicelib.settings import get_settings

    deployed = replace(get_settings(), environment="aws")
    monkeypatch.setattr(http, "get_settings", lambda: deployed)
    page = alice.get("/account")
    cookie = cookie_of(page, "__Host-oc_pre")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    sent = alice.post("/account/sign-in", {"email": ALICE, "csrf_token": page.csrf})
    done = alice.post("/account/verify", {"email": ALICE, "code": last_code(ALICE), "csrf_token": sent.csrf})
    assert done.status == 303
    assert "Secure" in cookie_of(done, "__Host-oc_session")


# --- the authorisation matrix: every portal route, with another address's session ---------------

PORTAL_ROUTES = {
    ("GET", "/account"),
    ("POST", "/account/sign-in"),
    ("POST", "/account/verify"),
    ("GET", "/account/verify"),
    ("POST", "/account/sign-out"),
    ("GET", "/account/signed-out"),
    ("GET", "/account/orders"),
    ("GET", "/account/orders/{order_id}"),
    ("GET", "/account/documents/{document_id}"),
    ("GET", "/account/preferences"),
    ("POST", "/account/preferences"),
    ("POST", "/account/orders/{order_id}/help"),
    ("POST", "/account/orders/{order_id}/tickets/{ticket_id}/messages"),
    ("POST", "/account/orders/{order_id}/returns"),  # test_another_address_cannot_return_alices_items
}
# Routes naming one of Alice's things: Bob gets exactly the 404 an unknown id gets.
BY_ID = {("GET", "/account/orders/{order_id}"), ("GET", "/account/documents/{document_id}")}
POST_BY_ID = {
    ("POST", "/account/orders/{order_id}/returns"),
    ("POST", "/account/orders/{order_id}/help"),
    ("POST", "/account/orders/{order_id}/tickets/{ticket_id}/messages"),
}


def test_the_matrix_covers_every_portal_route() -> None:
    from chalicelib.api.http import ROUTES

    assert {(r.method, r.path) for r in ROUTES if r.path.startswith("/account")} == PORTAL_ROUTES


def test_another_address_s_session_sees_nothing_of_alice(api: Api, alice: Browser, tap: StreamTap) -> None:
    order = place(api)
    pay(api, order)
    drain(tap)
    alice.sign_in(ALICE)
    alice_page = alice.get(f"/account/orders/{order['id']}").html
    doc_id = re.findall(r"/account/documents/(doc_[0-9A-Z]+)", alice_page)[0]
    bob = Browser(api)
    bob.sign_in(BOB)
    secrets_of_alice: tuple[str, ...] = (order["id"], ALICE, "Alice", "Hauptstr", doc_id, "INV-")
    unknown = {
        "/account/orders/{order_id}": "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S",
        "/account/documents/{document_id}": "doc_01JD3M5X8Q2W7Y6Z4K9N0P1R2S",
    }
    alices = {"/account/orders/{order_id}": order["id"], "/account/documents/{document_id}": doc_id}
    csrf = bob.get("/account/preferences").csrf
    help_form = {"csrf_token": csrf, "category": "damaged", "message": "mine now"}
    theirs = bob.post(f"/account/orders/{order['id']}/help", help_form)
    assert (
        theirs.status == 404
        and bob.post("/account/orders/ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S/help", help_form).status == 404
    )
    ticket_id = open_ticket(alice, order["id"])
    for target in (
        f"/account/orders/{order['id']}/tickets/{ticket_id}/messages",
        f"/account/orders/ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S/tickets/{ticket_id}/messages",
    ):
        replied = bob.post(target, {"csrf_token": csrf, "message": "hijack"})
        assert replied.status == 404 and "hijack" not in alice.get(f"/account/orders/{order['id']}").html
        for secret in (*secrets_of_alice, ticket_id):
            assert secret not in replied.html
    own = place(api, customer=bob_customer())  # Bob's own order, Alice's ticket id: still 404
    assert (
        bob.post(
            f"/account/orders/{own['id']}/tickets/{ticket_id}/messages", {"csrf_token": csrf, "message": "x"}
        ).status
        == 404
    )
    for method, path in sorted(PORTAL_ROUTES - POST_BY_ID):
        if (method, path) in BY_ID:
            concrete = re.sub(r"{\w+}", alices[path], path)
            theirs = bob.get(concrete)
            nobody = bob.get(re.sub(r"{\w+}", unknown[path], path))
            assert theirs.status == nobody.status == 404, (method, path)
            assert theirs.html == nobody.html.replace(unknown[path], alices[path]), (method, path)
            assert "Location" not in theirs.headers
        elif method == "GET":
            theirs = bob.get(path)
        else:
            csrf = bob.get("/account/preferences").csrf
            form = {"csrf_token": csrf, "locale": "en-GB", "email": BOB}
            theirs = bob.post(path, form) if path != "/account/sign-out" else bob.get("/account/orders")
        for secret in secrets_of_alice:
            assert secret not in theirs.html, (method, path, secret)
            assert secret not in str(theirs.headers), (method, path, secret)


# --- cost per page: DynamoDB round trips and gzipped weight ---------------------------------------


def test_round_trips_and_weight_per_page(api: Api, alice: Browser, tap: StreamTap) -> None:
    import gzip
    import json
    from pathlib import Path

    from bench.round_trips import READS, WRITES, counting

    for _ in range(3):
        order = place(api)
    pay(api, order)
    drain(tap)
    alice.sign_in(ALICE)
    doc_id = re.findall(r"/account/documents/(doc_[0-9A-Z]+)", alice.get(f"/account/orders/{order['id']}").html)[0]
    stranger = Browser(alice.api)
    pages = {
        "GET /account": lambda: stranger.get("/account"),
        "POST /account/sign-in": lambda: stranger.post(
            "/account/sign-in", {"email": BOB, "csrf_token": stranger.get("/account").csrf}
        ),
        "GET /account/orders": lambda: alice.get("/account/orders"),
        "GET /account/orders/{id}": lambda: alice.get(f"/account/orders/{order['id']}"),
        "GET /account/documents/{id}": lambda: alice.get(f"/account/documents/{doc_id}"),
        "GET /account/preferences": lambda: alice.get("/account/preferences"),
    }
    budget = {  # reads, writes
        "GET /account": (0, 0),
        "POST /account/sign-in": (1, 1),  # the newest order (whose customer), then one transaction: both
        # rate counters, the challenge (carrying that customer), its link
        "GET /account/orders": (2, 0),  # the session, then one Query for the page
        "GET /account/orders/{id}": (2, 0),  # session, then one Query of the order's partition
        "GET /account/documents/{id}": (2, 0),  # the document by id (GSI2), then its order and the session together
        "GET /account/preferences": (2, 0),  # the session (whose customer, from sign-in), the preferences
    }
    measured = {}
    for name, visit in pages.items():
        visit()  # warm, as a Lambda container serves it after its first call
        with counting() as calls:
            page = visit()
        reads = sum(n for op, n in calls.items() if op in READS)
        writes = sum(n for op, n in calls.items() if op in WRITES)
        measured[name] = {"reads": reads, "writes": writes, "gzip_bytes": len(gzip.compress(page.html.encode(), 9))}
        assert reads <= budget[name][0] and writes <= budget[name][1], (name, dict(calls))
    assert sign_in_mails(BOB)  # the sign-in request above really sent its email
    artifacts = Path(__file__).resolve().parents[1] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "portal-round-trips.json").write_text(json.dumps(measured, indent=1))


def _recording() -> Any:
    """Every DynamoDB call as (operation, the keys' partition prefixes) — which reads a request makes."""
    from contextlib import contextmanager

    from botocore.client import BaseClient

    @contextmanager
    def recording() -> Iterator[list[tuple[str, list[str]]]]:
        calls: list[tuple[str, list[str]]] = []
        original = BaseClient._make_api_call

        def recorded(self: Any, operation: str, params: dict[str, Any]) -> Any:
            if self.meta.service_model.service_name == "dynamodb":
                keys = [key for request in params.get("RequestItems", {}).values() for key in request.get("Keys", [])]
                keys += [params["Key"]] if "Key" in params else []
                calls.append((operation, sorted(key["pk"]["S"].split("#", 1)[0] for key in keys)))
            return original(self, operation, params)

        BaseClient._make_api_call = recorded
        try:
            yield calls
        finally:
            BaseClient._make_api_call = original

    return recording()


def test_a_document_link_is_two_reads_the_document_then_its_order_with_the_session(
    api: Api, alice: Browser, tap: StreamTap
) -> None:
    order = place(api)
    pay(api, order)
    drain(tap)
    alice.sign_in(ALICE)
    doc_id = re.findall(r"/account/documents/(doc_[0-9A-Z]+)", alice.get(f"/account/orders/{order['id']}").html)[0]
    alice.get(f"/account/documents/{doc_id}")  # warm
    with _recording() as calls:
        download = alice.get(f"/account/documents/{doc_id}")
    assert download.status == 302
    assert calls == [("Query", []), ("BatchGetItem", ["ORDER", "SESSION"])]
    stranger = Browser(api)  # no cookie: nothing read, on to sign in
    with _recording() as calls:
        assert stranger.get(f"/account/documents/{doc_id}").status == 303
    assert calls == []


def test_the_forms_read_the_session_and_the_order_in_one_batch(api: Api, alice: Browser) -> None:
    order = place(api)
    alice.sign_in(ALICE)
    page = alice.get(f"/account/orders/{order['id']}")
    help_form = {"csrf_token": page.csrf, "category": "damaged", "message": "The mug arrived broken."}
    with _recording() as calls:
        assert alice.post(f"/account/orders/{order['id']}/help", help_form).status == 303
    reply_to = re.findall(r'data-ticket="(tkt_[0-9A-Z]+)"', alice.get(f"/account/orders/{order['id']}").html)[0]
    waiting = {"message": "Could you send a photo?", "await_customer": True}
    api.call("POST", f"/v1/tickets/{reply_to}/messages", waiting, role="agent", sub="agt_1")
    # The order moves on after the ticket; the reply (it takes the ticket off "waiting on the
    # customer": a timeline entry) follows the order as read with it, so no write is retried.
    pay(api, order)
    with _recording() as replied:
        path = f"/account/orders/{order['id']}/tickets/{reply_to}/messages"
        assert alice.post(path, {"csrf_token": page.csrf, "message": "Photos attached."}).status == 303
    # The portal's own read is the first call: the session and the order together (and, replying,
    # the ticket); the support service's write follows (its own figures: bench/round_trips.py).
    assert calls[0] == ("BatchGetItem", ["ORDER", "SESSION"]), calls
    assert replied[0] == ("BatchGetItem", ["ORDER", "ORDER", "SESSION"]), replied
    assert not any("SESSION" in prefixes for _, prefixes in calls[1:] + replied[1:])
    # The support service takes the order the portal read (no second read of it) and, replying,
    # the ticket read with them (its key is the order's partition and the path's ticket id).
    assert [operation for operation, _ in calls] == ["BatchGetItem", "TransactWriteItems"]
    assert [operation for operation, _ in replied] == ["BatchGetItem", "TransactWriteItems"]
    thread = api.call("GET", f"/v1/tickets/{reply_to}", role="agent", sub="agt_1").data["messages"]
    assert [m.get("body") or m.get("message") for m in thread][-1] == "Photos attached."
    kinds = [e["kind"] for e in api.call("GET", f"/v1/orders/{order['id']}/timeline", role="agent").data["items"]]
    assert kinds[-2:] == ["status_changed", "ticket_status_changed"], kinds
    other = place(api)  # another order of Alice's: the ticket is not on it (not in the batch: read, then 404)
    elsewhere = f"/account/orders/{other['id']}/tickets/{reply_to}/messages"
    with _recording() as refused:
        assert alice.post(elsewhere, {"csrf_token": page.csrf, "message": "Wrong order"}).status == 404
    assert "TransactWriteItems" not in [operation for operation, _ in refused]
    preferences = alice.get("/account/preferences")
    chosen = {"csrf_token": preferences.csrf, "email": "on", "locale": "de-DE"}
    with _recording() as saved:
        answer = alice.post("/account/preferences", chosen)
    assert answer.status == 200 and '<html lang="de">' in answer.html  # the language just chosen, not read again
    assert '<html lang="de">' in alice.get("/account/orders").html  # and kept in the session
    # The session (its customer kept from sign-in), then the preferences; the session's language is
    # German already (Alice's order's), so the session is not written again.
    assert [operation for operation, _ in saved] == ["GetItem", "PutItem"]


# --- get help: tickets through the support service --------------------------------------------


def open_ticket(browser: Browser, order_id: str, message: str = "The mug arrived broken.") -> str:
    page = browser.get(f"/account/orders/{order_id}")
    sent = browser.post(
        f"/account/orders/{order_id}/help", {"csrf_token": page.csrf, "category": "damaged", "message": message}
    )
    assert sent.status == 303 and sent.location == f"/account/orders/{order_id}?done=sent#help", sent.html
    shown = browser.get(f"/account/orders/{order_id}?done=sent")
    ids = re.findall(r'data-ticket="(tkt_[0-9A-Z]+)"', shown.html)
    assert ids and message in shown.html and 'role="status"' in shown.html
    return str(ids[0])


def test_get_help_opens_a_ticket_and_shows_the_thread_with_replies(api: Api, alice: Browser) -> None:
    order = place(api)
    alice.sign_in(ALICE)
    ticket_id = open_ticket(alice, order["id"])
    ticket = api.call("GET", f"/v1/tickets/{ticket_id}", role="agent", sub="agt_1").data
    assert ticket["order_id"] == order["id"] and ticket["category"] == "damaged" and ticket["channel"] == "web"
    api.call(
        "POST",
        f"/v1/tickets/{ticket_id}/messages",
        {"message": "Sorry! A new one is on its way."},
        role="agent",
        sub="agt_1",
    )
    api.call(
        "POST",
        f"/v1/tickets/{ticket_id}/messages",
        {"message": "INTERNAL: check stock", "internal": True},
        role="agent",
        sub="agt_1",
    )
    page = alice.get(f"/account/orders/{order['id']}")
    assert "Sorry! A new one is on its way." in page.html and "INTERNAL" not in page.html
    replied = alice.post(
        f"/account/orders/{order['id']}/tickets/{ticket_id}/messages", {"csrf_token": page.csrf, "message": "Thanks!"}
    )
    assert replied.status == 303
    messages = api.call("GET", f"/v1/tickets/{ticket_id}", role="agent", sub="agt_1").data["messages"]
    assert [m["body"] if "body" in m else m.get("message") for m in messages][-1] == "Thanks!"


def test_a_reply_to_a_resolved_ticket_reopens_it(api: Api, alice: Browser) -> None:
    order = place(api)
    alice.sign_in(ALICE)
    ticket_id = open_ticket(alice, order["id"])
    resolved = api.call(
        "POST", f"/v1/tickets/{ticket_id}/resolve", {"resolution": "Re-sent"}, role="agent", sub="agt_1"
    )
    assert resolved.data["status"] == "resolved"
    page = alice.get(f"/account/orders/{order['id']}")
    assert f"/tickets/{ticket_id}/messages" in page.html  # the form stays: answering is how one reopens
    replied = alice.post(
        f"/account/orders/{order['id']}/tickets/{ticket_id}/messages",
        {"csrf_token": page.csrf, "message": "It did not arrive again."},
    )
    assert replied.status == 303
    ticket = api.call("GET", f"/v1/tickets/{ticket_id}", role="agent", sub="agt_1").data
    assert ticket["status"] == "acknowledged" and ticket["reopened"] == 1


def test_help_form_bad_input_and_csrf(api: Api, alice: Browser) -> None:
    order = place(api)
    alice.sign_in(ALICE)
    path = f"/account/orders/{order['id']}/help"
    page = alice.get(f"/account/orders/{order['id']}")
    assert alice.post(path, {"category": "damaged", "message": "x"}).status == 403
    assert alice.post(path, {"csrf_token": "wrong", "category": "damaged", "message": "x"}).status == 403
    empty = alice.post(path, {"csrf_token": page.csrf, "category": "damaged", "message": "   "})
    assert empty.status == 422 and 'aria-invalid="true"' in empty.html
    assert alice.post(path, {"csrf_token": page.csrf, "category": "nonsense", "message": "x"}).status == 422
    assert alice.post(path, {"csrf_token": page.csrf, "category": "other", "message": "x" * 6000}).status == 422
    assert 'data-ticket="' not in alice.get(f"/account/orders/{order['id']}").html  # nothing was opened


# --- return items: through the returns service ------------------------------------------------


def test_return_form_requests_a_return_with_the_service_rules(api: Api, alice: Browser) -> None:
    from tests.functional.test_returns_api import delivered_order

    order = delivered_order(api)
    alice.sign_in(ALICE)
    page = alice.get(f"/account/orders/{order['id']}")
    assert 'action="/account/orders/' + order["id"] + '/returns"' in page.html
    assert 'name="qty_MUG-1"' in page.html and '<option value="2">2</option>' in page.html
    assert '<option value="3">' not in page.html  # only what was delivered
    path = f"/account/orders/{order['id']}/returns"
    form = {
        "csrf_token": page.csrf,
        "qty_MUG-1": "1",
        "reason": "damaged",
        "resolution": "refund",
        "comment": "cracked",
    }
    with _recording() as calls:
        done = alice.post(path, form)
    assert done.status == 303 and done.location == f"/account/orders/{order['id']}?done=returned#return"
    # The session, the order, its return tally and the line's catalogue item in one read; the write.
    assert calls == [("BatchGetItem", ["ORDER", "ORDER", "SESSION", "SKU"]), ("TransactWriteItems", [])]
    shown = alice.get(f"/account/orders/{order['id']}?done=returned")
    return_ids = re.findall(r'data-return="(ret_[0-9A-Z]+)"', shown.html)
    assert len(return_ids) == 1 and 'data-return-status="requested"' in shown.html and 'role="status"' in shown.html
    stored = api.call("GET", f"/v1/returns/{return_ids[0]}", role="agent", sub="agt_1").data
    assert stored["status"] == "requested" and stored["reason"] == "damaged" and stored["resolution"] == "refund"
    assert '<option value="2">' not in shown.html  # one unit left to return
    with _recording() as refused:
        too_many = alice.post(path, {**form, "qty_MUG-1": "2"})
    assert too_many.status == 422 and 'id="return-error"' in too_many.html
    assert refused[0][0] == "BatchGetItem" and "TransactWriteItems" not in [op for op, _ in refused]


def test_return_form_bad_input(api: Api, alice: Browser) -> None:
    from tests.functional.test_returns_api import delivered_order

    order = delivered_order(api)
    undelivered = place(api)
    alice.sign_in(ALICE)
    page = alice.get(f"/account/orders/{order['id']}")
    path = f"/account/orders/{order['id']}/returns"
    good = {"csrf_token": page.csrf, "qty_MUG-1": "1", "reason": "damaged", "resolution": "refund"}
    assert alice.post(path, {**good, "csrf_token": ""}).status == 403
    for bad in (
        {"qty_MUG-1": "0"},
        {"qty_MUG-1": "-1"},
        {"qty_MUG-1": "x"},
        {"reason": "bored"},
        {"resolution": "store_credit"},
        {"qty_NOPE-1": "1", "qty_MUG-1": "0"},
    ):
        assert alice.post(path, {**good, **bad}).status == 422, bad
    other = alice.get(f"/account/orders/{undelivered['id']}")
    assert '/returns"' not in other.html and "innerhalb von 30 Tagen" in other.html  # Alice reads German
    assert alice.post(f"/account/orders/{undelivered['id']}/returns", good).status == 422
    assert 'data-return="' not in alice.get(f"/account/orders/{order['id']}").html


def test_another_address_cannot_return_alices_items(api: Api, alice: Browser) -> None:
    from tests.functional.test_returns_api import delivered_order

    order = delivered_order(api)
    bob = Browser(api)
    bob.sign_in(BOB)
    csrf = bob.get("/account/preferences").csrf
    form = {"csrf_token": csrf, "qty_MUG-1": "1", "reason": "damaged", "resolution": "refund"}
    theirs = bob.post(f"/account/orders/{order['id']}/returns", form)
    assert theirs.status == 404 and order["id"] not in theirs.html
    alice.sign_in(ALICE)
    assert 'data-return="' not in alice.get(f"/account/orders/{order['id']}").html
