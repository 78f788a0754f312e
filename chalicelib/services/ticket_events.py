"""What follows from ticket changes on the table's stream, and the automatic tickets from parcels.

Each effect is idempotent by key, so a replayed record does nothing twice:
  * timers: the ticket's deadline timers opened and closed (puts and deletes by key);
  * the automatic receipt (once per ticket) and each agent's public reply (once per
    message): "message" intents, recorded then driven like every other message
    (services/intents.py), so a provider outage only delays them;
  * escalations: a deadline at risk or broken tells operations once (email + SNS);
  * parcels needing attention (returned to sender, lost, exception, stalled) open one
    ticket per shipment (a conditional claim item makes it one, whatever retries);
  * `ticket.updated` outbound webhooks: one intent per subscription and ticket version
    whose customer-visible fields changed (internal notes never reach them).
"""

from __future__ import annotations

from html import escape
from typing import Any

from chalicelib.domain.orders import Order, Shipment

ATTENTION_STATUSES = frozenset({"returned_to_sender", "lost", "exception", "stalled"})
RECEIPT_CHANNELS = frozenset({"web", "email"})


def _ticket(image: dict[str, Any]) -> Any:
    from chalicelib.adapters.dynamo.tickets import TicketItem, ticket_from_item

    return ticket_from_item(TicketItem.from_raw_data(image))


def handle_ticket_change(container: Any, change: dict[str, Any]) -> dict[str, str]:
    """One stream record of a ticket or a ticket message; {effect: what happened}."""
    new_image = change.get("NewImage") or {}
    kind = new_image.get("type", {}).get("S")
    results: list[dict[str, str]] = []
    if kind == "ticket":
        results = _ticket_changed(container, change)
    elif kind == "ticket_message" and not change.get("OldImage"):
        results = _message_added(container, new_image)
    return {name: value for result in results for name, value in result.items()}


def _ticket_changed(container: Any, change: dict[str, Any]) -> list[dict[str, str]]:
    after = _ticket(change["NewImage"])
    before = _ticket(change["OldImage"]) if change.get("OldImage") else None
    container.tickets.on_ticket_change(before, after)
    container.kpis.on_ticket_change(before, after)
    container.surveys.on_ticket_change(before, after)
    results: list[dict[str, str]] = [_webhooks(container, change, before, after)]
    if before is None and after.channel in RECEIPT_CHANNELS:
        results.append(_send_receipt(container, after.id))
    if after.resolved_at is not None and (before is None or before.resolved_at != after.resolved_at):
        results.append(_send_resolution(container, after.id))
    for clock, old, new in (
        ("acknowledgement", before.sla_acknowledgement if before else "on_track", after.sla_acknowledgement),
        ("resolution", before.sla_resolution if before else "on_track", after.sla_resolution),
    ):
        if new != old and new in ("at_risk", "breached"):
            results.append({f"{clock}:{new}:{k}": v for k, v in _escalate(container, after, clock, new).items()})
    return results


def _webhooks(container: Any, change: dict[str, Any], before: Any, after: Any) -> dict[str, str]:
    """`ticket.updated` to the subscribers (customer-visible fields only), once per ticket version."""
    from chalicelib.domain.outbound import ticket_events
    from chalicelib.pipeline import changed_at

    moments = (after.created_at, after.acknowledged_at, after.resolved_at, after.closed_at)
    events = ticket_events(before, after, changed_at(change, max(m for m in moments if m is not None)))
    recorded = container.webhooks.emit(after.order_id, *events)
    return {"webhooks": str(recorded)} if recorded else {}


def _emit(container: Any, order_id: str, key: str, template: str, customer_id: str, payload: dict[str, Any]) -> str:
    """Record one message intent, then drive it (the retry schedule finishes what fails now)."""
    from chalicelib.notify.service import MESSAGE
    from chalicelib.services.intents import Intent

    intent = Intent(order_id, MESSAGE, key, {"template": template, "customer_id": customer_id, **payload})
    container.intents.record([intent])
    outcomes = {driven.id: outcome for driven, outcome in container.intents.drive([intent])}
    return str(outcomes.get(intent.id, "recorded"))


def _context(container: Any, ticket_id: str) -> tuple[Any, Any] | None:
    ticket = container.ticket_repository.get(ticket_id)  # with its messages: the thread to reference
    if ticket is None:
        return None
    order = container.orders.orders.get(ticket.order_id)
    return (ticket, order) if order is not None else None


