"""DynamoDB storage for notification preferences, SMS consent and quota (messages are intents: intents.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib.adapters.dynamo.conditions import condition_failed
from chalicelib.adapters.dynamo.models import (
    PhoneOptOutItem,
    PreferencesItem,
    SmsCounterItem,
)
from chalicelib.adapters.dynamo.repositories import customer_pk
from chalicelib.services.ports import Preferences

PREFS_SK = "#PREFS"
SMS_SK = "#SMS"


def preferences_item(customer_id: str, preferences: Preferences, now: datetime) -> PreferencesItem:
    return PreferencesItem(
        pk=customer_pk(customer_id),
        sk=PREFS_SK,
        type="preferences",
        email=preferences.email,
        sms=preferences.sms,
        locale=preferences.locale,
        updated_at=now,
    )


class DynamoPreferenceStore:
    def get(self, customer_id: str) -> Preferences:
        try:
            item = PreferencesItem.get(customer_pk(customer_id), PREFS_SK)
        except PreferencesItem.DoesNotExist:
            return Preferences()
        return Preferences(email=bool(item.email), sms=bool(item.sms), locale=item.locale)

    def put(self, customer_id: str, preferences: Preferences, now: datetime) -> None:
        preferences_item(customer_id, preferences, now).save()

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
            if condition_failed(error):
                return False
            raise
