"""The portal's HTML forms as models: what /openapi.json documents and what the views accept.

Every field is a string as a browser sends it; the views turn them into values and
answer anything wrong with the form again, saying what to fix.
"""

from __future__ import annotations

import urllib.parse

from pydantic import BaseModel, ConfigDict, Field

MAX_FORM_BYTES = 8 * 1024


class _Form(BaseModel):
    model_config = ConfigDict(extra="ignore")

    csrf_token: str = Field(default="", max_length=100, description="the hidden token of the page's form")


class SignInForm(_Form):
    email: str = Field(default="", max_length=320)
    next: str = Field(default="", max_length=200, description="a portal path to return to after sign-in")


class VerifyForm(_Form):
    email: str = Field(default="", max_length=320)
    code: str = Field(default="", max_length=20, description="the 6-digit code from the email")
    token: str = Field(default="", max_length=100, description="or: the token of the email's sign-in link")


class SignOutForm(_Form):
    everywhere: str = Field(default="", max_length=10, description="'on': end every session of the address")


class PreferencesForm(_Form):
    email: str = Field(default="", max_length=10, description="'on' to receive emails")
    sms: str = Field(default="", max_length=10, description="'on' to receive SMS")
    locale: str = Field(default="", max_length=20)


class HelpForm(_Form):
    category: str = Field(default="other", max_length=40, description="delay, wrong_item, damaged, …")
    message: str = Field(default="", max_length=5000)


class ReplyForm(_Form):
    message: str = Field(default="", max_length=5000)


class ReturnForm(_Form):
    reason: str = Field(default="", max_length=40, description="damaged, wrong_item, not_as_described, …")
    resolution: str = Field(default="refund", max_length=20, description="refund | exchange")
    comment: str = Field(default="", max_length=2000)
    # plus one qty_<sku> field per returnable line (0 … returnable units)


def parse_form(raw: bytes | str | None) -> dict[str, str]:
    """An urlencoded body as {name: first value}; oversized or undecodable bodies give {}."""
    data = raw.encode() if isinstance(raw, str) else (raw or b"")
    if len(data) > MAX_FORM_BYTES:
        return {}
    try:
        pairs = urllib.parse.parse_qsl(data.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form
