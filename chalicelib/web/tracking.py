"""The tracking page's view model: everything the template shows, built from an Order alone.

Pure: no I/O, no clock (the caller passes `now`). Every text is already worded and
localised here, so the template only lays things out. Private data is kept out on
purpose: the page is reachable by anyone holding the link, so it never carries the
customer's name, email, phone or address, nor internal hold details or actors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chalicelib.domain.accuracy import HOLD_CODES
from chalicelib.domain.carriers import CARRIER_STATUSES, tracking_link
from chalicelib.domain.orders import Order, OrderStatus, Shipment
from chalicelib.presentation.formatting import Localizer, carrier_name, order_number
from chalicelib.web.messages import STRINGS

STEPS = ("placed", "paid", "processing", "shipped", "out_for_delivery", "delivered")
# Where each status stands on the progress bar (cancelled is handled on its own).
_STEP_OF_STATUS = {
    OrderStatus.PLACED: 0,
    OrderStatus.PAID: 1,
    OrderStatus.PROCESSING: 2,
    OrderStatus.PARTIALLY_SHIPPED: 3,
    OrderStatus.SHIPPED: 3,
    OrderStatus.OUT_FOR_DELIVERY: 4,
    OrderStatus.DELIVERED: 5,
}
CARRIER_EVENT_KEYS = frozenset(CARRIER_STATUSES)  # every carrier status has its plain words (en/de)
MAX_EVENTS_SHOWN = 5


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    state: str  # "done" | "current" | "upcoming" | "stopped" (cancelled before it)
    state_label: str  # the state in words, for screen readers
    date: str | None = None  # when it happened, short and localised

    @property
    def is_current(self) -> bool:
        return self.state == "current"


@dataclass(frozen=True)
class Notice:
    """A boxed explanation at the top: cancelled, on hold, delayed, late, a parcel problem, partial."""

    kind: str  # cancelled | hold | delay | late | problem | partial
    tone: str  # "info" | "warning" | "danger"
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class EventView:
    label: str
    when: str
    iso: str  # for <time datetime>
    key: str


@dataclass(frozen=True)
class ShipmentView:
    heading: str
    carrier: str
    tracking_number: str
    carrier_url: str | None
    carrier_link_label: str
    status_key: str  # shipped | in_transit | out_for_delivery | delivered, or exception
    status_label: str
    contents: tuple[str, ...]
    expected: str | None  # "Expected Friday, 4 December 2026"
    delivered: str | None
    events: tuple[EventView, ...]  # newest first, at most MAX_EVENTS_SHOWN


@dataclass(frozen=True)
class DocumentLink:
    """An invoice, receipt or credit note to download.

    The hook for the documents issue: the route passes links it got through the
    ownership-checked, short-lived (≤ 300 s) download flow; until then there are none."""

    kind: str  # invoice | receipt | credit_note
    label: str  # e.g. "Invoice RE-2026-000123"
    url: str


@dataclass(frozen=True)
class AccountLink:
    """A button into the portal (which asks for sign-in first, then comes straight back to the order)."""

    key: str  # invoice | return | help
    label: str
    href: str


@dataclass(frozen=True)
class TrackingView:
    lang: str
    title: str
    heading: str
    order_number: str
    order_id: str
    status_key: str  # the order status, or "on_hold"
    status_label: str
    placed_on: str
    steps: tuple[Step, ...]
    progress_label: str  # the whole bar in words
    notices: tuple[Notice, ...]
    promise_lines: tuple[str, ...]
    revised_estimate: str | None
    shipments: tuple[ShipmentView, ...]
    items: tuple[str, ...]
    total: str
    footer: tuple[str, ...]
    labels: dict[str, str]  # headings and fixed wording the template shows as they are
    documents: tuple[DocumentLink, ...] = field(default=())
    shop_name: str = ""
    account_links: tuple[AccountLink, ...] = field(default=())

    @property
    def current_step(self) -> Step | None:
        return next((step for step in self.steps if step.is_current), None)


def build_tracking_view(
    order: Order,
    *,
    now: datetime,
    timezone: str,
    documents: Sequence[DocumentLink] = (),
    shop_name: str = "",
) -> TrackingView:
    """The tracking page for `order` as of `now`, worded in the customer's language."""
    loc = Localizer(order.customer.locale, timezone, STRINGS)
    number = order_number(order)
    steps = _steps(order, loc)
    held = order.is_on_hold and order.status not in (OrderStatus.CANCELLED, OrderStatus.DELIVERED)
    status_key = "on_hold" if held else str(order.status)
    current = next((step for step in steps if step.is_current), None)
    progress = f"{loc.t('progress')}: " + (current.label if current is not None else loc.t("status.cancelled"))
    labels = {
        key: loc.t(key)
        for key in (
            "progress",
            "delivery",
            "parcels",
            "parcel.carrier",
            "parcel.tracking_number",
            "parcel.carrier_link_note",
            "parcel.contents",
            "parcel.updates",
            "parcel.none",
            "items",
            "total",
            "documents",
            "account.heading",
            "account.text",
        )
    }
    return TrackingView(
        lang=loc.lang,
        title=loc.t("title", number=number),
        heading=loc.t("heading", number=number),
        order_number=number,
        order_id=order.id,
        status_key=status_key,
        status_label=loc.t(f"status.{status_key}"),
        placed_on=loc.t("placed_on", date=loc.date(order.placed_at)),
        steps=steps,
        progress_label=progress,
        notices=tuple(_notices(order, loc, now)),
        promise_lines=tuple(_promise_lines(order, loc)),
        revised_estimate=_revised_estimate(order, loc),
        shipments=tuple(
            _shipment_view(order, shipment, index, loc) for index, shipment in enumerate(order.shipments, 1)
        ),
        items=tuple(loc.t("item.line", quantity=line.quantity, name=line.name or line.sku) for line in order.lines),
        total=loc.money(order.totals.total, order.currency),
        footer=(  # no order id: the number (in the heading) is the only reference a customer sees
            loc.t("footer.times", zone=loc.zone_name()),
            loc.t("footer.help"),
        ),
        labels=labels,
        documents=tuple(documents),
        shop_name=shop_name,
        account_links=_account_links(order, loc),
    )


