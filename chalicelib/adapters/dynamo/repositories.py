"""DynamoDB repositories: the domain's aggregates in and out of the single table.

Each public method is one DynamoDB round trip (GetItem, Query, BatchGetItem or
TransactWriteItems), so each route keeps its round-trip budget (`make bench` counts them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.conditions import ErrorFactory, Guarded
from chalicelib.adapters.dynamo.models import (
    AddressMap,
    CatalogItemModel,
    CustomerMap,
    DiscountMap,
    HoldMap,
    IdempotencyItem,
    LineMap,
    OrderItem,
    OrderNumberItem,
    PaymentRefItem,
    ProcessedEventItem,
    TableItem,
    TimelineItem,
    TrackingItem,
    Transactional,
)
from chalicelib.domain.accuracy import CatalogExpectation
from chalicelib.domain.address import Address
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.orders import (
    CarrierEvent,
    Customer,
    Discount,
    DomainEvent,
    Hold,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentFailure,
    Refund,
    Shipment,
    ShipmentLine,
    SlaState,
)
from chalicelib.domain.sessions import email_key, normalise_email
from chalicelib.services.ports import (
    CatalogChangedError,
    Clock,
    DuplicateEventError,
    Effects,
    IdempotencyKeyTakenError,
    OrderNumberTakenError,
    Page,
    StaleVersionError,
    StockShortError,
    StoredResponse,
    TimelineEntry,
    TrackingNumberTakenError,
)

ORDER_SK = "#ORDER"
EVENT_PREFIX = "EVENT#"
PROCESSED_EVENT_DAYS = 30
ITEM_SK = "#ITEM"
IDEM_SK = "#IDEM"
BATCH_GET_KEYS = 100  # DynamoDB's most keys per BatchGetItem


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def customer_pk(customer_id: str) -> str:
    return f"CUSTOMER#{customer_id}"


def email_pk(email: str) -> str:
    """GSI2's key for every order of an address (surrounding spaces and case ignored)."""
    return f"EMAIL#{email_key(normalise_email(email) or email.strip().lower())}"


def sku_pk(sku: str) -> str:
    return f"SKU#{sku}"


def idempotency_pk(principal: str, key: str) -> str:
    return f"IDEM#{principal}#{key}"


def order_number_pk(number: str) -> str:
    return f"ORDERNO#{number}"


# --- timeline keys ----------------------------------------------------------------
# Entries sort exactly as recorded, never by a clock or a random part:
#   EVENT#V<version>#<n>            the n-th event of the change that made `version`
#   EVENT#V<version>#~<time>#<tie>  written later by the stream consumer for that change
# ('~' sorts after every digit, so a follow-up comes after its cause and before the
# next change.) Entries written before this scheme (EVENT#<iso time>#<ulid>) sort
# before every 'V' key, which is where they belong: they happened earlier.


def due_bucket(moment: datetime) -> str:
    """The hour partition of due work (GSI4 on orders, the timer items of tickets): DUE#<yyyy-mm-ddThh>."""
    return f"DUE#{moment.astimezone(UTC).strftime('%Y-%m-%dT%H')}"


def due_stamp(moment: datetime) -> str:
    """A due time as its sort key starts (second precision, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def order_due_key(due: datetime, order_id: str) -> tuple[str, str]:
    """An order's key in the sweep's index (GSI4): DUE#<hour> / <due>#<order id>."""
    return due_bucket(due), f"{due_stamp(due)}#{order_id}"


def change_key(version: int, index: int) -> str:
    return f"{EVENT_PREFIX}V{version:012d}#{index:04d}"


def follow_up_key(cause_version: int, at: datetime, tie: str) -> str:
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{EVENT_PREFIX}V{cause_version:012d}#~{stamp}#{tie}"


ORDER_VERSION_ATTEMPTS = 3  # writes of one follow-up change while the order keeps moving on under it


class OrderMoved(Exception):
    """The order is no longer at the version a follow-up change expected; `version`: where it is (None: not told)."""

    def __init__(self, version: int | None = None) -> None:
        super().__init__(version)
        self.version = version


