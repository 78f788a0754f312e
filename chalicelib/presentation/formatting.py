"""How a customer reads OrderCare: language, money, dates, carrier names, the order number.

The one localisation module behind emails, SMS, the tracking page and the PDFs, so
every surface shows the same strings for the same order. Each surface keeps its own
wording catalogue ({language: {key: text}}); everything else is decided here.

Locale rule: a customer locale whose language we write in ("de-DE", "de-AT", "en-GB")
formats money and dates by that locale; any other ("fr-FR", "ja-JP") gets English
wording *and* English formatting, so nothing mixes two languages. The deployed package
carries Babel data for English and German only (infra/stacks/packaging.py), so this is
also what Lambda can do. Babel is imported on first use, never at `import app`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.carriers import normalise_carrier
from chalicelib.domain.orders import Order

DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "de")  # every catalogue has these languages, with the same keys

CARRIER_NAMES = {
    "dhl": "DHL",
    "dpd": "DPD",
    "gls": "GLS",
    "hermes": "Hermes",
    "ups": "UPS",
    "fedex": "FedEx",
    "usps": "USPS",
    "royal_mail": "Royal Mail",
    "postnl": "PostNL",
}

Catalogue = Mapping[str, Mapping[str, str]]


def order_number(order: Order) -> str:
    """The order number customers see: its human number (domain/order_numbers.py); orders
    placed before numbers existed show the id's last 8 characters, "ord_…P1R2S3T4" → "P1R2-S3T4"."""
    return order.reference


# Payment methods as customers read them, in every message and document.
PAYMENT_METHODS: dict[str, dict[str, str]] = {
    "en": {
        "card": "card",
        "paypal": "PayPal",
        "bank_transfer": "bank transfer",
        "sepa_debit": "SEPA direct debit",
        "invoice": "invoice",
        "klarna": "Klarna",
        "apple_pay": "Apple Pay",
        "google_pay": "Google Pay",
        "provider": "online payment",
    },
    "de": {
        "card": "Karte",
        "paypal": "PayPal",
        "bank_transfer": "Überweisung",
        "sepa_debit": "SEPA-Lastschrift",
        "invoice": "Rechnung",
        "klarna": "Klarna",
        "apple_pay": "Apple Pay",
        "google_pay": "Google Pay",
        "provider": "Online-Zahlung",
    },
}


def payment_method(method: str, language: str) -> str:
    """ "card" → "Karte" in German; unknown methods as written, underscores as spaces."""
    return PAYMENT_METHODS.get(language, {}).get(method, method.replace("_", " "))


def carrier_name(carrier: str) -> str:
    """A carrier as people write it: "royal_mail" → "Royal Mail", "dhl" → "DHL"."""
    key = normalise_carrier(carrier)
    return CARRIER_NAMES.get(key) or key.replace("_", " ").title()


def _parts(locale: str) -> list[str]:
    return [part for part in locale.strip().replace("_", "-").split("-") if part]


def language_of(locale: str | None) -> str:
    """The language a customer locale such as "de-DE" reads in ("de"); English when we write no other."""
    parts = _parts(locale or "")
    language = parts[0].lower() if parts else ""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def lang_attribute(locale: str | None) -> str:
    """The BCP 47 tag of what we write: the customer's locale when we speak its language, else "en"."""
    parts = _parts(locale or "")
    if not parts or language_of(locale) != parts[0].lower():
        return DEFAULT_LANGUAGE
    region = parts[1].upper() if len(parts) > 1 and parts[1].isalpha() and len(parts[1]) == 2 else ""
    return f"{parts[0].lower()}-{region}" if region else parts[0].lower()


@functools.lru_cache(maxsize=64)
def babel_locale(locale: str) -> str:
    """A Babel identifier with data available for `locale`: itself, else its language, else English."""
    from babel import Locale, UnknownLocaleError

    identifier = locale.replace("-", "_")
    for candidate in (identifier, identifier.split("_")[0], DEFAULT_LANGUAGE):
        try:
            Locale.parse(candidate)
            return candidate
        except (UnknownLocaleError, ValueError):
            continue
    return DEFAULT_LANGUAGE


@functools.lru_cache(maxsize=4096)
def _money(minor_units: int, currency: str, locale: str) -> str:
    from babel.numbers import format_currency, get_currency_precision

    amount = Decimal(minor_units).scaleb(-get_currency_precision(currency))
    return str(format_currency(amount, currency, locale=locale))


@functools.lru_cache(maxsize=256)
def _rate(rate_bps: int, locale: str) -> str:
    from babel.numbers import format_percent

    return str(format_percent(Decimal(rate_bps) / 10_000, format="#,##0.##%", locale=locale))


class Localizer:
    """Wording from one catalogue, money and dates for one customer locale, times in the shop's timezone."""

    def __init__(self, locale: str | None, timezone: str, catalogue: Catalogue | None = None):
        self.language = language_of(locale)
        self.lang = lang_attribute(locale)
        self.locale = babel_locale(self.lang)
        self.zone = ZoneInfo(timezone)
        self.strings: Mapping[str, str] = catalogue[self.language] if catalogue is not None else {}

    def t(self, key: str, **values: Any) -> str:
        return self.strings[key].format(**values) if values else self.strings[key]

    def money(self, minor_units: int, currency: str) -> str:
        return _money(minor_units, currency, self.locale)

    def rate(self, rate_bps: int) -> str:
        """A tax rate in basis points as a percentage, "19 %" / "19%"."""
        return _rate(rate_bps, self.locale)

    def country(self, code: str) -> str:
        from babel import Locale

        return str(Locale.parse(self.locale).territories.get(code.upper(), code))

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def date(self, moment: datetime | None) -> str:
        """A full date, "Friday, 4 December 2026" / "Freitag, 4. Dezember 2026" ("" for none)."""
        if moment is None:
            return ""
        from babel.dates import format_date

        return str(format_date(self.local(moment).date(), format="full", locale=self.locale))

    def medium_date(self, moment: datetime) -> str:
        """A document date, "4 Dec 2026" / "04.12.2026"."""
        from babel.dates import format_date

        return str(format_date(self.local(moment).date(), format="medium", locale=self.locale))

    def medium_date_time(self, moment: datetime) -> str:
        from babel.dates import format_datetime

        return str(format_datetime(self.local(moment), format="medium", tzinfo=self.zone, locale=self.locale))

    def short_date(self, moment: datetime) -> str:
        """Day and month, "Nov 30" / "30. Nov."."""
        from babel.dates import format_skeleton

        return str(format_skeleton("MMMd", self.local(moment), locale=self.locale))

    def date_time(self, moment: datetime) -> str:
        """Weekday, day, month and time, "Mon, Nov 30, 11:00" / "Mo., 30. Nov., 11:00"."""
        from babel.dates import format_skeleton, format_time, get_datetime_format

        local = self.local(moment)
        day = format_skeleton("MMMEd", local, locale=self.locale)
        clock = format_time(local, format="short", locale=self.locale)
        return str(get_datetime_format("medium", locale=self.locale)).replace("{1}", day).replace("{0}", clock)

    def zone_name(self) -> str:
        from babel.dates import get_timezone_name

        return str(get_timezone_name(self.zone, width="long", locale=self.locale))
