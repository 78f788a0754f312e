"""Deliver each milestone once per channel, honouring preferences, SMS consent and limits.

The notification record is claimed (conditional put with a lease) before the
provider is called and finished after, together with the timeline entry. A
duplicate stream record finds the claim and does nothing; a crash between claim
and finish leaves a pending record whose lease expires, and the retry sweep
sends it. (A crash after the provider accepted but before the finish was written
can repeat that one message: providers offer no idempotency key to prevent it.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from html import escape
from typing import Any

from chalicelib.domain.orders import Order
from chalicelib.domain.privacy import mask_email, mask_phone, mask_text
from chalicelib.notify.milestones import Milestone
from chalicelib.notify.ports import (
    CHANNELS,
    EMAIL,
    SMS,
    Claim,
    Mailer,
    NotificationRecords,
    PermanentDeliveryError,
    PreferenceStore,
    SmsSender,
    TopicPublisher,
    TransientDeliveryError,
)
from chalicelib.notify.render import ShopIdentity, render_email, render_sms
from chalicelib.services.ports import Clock

LEASE_SECONDS = 120
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class OpsAlerts:
    """Where operations hear about promises at risk or broken."""

    email: str
    topic_arn: str


OPS_EMAIL, OPS_TOPIC = "ops_email", "ops_sns"


@dataclass
class NotificationService:
    records: NotificationRecords
    preferences: PreferenceStore
    mailer: Mailer
    sms: SmsSender
    clock: Clock
    shop: ShopIdentity
    tracking_url: Callable[[str], str]
    sms_daily_cap: int = 5
    ops: OpsAlerts | None = None
    topic: TopicPublisher | None = None

    def escalate(self, order: Order, state: str, promises: list[str]) -> dict[str, str]:
        """Tell operations (email and SNS topic), once per order and state, that promises are at risk or broken."""
        if self.ops is None:
            return {}
        now = self.clock.now()
        verb = "at risk" if state == "at_risk" else "broken"
        subject = f"[{self.shop.name}] Order {order.id}: {' and '.join(promises)} promise {verb}"
        text = (
            f"Order {order.id} is {order.status}. Promised: shipped by {order.ship_by:%Y-%m-%d %H:%M} UTC, "
            f"delivered by {order.deliver_by:%Y-%m-%d %H:%M} UTC. Now {verb}: {', '.join(promises)}.\n"
            f"Placed {order.placed_at:%Y-%m-%d %H:%M} UTC, method {order.shipping_method}, "
            f"{len(order.shipments)} shipment(s).\n"
        )
        outcome = {}
        for channel, to in ((OPS_EMAIL, self.ops.email), (OPS_TOPIC, self.ops.topic_arn)):
            if not to:
                continue  # e.g. no ops address configured: the topic still carries the alert
            payload = {
                "to": to,
                "masked_to": to,
                "subject": subject,
                "text": text,
                "html": f"<pre>{escape(text)}</pre>",
            }
            claim = Claim(order.id, f"ops:{state}#{channel}", f"ops_{state}", channel, "ops", payload, 0)
            claimed = self.records.claim(claim, now=now, lease_seconds=LEASE_SECONDS)
            outcome[channel] = self.send(claim) if claimed else "duplicate"
        return outcome

    def notify(self, order: Order, milestone: Milestone, attachments: Sequence[dict[str, str]] = ()) -> dict[str, str]:
        """Deliver one milestone on every channel; returns what happened per channel.

        `attachments` (email only) are references ({filename, content_type, s3_key})."""
        preferences = self.preferences.get(order.customer.id)
        if preferences.locale:
            order = replace(order, customer=replace(order.customer, locale=preferences.locale))
        return {
            channel: self._deliver(order, milestone, channel, preferences.email, preferences.sms, attachments)
            for channel in CHANNELS
        }

    def _deliver(
        self,
        order: Order,
        milestone: Milestone,
        channel: str,
        email_on: bool,
        sms_on: bool,
        attachments: Sequence[dict[str, str]] = (),
    ) -> str:
        now = self.clock.now()
        claim = Claim(order.id, f"{milestone.key}#{channel}", milestone.kind, channel, order.customer.id, {}, 0)
        reason = self._skip_reason(order, channel, email_on, sms_on)
        if reason:
            return "skipped" if self.records.skip(claim, reason, now=now) else "duplicate"
        payload = self._compose(order, milestone, channel)
        if channel == EMAIL and attachments:
            payload["attachments"] = [dict(attachment) for attachment in attachments]
        claim = replace(claim, payload=payload)
        if not self.records.claim(claim, now=now, lease_seconds=LEASE_SECONDS):
            return "duplicate"
        return self.send(claim)

    def _skip_reason(self, order: Order, channel: str, email_on: bool, sms_on: bool) -> str | None:
        if channel == EMAIL:
            return None if email_on else "email turned off by the customer"
        if not sms_on:
            return "SMS not turned on by the customer"
        if not order.customer.phone:
            return "no phone number"
        if self.preferences.sms_opted_out(order.customer.phone):
            return "phone number opted out (STOP)"
        return None

    def _compose(self, order: Order, milestone: Milestone, channel: str) -> dict[str, Any]:
        link = self.tracking_url(order.id)
        if channel == EMAIL:
            message = render_email(order, milestone, self.shop, link)
            return {
                "to": order.customer.email,
                "masked_to": mask_email(order.customer.email),
                "subject": message.subject,
                "text": message.text,
                "html": message.html,
            }
        phone = order.customer.phone or ""
        return {
            "to": phone,
            "masked_to": mask_phone(phone),
            "body": render_sms(order, milestone, self.shop, link),
        }

    def send(self, claim: Claim) -> str:
        """Send a claimed notification and record the outcome (also used by the retry sweep)."""
        now = self.clock.now()
        if claim.channel == SMS and not self.preferences.take_sms_quota(
            claim.customer_id, now.date().isoformat(), self.sms_daily_cap
        ):
            self.records.finish(claim, "skipped", now=now, message_id=None, reason="daily SMS limit reached")
            return "skipped"
        try:
            message_id = self._transmit(claim)
        except PermanentDeliveryError as error:
            self.records.finish(claim, "failed", now=now, message_id=None, reason=mask_text(error.message))
            return "failed"
        except TransientDeliveryError:
            if claim.attempts >= MAX_ATTEMPTS:
                self.records.finish(claim, "failed", now=now, message_id=None, reason="gave up after retries")
                return "failed"
            self.records.release(claim)
            raise
        self.records.finish(claim, "sent", now=now, message_id=message_id, reason=None)
        return "sent"

    def _transmit(self, claim: Claim) -> str:
        if claim.channel in (EMAIL, OPS_EMAIL):
            return self.mailer.send(claim.payload["to"], claim.payload)
        if claim.channel == OPS_TOPIC:
            if self.topic is None:
                raise PermanentDeliveryError("no ops topic configured")
            return self.topic.publish(claim.payload["to"], claim.payload["subject"], claim.payload["text"])
        return self.sms.send(claim.payload["to"], claim.payload["body"])

    def retry_due(self, limit: int = 100) -> dict[str, int]:
        """Send every pending notification whose lease expired; one failure does not stop the rest."""
        outcome: dict[str, int] = {}
        now = self.clock.now()
        for claim in self.records.due(now, limit):
            if not self.records.claim(claim, now=now, lease_seconds=LEASE_SECONDS):
                continue
            try:
                result = self.send(replace(claim, attempts=claim.attempts + 1))
            except TransientDeliveryError:
                result = "retry_later"
            outcome[result] = outcome.get(result, 0) + 1
        return outcome
