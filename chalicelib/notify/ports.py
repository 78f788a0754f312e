"""What the notification service needs from storage and transports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.errors import OrderCareError

EMAIL, SMS = "email", "sms"
CHANNELS = (EMAIL, SMS)


@dataclass(frozen=True)
class Preferences:
    email: bool = True
    sms: bool = False  # SMS only after the customer opts in
    locale: str | None = None


class PermanentDeliveryError(OrderCareError):
    """The provider refused the message for good (bad address, rejected content)."""


class TransientDeliveryError(OrderCareError):
    """The provider failed after its own retries; try again later."""


class PreferenceStore(Protocol):
    def get(self, customer_id: str) -> Preferences: ...

    def put(self, customer_id: str, preferences: Preferences, now: datetime) -> None: ...

    def sms_opted_out(self, phone: str) -> bool: ...

    def set_sms_opt_out(self, phone: str, opted_out: bool, keyword: str, now: datetime) -> None: ...

    def take_sms_quota(self, customer_id: str, day: str, cap: int) -> bool:
        """Count one SMS for the customer today; False when the cap is reached."""
        ...


class Mailer(Protocol):
    def send(self, to: str, payload: dict[str, Any]) -> str:
        """Send an email payload; the provider's message id."""
        ...


class SmsSender(Protocol):
    def send(self, phone: str, body: str) -> str: ...


class TopicPublisher(Protocol):
    def publish(self, topic_arn: str, subject: str, message: str) -> str: ...
