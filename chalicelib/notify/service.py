"""Messages as durable intents: each milestone once per channel, honouring preferences, SMS consent and limits.

`plan` turns an order change into one "message" intent per milestone and channel
(and per escalation channel), rendered and decided (sent or skipped) up front, so
they are all recorded before the first is sent (services/intents.py). `perform` sends
one; the intent runner retries transient failures and ends permanent ones, and the
timeline gets notification_sent / _skipped / _failed with the masked recipient.
(A crash after the provider accepted but before the intent was ended can repeat that
one message: providers offer no idempotency key to prevent it.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from html import escape
from typing import Any

from chalicelib.domain.orders import DomainEvent, Order, Shipment
from chalicelib.domain.privacy import mask_email, mask_phone, mask_text
from chalicelib.notify.milestones import Milestone, attention, escalations, milestones
from chalicelib.notify.render import ShopIdentity, render_email, render_sms
from chalicelib.services.batch_reads import read_once
from chalicelib.services.intents import DONE, SKIPPED, Intent, Outcome, PermanentEffectError
from chalicelib.services.ports import (
    CHANNELS,
    EMAIL,
    SMS,
    Clock,
    Mailer,
    PermanentDeliveryError,
    PreferenceStore,
    SmsSender,
    TopicPublisher,
)

MESSAGE = "message"  # the intent kind


@dataclass(frozen=True)
class OpsAlerts:
    """Where operations hear about promises at risk or broken."""

    email: str
    topic_arn: str


OPS_EMAIL, OPS_TOPIC = "ops_email", "ops_sns"

# The documents a milestone's email carries, and the intents that produce them first:
# (order, new payments) -> (document keys, intent ids). Wired in bootstrap.py.
DocumentsFor = Callable[[Order, Sequence[str]], tuple[list[str], list[str]]]
Attachments = Callable[[str, Sequence[str]], list[dict[str, str]]]


@dataclass
class NotificationService:
    preferences: PreferenceStore
    mailer: Mailer
    sms: SmsSender
    clock: Clock
    shop: ShopIdentity
    tracking_url: Callable[[str], str]
    sms_daily_cap: int = 5
    ops: OpsAlerts | None = None
    topic: TopicPublisher | None = None
    documents_for: DocumentsFor | None = None
    attachments: Attachments | None = None
    reply_to: Callable[[str], str] | None = None  # order id → its signed reply address (answers land on a ticket)

    # --- planning: which messages an order change implies ------------------------------

    def plan(self, before: Order | None, after: Order) -> list[Intent]:
        """Every message of the change: the customer's milestones first, then escalations."""
        intents: list[Intent] = []
        found = milestones(before, after)
        if found:
            intents += self._plan_milestones(before, after, found)
        for state, promises in escalations(before, after).items():
            intents += self.plan_escalation(after, state, promises)
        for shipment in attention(before, after):
            intents += self.plan_attention(after, shipment)
        return intents

    def plan_attention(self, order: Order, shipment: Shipment) -> list[Intent]:
        """Operations hear once per parcel that it needs a person (the support desk opens a ticket)."""
        reason = shipment.attention_reason or "attention"
        latest = shipment.events[-1] if shipment.events else None
        subject = f"[{self.shop.name}] Order {order.reference} ({order.id}): parcel {shipment.tracking_number} {reason}"
        text = (
            f"Parcel {shipment.tracking_number} ({shipment.carrier}) of order {order.reference} ({order.id}) "
            f"needs attention: {reason.replace('_', ' ')}.\n"
            f"Carrier detail: {(latest.detail if latest else None) or '-'}; "
            f"location: {(latest.location if latest else None) or '-'}.\n"
            f"Shipped {shipment.shipped_at:%Y-%m-%d %H:%M} UTC; "
            f"promised delivery {order.deliver_by:%Y-%m-%d %H:%M} UTC.\n"
        )
        key = f"ops:attention:{shipment.id}"
        if shipment.stalled:  # its own key: a stalled parcel later returned or lost is escalated again
            key += ":stalled"
            text += f"Last carrier scan {shipment.last_scan_at:%Y-%m-%d %H:%M} UTC; nothing reported since.\n"
        return self._ops_intents(order, key, "ops_attention", subject, text)

    def plan_escalation(self, order: Order, state: str, promises: list[str]) -> list[Intent]:
        """Operations (email and SNS topic), once per order and state: promises at risk or broken."""
        if self.ops is None:
            return []
        verb = "at risk" if state == "at_risk" else "broken"
        subject = f"[{self.shop.name}] Order {order.id}: {' and '.join(promises)} promise {verb}"
        text = (
            f"Order {order.id} is {order.status}. Promised: shipped by {order.ship_by:%Y-%m-%d %H:%M} UTC, "
            f"delivered by {order.deliver_by:%Y-%m-%d %H:%M} UTC. Now {verb}: {', '.join(promises)}.\n"
            f"Placed {order.placed_at:%Y-%m-%d %H:%M} UTC, method {order.shipping_method}, "
            f"{len(order.shipments)} shipment(s).\n"
        )
        return self._ops_intents(order, f"ops:{state}", f"ops_{state}", subject, text)

    def _ops_intents(self, order: Order, key: str, template: str, subject: str, text: str) -> list[Intent]:
        """One message per operations channel (email, SNS topic), keyed so it is sent once."""
        if self.ops is None:
            return []
        intents = []
        for channel, to in ((OPS_EMAIL, self.ops.email), (OPS_TOPIC, self.ops.topic_arn)):
            if not to:
                continue  # e.g. no ops address configured: the topic still carries the alert
            payload = {
                "channel": channel,
                "template": template,
                "customer_id": "ops",
                "to": to,
                "masked_to": to,
                "subject": subject,
                "text": text,
                "html": f"<pre>{escape(text)}</pre>",
            }
            intents.append(Intent(order.id, MESSAGE, f"{key}#{channel}", payload))
        return intents

    def plan_messages(self, order: Order, found: list[Milestone]) -> list[Intent]:
        """The intents (one per channel) of messages that no order change implies (e.g. a survey)."""
        return self._plan_milestones(order, order, found)

    def _plan_milestones(self, before: Order | None, after: Order, found: list[Milestone]) -> list[Intent]:
        customer_id = after.customer.id
        preferences = read_once(("preferences", customer_id), lambda: self.preferences.get(customer_id))
        order = after
        if preferences.locale:
            order = replace(after, customer=replace(after.customer, locale=preferences.locale))
        seen = {payment.provider_ref for payment in before.payments} if before else set()
        new_payments = [payment.provider_ref for payment in after.payments if payment.provider_ref not in seen]
        now = self.clock.now()
        intents = []
        for milestone in found:
            for channel in CHANNELS:
                intents.append(
                    self._plan_one(order, milestone, channel, preferences.email, preferences.sms, new_payments, now)
                )
        return intents

    def _plan_one(
        self,
        order: Order,
        milestone: Milestone,
        channel: str,
        email_on: bool,
        sms_on: bool,
        new_payments: Sequence[str],
        now: datetime,
    ) -> Intent:
        key = f"{milestone.key}#{channel}"
        reason = self._skip_reason(order, channel, email_on, sms_on)
        if reason:
            data = {"channel": channel, "template": milestone.kind, "reason": reason}
            event = DomainEvent("notification_skipped", now, "notifier", data)
            return Intent(order.id, MESSAGE, key, status=SKIPPED, timeline=event)
        payload = self._compose(order, milestone, channel)
        after: tuple[str, ...] = ()
        # The invoice and receipt travel with the receipt email: it waits for the documents' intent.
        if channel == EMAIL and milestone.kind == "payment_receipt" and self.documents_for is not None:
            keys, intent_ids = self.documents_for(order, new_payments)
            payload["documents"], after = keys, tuple(intent_ids)
        return Intent(order.id, MESSAGE, key, payload, after=after)

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
        common = {"channel": channel, "template": milestone.kind, "customer_id": order.customer.id}
        if channel == EMAIL:
            message = render_email(order, milestone, self.shop, link)
            return {
                **common,
                "to": order.customer.email,
                "masked_to": mask_email(order.customer.email),
                "subject": message.subject,
                "text": message.text,
                "html": message.html,
                "reply_to": self.reply_to(order.id) if self.reply_to else None,
            }
        phone = order.customer.phone or ""
        return {
            **common,
            "to": phone,
            "masked_to": mask_phone(phone),
            "body": render_sms(order, milestone, self.shop, link),
        }

    # --- performing: the "message" effect handler -----------------------------------------

    def perform(self, intent: Intent, now: datetime) -> Outcome:
        """Send one message (a transient error propagates: the intent runner retries it)."""
        payload = intent.payload
        channel = payload["channel"]
        if channel == SMS and not self.preferences.take_sms_quota(
            payload["customer_id"], now.date().isoformat(), self.sms_daily_cap
        ):
            event = self._event("notification_skipped", intent, now, reason="daily SMS limit reached")
            return Outcome(SKIPPED, event, "skipped")
        try:
            message_id = self._transmit(intent)
        except PermanentDeliveryError as error:
            raise PermanentEffectError(mask_text(error.message)) from error
        return Outcome(DONE, self._event("notification_sent", intent, now, message_id=message_id), "sent")

    def failed(self, intent: Intent, reason: str, now: datetime) -> DomainEvent:
        return self._event("notification_failed", intent, now, reason=reason)

    @staticmethod
    def _event(kind: str, intent: Intent, now: datetime, **extra: str) -> DomainEvent:
        payload = intent.payload
        data = {"channel": payload.get("channel"), "template": payload.get("template"), "to": payload.get("masked_to")}
        return DomainEvent(kind, now, "notifier", {**data, **extra})

    def _transmit(self, intent: Intent) -> str:
        payload = intent.payload
        channel = payload["channel"]
        if channel in (EMAIL, OPS_EMAIL):
            if payload.get("documents") and self.attachments is not None:
                payload = {**payload, "attachments": self.attachments(intent.order_id, payload["documents"])}
            return self.mailer.send(payload["to"], payload)
        if channel == OPS_TOPIC:
            if self.topic is None:
                raise PermanentDeliveryError("no ops topic configured")
            return self.topic.publish(payload["to"], payload["subject"], payload["text"])
        return self.sms.send(payload["to"], payload["body"])
