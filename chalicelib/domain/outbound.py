"""Outbound webhooks for the storefront: which events an order change stands for,
their stable ids, and which receiver URLs are acceptable (retries are the intents').

Pure rules only (no I/O): the service resolves DNS and sends; the adapter stores.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from chalicelib.domain.orders import Order, OrderStatus
from chalicelib.domain.returns import Return, ReturnStatus
from chalicelib.domain.tickets import Ticket

# The event types receivers can subscribe to (the API schema names the same type).
OutboundEventType = Literal[
    "order.placed",
    "order.paid",
    "order.shipped",
    "order.out_for_delivery",
    "order.delivered",
    "order.cancelled",
    "order.delayed",
    "order.on_hold",
    "shipment.attention",
    "refund.requested",
    "return.updated",
    "ticket.updated",
]
EVENT_TYPES: tuple[str, ...] = get_args(OutboundEventType)
ATTENTION_STATUSES = ("exception", "returned_to_sender", "lost")


@dataclass(frozen=True)
class OutboundEvent:
    """One event as receivers see it: `{id, type, created_at, data}`; `id` is stable across replays."""

    id: str
    type: str
    created_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # the fact it stands for (unique per source and type): what de-duplicates it

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "created_at": _z(self.created_at), "data": self.data}


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_id(source: str, key: str, at: datetime) -> str:
    """A ULID-shaped id (`whe_…`, sorts by time) whose random part is a hash of the fact it stands for,
    so a redelivered stream record yields the same id and a receiver can de-duplicate."""
    from ulid import ULID

    digest = hashlib.sha256(f"{source}\x00{key}".encode()).digest()
    millis = int(at.timestamp() * 1000).to_bytes(6, "big")
    return f"whe_{ULID.from_bytes(millis + digest[:10])}"


def make_event(event_type: str, source: str, key: str, at: datetime, data: dict[str, Any]) -> OutboundEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown outbound event type '{event_type}'")
    return OutboundEvent(event_id(source, f"{event_type}:{key}", at), event_type, at, data, key)


def _order_data(order: Order, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_id": order.id,
        "status": str(order.status),
        "customer_id": order.customer.id,
        "total": order.totals.total,
        "currency": order.currency,
    }
    number = getattr(order, "number", None)  # human order number, when the order has one
    if number:
        data["number"] = number
    return {**data, **extra}


def order_events(
    before: Order | None, after: Order, at: datetime, *, payment_failed_on_hold: bool = False
) -> list[OutboundEvent]:
    """The outbound events of one order change (`before` None: a new order).

    Keys name the fact (the version it happened in, or the shipment), so each fact
    is one event id however often the stream delivers the change. With
    `payment_failed_on_hold` (a shop setting), a failed payment attempt is also an
    `order.on_hold` event (`reason: payment_failed`) although the order's state is unchanged."""
    version = str(after.version)
    found: list[tuple[str, str, dict[str, Any]]] = []
    if before is None:
        found.append(("order.placed", "placed", _order_data(after)))
    elif after.status != before.status:
        simple = {
            OrderStatus.PAID: "order.paid",
            OrderStatus.DELIVERED: "order.delivered",
            OrderStatus.CANCELLED: "order.cancelled",
        }
        if after.status in simple:
            found.append((simple[after.status], version, _order_data(after)))
    known = {s.id: s for s in before.shipments} if before else {}
    for shipment in after.shipments:
        previous = known.get(shipment.id)
        shipment_data = _order_data(
            after,
            shipment_id=shipment.id,
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            shipment_status=shipment.status,
        )
        if previous is None:
            found.append(("order.shipped", shipment.id, shipment_data))
        elif shipment.status != previous.status and shipment.status == "out_for_delivery":
            found.append(("order.out_for_delivery", shipment.id, shipment_data))
        reason = _attention(shipment)
        if reason is not None and (previous is None or _attention(previous) != reason):
            key = f"{shipment.id}:stalled" if reason == "stalled" else f"{shipment.id}:{shipment.status}"
            found.append(("shipment.attention", key, {**shipment_data, "attention_reason": reason}))
    if after.revised_deliver_by and (before is None or after.revised_deliver_by != before.revised_deliver_by):
        estimate = _z(after.revised_deliver_by)
        found.append(("order.delayed", estimate, _order_data(after, estimated_delivery=estimate)))
    new_holds = {h.code for h in after.holds} - ({h.code for h in before.holds} if before else set())
    if new_holds:
        holds = [{"code": h.code, "detail": h.detail} for h in after.holds]
        found.append(("order.on_hold", version, _order_data(after, holds=holds)))
    events = [make_event(kind, after.id, key, at, data) for kind, key, data in found]
    if payment_failed_on_hold:
        events += _payment_failures(before, after)
    return events


def _payment_failures(before: Order | None, after: Order) -> list[OutboundEvent]:
    """`order.on_hold` for each failed payment attempt new in this change, at the attempt's own time."""
    seen = {f.event_id for f in before.payment_failures} if before else set()
    holds = [{"code": h.code, "detail": h.detail} for h in after.holds]
    return [
        make_event(
            "order.on_hold",
            after.id,
            f"payment_failed:{failure.event_id}",
            failure.at,
            _order_data(
                after,
                holds=holds,
                reason="payment_failed",
                payment={"provider_ref": failure.provider_ref, "reason": failure.reason},
            ),
        )
        for failure in after.payment_failures
        if failure.event_id not in seen
    ]


