"""Every milestone renders in every language: text snapshots, HTML sanity, SMS length."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.domain.address import Address
from chalicelib.domain.carriers import CUSTOMER_NOTICES
from chalicelib.domain.orders import Customer, Discount, Order, OrderLine, Payment, Shipment, ShipmentLine, SlaState
from chalicelib.notify.i18n import STRINGS
from chalicelib.notify.milestones import KINDS, Milestone, escalations, milestones
from chalicelib.notify.render import ShopIdentity, render_email, render_sms
from chalicelib.presentation.formatting import LANGUAGES, Localizer

SNAPSHOTS = Path(__file__).parent / "snapshots"
SHOP = ShopIdentity("OrderCare Demo Shop", "Europe/Berlin", account_url="https://shop.example/account")
LINK = "https://shop.example/track/abc"
AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def sample_order(locale: str) -> Order:
    order = Order.place(
        order_id="ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S",
        customer=Customer("cus_zoe", "zoe@example.com", "Zoë Ñúñez", "+4915112345678", locale),
        currency="EUR",
        lines=[OrderLine("MUG-1", 2, 1299, 1900, "Ceramic mug"), OrderLine("BOOK-1", 1, 2500, 700, "Cookbook")],
        shipping_address=Address("Zoë Ñúñez", "Hauptstr. 1", "Berlin", "10115", "DE"),
        shipping_method="standard",
        shipping_fee=499,
        discounts=[Discount("WELCOME", 200)],
        placed_at=AT,
        ship_by=datetime(2026, 12, 1, 22, 59, 59, tzinfo=UTC),
        deliver_by=datetime(2026, 12, 4, 22, 59, 59, tzinfo=UTC),
        holds=[],
        actor="test",
    )
    order.payments.append(Payment(order.totals.total, "card", "pi_123", AT))
    order.shipments.append(
        Shipment(
            "shp_1",
            "dhl",
            "00340434161234567890",
            [ShipmentLine("MUG-1", 2)],
            AT,
            estimated_delivery=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        )
    )
    order.revised_deliver_by = datetime(2026, 12, 9, 22, 59, 59, tzinfo=UTC)
    return order


def milestone(kind: str) -> Milestone:
    data: dict[str, object] = (
        {"shipment_id": "shp_1"} if kind in ("shipped", "out_for_delivery", *CUSTOMER_NOTICES) else {}
    )
    if kind.startswith("return_"):
        data = {
            "rma": "RMA-4K9N0-P1R2S",
            "reason": "the seal was broken" if kind == "return_rejected" else "",
            "refund_amount": 1427,
            "receive_by": "2026-12-31T10:00:00Z",
            "replacement_order_id": "",
        }
    return Milestone(kind, kind, {**data, "promise_revised": kind == "payment_receipt"})


def test_catalogues_have_the_same_keys() -> None:
    assert set(STRINGS) == set(LANGUAGES)
    assert all(set(STRINGS[language]) == set(STRINGS["en"]) for language in LANGUAGES)


@pytest.mark.parametrize("locale", ["en-GB", "de-DE"])
@pytest.mark.parametrize("kind", KINDS)
def test_email_text_matches_snapshot_and_html_is_complete(kind: str, locale: str) -> None:
    order = sample_order(locale)
    email = render_email(order, milestone(kind), SHOP, LINK)
    snapshot = SNAPSHOTS / f"{kind}.{locale}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(f"Subject: {email.subject}\n\n{email.text}")
    assert snapshot.exists(), f"missing snapshot {snapshot.name}: write it with UPDATE_SNAPSHOTS=1 and review it"
    assert f"Subject: {email.subject}\n\n{email.text}" == snapshot.read_text()
    assert email.html.startswith("<!doctype html>") and f'lang="{locale[:2]}"' in email.html
    assert "Zoë Ñúñez" in email.html and LINK in email.html and "{" not in email.text
    assert SHOP.account_url in email.html and SHOP.account_url in email.text  # every email links to the portal


def test_html_is_escaped() -> None:
    order = sample_order("en")
    order.customer = Customer("c", "x@example.com", "<script>alert(1)</script>", None, "en")
    html = render_email(order, milestone("delivered"), SHOP, LINK).html
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("locale", ["en", "de-DE", "fr-FR"])
@pytest.mark.parametrize("kind", KINDS)
def test_sms_is_short(kind: str, locale: str) -> None:
    text = render_sms(sample_order(locale), milestone(kind), SHOP, LINK)
    assert 10 < len(text) <= 160 and "{" not in text


def test_money_and_dates_follow_the_locale() -> None:
    assert Localizer("de-DE", "Europe/Berlin").money(123456, "EUR") == "1.234,56\xa0€"
    assert Localizer("en-GB", "Europe/Berlin").money(123456, "GBP") == "£1,234.56"
    assert Localizer("ja-JP", "Asia/Tokyo").money(1234, "JPY") == "¥1,234"  # no Japanese wording: English
    assert Localizer("xx-YY", "Europe/Berlin").money(100, "EUR") == "€1.00"  # unknown locale: English
    assert (
        Localizer("de-DE", "Europe/Berlin").date(datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
        == "Mittwoch, 2. Dezember 2026"
    )


def test_milestones_from_changes() -> None:
    placed = sample_order("en")
    placed.shipments, placed.payments, placed.revised_deliver_by = [], [], None
    assert [m.key for m in milestones(None, placed)] == ["order_confirmation"]
    shipped = sample_order("en")
    shipped.status = shipped.status.__class__("shipped")
    keys = [m.key for m in milestones(placed, shipped)]
    assert keys == ["shipped:shp_1", "delay:2026-12-09T22:59:59Z"]
    assert milestones(shipped, shipped) == []  # a replay of the same image


def test_escalations_once_per_state() -> None:
    before = sample_order("en")
    after = sample_order("en")
    after.sla_shipping = after.sla_delivery = SlaState.BREACHED
    assert escalations(before, after) == {"breached": ["shipping", "delivery"]}
    assert escalations(after, after) == {}