def _send_receipt(container: Any, ticket_id: str) -> dict[str, str]:
    from chalicelib.notify.ticket_mail import ThreadIds, receipt_email

    found = _context(container, ticket_id)
    if found is None:
        return {}
    ticket, order = found
    if not any(m.author == "customer" for m in ticket.messages):
        return {}  # an agent recorded it (phone, chat): they already spoke to the customer
    settings = container.settings
    payload = receipt_email(
        order, ticket, settings.shop_name, container.reply_address(order.id), ThreadIds(settings.reply_domain)
    )
    key = f"ticket:{ticket.id}:receipt#email"
    return {"receipt": _emit(container, order.id, key, "ticket_receipt", order.customer.id, payload)}


def _send_resolution(container: Any, ticket_id: str) -> dict[str, str]:
    """Tell the customer their request is resolved and how to take it up again (once per resolution)."""
    from chalicelib.domain.tickets import REOPEN_DAYS
    from chalicelib.notify.ticket_mail import ThreadIds, resolved_email

    found = _context(container, ticket_id)
    if found is None:
        return {}
    ticket, order = found
    if ticket.channel in ("system", "survey") or ticket.resolved_at is None:
        return {}  # our own follow-ups: the customer never asked
    settings = container.settings
    payload = resolved_email(
        order,
        ticket,
        settings.shop_name,
        container.reply_address(order.id),
        ThreadIds(settings.reply_domain),
        REOPEN_DAYS,
    )
    key = f"ticket:{ticket.id}:resolved:{ticket.resolved_at.isoformat()}#email"
    return {"resolved": _emit(container, order.id, key, "ticket_resolved", order.customer.id, payload)}


def _message_added(container: Any, image: dict[str, Any]) -> list[dict[str, str]]:
    from chalicelib.adapters.dynamo.tickets import TicketMessageItem, message_from_item
    from chalicelib.notify.ticket_mail import ThreadIds, reply_email

    message = message_from_item(TicketMessageItem.from_raw_data(image))
    if message.internal or not message.from_staff:
        return []  # internal notes are never sent; the customer's own words are not echoed
    found = _context(container, message.ticket_id)
    if found is None:
        return []
    ticket, order = found
    settings = container.settings
    payload = reply_email(
        order, ticket, message, settings.shop_name, container.reply_address(order.id), ThreadIds(settings.reply_domain)
    )
    key = f"ticket:{ticket.id}:{message.id}#email"
    return [{"reply": _emit(container, order.id, key, "ticket_reply", order.customer.id, payload)}]


def _escalate(container: Any, ticket: Any, clock: str, state: str) -> dict[str, str]:
    from chalicelib.notify.ticket_mail import escalation_text

    order = container.orders.orders.get(ticket.order_id)
    if order is None:
        return {}
    subject, text = escalation_text(order, ticket, clock, state)
    subject = f"[{container.settings.shop_name}] {subject}"
    outcome = {}
    ops = container.notifications.ops
    for channel, to in (("ops_email", ops.email if ops else ""), ("ops_sns", ops.topic_arn if ops else "")):
        if to:
            payload = {"channel": channel, "to": to, "masked_to": to, "subject": subject, "text": text}
            payload["html"] = f"<pre>{escape(text)}</pre>"
            key = f"ticket:{ticket.id}:ops:{clock}:{state}#{channel}"
            outcome[channel] = _emit(container, order.id, key, f"ticket_ops_{state}", "ops", payload)
    return outcome


# --- parcels that need attention ------------------------------------------------------------------


def attention_reason(shipment: Shipment) -> str | None:
    """Why a parcel needs a person (carrier status model: `needs_attention`, else the latest scan)."""
    if getattr(shipment, "needs_attention", False):
        return str(getattr(shipment, "attention_reason", None) or shipment.status)
    if shipment.status in ATTENTION_STATUSES:
        return shipment.status
    latest = shipment.events[-1].status if shipment.events else None
    if latest in ATTENTION_STATUSES:
        return latest
    return "exception" if shipment.exception else None


def attention_tickets(container: Any, before: Order | None, after: Order) -> dict[str, str]:
    """One automatic ticket (category delay, channel system) per shipment that just started needing attention."""
    earlier = {s.id: attention_reason(s) for s in before.shipments} if before else {}
    results = {}
    for shipment in after.shipments:
        reason = attention_reason(shipment)
        if reason is None or earlier.get(shipment.id) is not None:
            continue
        ticket = container.tickets.open_for_shipment(after, shipment.id, reason)
        results[f"auto_ticket:{shipment.id}"] = ticket.id if ticket else "exists"
    return results
