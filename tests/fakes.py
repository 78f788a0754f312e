"""In-memory fakes of the ports in chalicelib/services/ports.py.

Faked here: Clock, CatalogRepository, OrderRepository (also an OrderReader), IdempotencyStore,
PreferenceStore, Mailer, SmsSender, TopicPublisher, DocumentRecords, PdfStore. Not yet: the
timer, intent and ticket stores (their contracts are DynamoDB-shaped: due buckets, leases).
Each fake keeps the contract its DynamoDB/AWS adapter keeps (tests/integration/test_order_store.py
runs the same tests on both): a lock stands in for a transaction, every condition is checked
before anything is written, and what is stored is a copy, never the caller's object.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from chalicelib.bootstrap import Adapters
from chalicelib.domain.accuracy import CatalogExpectation
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.orders import Order
from chalicelib.services.ports import (
    CatalogChangedError,
    DuplicateEventError,
    Effects,
    IdempotencyKeyTakenError,
    OrderNumberTakenError,
    Page,
    Preferences,
    StaleVersionError,
    StockShortError,
    StoredResponse,
    TimelineEntry,
    TrackingNumberTakenError,
)
from tests.document_fakes import FakePdfStore, FixedClock, InMemoryDocumentRecords

__all__ = [
    "FakePdfStore",
    "FixedClock",
    "InMemoryCatalogRepository",
    "InMemoryDocumentRecords",
    "InMemoryIdempotencyStore",
    "InMemoryOrderRepository",
    "InMemoryPreferenceStore",
    "MemoryStore",
    "RecordingMailer",
    "RecordingSms",
    "RecordingTopic",
    "memory_adapters",
]


@dataclass
class MemoryStore:
    """The one "table" the memory repositories share (so stock moves with the order write)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    catalog: dict[str, CatalogItem] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    timelines: dict[str, list[TimelineEntry]] = field(default_factory=dict)
    responses: dict[tuple[str, str], StoredResponse] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)  # webhook event key → order id
    tracking: dict[str, tuple[str, str]] = field(default_factory=dict)  # number → (order id, shipment id)
    numbers: dict[str, str] = field(default_factory=dict)  # order number → order id (the claim)
    payment_refs: dict[str, str] = field(default_factory=dict)  # provider's payment reference → order id


class InMemoryCatalogRepository:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def get(self, sku: str) -> CatalogItem | None:
        return self.store.catalog.get(sku)

    def get_many(self, skus: Iterable[str]) -> Mapping[str, CatalogItem]:
        return {sku: self.store.catalog[sku] for sku in dict.fromkeys(skus) if sku in self.store.catalog}

    def put(self, item: CatalogItem) -> None:
        self.store.catalog[item.sku] = replace(item, updated_at=item.updated_at or datetime.now(UTC))


class InMemoryIdempotencyStore:
    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def get(self, principal: str, key: str) -> StoredResponse | None:
        found = self.store.responses.get((principal, key))
        return found if found is not None and found.expires_at > datetime.now(UTC) else None

    def get_with_catalog(
        self, principal: str, key: str, skus: Iterable[str]
    ) -> tuple[StoredResponse | None, Mapping[str, CatalogItem]]:
        with self.store.lock:
            return self.get(principal, key), InMemoryCatalogRepository(self.store).get_many(skus)

    def get_with_order(self, principal: str, key: str, order_id: str) -> tuple[StoredResponse | None, Order | None]:
        with self.store.lock:
            return self.get(principal, key), InMemoryOrderRepository(self.store).get(order_id)