def expect_order_at(guarded: Guarded, order_id: str, version: int) -> None:
    """A follow-up change's (a ticket's, a return's) check, in its own transaction, that the order is at
    the version its timeline entries follow — instead of reading the order first."""
    guarded.condition_check(
        OrderItem,
        (order_pk(order_id), ORDER_SK),
        condition=(OrderItem.version == version) if version else OrderItem.pk.does_not_exist(),
        error=OrderMoved,
        return_old=True,
    )


def order_moved(failed: list[tuple[Exception, dict[str, Any] | None]]) -> OrderMoved | None:
    """When the order check is the only condition that failed: OrderMoved with where the order is now."""
    if not failed or not all(isinstance(failure, OrderMoved) for failure, _ in failed):
        return None
    order = failed[0][1]
    return OrderMoved(int(order["version"]["N"]) if order and "version" in order else None)


# --- orders -----------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _shipment_to_json(shipment: Shipment) -> dict[str, Any]:
    return {
        "id": shipment.id,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "lines": [vars(line) for line in shipment.lines],
        "shipped_at": _iso(shipment.shipped_at),
        "status": shipment.status,
        "exception": shipment.exception,
        "estimated_delivery": _iso(shipment.estimated_delivery),
        "delivered_at": _iso(shipment.delivered_at),
        "events": [
            {
                "status": e.status,
                "occurred_at": _iso(e.occurred_at),
                "event_id": e.event_id,
                "estimated_delivery": _iso(e.estimated_delivery),
                "detail": e.detail,
                "location": e.location,
                **{name: value for name, value in (("tag", e.tag), ("subtag", e.subtag)) if value},
            }
            for e in shipment.events
        ],
        "needs_attention": shipment.needs_attention,
        "attention_reason": shipment.attention_reason,
        "notices": list(shipment.notices),
    }


def _shipment_from_json(data: dict[str, Any]) -> Shipment:
    return Shipment(
        id=data["id"],
        carrier=data["carrier"],
        tracking_number=data["tracking_number"],
        lines=[ShipmentLine(line["sku"], int(line["quantity"])) for line in data["lines"]],
        shipped_at=datetime.fromisoformat(data["shipped_at"]),
        status=data["status"],
        exception=bool(data.get("exception")),
        estimated_delivery=_when(data.get("estimated_delivery")),
        delivered_at=_when(data.get("delivered_at")),
        events=[
            CarrierEvent(
                status=e["status"],
                occurred_at=datetime.fromisoformat(e["occurred_at"]),
                event_id=e["event_id"],
                estimated_delivery=_when(e.get("estimated_delivery")),
                detail=e.get("detail"),
                location=e.get("location"),
                tag=e.get("tag"),
                subtag=e.get("subtag"),
            )
            for e in data.get("events", [])
        ],
        needs_attention=bool(data.get("needs_attention")),
        attention_reason=data.get("attention_reason"),
        notices=list(data.get("notices", [])),
    )


