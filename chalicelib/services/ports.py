"""Every port the services depend on, in one place, with the data and errors of each contract.

The adapters in chalicelib/adapters implement them (DynamoDB, S3, SES, SNS); tests/fakes.py
holds in-memory fakes, and the repository contract tests (tests/integration/test_order_store.py)
run against fake and DynamoDB Local alike. Services keep only their own extension points
(`EffectHandler`, `Planner` in services/intents.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.accuracy import CatalogExpectation
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import ConflictError, OrderCareError
from chalicelib.domain.orders import DomainEvent, Order

if TYPE_CHECKING:
    from chalicelib.domain import sessions
    from chalicelib.domain.returns import ReturnTally
    from chalicelib.domain.sla import Timer
    from chalicelib.domain.tickets import Ticket
    from chalicelib.services.documents import IssuedDocument, NewDocument, OrderDocuments
    from chalicelib.services.intents import Attempt, Intent

MAX_URL_SECONDS = 300  # a document download link lives at most five minutes


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
    # The lines' accuracy checks as conditions on their catalogue items (unread): one failing → CatalogChangedError
    catalog: dict[str, CatalogExpectation] = field(default_factory=dict)
    payment_ref: str | None = None  # a provider's payment reference → this order (refunds find it)
    answer: bool = True  # False: the change is saved but is not the request's answer (e.g. put on hold → 409)


class IdempotencyKeyTakenError(ConflictError):
    """The idempotency key was used before; the caller replays the stored response — `stored`
    when the failed write handed it back (no read needed), else read by key."""

    code = "idempotency_key_reused"

    def __init__(self, message: str, stored: StoredResponse | None = None) -> None:
        super().__init__(message)
        self.stored = stored


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


class CatalogChangedError(ConflictError):
    """A catalogue item no longer says what the order's lines expect (Effects.catalog): nothing was
    written; read the catalogue and check again."""

    code = "catalog_changed"

    def __init__(self, skus: list[str]):
        super().__init__(f"the catalogue changed for: {', '.join(skus)}", details=[{"sku": sku} for sku in skus])
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
        TrackingNumberTakenError, StockShortError or CatalogChangedError (a SKU of `effects.catalog`:
        one transaction touches each catalogue item once, so a SKU in both `stock` and `catalog` has
        one condition, and either failing is CatalogChangedError); on success bumps order.version."""
        ...

    def get(self, order_id: str, *, consistent: bool = False) -> Order | None:
        """The order (`consistent`: a strongly consistent read, for deciding again after a conflict)."""
        ...

    def find_by_number(self, number: str) -> Order | None:
        """The order with this human number (canonical form), in one round trip."""
        ...

    def order_id_for_tracking(self, tracking_number: str) -> str | None: ...

    def order_id_for_payment(self, provider_ref: str) -> str | None: ...

    def event_seen(self, event_key: str) -> bool:
        """Whether a webhook event with this key was applied already."""
        ...

    def list_for_customer(
        self, customer_id: str, *, limit: int, start: dict[str, Any] | None, status: str | None
    ) -> Page: ...

    def list_for_email(
        self, email: str, *, limit: int, start: dict[str, Any] | None, status: str | None = None
    ) -> Page:
        """Every order placed with this address (case and surrounding spaces ignored), newest first."""
        ...

    def timeline(self, order_id: str, *, limit: int, start: dict[str, Any] | None) -> tuple[Order | None, Page]:
        """The order (first page only, else None) and a page of its timeline entries, oldest first."""
        ...


class IdempotencyStore(Protocol):
    def get(self, principal: str, key: str) -> StoredResponse | None:
        """A stored response (written only inside a change's transaction: see OrderRepository)."""
        ...

    def get_with_catalog(
        self, principal: str, key: str, skus: Iterable[str]
    ) -> tuple[StoredResponse | None, Mapping[str, CatalogItem]]:
        """The stored response (as `get`) and the catalogue items of these SKUs, read together:
        a placement learns whether it is a retry in the round trip that reads its prices."""
        ...

    def get_with_order(self, principal: str, key: str, order_id: str) -> tuple[StoredResponse | None, Order | None]:
        """The stored response (as `get`) and an order, read together: a request about an order
        (feedback on it) learns whether it is a retry in the round trip that checks the order."""
        ...


# --- notifications: preferences and transports ----------------------------------------------------


