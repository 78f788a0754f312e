"""Domain objects → API response bodies (the shapes in chalicelib/api/schemas/)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.address import Address
from chalicelib.domain.carriers import tracking_link
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.orders import Order, Shipment
from chalicelib.domain.returns import Return
from chalicelib.presentation.links import tracking_url
from chalicelib.services.ports import TimelineEntry
from chalicelib.settings import Settings

if TYPE_CHECKING:
    from chalicelib.services.documents import IssuedDocument


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with a Z, second precision (the wire format)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def present_address(address: Address) -> dict[str, Any]:
    return {
        "name": address.name,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country": address.country,
    }


def present_order(settings: Settings, order: Order) -> dict[str, Any]:
    totals = order.totals
    return {
        "id": order.id,
        "number": order.reference,
        "status": str(order.status),
        "customer_id": order.customer.id,
        "customer": {
            "id": order.customer.id,
            "email": order.customer.email,
            "name": order.customer.name,
            "phone": order.customer.phone,
            "locale": order.customer.locale,
            "company": order.customer.company,
            "vat_id": order.customer.vat_id,
        },
        "currency": order.currency,
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "tax_rate_bps": line.tax_rate_bps,
                "line_total": line.line_total,
            }
            for line in order.lines
        ],
        "subtotal": totals.subtotal,
        "discounts": [{"code": d.code, "amount": d.amount} for d in order.discounts],
        "discount_total": totals.discount_total,
        "shipping_fee": totals.shipping_fee,
        "tax_total": totals.tax_total,
        "taxes": [{"rate_bps": t.rate_bps, "net": t.net, "tax": t.tax} for t in totals.taxes],
        "total": totals.total,
        "shipping_address": present_address(order.shipping_address),
        "billing_address": present_address(order.billing_address) if order.billing_address else None,
        "buyer_reference": order.buyer_reference,
        "shipping_method": order.shipping_method,
        "placed_at": iso(order.placed_at),
        "ship_by": iso(order.ship_by),
        "deliver_by": iso(order.deliver_by),
        "holds": [{"code": h.code, "detail": h.detail, "sku": h.sku} for h in order.holds],
        "shipments": [present_shipment(shipment) for shipment in order.shipments],
        "payments": [
            {
                "amount": p.amount,
                "method": p.method,
                "provider_ref": p.provider_ref,
                "paid_at": iso(p.paid_at),
            }
            for p in order.payments
        ],
        "refunds": [
            {"amount": r.amount, "provider_ref": r.provider_ref, "refunded_at": iso(r.refunded_at)}
            for r in order.refunds
        ],
        "paid_at": iso_or_none(order.paid_at),
        "processing_at": iso_or_none(order.processing_at),
        "first_shipped_at": iso_or_none(order.first_shipped_at),
        "shipped_at": iso_or_none(order.shipped_at),
        "delivered_at": iso_or_none(order.delivered_at),
        "cancelled_at": iso_or_none(order.cancelled_at),
        "ship_by_met": order.ship_by_met,
        "deliver_by_met": order.deliver_by_met,
        "revised_deliver_by": iso_or_none(order.revised_deliver_by),
        "sla": {
            "ship_by": iso(order.ship_by),
            "deliver_by": iso(order.deliver_by),
            "shipping": str(order.sla_shipping),
            "delivery": str(order.sla_delivery),
        },
        "replaces_order_id": order.replaces_order_id,
        "version": order.version,
        "tracking_url": tracking_url(settings, order.id),
    }


def present_shipment(shipment: Shipment) -> dict[str, Any]:
    return {
        "id": shipment.id,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "tracking_link": tracking_link(shipment.carrier, shipment.tracking_number),
        "lines": [{"sku": line.sku, "quantity": line.quantity} for line in shipment.lines],
        "shipped_at": iso(shipment.shipped_at),
        "status": shipment.status,
        "exception": shipment.exception,
        "needs_attention": shipment.needs_attention,
        "attention_reason": shipment.attention_reason,
        "estimated_delivery": iso_or_none(shipment.estimated_delivery),
        "delivered_at": iso_or_none(shipment.delivered_at),
        "events": [
            {
                "status": event.status,
                "occurred_at": iso(event.occurred_at),
                "estimated_delivery": iso_or_none(event.estimated_delivery),
                "detail": event.detail,
                "location": event.location,
                "tag": event.tag,
                "subtag": event.subtag,
            }
            for event in shipment.events
        ],
    }


def present_timeline_entry(entry: TimelineEntry) -> dict[str, Any]:
    return {"kind": entry.kind, "at": iso(entry.at), "actor": entry.actor, "data": entry.data}


def present_catalog_item(item: CatalogItem) -> dict[str, Any]:
    return {
        "sku": item.sku,
        "name": item.name,
        "unit_price": item.unit_price,
        "currency": item.currency,
        "stock": item.stock,
        "tax_rate_bps": item.tax_rate_bps,
        "updated_at": iso(item.updated_at) if item.updated_at else None,
        "returnable": item.returnable,
    }


def present_return(ret: Return, *, for_customer: bool = False) -> dict[str, Any]:
    """The return; its customer sees who acted by role only (no staff ids, as on timelines)."""
    from chalicelib.domain.timeline import public_actor

    def actor(name: str) -> str:
        return public_actor(name) if for_customer else name

    return {
        "id": ret.id,
        "number": ret.number,
        "order_id": ret.order_id,
        "customer_id": ret.customer_id,
        "status": str(ret.status),
        "reason": ret.reason,
        "resolution": ret.resolution,
        "comment": ret.comment,
        "lines": [
            {
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "tax_rate_bps": line.tax_rate_bps,
                "restockable": line.restockable,
                "damaged": line.damaged,
                "refund_amount": line.refund_amount,
            }
            for line in ret.lines
        ],
        "currency": ret.currency,
        "created_at": iso(ret.created_at),
        "receive_by": iso_or_none(ret.receive_by),
        "received_at": iso_or_none(ret.received_at),
        "rejection_reason": ret.rejection_reason,
        "refund_amount": ret.refund_amount,
        "shipping_refund": ret.shipping_refund,
        "refunded_amount": ret.refunded_amount,
        "credit_note_id": ret.credit_note_id,
        "credit_note_number": ret.credit_note_number,
        "replacement_order_id": ret.replacement_order_id,
        "holds": [{"code": h.code, "detail": h.detail, "data": h.data} for h in ret.holds],
        "history": [
            {"status": t.status, "at": iso(t.at), "actor": actor(t.actor), "reason": t.reason} for t in ret.history
        ],
        "version": ret.version,
    }


def present_document(document: IssuedDocument, download_url: str | None, xml_url: str | None = None) -> dict[str, Any]:
    """The API shape of a document: {id, kind, number, issued_at, total, currency, download_url, e_invoice, xml_url}."""
    return {
        "id": document.id,
        "kind": document.kind,
        "number": document.number,
        "issued_at": iso(document.issued_at),
        "total": document.total,
        "currency": document.currency,
        "download_url": download_url,
        "e_invoice": document.e_invoice,
        "xml_url": xml_url,
    }
