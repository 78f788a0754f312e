"""DynamoDB storage for notifications: claims with leases, preferences, SMS consent and quota."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.models import (
    NotificationItem,
    OrderItem,
    PhoneOptOutItem,
    PreferencesItem,
    SmsCounterItem,
)
from chalicelib.adapters.dynamo.repositories import customer_pk, order_pk, timeline_item
from chalicelib.domain.orders import DomainEvent
from chalicelib.notify.ports import Claim, Preferences

PENDING_PREFIX = "NOTIFY#PENDING#"
PENDING_DAYS = 7  # a message still pending after a week of retries is reported, not lost
PREFS_SK = "#PREFS"
SMS_SK = "#SMS"


def _condition_failed(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None) or getattr(error, "cause", None)
    return "ConditionalCheckFailed" in str(cause) or "ConditionalCheckFailed" in str(error)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DynamoNotificationRecords:
    def __init__(self) -> None:
        self._connection: Connection | None = None

    def _transaction_connection(self) -> Connection:
        if self._connection is None:
            self._connection = Connection(region=OrderItem.Meta.region)
        return self._connection

    def _key(self, claim: Claim) -> tuple[str, str]:
        return order_pk(claim.order_id), f"NOTIFY#{claim.key}"

    def claim(self, claim: Claim, *, now: datetime, lease_seconds: int) -> bool:
        pk, sk = self._key(claim)
        lease = now + timedelta(seconds=lease_seconds)
        item = NotificationItem(
            pk=pk,
            sk=sk,
            type="notification",
            order_id=claim.order_id,
            kind=claim.kind,
            channel=claim.channel,
            status="pending",
            payload={**claim.payload, "customer_id": claim.customer_id},
            attempts=1,
            lease_until=lease,
            created_at=now,
            gsi1pk=f"{PENDING_PREFIX}{now.date().isoformat()}",
            gsi1sk=_stamp(lease),
        )
        try:
            item.save(condition=NotificationItem.pk.does_not_exist())
            return True
        except PutError as error:
            if not _condition_failed(error):
                raise
        # It exists: take it over only if it is still pending and its sender's lease ran out.
        try:
            NotificationItem(pk=pk, sk=sk).update(
                actions=[
                    NotificationItem.lease_until.set(lease),
                    NotificationItem.attempts.add(1),
                    NotificationItem.gsi1sk.set(_stamp(lease)),
                ],
                condition=(NotificationItem.status == "pending") & (NotificationItem.lease_until < now),
            )
            return True
        except UpdateError as error:
            if _condition_failed(error):
                return False
            raise

    def skip(self, claim: Claim, reason: str, *, now: datetime) -> bool:
        pk, sk = self._key(claim)
        item = NotificationItem(
            pk=pk,
            sk=sk,
            type="notification",
            order_id=claim.order_id,
            kind=claim.kind,
            channel=claim.channel,
            status="skipped",
            reason=reason,
            attempts=0,
            lease_until=now,
            created_at=now,
        )
        event = DomainEvent(
            "notification_skipped",
            now,
            "notifier",
            {"channel": claim.channel, "template": claim.kind, "reason": reason},
        )
        try:
            with TransactWrite(connection=self._transaction_connection()) as transaction:
                transaction.save(item, condition=NotificationItem.pk.does_not_exist())
                transaction.save(timeline_item(claim.order_id, event))
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if reasons and getattr(reasons[0], "code", None) == "ConditionalCheckFailed":
                return False
            raise
        return True

    def finish(self, claim: Claim, status: str, *, now: datetime, message_id: str | None, reason: str | None) -> None:
        pk, sk = self._key(claim)
        data: dict[str, Any] = {
            "channel": claim.channel,
            "template": claim.kind,
            "to": claim.payload.get("masked_to"),
        }
        if message_id:
            data["message_id"] = message_id
        if reason:
            data["reason"] = reason
        actions: list[Action] = [
            NotificationItem.status.set(status),
            NotificationItem.gsi1pk.remove(),
            NotificationItem.gsi1sk.remove(),
        ]
        if message_id:
            actions.append(NotificationItem.message_id.set(message_id))
        if reason:
            actions.append(NotificationItem.reason.set(reason))
        try:
            with TransactWrite(connection=self._transaction_connection()) as transaction:
                transaction.update(
                    NotificationItem(pk=pk, sk=sk),
                    actions=actions,
                    condition=NotificationItem.status == "pending",
                )
                transaction.save(
                    timeline_item(claim.order_id, DomainEvent(f"notification_{status}", now, "notifier", data))
                )
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if reasons and getattr(reasons[0], "code", None) == "ConditionalCheckFailed":
                return  # another worker finished it first
            raise

    def release(self, claim: Claim) -> None:
        pk, sk = self._key(claim)
        expired = datetime(2000, 1, 1, tzinfo=UTC)
        try:
            NotificationItem(pk=pk, sk=sk).update(
                actions=[
                    NotificationItem.lease_until.set(expired),
                    NotificationItem.gsi1sk.set(_stamp(expired)),
                ],
                condition=NotificationItem.status == "pending",
            )
        except UpdateError as error:
            if not _condition_failed(error):
                raise

    def due(self, now: datetime, limit: int) -> list[Claim]:
        claims: list[Claim] = []
        for age in range(PENDING_DAYS, -1, -1):  # oldest first
            day = now.date() - timedelta(days=age)
            results = NotificationItem.pending.query(
                f"{PENDING_PREFIX}{day.isoformat()}",
                NotificationItem.gsi1sk <= _stamp(now),
                limit=limit - len(claims),
            )
            for item in results:
                payload = dict(item.payload or {})
                claims.append(
                    Claim(
                        order_id=item.order_id,
                        key=item.sk.removeprefix("NOTIFY#"),
                        kind=item.kind,
                        channel=item.channel,
                        customer_id=str(payload.get("customer_id", "")),
                        payload=payload,
                        attempts=int(item.attempts or 0),
                    )
                )
            if len(claims) >= limit:
                break
        return claims


class DynamoPreferenceStore:
    def get(self, customer_id: str) -> Preferences:
        try:
            item = PreferencesItem.get(customer_pk(customer_id), PREFS_SK)
        except PreferencesItem.DoesNotExist:
            return Preferences()
        return Preferences(email=bool(item.email), sms=bool(item.sms), locale=item.locale)

    def put(self, customer_id: str, preferences: Preferences, now: datetime) -> None:
        PreferencesItem(
            pk=customer_pk(customer_id),
            sk=PREFS_SK,
            type="preferences",
            email=preferences.email,
            sms=preferences.sms,
            locale=preferences.locale,
            updated_at=now,
        ).save()

    def sms_opted_out(self, phone: str) -> bool:
        try:
            return bool(PhoneOptOutItem.get(f"PHONE#{phone}", SMS_SK).opted_out)
        except PhoneOptOutItem.DoesNotExist:
            return False

    def set_sms_opt_out(self, phone: str, opted_out: bool, keyword: str, now: datetime) -> None:
        PhoneOptOutItem(
            pk=f"PHONE#{phone}",
            sk=SMS_SK,
            type="sms_consent",
            opted_out=opted_out,
            keyword=keyword,
            updated_at=now,
        ).save()

    def take_sms_quota(self, customer_id: str, day: str, cap: int) -> bool:
        try:
            SmsCounterItem(pk=customer_pk(customer_id), sk=f"SMSDAY#{day}").update(
                actions=[
                    SmsCounterItem.sent.add(1),
                    SmsCounterItem.type.set("sms_counter"),
                    SmsCounterItem.expires_at.set(datetime.now(UTC) + timedelta(days=3)),
                ],
                condition=SmsCounterItem.sent.does_not_exist() | (SmsCounterItem.sent < cap),
            )
            return True
        except UpdateError as error:
            if _condition_failed(error):
                return False
            raise