EMAIL, SMS = "email", "sms"


CHANNELS = (EMAIL, SMS)


@dataclass(frozen=True)
class Preferences:
    email: bool = True
    sms: bool = False  # SMS only after the customer opts in
    locale: str | None = None


class PermanentDeliveryError(OrderCareError):
    """The provider refused the message for good (bad address, rejected content)."""


class TransientDeliveryError(OrderCareError):
    """The provider failed after its own retries; try again later."""


class PreferenceStore(Protocol):
    def get(self, customer_id: str) -> Preferences: ...

    def put(self, customer_id: str, preferences: Preferences, now: datetime) -> None: ...

    def sms_opted_out(self, phone: str) -> bool: ...

    def set_sms_opt_out(self, phone: str, opted_out: bool, keyword: str, now: datetime) -> None: ...

    def take_sms_quota(self, customer_id: str, day: str, cap: int) -> bool:
        """Count one SMS for the customer today; False when the cap is reached."""
        ...


class Mailer(Protocol):
    def send(self, to: str, payload: dict[str, Any]) -> str:
        """Send an email payload; the provider's message id."""
        ...


class SmsSender(Protocol):
    def send(self, phone: str, body: str) -> str: ...


class TopicPublisher(Protocol):
    def publish(self, topic_arn: str, subject: str, message: str) -> str: ...


# --- documents: records (numbering) and PDF storage -----------------------------------------------


class DocumentRecords(Protocol):
    def get(self, order_id: str, key: str) -> IssuedDocument | None:
        """The document record, read consistently."""
        ...

    def issue(self, new: NewDocument) -> IssuedDocument:
        """Take the series' next number and write the record in one transaction.

        If a record with the same key exists (a retry, a concurrent worker), that record is returned.
        """
        ...

    def mark_stored(self, document: IssuedDocument) -> IssuedDocument: ...

    def list_for_order(self, order_id: str) -> list[IssuedDocument]: ...

    def by_id(self, document_id: str) -> IssuedDocument | None:
        """The document with this id (any order), or None."""
        ...

    def for_order(self, order_id: str) -> OrderDocuments: ...


class PdfStore(Protocol):
    def new_key(self, order_id: str) -> str: ...

    def put_pdf(self, key: str, data: bytes, *, order_id: str, document_id: str, number: str) -> None: ...

    def put_xml(self, key: str, data: bytes, *, order_id: str, document_id: str, number: str) -> None: ...

    def get_pdf(self, key: str) -> bytes: ...

    def presigned_url(
        self, key: str, *, filename: str, expires_in: int = MAX_URL_SECONDS, content_type: str = "application/pdf"
    ) -> str: ...


# --- promise and ticket timers --------------------------------------------------------------------


class TimerStore(Protocol):
    """The sweep's due work: orders filed by their next due timer (the order repository files
    them on every write), ticket deadlines as timer items, and the sweep's cursor."""

    def apply(self, create: Iterable[Timer], delete: Iterable[Timer]) -> None:
        """Create and delete timer items (ticket deadlines)."""
        ...

    def window(self, now: datetime, real_now: datetime) -> tuple[datetime, datetime]:
        """(the first hour a sweep at `now` reads, the hour the cursor may move to afterwards)."""
        ...

    def due(self, start: datetime, now: datetime) -> list[Timer]:
        """The timer items due by `now`, from the hour `start` on."""
        ...

    def due_orders(self, start: datetime, now: datetime) -> Iterator[Order]:
        """The orders with a timer due by `now`, from the hour `start` on (the index's copies:
        possibly stale, saving one is conditional on its version)."""
        ...

    def advance(self, through: datetime) -> None: ...

    def discard(self, timer: Timer) -> None: ...


class TicketTimers(Protocol):
    def act_on_timer(self, timer: Timer, now: datetime) -> str: ...


# --- durable intents ------------------------------------------------------------------------------


