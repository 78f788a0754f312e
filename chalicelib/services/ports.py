"""The interfaces services depend on; DynamoDB adapters and in-memory fakes implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import ConflictError
from chalicelib.domain.orders import Order


@dataclass(frozen=True)
class StoredResponse:
    """What an idempotent request answered the first time."""

    principal: str
    key: str
    request_hash: str
    status_code: int
    body: dict[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class Page:
    """One page of a query: the items and the raw key to continue from (None: the end)."""

    items: list[Any]
    last_key: dict[str, Any] | None


@dataclass(frozen=True)
class TimelineEntry:
    kind: str
    at: datetime
    actor: str
    data: dict[str, Any]


@dataclass
class Effects:
    """Everything written atomically with an order change (one TransactWriteItems)."""

    response: StoredResponse | None = None  # the idempotency record of the request
    event_key: str | None = None  # a webhook event id, recorded so a replay is ignored
    tracking: dict[str, str] = field(default_factory=dict)  # new tracking number → shipment id
    stock: dict[str, int] = field(default_factory=dict)  # units to take out of stock, per SKU
    answer: bool = True  # False: the change is saved but is not the request's answer (e.g. put on hold → 409)


class IdempotencyKeyTakenError(ConflictError):
    """The idempotency key was used before; the caller reads the stored response."""

    code = "idempotency_key_reused"


class OrderNumberTakenError(ConflictError):
    """The drawn order number belongs to another order; draw again."""

    code = "order_number_taken"


class StaleVersionError(ConflictError):
    """Someone changed the order since it was read."""

    code = "stale_version"


class DuplicateEventError(ConflictError):
    """This webhook event was already applied."""

    code = "duplicate_event"


class TrackingNumberTakenError(ConflictError):
    code = "tracking_number_in_use"


class StockShortError(ConflictError):
    """Stock ran out between the check and the write."""

    code = "insufficient_stock"

    def __init__(self, skus: list[str]):
        super().__init__(f"not enough stock for: {', '.join(skus)}", details=[{"sku": sku} for sku in skus])
        self.skus = skus


class Clock(Protocol):
    def now(self) -> datetime: ...


class CatalogRepository(Protocol):
    def get(self, sku: str) -> CatalogItem | None: ...

    def get_many(self, skus: Iterable[str]) -> Mapping[str, CatalogItem]: ...

    def put(self, item: CatalogItem) -> None: ...


class OrderRepository(Protocol):
    def add(self, order: Order, response: StoredResponse | None = None) -> None:
        """Write a new order, its events, the claim on its number and (atomically) its idempotency record.

        Raises IdempotencyKeyTakenError when the record already exists, OrderNumberTakenError
        when another order holds the number."""
        ...

    def save(self, order: Order, effects: Effects) -> None:
        """Write a changed order if its version is still the one read, with its events and effects.

        Raises StaleVersionError, IdempotencyKeyTakenError, DuplicateEventError,
        TrackingNumberTakenError or StockShortError; on success bumps order.version."""
        ...

    def get(self, order_id: str) -> Order | None: ...

    def find_by_number(self, number: str) -> Order | None:
        """The order with this human number (canonical form), in one round trip."""
        ...

    def order_id_for_tracking(self, tracking_number: str) -> str | None: ...

    def event_seen(self, event_key: str) -> bool:
        """Whether a webhook event with this key was applied already."""
        ...

    def list_for_customer(
        self, customer_id: str, *, limit: int, start: dict[str, Any] | None, status: str | None
    ) -> Page: ...

    def list_for_email(self, email: str, *, limit: int, start: dict[str, Any] | None) -> Page:
        """Every order placed with this address (case and surrounding spaces ignored), newest first."""
        ...

    def timeline(self, order_id: str, *, limit: int, start: dict[str, Any] | None) -> tuple[Order | None, Page]:
        """The order (first page only, else None) and a page of its timeline entries, oldest first."""
        ...


class IdempotencyStore(Protocol):
    def get(self, principal: str, key: str) -> StoredResponse | None:
        """A stored response (written only inside a change's transaction: see OrderRepository)."""
        ...
