"""Masking personal data for logs and timelines: enough to recognise, not to reuse."""

from __future__ import annotations

import re


def mask_email(address: str) -> str:
    """'alice@example.com' → 'a***@example.com'."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(number: str) -> str:
    """'+4915112345678' → '+49*******678'."""
    if len(number) <= 6:
        return "***"
    return f"{number[:3]}{'*' * (len(number) - 6)}{number[-3:]}"


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"\+\d{7,15}")


def mask_text(text: str) -> str:
    """Mask every email address and E.164 number in a free text (e.g. a provider's error)."""
    text = _EMAIL.sub(lambda match: mask_email(match.group(0)), text)
    return _PHONE.sub(lambda match: mask_phone(match.group(0)), text)


_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/=-]+")
_JWT = re.compile(r"\beyJ[\w-]*\.[\w-]*\.?[\w-]*")
# Keys whose values are personal data or credentials wherever they appear in a log line.
_MASKED_KEYS = frozenset(
    {
        "address",
        "billing_address",
        "shipping_address",
        "line1",
        "line2",
        "street",
        "postal_code",
        "authorization",
        "cookie",
        "set-cookie",
        "token",
        "session",
        "password",
        "secret",
        "code",
        "otp",
        "csrf_token",
    }
)


def mask_credentials(text: str) -> str:
    """Personal data (mask_text) and bearer/JWT credentials out of a free text."""
    text = _JWT.sub("eyJ***", mask_text(text))
    return _BEARER.sub(lambda match: f"{match.group(1)} ***", text)


def redact(value: object, key: str = "") -> object:
    """A log field with personal data and credentials masked (nested dicts and lists too)."""
    name = key.lower()
    # An intent id ("message:…#ops_email") names a channel, not a field: its value is an outcome.
    field_name = ":" not in name
    if isinstance(value, str):
        if field_name and (name == "email" or name.endswith("_email")):
            return mask_email(value)
        if field_name and (name == "phone" or name.endswith("_phone")):
            return mask_phone(value)
        return "***" if name in _MASKED_KEYS else mask_credentials(value)
    if name in _MASKED_KEYS and value is not None:
        return "***"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, key) for v in value]
    return value