def order_to_item(order: Order, *, new: bool = False, due: datetime | None = None) -> OrderItem:
    """The pynamodb item; for a new order the version is left for pynamodb to start at 1.

    `due` files the order in the sweep's index (GSI4) at that time; None keeps it off."""
    totals = order.totals
    gsi4pk, gsi4sk = order_due_key(due, order.id) if due is not None else (None, None)
    item = OrderItem(
        pk=order_pk(order.id),
        sk=ORDER_SK,
        type="order",
        gsi1pk=customer_pk(order.customer.id),
        gsi1sk=order_pk(order.id),
        gsi2pk=email_pk(order.customer.email),
        gsi2sk=order_pk(order.id),
        id=order.id,
        number=order.number,
        gsi3pk=order_number_pk(order.number) if order.number else None,
        gsi3sk=ORDER_SK if order.number else None,
        gsi4pk=gsi4pk,
        gsi4sk=gsi4sk,
        status=str(order.status),
        customer_id=order.customer.id,
        customer=CustomerMap(**vars(order.customer)),
        currency=order.currency,
        lines=[LineMap(**vars(line)) for line in order.lines],
        shipping_address=AddressMap(**vars(order.shipping_address)),
        billing_address=AddressMap(**vars(order.billing_address)) if order.billing_address else None,
        buyer_reference=order.buyer_reference,
        shipping_method=order.shipping_method,
        shipping_fee=order.shipping_fee,
        discounts=[DiscountMap(**vars(discount)) for discount in order.discounts],
        holds=[HoldMap(**vars(hold)) for hold in order.holds],
        waivers=[HoldMap(**vars(hold)) for hold in order.waivers],
        shipments=[_shipment_to_json(shipment) for shipment in order.shipments],
        payments=[{**vars(p), "paid_at": _iso(p.paid_at)} for p in order.payments],
        refunds=[{**vars(r), "refunded_at": _iso(r.refunded_at)} for r in order.refunds],
        payment_failures=[{**vars(f), "at": _iso(f.at)} for f in order.payment_failures],
        subtotal=totals.subtotal,
        discount_total=totals.discount_total,
        tax_total=totals.tax_total,
        total=totals.total,
        placed_at=order.placed_at,
        ship_by=order.ship_by,
        deliver_by=order.deliver_by,
        paid_at=order.paid_at,
        processing_at=order.processing_at,
        first_shipped_at=order.first_shipped_at,
        shipped_at=order.shipped_at,
        delivered_at=order.delivered_at,
        cancelled_at=order.cancelled_at,
        ship_by_met=order.ship_by_met,
        deliver_by_met=order.deliver_by_met,
        revised_deliver_by=order.revised_deliver_by,
        promised_ship_by=order.promised_ship_by,
        promised_deliver_by=order.promised_deliver_by,
        sla_shipping=str(order.sla_shipping),
        sla_delivery=str(order.sla_delivery),
        replaces_order_id=order.replaces_order_id,
    )
    if order.version and not new:
        item.version = order.version
    return item


def _plain(attribute: Any) -> dict[str, Any]:
    return {key: value for key, value in attribute.as_dict().items()}


def _holds(maps: Any) -> list[Hold]:
    return [Hold(h.code, h.detail, h.sku) for h in maps or []]


def order_from_item(item: OrderItem) -> Order:
    customer = _plain(item.customer)
    return Order(
        id=item.id,
        customer=Customer(
            id=customer["id"],
            email=customer["email"],
            name=customer["name"],
            phone=customer.get("phone"),
            locale=customer.get("locale", "en"),
            company=customer.get("company"),
            vat_id=customer.get("vat_id"),
        ),
        currency=item.currency,
        lines=[
            OrderLine(
                sku=line.sku,
                quantity=int(line.quantity),
                unit_price=int(line.unit_price),
                tax_rate_bps=int(line.tax_rate_bps),
                name=line.name or "",
            )
            for line in item.lines
        ],
        shipping_address=Address(**_plain(item.shipping_address)),
        billing_address=Address(**_plain(item.billing_address)) if item.billing_address else None,
        buyer_reference=item.buyer_reference,
        shipping_method=item.shipping_method,
        shipping_fee=int(item.shipping_fee),
        discounts=[Discount(d.code, int(d.amount)) for d in item.discounts or []],
        placed_at=item.placed_at,
        ship_by=item.ship_by,
        deliver_by=item.deliver_by,
        status=OrderStatus(item.status),
        number=item.number,
        holds=_holds(item.holds),
        waivers=_holds(item.waivers),
        shipments=[_shipment_from_json(data) for data in item.shipments or []],
        payments=[Payment(**{**p, "paid_at": datetime.fromisoformat(p["paid_at"])}) for p in item.payments or []],
        refunds=[Refund(**{**r, "refunded_at": datetime.fromisoformat(r["refunded_at"])}) for r in item.refunds or []],
        payment_failures=[
            PaymentFailure(**{**f, "at": datetime.fromisoformat(f["at"])}) for f in item.payment_failures or []
        ],
        paid_at=item.paid_at,
        processing_at=item.processing_at,
        first_shipped_at=item.first_shipped_at,
        shipped_at=item.shipped_at,
        delivered_at=item.delivered_at,
        cancelled_at=item.cancelled_at,
        ship_by_met=item.ship_by_met,
        deliver_by_met=item.deliver_by_met,
        revised_deliver_by=item.revised_deliver_by,
        promised_ship_by=item.promised_ship_by,
        promised_deliver_by=item.promised_deliver_by,
        sla_shipping=SlaState(item.sla_shipping or "on_track"),
        sla_delivery=SlaState(item.sla_delivery or "on_track"),
        replaces_order_id=item.replaces_order_id,
        version=int(item.version or 0),
    )