class InMemoryOrderRepository:
    """OrderRepository: one write is all-or-nothing, conditions checked in the adapter's order."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store or MemoryStore()

    def add(self, order: Order, response: StoredResponse | None = None) -> None:
        self._write(order, Effects(response=response), new=True)

    def save(self, order: Order, effects: Effects) -> None:
        self._write(order, effects, new=False)

    def _write(self, order: Order, effects: Effects, *, new: bool) -> None:
        store = self.store
        with store.lock:
            self._check(order, effects, new=new)
            version = 1 if new else order.version + 1
            stored = copy.deepcopy(order)
            stored.version, stored.events = version, []
            store.orders[order.id] = stored
            entries = store.timelines.setdefault(order.id, [])
            entries.extend(TimelineEntry(e.kind, e.at, e.actor, copy.deepcopy(e.data)) for e in order.events)
            # Kept in write order, as the adapter's version keys keep them (never by time).
            if new and order.number:
                store.numbers[order.number] = order.id
            if effects.response is not None:
                store.responses[(effects.response.principal, effects.response.key)] = effects.response
            if effects.event_key is not None:
                store.events[effects.event_key] = order.id
            for number, shipment_id in effects.tracking.items():
                store.tracking[number] = (order.id, shipment_id)
            if effects.payment_ref is not None:
                store.payment_refs[effects.payment_ref] = order.id
            for sku, units in effects.stock.items():
                item = store.catalog[sku]
                store.catalog[sku] = replace(item, stock=item.stock - units)
        order.version = version
        order.events.clear()

    def _check(self, order: Order, effects: Effects, *, new: bool) -> None:
        store = self.store
        for sku, expected in sorted(effects.catalog.items()):  # the adapter's condition checks go first
            if sku not in effects.stock and not _meets(store.catalog.get(sku), expected):
                raise CatalogChangedError([sku])
        current = store.orders.get(order.id)
        if (current is not None) if new else (current is None or current.version != order.version):
            raise StaleVersionError("the order changed meanwhile; read it and retry")
        if new and order.number and store.numbers.get(order.number, order.id) != order.id:
            raise OrderNumberTakenError(f"order number {order.number} is taken")
        response = effects.response
        if response is not None and (response.principal, response.key) in store.responses:
            raise IdempotencyKeyTakenError("idempotency key already used")
        if effects.event_key is not None and effects.event_key in store.events:
            raise DuplicateEventError("event already processed")
        for number in effects.tracking:
            if number in store.tracking:
                raise TrackingNumberTakenError(f"tracking number '{number}' is already used by another shipment")
        for sku, units in sorted(effects.stock.items()):
            item = store.catalog.get(sku)
            line_checks = effects.catalog.get(sku)
            if line_checks is not None and not (_meets(item, line_checks) and item is not None and item.stock >= units):
                raise CatalogChangedError([sku])  # one condition per item, as on the adapter's stock update
            if item is None or item.stock < units:
                raise StockShortError([sku])

    def get(self, order_id: str, *, consistent: bool = False) -> Order | None:
        found = self.store.orders.get(order_id)
        return copy.deepcopy(found) if found is not None else None

    def find_by_number(self, number: str) -> Order | None:
        order_id = self.store.numbers.get(number)
        return self.get(order_id) if order_id else None

    def event_seen(self, event_key: str) -> bool:
        return event_key in self.store.events

    def order_id_for_tracking(self, tracking_number: str) -> str | None:
        found = self.store.tracking.get(tracking_number)
        return found[0] if found else None

    def order_id_for_payment(self, provider_ref: str) -> str | None:
        return self.store.payment_refs.get(provider_ref)

    def list_for_customer(
        self, customer_id: str, *, limit: int, start: dict[str, Any] | None, status: str | None
    ) -> Page:
        """Newest first, like the adapter's index (placed_at, then id)."""
        orders = sorted(
            (o for o in self.store.orders.values() if o.customer.id == customer_id),
            key=lambda o: (o.placed_at, o.id),
            reverse=True,
        )
        if start is not None:
            after = _cursor(start, "id")
            orders = [o for o in orders if (o.placed_at, o.id) < _position(self.store, after)]
        matching = [o for o in orders if status is None or str(o.status) == status]
        page = matching[:limit]
        more = len(matching) > limit
        return Page([copy.deepcopy(o) for o in page], {"id": page[-1].id} if more and page else None)

    def list_for_email(
        self, email: str, *, limit: int, start: dict[str, Any] | None, status: str | None = None
    ) -> Page:
        """Every order of a (normalised) address, newest first, like GSI2."""
        from chalicelib.domain.sessions import normalise_email

        wanted = normalise_email(email)
        orders = sorted(
            (o for o in self.store.orders.values() if normalise_email(o.customer.email) == wanted),
            key=lambda o: (o.placed_at, o.id),
            reverse=True,
        )
        if start is not None:
            after = _cursor(start, "id")
            orders = [o for o in orders if (o.placed_at, o.id) < _position(self.store, after)]
        orders = [o for o in orders if status is None or str(o.status) == status]
        page = orders[:limit]
        more = len(orders) > limit
        return Page([copy.deepcopy(o) for o in page], {"id": page[-1].id} if more and page else None)

    def timeline(self, order_id: str, *, limit: int, start: dict[str, Any] | None) -> tuple[Order | None, Page]:
        """The order with the first page only, then entries oldest first."""
        entries = self.store.timelines.get(order_id, [])
        offset = int(_cursor(start, "n")) if start is not None else 0
        page = entries[offset : offset + limit]
        last = {"n": str(offset + limit)} if offset + limit < len(entries) else None
        return (self.get(order_id) if start is None else None), Page(list(page), last)


