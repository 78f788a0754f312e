"""Customer contact preferences and inbound SMS."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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


class PreferencesOut(Out):
    customer_id: str
    email: bool
    sms: bool
    locale: str | None


class SmsInboundOut(Out):
    received: bool
    action: str | None = Field(examples=["opt_out", "opt_in", None])
