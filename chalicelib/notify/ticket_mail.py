"""Ticket emails: the automatic receipt, agents' replies, the resolution, operations escalations (en/de).

Every customer email threads: its Message-ID names the ticket
(`<tkt_….msg_…@reply domain>`), replies carry In-Reply-To/References, the subject
carries the ticket number, and Reply-To is the order's signed reply address, so
the customer's answer comes back onto the same ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from chalicelib.domain.orders import Order
from chalicelib.domain.privacy import mask_email
from chalicelib.domain.tickets import Ticket, TicketMessage

WORDING = {
    "en": {
        "receipt.subject": "[{number}] We received your request about order {order_no}",
        "receipt.body": "Hello {name},\n\nthank you for writing to us. Your request has the number {number}; "
        "a member of our team will answer within 24 hours.\n\nTo add anything, simply reply to this email.\n\n"
        "{shop}",
        "reply.subject": "[{number}] Re: your request about order {order_no}",
        "reply.body": "Hello {name},\n\n{message}\n\nTo answer, simply reply to this email "
        "(request {number}).\n\n{shop}",
        "resolved.subject": "[{number}] Your request about order {order_no} is resolved",
        "resolved.body": "Hello {name},\n\nwe have resolved your request {number}:\n\n{resolution}\n\n"
        "If anything is still not right, simply reply to this email within {days} days and we will "
        "take it up again.\n\n{shop}",
    },
    "de": {
        "receipt.subject": "[{number}] Wir haben Ihre Anfrage zur Bestellung {order_no} erhalten",
        "receipt.body": "Hallo {name},\n\nvielen Dank für Ihre Nachricht. Ihre Anfrage hat die Nummer {number}; "
        "unser Team antwortet Ihnen innerhalb von 24 Stunden.\n\nFür Ergänzungen antworten Sie einfach auf "
        "diese E-Mail.\n\n{shop}",
        "reply.subject": "[{number}] Re: Ihre Anfrage zur Bestellung {order_no}",
        "reply.body": "Hallo {name},\n\n{message}\n\nFragen? Antworten Sie einfach auf diese E-Mail "
        "(Anfrage {number}).\n\n{shop}",
        "resolved.subject": "[{number}] Ihre Anfrage zur Bestellung {order_no} ist erledigt",
        "resolved.body": "Hallo {name},\n\nwir haben Ihre Anfrage {number} erledigt:\n\n{resolution}\n\n"
        "Ist noch etwas nicht in Ordnung? Antworten Sie innerhalb von {days} Tagen einfach auf diese "
        "E-Mail, dann kümmern wir uns erneut darum.\n\n{shop}",
    },
}


@dataclass(frozen=True)
class ThreadIds:
    """Message-IDs of a ticket's emails: derived from ids, so nothing needs storing."""

    domain: str

    def root(self, ticket: Ticket) -> str:
        return f"<{ticket.id}@{self.domain}>"

    def receipt(self, ticket: Ticket) -> str:
        return f"<{ticket.id}.receipt@{self.domain}>"

    def message(self, ticket: Ticket, message: TicketMessage) -> str:
        return f"<{ticket.id}.{message.id}@{self.domain}>"

    def resolved(self, ticket: Ticket) -> str:
        """One per resolution (a reopened ticket can be resolved again)."""
        stamp = ticket.resolved_at.strftime("%Y%m%dT%H%M%S") if ticket.resolved_at else "0"
        return f"<{ticket.id}.resolved-{stamp}@{self.domain}>"


def ticket_id_from_message_ids(values: list[str], domain: str) -> str | None:
    """The ticket our own Message-IDs name, newest reference first (In-Reply-To, then References)."""
    for value in values:
        for part in reversed(value.replace(",", " ").split()):
            local, _, host = part.strip().strip("<>").partition("@")
            if host.lower() == domain.lower() and local.startswith("tkt_"):
                return local.split(".", 1)[0]
    return None


def _language(order: Order) -> str:
    from chalicelib.presentation.formatting import language_of  # the one locale rule

    return language_of(order.customer.locale)


