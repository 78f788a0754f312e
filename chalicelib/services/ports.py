"""The interfaces services depend on; DynamoDB adapters and in-memory fakes implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    items: list[Order]
    next_cursor: str | None


class IdempotencyKeyTakenError(ConflictError):
    """The idempotency key was used before; the caller reads the stored response."""

    code = "idempotency_key_reused"


class Clock(Protocol):
    def now(self) -> datetime: ...


class CatalogRepository(Protocol):
    def get(self, sku: str) -> CatalogItem | None: ...

    def get_many(self, skus: Iterable[str]) -> Mapping[str, CatalogItem]: ...

    def put(self, item: CatalogItem) -> None: ...


class OrderRepository(Protocol):
    def add(self, order: Order, response: StoredResponse | None = None) -> None:
        """Write a new order, its events and (atomically) its idempotency record.

        Raises IdempotencyKeyTakenError when the record already exists."""
        ...

    def get(self, order_id: str) -> Order | None: ...

    def list_for_customer(
        self, customer_id: str, *, limit: int, cursor: str | None, status: str | None
    ) -> Page: ...


class IdempotencyStore(Protocol):
    def get(self, principal: str, key: str) -> StoredResponse | None: ...
