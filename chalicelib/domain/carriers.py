"""Carriers the shop ships with and the public tracking page of each."""

from __future__ import annotations

from urllib.parse import quote

_TRACKING_PAGES = {
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
    "dpd": "https://tracking.dpd.de/status/en_US/parcel/{number}",
    "gls": "https://gls-group.com/track/{number}",
    "hermes": "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation#{number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "royal_mail": "https://www.royalmail.com/track-your-item#/tracking-results/{number}",
    "postnl": "https://jouw.postnl.nl/track-and-trace/{number}",
}


def normalise_carrier(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def tracking_link(carrier: str, tracking_number: str) -> str | None:
    """The carrier's own tracking page for a parcel, when we know the carrier."""
    template = _TRACKING_PAGES.get(normalise_carrier(carrier))
    return template.format(number=quote(tracking_number, safe="")) if template else None
