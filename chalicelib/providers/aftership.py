"""AfterShip tracking webhooks as AfterShip sends them, translated into the native carrier command.

Verified with `aftership-hmac-sha256`: the base64 HMAC-SHA256 of the raw body with the
webhook secret, compared in constant time against every configured secret (rotation).
AfterShip's tags map onto the carrier status model; the checkpoint's own time is the
event's `occurred_at`; `edd_revise` (a new estimated delivery) is a `delayed` event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from chalicelib.domain.errors import BadRequestError, UnauthorizedError, ValidationError

SIGNATURE_HEADER = "aftership-hmac-sha256"

TAGS = {
    "InfoReceived": "label_created",
    "InTransit": "in_transit",
    "OutForDelivery": "out_for_delivery",
    "AttemptFail": "attempt_failed",
    "AvailableForPickup": "available_for_pickup",
    "Delivered": "delivered",
    "Exception": "exception",
    "Expired": "stalled",
}
SUBTAGS = {
    "Exception_010": "returned_to_sender",  # returning to sender
    "Exception_011": "returned_to_sender",  # returned to sender
    "Exception_013": "lost",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Checkpoint(_Lenient):
    checkpoint_time: str | None = None
    tag: str | None = None
    subtag: str | None = None
    location: str | None = None
    city: str | None = None
    message: str | None = None


class _Estimate(_Lenient):
    estimated_delivery_date: str | None = None


class TrackingMsg(_Lenient):
    tracking_number: str = Field(min_length=1, max_length=64)
    slug: str = ""
    tag: str = Field(min_length=1, max_length=64)
    subtag: str | None = None
    expected_delivery: str | None = None
    aftership_estimated_delivery_date: _Estimate | None = None
    checkpoints: list[Checkpoint] = Field(default_factory=list)


class AfterShipWebhook(_Lenient):
    event: str = Field(min_length=1, max_length=64)
    event_id: str = Field(min_length=1, max_length=128)
    msg: TrackingMsg


def verify(payload: bytes, header: str | None, secrets: Sequence[str]) -> AfterShipWebhook:
    """The webhook if any secret's HMAC matches the header (constant time), else 401."""
    if not header or not header.isascii():
        raise UnauthorizedError(f"missing {SIGNATURE_HEADER} header", code="invalid_signature")
    valid = False
    for secret in secrets:
        expected = base64.b64encode(hmac.new(secret.encode(), payload, hashlib.sha256).digest()).decode()
        valid |= hmac.compare_digest(expected, header.strip())
    if not valid:
        raise UnauthorizedError("AfterShip signature does not match", code="invalid_signature")
    try:
        return AfterShipWebhook.model_validate_json(payload)
    except PydanticValidationError as exc:
        problem = exc.errors(include_url=False, include_input=False)[0]
        if problem["type"] == "json_invalid":
            raise BadRequestError("request body is not valid JSON", code="malformed_json") from exc
        field = ".".join(str(part) for part in problem["loc"])
        raise ValidationError(
            "not an AfterShip tracking webhook we can read", details=[{"field": field, "message": problem["msg"]}]
        ) from exc


@dataclass(frozen=True)
class CarrierCommand:
    """The native carrier command (what the signed `/v1/webhooks/carrier` produces)."""

    event_id: str
    tracking_number: str
    status: str
    occurred_at: datetime
    estimated_delivery: datetime | None
    raw_tag: str
    raw_subtag: str | None
    location: str | None
    detail: str | None


def _moment(text: str | None, end_of_day: Callable[[date], datetime] | None = None) -> datetime | None:
    """AfterShip times: ISO with an offset, without one (the carrier's local time: taken as UTC), or a date:
    the end of that day, in the shop's zone as every promise is (`end_of_day`), else in UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if len(text) <= 10:  # a date
        if end_of_day is not None:
            return end_of_day(moment.date())
        moment = datetime.combine(moment.date(), time(23, 59, 59))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_of(event: str, tag: str, subtag: str | None) -> str:
    """The carrier status an AfterShip tag (refined by its subtag) stands for; "" if none."""
    if event == "edd_revise":
        return "delayed"
    return SUBTAGS.get(subtag or "", TAGS.get(tag, ""))


def translate(
    webhook: AfterShipWebhook, now: datetime, end_of_day: Callable[[date], datetime] | None = None
) -> CarrierCommand | None:
    """The carrier command for a tracking_update or edd_revise; None for other events. An estimated
    delivery *date* ends as the shop's day ends (`end_of_day`: the calendar's), as the promise does."""
    msg = webhook.msg
    if webhook.event not in ("tracking_update", "edd_revise"):
        return None
    checkpoint = msg.checkpoints[-1] if msg.checkpoints else Checkpoint()
    estimate = _moment(msg.expected_delivery, end_of_day) or _moment(
        msg.aftership_estimated_delivery_date.estimated_delivery_date
        if msg.aftership_estimated_delivery_date
        else None,
        end_of_day,
    )
    status = status_of(webhook.event, msg.tag, msg.subtag)
    if not status:
        return None
    return CarrierCommand(
        event_id=f"aftership:{webhook.event_id}",
        tracking_number=msg.tracking_number,
        status=status,
        occurred_at=_moment(checkpoint.checkpoint_time) or now,
        estimated_delivery=estimate,
        raw_tag=msg.tag,
        raw_subtag=msg.subtag,
        location=checkpoint.location or checkpoint.city,
        detail=checkpoint.message,
    )


def describe(command: CarrierCommand) -> dict[str, Any]:
    return {"status": command.status, "tag": command.raw_tag, "subtag": command.raw_subtag}
