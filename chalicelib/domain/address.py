"""Shipping-address checks: is it complete, and does the postal code fit its country?"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Postal-code shapes for the countries the shop ships to (Universal Postal Union formats).
_POSTAL_CODES: dict[str, str] = {
    "AT": r"\d{4}",
    "BE": r"\d{4}",
    "BG": r"\d{4}",
    "CH": r"\d{4}",
    "CY": r"\d{4}",
    "CZ": r"\d{3} ?\d{2}",
    "DE": r"\d{5}",
    "DK": r"\d{4}",
    "EE": r"\d{5}",
    "ES": r"\d{5}",
    "FI": r"\d{5}",
    "FR": r"\d{5}",
    "GR": r"\d{3} ?\d{2}",
    "HR": r"\d{5}",
    "HU": r"\d{4}",
    "IE": r"[A-Z]\d[\dW] ?[A-Z\d]{4}",
    "IT": r"\d{5}",
    "LT": r"(LT-)?\d{5}",
    "LU": r"(L-)?\d{4}",
    "LV": r"(LV-)?\d{4}",
    "MT": r"[A-Z]{3} ?\d{4}",
    "NL": r"\d{4} ?[A-Z]{2}",
    "NO": r"\d{4}",
    "PL": r"\d{2}-\d{3}",
    "PT": r"\d{4}-\d{3}",
    "RO": r"\d{6}",
    "SE": r"\d{3} ?\d{2}",
    "SI": r"\d{4}",
    "SK": r"\d{3} ?\d{2}",
    "US": r"\d{5}(-\d{4})?",
    "CA": r"[A-Z]\d[A-Z] ?\d[A-Z]\d",
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}",
}
_REQUIRED = ("name", "line1", "city", "postal_code", "country")


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str | None = None
    region: str | None = None


def address_problems(address: Address) -> list[str]:
    """Human-readable problems with an address; empty when it looks deliverable."""
    problems = [f"{name} is empty" for name in _REQUIRED if not getattr(address, name).strip()]
    pattern = _POSTAL_CODES.get(address.country)
    postal_code = address.postal_code.strip().upper()
    if pattern and postal_code and not re.fullmatch(pattern, postal_code, re.ASCII):
        problems.append(f"postal code '{address.postal_code}' is not valid for {address.country}")
    return problems
