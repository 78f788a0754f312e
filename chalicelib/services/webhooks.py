"""Outbound webhooks: subscriptions, and delivering each event to each subscriber at least once.

Each (subscription, event) is one more durable intent (services/intents.py, kind
"webhook"): recorded from the stream with the order change's other effects, never
from the request path. Its INSERT on the stream reaches the `webhook_deliveries`
consumer, which makes the first attempt; the intents' retry schedule retries with
exponential backoff and gives up after 24 h — the delivery is then dead-lettered:
kept, `dead` in `/deliveries`, alarmed on, never retried. Webhook intents are
attempted in parallel with a 5 s timeout, so a slow receiver holds up no one.

Emitting an event is one line, from any stream consumer (tickets, returns, …):

    container.webhooks.emit(order_id, make_event("ticket.updated", ticket.id, f"{ticket.id}:{version}", at, data))
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.errors import NotFoundError, ValidationError
from chalicelib.domain.orders import Order
from chalicelib.domain.outbound import EVENT_TYPES, OutboundEvent, UnsafeUrlError, check_url, order_events
from chalicelib.domain.webhooks import HEADER as SIGNATURE_HEADER
from chalicelib.domain.webhooks import signature_header
from chalicelib.observability import get_logger
from chalicelib.services.batch_reads import read_once
from chalicelib.services.intents import DONE, SKIPPED, Intent, Outcome, backoff, persist
from chalicelib.services.ports import Clock, Page, StoredResponse

WEBHOOK = "webhook"  # the intent kind


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    events: tuple[str, ...]
    secret: str
    status: str  # active | deleted
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    at: str  # ISO time
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass
class Delivery:
    """What /deliveries shows of one (subscription, event): the intent's attempts as the admin sees them."""

    subscription_id: str
    event_id: str
    event_type: str
    status: str  # pending | delivered | dead | cancelled
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    log: list[Attempt] = field(default_factory=list)


@dataclass(frozen=True)
class SendResult:
    status_code: int | None  # None: no HTTP answer (refused, timeout, blocked address)
    error: str | None


class WebhookDeliveryError(Exception):
    """The receiver did not take it (non-2xx, timeout, refused): transient, retried."""


class WebhookStore(Protocol):
    def add_subscription(self, subscription: Subscription, response: StoredResponse | None) -> None: ...

    def get_subscription(self, subscription_id: str) -> Subscription | None: ...

    def delete_subscription(self, subscription_id: str) -> bool: ...

    def active_subscriptions(self) -> list[Subscription]: ...

    def record_attempt(self, delivery: Delivery, attempt: Attempt) -> None:
        """Upsert the delivery's view with one more attempt (the newest few are kept)."""
        ...

    def mark(self, subscription_id: str, event_id: str, status: str) -> None: ...

    def get_delivery(self, subscription_id: str, event_id: str) -> Delivery | None: ...

    def deliveries(self, subscription_id: str, *, limit: int, start: dict[str, Any] | None) -> Page | None:
        """A page of the subscription's deliveries, newest first; None: no such subscription (one read)."""
        ...