class IntentRecords(Protocol):
    def record(
        self,
        intents: Sequence[Intent],
        *,
        now: datetime,
        give_up_at: datetime,
        lease_until: datetime | None = None,
        leased: Collection[str] = (),
    ) -> list[Intent]:
        """Store every intent not stored yet (pending ones due now); the ones this call stored.

        Pending intents whose id is in `leased` are stored leased to the caller until
        `lease_until` (as `take` would lease them): the caller attempts them next."""
        ...

    def take(self, intent: Intent, *, now: datetime, lease_seconds: int) -> Attempt | None:
        """Lease a pending intent whose next attempt is due; None if ended or not due."""
        ...

    def complete(
        self,
        attempt: Attempt,
        status: str,
        event: DomainEvent | None,
        *,
        now: datetime,
        stored: Sequence[IssuedDocument] = (),
    ) -> None:
        """End the intent (done/failed/skipped), add its timeline entry and mark the `stored`
        documents' PDFs stored, atomically (an intent another worker ended first: the documents
        are still marked)."""
        ...

    def retry_later(self, attempt: Attempt, *, at: datetime, error: str) -> None:
        """Count a failed attempt and make the intent due again at `at`."""
        ...

    def due(self, now: datetime, limit: int, *, lane: str = "") -> list[Attempt]:
        """Pending intents of the lane whose next attempt is due (not leased: `take` leases them)."""
        ...

    def pending(self, order_id: str) -> list[Intent]:
        """The order's intents that have not ended (one Query)."""
        ...

    def statuses(self, order_id: str, ids: Iterable[str]) -> dict[str, str]:
        """The status of each stored intent of the order among `ids`."""
        ...


# --- orders, read only ----------------------------------------------------------------------------


class OrderReader(Protocol):
    def get(self, order_id: str) -> Order | None: ...


# --- support tickets ------------------------------------------------------------------------------


class TicketRepository(Protocol):
    def get(self, ticket_id: str) -> Ticket | None: ...

    def save(
        self,
        ticket: Ticket,
        *,
        new: bool,
        previous_queue_key: tuple[str, str] | None,
        timer: Timer | None = None,
        auto_key: str | None = None,
        sender_quota: tuple[str, datetime, int] | None = None,
        response: StoredResponse | None = None,
    ) -> None: ...

    def delete_timer(self, timer: Timer) -> None: ...

    def queue(
        self, bucket: str, *, status: str | None, sla: str | None, limit: int, start: dict[str, Any] | None
    ) -> Page: ...


class CustomerOrderReader(Protocol):
    def get(self, order_id: str, *, customer_id: str | None = None) -> Order: ...


class TimerWriter(Protocol):
    def apply(self, create: Iterable[Timer], delete: Iterable[Timer]) -> None: ...


# --- customer portal: sign-in, sessions, orders by email ------------------------------------------


@dataclass(frozen=True)
class PortalRead:
    """What a portal request reads in one round trip (every key comes from the request: cookie, path, form).

    Whose order (and so whose ticket) it is, is the portal service's to check."""

    session: sessions.Session | None
    order: Order | None = None
    catalog: Mapping[str, CatalogItem] = field(default_factory=dict)
    ticket: Ticket | None = None
    tally: ReturnTally | None = None  # the order's returns in brief (asked for by a return form)


class PortalStore(Protocol):
    def start(
        self, challenge: sessions.Challenge, limits: list[tuple[sessions.RateLimit, str]], now: datetime
    ) -> None: ...

    def challenge(self, email: str) -> sessions.Challenge | None: ...

    def link(self, link_hash: str) -> tuple[str, str] | None: ...

    def count_failure(self, challenge: sessions.Challenge) -> None: ...

    def redeem(
        self, challenge: sessions.Challenge, session: sessions.Session, previous_session: str | None
    ) -> None: ...

    def session(self, id_hash: str) -> sessions.Session | None: ...

    def read(
        self,
        id_hash: str,
        order_id: str,
        skus: Iterable[str] = (),
        ticket_id: str | None = None,
        *,
        tally: bool = False,
    ) -> PortalRead:
        """The session, the order, these SKUs' catalogue items, that ticket of the order and (`tally`)
        the order's return tally, in one round trip."""
        ...

    def save_session(self, session: sessions.Session) -> None: ...

    def save_preferences(self, session: sessions.Session, preferences: Preferences, now: datetime) -> None:
        """The preferences of the session's customer and the session itself, in one write."""
        ...

    def end(self, id_hash: str) -> None: ...

    def end_all(self, email: str) -> int: ...


class EmailOrders(Protocol):
    def list_for_email(
        self, email: str, *, limit: int, start: dict[str, Any] | None, status: str | None = None
    ) -> Page: ...