# --- returns and tickets ------------------------------------------------------------------


def return_data(ret: Return) -> dict[str, Any]:
    """The `data` of a `return.updated` event: what a subscriber needs, no personal data."""
    return {
        "return_id": ret.id,
        "number": ret.number,
        "order_id": ret.order_id,
        "status": str(ret.status),
        "resolution": ret.resolution,
        "refund_amount": ret.refund_amount,
        "refunded_amount": ret.refunded_amount,
        "currency": ret.currency,
        "replacement_order_id": ret.replacement_order_id,
        "holds": [hold.code for hold in ret.holds],
    }


def refund_requested_data(ret: Return) -> dict[str, Any]:
    """The `refund.requested` event: what the payment side must refund, per line."""
    return {
        "return_id": ret.id,
        "number": ret.number,
        "order_id": ret.order_id,
        "amount": ret.refund_amount,
        "currency": ret.currency,
        "shipping": ret.shipping_refund,
        "lines": [{"sku": line.sku, "quantity": line.quantity, "amount": line.refund_amount} for line in ret.lines],
    }


def return_events(before: Return | None, after: Return, at: datetime) -> list[OutboundEvent]:
    """The outbound events of one change of a return item on the stream.

    `return.updated` whenever what a subscriber sees of it changed (keyed by the version
    written, so a replay is the same event); `refund.requested` once, when a received
    return owes money (a zero refund goes straight to `refunded` and requests nothing)."""
    found: list[OutboundEvent] = []
    data = return_data(after)
    if before is None or return_data(before) != data:
        found.append(make_event("return.updated", after.id, f"v{after.version}", at, data))
    owed = after.status == ReturnStatus.RECEIVED and after.resolution == "refund" and (after.refund_amount or 0) > 0
    if owed and (before is None or before.status != ReturnStatus.RECEIVED):
        found.append(make_event("refund.requested", after.id, after.id, at, refund_requested_data(after)))
    return found


def ticket_data(ticket: Ticket) -> dict[str, Any]:
    """What a customer may see of a ticket (never its messages, so never an internal note or a staff id)."""
    return {
        "ticket_id": ticket.id,
        "number": ticket.number,
        "order_id": ticket.order_id,
        "category": ticket.category,
        "channel": ticket.channel,
        "status": str(ticket.status),
        "created_at": _z(ticket.created_at),
        "acknowledge_by": _z(ticket.acknowledge_by),
        "resolve_by": _z(ticket.resolve_by),
        "acknowledged_at": _z(ticket.acknowledged_at) if ticket.acknowledged_at else None,
        "resolved_at": _z(ticket.resolved_at) if ticket.resolved_at else None,
        "closed_at": _z(ticket.closed_at) if ticket.closed_at else None,
        "reopened": ticket.reopened,
        "sla": {"acknowledgement": ticket.sla_acknowledgement, "resolution": ticket.sla_resolution},
    }


def ticket_events(before: Ticket | None, after: Ticket, at: datetime) -> list[OutboundEvent]:
    """`ticket.updated` when a ticket is opened or what its customer sees of it changed
    (an internal note alone changes nothing a customer sees: no event)."""
    data = ticket_data(after)
    if before is not None and ticket_data(before) == data:
        return []
    return [make_event("ticket.updated", after.id, f"v{after.version}", at, data)]


def _attention(shipment: Any) -> str | None:
    """Why the parcel needs a person (returned, lost, an exception, stalled), or None."""
    if getattr(shipment, "needs_attention", False) or shipment.exception or shipment.status in ATTENTION_STATUSES:
        fallback = "exception" if shipment.exception else shipment.status
        return str(getattr(shipment, "attention_reason", None) or fallback)
    return None


# --- receiver URLs (SSRF) ------------------------------------------------------------------


class UnsafeUrlError(ValueError):
    """A receiver URL OrderCare must not call."""


def check_url(url: str, *, allow_loopback: bool) -> str:
    """The URL if it may be subscribed: https to a public host (locally also http://127.0.0.1)."""
    if len(url) > 2048 or not url.isascii() or any(c.isspace() for c in url):
        raise UnsafeUrlError("the URL must be at most 2048 printable ASCII characters")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username or parts.password:
        raise UnsafeUrlError("the URL must not carry credentials")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise UnsafeUrlError("the URL's port is invalid") from exc
    if allow_loopback and parts.scheme in ("http", "https") and host in ("127.0.0.1", "localhost"):
        return url
    if parts.scheme != "https" or not host:
        raise UnsafeUrlError("only https:// URLs are accepted" + (" (or http://127.0.0.1)" if allow_loopback else ""))
    literal = _ip(host)
    if literal is not None and not public_address(str(literal)):
        raise UnsafeUrlError("the URL points to a private, loopback or link-local address")
    if literal is None and (
        host == "localhost" or host.endswith((".localhost", ".local", ".internal")) or "." not in host
    ):
        raise UnsafeUrlError("the URL's host is not a public name")
    return url


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def public_address(address: str) -> bool:
    """True for a globally routable unicast address (re-checked on the address actually connected to)."""
    ip = _ip(address.split("%")[0])
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def receiver_address_allowed(address: str, host: str, *, allow_loopback: bool) -> bool:
    """Whether the resolved `address` of `host` may be connected to."""
    if allow_loopback and host in ("127.0.0.1", "localhost"):
        ip = _ip(address)
        return ip is not None and ip.is_loopback
    return public_address(address)
