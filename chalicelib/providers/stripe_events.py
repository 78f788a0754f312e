"""Stripe webhooks as Stripe sends them, translated into the native payment commands.

Verification is the official library's (`stripe.WebhookSignature.verify_header`: HMAC-SHA256
over "<t>.<raw body>", several `v1` values, 300 s tolerance), tried with every
configured secret so a secret can be rotated. The library is imported only here,
when a Stripe event arrives (it costs ~200 ms to import).

The storefront names the order when it creates the PaymentIntent:
`metadata={"order_id": "ord_…"}`; refunds find the order through the PaymentIntent
(or Charge) id the payment was recorded with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from chalicelib.domain.errors import UnauthorizedError, ValidationError

SIGNATURE_HEADER = "Stripe-Signature"
TOLERANCE_SECONDS = 300


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class StripeRefund(_Lenient):
    id: str = Field(min_length=1, max_length=255)
    amount: int = Field(ge=0)
    currency: str = ""
    status: str | None = None
    charge: str | None = None
    payment_intent: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class _RefundList(_Lenient):
    data: list[StripeRefund] = Field(default_factory=list)


class StripeObject(_Lenient):
    """The fields we read from a PaymentIntent, Charge or Refund (`data.object`)."""

    id: str = Field(min_length=1, max_length=255)
    object: str = ""
    amount: int | None = None
    amount_received: int | None = None
    amount_refunded: int | None = None
    currency: str = ""
    status: str | None = None
    charge: str | None = None
    payment_intent: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    refunds: _RefundList | None = None
    last_payment_error: dict[str, Any] | None = None


class _Data(_Lenient):
    object: StripeObject


class StripeEvent(_Lenient):
    id: str = Field(min_length=1, max_length=255)
    type: str = Field(min_length=1, max_length=255)
    data: _Data


def verify_and_parse(payload: bytes, header: str | None, secrets: Sequence[str]) -> StripeEvent:
    """The event if any secret verifies the Stripe-Signature header, else 401 (bad JSON: 400/422)."""
    import stripe

    if not header:
        raise UnauthorizedError(f"missing {SIGNATURE_HEADER} header", code="invalid_signature")
    for secret in secrets:
        try:
            # The signature alone: the library's own parsing (construct_event) fails on a verified body
            # that is JSON but no object (`[1]`: AttributeError), which is our parser's 400 / 422 to give.
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError:
            continue
        except UnicodeDecodeError as exc:
            raise UnauthorizedError("signature does not match", code="invalid_signature") from exc
        return _parse(payload)
    raise UnauthorizedError("Stripe signature does not match, or is outside the 300 s window", code="invalid_signature")


def _parse(payload: bytes) -> StripeEvent:
    try:
        return StripeEvent.model_validate_json(payload)
    except PydanticValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]
        if problem["type"] == "json_invalid":
            from chalicelib.domain.errors import BadRequestError

            raise BadRequestError("request body is not valid JSON", code="malformed_json") from exc
        field = ".".join(str(part) for part in problem["loc"])
        raise ValidationError(
            "not a Stripe event we can read", details=[{"field": field, "message": problem["msg"]}]
        ) from exc


@dataclass(frozen=True)
class PaymentCommand:
    """One native payment command (the same the signed `/v1/webhooks/payment` produces)."""

    event_id: str  # de-duplication key: the Stripe event, or the refund for refunds
    order_id: str | None  # from metadata; None: look it up by `provider_ref`
    status: str  # succeeded | refunded | failed
    amount: int
    currency: str
    provider_ref: str  # PaymentIntent id (payments), refund id (refunds)
    payment_ref: str | None = None  # refunds: the PaymentIntent/Charge the refund belongs to
    reason: str | None = None


def _order_id(obj: StripeObject | StripeRefund) -> str | None:
    value = obj.metadata.get("order_id")
    return value if isinstance(value, str) and value else None


def translate(event: StripeEvent) -> list[PaymentCommand]:
    """The commands a Stripe event stands for; [] for every type we do not act on."""
    obj = event.data.object
    if event.type == "payment_intent.succeeded":
        amount = obj.amount_received if obj.amount_received is not None else obj.amount or 0
        return [PaymentCommand(f"stripe:{event.id}", _order_id(obj), "succeeded", amount, obj.currency, obj.id)]
    if event.type == "payment_intent.payment_failed":
        error = obj.last_payment_error or {}
        reason = str(error.get("code") or error.get("message") or "payment_failed")[:200]
        return [
            PaymentCommand(
                f"stripe:{event.id}", _order_id(obj), "failed", obj.amount or 0, obj.currency, obj.id, reason=reason
            )
        ]
    if event.type == "charge.refunded":
        refunds = obj.refunds.data if obj.refunds else []
        return [_refund(refund, obj) for refund in refunds if refund.status in (None, "succeeded")]
    if event.type in ("refund.created", "refund.updated", "charge.refund.updated"):
        refund = StripeRefund.model_validate(obj.model_dump())
        return [_refund(refund, None)] if refund.status == "succeeded" else []
    return []


def _refund(refund: StripeRefund, charge: StripeObject | None) -> PaymentCommand:
    payment_ref = refund.payment_intent or (charge.payment_intent if charge else None) or refund.charge
    order_id = _order_id(refund) or (_order_id(charge) if charge else None)
    currency = refund.currency or (charge.currency if charge else "")
    # Keyed by the refund, not the event: charge.refunded and refund.created for the same refund record it once.
    return PaymentCommand(f"stripe:{refund.id}", order_id, "refunded", refund.amount, currency, refund.id, payment_ref)
