"""Milestones: the moments a customer is told about, derived from an order's before/after images.

Each milestone has a stable key, unique per order, so a stream record delivered
twice (or a batch retried) maps to the same notification record and is sent once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.carriers import CUSTOMER_NOTICES
from chalicelib.domain.orders import Order, OrderStatus, Shipment
from chalicelib.domain.returns import Return

RETURN_STATUSES = ("requested", "approved", "rejected", "received", "refunded", "exchanged", "cancelled", "expired")

# Every milestone is part of the purchase contract (transactional mail), so none carries
# List-Unsubscribe; marketing mail would need that header and an unsubscribe endpoint.
TRANSACTIONAL = frozenset(
    {
        "order_confirmation",
        "payment_receipt",
        "shipped",
        "out_for_delivery",
        "delivered",
        "cancelled",
        "delay",
        *(f"return_{status}" for status in RETURN_STATUSES),
        *CUSTOMER_NOTICES,  # attempt_failed, available_for_pickup: what to do next
    }
)
KINDS = tuple(sorted(TRANSACTIONAL))


@dataclass(frozen=True)
class Milestone:
    kind: str
    key: str  # unique per order: the notification record's identity
    data: dict[str, Any] = field(default_factory=dict)


def milestones(before: Order | None, after: Order) -> list[Milestone]:
    """What to tell the customer about the change from `before` (None: new order) to `after`."""
    if before is None:
        return [Milestone("order_confirmation", "order_confirmation")]
    found: list[Milestone] = []
    if after.status != before.status and after.status == OrderStatus.PAID:
        revised = after.ship_by != before.ship_by or after.deliver_by != before.deliver_by
        found.append(Milestone("payment_receipt", "payment_receipt", {"promise_revised": revised}))
    known = {shipment.id: shipment for shipment in before.shipments}
    for shipment in after.shipments:
        previous = known.get(shipment.id)
        if previous is None:
            found.append(Milestone("shipped", f"shipped:{shipment.id}", {"shipment_id": shipment.id}))
        elif shipment.status == "out_for_delivery" and previous.status != "out_for_delivery":
            found.append(Milestone("out_for_delivery", f"out_for_delivery:{shipment.id}", {"shipment_id": shipment.id}))
        for notice in shipment.notices:  # once per shipment and kind: the aggregate records each once
            if previous is None or notice not in previous.notices:
                found.append(Milestone(notice, f"{notice}:{shipment.id}", {"shipment_id": shipment.id}))
    if after.status != before.status and after.status == OrderStatus.DELIVERED:
        found.append(Milestone("delivered", "delivered"))
    if after.status != before.status and after.status == OrderStatus.CANCELLED:
        found.append(Milestone("cancelled", "cancelled"))
    if after.revised_deliver_by and after.revised_deliver_by != before.revised_deliver_by:
        estimate = after.revised_deliver_by.strftime("%Y-%m-%dT%H:%M:%SZ")
        found.append(Milestone("delay", f"delay:{estimate}", {"estimate": estimate}))
    return found


def escalations(before: Order | None, after: Order) -> dict[str, list[str]]:
    """{state: promises} that just became at risk or breached: operations must know.

    Keyed by state, so an order whose shipping and delivery promises break in the
    same sweep raises one escalation, not two."""
    found: dict[str, list[str]] = {}
    for promise, old, new in (
        ("shipping", before.sla_shipping if before else "on_track", after.sla_shipping),
        ("delivery", before.sla_delivery if before else "on_track", after.sla_delivery),
    ):
        if new != old and new in ("at_risk", "breached"):
            found.setdefault(new, []).append(promise)
    if "breached" in found:
        found.pop("at_risk", None)  # the breach escalation says it all
    return found


def return_milestones(before: Return | None, after: Return) -> list[Milestone]:
    """One message per new step of a return (its history only grows), keyed by return and status."""
    seen = len(before.history) if before is not None else 0
    found = []
    for step in after.history[seen:]:
        data = {
            "rma": after.number,
            "return_id": after.id,
            "reason": step.reason or "",
            "refund_amount": after.refund_amount or 0,
            "replacement_order_id": after.replacement_order_id or "",
            "receive_by": after.receive_by.strftime("%Y-%m-%dT%H:%M:%SZ") if after.receive_by else "",
        }
        found.append(Milestone(f"return_{step.status}", f"return:{after.id}:{step.status}", data))
    return found


def attention(before: Order | None, after: Order) -> list[Shipment]:
    """Shipments that just started needing a person (returned, lost, an exception, stalled) —
    or for a new reason: a stalled parcel the carrier then reports lost is news again."""
    earlier = {s.id: s.attention_reason for s in before.shipments if s.needs_attention} if before else {}
    return [
        s for s in after.shipments if s.needs_attention and (s.id not in earlier or earlier[s.id] != s.attention_reason)
    ]
