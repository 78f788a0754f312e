"""Order use cases: place (idempotently, with a promise and accuracy checks), read, list."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.domain.accuracy import check_order
from chalicelib.domain.address import Address
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.domain.ids import has_prefix, new_id
from chalicelib.domain.orders import Customer, Discount, Order, OrderLine
from chalicelib.services.ports import (
    CatalogRepository,
    Clock,
    IdempotencyKeyTakenError,
    IdempotencyStore,
    OrderRepository,
    Page,
    StoredResponse,
)


@dataclass(frozen=True)
class PlaceOrder:
    customer: Customer
    currency: str
    lines: list[tuple[str, int, int]]  # sku, quantity, unit_price
    shipping_address: Address
    shipping_method: str
    shipping_fee: int
    discounts: list[Discount]


@dataclass(frozen=True)
class IdempotentRequest:
    principal: str
    key: str
    body: Any  # the parsed request body, hashed canonically

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(self.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


Presenter = Callable[[Order], dict[str, Any]]


@dataclass
class OrderService:
    orders: OrderRepository
    catalog: CatalogRepository
    idempotency: IdempotencyStore
    calendar: BusinessCalendar
    clock: Clock
    supported_countries: tuple[str, ...]
    idempotency_ttl: timedelta

    def place(
        self, command: PlaceOrder, request: IdempotentRequest, actor: str, present: Presenter
    ) -> tuple[int, dict[str, Any]]:
        """Place an order; a retried request gets the original response back."""
        now = self.clock.now()
        catalog = self.catalog.get_many(sku for sku, _, _ in command.lines)
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
        subtotal = sum(line.line_total for line in lines)
        if sum(discount.amount for discount in command.discounts) > subtotal:
            raise ValidationError(
                "discounts exceed the order's subtotal",
                details=[{"field": "discounts", "subtotal": subtotal}],
            )
        promise = self.calendar.promise(now, command.shipping_method)
        holds = check_order(
            lines, catalog, command.currency, command.shipping_address, self.supported_countries
        )
        order = Order.place(
            order_id=new_id("ord", now),
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
        )
        order.version = 1  # what the first write stores; the response shows it
        body = present(order)
        stored = StoredResponse(
            principal=request.principal,
            key=request.key,
            request_hash=request.fingerprint,
            status_code=201,
            body=body,
            expires_at=now + self.idempotency_ttl,
        )
        try:
            self.orders.add(order, stored)
        except IdempotencyKeyTakenError:
            return self.replay(request)
        return 201, body

    def replay(self, request: IdempotentRequest) -> tuple[int, dict[str, Any]]:
        """The stored response for a key already used, or 409 if the body differs."""
        stored = self.idempotency.get(request.principal, request.key)
        if stored is None:
            # Only possible if the record expired between the write and this read.
            raise ConflictError("idempotency key is being reused; retry", code="idempotency_conflict")
        if stored.request_hash != request.fingerprint:
            raise ConflictError(
                "this Idempotency-Key was already used with a different request body",
                code="idempotency_key_reused",
            )
        return stored.status_code, stored.body

    def get(self, order_id: str, *, customer_id: str | None = None) -> Order:
        """The order; for customers (`customer_id` given) only their own — otherwise 404."""
        order = self.orders.get(order_id) if has_prefix(order_id, "ord") else None
        if order is None or (customer_id is not None and order.customer.id != customer_id):
            raise NotFoundError("order not found")
        return order

    def list_for_customer(
        self, customer_id: str, *, limit: int, cursor: str | None, status: str | None
    ) -> Page:
        return self.orders.list_for_customer(customer_id, limit=limit, cursor=cursor, status=status)
