"""Provider payloads in the shapes Stripe and AfterShip document, and their signatures.

Shapes follow the providers' API references (Stripe: Event → data.object as a
PaymentIntent, Charge or Refund; AfterShip: tracking webhook v4 `msg`). Only the
fields a real delivery carries that OrderCare reads or could trip over are here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

STRIPE_SECRET = "whsec_local_stripe_webhook_secret"
AFTERSHIP_SECRET = "local-aftership-webhook-secret"


def stripe_signature(body: bytes, secret: str = STRIPE_SECRET, *, at: int | None = None, extra: int = 0) -> str:
    """`Stripe-Signature: t=…,v1=…` (plus `extra` decoy v1 values, as during Stripe's own rotation)."""
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    decoys = [hashlib.sha256(f"decoy{n}".encode()).hexdigest() for n in range(extra)]
    return ",".join([f"t={stamp}", *(f"v1={d}" for d in decoys), f"v1={mac}"])


def _event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def payment_intent_succeeded(order_id: str, amount: int, currency: str = "eur", **kw: Any) -> dict[str, Any]:
    pi = kw.pop("pi", f"pi_{uuid.uuid4().hex[:24]}")
    obj = {
        "id": pi,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount,
        "currency": currency,
        "customer": None,
        "latest_charge": f"ch_{pi[3:]}",
        "metadata": {"order_id": order_id},
        "payment_method_types": ["card"],
        "status": "succeeded",
    }
    return _event("payment_intent.succeeded", obj, kw.pop("event_id", None))


def payment_intent_failed(order_id: str, amount: int, pi: str) -> dict[str, Any]:
    obj = {
        "id": pi,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": 0,
        "currency": "eur",
        "metadata": {"order_id": order_id},
        "last_payment_error": {"code": "card_declined", "message": "Your card was declined.", "type": "card_error"},
        "status": "requires_payment_method",
    }
    return _event("payment_intent.payment_failed", obj)


def charge_refunded(
    pi: str, refunds: list[tuple[str, int]], *, metadata: dict[str, str] | None = None
) -> dict[str, Any]:
    charge = f"ch_{pi[3:]}"
    obj = {
        "id": charge,
        "object": "charge",
        "amount": 10_000,
        "amount_captured": 10_000,
        "amount_refunded": sum(amount for _, amount in refunds),
        "currency": "eur",
        "metadata": metadata or {},
        "payment_intent": pi,
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [
                {
                    "id": refund_id,
                    "object": "refund",
                    "amount": amount,
                    "charge": charge,
                    "currency": "eur",
                    "metadata": {},
                    "payment_intent": pi,
                    "status": "succeeded",
                }
                for refund_id, amount in refunds
            ],
            "has_more": False,
        },
        "status": "succeeded",
    }
    return _event("charge.refunded", obj)


def refund_event(event_type: str, pi: str, refund_id: str, amount: int, status: str) -> dict[str, Any]:
    obj = {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "charge": f"ch_{pi[3:]}",
        "currency": "eur",
        "metadata": {},
        "payment_intent": pi,
        "reason": "requested_by_customer",
        "status": status,
    }
    return _event(event_type, obj)


def stripe_request(payload: dict[str, Any], **signature: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Stripe-Signature": stripe_signature(body, **signature), "Content-Type": "application/json"}


# --- AfterShip ---------------------------------------------------------------------------


def aftership_signature(body: bytes, secret: str = AFTERSHIP_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def aftership_update(
    tracking_number: str,
    tag: str,
    *,
    subtag: str | None = None,
    checkpoint_time: str | None = None,
    event: str = "tracking_update",
    expected_delivery: str | None = None,
    event_id: str | None = None,
    slug: str = "dhl",
) -> dict[str, Any]:
    subtag = subtag or f"{tag}_001"
    if checkpoint_time is None:  # now, as the carrier scanned it (in the carrier's local offset)
        from datetime import datetime, timedelta, timezone

        checkpoint_time = datetime.now(timezone(timedelta(hours=1))).replace(microsecond=0).isoformat()
    return {
        "event": event,
        "event_id": event_id or str(uuid.uuid4()),
        "is_tracking_first_tag": False,
        "msg": {
            "id": uuid.uuid4().hex[:24],
            "tracking_number": tracking_number,
            "slug": slug,
            "tag": tag,
            "subtag": subtag,
            "subtag_message": subtag.replace("_", " "),
            "expected_delivery": expected_delivery,
            "aftership_estimated_delivery_date": None,
            "checkpoints": [
                {
                    "slug": slug,
                    "city": "Berlin",
                    "country_iso3": "DEU",
                    "location": "Berlin, DE",
                    "message": f"Parcel status {tag}",
                    "tag": tag,
                    "subtag": subtag,
                    "checkpoint_time": checkpoint_time,
                    "created_at": checkpoint_time,
                }
            ],
        },
        "ts": int(time.time()),
    }


def aftership_request(payload: dict[str, Any], secret: str = AFTERSHIP_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"aftership-hmac-sha256": aftership_signature(body, secret), "Content-Type": "application/json"}
