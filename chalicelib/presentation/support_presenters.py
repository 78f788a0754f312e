"""Tickets as the API shows them: customers see no internal notes and no staff ids."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain.tickets import Ticket, TicketAttachment, TicketMessage
from chalicelib.presentation.presenters import iso_or_none

AttachmentLink = Callable[[TicketAttachment], str]


def _author(message: TicketMessage, staff_reader: bool) -> str:
    if staff_reader or not message.from_staff:
        return message.author
    return "agent"  # customers never see which staff member wrote


def present_message(message: TicketMessage, staff_reader: bool, link: AttachmentLink) -> dict[str, Any]:
    return {
        "id": message.id,
        "at": iso_or_none(message.at),
        "author": _author(message, staff_reader),
        "internal": message.internal,
        "channel": message.channel,
        "body": message.body,
        "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "url": link(a)}
            for a in message.attachments
        ],
    }


def present_ticket(ticket: Ticket, *, staff_reader: bool, link: AttachmentLink) -> dict[str, Any]:
    messages = [m for m in ticket.messages if staff_reader or m.public]
    return {
        "id": ticket.id,
        "number": ticket.number,
        "order_id": ticket.order_id,
        "category": ticket.category,
        "channel": ticket.channel,
        "status": str(ticket.status),
        "created_at": iso_or_none(ticket.created_at),
        "acknowledge_by": iso_or_none(ticket.acknowledge_by),
        "resolve_by": iso_or_none(ticket.resolve_by),
        "acknowledged_at": iso_or_none(ticket.acknowledged_at),
        "resolved_at": iso_or_none(ticket.resolved_at),
        "closed_at": iso_or_none(ticket.closed_at),
        "resolution": ticket.resolution,
        "reopened": ticket.reopened,
        "sla": {"acknowledgement": ticket.sla_acknowledgement, "resolution": ticket.sla_resolution},
        "messages": [present_message(m, staff_reader, link) for m in messages],
        "version": ticket.version,
    }