def timeline_item(order_id: str, event: DomainEvent, sort_key: str) -> TimelineItem:
    """A timeline entry under `sort_key` (change_key or follow_up_key)."""
    return TimelineItem(
        pk=order_pk(order_id),
        sk=sort_key,
        type="timeline",
        kind=event.kind,
        at=event.at,
        actor=event.actor,
        data=event.data,
    )


def timeline_entry(item: TimelineItem) -> TimelineEntry:
    return TimelineEntry(kind=item.kind, at=item.at, actor=item.actor, data=item.data or {})


def _plain_key(key: dict[str, Any] | None) -> dict[str, Any] | None:
    """A LastEvaluatedKey as plain strings (the service signs it into a cursor)."""
    return {name: value["S"] for name, value in key.items()} if key else None


def _typed_key(key: dict[str, Any] | None, names: set[str]) -> dict[str, Any] | None:
    if key is None:
        return None
    if set(key) != names or not all(isinstance(value, str) for value in key.values()):
        raise ValidationError("invalid cursor", details=[{"field": "cursor"}], code="invalid_cursor")
    return {name: {"S": value} for name, value in key.items()}


class DynamoOrderRepository(Transactional):
    """Orders; each write files the order in the sweep's index (GSI4) by `next_due(order)`."""

    def __init__(self, next_due: Callable[[Order], datetime | None], clock: Clock) -> None:
        self.next_due = next_due  # domain.sla.next_due with the shop's calendar (bootstrap)
        self.clock = clock

    def due_at(self, order: Order) -> datetime | None:
        """When the sweep should read the order: its next due timer, but never before now — a
        deadline already past (a scan reported days late) is filed as due now, since the sweep
        reads buckets from its cursor on."""
        due = self.next_due(order)
        return None if due is None else max(due, self.clock.now().replace(microsecond=0))

    def add(self, order: Order, response: StoredResponse | None = None) -> None:
        """One TransactWriteItems: the order, its timeline events, its idempotency record."""
        self._write(order, Effects(response=response), new=True)

    def save(self, order: Order, effects: Effects) -> None:
        self._write(order, effects, new=False)

    def _write(self, order: Order, effects: Effects, *, new: bool) -> None:
        write_change(self.transaction(), order, effects, new=new, due=self.due_at(order))

    def get(self, order_id: str, *, consistent: bool = False) -> Order | None:
        try:
            return order_from_item(OrderItem.get(order_pk(order_id), ORDER_SK, consistent_read=consistent))
        except OrderItem.DoesNotExist:
            return None

    def find_by_number(self, number: str) -> Order | None:
        """One Query on GSI3 (eventually consistent: an order placed a moment ago may be missing)."""
        for item in OrderItem.by_number.query(order_number_pk(number), OrderItem.gsi3sk == ORDER_SK, limit=1):
            return order_from_item(item)
        return None

    def event_seen(self, event_key: str) -> bool:
        try:
            ProcessedEventItem.get(f"WEBHOOK#{event_key}", "#EVENT", consistent_read=True)
            return True
        except ProcessedEventItem.DoesNotExist:
            return False

    def order_id_for_tracking(self, tracking_number: str) -> str | None:
        try:
            return str(TrackingItem.get(tracking_pk(tracking_number), "#TRACKING").order_id)
        except TrackingItem.DoesNotExist:
            return None

    def order_id_for_payment(self, provider_ref: str) -> str | None:
        try:
            return str(PaymentRefItem.get(payment_ref_pk(provider_ref), "#PAYREF").order_id)
        except PaymentRefItem.DoesNotExist:
            return None

    def list_for_customer(
        self, customer_id: str, *, limit: int, start: dict[str, Any] | None, status: str | None
    ) -> Page:
        results = OrderItem.by_customer.query(
            customer_pk(customer_id),
            OrderItem.gsi1sk.startswith("ORDER#"),
            filter_condition=(OrderItem.status == status) if status else None,
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=_typed_key(start, {"pk", "sk", "gsi1pk", "gsi1sk"}),
        )
        items = [order_from_item(item) for item in results]
        return Page(items=items, last_key=_plain_key(results.last_evaluated_key))

    def list_for_email(
        self, email: str, *, limit: int, start: dict[str, Any] | None, status: str | None = None
    ) -> Page:
        """One Query on GSI2: a page of the orders placed with this (normalised) address, newest first."""
        results = OrderItem.by_email.query(
            email_pk(email),
            OrderItem.gsi2sk.startswith("ORDER#"),
            filter_condition=(OrderItem.status == status) if status else None,
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=_typed_key(start, {"pk", "sk", "gsi2pk", "gsi2sk"}),
        )
        items = [order_from_item(item) for item in results]
        return Page(items=items, last_key=_plain_key(results.last_evaluated_key))

    def timeline(self, order_id: str, *, limit: int, start: dict[str, Any] | None) -> tuple[Order | None, Page]:
        """Usually one Query. The range starts at the order item (#ORDER sorts before EVENT#),
        so the first page checks ownership without a second read. Documents (DOC#…) sort in
        between: they are skipped, and the query goes on until the page is full."""
        client = self.connection().client
        kwargs: dict[str, Any] = {
            "TableName": TableItem.Meta.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": order_pk(order_id)},
                ":low": {"S": ORDER_SK},
                ":high": {"S": f"{EVENT_PREFIX}~"},
            },
        }
        if start:
            kwargs["ExclusiveStartKey"] = _typed_key(start, {"pk", "sk"})
        order: Order | None = None
        entries: list[TimelineEntry] = []
        last_key: dict[str, Any] | None = None
        while True:
            wanted = limit - len(entries) + (0 if start or order is not None else 1)
            response = client.query(**kwargs, Limit=wanted)
            for raw in response.get("Items", []):
                if raw["sk"]["S"] == ORDER_SK:
                    order = order_from_item(OrderItem.from_raw_data(raw))
                elif raw["sk"]["S"].startswith(EVENT_PREFIX):
                    entries.append(timeline_entry(TimelineItem.from_raw_data(raw)))
            last_key = response.get("LastEvaluatedKey")
            if last_key is None or len(entries) >= limit:
                return order, Page(items=entries, last_key=_plain_key(last_key))
            kwargs["ExclusiveStartKey"] = last_key


