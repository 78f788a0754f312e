"""The tracking page's view model for every order state, its wording, and its signed, expiring links."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import calendar_from
from chalicelib.domain.address import Address
from chalicelib.domain.orders import (
    CarrierEvent,
    Customer,
    Discount,
    Hold,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    Refund,
    ShipmentLine,
)
from chalicelib.domain.signing import sign, verify
from chalicelib.presentation.formatting import Localizer, carrier_name, lang_attribute, order_number
from chalicelib.presentation.formatting import language_of as page_language
from chalicelib.presentation.links import (
    DEFAULT_TRACKING_LINK_DAYS,
    order_id_from_token,
    tracking_link_days,
    tracking_token,
    tracking_url,
)
from chalicelib.settings import Settings
from chalicelib.web.messages import STRINGS
from chalicelib.web.tracking import (
    STEPS,
    DocumentLink,
    TrackingView,
    build_tracking_view,
)

ORDER_ID = "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"
PLACED = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # Fri 10:00 Berlin → ship_by Tue, deliver_by Fri
SHIP_BY = datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC)
DELIVER_BY = datetime(2026, 12, 4, 22, 59, 59, tzinfo=UTC)
TZ = "Europe/Berlin"
CALENDAR = calendar_from(Settings())
ACTOR = "test:unit"
SECRET, OLD_SECRET = "current-link-secret", "retired-link-secret"
STREET, EMAIL, PHONE, NAME = "Hauptstr. 1", "alice@example.com", "+4915112345678", "Alice Müller"


def new_order(locale: str = "de-DE", holds: list[Hold] | None = None, two_items: bool = False) -> Order:
    lines = [OrderLine("MUG-1", 2, 1299, 1900, "Ceramic mug")]
    if two_items:
        lines.append(OrderLine("BOOK-1", 1, 2500, 700, "Cookbook"))
    return Order.place(
        order_id=ORDER_ID,
        customer=Customer("cus_alice", EMAIL, NAME, PHONE, locale),
        currency="EUR",
        lines=lines,
        shipping_address=Address(NAME, STREET, "Berlin", "10115", "DE"),
        shipping_method="standard",
        shipping_fee=499,
        discounts=[Discount("WELCOME", 200)],
        placed_at=PLACED,
        ship_by=SHIP_BY,
        deliver_by=DELIVER_BY,
        holds=holds or [],
        actor=ACTOR,
    )


def paid(order: Order) -> Order:
    order.record_payment(Payment(order.totals.total, "card", "pi_1", PLACED + timedelta(minutes=5)), CALENDAR, ACTOR)
    return order


def processing(order: Order) -> Order:
    paid(order).start_processing(PLACED + timedelta(hours=2), ACTOR)
    return order


def shipped(order: Order, lines: list[ShipmentLine] | None = None, tracking: str = "00340434161094042557") -> Order:
    if order.status == OrderStatus.PLACED:
        processing(order)
    at = PLACED + timedelta(days=3)
    order.ship(f"shp_{tracking[-4:]}", "DHL", tracking, order.lines_to_ship(lines), at, ACTOR)
    return order


def scan(order: Order, status: str, at: datetime, tracking: str = "00340434161094042557", **extra: Any) -> Order:
    order.carrier_update(tracking, CarrierEvent(status, at, f"evt-{status}-{at.isoformat()}", **extra), ACTOR)
    return order


def view(order: Order, now: datetime | None = None, **kwargs: object) -> TrackingView:
    return build_tracking_view(order, now=now or PLACED + timedelta(days=1), timezone=TZ, **kwargs)  # type: ignore[arg-type]


def states(v: TrackingView) -> dict[str, str]:
    return {step.key: step.state for step in v.steps}


def all_text(v: TrackingView) -> str:
    return repr(v)


# --- progress for every status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "status_key", "current"),
    [
        (lambda: new_order(), "placed", "placed"),
        (lambda: paid(new_order()), "paid", "paid"),
        (lambda: processing(new_order()), "processing", "processing"),
        (lambda: shipped(new_order()), "shipped", "shipped"),
        (
            lambda: scan(shipped(new_order()), "out_for_delivery", PLACED + timedelta(days=4)),
            "out_for_delivery",
            "out_for_delivery",
        ),
        (lambda: scan(shipped(new_order()), "delivered", PLACED + timedelta(days=5)), "delivered", "delivered"),
    ],
    ids=["placed", "paid", "processing", "shipped", "out_for_delivery", "delivered"],
)
def test_progress_marks_exactly_one_current_step(make, status_key: str, current: str) -> None:
    v = view(make())
    assert v.status_key == status_key
    assert [step.key for step in v.steps] == list(STEPS)
    assert v.current_step is not None and v.current_step.key == current
    position = STEPS.index(current)
    assert [step.state for step in v.steps] == ["done"] * position + ["current"] + ["upcoming"] * (
        len(STEPS) - position - 1
    )
    assert sum(step.is_current for step in v.steps) == 1


def test_placed_order_shows_the_promise_and_no_parcels_yet() -> None:
    v = view(new_order())
    assert v.heading == "Bestellung 9N0P-1R2S" and v.order_number == "9N0P-1R2S" and v.order_id == ORDER_ID
    assert v.title == "Bestellung 9N0P-1R2S: Sendungsverfolgung"
    assert v.status_label == "Bestellung eingegangen"
    assert v.promise_lines == (
        "Zugesagte Lieferung bis Freitag, 4. Dezember 2026",
        "Versand bis Dienstag, 1. Dezember 2026",
    )
    assert v.revised_estimate is None and v.notices == () and v.shipments == ()
    assert v.steps[0].date == "27. Nov." and v.steps[1].date is None
    assert v.items == ("2 × Ceramic mug",)
    assert v.total == "34,47\xa0€"  # (2 × 12,99 − 2,00 + 4,99) + 19 % tax, a no-break space before €


def test_dates_of_completed_steps_are_shown() -> None:
    order = scan(shipped(new_order()), "delivered", datetime(2026, 12, 2, 13, 0, tzinfo=UTC))
    dates = {step.key: step.date for step in view(order).steps}
    assert dates == {
        "placed": "27. Nov.",
        "paid": "27. Nov.",
        "processing": "27. Nov.",
        "shipped": "30. Nov.",
        "out_for_delivery": "2. Dez.",  # never scanned out for delivery: done when delivered
        "delivered": "2. Dez.",
    }
    assert all(step.date for step in view(order).steps if step.state == "done")
    order.processing_at = None  # processed before that was recorded: done by the time it shipped
    assert {step.key: step.date for step in view(order).steps}["processing"] == "30. Nov."


def test_processing_shows_when_it_started() -> None:
    order = new_order()
    order.status = OrderStatus.PROCESSING
    order.processing_at = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    dates = {step.key: step.date for step in view(order).steps}
    assert dates["processing"] == "28. Nov." and dates["shipped"] is None


def test_delivered_on_time_says_so() -> None:
    order = scan(shipped(new_order()), "delivered", datetime(2026, 12, 2, 13, 0, tzinfo=UTC))
    v = view(order, now=datetime(2026, 12, 10, tzinfo=UTC))
    assert v.status_label == "Zugestellt"
    assert v.promise_lines == ("Zugestellt am Mittwoch, 2. Dezember 2026", "Pünktlich, wie zugesagt.")
    assert v.notices == ()  # delivered late or not, a delivered order is not "running late"
    assert v.shipments[0].status_key == "delivered" and v.shipments[0].delivered == "Zugestellt am Mi., 2. Dez., 14:00"


def test_delivered_late_shows_the_promise_it_missed() -> None:
    order = scan(shipped(new_order()), "delivered", datetime(2026, 12, 7, 13, 0, tzinfo=UTC))
    v = view(order, now=datetime(2026, 12, 10, tzinfo=UTC))
    assert v.promise_lines == ("Zugestellt am Montag, 7. Dezember 2026", "Zugesagt bis Freitag, 4. Dezember 2026")


# --- cancelled, held, partial, delayed, late, problems ----------------------------------------------


def test_cancelled_unpaid_order_explains_itself() -> None:
    order = new_order()
    order.cancel(PLACED + timedelta(hours=1), ACTOR, "changed my mind")
    v = view(order)
    assert v.status_key == "cancelled" and v.status_label == "Storniert"
    assert v.current_step is None
    assert states(v) == {key: "done" if key == "placed" else "stopped" for key in STEPS}
    (notice,) = v.notices
    assert notice.kind == "cancelled" and notice.tone == "danger"
    assert notice.lines == (
        "Die Bestellung wurde am Freitag, 27. November 2026 storniert. Es wird nichts versandt.",
        "Ihnen wurde nichts berechnet.",
    )
    assert v.promise_lines == () and v.revised_estimate is None
    assert "changed my mind" not in all_text(v)  # the reason is internal


def test_cancelled_paid_order_tells_where_the_money_is() -> None:
    order = processing(new_order(locale="en-GB"))
    order.cancel(PLACED + timedelta(hours=3), ACTOR, "out of stock")
    total = order.totals.total
    pending = view(order)
    assert states(pending)["paid"] == "done" and states(pending)["processing"] == "stopped"
    assert (
        pending.notices[0].lines[1]
        == f"You paid €{total / 100:.2f}. The refund is on its way to your original payment method."
    )
    order.record_refund(Refund(total, "re_1", PLACED + timedelta(days=1), "evt_r"), ACTOR)
    refunded = view(order)
    assert refunded.notices[0].lines[1:] == (f"We refunded €{total / 100:.2f} to your original payment method.",)


def test_on_hold_order_explains_in_plain_words_without_internal_details() -> None:
    holds = [
        Hold("insufficient_stock", "'MUG-1': 2 ordered, 0 in stock", "MUG-1"),
        Hold("price_mismatch", "'MUG-1' costs 1299 EUR in the catalogue, the order says 999 EUR", "MUG-1"),
        Hold("fraud_review", "score 97 from provider X"),
        Hold("another_new_code", "internal"),
    ]
    order = paid(new_order(locale="en", holds=holds))
    v = view(order)
    assert v.status_key == "on_hold" and v.status_label == "Paused for a check"
    assert v.current_step is not None and v.current_step.key == "paid"
    (notice,) = v.notices
    assert notice.kind == "hold" and notice.tone == "warning"
    assert notice.lines == (
        "Your order is paused while we check a detail. We will contact you if we need anything.",
        "An item is waiting for new stock.",
        "We are confirming the price of an item.",
        "We are checking a detail of your order.",  # unknown codes: said once, generically
    )
    text = all_text(v)
    assert "in stock" not in text and "score 97" not in text and "1299 EUR" not in text


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("unknown_sku", "We are confirming an item in your order."),
        ("invalid_address", "We are confirming your delivery address."),
        ("unsupported_country", "We are checking that we can deliver to your country."),
    ],
)
def test_every_hold_code_has_plain_words(code: str, line: str) -> None:
    v = view(new_order(locale="en", holds=[Hold(code, "internal detail")]))
    assert v.notices[0].lines[1] == line and v.status_key == "on_hold"


def test_partially_shipped_order_shows_the_parcel_and_what_follows() -> None:
    order = shipped(processing(new_order(locale="en", two_items=True)), [ShipmentLine("MUG-1", 2)])
    v = view(order)
    assert order.status == OrderStatus.PARTIALLY_SHIPPED and v.status_key == "partially_shipped"
    assert v.current_step is not None and v.current_step.key == "shipped" and v.current_step.label == "Partly shipped"
    assert [notice.kind for notice in v.notices] == ["partial"]
    (parcel,) = v.shipments
    assert parcel.heading == "Parcel 1" and parcel.carrier == "DHL"
    assert parcel.contents == ("2 × Ceramic mug",)
    assert parcel.carrier_url == "https://www.dhl.com/global-en/home/tracking.html?tracking-id=00340434161094042557"
    assert parcel.carrier_link_label == "Track with DHL"
    assert v.items == ("2 × Ceramic mug", "1 × Cookbook")
    # the second parcel completes the order
    order.ship("shp_2", "dpd", "01234567890123", order.lines_to_ship(None), PLACED + timedelta(days=4), ACTOR)
    complete = view(order)
    assert complete.status_key == "shipped" and [s.carrier for s in complete.shipments] == ["DHL", "DPD"]
    assert complete.shipments[1].heading == "Parcel 2" and complete.notices == ()


def test_delayed_order_shows_the_revised_estimate_and_the_reason() -> None:
    order = shipped(new_order(locale="en-GB"))
    scan(order, "in_transit", datetime(2026, 12, 1, 8, 0, tzinfo=UTC), estimated_delivery=DELIVER_BY)
    scan(
        order,
        "delayed",
        datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
        estimated_delivery=datetime(2026, 12, 8, 17, 0, tzinfo=UTC),
    )
    v = view(order, now=datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    assert v.revised_estimate == "New estimate: Tuesday, 8 December 2026"
    assert v.promise_lines[0] == "Promised delivery by Friday, 4 December 2026"
    (notice,) = v.notices
    assert notice.kind == "delay" and notice.title == "Your delivery is delayed"
    assert notice.lines == (
        "New estimate: Tuesday, 8 December 2026",
        "The carrier reported a delay in transit.",
        "We are sorry for the wait.",
    )
    parcel = v.shipments[0]
    assert parcel.expected == "Expected on Tuesday, 8 December 2026"
    assert [event.key for event in parcel.events] == ["delayed", "in_transit", "shipped"]  # newest first
    assert parcel.events[0].label == "Delayed" and parcel.events[0].when == "Wed 2 Dec, 09:00"
    assert parcel.events[-1].label == "Handed to DHL" and parcel.events[0].iso == "2026-12-02T08:00:00Z"


def test_a_later_estimate_without_a_delay_scan_says_the_carrier_updated_it() -> None:
    order = shipped(new_order(locale="en"))
    scan(
        order,
        "in_transit",
        datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        estimated_delivery=datetime(2026, 12, 7, 17, 0, tzinfo=UTC),
    )
    v = view(order)
    assert v.notices[0].lines[1] == "The carrier updated its delivery estimate."


def test_order_past_its_promise_without_news_is_running_late() -> None:
    order = shipped(new_order(locale="en"))
    assert view(order, now=DELIVER_BY - timedelta(hours=1)).notices == ()
    late = view(order, now=DELIVER_BY + timedelta(hours=1))
    assert [notice.kind for notice in late.notices] == ["late"]
    assert late.notices[0].title == "Your order is running late"


def test_carrier_exception_is_a_problem_to_act_on_until_the_parcel_moves_again() -> None:
    order = shipped(new_order(locale="en"))
    scan(order, "exception", datetime(2026, 12, 1, 8, 0, tzinfo=UTC))
    v = view(order)
    assert [notice.kind for notice in v.notices] == ["problem"] and v.notices[0].tone == "danger"
    assert v.shipments[0].status_key == "exception" and v.shipments[0].status_label == "Delivery problem"
    scan(order, "out_for_delivery", datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
    again = view(order)
    assert again.notices == () and again.shipments[0].status_key == "out_for_delivery"


def test_only_the_latest_carrier_events_are_shown() -> None:
    order = shipped(new_order(locale="en"))
    for hour in range(8):
        scan(order, "in_transit", datetime(2026, 12, 1, hour, 0, tzinfo=UTC))
    events = view(order).shipments[0].events
    assert len(events) == 5 and events[0].iso == "2026-12-01T07:00:00Z"


def test_unknown_carriers_get_a_readable_name_and_no_link() -> None:
    order = processing(new_order(locale="en"))
    order.ship("shp_1", "Speedy Parcel", "SP-1", order.lines_to_ship(None), PLACED + timedelta(days=3), ACTOR)
    parcel = view(order).shipments[0]
    assert parcel.carrier == "Speedy Parcel" and parcel.carrier_url is None
    assert carrier_name("royal-mail") == "Royal Mail" and carrier_name("ups") == "UPS"


# --- privacy, language, the documents hook --------------------------------------------------------


@pytest.mark.parametrize("status", ["placed", "shipped", "cancelled", "held"])
def test_no_personal_data_in_the_view(status: str) -> None:
    order = {
        "placed": lambda: new_order(),
        "shipped": lambda: shipped(new_order()),
        "cancelled": lambda: _cancelled(new_order()),
        "held": lambda: new_order(holds=[Hold("invalid_address", f"street {STREET} looks wrong")]),
    }[status]()
    text = all_text(view(order))
    for private in (STREET, EMAIL, PHONE, NAME, "Alice", "10115", "cus_alice", ACTOR):
        assert private not in text, private


def _cancelled(order: Order) -> Order:
    order.cancel(PLACED, ACTOR, "x")
    return order


@pytest.mark.parametrize(
    ("locale", "lang", "total", "placed"),
    [
        ("de-DE", "de-DE", "34,47\xa0€", "Bestellt am Freitag, 27. November 2026"),
        ("de_at", "de-AT", "€\xa034,47", "Bestellt am Freitag, 27. November 2026"),
        ("en-GB", "en-GB", "€34.47", "Placed on Friday, 27 November 2026"),
        ("en", "en", "€34.47", "Placed on Friday, November 27, 2026"),
        ("fr-FR", "en", "€34.47", "Placed on Friday, November 27, 2026"),  # no French wording: all English
        ("", "en", "€34.47", "Placed on Friday, November 27, 2026"),
        ("zz-!!", "en", "€34.47", "Placed on Friday, November 27, 2026"),
    ],
)
def test_language_money_and_dates_follow_the_customer_locale(locale: str, lang: str, total: str, placed: str) -> None:
    v = view(new_order(locale=locale))
    assert v.lang == lang and v.total == total and v.placed_on == placed


def test_lang_attribute_and_language() -> None:
    assert lang_attribute("de-DE") == "de-DE" and lang_attribute("DE_de") == "de-DE"
    assert lang_attribute("de-419") == "de" and lang_attribute(None) == "en"
    assert page_language("de-CH") == "de" and page_language("pt-BR") == "en"


def test_every_language_has_every_message() -> None:
    keys = set(STRINGS["en"])
    for language, strings in STRINGS.items():
        assert set(strings) == keys, language
        for key, text in strings.items():
            assert text.strip() and text == text.strip(), (language, key)


def test_localizer_formats_other_currencies_and_times_in_the_shop_zone() -> None:
    de = Localizer("de-DE", TZ)
    assert de.money(1000, "JPY") == "1.000\xa0¥" and de.money(-250, "EUR") == "-2,50\xa0€"
    assert de.date_time(datetime(2026, 7, 1, 10, 0, tzinfo=UTC)) == "Mi., 1. Juli, 12:00"  # summer time
    assert de.zone_name() == "Mitteleuropäische Zeit"


def test_documents_hook_is_empty_by_default_and_carried_when_given() -> None:
    assert view(new_order()).documents == ()
    link = DocumentLink("invoice", "Invoice RE-2026-000001", "https://example.test/presigned")
    assert view(new_order(), documents=[link]).documents == (link,)


def test_order_number_is_the_human_number_and_old_orders_fall_back_to_the_id() -> None:
    order = new_order()
    assert order_number(order) == "9N0P-1R2S"  # placed before numbers existed: the id's last characters
    order.number = "K7QM-R3TE"
    assert order_number(order) == "K7QM-R3TE"
    assert view(order).heading == "Bestellung K7QM-R3TE"


# --- tokens ---------------------------------------------------------------------------------------

NOW = 1_795_000_000.0  # 2026-11-18


def test_token_round_trip_binds_the_order() -> None:
    token = tracking_token(ORDER_ID, SECRET, now=NOW, days=180)
    assert order_id_from_token(token, [SECRET], now=NOW) == ORDER_ID
    payload = verify(token, [SECRET])
    assert payload is not None and set(payload) == {"o", "k", "exp"} and payload["k"] == "track"


def test_token_expires_at_the_end_of_the_day_the_setting_names() -> None:
    token = tracking_token(ORDER_ID, SECRET, now=NOW, days=180)
    payload = verify(token, [SECRET])
    assert payload is not None
    expires = payload["exp"]
    assert expires % 86_400 == 0 and 180 * 86_400 < expires - NOW <= 181 * 86_400
    assert order_id_from_token(token, [SECRET], now=expires - 1) == ORDER_ID
    assert order_id_from_token(token, [SECRET], now=expires) is None
    # one link per order and day: the same string all day long
    assert tracking_token(ORDER_ID, SECRET, now=NOW + 60, days=180) == token


def test_rotation_keeps_old_links_until_the_old_secret_is_dropped() -> None:
    old = tracking_token(ORDER_ID, OLD_SECRET, now=NOW, days=180)
    assert order_id_from_token(old, [SECRET, OLD_SECRET], now=NOW) == ORDER_ID
    assert order_id_from_token(old, [SECRET], now=NOW) is None  # revoked


def test_tampered_tokens_are_refused() -> None:
    token = tracking_token(ORDER_ID, SECRET, now=NOW, days=180)
    body, mac = token.split(".")
    other = (
        base64.urlsafe_b64encode(
            f'{{"exp":{int(NOW) + 999_999},"k":"track","o":"ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2T"}}'.encode()
        )
        .decode()
        .rstrip("=")
    )
    flipped = mac[:-3] + ("A" if mac[-3] != "A" else "B") + mac[-2:]
    for bad in (f"{other}.{mac}", f"{body}.{flipped}", token[:-1], token + "A", "", "nonsense", "a.b", "x" * 600):
        assert order_id_from_token(bad, [SECRET], now=NOW) is None, bad


def _forge(payload: dict[str, object]) -> str:
    return sign(payload, SECRET)


@pytest.mark.parametrize(
    "payload",
    [
        {"o": ORDER_ID},  # the old, never-expiring shape
        {"o": ORDER_ID, "exp": int(NOW) + 100},  # no kind
        {"o": ORDER_ID, "k": "survey", "exp": int(NOW) + 100},  # another link's kind
        {"o": ORDER_ID, "k": "track", "exp": int(NOW) + 100, "x": 1},  # extra claims
        {"o": 123, "k": "track", "exp": int(NOW) + 100},
        {"o": ORDER_ID, "k": "track", "exp": "9999999999"},
        {"o": ORDER_ID, "k": "track", "exp": True},
        {"o": ORDER_ID, "k": "track", "exp": float(NOW + 100)},
        {"o": ORDER_ID, "k": "track", "exp": int(NOW) - 1},  # expired
        {"s": "orders:cus_alice:", "k": {"pk": "x"}},  # a list cursor signed with the same secrets
    ],
)
def test_only_unexpired_tracking_tokens_open_a_page(payload: dict[str, object]) -> None:
    assert order_id_from_token(_forge(payload), [SECRET], now=NOW) is None


def test_a_mac_over_a_non_canonical_body_is_refused() -> None:
    body = base64.urlsafe_b64encode(b'{"o":"ord_1","k":"track","exp":1}').decode()  # with padding
    mac = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()).decode()
    assert order_id_from_token(f"{body}.{mac}", [SECRET], now=0) is None


def test_link_lifetime_setting() -> None:
    assert tracking_link_days(Settings()) == DEFAULT_TRACKING_LINK_DAYS == 180
    assert tracking_link_days(Settings.from_env({"OC_TRACKING_LINK_DAYS": "400"})) == 400
    assert tracking_link_days(Settings(tracking_link_days=0)) == 180


def test_tracking_url_carries_an_expiring_token(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        link_secrets=(SECRET, OLD_SECRET), public_base_url="https://shop.example", tracking_link_days=30
    )
    url = tracking_url(settings, ORDER_ID)
    assert url.startswith("https://shop.example/track/")
    token = url.rsplit("/", 1)[1]
    payload = verify(token, [SECRET])  # signed with the first secret
    assert payload is not None and payload["o"] == ORDER_ID
    now = datetime.now(UTC).timestamp()
    assert 30 * 86_400 < payload["exp"] - now <= 31 * 86_400
    assert order_id_from_token(token, settings.link_secrets, now=now) == ORDER_ID
