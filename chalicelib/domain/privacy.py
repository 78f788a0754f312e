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
