"""What a customer may see of their order's timeline: an allowlist of entry kinds and fields.

Staff see every entry as recorded. Customers see only the kinds below, each with only
the fields meant for them — never an agent's free-text reason, an internal hold detail,
an operations alert or an agent's id (the actor shows as its role: "agent", not "agent:agt_1").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol, TypeVar

CUSTOMER_FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset(fields)
    for kind, fields in {
        "placed": ("status", "number"),
        "payment_confirmed": (),
        "status_changed": ("from", "to"),
        "promise_revised": ("previous_ship_by", "previous_deliver_by", "ship_by", "deliver_by"),
        "refunded": ("amount",),
        "hold_added": ("code", "sku"),
        "hold_cleared": ("code", "sku"),
        "hold_released": ("code", "skus"),
        "shipment_created": ("shipment_id", "carrier", "tracking_number", "lines"),
        "carrier_event": ("shipment_id", "tracking_number", "status", "occurred_at", "estimated_delivery"),
        "delivery_estimate_revised": ("deliver_by", "estimated_delivery"),
        "document_issued": ("kind", "number", "total", "currency"),
        "notification_sent": ("channel", "template", "to"),
        "notification_skipped": ("channel", "template", "reason"),
        "notification_failed": ("channel", "template", "to"),
        "ticket_opened": ("ticket_id", "number"),
        "ticket_acknowledged": ("ticket_id", "number"),
        "ticket_status_changed": ("ticket_id", "number", "from", "to"),
    }.items()
}
# Every step of a return is the customer's too (a held refund is internal: an agent looks at it).
RETURN_FIELDS = frozenset({"return_id", "rma", "from", "to", "lines", "reason", "replacement_order_id", "amount"})
INTERNAL_RETURN_KINDS = frozenset({"return_held"})
SYSTEM_ACTORS = frozenset({"notifier", "documents", "sla_sweep", "system", "carrier", "payment_provider"})


class Entry(Protocol):
    kind: str
    actor: str
    data: dict[str, object]


E = TypeVar("E")


def customer_view(entry: E) -> E | None:
    """The entry as its customer sees it, or None if it is not theirs to see."""
    kind, data, actor = entry.kind, entry.data, entry.actor  # type: ignore[attr-defined]
    fields = CUSTOMER_FIELDS.get(kind)
    if fields is None and kind.startswith("return_") and kind not in INTERNAL_RETURN_KINDS:
        fields = RETURN_FIELDS
    if fields is None or str(data.get("template", "")).startswith("ops_"):
        return None
    return replace(entry, actor=public_actor(actor), data={k: v for k, v in data.items() if k in fields})  # type: ignore[type-var]


def public_actor(actor: str) -> str:
    """Who acted, as a customer may see it: the role ("agent"), never the staff member's id."""
    return actor if actor in SYSTEM_ACTORS else actor.split(":", 1)[0]
