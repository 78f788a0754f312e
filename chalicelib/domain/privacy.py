"""Masking personal data for logs and timelines: enough to recognise, not to reuse."""

from __future__ import annotations


def mask_email(address: str) -> str:
    """'alice@example.com' → 'a***@example.com'."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(number: str) -> str:
    """'+4915112345678' → '+49*******678'."""
    if len(number) <= 6:
        return "***"
    return f"{number[:3]}{'*' * (len(number) - 6)}{number[-3:]}"
