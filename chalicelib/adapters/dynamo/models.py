"""pynamodb models for the single OrderCare table (layout in schema.py).

Models are declared with a placeholder table name; `configure()` points them at
the real table once, from settings, in the composition root — so importing this
module reads no environment and opens no connection.
"""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection, TableConnection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.schema import GSI1, GSI2, GSI3, GSI4


class _Meta:
    table_name = "ordercare-unconfigured"
    region: str | None = None
    host: str | None = None
    max_retry_attempts = 3


# Concurrent calls the shared client keeps connections for (the local stream replayer's lanes run
# side by side in one process; a Lambda invocation makes one call at a time).
POOL_CONNECTIONS = 32
_shared: Connection | None = None
_shared_lock = threading.Lock()


def shared_connection() -> Connection:
    """The process's one pynamodb Connection: one botocore session, client and connection pool
    for every model, transaction and raw call. Each new Connection loads DynamoDB's service
    model again on its first call (80–110 ms of CPU), which a cold container paid once per
    model class and per repository it touched."""
    global _shared
    with _shared_lock:  # botocore's client creation is not thread-safe
        if _shared is None:
            connection = Connection(
                region=TableItem.Meta.region,
                host=TableItem.Meta.host,
                max_retry_attempts=_Meta.max_retry_attempts,
                max_pool_connections=POOL_CONNECTIONS,
            )
            connection.client  # noqa: B018 - built now, under the lock
            _shared = connection
        return _shared


class TableItem(Model):
    """Key attributes every item of the table has."""

    class Meta(_Meta):
        pass

    @classmethod
    def _get_connection(cls) -> TableConnection:
        """pynamodb's connection for the model (its table's key and index schema), on the shared client."""
        table = super()._get_connection()
        if table.connection._client is None:
            table.connection._client = shared_connection().client
        return table

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()


class ByCustomerIndex(GlobalSecondaryIndex["OrderItem"]):
    class Meta:
        index_name = GSI1
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ByEmailIndex(GlobalSecondaryIndex["OrderItem"]):
    """GSI2: the portal's view, EMAIL#<hash of the normalised address> / ORDER#<id>."""

    class Meta:
        index_name = GSI2
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class ByNumberIndex(GlobalSecondaryIndex["OrderItem"]):
    """GSI3 (sparse): ORDERNO#<number> / #ORDER, an order by its human number."""

    class Meta:
        index_name = GSI3
        projection = AllProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class ByDueIndex(GlobalSecondaryIndex["OrderItem"]):
    """GSI4 (sparse): DUE#<hour> / <due iso>#<order id>, the orders the SLA sweep has work on."""

    class Meta:
        index_name = GSI4
        projection = AllProjection()

    gsi4pk = UnicodeAttribute(hash_key=True)
    gsi4sk = UnicodeAttribute(range_key=True)


class CustomerMap(MapAttribute[str, Any]):
    id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    phone = UnicodeAttribute(null=True)
    locale = UnicodeAttribute()
    company = UnicodeAttribute(null=True)
    vat_id = UnicodeAttribute(null=True)


class AddressMap(MapAttribute[str, Any]):
    name = UnicodeAttribute()
    line1 = UnicodeAttribute()
    line2 = UnicodeAttribute(null=True)
    city = UnicodeAttribute()
    region = UnicodeAttribute(null=True)
    postal_code = UnicodeAttribute()
    country = UnicodeAttribute()


class LineMap(MapAttribute[str, Any]):
    sku = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    quantity = NumberAttribute()
    unit_price = NumberAttribute()
    tax_rate_bps = NumberAttribute()


class DiscountMap(MapAttribute[str, Any]):
    code = UnicodeAttribute()
    amount = NumberAttribute()


class HoldMap(MapAttribute[str, Any]):
    code = UnicodeAttribute()
    detail = UnicodeAttribute()
    sku = UnicodeAttribute(null=True)