def order_number(order: Order) -> str:
    number = getattr(order, "number", None)
    if number:
        return str(number)
    from chalicelib.presentation.formatting import order_number as number_of

    return number_of(order)


def _payload(order: Order, subject: str, text: str, reply_to: str) -> dict[str, Any]:
    paragraphs = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
    return {
        "channel": "email",
        "to": order.customer.email,
        "masked_to": mask_email(order.customer.email),
        "subject": subject,
        "text": text,
        "html": f'<!doctype html><html lang="{_language(order)}"><body>{paragraphs}</body></html>',
        "reply_to": reply_to,
    }


def receipt_email(order: Order, ticket: Ticket, shop: str, reply_to: str, ids: ThreadIds) -> dict[str, Any]:
    words = WORDING[_language(order)]
    values = {"name": order.customer.name, "number": ticket.number, "order_no": order_number(order), "shop": shop}
    payload = _payload(
        order, words["receipt.subject"].format(**values), words["receipt.body"].format(**values), reply_to
    )
    first = next((m for m in ticket.messages if m.email_message_id), None)
    payload.update(
        message_id=ids.receipt(ticket),
        auto_submitted="auto-replied",  # RFC 3834: autoresponders must not answer this one
        in_reply_to=first.email_message_id if first else None,
        references=[first.email_message_id] if first and first.email_message_id else [],
    )
    return payload


def reply_email(
    order: Order, ticket: Ticket, message: TicketMessage, shop: str, reply_to: str, ids: ThreadIds
) -> dict[str, Any]:
    words = WORDING[_language(order)]
    values = {
        "name": order.customer.name,
        "number": ticket.number,
        "order_no": order_number(order),
        "shop": shop,
        "message": message.body,
    }
    payload = _payload(order, words["reply.subject"].format(**values), words["reply.body"].format(**values), reply_to)
    thread = [m for m in ticket.messages if m.id < message.id and m.public]
    references = [ids.root(ticket)]
    for earlier in thread:
        references.append(earlier.email_message_id or ids.message(ticket, earlier))
    last_customer = next((m for m in reversed(thread) if m.email_message_id), None)
    payload.update(
        message_id=ids.message(ticket, message),
        in_reply_to=last_customer.email_message_id if last_customer else references[-1],
        references=references[-10:],
    )
    return payload


def resolved_email(
    order: Order, ticket: Ticket, shop: str, reply_to: str, ids: ThreadIds, reopen_days: int
) -> dict[str, Any]:
    """The resolution, as the customer sees it on the ticket; a reply within the reopen window reopens it."""
    words = WORDING[_language(order)]
    values = {
        "name": order.customer.name,
        "number": ticket.number,
        "order_no": order_number(order),
        "shop": shop,
        "resolution": ticket.resolution or "",
        "days": reopen_days,
    }
    payload = _payload(
        order, words["resolved.subject"].format(**values), words["resolved.body"].format(**values), reply_to
    )
    public = [m for m in ticket.messages if m.public]
    references = [ids.root(ticket), *(m.email_message_id or ids.message(ticket, m) for m in public)]
    payload.update(message_id=ids.resolved(ticket), in_reply_to=references[-1], references=references[-10:])
    return payload


def escalation_text(order: Order, ticket: Ticket, clock: str, state: str) -> tuple[str, str]:
    verb = "at risk (80 % of the time gone)" if state == "at_risk" else "broken"
    due = ticket.acknowledge_by if clock == "acknowledgement" else ticket.resolve_by
    subject = f"Ticket {ticket.number} (order {order_number(order)}): {clock} deadline {verb}"
    text = (
        f"Ticket {ticket.number} ({ticket.category}, via {ticket.channel}) on order {order.id} is {ticket.status}.\n"
        f"The {clock} deadline {due:%Y-%m-%d %H:%M} UTC is {verb}.\n"
        f"Opened {ticket.created_at:%Y-%m-%d %H:%M} UTC; {len(ticket.messages)} message(s).\n"
    )
    return subject, text
