"""The order aggregate: its data, its status transition table, its domain events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from chalicelib.domain.address import Address
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.money import PricedLine, Totals, compute_totals


class OrderStatus(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    PROCESSING = "processing"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


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


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"


@dataclass(frozen=True)
class Customer:
    id: str
    email: str
    name: str
    phone: str | None = None
    locale: str = "en"


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
    holds: list[Hold] = field(default_factory=list)
    shipments: list[dict[str, Any]] = field(default_factory=list)
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
    def is_on_hold(self) -> bool:
        return bool(self.holds)

    def can_transition(self, target: OrderStatus) -> bool:
        return target in TRANSITIONS[self.status]

    def transition(self, target: OrderStatus, at: datetime, actor: str, **data: Any) -> None:
        """Move to `target` or raise IllegalTransitionError naming the current status."""
        if not self.can_transition(target):
            raise IllegalTransitionError(
                f"cannot move order from '{self.status}' to '{target}'",
                details=[{"current_status": str(self.status), "requested_status": str(target)}],
            )
        previous, self.status = self.status, target
        self.events.append(
            DomainEvent("status_changed", at, actor, {"from": str(previous), "to": str(target), **data})
        )

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
    ) -> Order:
        """A new order in status `placed`, with its holds and a `placed` event."""
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
            holds=list(holds),
        )
        order.totals  # noqa: B018 - validates discounts against the subtotal early
        order.events.append(DomainEvent("placed", placed_at, actor, {"status": str(order.status)}))
        for hold in holds:
            order.events.append(
                DomainEvent("hold_added", placed_at, actor, {"code": hold.code, "detail": hold.detail})
            )
        return order
