"""The tracking page's wording per language, and locale-aware money and dates (Babel, loaded lazily).

Every language has every key (a unit test checks it). A customer whose language has
no catalogue gets English, and the page says so in its `lang` attribute, so screen
readers never read English words with another language's voice; money and dates then
follow English conventions too, so a page never mixes two languages.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.locales import babel_locale

DEFAULT_LANGUAGE = "en"

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "banner": "Order tracking",
        "title": "Order {number}: tracking",
        "heading": "Order {number}",
        "placed_on": "Placed on {date}",
        "status.placed": "Order received",
        "status.paid": "Payment received",
        "status.processing": "Being prepared",
        "status.partially_shipped": "Partly shipped",
        "status.shipped": "On its way",
        "status.out_for_delivery": "Out for delivery",
        "status.delivered": "Delivered",
        "status.cancelled": "Cancelled",
        "status.on_hold": "Paused for a check",
        "progress": "Progress",
        "step.placed": "Placed",
        "step.paid": "Paid",
        "step.processing": "Processing",
        "step.shipped": "Shipped",
        "step.out_for_delivery": "Out for delivery",
        "step.delivered": "Delivered",
        "step_state.done": "done",
        "step_state.current": "current step",
        "step_state.upcoming": "not yet",
        "step_state.stopped": "will not happen",
        "delivery": "Delivery",
        "promise.deliver_by": "Promised delivery by {date}",
        "promise.ship_by": "We ship by {date}",
        "promise.revised": "New estimate: {date}",
        "promise.delivered": "Delivered on {date}",
        "promise.on_time": "On time, as promised.",
        "promise.was": "Promised by {date}",
        "delay.title": "Your delivery is delayed",
        "delay.delayed": "The carrier reported a delay in transit.",
        "delay.exception": "The carrier could not deliver a parcel as planned, for example after a missed "
        "delivery attempt.",
        "delay.estimate": "The carrier updated its delivery estimate.",
        "delay.sorry": "We are sorry for the wait.",
        "late.title": "Your order is running late",
        "late.text": "It is taking longer than we promised. We are sorry, and we are looking into it. "
        "You will hear from us as soon as it moves.",
        "problem.title": "A parcel needs attention",
        "problem.text": "The carrier reported a problem with a parcel. Follow the carrier link below to "
        "see what to do, for example to arrange a new delivery.",
        "cancelled.title": "This order was cancelled",
        "cancelled.text": "The order was cancelled on {date}. Nothing will be shipped.",
        "cancelled.refunded": "We refunded {amount} to your original payment method.",
        "cancelled.refund_pending": "You paid {amount}. The refund is on its way to your original payment method.",
        "cancelled.unpaid": "You have not been charged.",
        "hold.title": "We are checking your order",
        "hold.text": "Your order is paused while we check a detail. We will contact you if we need anything.",
        "hold.insufficient_stock": "An item is waiting for new stock.",
        "hold.price_mismatch": "We are confirming the price of an item.",
        "hold.unknown_sku": "We are confirming an item in your order.",
        "hold.invalid_address": "We are confirming your delivery address.",
        "hold.unsupported_country": "We are checking that we can deliver to your country.",
        "hold.other": "We are checking a detail of your order.",
        "partial.text": "Part of your order is on its way. The rest follows in a separate parcel.",
        "parcels": "Parcels",
        "parcel.heading": "Parcel {n}",
        "parcel.carrier": "Carrier",
        "parcel.tracking_number": "Tracking number",
        "parcel.carrier_link": "Track with {carrier}",
        "parcel.carrier_link_note": "opens the carrier's website",
        "parcel.contents": "Contents",
        "parcel.expected": "Expected on {date}",
        "parcel.delivered": "Delivered on {date}",
        "parcel.updates": "Latest updates",
        "parcel.none": "Nothing has been shipped yet. Tracking details appear here as soon as a parcel "
        "leaves our warehouse.",
        "event.shipped": "Handed to {carrier}",
        "event.in_transit": "In transit",
        "event.out_for_delivery": "Out for delivery",
        "event.delivered": "Delivered",
        "event.exception": "Delivery problem",
        "event.delayed": "Delayed",
        "items": "Your order",
        "item.line": "{quantity} × {name}",
        "total": "Total",
        "documents": "Documents",
        "footer.reference": "Order reference: {id}",
        "footer.times": "Times are shown in {zone}.",
        "footer.help": "Questions? Reply to any email about this order.",
        "not_found.title": "Tracking link not found",
        "not_found.heading": "We could not find this tracking page",
        "not_found.text": "The link is not valid or has expired. Please use the link in your most recent "
        "email about the order, or reply to that email and we will help.",
    },
    "de": {
        "banner": "Sendungsverfolgung",
        "title": "Bestellung {number}: Sendungsverfolgung",
        "heading": "Bestellung {number}",
        "placed_on": "Bestellt am {date}",
        "status.placed": "Bestellung eingegangen",
        "status.paid": "Zahlung eingegangen",
        "status.processing": "Wird vorbereitet",
        "status.partially_shipped": "Teilweise versandt",
        "status.shipped": "Unterwegs",
        "status.out_for_delivery": "In Zustellung",
        "status.delivered": "Zugestellt",
        "status.cancelled": "Storniert",
        "status.on_hold": "Zur Prüfung angehalten",
        "progress": "Fortschritt",
        "step.placed": "Bestellt",
        "step.paid": "Bezahlt",
        "step.processing": "In Bearbeitung",
        "step.shipped": "Versandt",
        "step.out_for_delivery": "In Zustellung",
        "step.delivered": "Zugestellt",
        "step_state.done": "erledigt",
        "step_state.current": "aktueller Schritt",
        "step_state.upcoming": "noch nicht",
        "step_state.stopped": "entfällt",
        "delivery": "Lieferung",
        "promise.deliver_by": "Zugesagte Lieferung bis {date}",
        "promise.ship_by": "Versand bis {date}",
        "promise.revised": "Neuer voraussichtlicher Termin: {date}",
        "promise.delivered": "Zugestellt am {date}",
        "promise.on_time": "Pünktlich, wie zugesagt.",
        "promise.was": "Zugesagt bis {date}",
        "delay.title": "Ihre Lieferung verspätet sich",
        "delay.delayed": "Der Paketdienst meldet eine Verzögerung beim Transport.",
        "delay.exception": "Der Paketdienst konnte ein Paket nicht wie geplant zustellen, zum Beispiel nach "
        "einem verpassten Zustellversuch.",
        "delay.estimate": "Der Paketdienst hat den voraussichtlichen Liefertermin geändert.",
        "delay.sorry": "Entschuldigen Sie bitte die Wartezeit.",
        "late.title": "Ihre Bestellung verspätet sich",
        "late.text": "Es dauert länger als zugesagt. Das tut uns leid, wir kümmern uns darum. Sie hören "
        "von uns, sobald es weitergeht.",
        "problem.title": "Ein Paket braucht Ihre Aufmerksamkeit",
        "problem.text": "Der Paketdienst meldet ein Problem mit einem Paket. Über den Link zum Paketdienst "
        "unten sehen Sie, was zu tun ist, zum Beispiel eine neue Zustellung vereinbaren.",
        "cancelled.title": "Diese Bestellung wurde storniert",
        "cancelled.text": "Die Bestellung wurde am {date} storniert. Es wird nichts versandt.",
        "cancelled.refunded": "Wir haben {amount} auf Ihr ursprüngliches Zahlungsmittel erstattet.",
        "cancelled.refund_pending": "Sie haben {amount} bezahlt. Die Erstattung auf Ihr ursprüngliches "
        "Zahlungsmittel ist unterwegs.",
        "cancelled.unpaid": "Ihnen wurde nichts berechnet.",
        "hold.title": "Wir prüfen Ihre Bestellung",
        "hold.text": "Ihre Bestellung ist angehalten, während wir ein Detail prüfen. Wir melden uns, falls "
        "wir etwas von Ihnen brauchen.",
        "hold.insufficient_stock": "Ein Artikel wartet auf neuen Lagerbestand.",
        "hold.price_mismatch": "Wir bestätigen den Preis eines Artikels.",
        "hold.unknown_sku": "Wir bestätigen einen Artikel Ihrer Bestellung.",
        "hold.invalid_address": "Wir bestätigen Ihre Lieferadresse.",
        "hold.unsupported_country": "Wir prüfen, ob wir in Ihr Land liefern können.",
        "hold.other": "Wir prüfen ein Detail Ihrer Bestellung.",
        "partial.text": "Ein Teil Ihrer Bestellung ist unterwegs. Der Rest folgt in einem weiteren Paket.",
        "parcels": "Pakete",
        "parcel.heading": "Paket {n}",
        "parcel.carrier": "Paketdienst",
        "parcel.tracking_number": "Sendungsnummer",
        "parcel.carrier_link": "Bei {carrier} verfolgen",
        "parcel.carrier_link_note": "öffnet die Website des Paketdienstes",
        "parcel.contents": "Inhalt",
        "parcel.expected": "Voraussichtlich am {date}",
        "parcel.delivered": "Zugestellt am {date}",
        "parcel.updates": "Letzte Meldungen",
        "parcel.none": "Noch ist nichts versandt. Die Sendungsdaten erscheinen hier, sobald ein Paket unser "
        "Lager verlässt.",
        "event.shipped": "An {carrier} übergeben",
        "event.in_transit": "Unterwegs",
        "event.out_for_delivery": "In Zustellung",
        "event.delivered": "Zugestellt",
        "event.exception": "Zustellproblem",
        "event.delayed": "Verzögert",
        "items": "Ihre Bestellung",
        "item.line": "{quantity} × {name}",
        "total": "Gesamt",
        "documents": "Dokumente",
        "footer.reference": "Bestellreferenz: {id}",
        "footer.times": "Alle Zeiten: {zone}.",
        "footer.help": "Fragen? Antworten Sie einfach auf eine E-Mail zu dieser Bestellung.",
        "not_found.title": "Link zur Sendungsverfolgung nicht gefunden",
        "not_found.heading": "Diese Seite zur Sendungsverfolgung gibt es nicht",
        "not_found.text": "Der Link ist ungültig oder abgelaufen. Bitte nutzen Sie den Link aus Ihrer "
        "neuesten E-Mail zur Bestellung, oder antworten Sie auf diese E-Mail: Wir helfen gern.",
    },
}
LANGUAGES = tuple(STRINGS)


def _parts(locale: str) -> list[str]:
    return [part for part in locale.strip().replace("_", "-").split("-") if part]


def page_language(locale: str | None) -> str:
    """The catalogue a customer locale such as "de-DE" reads in ("de"); English when we have none."""
    parts = _parts(locale or "")
    language = parts[0].lower() if parts else ""
    return language if language in STRINGS else DEFAULT_LANGUAGE


def lang_attribute(locale: str | None) -> str:
    """The page's BCP 47 `lang`: the customer's locale when we speak its language, else "en"."""
    parts = _parts(locale or "")
    if not parts or page_language(locale) != parts[0].lower():
        return DEFAULT_LANGUAGE
    region = parts[1].upper() if len(parts) > 1 and parts[1].isalpha() and len(parts[1]) == 2 else ""
    return f"{parts[0].lower()}-{region}" if region else parts[0].lower()


class Localizer:
    """Wording, money and dates for one customer locale, with times in the shop's timezone."""

    def __init__(self, locale: str | None, timezone: str):
        self.language = page_language(locale)
        self.lang = lang_attribute(locale)
        self.zone = ZoneInfo(timezone)
        self.strings = STRINGS[self.language]

    def t(self, key: str, **values: Any) -> str:
        return self.strings[key].format(**values) if values else self.strings[key]

    def money(self, minor_units: int, currency: str) -> str:
        from babel.numbers import format_currency, get_currency_precision

        amount = Decimal(minor_units).scaleb(-get_currency_precision(currency))
        return str(format_currency(amount, currency, locale=babel_locale(self.lang)))

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def date(self, moment: datetime) -> str:
        """A full date, "Friday, 4 December 2026" / "Freitag, 4. Dezember 2026"."""
        from babel.dates import format_date

        return str(format_date(self.local(moment).date(), format="full", locale=babel_locale(self.lang)))

    def short_date(self, moment: datetime) -> str:
        """Day and month, "Nov 30" / "30. Nov."."""
        from babel.dates import format_skeleton

        return str(format_skeleton("MMMd", self.local(moment), locale=babel_locale(self.lang)))

    def date_time(self, moment: datetime) -> str:
        """Weekday, day, month and time, "Mon, Nov 30, 11:00" / "Mo., 30. Nov., 11:00"."""
        from babel.dates import format_skeleton, format_time, get_datetime_format

        locale, local = babel_locale(self.lang), self.local(moment)
        day = format_skeleton("MMMEd", local, locale=locale)
        clock = format_time(local, format="short", locale=locale)
        return str(get_datetime_format("medium", locale=locale)).replace("{1}", day).replace("{0}", clock)

    def zone_name(self) -> str:
        from babel.dates import get_timezone_name

        return str(get_timezone_name(self.zone, width="long", locale=babel_locale(self.lang)))
