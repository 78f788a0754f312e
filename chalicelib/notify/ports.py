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


@dataclass(frozen=True)
class Claim:
    """A notification this worker may now send (it holds the lease)."""

    order_id: str
    key: str  # <milestone key>#<channel>
    kind: str
    channel: str
    customer_id: str
    payload: dict[str, Any]
    attempts: int


class PermanentDeliveryError(OrderCareError):
    """The provider refused the message for good (bad address, rejected content)."""


class TransientDeliveryError(OrderCareError):
    """The provider failed after its own retries; try again later."""


class NotificationRecords(Protocol):
    def claim(
        self,
        claim: Claim,
        *,
        now: datetime,
        lease_seconds: int,
    ) -> bool:
        """Create the record as pending (or take over an expired lease); False if handled already."""
        ...

    def skip(self, claim: Claim, reason: str, *, now: datetime) -> bool:
        """Record that this notification will not be sent, once; False if it existed."""
        ...

    def finish(self, claim: Claim, status: str, *, now: datetime, message_id: str | None, reason: str | None) -> None:
        """Mark sent/failed/skipped and add the timeline entry, atomically."""
        ...

    def release(self, claim: Claim) -> None:
        """Give the lease back after a transient failure so a retry can start at once."""
        ...

    def due(self, now: datetime, limit: int) -> list[Claim]:
        """Pending notifications whose lease has expired (crashed or failed senders)."""
        ...


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
