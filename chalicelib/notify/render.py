"""Render a milestone of an order into an email (subject, text, HTML) and an SMS.

Jinja2 is imported on first render (never at `import app`); HTML templates are
autoescaped, text and SMS are not (chalicelib/presentation/templates.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain.carriers import tracking_link
from chalicelib.domain.orders import Order, Shipment
from chalicelib.notify.i18n import STRINGS
from chalicelib.notify.milestones import Milestone
from chalicelib.presentation.formatting import Localizer, carrier_name, order_number, payment_method
from chalicelib.presentation.templates import environment

GSM_SMS_LIMIT = 160


@dataclass(frozen=True)
class EmailMessage:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class ShopIdentity:
    name: str
    timezone: str
    account_url: str = ""  # the customer portal: every email links to it


def _shipment(order: Order, milestone: Milestone) -> Shipment | None:
    wanted = milestone.data.get("shipment_id")
    return next((s for s in order.shipments if s.id == wanted), None)


def context(order: Order, milestone: Milestone, shop: ShopIdentity, tracking_url: str) -> dict[str, Any]:
    """Everything a template may show, already formatted for the customer's locale."""
    fmt = Localizer(order.customer.locale, shop.timezone, STRINGS)
    totals = order.totals
    shipment = _shipment(order, milestone)
    payment = order.payments[-1] if order.payments else None
    estimate = (shipment.estimated_delivery if shipment else None) or order.revised_deliver_by or order.deliver_by
    location = _location(shipment, milestone.kind)
    values = {
        "at_location": fmt.t("at_location", location=location) if location else "",
        "name": order.customer.name,
        "order_no": order_number(order),
        "ship_by": fmt.date(order.ship_by),
        "deliver_by": fmt.date(order.deliver_by),
        "estimate": fmt.date(estimate),
        "total": fmt.money(totals.total, order.currency),
        "amount": fmt.money(payment.amount, order.currency) if payment else "",
        "method": payment_method(payment.method, fmt.language) if payment else "",
        "provider_ref": payment.provider_ref if payment else "",
        "carrier": carrier_name(shipment.carrier) if shipment else "",
        "tracking_number": shipment.tracking_number if shipment else "",
        "units": sum(line.quantity for line in shipment.lines) if shipment else 0,
        "link": milestone.data.get("survey_url") or tracking_url,
        "shop": shop.name,
        **_return_values(fmt, order, milestone),
    }
    paragraphs = [fmt.t(text_key(milestone, "intro"), **values)]
    if milestone.kind == "payment_receipt" and milestone.data.get("promise_revised"):
        paragraphs.append(fmt.t("payment_receipt.revised", **values))
    return {
        "lang": fmt.language,
        "t": fmt.t,
        "v": values,
        "subject": fmt.t(text_key(milestone, "subject"), **values),
        "greeting": fmt.t("greeting", **values),
        "paragraphs": paragraphs,
        "lines": [
            {
                "name": line.name or line.sku,
                "sku": line.sku,
                "quantity": line.quantity,
                "total": fmt.money(line.line_total, order.currency),
            }
            for line in order.lines
        ],
        "money": {
            "subtotal": fmt.money(totals.subtotal, order.currency),
            "discounts": fmt.money(totals.discount_total, order.currency) if totals.discount_total else "",
            "shipping": fmt.money(totals.shipping_fee, order.currency),
            "tax": fmt.money(totals.tax_total, order.currency),
            "total": fmt.money(totals.total, order.currency),
        },
        "show_summary": milestone.kind in ("order_confirmation", "payment_receipt"),
        "tracking_url": tracking_url,
        "account_url": shop.account_url,
        "carrier_url": tracking_link(shipment.carrier, shipment.tracking_number) if shipment else None,
        "score_links": milestone.data.get("score_links", []),  # surveys: one link per score
    }


def _return_values(fmt: Localizer, order: Order, milestone: Milestone) -> dict[str, Any]:
    """What a return's message may show (empty for other milestones)."""
    if not milestone.kind.startswith("return_"):
        return {}
    data = milestone.data
    receive_by = data.get("receive_by")
    refund = fmt.money(int(data.get("refund_amount") or 0), order.currency)
    values = {
        "rma": data.get("rma", ""),
        "reason": data.get("reason", ""),
        "refund": refund,
        "receive_by": fmt.date(datetime.fromisoformat(receive_by.replace("Z", "+00:00"))) if receive_by else "",
    }
    step = "exchange" if data.get("replacement_order_id") else "refund"
    values["next_step"] = (
        fmt.t(f"return_received.{step}", **values) if data.get("refund_amount") or step == "exchange" else ""
    )
    return values


def render_email(order: Order, milestone: Milestone, shop: ShopIdentity, tracking_url: str) -> EmailMessage:
    values = context(order, milestone, shop, tracking_url)
    return EmailMessage(
        subject=values["subject"],
        text=environment("text").get_template("email.txt.j2").render(values),
        html=environment("html").get_template("email.html.j2").render(values),
    )


def render_sms(order: Order, milestone: Milestone, shop: ShopIdentity, tracking_url: str) -> str:
    """One short SMS; the link is dropped before the text is cut if it would not fit."""
    values = context(order, milestone, shop, tracking_url)
    text = str(values["t"](text_key(milestone, "sms"), **values["v"])).strip()
    if len(text) > GSM_SMS_LIMIT:
        text = text.replace(tracking_url, "").strip()
    return text if len(text) <= GSM_SMS_LIMIT else text[: GSM_SMS_LIMIT - 1] + "…"


def text_key(milestone: Milestone, part: str) -> str:
    """The message's words: a survey after support or a return asks about that, not about a delivery."""
    asked_about = milestone.data.get("survey_kind") if milestone.kind == "survey" else None
    suffix = f"_{asked_about}" if asked_about in ("support", "return") else ""
    return f"{milestone.kind}.{part}{suffix}"


def _location(shipment: Shipment | None, kind: str) -> str | None:
    """Where the carrier says the parcel is, from its latest scan of this kind."""
    if shipment is None:
        return None
    return next((e.location for e in reversed(shipment.events) if e.status == kind and e.location), None)
