"""The order aggregate: its data, its status transition table, its domain events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.address import Address
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.carriers import CARRIER_STATUSES, SHIPMENT_PROGRESS, normalise_carrier
from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.domain.money import PricedLine, Totals, compute_totals
from chalicelib.domain.order_numbers import legacy_reference
from chalicelib.domain.order_status import OrderStatus as OrderStatus  # its own module: routes document it

S = OrderStatus
# Every allowed move; anything else is refused (409). A partial shipment may be
# followed by more partial shipments; a carrier may report delivery without an
# "out for delivery" scan first.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.PLACED: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.PROCESSING, S.CANCELLED}),
    S.PROCESSING: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED, S.CANCELLED}),
    S.PARTIALLY_SHIPPED: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED}),
    S.SHIPPED: frozenset({S.OUT_FOR_DELIVERY, S.DELIVERED}),
    S.OUT_FOR_DELIVERY: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
}


class SlaState(StrEnum):
    """Where a promise (shipping or delivery) stands."""

    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    MET = "met"


SHIPPING, DELIVERY = "shipping", "delivery"
NOT_SHIPPED = (S.PLACED, S.PAID, S.PROCESSING, S.PARTIALLY_SHIPPED)
NOT_DELIVERED = (*NOT_SHIPPED, S.SHIPPED, S.OUT_FOR_DELIVERY)
OPEN_SLA = (SlaState.ON_TRACK, SlaState.AT_RISK)


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"


class OrderOnHoldError(ConflictError):
    code = "order_on_hold"


# Holds that record a human judgement: once an agent releases them, re-checks do
# not raise them again. Stock and unknown-SKU holds are facts and are re-checked.
WAIVABLE_HOLDS = frozenset({"price_mismatch", "invalid_address", "unsupported_country"})
MAX_CARRIER_EVENTS = 50
STALLED = "stalled"  # the attention reason of a parcel the carrier has gone quiet about
MAX_PAYMENT = 10**11  # minor units: the largest payment the API takes (well below 2**53)


@dataclass(frozen=True)
class Customer:
    id: str
    email: str
    name: str
    phone: str | None = None
    locale: str = "en"
    company: str | None = None  # a business customer's legal name (printed as the buyer)
    vat_id: str | None = None  # its VAT identification number (BT-48), format-checked at placement


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: int
    tax_rate_bps: int
    name: str = ""

    @property
    def line_total(self) -> int:
        return self.quantity * self.unit_price

    def priced(self) -> PricedLine:
        return PricedLine(self.sku, self.quantity, self.unit_price, self.tax_rate_bps)


@dataclass(frozen=True)
class Discount:
    code: str
    amount: int


@dataclass(frozen=True)
class Hold:
    """A failed accuracy check; the order cannot progress until it is released."""

    code: str
    detail: str
    sku: str | None = None


@dataclass(frozen=True)
class Payment:
    amount: int
    method: str
    provider_ref: str
    paid_at: datetime
    source: str = "api"


@dataclass(frozen=True)
class Refund:
    amount: int
    provider_ref: str
    refunded_at: datetime
    event_id: str


@dataclass(frozen=True)
class PaymentFailure:
    """A provider's failed payment attempt: no state change, kept so the stream can tell subscribers."""

    event_id: str
    provider_ref: str
    reason: str | None
    at: datetime


MAX_PAYMENT_FAILURES = 10  # the newest kept on the order (the timeline keeps every one)


@dataclass(frozen=True)
class ShipmentLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class CarrierEvent:
    status: str
    occurred_at: datetime
    event_id: str
    estimated_delivery: datetime | None = None
    detail: str | None = None  # the carrier's own words, kept as reported
    location: str | None = None  # e.g. the pickup point
    # A provider's own words for the status (AfterShip's tag and subtag), kept as sent; None
    # for the native webhook, whose `status` is already the carrier's raw status.
    tag: str | None = None
    subtag: str | None = None


