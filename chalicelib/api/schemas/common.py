"""Building blocks every area uses: money, codes, contact fields, the request and response bases, the error body.

Requests forbid unknown fields (server-owned ones such as `status` or `total`
included) and take money as strict integers in minor units.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from chalicelib.domain.catalog import SKU_RE

Money = Annotated[int, Field(strict=True, ge=0, le=10**11, description="integer minor units")]


Sku = Annotated[str, Field(pattern=SKU_RE.pattern, examples=["MUG-1"])]


CustomerId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$", examples=["cus_alice"])]


# ISO 4217 codes that are not money one can be paid in: testing, no currency, metals, funds.
NOT_MONEY = frozenset({"XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU", "XUA"})


def _currency(code: str) -> str:
    from babel.numbers import is_currency  # lazy: Babel's data is loaded on first use

    if code in NOT_MONEY or not is_currency(code):
        raise ValueError(f"{code} is not an ISO 4217 currency")
    return code


Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", description="ISO 4217", examples=["EUR"]),
    AfterValidator(_currency),
]


Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2", examples=["DE"])]


Text = Annotated[str, Field(min_length=1, max_length=200)]


Timestamp = Annotated[str, Field(description="ISO-8601 UTC with Z", examples=["2026-12-01T22:59:59Z"])]


def _e164(value: str) -> str:
    import phonenumbers  # lazy: metadata tables are large

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("phone must be an E.164 number such as +4915112345678") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("phone is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _email(value: str) -> str:
    # Imported on first use: email_validator (and pydantic's EmailStr, which imports
    # it eagerly) would add ~70 ms to every cold start.
    from email_validator import EmailNotValidError, validate_email

    try:
        return str(validate_email(value, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from exc


Email = Annotated[str, Field(max_length=254, examples=["alice@example.com"]), AfterValidator(_email)]


def _vat_id(value: str) -> str:
    """An EU (or UK) VAT identification number, format and check digit (python-stdnum), compacted."""
    from stdnum import exceptions  # lazy: only placements with a VAT id pay for it
    from stdnum.eu import vat as eu_vat
    from stdnum.gb import vat as gb_vat

    module = gb_vat if value.strip().upper().startswith("GB") else eu_vat
    try:
        return str(module.compact(module.validate(value)))
    except exceptions.ValidationError as exc:
        raise ValueError(f"not a valid VAT identification number ({exc})") from exc


VatId = Annotated[
    str,
    Field(min_length=4, max_length=32, examples=["DE136695976"], description="EU or UK VAT id with its country prefix"),
    AfterValidator(_vat_id),
]


Phone = Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$", examples=["+4915112345678"]), AfterValidator(_e164)]


class Out(BaseModel):
    """Response shapes: used for the OpenAPI document and tests, never on the hot path."""

    model_config = ConfigDict(defer_build=True)


class Strict(BaseModel):
    # defer_build: validators are compiled on first use, not at import (cold start).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]


def _plausible(moment: datetime) -> datetime:
    if not datetime(2000, 1, 1, tzinfo=UTC) <= moment <= datetime(2100, 1, 1, tzinfo=UTC):
        raise ValueError("must lie between 2000 and 2100")
    return moment


Moment = Annotated[AwareDatetime, AfterValidator(_plausible)]


class Health(Out):
    status: Literal["ok"]


class ErrorBody(Out):
    code: str = Field(examples=["validation_error"])
    message: str
    details: list[Any] = []


class ErrorOut(Out):
    error: ErrorBody
