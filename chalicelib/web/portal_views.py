"""View models of the portal's pages: pure, already worded and localised (the templates only lay out).

The order page reuses the tracking page's view (status, promise, parcels with carrier
links), then adds what only a signed-in customer sees: documents, messages, forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.presentation import formatting
from chalicelib.presentation.formatting import Localizer, language_of
from chalicelib.web.messages import STRINGS
from chalicelib.web.portal_messages import strings
from chalicelib.web.tracking import TrackingView, build_tracking_view

if TYPE_CHECKING:
    from chalicelib.domain.orders import Order
    from chalicelib.services.portal import OrderStory


@dataclass(frozen=True)
class OrderRow:
    id: str
    number: str
    placed_on: str
    status_key: str
    status_label: str
    total: str
    promise: str | None
    view_label: str


@dataclass(frozen=True)
class DocumentRow:
    id: str
    kind: str
    label: str
    button: str
    issued_on: str
    total: str


@dataclass(frozen=True)
class MessageRow:
    channel: str
    label: str
    when: str
    iso: str


@dataclass(frozen=True)
class ThreadMessage:
    author: str
    from_us: bool
    when: str
    iso: str
    body: str


@dataclass(frozen=True)
class TicketThread:
    id: str
    heading: str
    category: str
    status_key: str
    status: str
    messages: tuple[ThreadMessage, ...]
    open: bool  # a reply is still possible


@dataclass(frozen=True)
class ReturnChoice:
    sku: str
    label: str
    max: int


@dataclass(frozen=True)
class ReturnRow:
    id: str
    heading: str
    status_key: str
    status: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class OrderPage:
    tracking: TrackingView
    documents: tuple[DocumentRow, ...]
    messages: tuple[MessageRow, ...]
    tickets: tuple[TicketThread, ...] = ()
    categories: tuple[tuple[str, str], ...] = ()  # the help form's choices: (value, label)
    returnable: tuple[ReturnChoice, ...] = ()  # the return form's lines (empty: no form)
    returns: tuple[ReturnRow, ...] = ()
    reasons: tuple[tuple[str, str], ...] = ()
    resolutions: tuple[tuple[str, str], ...] = ()
    return_days: int = 0


def _threads(tickets: Sequence[Any], loc: Localizer, words: dict[str, str]) -> tuple[TicketThread, ...]:
    threads = []
    for ticket in sorted(tickets, key=lambda t: t.created_at, reverse=True):
        status = str(ticket.status)
        threads.append(
            TicketThread(
                id=ticket.id,
                heading=words["ticket.heading"].format(number=ticket.number),
                category=words.get(f"category.{ticket.category}", ticket.category),
                status_key=status,
                status=words.get(f"ticket.status.{status}", status),
                messages=tuple(
                    ThreadMessage(
                        author=words["ticket.team"] if m.author != "customer" else words["ticket.you"],
                        from_us=m.author != "customer",
                        when=loc.date_time(m.at),
                        iso=m.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        body=m.body,
                    )
                    for m in ticket.messages
                ),
                open=status != "closed",
            )
        )
    return tuple(threads)


def order_number(order: Order) -> str:
    """The human number (orders placed before numbers existed: the short form the tracking page shows)."""
    return formatting.order_number(order)


def order_rows(orders: Sequence[Order], lang: str, timezone: str) -> list[OrderRow]:
    from chalicelib.domain.orders import OrderStatus

    words = strings(lang)
    rows = []
    for order in orders:
        # The order's own locale sets date and money style ("30 November" in en-GB) when it speaks the page's language.
        locale = order.customer.locale if language_of(order.customer.locale) == lang else lang
        loc = Localizer(locale, timezone, STRINGS)
        held = order.is_on_hold and order.status not in (OrderStatus.CANCELLED, OrderStatus.DELIVERED)
        status_key = "on_hold" if held else str(order.status)
        promise = None
        if order.status != OrderStatus.CANCELLED:
            promise = loc.date(order.delivered_at or order.revised_deliver_by or order.deliver_by)
        number = order_number(order)
        rows.append(
            OrderRow(
                id=order.id,
                number=number,
                placed_on=loc.date(order.placed_at),
                status_key=status_key,
                status_label=loc.t(f"status.{status_key}"),
                total=loc.money(order.totals.total, order.currency),
                promise=promise,
                view_label=words["orders.view"].format(number=number),
            )
        )
    return rows


# Which customer messages the timeline names by template: the milestone's own wording, by kind.
_MESSAGE_KEYS = {
    "order_confirmation": "status.placed",
    "payment_receipt": "status.paid",
    "shipped": "status.shipped",
    "out_for_delivery": "status.out_for_delivery",
    "delivered": "status.delivered",
    "cancelled": "status.cancelled",
    "delay": "delay.title",
}


def _message_label(template: str, loc: Localizer) -> str:
    key = _MESSAGE_KEYS.get(template)
    return loc.t(key) if key else template.replace("_", " ").capitalize()


def _return_parts(
    story: OrderStory, returnable: dict[str, int], words: dict[str, str]
) -> tuple[tuple[ReturnChoice, ...], tuple[ReturnRow, ...]]:
    names = {line.sku: line.name or line.sku for line in story.order.lines}
    choices = tuple(
        ReturnChoice(sku, words["return.quantity"].format(name=names.get(sku, sku), max=units), units)
        for sku, units in returnable.items()
    )
    rows = tuple(
        ReturnRow(
            id=ret.id,
            heading=words["return.heading"].format(number=ret.number),
            status_key=str(ret.status),
            status=words.get(f"return.status.{ret.status}", str(ret.status)),
            lines=tuple(f"{line.quantity} × {line.name or line.sku}" for line in ret.lines),
        )
        for ret in sorted(story.returns, key=lambda r: r.created_at, reverse=True)
    )
    return choices, rows


def order_page(
    story: OrderStory,
    lang: str,
    timezone: str,
    shop_name: str,
    now: datetime,
    returnable: dict[str, int] | None = None,
    return_days: int = 0,
) -> OrderPage:
    order = story.order
    loc = Localizer(order.customer.locale or lang, timezone, STRINGS)
    words = strings(loc.lang)
    tracking = build_tracking_view(order, now=now, timezone=timezone, shop_name=shop_name)
    documents = tuple(
        DocumentRow(
            id=doc.id,
            kind=doc.kind,
            label=words[f"doc.{doc.kind}"].format(number=doc.number),
            button=words["order.download"].format(label=words[f"doc.{doc.kind}"].format(number=doc.number)),
            issued_on=loc.date(doc.issued_at),
            total=loc.money(doc.total, doc.currency),
        )
        for doc in story.documents
        if doc.pdf_stored
    )
    messages = tuple(
        MessageRow(
            channel=words.get(f"channel.{entry.data.get('channel')}", str(entry.data.get("channel", ""))),
            label=_message_label(str(entry.data.get("template", "")), loc),
            when=loc.date_time(entry.at),
            iso=entry.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for entry in reversed(story.messages)  # newest first
    )
    from chalicelib.domain.returns import REASONS, RESOLUTIONS
    from chalicelib.domain.tickets import CATEGORIES

    choices, returns = _return_parts(story, returnable or {}, words)
    return OrderPage(
        tracking=tracking,
        documents=documents,
        messages=messages,
        tickets=_threads(story.tickets, loc, words),
        categories=tuple((c, words[f"category.{c}"]) for c in CATEGORIES),
        returnable=choices,
        returns=returns,
        reasons=tuple((r, words[f"reason.{r}"]) for r in REASONS),
        resolutions=tuple((r, words[f"resolution.{r}"]) for r in RESOLUTIONS),
        return_days=return_days,
    )


def sign_in_mail(code: str, link: str, minutes: int, lang: str, shop: str) -> dict[str, Any]:
    """The sign-in email's payload for the mailer: subject, text and HTML (autoescaped)."""
    from chalicelib.presentation.templates import environment

    words = strings(lang)
    values = {"code": code, "link": link, "minutes": minutes, "shop": shop}
    html = environment().get_template("portal_mail.html").render(s=words, lang=lang, **values)
    text = "\n\n".join(
        [
            words["mail.greeting"],
            words["mail.code"].format(code=code),
            f"{words['mail.link']}\n{link}",
            words["mail.validity"].format(minutes=minutes),
            words["mail.ignore"],
            shop,
        ]
    )
    return {"subject": words["mail.subject"].format(code=code, shop=shop), "text": text + "\n", "html": html}