class WebhookSender(Protocol):
    def send(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> SendResult: ...


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WebhookService:
    """Subscriptions (admin API) and the "webhook" intents: planner, handler and emitter."""

    store: WebhookStore
    sender: WebhookSender
    clock: Clock
    allow_loopback: bool  # the local stack: http://127.0.0.1 receivers
    timeout_seconds: float = 5.0
    record: Any = None  # IntentRunner.record, wired in bootstrap (emit stores intents through it)
    # The shop's choice, read per use (settings reload): failed payment attempts as `order.on_hold` too.
    payment_failed_on_hold: Callable[[], bool] = lambda: False

    # --- subscriptions ---------------------------------------------------------------

    def subscribe(self, url: str, events: list[str], response: Any = None) -> Subscription:
        """A new subscription with a generated secret (shown to the admin once)."""
        from chalicelib.domain.ids import new_id

        try:
            check_url(url, allow_loopback=self.allow_loopback)
        except UnsafeUrlError as exc:
            raise ValidationError(str(exc), details=[{"field": "url"}], code="unsafe_url") from exc
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown or not events:
            raise ValidationError(
                "events must name at least one known event type",
                details=[{"field": "events", "unknown": unknown, "allowed": list(EVENT_TYPES)}],
            )
        now = self.clock.now()
        subscription = Subscription(
            id=new_id("whs", now),
            url=url,
            events=tuple(dict.fromkeys(events)),
            secret="whsec_" + secrets.token_urlsafe(32),
            status="active",
            created_at=now,
        )
        self.store.add_subscription(subscription, response(subscription) if response else None)
        return subscription

    def get(self, subscription_id: str) -> Subscription:
        subscription = self.store.get_subscription(subscription_id) if subscription_id.startswith("whs_") else None
        if subscription is None or subscription.status != "active":
            raise NotFoundError("webhook subscription not found")
        return subscription

    def delete(self, subscription_id: str) -> None:
        self.get(subscription_id)
        if not self.store.delete_subscription(subscription_id):
            raise NotFoundError("webhook subscription not found")

    def deliveries(self, subscription_id: str, *, limit: int, start: dict[str, Any] | None) -> Page:
        """A deleted subscription's deliveries stay readable; an unknown one is 404 (one Query either way)."""
        page = (
            self.store.deliveries(subscription_id, limit=limit, start=start)
            if subscription_id.startswith("whs_")
            else None
        )
        if page is None:
            raise NotFoundError("webhook subscription not found")
        return page

    # --- planning and emitting -----------------------------------------------------------

    def intents_for(self, order_id: str, events: list[OutboundEvent]) -> list[Intent]:
        """One intent per (active subscription to the type, event); keyed by the fact, so a replay adds none."""
        if not events:
            return []
        return [
            Intent(
                order_id=order_id,
                kind=WEBHOOK,
                key=f"{subscription.id}#{event.type}#{event.key}",
                payload={"subscription_id": subscription.id, "event": event.body()},
            )
            for subscription in read_once("webhook_subscriptions", self.store.active_subscriptions)
            for event in events
            if event.type in subscription.events
        ]

    def plan(self, before: Order | None, after: Order) -> list[Intent]:
        """The Planner: the outbound events of an order change."""
        events = order_events(before, after, self.clock.now(), payment_failed_on_hold=self.payment_failed_on_hold())
        return self.intents_for(after.id, events)

    def emit(self, order_id: str, *events: OutboundEvent) -> int:
        """Record the events' deliveries (the webhook_deliveries consumer attempts them); how many were new."""
        return len(self.record(self.intents_for(order_id, list(events)))) if events else 0

    # --- the EffectHandler ---------------------------------------------------------------

    def perform(self, intent: Intent, now: datetime) -> Outcome:
        """One attempt: POST the event signed with the subscription's secret."""
        body_json: dict[str, Any] = intent.payload["event"]
        subscription_id = str(intent.payload["subscription_id"])
        delivery = self.store.get_delivery(subscription_id, body_json["id"]) or Delivery(
            subscription_id, body_json["id"], body_json["type"], "pending", 0, now
        )
        subscription = self.store.get_subscription(subscription_id)
        if subscription is None or subscription.status != "active":
            cancelled = Attempt(_z(now), None, "subscription deleted", 0)
            self.store.record_attempt(_with(delivery, "cancelled", None), cancelled)
            return Outcome(SKIPPED, None, "cancelled")
        body = json.dumps(body_json, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "OrderCare-Webhooks/1",
            # Signed at the wall clock's time: receivers check freshness against theirs.
            SIGNATURE_HEADER: signature_header(subscription.secret, body, int(time.time())),
            "X-OrderCare-Event-Id": delivery.event_id,
            "X-OrderCare-Event-Type": delivery.event_type,
        }
        started = time.monotonic()
        result = self.sender.send(subscription.url, body, headers, timeout=self.timeout_seconds)
        attempt = Attempt(_z(now), result.status_code, result.error, int((time.monotonic() - started) * 1000))
        if result.status_code is not None and 200 <= result.status_code < 300:
            persist(lambda: self.store.record_attempt(_with(delivery, "delivered", None), attempt))
            return Outcome(DONE, None, "delivered")
        failures = delivery.attempts + 1  # every attempt before this one failed too (else it was delivered)
        self.store.record_attempt(_with(delivery, "pending", now + backoff(failures)), attempt)
        raise WebhookDeliveryError(attempt.error or "not delivered")

    def failed(self, intent: Intent, reason: str, now: datetime) -> None:
        """Given up after 24 h of retries: dead-lettered, visible in /deliveries, alarmed on."""
        subscription_id = str(intent.payload.get("subscription_id", ""))
        event_id = str((intent.payload.get("event") or {}).get("id", ""))
        if subscription_id and event_id:
            self.store.mark(subscription_id, event_id, "dead")
        get_logger().error(
            "webhook delivery dead-lettered", extra={"subscription_id": subscription_id, "event_id": event_id}
        )
        _count_dead_letter()
        return None


def _with(delivery: Delivery, status: str, next_attempt_at: datetime | None) -> Delivery:
    delivery.status = status
    delivery.next_attempt_at = next_attempt_at
    return delivery


def _count_dead_letter() -> None:
    """A CloudWatch metric (EMF) the stack alarms on."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace="OrderCare", service="ordercare")
    metrics.add_metric(name="WebhookDeadLettered", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()


def present_subscription(subscription: Subscription, *, with_secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": subscription.id,
        "url": subscription.url,
        "events": list(subscription.events),
        "status": subscription.status,
        "created_at": _z(subscription.created_at),
    }
    if with_secret:
        body["secret"] = subscription.secret
    return body


def present_delivery(delivery: Delivery) -> dict[str, Any]:
    last = delivery.log[-1] if delivery.log else None
    return {
        "event_id": delivery.event_id,
        "type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": _z(delivery.created_at),
        "next_attempt_at": _z(delivery.next_attempt_at) if delivery.next_attempt_at else None,
        "last_status_code": last.status_code if last else None,
        "last_error": last.error if last else None,
        "log": [vars(entry) for entry in reversed(delivery.log)],
    }
