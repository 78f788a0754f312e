"""Order use cases: place, pay, process, hold/release, ship, carrier and payment events, read.

Every change is read → domain method → one conditional TransactWriteItems
(order version + timeline + idempotency/webhook/stock records). A lost race is
retried from a fresh read a few times; what is still illegal then is a 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.accuracy import (
    INSUFFICIENT_STOCK,
    CatalogExpectation,
    catalog_expectations,
    check_address,
    check_order,
)
from chalicelib.domain.address import Address
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.errors import ConflictError, NotFoundError, OrderCareError, ValidationError
from chalicelib.domain.ids import has_prefix, new_id
from chalicelib.domain.order_numbers import new_order_number, parse_order_number
from chalicelib.domain.orders import (
    CarrierEvent,
    Customer,
    Discount,
    Hold,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentFailure,
    Refund,
    Shipment,
    ShipmentLine,
    owned_order,
)
from chalicelib.domain.signing import sign, verify
from chalicelib.domain.timeline import customer_view
from chalicelib.services.ports import (
    CatalogChangedError,
    CatalogRepository,
    Clock,
    DuplicateEventError,
    Effects,
    IdempotencyKeyTakenError,
    IdempotencyStore,
    OrderNumberTakenError,
    OrderRepository,
    StaleVersionError,
    StockShortError,
    StoredResponse,
    TimelineEntry,
)

ATTEMPTS = 3  # reads+writes per change before a lost race is reported as 409
CARRIER_CLOCK_SKEW = timedelta(seconds=300)  # how far ahead of our clock a carrier scan may claim to be
NUMBER_ATTEMPTS = 8  # draws of an order number before placement gives up (each is a conditional claim)
# Most lines whose checks ride on the write as conditions (one item each; a transaction holds 100 items,
# the order, its timeline entries and effects among them); a longer order reads its catalogue first.
CONDITIONED_LINES = 80


@dataclass(frozen=True)
class PlaceOrder:
    customer: Customer
    currency: str
    lines: list[tuple[str, int, int]]  # sku, quantity, unit_price
    shipping_address: Address
    shipping_method: str
    shipping_fee: int
    discounts: list[Discount]
    billing_address: Address | None = None  # None: bill to the shipping address
    buyer_reference: str | None = None


Presenter = Callable[[Order], dict[str, Any]]


@dataclass(frozen=True)
class IdempotentRequest:
    principal: str
    key: str
    body: Any  # the parsed request body, hashed canonically

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Reply:
    """An idempotent request being answered: the response is stored in the change's own transaction."""

    request: IdempotentRequest
    present: Presenter
    status: int
    body: dict[str, Any] | None = None  # what the request answers, set when the change is written


@dataclass(frozen=True)
class CarrierUpdate:
    event_id: str
    tracking_number: str
    status: str
    occurred_at: datetime
    estimated_delivery: datetime | None
    detail: str | None = None
    location: str | None = None
    tag: str | None = None  # a provider's raw tag and subtag (AfterShip), kept on the carrier event
    subtag: str | None = None


@dataclass(frozen=True)
class StallReport:
    """A provider saying it has heard nothing about a parcel for too long (AfterShip's `Expired`)."""

    event_id: str
    tracking_number: str
    tag: str
    subtag: str | None = None


class _NothingToFlag(Exception):
    """Internal: the parcel needs no stall flag (nothing is written)."""


@dataclass(frozen=True)
class PaymentEvent:
    event_id: str
    order_id: str
    amount: int
    provider_ref: str
    status: str  # succeeded | refunded | failed (providers' failed attempts: timeline only)
    currency: str | None = None  # given by providers (Stripe): a mismatch holds the order instead of paying it
    reason: str | None = None  # why a payment failed


class Cursors:
    """Signed continuation tokens: a cursor only continues the list it was issued for."""

    def __init__(self, secrets: Callable[[], tuple[str, ...]]):
        self.secrets = secrets  # read per use: secrets rotate

    def encode(self, scope: str, key: dict[str, Any] | None) -> str | None:
        return sign({"s": scope, "k": key}, self.secrets()[0]) if key else None

    def decode(self, scope: str, cursor: str | None) -> dict[str, Any] | None:
        if cursor is None:
            return None
        payload = verify(cursor, self.secrets())
        if payload is None or payload.get("s") != scope or not isinstance(payload.get("k"), dict):
            raise ValidationError("invalid cursor", details=[{"field": "cursor"}], code="invalid_cursor")
        key: dict[str, Any] = payload["k"]
        return key


