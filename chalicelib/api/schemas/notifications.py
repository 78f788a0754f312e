"""Customer contact preferences and inbound SMS."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, RootModel

from chalicelib.api.schemas.common import (
    Out,
    Phone,
    Strict,
)


class PreferencesIn(Strict):
    email: Annotated[bool, Field(strict=True)]
    sms: Annotated[bool, Field(strict=True)]
    locale: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$", examples=["de-DE"])]


class SmsInboundIn(BaseModel):
    """An inbound SMS as AWS End User Messaging delivers it (extra fields are ignored)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)
    originationNumber: Phone
    messageBody: Annotated[str, Field(max_length=1600)]
    inboundMessageId: str | None = None


class SnsDelivery(BaseModel):
    """The same SMS delivered by an SNS topic's HTTPS subscription (header x-amz-sns-message-type): the
    envelope is verified against the topic's signing certificate and `Message` holds the SMS as JSON."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    Type: Annotated[str, Field(examples=["Notification", "SubscriptionConfirmation"])]
    MessageId: str
    TopicArn: str
    Message: Annotated[str, Field(description="SmsInboundIn as JSON (a Notification)")]
    Timestamp: str
    SignatureVersion: str
    Signature: str
    SigningCertURL: str
    SubscribeURL: str | None = None


class SmsInboundBody(RootModel[SmsInboundIn | SnsDelivery]):
    """An inbound SMS: as End User Messaging's HMAC-signed JSON (X-OrderCare-Signature), or in an SNS envelope."""

    model_config = ConfigDict(defer_build=True)


class PreferencesOut(Out):
    customer_id: str
    email: bool
    sms: bool
    locale: str | None


class SmsInboundOut(Out):
    received: bool
    action: str | None = Field(examples=["opt_out", "opt_in", None])
