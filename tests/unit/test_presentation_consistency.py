"""One order, four surfaces: email, SMS, tracking page and invoice show the same order number,
carrier name and money strings (they all format through chalicelib/presentation/formatting.py).

No wall clock: every time below comes from the sample order's fixed dates.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import timedelta

import pytest
from pypdf import PdfReader

from chalicelib.documents.invoice import build_invoice
from chalicelib.documents.pdf import RenderOptions, render_pdf
from chalicelib.domain.orders import Order
from chalicelib.notify.milestones import Milestone
from chalicelib.notify.render import render_email, render_sms
from chalicelib.presentation.formatting import Localizer
from chalicelib.web.render import render_tracking
from chalicelib.web.tracking import build_tracking_view
from tests.document_fakes import SELLER
from tests.unit.test_notify_render import AT, LINK, SHOP, sample_order

TZ = "Europe/Berlin"


def shipped_order(locale: str) -> Order:
    """The email tests' sample order, its parcel handed to Royal Mail."""
    order = sample_order(locale)
    order.shipments[0] = replace(order.shipments[0], carrier="royal_mail", tracking_number="RM123456785GB")
    return order


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def plain(text: str) -> str:
    """Non-breaking spaces as spaces: PDF text extraction does not keep them."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


@pytest.mark.parametrize("locale", ["en-GB", "de-DE", "fr-FR"])
def test_email_sms_page_and_invoice_agree(locale: str) -> None:
    order = shipped_order(locale)
    confirmation, shipped = Milestone("order_confirmation", "oc"), Milestone("shipped", "s", {"shipment_id": "shp_1"})
    email = render_email(order, confirmation, SHOP, LINK)
    shipped_email = render_email(order, shipped, SHOP, LINK)
    surfaces = {
        "email": plain(f"{email.subject}\n{email.text}\n{email.html}\n{shipped_email.subject}\n{shipped_email.text}"),
        "sms": plain(f"{render_sms(order, confirmation, SHOP, LINK)}\n{render_sms(order, shipped, SHOP, LINK)}"),
        "page": plain(render_tracking(build_tracking_view(order, now=AT + timedelta(days=1), timezone=TZ))),
        "invoice": plain(
            pdf_text(
                render_pdf(
                    build_invoice(order, seller=SELLER, number="INV-2026-000001", issued_at=AT),
                    RenderOptions(timezone=TZ),
                )
            )
        ),
    }
    total = plain(Localizer(locale, TZ).money(order.totals.total, "EUR"))
    expected = {"9N0P-1R2S": surfaces, total: surfaces}
    # The invoice is issued at payment, before any parcel exists: it names no carrier.
    expected["Royal Mail"] = {name: text for name, text in surfaces.items() if name != "invoice"}
    for wanted, where in expected.items():
        for name, text in where.items():
            assert wanted in text, (wanted, name)
    for name, text in surfaces.items():
        assert "ROYAL_MAIL" not in text and "royal_mail" not in text, name
    # The number is the only order reference a customer sees (API.md): never the internal id in the words.
    # (The order's portal link carries it in its URL, as the README says; the words on the page do not.)
    for name, text in {**surfaces, "email": plain(f"{email.subject}\n{email.text}")}.items():
        words = " ".join(part for part in text.split() if "/account/orders/" not in part)
        assert order.id not in words, name


def test_one_locale_rule_for_every_surface() -> None:
    """A language we do not write in gets English words and English formatting alike."""
    assert Localizer("fr-FR", TZ).money(3447, "EUR") == "€34.47"
    assert Localizer("de-AT", TZ).money(3447, "EUR") == "€\xa034,47"
    assert Localizer("de-DE", TZ).money(3447, "EUR") == "34,47\xa0€"