@dataclass
class OrderService:
    orders: OrderRepository
    catalog: CatalogRepository
    idempotency: IdempotencyStore
    calendar: BusinessCalendar
    clock: Clock
    supported_countries: tuple[str, ...]
    idempotency_ttl: timedelta
    cursors: Cursors
    numbers: Callable[[], str] = new_order_number  # injected by tests to force collisions

    # --- placing -------------------------------------------------------------------

    def place(
        self, command: PlaceOrder, request: IdempotentRequest, actor: str, present: Presenter
    ) -> tuple[int, dict[str, Any]]:
        """Place an order; a retried request gets the original response back.

        The idempotency record is read with the catalogue (one round trip): a retry is answered
        from it without writing; a retry racing its first attempt loses the write on the key
        and is answered from the record then."""
        now = self.clock.now()
        skus = (sku for sku, _, _ in command.lines)
        stored, catalog = self.idempotency.get_with_catalog(request.principal, request.key, skus)
        if stored is not None:
            from chalicelib.services.idempotency import replay

            return replay(self.idempotency, request, stored)
        lines = [
            OrderLine(
                sku=sku,
                quantity=quantity,
                unit_price=unit_price,
                tax_rate_bps=catalog[sku].tax_rate_bps if sku in catalog else 0,
                name=catalog[sku].name if sku in catalog else "",
            )
            for sku, quantity, unit_price in command.lines
        ]
        promise = self.calendar.promise(now, command.shipping_method)
        holds = check_order(lines, catalog, command.currency, command.shipping_address, self.supported_countries)
        order_id = new_id("ord", now)
        for _ in range(NUMBER_ATTEMPTS):
            order = Order.place(
                order_id=order_id,
                number=self.numbers(),
                customer=command.customer,
                currency=command.currency,
                lines=lines,
                shipping_address=command.shipping_address,
                shipping_method=command.shipping_method,
                shipping_fee=command.shipping_fee,
                discounts=command.discounts,
                placed_at=now,
                ship_by=promise.ship_by,
                deliver_by=promise.deliver_by,
                holds=holds,
                actor=actor,
                billing_address=command.billing_address,
                buyer_reference=command.buyer_reference,
            )
            body = present(replace(order, version=1))  # the version the first write stores
            try:
                self.orders.add(order, self.stored(request, 201, body))
            except IdempotencyKeyTakenError:
                return self.replay(request)
            except OrderNumberTakenError:
                continue  # another order holds this number: draw again
            return 201, body
        raise ConflictError("could not assign an order number; retry", code="order_number_unavailable")

    def stored(self, request: IdempotentRequest, status: int, body: dict[str, Any]) -> StoredResponse:
        return StoredResponse(
            principal=request.principal,
            key=request.key,
            request_hash=request.fingerprint,
            status_code=status,
            body=body,
            expires_at=self.clock.now() + self.idempotency_ttl,
        )

    def replay(self, request: IdempotentRequest, stored: StoredResponse | None = None) -> tuple[int, dict[str, Any]]:
        """The stored response for a key already used (read unless given), or 409 if the body differs."""
        from chalicelib.services.idempotency import replay

        return replay(self.idempotency, request, stored)

    def stored_about(
        self, request: IdempotentRequest | None, order_id: str | None, *, customer_id: str | None = None
    ) -> StoredResponse | None:
        """For a request about an order (feedback on it): 404 unless the order exists (and is the
        customer's), and the response stored under the request's key if it is a retry — one read."""
        if order_id is None:
            return self.idempotency.get(request.principal, request.key) if request is not None else None
        if request is None:
            self.get(order_id, customer_id=customer_id)
            return None
        stored, order = (None, None)
        if has_prefix(order_id, "ord"):
            stored, order = self.idempotency.get_with_order(request.principal, request.key, order_id)
        owned_order(order, customer_id)
        return stored

    # --- reading -------------------------------------------------------------------

    def get(self, order_id: str, *, customer_id: str | None = None) -> Order:
        """The order; for customers (`customer_id` given) only their own — otherwise 404."""
        return owned_order(self.orders.get(order_id) if has_prefix(order_id, "ord") else None, customer_id)

    def find_by_number(self, text: str, *, customer_id: str | None = None) -> Order | None:
        """The order with this human number (as typed: any case, with or without '-'); for a
        customer only their own. One round trip."""
        number = parse_order_number(text)
        if number is None:
            raise ValidationError(
                "not an order number (8 characters such as K7QM-R3TE; the last one is a check character)",
                details=[{"field": "number"}],
                code="invalid_order_number",
            )
        order = self.orders.find_by_number(number)
        if order is None or (customer_id is not None and order.customer.id != customer_id):
            return None
        return order

    def list_for_customer(
        self, customer_id: str, *, limit: int, cursor: str | None, status: str | None
    ) -> tuple[list[Order], str | None]:
        scope = f"orders:{customer_id}:{status or ''}"
        page = self.orders.list_for_customer(
            customer_id, limit=limit, start=self.cursors.decode(scope, cursor), status=status
        )
        return page.items, self.cursors.encode(scope, page.last_key)

    def list_for_email(
        self, email: str, *, limit: int, cursor: str | None, status: str | None
    ) -> tuple[list[Order], str | None]:
        """Staff: every order placed with this address (case and surrounding spaces ignored), newest first."""
        from chalicelib.domain.sessions import email_key, normalise_email

        address = normalise_email(email)
        if address is None:
            raise ValidationError("email is not an email address", details=[{"field": "email"}])
        scope = f"orders-email:{email_key(address)}:{status or ''}"  # a cursor names no address
        page = self.orders.list_for_email(address, limit=limit, start=self.cursors.decode(scope, cursor), status=status)
        return page.items, self.cursors.encode(scope, page.last_key)

    def timeline(
        self, order_id: str, *, customer_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[TimelineEntry], str | None]:
        """A page of the order's timeline, oldest first, for its owner or staff."""
        if not has_prefix(order_id, "ord"):
            raise NotFoundError("order not found")
        # The cursor's scope carries the owner checked on the first page.
        owner = customer_id or "*"
        scope = f"timeline:{order_id}:{owner}"
        start = self.cursors.decode(scope, cursor)
        order, page = self.orders.timeline(order_id, limit=limit, start=start)
        if start is None:
            owned_order(order, customer_id)
        entries = page.items
        if customer_id is not None:  # an allowlist: only the kinds and fields meant for customers
            entries = [shown for e in entries if (shown := customer_view(e)) is not None]
        return entries, self.cursors.encode(scope, page.last_key)

    # --- changing ------------------------------------------------------------------

    def _change(
        self,
        order_id: str,
        change: Callable[[Order], Effects],
        *,
        customer_id: str | None = None,
        reply: Reply | None = None,
    ) -> Order:
        """Read, apply, write conditionally on the version read; retry a lost race.

        With a `reply`, the request's response is written in the same transaction."""
        for attempt in range(ATTEMPTS):
            order = self.get(order_id, customer_id=customer_id)
            effects = change(order)
            if reply is not None and effects.answer:
                reply.body = reply.present(replace(order, version=order.version + 1))  # the version written
                effects.response = self.stored(reply.request, reply.status, reply.body)
            try:
                self.orders.save(order, effects)
                return order
            except StaleVersionError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _change_checking_catalog(
        self,
        order_id: str,
        change: Callable[[Order, bool], Effects],
        *,
        reply: Reply | None = None,
    ) -> Order:
        """`_change` for a change that runs the processing step (`change(order, read_catalog)`): first
        with the lines' checks as conditions of the write (nothing read but the order); if the
        catalogue no longer meets one, again reading it, so the holds are check_order's to the word."""
        try:
            return self._change(order_id, lambda order: change(order, False), reply=reply)
        except CatalogChangedError:
            return self._change(order_id, lambda order: change(order, True), reply=reply)

    def answer(
        self,
        request: IdempotentRequest | None,
        present: Presenter,
        status: int,
        run: Callable[[Reply | None], Order],
    ) -> tuple[int, dict[str, Any]]:
        """Run an order change as the answer to a request. With an Idempotency-Key the
        response is written atomically with the change (one TransactWriteItems), so of
        concurrent retries exactly one changes the order and all get the same answer."""
        from chalicelib.services.idempotency import answer_once

        if request is None:
            return status, present(run(None))
        reply = Reply(request, present, status)

        def change() -> tuple[int, dict[str, Any]]:
            run(reply)
            assert reply.body is not None  # set by the write that succeeded
            return status, reply.body

        return answer_once(self.idempotency, request, change)

    def pay(
        self, order_id: str, payment: Payment, request: IdempotentRequest, actor: str, present: Presenter
    ) -> tuple[int, dict[str, Any]]:
        """Record the storefront's payment (amount must equal the total) → paid."""

        def change(order: Order) -> Effects:
            order.record_payment(payment, self.calendar, actor)
            return Effects(payment_ref=payment.provider_ref)  # so provider refunds find the order

        return self.answer(request, present, 201, lambda reply: self._change(order_id, change, reply=reply))

    def payment_event(self, event: PaymentEvent) -> str:
        """Apply a signed payment-provider event (native or translated from Stripe); returns what happened."""
        now = self.clock.now()
        outcome = "applied"

        def change(order: Order) -> Effects:
            nonlocal outcome
            effects = Effects(event_key=f"payment#{event.event_id}")
            if event.status == "refunded":
                order.record_refund(Refund(event.amount, event.provider_ref, now, event.event_id), "payment_provider")
            elif event.status == "failed":
                outcome = "recorded"
                failure = PaymentFailure(event.event_id, event.provider_ref, event.reason, now)
                order.record_payment_failure(failure, "payment_provider")
            elif order.has_payment(event.provider_ref):
                outcome = "already_recorded"
                order.record_event("payment_confirmed", now, "payment_provider", provider_ref=event.provider_ref)
            elif self._mismatch(order, event):
                outcome = "payment_mismatch"
                self._hold_for_mismatch(order, event, now)
            else:
                payment = Payment(event.amount, "provider", event.provider_ref, now, source="webhook")
                order.record_payment(payment, self.calendar, "payment_provider")
                effects.payment_ref = event.provider_ref
            return effects

        try:
            self._change(event.order_id, change)
        except DuplicateEventError:
            return "duplicate"
        except OrderCareError:
            # A replayed event fails the domain checks (e.g. a full refund again): it was applied.
            if self.orders.event_seen(f"payment#{event.event_id}"):
                return "duplicate"
            raise
        return outcome

    @staticmethod
    def _mismatch(order: Order, event: PaymentEvent) -> bool:
        if event.currency is None:
            return False  # the native webhook: record_payment rejects a wrong amount with 422
        return event.amount != order.totals.total or event.currency.upper() != order.currency

    @staticmethod
    def _hold_for_mismatch(order: Order, event: PaymentEvent, now: datetime) -> None:
        """Money arrived that is not the order's total: never mark it paid, put it in front of an agent."""
        expected = f"{order.totals.total} {order.currency}"
        received = f"{event.amount} {(event.currency or '').upper()}"
        detail = f"received {received} ({event.provider_ref}), expected {expected}"
        order.apply_checks([*order.holds, Hold("payment_mismatch", detail)], now, "payment_provider")

    def order_id_for_payment(self, provider_ref: str) -> str | None:
        """The order a provider's payment reference (e.g. a PaymentIntent id) was recorded on."""
        return self.orders.order_id_for_payment(provider_ref)

    def cancel(
        self, order_id: str, reason: str, actor: str, *, customer_id: str | None, reply: Reply | None = None
    ) -> Order:
        now = self.clock.now()

        def change(order: Order) -> Effects:
            order.cancel(now, actor, reason)
            return Effects()

        return self._change(order_id, change, customer_id=customer_id, reply=reply)

    def start_processing(self, order_id: str, actor: str, *, reply: Reply | None = None) -> Order:
        """Re-run the accuracy checks against today's catalogue, then → processing."""
        now = self.clock.now()
        on_hold: list[Hold] = []

        def change(order: Order, read_catalog: bool) -> Effects:
            on_hold.clear()
            order.ensure_can(OrderStatus.PROCESSING)  # an illegal move is reported before any check
            expected = self._process(order, now, actor, read_catalog=read_catalog)
            if order.holds:
                on_hold.extend(order.holds)  # saved, then reported as 409 below
                return Effects(answer=False, catalog=expected)
            return Effects(catalog=expected)

        order = self._change_checking_catalog(order_id, change, reply=reply)
        if on_hold:
            order.ensure_not_on_hold()
        return order

    def _process(self, order: Order, now: datetime, actor: str, *, read_catalog: bool) -> dict[str, CatalogExpectation]:
        """The processing step: re-check accuracy against today's catalogue, then → processing
        unless a check fails (the order keeps its new holds).

        Returns the lines' checks as conditions for the write to carry (Effects.catalog) in place
        of reading the catalogue; with `read_catalog`, or where conditions cannot say them, the
        catalogue is read and checked as at placement (and nothing is returned)."""
        expected = None
        if not read_catalog and len(order.lines) <= CONDITIONED_LINES:
            expected = catalog_expectations(order.lines, order.currency, order.waivers)
        if expected is None:
            catalog = self.catalog.get_many(line.sku for line in order.lines)
            holds = check_order(order.lines, catalog, order.currency, order.shipping_address, self.supported_countries)
        else:
            holds = check_address(order.shipping_address, self.supported_countries)
        order.apply_checks(holds, now, actor)
        if not order.holds:
            order.start_processing(now, actor)
        return expected or {}

    def release_hold(self, order_id: str, code: str, reason: str, actor: str, *, reply: Reply | None = None) -> Order:
        now = self.clock.now()

        def change(order: Order) -> Effects:
            order.release_hold(code, reason, now, actor)
            return Effects()

        return self._change(order_id, change, reply=reply)

    def ship(
        self,
        order_id: str,
        carrier: str,
        tracking_number: str,
        lines: list[ShipmentLine] | None,
        actor: str,
        *,
        reply: Reply | None = None,
    ) -> tuple[Order, Shipment]:
        """Add a shipment: address re-checked, stock taken out exactly once, in one transaction.

        One scan ships a `paid` order: the processing step (accuracy re-check, holds) runs
        first in the same change, so the timeline records both; a failing check saves the
        holds and answers 409 with their codes, as processing does."""
        now = self.clock.now()
        shipments: list[Shipment] = []
        on_hold: list[Hold] = []

        def change(order: Order, read_catalog: bool) -> Effects:
            shipments.clear()
            on_hold.clear()
            expected: dict[str, CatalogExpectation] = {}
            if order.status == OrderStatus.PAID and not order.holds:
                expected = self._process(order, now, actor, read_catalog=read_catalog)
                if order.holds:
                    on_hold.extend(order.holds)
                    return Effects(answer=False, catalog=expected)
            order.ensure_can(OrderStatus.SHIPPED)
            order.ensure_shippable_to(check_address(order.shipping_address, self.supported_countries))
            to_ship = order.lines_to_ship(lines)
            shipment = order.ship(new_id("shp", now), carrier, tracking_number, to_ship, now, actor)
            shipments.append(shipment)
            stock = {line.sku: line.quantity for line in to_ship}
            return Effects(tracking={tracking_number: shipment.id}, stock=stock, catalog=expected)

        try:
            order = self._change_checking_catalog(order_id, change, reply=reply)
        except StockShortError as short:
            self._hold_for_stock(order_id, short.skus, actor)
            raise
        if on_hold:
            order.ensure_not_on_hold()
        return order, shipments[0]

    def _hold_for_stock(self, order_id: str, skus: list[str], actor: str) -> None:
        """Stock ran out at shipment: put the order on hold so it shows up for review."""
        now = self.clock.now()

        def change(order: Order) -> Effects:
            found = [Hold(INSUFFICIENT_STOCK, f"'{sku}' is out of stock at shipment", sku) for sku in skus]
            order.apply_checks([*order.holds, *found], now, actor)
            return Effects()

        self._change(order_id, change)

    def carrier_event(self, update: CarrierUpdate) -> str:
        """Apply a signed carrier event to the shipment with its tracking number."""
        order_id = self.orders.order_id_for_tracking(update.tracking_number)
        if order_id is None:
            raise NotFoundError(f"unknown tracking number '{update.tracking_number}'", code="unknown_tracking_number")
        if update.occurred_at > self.clock.now() + CARRIER_CLOCK_SKEW:
            raise ValidationError(
                f"occurred_at lies more than {CARRIER_CLOCK_SKEW.seconds} s in the future",
                details=[{"field": "occurred_at", "issue": "in_future"}],
                code="occurred_at_in_future",
            )
        event = CarrierEvent(
            update.status,
            update.occurred_at,
            update.event_id,
            update.estimated_delivery,
            update.detail,
            update.location,
            update.tag,
            update.subtag,
        )

        def change(order: Order) -> Effects:
            order.carrier_update(update.tracking_number, event, "carrier")
            return Effects(event_key=f"carrier#{update.event_id}")

        try:
            self._change(order_id, change)
        except DuplicateEventError:
            return "duplicate"
        return "applied"

    def report_stall(self, report: StallReport) -> str:
        """A provider reports a parcel stalled: the sweep's own command (Order.flag_stalled), once per event.

        "applied", "duplicate", or "unchanged" (delivered, or it already needs a person)."""
        order_id = self.orders.order_id_for_tracking(report.tracking_number)
        if order_id is None:
            raise NotFoundError(f"unknown tracking number '{report.tracking_number}'", code="unknown_tracking_number")

        def change(order: Order) -> Effects:
            shipment = order.shipment_by_tracking(report.tracking_number)
            tags = {"tag": report.tag, **({"subtag": report.subtag} if report.subtag else {})}
            if not order.flag_stalled(shipment.id, self.clock.now(), "carrier", **tags):
                raise _NothingToFlag("nothing to flag")
            return Effects(event_key=f"carrier#{report.event_id}")

        try:
            self._change(order_id, change)
        except DuplicateEventError:
            return "duplicate"
        except _NothingToFlag:  # nothing written: a replay of the event that flagged it says so
            return "duplicate" if self.orders.event_seen(f"carrier#{report.event_id}") else "unchanged"
        return "applied"