@dataclass
class Shipment:
    id: str
    carrier: str
    tracking_number: str
    lines: list[ShipmentLine]
    shipped_at: datetime
    status: str = "shipped"
    exception: bool = False
    estimated_delivery: datetime | None = None
    delivered_at: datetime | None = None
    events: list[CarrierEvent] = field(default_factory=list)
    # Needs a person (returned to sender, lost, an exception, or stalled): see domain/carriers.py.
    needs_attention: bool = False
    attention_reason: str | None = None
    notices: list[str] = field(default_factory=list)  # customer notices due (attempt_failed, …), once each

    @property
    def last_scan_at(self) -> datetime:
        """When the carrier last reported the parcel (its own time, never before the shipment)."""
        return max((max(e.occurred_at, self.shipped_at) for e in self.events), default=self.shipped_at)

    @property
    def stalled(self) -> bool:
        return self.needs_attention and self.attention_reason == STALLED


@dataclass(frozen=True)
class DomainEvent:
    kind: str
    at: datetime
    actor: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Order:
    id: str
    customer: Customer
    currency: str
    lines: list[OrderLine]
    shipping_address: Address
    shipping_method: str
    shipping_fee: int
    discounts: list[Discount]
    placed_at: datetime
    ship_by: datetime
    deliver_by: datetime
    status: OrderStatus = OrderStatus.PLACED
    # The human number customers see (domain/order_numbers.py); None only for orders
    # placed before numbers existed.
    number: str | None = None
    holds: list[Hold] = field(default_factory=list)
    waivers: list[Hold] = field(default_factory=list)
    shipments: list[Shipment] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    payment_failures: list[PaymentFailure] = field(default_factory=list)
    # Milestones kept for the KPIs (shipped within 2 business days, delivered by the promise).
    paid_at: datetime | None = None
    processing_at: datetime | None = None
    first_shipped_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    ship_by_met: bool | None = None
    deliver_by_met: bool | None = None
    revised_deliver_by: datetime | None = None
    # The promise made at placement, which the KPIs judge by (a re-promise on a late payment moves
    # ship_by / deliver_by, not these); None on orders placed before it was kept on the order.
    promised_ship_by: datetime | None = None
    promised_deliver_by: datetime | None = None
    # Promise tracking (see domain/sla.py): on_track | at_risk | breached | met.
    sla_shipping: SlaState = SlaState.ON_TRACK
    sla_delivery: SlaState = SlaState.ON_TRACK
    billing_address: Address | None = None  # None: the shipping address
    buyer_reference: str | None = None  # BT-10 (e.g. a German Leitweg-ID), printed and in the e-invoice
    replaces_order_id: str | None = None  # an exchange's replacement order: the order it replaces
    version: int = 0
    events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    @property
    def totals(self) -> Totals:
        return compute_totals(
            [line.priced() for line in self.lines],
            sum(discount.amount for discount in self.discounts),
            self.shipping_fee,
        )

    @property
    def reference(self) -> str:
        """The one order reference a customer ever sees."""
        return self.number or legacy_reference(self.id)

    @property
    def is_on_hold(self) -> bool:
        return bool(self.holds)

    def can_transition(self, target: OrderStatus) -> bool:
        return target in TRANSITIONS[self.status]

    def ensure_can(self, target: OrderStatus) -> None:
        """Raise IllegalTransitionError unless the order may move to `target` (shipping: or ship again)."""
        if target == OrderStatus.SHIPPED and self.status == OrderStatus.PARTIALLY_SHIPPED:
            return
        if not self.can_transition(target):
            self.transition(target, self.placed_at, "check")  # raises, naming the current status

    def transition(self, target: OrderStatus, at: datetime, actor: str, **data: Any) -> None:
        """Move to `target` or raise IllegalTransitionError naming the current status."""
        if not self.can_transition(target):
            raise IllegalTransitionError(
                f"cannot move order from '{self.status}' to '{target}'",
                details=[{"current_status": str(self.status), "requested_status": str(target)}],
            )
        previous, self.status = self.status, target
        self.events.append(DomainEvent("status_changed", at, actor, {"from": str(previous), "to": str(target), **data}))

    def record_event(self, kind: str, at: datetime, actor: str, **data: Any) -> None:
        self.events.append(DomainEvent(kind, at, actor, data))

    # --- payment and cancellation ---------------------------------------------------

    def record_payment(self, payment: Payment, calendar: BusinessCalendar, actor: str) -> None:
        """Mark the order paid; if the payment lands on a later start day, re-promise."""
        if not self.can_transition(OrderStatus.PAID):
            self.transition(OrderStatus.PAID, payment.paid_at, actor)  # raises with the status
        if payment.amount != self.totals.total:
            raise ValidationError(
                f"amount {payment.amount} does not equal the order total {self.totals.total}",
                details=[{"field": "amount", "expected": self.totals.total}],
                code="amount_mismatch",
            )
        self.transition(
            OrderStatus.PAID,
            payment.paid_at,
            actor,
            amount=payment.amount,
            method=payment.method,
            provider_ref=payment.provider_ref,
        )
        self.payments.append(payment)
        self.paid_at = payment.paid_at
        if calendar.start_day(payment.paid_at) > calendar.start_day(self.placed_at):
            promise = calendar.promise(payment.paid_at, self.shipping_method)
            self.record_event(
                "promise_revised",
                payment.paid_at,
                actor,
                reason="paid on a later business day",
                previous_ship_by=_iso(self.ship_by),
                previous_deliver_by=_iso(self.deliver_by),
                ship_by=_iso(promise.ship_by),
                deliver_by=_iso(promise.deliver_by),
            )
            self.ship_by, self.deliver_by = promise.ship_by, promise.deliver_by

    def has_payment(self, provider_ref: str) -> bool:
        return any(payment.provider_ref == provider_ref for payment in self.payments)

    def record_refund(self, refund: Refund, actor: str) -> None:
        paid = sum(payment.amount for payment in self.payments)
        refunded = sum(existing.amount for existing in self.refunds)
        if refund.amount <= 0 or refund.amount > paid - refunded:
            raise ValidationError(
                f"refund of {refund.amount} exceeds what is left to refund ({paid - refunded})",
                details=[{"field": "amount", "refundable": paid - refunded}],
                code="refund_exceeds_payment",
            )
        self.refunds.append(refund)
        self.record_event("refunded", refund.refunded_at, actor, amount=refund.amount, provider_ref=refund.provider_ref)

    def record_payment_failure(self, failure: PaymentFailure, actor: str) -> None:
        """A failed attempt goes on the timeline; the order's status and holds stay as they are."""
        self.payment_failures = [*self.payment_failures, failure][-MAX_PAYMENT_FAILURES:]
        self.record_event("payment_failed", failure.at, actor, provider_ref=failure.provider_ref, reason=failure.reason)

    def cancel(self, at: datetime, actor: str, reason: str) -> None:
        self.transition(OrderStatus.CANCELLED, at, actor, reason=reason)
        self.cancelled_at = at

    # --- accuracy holds -------------------------------------------------------------

    def apply_checks(self, found: list[Hold], at: datetime, actor: str) -> bool:
        """Replace the holds with a fresh check's result (minus waivers); True if they changed."""
        waived = {(w.code, w.sku) for w in self.waivers}
        fresh = list({(h.code, h.sku): h for h in found if (h.code, h.sku) not in waived}.values())
        before = {(h.code, h.sku) for h in self.holds}
        after = {(h.code, h.sku) for h in fresh}
        for hold in fresh:
            if (hold.code, hold.sku) not in before:
                self.record_event("hold_added", at, actor, code=hold.code, detail=hold.detail, sku=hold.sku)
        for hold in self.holds:
            if (hold.code, hold.sku) not in after:
                self.record_event("hold_cleared", at, actor, code=hold.code, sku=hold.sku)
        changed = before != after
        self.holds = fresh
        return changed

    def ensure_shippable_to(self, address_holds: list[Hold]) -> None:
        """Refuse a shipment whose address fails today's checks (unless an agent waived it)."""
        waived = {(w.code, w.sku) for w in self.waivers}
        failing = [hold for hold in address_holds if (hold.code, hold.sku) not in waived]
        if failing:
            raise OrderOnHoldError(
                "the shipping address fails the accuracy checks",
                details=[{"code": h.code, "detail": h.detail} for h in failing],
            )

    def ensure_not_on_hold(self) -> None:
        if self.holds:
            raise OrderOnHoldError(
                "the order is on hold; release its holds after review first",
                details=[{"code": h.code, "detail": h.detail, "sku": h.sku} for h in self.holds],
            )

    def release_hold(self, code: str, reason: str, at: datetime, actor: str) -> None:
        released = [hold for hold in self.holds if hold.code == code]
        if not released:
            raise NotFoundError(f"the order has no '{code}' hold")
        self.holds = [hold for hold in self.holds if hold.code != code]
        if code in WAIVABLE_HOLDS:
            self.waivers.extend(released)
        self.record_event("hold_released", at, actor, code=code, reason=reason, skus=[h.sku for h in released if h.sku])

    def start_processing(self, at: datetime, actor: str) -> None:
        if not self.can_transition(OrderStatus.PROCESSING):
            self.transition(OrderStatus.PROCESSING, at, actor)  # raises with the status
        self.ensure_not_on_hold()
        self.transition(OrderStatus.PROCESSING, at, actor)
        self.processing_at = at

    # --- shipments ------------------------------------------------------------------

    def unshipped(self) -> dict[str, int]:
        """Units still to ship, per SKU."""
        remaining = {line.sku: line.quantity for line in self.lines}
        for shipment in self.shipments:
            for line in shipment.lines:
                remaining[line.sku] -= line.quantity
        return {sku: quantity for sku, quantity in remaining.items() if quantity > 0}

    def lines_to_ship(self, requested: list[ShipmentLine] | None) -> list[ShipmentLine]:
        """Validate a shipment's lines (default: everything unshipped)."""
        remaining = self.unshipped()
        if requested is None:
            return [ShipmentLine(sku, quantity) for sku, quantity in remaining.items()]
        problems = []
        for line in requested:
            if line.quantity > remaining.get(line.sku, 0):
                problems.append({"sku": line.sku, "requested": line.quantity, "unshipped": remaining.get(line.sku, 0)})
        if problems:
            raise ValidationError(
                "a shipment cannot carry more than is left to ship", details=problems, code="over_shipment"
            )
        return requested

    def ship(
        self,
        shipment_id: str,
        carrier: str,
        tracking_number: str,
        lines: list[ShipmentLine],
        at: datetime,
        actor: str,
    ) -> Shipment:
        """Add a shipment; the order becomes partially_shipped or shipped."""
        if self.status not in (OrderStatus.PROCESSING, OrderStatus.PARTIALLY_SHIPPED):
            self.transition(OrderStatus.SHIPPED, at, actor)  # raises with the status
        self.ensure_not_on_hold()
        if not lines:
            raise ConflictError("nothing is left to ship", code="nothing_to_ship")
        shipment = Shipment(shipment_id, normalise_carrier(carrier), tracking_number, lines, at)
        self.shipments.append(shipment)
        complete = not self.unshipped()
        self.transition(
            OrderStatus.SHIPPED if complete else OrderStatus.PARTIALLY_SHIPPED,
            at,
            actor,
            shipment_id=shipment_id,
        )
        self.record_event(
            "shipment_created",
            at,
            actor,
            shipment_id=shipment_id,
            carrier=shipment.carrier,
            tracking_number=tracking_number,
            lines=[vars(line) for line in lines],
        )
        self.first_shipped_at = self.first_shipped_at or at
        if complete:
            self.shipped_at = at
            self.ship_by_met = at <= self.ship_by
            self.sla_shipping = SlaState.MET if self.ship_by_met else SlaState.BREACHED
        return shipment

    def shipment_by_tracking(self, tracking_number: str) -> Shipment:
        for shipment in self.shipments:
            if shipment.tracking_number == tracking_number:
                return shipment
        raise NotFoundError(f"no shipment with tracking number '{tracking_number}'")

    def carrier_update(self, tracking_number: str, event: CarrierEvent, actor: str) -> None:
        """Apply a carrier scan to its shipment and, through it, to the order.

        A scan reported as happening before OrderCare recorded the shipment (carrier clocks
        and back-dated imports do that) is kept with the carrier's time as reported, but the
        order's own milestones use the shipment time: `delivered_at` never precedes `shipped_at`,
        so no duration computed from them is negative.
        """
        shipment = self.shipment_by_tracking(tracking_number)
        shipment.events = [*shipment.events, event][-MAX_CARRIER_EVENTS:]
        effective_at = max(event.occurred_at, shipment.shipped_at)
        self.record_event(
            "carrier_event",
            effective_at,
            actor,
            shipment_id=shipment.id,
            tracking_number=tracking_number,
            status=event.status,
            occurred_at=_iso(event.occurred_at),
            estimated_delivery=_iso(event.estimated_delivery),
            **{
                name: value
                for name, value in (
                    ("detail", event.detail),
                    ("location", event.location),
                    ("tag", event.tag),
                    ("subtag", event.subtag),
                )
                if value
            },
        )
        if shipment.stalled:  # the carrier spoke again: the stall is over (and its timer re-arms)
            shipment.needs_attention, shipment.attention_reason = False, None
            self.record_event(
                "shipment_stall_cleared", effective_at, actor, shipment_id=shipment.id, status=event.status
            )
        rule = CARRIER_STATUSES[event.status]
        if rule.notify and event.status not in shipment.notices:
            shipment.notices = [*shipment.notices, event.status]  # the milestone fires once
        if rule.attention:
            shipment.exception = shipment.exception or event.status == "exception"
            if not shipment.needs_attention:
                shipment.needs_attention, shipment.attention_reason = True, event.status
                self.record_event(
                    "shipment_needs_attention", effective_at, actor, shipment_id=shipment.id, reason=event.status
                )
            return
        if event.estimated_delivery is not None:
            shipment.estimated_delivery = event.estimated_delivery
            self._revise_estimate(event, effective_at, actor)
        if rule.progress is None or SHIPMENT_PROGRESS[rule.progress] <= SHIPMENT_PROGRESS[shipment.status]:
            return  # late or repeated scans never move a parcel backwards
        shipment.status, shipment.exception = rule.progress, False
        # Moving on again settles an exception; a returned or lost parcel waits for a person (or delivery).
        if shipment.attention_reason == "exception" or event.status == "delivered":
            shipment.needs_attention, shipment.attention_reason = False, None
        if event.status == "delivered":
            shipment.delivered_at = effective_at
        self._advance_from_shipments(effective_at, actor)

    def flag_stalled(self, shipment_id: str, at: datetime, actor: str, **data: Any) -> bool:
        """The carrier has gone quiet about a parcel: it needs a person, once.

        The one command for a stall, whoever noticed it (the sweep's stall timer, AfterShip's
        `Expired`). False when there is nothing to flag: the parcel is delivered, already
        needs a person (returned, lost, an exception, stalled), or is not this order's."""
        shipment = next((s for s in self.shipments if s.id == shipment_id), None)
        if shipment is None or shipment.delivered_at is not None or shipment.needs_attention:
            return False
        shipment.needs_attention, shipment.attention_reason = True, STALLED
        self.record_event(
            "shipment_needs_attention",
            at,
            actor,
            shipment_id=shipment.id,
            reason=STALLED,
            last_scan_at=_iso(shipment.last_scan_at),
            **data,
        )
        return True

    def _revise_estimate(self, event: CarrierEvent, at: datetime, actor: str) -> None:
        latest = max(s.estimated_delivery for s in self.shipments if s.estimated_delivery is not None)
        if latest > self.deliver_by and latest != self.revised_deliver_by:
            self.revised_deliver_by = latest
            self.record_event(
                "delivery_estimate_revised",
                at,
                actor,
                deliver_by=_iso(self.deliver_by),
                estimated_delivery=_iso(latest),
                reason=f"carrier reported '{event.status}'",
            )

    def _advance_from_shipments(self, at: datetime, actor: str) -> None:
        fully_shipped = self.status in (OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY)
        if fully_shipped and all(s.status == "delivered" for s in self.shipments):
            self.transition(OrderStatus.DELIVERED, at, actor)
            self.delivered_at = at
            self.deliver_by_met = at <= self.deliver_by
            self.sla_delivery = SlaState.MET if self.deliver_by_met else SlaState.BREACHED
        elif self.status == OrderStatus.SHIPPED and any(s.status == "out_for_delivery" for s in self.shipments):
            self.transition(OrderStatus.OUT_FOR_DELIVERY, at, actor)

    # --- promises (SLA) --------------------------------------------------------------

    def flag_sla(
        self, promise: str, state: SlaState, at: datetime, *, due_at: datetime, estimate: datetime | None = None
    ) -> bool:
        """A promise's deadline (or its "at risk" point) passed: record it, once.

        False when the order has moved on (shipped, delivered, already flagged): the
        timer is stale. A broken shipping promise puts the delivery promise at risk
        too; `estimate` (when a breach makes a later delivery likely) only ever moves
        the revised estimate later."""
        shipping = promise == SHIPPING
        current = self.sla_shipping if shipping else self.sla_delivery
        if self.status not in (NOT_SHIPPED if shipping else NOT_DELIVERED) or current not in OPEN_SLA:
            return False
        if state == SlaState.AT_RISK and current != SlaState.ON_TRACK:
            return False
        if shipping:
            self.sla_shipping = state
            if state == SlaState.BREACHED and self.sla_delivery == SlaState.ON_TRACK:
                self.sla_delivery = SlaState.AT_RISK
        else:
            self.sla_delivery = state
        if estimate is not None and (self.revised_deliver_by is not None and estimate <= self.revised_deliver_by):
            estimate = None  # no news: the estimate already said as much
        if estimate is not None:
            self.revised_deliver_by = estimate
        self.record_event(
            f"sla_{state}", at, "sla_sweep", promise=promise, due_at=_iso(due_at), new_estimate=_iso(estimate)
        )
        return True

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        customer: Customer,
        currency: str,
        lines: Sequence[OrderLine],
        shipping_address: Address,
        shipping_method: str,
        shipping_fee: int,
        discounts: Sequence[Discount],
        placed_at: datetime,
        ship_by: datetime,
        deliver_by: datetime,
        holds: Sequence[Hold],
        actor: str,
        billing_address: Address | None = None,
        buyer_reference: str | None = None,
        number: str | None = None,
    ) -> Order:
        """A new order in status `placed`, with its holds and a `placed` event."""
        subtotal = sum(line.line_total for line in lines)
        if sum(discount.amount for discount in discounts) > subtotal:
            raise ValidationError(
                "discounts exceed the order's subtotal", details=[{"field": "discounts", "subtotal": subtotal}]
            )
        order = cls(
            id=order_id,
            customer=customer,
            currency=currency,
            lines=list(lines),
            shipping_address=shipping_address,
            shipping_method=shipping_method,
            shipping_fee=shipping_fee,
            discounts=list(discounts),
            placed_at=placed_at,
            ship_by=ship_by,
            deliver_by=deliver_by,
            promised_ship_by=ship_by,
            promised_deliver_by=deliver_by,
            holds=list(holds),
            billing_address=billing_address,
            buyer_reference=buyer_reference,
            number=number,
        )
        if order.totals.total > MAX_PAYMENT:  # it could never be paid (nor held exactly in a JSON number)
            raise ValidationError(
                f"the order's total exceeds the largest payment ({MAX_PAYMENT} minor units)",
                details=[{"field": "total", "maximum": MAX_PAYMENT}],
                code="order_total_too_large",
            )
        order.record_event("placed", placed_at, actor, status=str(order.status), number=number)
        for hold in holds:
            order.record_event("hold_added", placed_at, actor, code=hold.code, detail=hold.detail, sku=hold.sku)
        return order


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def owned_order(order: Order | None, customer_id: str | None = None) -> Order:
    """The order as its reader may see it: for a customer (`customer_id`) only their own. A missing
    order and another customer's look the same (404), so ids cannot be probed."""
    if order is None or (customer_id is not None and order.customer.id != customer_id):
        raise NotFoundError("order not found")
    return order