class OrderItem(TableItem):
    """The order aggregate: pk ORDER#<id>, sk #ORDER; GSI1 CUSTOMER#<id> / ORDER#<id>;
    GSI2 EMAIL#<hash> / ORDER#<id>; GSI3 ORDERNO#<number> / #ORDER; GSI4 DUE#<hour> / <due>#<id>."""

    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_customer = ByCustomerIndex()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_email = ByEmailIndex()
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    by_number = ByNumberIndex()
    gsi4pk = UnicodeAttribute(null=True)
    gsi4sk = UnicodeAttribute(null=True)
    by_due = ByDueIndex()

    id = UnicodeAttribute()
    number = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    customer = CustomerMap()
    currency = UnicodeAttribute()
    lines = ListAttribute(of=LineMap)
    shipping_address = AddressMap()
    billing_address = AddressMap(null=True)
    buyer_reference = UnicodeAttribute(null=True)
    shipping_method = UnicodeAttribute()
    shipping_fee = NumberAttribute()
    discounts = ListAttribute(of=DiscountMap, default=list)
    holds = ListAttribute(of=HoldMap, default=list)
    waivers = ListAttribute(of=HoldMap, default=list)
    # Small nested lists kept as JSON: always read and written with the order.
    shipments = JSONAttribute(default=list)
    payments = JSONAttribute(default=list)
    refunds = JSONAttribute(default=list)
    payment_failures = JSONAttribute(default=list)
    paid_at = UTCDateTimeAttribute(null=True)
    processing_at = UTCDateTimeAttribute(null=True)
    first_shipped_at = UTCDateTimeAttribute(null=True)
    shipped_at = UTCDateTimeAttribute(null=True)
    delivered_at = UTCDateTimeAttribute(null=True)
    cancelled_at = UTCDateTimeAttribute(null=True)
    ship_by_met = BooleanAttribute(null=True)
    deliver_by_met = BooleanAttribute(null=True)
    revised_deliver_by = UTCDateTimeAttribute(null=True)
    promised_ship_by = UTCDateTimeAttribute(null=True)  # the placement promise (KPIs)
    promised_deliver_by = UTCDateTimeAttribute(null=True)
    sla_shipping = UnicodeAttribute(default="on_track")
    sla_delivery = UnicodeAttribute(default="on_track")
    replaces_order_id = UnicodeAttribute(null=True)
    # Denormalised totals: read by reports and stream consumers without recomputing.
    subtotal = NumberAttribute()
    discount_total = NumberAttribute()
    tax_total = NumberAttribute()
    total = NumberAttribute()
    placed_at = UTCDateTimeAttribute()
    ship_by = UTCDateTimeAttribute()
    deliver_by = UTCDateTimeAttribute()
    version = VersionAttribute()


class TimelineItem(TableItem):
    """One entry of an order's timeline: pk ORDER#<id>, sk EVENT#V<version>#<n> (see timeline_key)."""

    kind = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    data = JSONAttribute(default=dict)


class OrderNumberItem(TableItem):
    """The claim on a human order number: pk ORDERNO#<number>, sk #ORDERNO (put if absent)."""

    order_id = UnicodeAttribute()


class CatalogItemModel(TableItem):
    """A catalogue item: pk SKU#<sku>, sk #ITEM."""

    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    unit_price = NumberAttribute()
    currency = UnicodeAttribute()
    stock = NumberAttribute()
    tax_rate_bps = NumberAttribute()
    updated_at = UTCDateTimeAttribute()
    returnable = BooleanAttribute(null=True)  # missing: returnable


class TrackingItem(TableItem):
    """Finds an order from a carrier's tracking number: pk TRACKING#<number>, sk #TRACKING."""

    order_id = UnicodeAttribute()
    shipment_id = UnicodeAttribute()


class PaymentRefItem(TableItem):
    """Finds an order from a provider's payment reference (PaymentIntent id): pk PAYREF#<ref>, sk #PAYREF."""

    order_id = UnicodeAttribute()


class ProcessedEventItem(TableItem):
    """A webhook event already applied: pk WEBHOOK#<source>#<event id>, sk #EVENT."""

    order_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class PreferencesItem(TableItem):
    """A customer's notification choices: pk CUSTOMER#<id>, sk #PREFS."""

    email = BooleanAttribute()
    sms = BooleanAttribute()
    locale = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class PhoneOptOutItem(TableItem):
    """SMS consent of a phone number (STOP/START): pk PHONE#<e164>, sk #SMS."""

    opted_out = BooleanAttribute()
    keyword = UnicodeAttribute()
    updated_at = UTCDateTimeAttribute()


class SmsCounterItem(TableItem):
    """SMS sent to a customer on one day: pk CUSTOMER#<id>, sk SMSDAY#<yyyy-mm-dd>."""

    sent = NumberAttribute(default=0)
    expires_at = TTLAttribute()


class IdempotencyItem(TableItem):
    """The stored outcome of a request: pk IDEM#<principal>#<key>, sk #IDEM; expires by TTL."""

    request_hash = UnicodeAttribute()
    status_code = NumberAttribute()
    response = JSONAttribute()
    expires_at = TTLAttribute()


MODELS: tuple[type[TableItem], ...] = (
    TableItem,
    OrderItem,
    TimelineItem,
    OrderNumberItem,
    CatalogItemModel,
    TrackingItem,
    PaymentRefItem,
    ProcessedEventItem,
    PreferencesItem,
    PhoneOptOutItem,
    SmsCounterItem,
    IdempotencyItem,
)


def _all_models() -> list[type[TableItem]]:
    """Every model on the table, including those declared in other adapter modules."""
    found: list[type[TableItem]] = []
    pending: list[type[TableItem]] = [TableItem]
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def configure(table_name: str, region: str | None = None) -> None:
    """Point every model at the real table. Endpoints come from botocore's own
    configuration (e.g. AWS_ENDPOINT_URL_DYNAMODB locally), read when the client is built."""
    global _shared
    with _shared_lock:
        _shared = None  # rebuilt lazily with the new settings
    for model in _all_models():
        model.Meta.table_name = table_name
        model.Meta.region = region
        model._connection = None


class Transactional:
    """A repository that writes with TransactWriteItems (on the shared connection)."""

    def connection(self) -> Connection:
        return shared_connection()

    def transaction(self) -> TransactWrite:
        return TransactWrite(connection=self.connection())