def current_version(order_id: str) -> int:
    """The order's stored version (0: none), for entries written outside an order change."""
    try:
        item = OrderItem.get(order_pk(order_id), ORDER_SK, attributes_to_get=["version"])
    except OrderItem.DoesNotExist:
        return 0
    return int(item.version or 0)


def tracking_pk(tracking_number: str) -> str:
    return f"TRACKING#{tracking_number}"


def payment_ref_pk(provider_ref: str) -> str:
    return f"PAYREF#{provider_ref}"


def _payment_ref_item(provider_ref: str, order_id: str) -> PaymentRefItem:
    return PaymentRefItem(pk=payment_ref_pk(provider_ref), sk="#PAYREF", type="payment_ref", order_id=order_id)


def write_change(
    transaction: TransactWrite,
    order: Order,
    effects: Effects,
    *,
    new: bool,
    due: datetime | None = None,
) -> None:
    """One TransactWriteItems for one change: the order (conditional on the version read, or
    new; filed in the sweep's index at `due`), its events as timeline entries under the new
    version, and every effect."""
    version = 1 if new else order.version + 1
    try:
        with transaction:
            guarded = Guarded(transaction)
            stale = lambda: StaleVersionError("the order changed meanwhile; read it and retry")  # noqa: E731
            if new:
                item = order_to_item(order, new=True, due=due)
                guarded.save(item, condition=OrderItem.pk.does_not_exist(), error=stale)
            else:
                guarded.save(order_to_item(order, due=due), error=stale)  # pynamodb adds the version condition
            for index, event in enumerate(order.events):
                guarded.save(timeline_item(order.id, event, change_key(version, index)))
            _write_effects(guarded, order, effects, new=new)
    except TransactWriteError as exc:
        conflict = lambda: StaleVersionError("the order is being changed by another request; retry")  # noqa: E731
        raise guarded.map(exc, conflict=conflict) from exc
    order.version = version
    order.events.clear()