def _meets(item: CatalogItem | None, expected: CatalogExpectation) -> bool:
    if item is None or item.stock < expected.min_stock:
        return False
    return expected.price is None or (item.currency, item.unit_price) == expected.price


def _cursor(start: Mapping[str, Any], name: str) -> str:
    if set(start) != {name} or not isinstance(start[name], str):
        raise ValidationError("invalid cursor", details=[{"field": "cursor"}], code="invalid_cursor")
    return str(start[name])


def _position(store: MemoryStore, order_id: str) -> tuple[datetime, str]:
    order = store.orders.get(order_id)
    if order is None:
        raise ValidationError("invalid cursor", details=[{"field": "cursor"}], code="invalid_cursor")
    return order.placed_at, order.id


class InMemoryPreferenceStore:
    def __init__(self) -> None:
        self.preferences: dict[str, Preferences] = {}
        self.opted_out: dict[str, str] = {}  # phone → keyword
        self.quota: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def get(self, customer_id: str) -> Preferences:
        return self.preferences.get(customer_id, Preferences())

    def put(self, customer_id: str, preferences: Preferences, now: datetime) -> None:
        self.preferences[customer_id] = preferences

    def sms_opted_out(self, phone: str) -> bool:
        return phone in self.opted_out

    def set_sms_opt_out(self, phone: str, opted_out: bool, keyword: str, now: datetime) -> None:
        if opted_out:
            self.opted_out[phone] = keyword
        else:
            self.opted_out.pop(phone, None)

    def take_sms_quota(self, customer_id: str, day: str, cap: int) -> bool:
        with self.lock:
            used = self.quota.get((customer_id, day), 0)
            if used >= cap:
                return False
            self.quota[(customer_id, day)] = used + 1
            return True


@dataclass
class RecordingMailer:
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def send(self, to: str, payload: dict[str, Any]) -> str:
        self.sent.append((to, copy.deepcopy(payload)))
        return f"mail-{len(self.sent)}"


@dataclass
class RecordingSms:
    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, phone: str, body: str) -> str:
        self.sent.append((phone, body))
        return f"sms-{len(self.sent)}"


@dataclass
class RecordingTopic:
    published: list[tuple[str, str, str]] = field(default_factory=list)

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        self.published.append((topic_arn, subject, message))
        return f"topic-{len(self.published)}"


def memory_adapters(store: MemoryStore | None = None) -> Adapters:
    """The request path's repositories in memory, sharing one store (for `build_container`)."""
    store = store or MemoryStore()
    return Adapters(InMemoryOrderRepository(store), InMemoryCatalogRepository(store), InMemoryIdempotencyStore(store))
