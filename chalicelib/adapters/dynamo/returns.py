"""Returns in the single table, beside their order so the order's story is one Query.

  ORDER#<order id> / RETURN#<return id>      the return (GSI1 RETURNS#<status> / <created>#<id>: the queue;
                                             GSI2 RETURN#<return id> / RETURN: the return by its id)
  ORDER#<order id> / RETURNS#GUARD           a counter every new return of the order bumps (no over-return race),
                                             `held:<return id>` / `back:<return id>`: the units each return
                                             holds / brought back for a refund, and `receipts`, a counter
                                             every receipt bumps (the tally: who refunds shipping is decided once)
  RETURN#<return id> / #RETURN               finds the order of a return id
  RETURNDUE#<yyyy-mm-ddThh> / <due>#<id>     an approved return's receipt deadline (the sweep reads only due hours)
  SWEEP#returns / #CURSOR                    the last hour fully swept

Every change is one conditional TransactWriteItems: the return (its version), its
timeline entries, stock, its timer and its line in the tally. So a new return reads the
order, its lines' catalogue items and the tally in one BatchGetItem, and writes
conditionally on the counter it read: what was already returned needs no Query.
A change reads the return by its id (one Query on GSI2) and, instead of reading the
order for the version its timeline entries follow, checks that version in its transaction.
Outbound webhooks (return.updated, refund.requested) follow from the return item's own
stream record (pipeline.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute, VersionAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.operand import Path, Value
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.conditions import Guarded
from chalicelib.adapters.dynamo.models import CatalogItemModel, IdempotencyItem, OrderItem, TableItem, shared_connection
from chalicelib.adapters.dynamo.repositories import (
    BATCH_GET_KEYS,
    IDEM_SK,
    ITEM_SK,
    ORDER_SK,
    ORDER_VERSION_ATTEMPTS,
    OrderMoved,
    _batch_get,
    _idempotency_item,
    catalog_from_item,
    current_version,
    expect_order_at,
    follow_up_key,
    idempotency_pk,
    order_from_item,
    order_moved,
    order_pk,
    sku_pk,
    timeline_item,
)
from chalicelib.adapters.dynamo.schema import GSI1, GSI2
from chalicelib.domain.returns import Return, ReturnHold, ReturnLine, ReturnStatus, ReturnTally, Transition
from chalicelib.services.ports import IdempotencyKeyTakenError, Page, StaleVersionError, StoredResponse

if TYPE_CHECKING:
    from chalicelib.domain.catalog import CatalogItem
    from chalicelib.domain.orders import Order

RETURN_PREFIX = "RETURN#"
GUARD_SK = "RETURNS#GUARD"
BY_ID_SK = "RETURN"
HELD_PREFIX = "held:"  # the guard's attribute per return: the units it holds (a map, empty once released)
BACK_PREFIX = "back:"  # and the units it brought back for a refund (a map, empty until its parcel arrives)
QUEUE_PREFIX = "RETURNS#"
TIMER_PREFIX = "RETURNDUE#"
CURSOR_PK, CURSOR_SK = "SWEEP#returns", "#CURSOR"
MAX_CATCH_UP_HOURS = 24 * 7
LATE_WRITE_HOURS = 2


class ReturnQueueIndex(GlobalSecondaryIndex["ReturnItem"]):
    class Meta:
        index_name = GSI1
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ReturnByIdIndex(GlobalSecondaryIndex["ReturnItem"]):
    class Meta:
        index_name = GSI2
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class ReturnItem(TableItem):
    # Its own connection (this module may load after models.configure()): an inherited one lacks the indexes.
    _connection = None

    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    queue = ReturnQueueIndex()
    gsi2pk = UnicodeAttribute(null=True)  # absent on returns written before the index: read through the pointer
    gsi2sk = UnicodeAttribute(null=True)
    by_id = ReturnByIdIndex()

    id = UnicodeAttribute()
    number = UnicodeAttribute()
    order_id = UnicodeAttribute()
    customer_id = UnicodeAttribute()
    currency = UnicodeAttribute()
    status = UnicodeAttribute()
    reason = UnicodeAttribute()
    resolution = UnicodeAttribute()
    comment = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    lines = JSONAttribute(default=list)
    history = JSONAttribute(default=list)
    holds = JSONAttribute(default=list)
    rejection_reason = UnicodeAttribute(null=True)
    receive_by = UTCDateTimeAttribute(null=True)
    received_at = UTCDateTimeAttribute(null=True)
    refund_amount = NumberAttribute(null=True)
    shipping_refund = NumberAttribute(default=0)
    refund_taxes = JSONAttribute(default=list)
    refund_event_id = UnicodeAttribute(null=True)
    refunded_amount = NumberAttribute(null=True)
    credit_note_id = UnicodeAttribute(null=True)
    credit_note_number = UnicodeAttribute(null=True)
    replacement_order_id = UnicodeAttribute(null=True)
    order_version = NumberAttribute(null=True)
    version = VersionAttribute()


class ReturnPointerItem(TableItem):
    order_id = UnicodeAttribute()


class ReturnGuardItem(TableItem):
    returns = NumberAttribute(default=0)
    receipts = NumberAttribute(null=True)


class ReturnTimerItem(TableItem):
    return_id = UnicodeAttribute()
    order_id = UnicodeAttribute()
    due_at = UTCDateTimeAttribute()


class ReturnSweepCursorItem(TableItem):
    through = UTCDateTimeAttribute()


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def return_to_item(ret: Return) -> ReturnItem:
    item = ReturnItem(
        pk=order_pk(ret.order_id),
        sk=f"{RETURN_PREFIX}{ret.id}",
        type="return",
        gsi1pk=f"{QUEUE_PREFIX}{ret.status}",
        gsi1sk=f"{_stamp(ret.created_at)}#{ret.id}",
        gsi2pk=return_id_pk(ret.id),
        gsi2sk=BY_ID_SK,
        id=ret.id,
        number=ret.number,
        order_id=ret.order_id,
        customer_id=ret.customer_id,
        currency=ret.currency,
        status=str(ret.status),
        reason=ret.reason,
        resolution=ret.resolution,
        comment=ret.comment,
        created_at=ret.created_at,
        lines=[vars(line) for line in ret.lines],
        history=[{**vars(t), "at": _iso(t.at)} for t in ret.history],
        holds=[vars(hold) for hold in ret.holds],
        rejection_reason=ret.rejection_reason,
        receive_by=ret.receive_by,
        received_at=ret.received_at,
        refund_amount=ret.refund_amount,
        shipping_refund=ret.shipping_refund,
        refund_taxes=[list(rate) for rate in ret.refund_taxes],
        refund_event_id=ret.refund_event_id,
        refunded_amount=ret.refunded_amount,
        credit_note_id=ret.credit_note_id,
        credit_note_number=ret.credit_note_number,
        replacement_order_id=ret.replacement_order_id,
        order_version=ret.order_version,
    )
    if ret.version:
        item.version = ret.version
    return item


def return_from_item(item: ReturnItem) -> Return:
    return Return(
        id=item.id,
        number=item.number,
        order_id=item.order_id,
        customer_id=item.customer_id,
        currency=item.currency,
        lines=[_line(line) for line in item.lines or []],
        reason=item.reason,
        resolution=item.resolution,
        created_at=item.created_at,
        comment=item.comment,
        status=ReturnStatus(item.status),
        history=[Transition(**{**t, "at": datetime.fromisoformat(t["at"])}) for t in item.history or []],
        rejection_reason=item.rejection_reason,
        receive_by=item.receive_by,
        received_at=item.received_at,
        refund_amount=None if item.refund_amount is None else int(item.refund_amount),
        shipping_refund=int(item.shipping_refund or 0),
        refund_taxes=[(int(r), int(n), int(x)) for r, n, x in item.refund_taxes or []],
        refund_event_id=item.refund_event_id,
        refunded_amount=None if item.refunded_amount is None else int(item.refunded_amount),
        credit_note_id=item.credit_note_id,
        credit_note_number=item.credit_note_number,
        replacement_order_id=item.replacement_order_id,
        holds=[ReturnHold(**hold) for hold in item.holds or []],
        version=int(item.version or 0),
        order_version=int(item.order_version or 0),
    )


def return_id_pk(return_id: str) -> str:
    return f"{RETURN_PREFIX}{return_id}"


def _tally_line(ret: Return) -> list[Any]:
    """The return's line in the tally: top-level attributes of its own, so no change of another
    return (nor an order whose guard predates the tally) ever conflicts with it."""
    return [
        Path([f"{prefix}{ret.id}"]).set(
            Value({"M": {sku: {"N": str(quantity)} for sku, quantity in sorted(units.items())}})
        )
        for prefix, units in ((HELD_PREFIX, ret.held_units), (BACK_PREFIX, ret.units_back_for_refund))
    ]


def _units_by_return(raw: dict[str, Any], prefix: str) -> dict[str, dict[str, int]]:
    return {
        name.removeprefix(prefix): {sku: int(units["N"]) for sku, units in value["M"].items()}
        for name, value in raw.items()
        if name.startswith(prefix)
    }


def tally_from_raw(raw: dict[str, Any] | None) -> ReturnTally:
    """The tally in a guard item (DynamoDB JSON; None: the order has no return yet)."""
    if raw is None:
        return ReturnTally()
    return ReturnTally(
        int(raw.get("returns", {}).get("N", "0")),
        _units_by_return(raw, HELD_PREFIX),
        _units_by_return(raw, BACK_PREFIX),
        int(raw.get("receipts", {}).get("N", "0")),
    )


def return_from_image(image: dict[str, Any]) -> Return:
    """A stream image (DynamoDB JSON) of a return item."""
    return return_from_item(ReturnItem.from_raw_data(image))


def _line(data: dict[str, Any]) -> ReturnLine:
    numbers = ("quantity", "unit_price", "tax_rate_bps", "restockable", "damaged", "refund_amount", "refund_tax")
    return ReturnLine(**{**data, **{name: int(data.get(name, 0)) for name in numbers}})


def _timer(ret: Return, due_at: datetime) -> ReturnTimerItem:
    hour = due_at.astimezone(UTC).strftime("%Y-%m-%dT%H")
    return ReturnTimerItem(
        pk=f"{TIMER_PREFIX}{hour}",
        sk=f"{_stamp(due_at)}#{ret.id}",
        type="return_timer",
        return_id=ret.id,
        order_id=ret.order_id,
        due_at=due_at,
    )


class DynamoReturnRepository:
    def _transaction(self) -> TransactWrite:
        return TransactWrite(connection=shared_connection())

    # --- reading -----------------------------------------------------------------------

    def for_order(self, order_id: str) -> tuple[list[Return], ReturnTally]:
        """Every return of the order and its tally as stored (one Query, consistent)."""
        client = TableItem._get_connection().connection.client
        kwargs: dict[str, Any] = {
            "TableName": TableItem.Meta.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": order_pk(order_id)}, ":prefix": {"S": "RETURN"}},
            "ConsistentRead": True,
        }
        returns: list[Return] = []
        guard: dict[str, Any] | None = None
        while True:
            response = client.query(**kwargs)
            for raw in response.get("Items", []):
                if raw["sk"]["S"] == GUARD_SK:
                    guard = raw
                elif raw["sk"]["S"].startswith(RETURN_PREFIX):
                    returns.append(return_from_item(ReturnItem.from_raw_data(raw)))
            if "LastEvaluatedKey" not in response:
                return returns, tally_from_raw(guard)
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def order_for_request(
        self, order_id: str, skus: Iterable[str]
    ) -> tuple[Order | None, Mapping[str, CatalogItem], ReturnTally]:
        """The order, these SKUs' catalogue items and the order's return tally: one BatchGetItem
        (up to 98 SKUs), consistent — a retry after a lost race must see the return that won."""
        keys = [(order_pk(order_id), ORDER_SK), (order_pk(order_id), GUARD_SK)]
        keys += [(sku_pk(sku), ITEM_SK) for sku in list(dict.fromkeys(skus))[: BATCH_GET_KEYS - len(keys)]]
        order: Order | None = None
        guard: dict[str, Any] | None = None
        catalog: dict[str, CatalogItem] = {}
        for raw in _batch_get(keys, consistent=True):
            if raw["sk"]["S"] == ORDER_SK:
                order = order_from_item(OrderItem.from_raw_data(raw))
            elif raw["sk"]["S"] == GUARD_SK:
                guard = raw
            else:
                item = catalog_from_item(CatalogItemModel.from_raw_data(raw))
                catalog[item.sku] = item
        return order, catalog, tally_from_raw(guard)

    def order_of(self, return_id: str) -> str | None:
        try:
            return str(ReturnPointerItem.get(return_id_pk(return_id), "#RETURN", consistent_read=True).order_id)
        except DoesNotExist:
            return None

    def by_id(self, return_id: str, *, consistent: bool = False) -> Return | None:
        """The return with this id: one Query on GSI2 (eventually consistent, as an order's `get` is).
        `consistent`, or not found there (written a moment ago, or before the index): the pointer
        to its order, then the return itself, both strongly consistent."""
        if not consistent:
            for item in ReturnItem.by_id.query(return_id_pk(return_id), ReturnItem.gsi2sk == BY_ID_SK, limit=1):
                return return_from_item(item)
        order_id = self.order_of(return_id)
        return self.get(order_id, return_id) if order_id else None

    def get(self, order_id: str, return_id: str) -> Return | None:
        try:
            return return_from_item(
                ReturnItem.get(order_pk(order_id), f"{RETURN_PREFIX}{return_id}", consistent_read=True)
            )
        except DoesNotExist:
            return None

    def list_by_status(self, status: str, *, limit: int, start: dict[str, Any] | None) -> Page:
        results = ReturnItem.queue.query(
            f"{QUEUE_PREFIX}{status}",
            limit=limit,
            page_size=limit,
            last_evaluated_key={k: {"S": v} for k, v in start.items()} if start else None,
        )
        items = [return_from_item(item) for item in results]
        last = results.last_evaluated_key
        return Page(items=items, last_key={k: v["S"] for k, v in last.items()} if last else None)

    # --- writing -----------------------------------------------------------------------

    def create(self, ret: Return, tally: ReturnTally, response: StoredResponse | None = None) -> None:
        """Write a new return, and its line in the tally, if no other return of the order was
        created since `tally` was read (its entries follow `ret.order_version`, the order as read)."""
        try:
            with self._transaction() as transaction:
                guarded = Guarded(transaction)
                guarded.save(return_to_item(ret), condition=ReturnItem.pk.does_not_exist())
                guarded.save(
                    ReturnPointerItem(
                        pk=return_id_pk(ret.id), sk="#RETURN", type="return_pointer", order_id=ret.order_id
                    ),
                    condition=ReturnPointerItem.pk.does_not_exist(),
                )
                self._events(guarded, ret, response)
                count = tally.count
                guarded.update(
                    ReturnGuardItem(pk=order_pk(ret.order_id), sk=GUARD_SK),
                    [
                        ReturnGuardItem.returns.set(count + 1),
                        ReturnGuardItem.type.set("return_guard"),
                        *_tally_line(ret),
                    ],
                    condition=ReturnGuardItem.returns == count if count else ReturnGuardItem.pk.does_not_exist(),
                )
        except TransactWriteError as error:
            _key_taken(response)
            raise StaleVersionError("another return of this order was created meanwhile; retry") from error
        ret.version = 1
        ret.events.clear()

    def save(
        self,
        ret: Return,
        *,
        stock: dict[str, int] | None = None,
        timer_create: datetime | None = None,
        timer_delete: datetime | None = None,
        require_timer: bool = False,
        receipts: int | None = None,
        response: StoredResponse | None = None,
    ) -> None:
        """Write a changed return (conditional on the version read) with everything that follows from it.

        `receipts`: this change is a receipt decided on a tally that had counted so many; it
        counts itself, and only if no other receipt was counted meanwhile.
        Its timeline entries follow the order change current when they are recorded: the write
        expects the order at `ret.order_version` and checks that in its own transaction; if the
        order moved on, the failed check hands back its version and the change is written again."""
        for _ in range(ORDER_VERSION_ATTEMPTS):
            try:
                self._write_change(ret, stock, timer_create, timer_delete, require_timer, receipts, response)
            except OrderMoved as moved:
                ret.order_version = moved.version if moved.version is not None else current_version(ret.order_id)
                continue
            ret.version += 1
            ret.events.clear()
            return
        raise StaleVersionError("the order kept changing meanwhile; retry")

    def _write_change(
        self,
        ret: Return,
        stock: dict[str, int] | None,
        timer_create: datetime | None,
        timer_delete: datetime | None,
        require_timer: bool,
        receipts: int | None,
        response: StoredResponse | None,
    ) -> None:
        tally = _tally_line(ret)
        counted = None
        if receipts is not None:
            tally.append(ReturnGuardItem.receipts.set(receipts + 1))
            counted = ReturnGuardItem.receipts == receipts if receipts else ReturnGuardItem.receipts.does_not_exist()
        try:
            with self._transaction() as transaction:
                guarded = Guarded(transaction)
                if ret.events:
                    expect_order_at(guarded, ret.order_id, ret.order_version)
                if timer_delete is not None:
                    guarded.delete(
                        _timer(ret, timer_delete),
                        condition=ReturnTimerItem.pk.exists() if require_timer else None,
                        error=_stale,
                    )
                guarded.save(return_to_item(ret), error=_stale)  # conditional on the version read (pynamodb)
                if timer_create is not None:
                    guarded.save(_timer(ret, timer_create))
                self._events(guarded, ret, response)
                guarded.update(
                    ReturnGuardItem(pk=order_pk(ret.order_id), sk=GUARD_SK), tally, condition=counted, error=_stale
                )
                for sku, units in sorted((stock or {}).items()):
                    guarded.update(
                        CatalogItemModel(pk=sku_pk(sku), sk=ITEM_SK),
                        [CatalogItemModel.stock.add(units)],
                        condition=CatalogItemModel.pk.exists(),
                        error=_stale,
                    )
        except TransactWriteError as error:
            moved = order_moved(guarded.failed_items(error))
            if moved is not None:
                raise moved from error
            _key_taken(response)
            raise StaleVersionError("the return changed meanwhile; read it and retry") from error

    def _events(self, guarded: Guarded, ret: Return, response: StoredResponse | None) -> None:
        if response is not None:
            guarded.save(_idempotency_item(response), condition=IdempotencyItem.pk.does_not_exist(), error=_stale)
        for index, event in enumerate(ret.events):
            # After the order change current when it was recorded (a return is not an order change).
            key = follow_up_key(ret.order_version, event.at, f"return#{ret.id}#{ret.version}#{index:03d}")
            guarded.save(timeline_item(ret.order_id, event, key))

    def set_credit_note(self, ret: Return, document_id: str, number: str) -> None:
        """Note the credit note on the return once (a replayed stream record changes nothing)."""
        item = ReturnItem(pk=order_pk(ret.order_id), sk=f"{RETURN_PREFIX}{ret.id}")
        # Any known version: without the version condition pynamodb then ADDs 1 to the stored one
        # (left unset it would SET 1, sending the version back and reusing a version's webhook key).
        item.version = ret.version or 1
        try:
            item.update(
                actions=[ReturnItem.credit_note_id.set(document_id), ReturnItem.credit_note_number.set(number)],
                condition=ReturnItem.pk.exists() & ReturnItem.credit_note_id.does_not_exist(),
                add_version_condition=False,
            )
        except UpdateError as error:
            if "ConditionalCheckFailed" not in str(error.cause_response_code or error):
                raise


def _stale() -> Exception:
    return StaleVersionError("the return changed meanwhile; read it and retry")


def _key_taken(response: StoredResponse | None) -> None:
    """Raise IdempotencyKeyTakenError when the request's key was stored meanwhile (a concurrent retry)."""
    if response is None:
        return
    try:
        IdempotencyItem.get(idempotency_pk(response.principal, response.key), IDEM_SK, consistent_read=True)
    except DoesNotExist:
        return
    raise IdempotencyKeyTakenError("idempotency key already used")


class DynamoReturnTimers:
    """Receipt deadlines of approved returns, in hour buckets (the SLA timers' layout, own partitions)."""

    def due(self, now: datetime, real_now: datetime) -> tuple[list[tuple[str, str, datetime]], datetime]:
        """(return id, order id, due at) of every deadline due by `now`, and the hour the cursor may move to."""
        try:
            start = ReturnSweepCursorItem.get(CURSOR_PK, CURSOR_SK, consistent_read=True).through
        except DoesNotExist:
            start = _hour(real_now) - timedelta(hours=MAX_CATCH_UP_HOURS)
        found: list[tuple[str, str, datetime]] = []
        hour, last = _hour(start), _hour(now)
        upper = f"{_stamp(now)}#~"
        while hour <= last:
            for item in ReturnTimerItem.query(
                f"{TIMER_PREFIX}{hour.strftime('%Y-%m-%dT%H')}", ReturnTimerItem.sk <= upper
            ):
                found.append((item.return_id, item.order_id, item.due_at))
            hour += timedelta(hours=1)
        return found, min(last, _hour(real_now)) - timedelta(hours=LATE_WRITE_HOURS)

    def advance(self, through: datetime, keep: Sequence[datetime] = ()) -> None:
        # The next sweep starts at the cursor's hour (inclusive), so it reads a kept deadline again.
        through = min([through, *(_hour(due_at) for due_at in keep)])
        ReturnSweepCursorItem(pk=CURSOR_PK, sk=CURSOR_SK, type="sweep_cursor", through=through).save()

    def discard(self, return_id: str, order_id: str, due_at: datetime) -> None:
        hour = due_at.astimezone(UTC).strftime("%Y-%m-%dT%H")
        ReturnTimerItem(pk=f"{TIMER_PREFIX}{hour}", sk=f"{_stamp(due_at)}#{return_id}").delete()


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
