"""DynamoDB storage for outbound webhooks: subscriptions and their deliveries (durable intents).

WEBHOOKSUB#<id> / #SUB               a subscription (GSI1: WEBHOOKSUBS / <id>, while active)
WEBHOOKSUB#<id> / DELIVERY#<event>   one event for one subscription: created once (conditional
                                     put), claimed with a lease, finished delivered or dead;
                                     while pending it sits in GSI1 under WEBHOOK#DUE#<day> / <next try>

#SUB sorts before DELIVERY#: one Query from DELIVERY$ down to #SUB, newest first, reads a page of
deliveries and, at the end of the list, the subscription itself (see `deliveries`). Nothing else
may sort between the two in this partition.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.models import IdempotencyItem, TableItem, shared_connection
from chalicelib.adapters.dynamo.repositories import _idempotency_item
from chalicelib.adapters.dynamo.schema import GSI1
from chalicelib.services.ports import IdempotencyKeyTakenError, Page, StoredResponse
from chalicelib.services.webhooks import Attempt, Delivery, Subscription

SUB_SK = "#SUB"
DELIVERY_PREFIX = "DELIVERY#"
DELIVERIES_END = "DELIVERY$"  # sorts after every DELIVERY#<event>, whatever the event id
ACTIVE = "WEBHOOKSUBS"
MAX_LOG = 10  # attempts kept per delivery (the newest)


class _Gsi1(GlobalSecondaryIndex[Any]):
    class Meta:
        index_name = GSI1
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class WebhookSubscriptionItem(TableItem):
    id = UnicodeAttribute()
    url = UnicodeAttribute()
    events = JSONAttribute()
    secret = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    active = _Gsi1()


class WebhookDeliveryItem(TableItem):
    subscription_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    status = UnicodeAttribute()  # pending | delivered | dead | cancelled
    attempts = NumberAttribute(default=0)
    log = JSONAttribute(default=list)
    next_attempt_at = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()


def _pk(subscription_id: str) -> str:
    return f"WEBHOOKSUB#{subscription_id}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _condition_failed(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None) or getattr(error, "cause", None)
    return "ConditionalCheckFailed" in str(cause) or "ConditionalCheckFailed" in str(error)


def _subscription(item: WebhookSubscriptionItem) -> Subscription:
    return Subscription(
        id=item.id,
        url=item.url,
        events=tuple(item.events or ()),
        secret=item.secret,
        status=item.status,
        created_at=item.created_at,
    )


def _delivery(item: WebhookDeliveryItem) -> Delivery:
    return Delivery(
        subscription_id=item.subscription_id,
        event_id=item.event_id,
        event_type=item.event_type,
        status=item.status,
        attempts=int(item.attempts or 0),
        log=[Attempt(**entry) for entry in item.log or []],
        next_attempt_at=item.next_attempt_at,
        created_at=item.created_at,
    )


class DynamoWebhookStore:
    def __init__(self) -> None:
        # The table may have been re-configured since the last container (a stale described table).
        WebhookSubscriptionItem._connection = None
        WebhookDeliveryItem._connection = None

    def _transaction_connection(self) -> Connection:
        return shared_connection()

    # --- subscriptions ---------------------------------------------------------------

    def add_subscription(self, subscription: Subscription, response: StoredResponse | None) -> None:
        item = WebhookSubscriptionItem(
            pk=_pk(subscription.id),
            sk=SUB_SK,
            type="webhook_subscription",
            id=subscription.id,
            url=subscription.url,
            events=list(subscription.events),
            secret=subscription.secret,
            status=subscription.status,
            created_at=subscription.created_at,
            gsi1pk=ACTIVE,
            gsi1sk=subscription.id,
        )
        try:
            with TransactWrite(connection=self._transaction_connection()) as transaction:
                transaction.save(item, condition=WebhookSubscriptionItem.pk.does_not_exist())
                if response is not None:
                    transaction.save(_idempotency_item(response), condition=IdempotencyItem.pk.does_not_exist())
        except TransactWriteError as error:
            reasons = error.cancellation_reasons or []
            if len(reasons) > 1 and getattr(reasons[1], "code", None) == "ConditionalCheckFailed":
                raise IdempotencyKeyTakenError("idempotency key already used") from error
            raise

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        try:
            return _subscription(WebhookSubscriptionItem.get(_pk(subscription_id), SUB_SK))
        except WebhookSubscriptionItem.DoesNotExist:
            return None

    def delete_subscription(self, subscription_id: str) -> bool:
        """Mark it deleted (its deliveries stay readable); False if there was none."""
        try:
            WebhookSubscriptionItem(pk=_pk(subscription_id), sk=SUB_SK).update(
                actions=[
                    WebhookSubscriptionItem.status.set("deleted"),
                    WebhookSubscriptionItem.gsi1pk.remove(),
                    WebhookSubscriptionItem.gsi1sk.remove(),
                ],
                condition=WebhookSubscriptionItem.status == "active",
            )
            return True
        except UpdateError as error:
            if _condition_failed(error):
                return False
            raise

    def active_subscriptions(self) -> list[Subscription]:
        """Every active subscription: one Query (a shop has a handful)."""
        return [_subscription(item) for item in WebhookSubscriptionItem.active.query(ACTIVE)]

    # --- deliveries (what /deliveries shows; the retry state is the intent's) -------------

    def _key(self, subscription_id: str, event_id: str) -> WebhookDeliveryItem:
        return WebhookDeliveryItem(pk=_pk(subscription_id), sk=f"{DELIVERY_PREFIX}{event_id}")

    def get_delivery(self, subscription_id: str, event_id: str) -> Delivery | None:
        try:
            return _delivery(WebhookDeliveryItem.get(_pk(subscription_id), f"{DELIVERY_PREFIX}{event_id}"))
        except WebhookDeliveryItem.DoesNotExist:
            return None

    def record_attempt(self, delivery: Delivery, attempt: Attempt) -> None:
        """Written by the one worker holding the intent's lease: a plain put is enough."""
        log = [vars(entry) for entry in [*delivery.log, attempt][-MAX_LOG:]]
        WebhookDeliveryItem(
            pk=_pk(delivery.subscription_id),
            sk=f"{DELIVERY_PREFIX}{delivery.event_id}",
            type="webhook_delivery",
            subscription_id=delivery.subscription_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts + 1,
            log=log,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
        ).save()

    def mark(self, subscription_id: str, event_id: str, status: str) -> None:
        try:
            self._key(subscription_id, event_id).update(
                actions=[WebhookDeliveryItem.status.set(status), WebhookDeliveryItem.next_attempt_at.remove()],
                condition=WebhookDeliveryItem.pk.exists(),
            )
        except UpdateError as error:
            if not _condition_failed(error):
                raise

    def deliveries(self, subscription_id: str, *, limit: int, start: dict[str, Any] | None) -> Page | None:
        """Newest first (event ids sort by time); None: no such subscription. One Query.

        The range runs from the newest delivery down to the subscription's own item (#SUB sorts
        before DELIVERY#), which is never part of the page. One item more than the page needs is
        asked for, so a page that ends the list also reads the subscription; a full page is proven
        by its deliveries instead — they are only written for a subscription, and a subscription
        is only ever marked deleted, never removed. The cursor is what a Query of the deliveries
        alone with `Limit=limit` gave: a full page's last delivery (then perhaps an empty last page)."""
        client = WebhookDeliveryItem._get_connection().connection.client
        kwargs: dict[str, Any] = {
            "TableName": WebhookDeliveryItem.Meta.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": _pk(subscription_id)},
                ":low": {"S": SUB_SK},
                ":high": {"S": DELIVERIES_END},
            },
            "ScanIndexForward": False,
        }
        if start:
            kwargs["ExclusiveStartKey"] = {k: {"S": v} for k, v in start.items()}
        found = False
        raws: list[dict[str, Any]] = []
        while True:
            # One more than the page still needs: the subscription's item may take it.
            response = client.query(**kwargs, Limit=limit - len(raws) + 1)
            for raw in response.get("Items", []):
                sk = raw["sk"]["S"]
                if sk == SUB_SK:
                    found = True
                elif sk.startswith(DELIVERY_PREFIX):
                    raws.append(raw)
            last: dict[str, Any] | None = response.get("LastEvaluatedKey")
            if found or last is None or len(raws) >= limit:
                break
            kwargs["ExclusiveStartKey"] = last  # a response cut at 1 MB: the page is filled up
        if not found and last is None:
            return None  # the whole range was read, and no subscription item in it
        if len(raws) >= limit:  # a full page continues after its last delivery, as `Limit=limit` had it
            raws = raws[:limit]
            last = {"pk": raws[-1]["pk"], "sk": raws[-1]["sk"]}
        else:
            last = None  # the list ended: the subscription's own item comes after its last delivery
        items = [_delivery(WebhookDeliveryItem.from_raw_data(raw)) for raw in raws]
        return Page(items=items, last_key={k: v["S"] for k, v in last.items()} if last else None)