def _account_links(order: Order, loc: Localizer) -> tuple[AccountLink, ...]:
    """Invoice once paid, returns once something arrived, help always: each into the order's portal page."""
    page = f"/account/orders/{order.id}"
    delivered = order.delivered_at is not None or any(s.delivered_at for s in order.shipments)
    links = []
    if order.paid_at is not None:
        links.append(AccountLink("invoice", loc.t("account.invoice"), f"{page}#documents"))
    if delivered:
        links.append(AccountLink("return", loc.t("account.return"), f"{page}#return"))
    links.append(AccountLink("help", loc.t("account.help"), f"{page}#help"))
    return tuple(links)


# --- progress ------------------------------------------------------------------------------


def _step_dates(order: Order) -> dict[str, datetime | None]:
    out_for_delivery = [
        event.occurred_at
        for shipment in order.shipments
        for event in shipment.events
        if event.status == "out_for_delivery"
    ]
    shipped = order.shipped_at or order.first_shipped_at
    # Every completed step has a date: a step passed without its own moment (an order
    # processed before that was recorded, a parcel delivered without an "out for
    # delivery" scan) shows when the next step made it complete.
    return {
        "placed": order.placed_at,
        "paid": order.paid_at,
        "processing": order.processing_at or order.first_shipped_at,
        "shipped": shipped,
        "out_for_delivery": min(out_for_delivery) if out_for_delivery else order.delivered_at,
        "delivered": order.delivered_at,
    }


def _steps(order: Order, loc: Localizer) -> tuple[Step, ...]:
    dates = _step_dates(order)
    if order.status == OrderStatus.CANCELLED:
        reached = {"placed"} | ({"paid"} if order.paid_at else set())
        states = ["done" if key in reached else "stopped" for key in STEPS]
    else:
        position = _STEP_OF_STATUS[order.status]
        states = ["done" if index < position else "upcoming" for index in range(len(STEPS))]
        states[position] = "current"
    steps = []
    for key, state in zip(STEPS, states, strict=True):
        moment = dates[key] if state in ("done", "current") else None
        label = loc.t(f"step.{key}")
        if key == "shipped" and order.status == OrderStatus.PARTIALLY_SHIPPED:
            label = loc.t("status.partially_shipped")
        steps.append(
            Step(
                key=key,
                label=label,
                state=state,
                state_label=loc.t(f"step_state.{state}"),
                date=loc.short_date(moment) if moment is not None else None,
            )
        )
    return tuple(steps)


# --- promise and notices ---------------------------------------------------------------------


def _promise_lines(order: Order, loc: Localizer) -> list[str]:
    if order.status == OrderStatus.CANCELLED:
        return []
    if order.delivered_at is not None:
        lines = [loc.t("promise.delivered", date=loc.date(order.delivered_at))]
        if order.delivered_at <= order.deliver_by:
            lines.append(loc.t("promise.on_time"))
        else:
            lines.append(loc.t("promise.was", date=loc.date(order.deliver_by)))
        return lines
    lines = [loc.t("promise.deliver_by", date=loc.date(order.deliver_by))]
    if order.status in (OrderStatus.PLACED, OrderStatus.PAID, OrderStatus.PROCESSING):
        lines.append(loc.t("promise.ship_by", date=loc.date(order.ship_by)))
    return lines


def _revised_estimate(order: Order, loc: Localizer) -> str | None:
    revised = order.revised_deliver_by
    if revised is None or order.delivered_at is not None or order.status == OrderStatus.CANCELLED:
        return None
    return loc.t("promise.revised", date=loc.date(revised)) if revised > order.deliver_by else None


def _delay_reason(order: Order) -> str:
    """Why the estimate moved: the carrier event that reported the latest estimate."""
    revised = order.revised_deliver_by
    matching = [
        event
        for shipment in order.shipments
        for event in shipment.events
        if event.estimated_delivery is not None and event.estimated_delivery == revised
    ]
    status = max(matching, key=lambda event: event.occurred_at).status if matching else ""
    return {"delayed": "delay.delayed", "exception": "delay.exception"}.get(status, "delay.estimate")


