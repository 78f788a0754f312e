"""DynamoDB repositories: the domain's aggregates in and out of the single table.

Each public method is one DynamoDB round trip (GetItem, Query, BatchGetItem or
TransactWriteItems), which is what the per-request budget in QUALITY.md allows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.models import (
    AddressMap,
    CatalogItemModel,
    CustomerMap,
    DiscountMap,
    HoldMap,
    IdempotencyItem,
    LineMap,
    OrderItem,
    TimelineItem,
)
from chalicelib.domain.address import Address
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.ids import new_id
from chalicelib.domain.orders import (
    Customer,
    Discount,
    DomainEvent,
    Hold,
    Order,
    OrderLine,
    OrderStatus,
)
from chalicelib.services.ports import IdempotencyKeyTakenError, Page, StoredResponse

ORDER_SK = "#ORDER"
ITEM_SK = "#ITEM"
IDEM_SK = "#IDEM"


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def customer_pk(customer_id: str) -> str:
    return f"CUSTOMER#{customer_id}"


def sku_pk(sku: str) -> str:
    return f"SKU#{sku}"


def idempotency_pk(principal: str, key: str) -> str:
    return f"IDEM#{principal}#{key}"


# --- orders -----------------------------------------------------------------------


def order_to_item(order: Order, *, new: bool = False) -> OrderItem:
    """The pynamodb item; for a new order the version is left for pynamodb to start at 1."""
    totals = order.totals
    item = OrderItem(
        pk=order_pk(order.id),
        sk=ORDER_SK,
        type="order",
        gsi1pk=customer_pk(order.customer.id),
        gsi1sk=order_pk(order.id),
        id=order.id,
        status=str(order.status),
        customer_id=order.customer.id,
        customer=CustomerMap(**vars(order.customer)),
        currency=order.currency,
        lines=[LineMap(**vars(line)) for line in order.lines],
        shipping_address=AddressMap(**vars(order.shipping_address)),
        shipping_method=order.shipping_method,
        shipping_fee=order.shipping_fee,
        discounts=[DiscountMap(**vars(discount)) for discount in order.discounts],
        holds=[HoldMap(**vars(hold)) for hold in order.holds],
        shipments=order.shipments,
        subtotal=totals.subtotal,
        discount_total=totals.discount_total,
        tax_total=totals.tax_total,
        total=totals.total,
        placed_at=order.placed_at,
        ship_by=order.ship_by,
        deliver_by=order.deliver_by,
    )
    if order.version and not new:
        item.version = order.version
    return item


def _plain(attribute: Any) -> dict[str, Any]:
    return {key: value for key, value in attribute.as_dict().items()}


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
        shipping_method=item.shipping_method,
        shipping_fee=int(item.shipping_fee),
        discounts=[Discount(d.code, int(d.amount)) for d in item.discounts or []],
        placed_at=item.placed_at,
        ship_by=item.ship_by,
        deliver_by=item.deliver_by,
        status=OrderStatus(item.status),
        holds=[Hold(h.code, h.detail, h.sku) for h in item.holds or []],
        shipments=list(item.shipments or []),
        version=int(item.version or 0),
    )


def timeline_item(order_id: str, event: DomainEvent) -> TimelineItem:
    stamp = event.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return TimelineItem(
        pk=order_pk(order_id),
        sk=f"EVENT#{stamp}#{new_id('evt', event.at)}",
        type="timeline",
        kind=event.kind,
        at=event.at,
        actor=event.actor,
        data=event.data,
    )


def _encode_cursor(key: dict[str, Any] | None) -> str | None:
    if not key:
        return None
    plain = {name: value["S"] for name, value in key.items()}
    return base64.urlsafe_b64encode(json.dumps(plain, sort_keys=True).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, expected_gsi1pk: str) -> dict[str, Any]:
    invalid = ValidationError("invalid cursor", details=[{"field": "cursor"}], code="invalid_cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        plain = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid from exc
    names = {"pk", "sk", "gsi1pk", "gsi1sk"}
    if (
        not isinstance(plain, dict)
        or set(plain) != names
        or not all(isinstance(value, str) for value in plain.values())
        or plain["gsi1pk"] != expected_gsi1pk  # a cursor only continues the list it came from
    ):
        raise invalid
    return {name: {"S": value} for name, value in plain.items()}


class DynamoOrderRepository:
    def __init__(self) -> None:
        self._connection: Connection | None = None

    def _transaction_connection(self) -> Connection:
        # Built once per container: a botocore client costs tens of milliseconds.
        if self._connection is None:
            self._connection = Connection(region=OrderItem.Meta.region)
        return self._connection

    def add(self, order: Order, response: StoredResponse | None = None) -> None:
        """One TransactWriteItems: the order, its timeline events, its idempotency record."""
        try:
            with TransactWrite(connection=self._transaction_connection()) as transaction:
                transaction.save(order_to_item(order, new=True), condition=OrderItem.pk.does_not_exist())
                for event in order.events:
                    transaction.save(timeline_item(order.id, event))
                if response is not None:
                    transaction.save(
                        _idempotency_item(response), condition=IdempotencyItem.pk.does_not_exist()
                    )
        except TransactWriteError as exc:
            reasons = exc.cancellation_reasons or []
            if response is not None and reasons and _failed_on_condition(reasons[-1]):
                raise IdempotencyKeyTakenError("idempotency key already used") from exc
            raise
        order.version = 1
        order.events.clear()

    def get(self, order_id: str) -> Order | None:
        try:
            return order_from_item(OrderItem.get(order_pk(order_id), ORDER_SK))
        except OrderItem.DoesNotExist:
            return None

    def list_for_customer(
        self, customer_id: str, *, limit: int, cursor: str | None, status: str | None
    ) -> Page:
        partition = customer_pk(customer_id)
        start = _decode_cursor(cursor, partition) if cursor else None
        results = OrderItem.by_customer.query(
            partition,
            OrderItem.gsi1sk.startswith("ORDER#"),
            filter_condition=(OrderItem.status == status) if status else None,
            scan_index_forward=False,
            limit=limit,
            page_size=limit,
            last_evaluated_key=start,
        )
        items = [order_from_item(item) for item in results]
        return Page(items=items, next_cursor=_encode_cursor(results.last_evaluated_key))


def _failed_on_condition(reason: Any) -> bool:
    return reason is not None and getattr(reason, "code", None) == "ConditionalCheckFailed"


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


class DynamoIdempotencyStore:
    def get(self, principal: str, key: str) -> StoredResponse | None:
        try:
            item = IdempotencyItem.get(idempotency_pk(principal, key), IDEM_SK, consistent_read=True)
        except IdempotencyItem.DoesNotExist:
            return None
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


# --- catalogue ---------------------------------------------------------------------


def _catalog_from_item(item: CatalogItemModel) -> CatalogItem:
    return CatalogItem(
        sku=item.sku,
        name=item.name,
        unit_price=int(item.unit_price),
        currency=item.currency,
        stock=int(item.stock),
        tax_rate_bps=int(item.tax_rate_bps),
        updated_at=item.updated_at,
    )


class DynamoCatalogRepository:
    def get(self, sku: str) -> CatalogItem | None:
        try:
            return _catalog_from_item(CatalogItemModel.get(sku_pk(sku), ITEM_SK))
        except CatalogItemModel.DoesNotExist:
            return None

    def get_many(self, skus: Iterable[str]) -> Mapping[str, CatalogItem]:
        keys = [(sku_pk(sku), ITEM_SK) for sku in dict.fromkeys(skus)]
        return {item.sku: _catalog_from_item(item) for item in CatalogItemModel.batch_get(keys)}

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
        ).save(add_version_condition=False)