def _write_effects(guarded: Guarded, order: Order, effects: Effects, *, new: bool) -> None:
    if new and order.number:
        guarded.save(
            OrderNumberItem(pk=order_number_pk(order.number), sk="#ORDERNO", type="order_number", order_id=order.id),
            condition=OrderNumberItem.pk.does_not_exist(),
            error=lambda: OrderNumberTakenError(f"order number {order.number} is taken"),
        )
    if effects.response is not None:
        guarded.save(
            _idempotency_item(effects.response),
            condition=IdempotencyItem.pk.does_not_exist(),
            error=lambda: IdempotencyKeyTakenError("idempotency key already used"),
        )
    if effects.event_key is not None:
        guarded.save(
            ProcessedEventItem(
                pk=f"WEBHOOK#{effects.event_key}",
                sk="#EVENT",
                type="processed_event",
                order_id=order.id,
                expires_at=timedelta(days=PROCESSED_EVENT_DAYS),
            ),
            condition=ProcessedEventItem.pk.does_not_exist(),
            error=lambda: DuplicateEventError("event already processed"),
        )
    for number, shipment_id in effects.tracking.items():
        guarded.save(
            TrackingItem(
                pk=tracking_pk(number), sk="#TRACKING", type="tracking", order_id=order.id, shipment_id=shipment_id
            ),
            condition=TrackingItem.pk.does_not_exist(),
            error=lambda number=number: TrackingNumberTakenError(  # type: ignore[misc]
                f"tracking number '{number}' is already used by another shipment"
            ),
        )
    if effects.payment_ref is not None:  # unconditional: a provider's refund finds the order by it
        guarded.save(_payment_ref_item(effects.payment_ref, order.id))
    for sku, units in sorted(effects.stock.items()):
        condition = CatalogItemModel.stock >= units
        error: ErrorFactory = functools.partial(StockShortError, [sku])
        expected = effects.catalog.get(sku)
        if expected is not None:  # a transaction touches an item once: the line's checks join this condition
            condition &= _meets(expected)
            error = functools.partial(CatalogChangedError, [sku])
        guarded.update(
            CatalogItemModel(pk=sku_pk(sku), sk=ITEM_SK),
            [CatalogItemModel.stock.add(-units)],
            condition=condition,
            error=error,
        )
    for sku, expected in sorted(effects.catalog.items()):
        if sku not in effects.stock:
            guarded.condition_check(
                CatalogItemModel,
                (sku_pk(sku), ITEM_SK),
                condition=_meets(expected),
                error=functools.partial(CatalogChangedError, [sku]),
            )


def _meets(expected: CatalogExpectation) -> Any:
    """The condition on a catalogue item that it says what an order line expects (see check_lines)."""
    condition = CatalogItemModel.pk.exists() & (CatalogItemModel.stock >= expected.min_stock)
    if expected.price is not None:
        currency, unit_price = expected.price
        condition &= (CatalogItemModel.currency == currency) & (CatalogItemModel.unit_price == unit_price)
    return condition


# --- idempotency -------------------------------------------------------------------


def _idempotency_item(response: StoredResponse) -> IdempotencyItem:
    return IdempotencyItem(
        pk=idempotency_pk(response.principal, response.key),
        sk=IDEM_SK,
        type="idempotency",
        request_hash=response.request_hash,
        status_code=response.status_code,
        response=response.body,
        expires_at=response.expires_at,
    )


def _stored_response(item: IdempotencyItem, principal: str, key: str) -> StoredResponse | None:
    expires_at: datetime = item.expires_at
    if expires_at <= datetime.now(UTC):
        return None  # TTL deletes lazily; an expired record no longer counts
    return StoredResponse(
        principal=principal,
        key=key,
        request_hash=item.request_hash,
        status_code=int(item.status_code),
        body=item.response,
        expires_at=expires_at,
    )