def _notices(order: Order, loc: Localizer, now: datetime) -> list[Notice]:
    if order.status == OrderStatus.CANCELLED:
        return [_cancelled_notice(order, loc)]
    notices: list[Notice] = []
    if order.is_on_hold and order.status != OrderStatus.DELIVERED:
        reasons = []
        for code in dict.fromkeys(hold.code for hold in order.holds):  # unique, in order
            reasons.append(loc.t(f"hold.{code}" if code in HOLD_CODES else "hold.other"))
        notices.append(Notice("hold", "warning", loc.t("hold.title"), (loc.t("hold.text"), *dict.fromkeys(reasons))))
    if order.delivered_at is None:
        revised = _revised_estimate(order, loc)
        if revised is not None:
            lines = (revised, loc.t(_delay_reason(order)), loc.t("delay.sorry"))
            notices.append(Notice("delay", "warning", loc.t("delay.title"), lines))
        elif now > order.deliver_by:
            notices.append(Notice("late", "warning", loc.t("late.title"), (loc.t("late.text"),)))
        notices += _parcel_notices(order, loc)
    if order.status == OrderStatus.PARTIALLY_SHIPPED:
        notices.append(Notice("partial", "info", loc.t("status.partially_shipped"), (loc.t("partial.text"),)))
    return notices


def _parcel_notices(order: Order, loc: Localizer) -> list[Notice]:
    """A parcel that needs a person (returned, lost, an exception, stalled), or the customer."""
    notices = []
    for shipment in order.shipments:
        if shipment.delivered_at is not None:
            continue
        latest = shipment.events[-1].status if shipment.events else None
        if shipment.needs_attention or shipment.exception:
            reason = shipment.attention_reason or "exception"
            notices.append(Notice("problem", "danger", loc.t("problem.title"), (loc.t(f"problem.{reason}"),)))
        elif latest == "available_for_pickup":
            place = next((e.location for e in reversed(shipment.events) if e.location), None)
            text = loc.t("pickup.text_at", location=place) if place else loc.t("pickup.text")
            notices.append(Notice("pickup", "info", loc.t("pickup.title"), (text,)))
        elif latest == "attempt_failed":
            notices.append(Notice("attempt", "warning", loc.t("attempt.title"), (loc.t("attempt.text"),)))
    return notices


def _cancelled_notice(order: Order, loc: Localizer) -> Notice:
    lines = []
    if order.cancelled_at is not None:
        lines.append(loc.t("cancelled.text", date=loc.date(order.cancelled_at)))
    paid = sum(payment.amount for payment in order.payments)
    refunded = sum(refund.amount for refund in order.refunds)
    if refunded:
        lines.append(loc.t("cancelled.refunded", amount=loc.money(refunded, order.currency)))
    if paid > refunded:
        lines.append(loc.t("cancelled.refund_pending", amount=loc.money(paid - refunded, order.currency)))
    if not paid:
        lines.append(loc.t("cancelled.unpaid"))
    return Notice("cancelled", "danger", loc.t("cancelled.title"), tuple(lines))


# --- shipments -------------------------------------------------------------------------------


def _shipment_view(order: Order, shipment: Shipment, index: int, loc: Localizer) -> ShipmentView:
    name = carrier_name(shipment.carrier)
    names = {line.sku: line.name or line.sku for line in order.lines}
    events = [
        EventView(
            loc.t(f"event.{event.status}"),
            loc.date_time(event.occurred_at),
            _iso(event.occurred_at),
            event.status,
        )
        for event in shipment.events
        if event.status in CARRIER_EVENT_KEYS
    ]
    events.append(
        EventView(
            loc.t("event.shipped", carrier=name),
            loc.date_time(shipment.shipped_at),
            _iso(shipment.shipped_at),
            "shipped",
        )
    )
    events.sort(key=lambda event: event.iso, reverse=True)
    status_key = shipment.attention_reason or ("exception" if shipment.exception else shipment.status)
    status_label = loc.t("event.shipped", carrier=name) if status_key == "shipped" else loc.t(f"event.{status_key}")
    expected = None
    if shipment.delivered_at is None and shipment.estimated_delivery is not None:
        expected = loc.t("parcel.expected", date=loc.date(shipment.estimated_delivery))
    delivered = None
    if shipment.delivered_at is not None:
        delivered = loc.t("parcel.delivered", date=loc.date_time(shipment.delivered_at))
    return ShipmentView(
        heading=loc.t("parcel.heading", n=index),
        carrier=name,
        tracking_number=shipment.tracking_number,
        carrier_url=tracking_link(shipment.carrier, shipment.tracking_number),
        carrier_link_label=loc.t("parcel.carrier_link", carrier=name),
        status_key=status_key,
        status_label=status_label,
        contents=tuple(
            loc.t("item.line", quantity=line.quantity, name=names.get(line.sku, line.sku)) for line in shipment.lines
        ),
        expected=expected,
        delivered=delivered,
        events=tuple(events[:MAX_EVENTS_SHOWN]),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
