"""Carriers the shop ships with and the public tracking page of each."""

from __future__ import annotations

from dataclasses import dataclass
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


# --- the carrier status model ----------------------------------------------------------------


@dataclass(frozen=True)
class StatusRule:
    """What one carrier status means for the shipment and the order."""

    progress: str | None = None  # the shipment status it moves the parcel to (never backwards)
    notify: bool = False  # the customer is told what to do next, once per shipment and status
    attention: bool = False  # needs a person: `needs_attention`, one ops escalation, one ticket


# AfterShip's normalised tags map onto these (InfoReceived → label_created, AttemptFail →
# attempt_failed, AvailableForPickup → available_for_pickup, Exception → exception, …).
CARRIER_STATUSES: dict[str, StatusRule] = {
    "label_created": StatusRule(),
    "in_transit": StatusRule(progress="in_transit"),
    "out_for_delivery": StatusRule(progress="out_for_delivery"),
    "attempt_failed": StatusRule(notify=True),
    "available_for_pickup": StatusRule(progress="available_for_pickup", notify=True),
    "delivered": StatusRule(progress="delivered"),
    "exception": StatusRule(attention=True),
    "delayed": StatusRule(),
    "returned_to_sender": StatusRule(attention=True),
    "lost": StatusRule(attention=True),
}
# How far a parcel has come; a scan never moves it back (a parcel out for delivery may
# still end up at a pickup point after a failed attempt).
SHIPMENT_PROGRESS = {"shipped": 0, "in_transit": 1, "out_for_delivery": 2, "available_for_pickup": 3, "delivered": 4}
CUSTOMER_NOTICES = tuple(status for status, rule in CARRIER_STATUSES.items() if rule.notify)
ATTENTION_STATUSES = tuple(status for status, rule in CARRIER_STATUSES.items() if rule.attention)