def _batch_get(keys: list[tuple[str, str]], *, consistent: bool) -> Iterator[dict[str, Any]]:
    """The raw items of these (pk, sk) keys, of any type: one BatchGetItem per 100 keys (and again
    for whatever DynamoDB leaves unprocessed, as pynamodb's batch_get does)."""
    client = TableItem._get_connection().connection.client
    table = TableItem.Meta.table_name
    for start in range(0, len(keys), BATCH_GET_KEYS):
        chunk = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys[start : start + BATCH_GET_KEYS]]
        request: dict[str, Any] = {table: {"Keys": chunk, "ConsistentRead": consistent}}
        while request:
            response = client.batch_get_item(RequestItems=request)
            yield from response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}


class DynamoIdempotencyStore:
    def get(self, principal: str, key: str) -> StoredResponse | None:
        try:
            item = IdempotencyItem.get(idempotency_pk(principal, key), IDEM_SK, consistent_read=True)
        except IdempotencyItem.DoesNotExist:
            return None
        return _stored_response(item, principal, key)

    def get_with_catalog(
        self, principal: str, key: str, skus: Iterable[str]
    ) -> tuple[StoredResponse | None, Mapping[str, CatalogItem]]:
        """One BatchGetItem (up to 99 SKUs), strongly consistent as `get` is: a client's quick retry
        finds the record its first attempt wrote."""
        keys = [(idempotency_pk(principal, key), IDEM_SK), *((sku_pk(sku), ITEM_SK) for sku in dict.fromkeys(skus))]
        stored: StoredResponse | None = None
        catalog: dict[str, CatalogItem] = {}
        for raw in _batch_get(keys, consistent=True):
            if raw["sk"]["S"] == IDEM_SK:
                stored = _stored_response(IdempotencyItem.from_raw_data(raw), principal, key)
            else:
                item = catalog_from_item(CatalogItemModel.from_raw_data(raw))
                catalog[item.sku] = item
        return stored, catalog

    def get_with_order(self, principal: str, key: str, order_id: str) -> tuple[StoredResponse | None, Order | None]:
        """One BatchGetItem, strongly consistent as `get` is."""
        stored: StoredResponse | None = None
        order: Order | None = None
        for raw in _batch_get(
            [(idempotency_pk(principal, key), IDEM_SK), (order_pk(order_id), ORDER_SK)], consistent=True
        ):
            if raw["sk"]["S"] == IDEM_SK:
                stored = _stored_response(IdempotencyItem.from_raw_data(raw), principal, key)
            else:
                order = order_from_item(OrderItem.from_raw_data(raw))
        return stored, order


# --- catalogue ---------------------------------------------------------------------


def catalog_from_item(item: CatalogItemModel) -> CatalogItem:
    return CatalogItem(
        sku=item.sku,
        name=item.name,
        unit_price=int(item.unit_price),
        currency=item.currency,
        stock=int(item.stock),
        tax_rate_bps=int(item.tax_rate_bps),
        updated_at=item.updated_at,
        returnable=item.returnable is not False,
    )


class DynamoCatalogRepository:
    def get(self, sku: str) -> CatalogItem | None:
        try:
            return catalog_from_item(CatalogItemModel.get(sku_pk(sku), ITEM_SK))
        except CatalogItemModel.DoesNotExist:
            return None

    def get_many(self, skus: Iterable[str]) -> Mapping[str, CatalogItem]:
        keys = [(sku_pk(sku), ITEM_SK) for sku in dict.fromkeys(skus)]
        return {item.sku: catalog_from_item(item) for item in CatalogItemModel.batch_get(keys)}

    def put(self, item: CatalogItem) -> None:
        # An upsert: last write wins (catalogue feeds are authoritative), so no version check.
        CatalogItemModel(
            pk=sku_pk(item.sku),
            sk=ITEM_SK,
            type="catalog_item",
            sku=item.sku,
            name=item.name,
            unit_price=item.unit_price,
            currency=item.currency,
            stock=item.stock,
            tax_rate_bps=item.tax_rate_bps,
            updated_at=item.updated_at or datetime.now(UTC),
            returnable=item.returnable,
        ).save()
