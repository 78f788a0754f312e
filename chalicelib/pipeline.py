"""Stream consumer: turn order changes on the table's stream into their effects.

Each record is handled on its own (Powertools BatchProcessor): a record that
fails is reported in `batchItemFailures`, so the event source retries it (and
bisects, and finally sends it to the failure queue) without blocking the shard
or redoing the records that succeeded.

A record fails only when its intents could not be recorded. Once they are
stored (services/intents.py), a failing effect is the retry schedule's to finish,
so stream redeliveries never count as attempts and one effect never hides another.
The event source mapping filters on the item type (infra), so timeline, intent and
document writes do not invoke this function at all; `OrderChange.of` drops the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.events import ORDER_TYPE, RETURN_TYPE, TICKET_TYPES  # what the mapping's filter lets through
from chalicelib.observability import get_logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    from chalicelib.domain.orders import Order


@dataclass(frozen=True)
class OrderChange:
    """One order item's change on the stream, as domain Orders."""

    before: Order | None
    after: Order

    @classmethod
    def of(cls, record: DynamoDBRecord) -> OrderChange | None:
        """The change, or None for a record that is not an order written (a delete, another item type)."""
        change = record.raw_event.get("dynamodb", {})
        new_image = change.get("NewImage")
        if not new_image or new_image.get("type", {}).get("S") != ORDER_TYPE:
            return None
        old_image = change.get("OldImage")
        return cls(order_from_image(old_image) if old_image else None, order_from_image(new_image))


def order_from_image(image: dict[str, Any]) -> Order:
    """A stream image (DynamoDB JSON) of an order item as a domain Order."""
    from chalicelib.adapters.dynamo.models import OrderItem
    from chalicelib.adapters.dynamo.repositories import order_from_item

    return order_from_item(OrderItem.from_raw_data(image))


def changed_at(change: dict[str, Any], fallback: datetime | None = None) -> datetime:
    """When DynamoDB recorded a stream record's change: the time of an outbound event derived from it,
    the same on every redelivery of the record (so its event id is too)."""
    stamp = change.get("ApproximateCreationDateTime")
    if stamp is not None:
        return datetime.fromtimestamp(float(stamp), UTC)
    if fallback is not None:
        return fallback
    raise ValueError("the stream record has no ApproximateCreationDateTime")


def handle_order_record(record: DynamoDBRecord) -> dict[str, str]:
    """Count the KPI facts, plan the survey, record every intent of the change, drive them; what was done.

    The order's SLA timers need nothing here: the order write filed the item by its next due one."""
    from chalicelib.bootstrap import get_container

    raw = record.raw_event.get("dynamodb", {})
    if (raw.get("NewImage") or {}).get("type", {}).get("S") in TICKET_TYPES:
        from chalicelib.services.ticket_events import handle_ticket_change

        return handle_ticket_change(get_container(), raw)
    change = OrderChange.of(record)
    if change is None:
        return handle_return_record(record)
    container = get_container()
    container.kpis.on_order_change(change.before, change.after)
    container.surveys.on_order_change(change.before, change.after)
    outcome = container.intents.handle_change(change.before, change.after)
    from chalicelib.services.ticket_events import attention_tickets

    outcome.update(attention_tickets(container, change.before, change.after))  # parcels needing a person
    if outcome:
        get_logger().info("order change handled", extra={"order_id": change.after.id, "intents": outcome})
    return outcome


def handle_return_record(record: DynamoDBRecord) -> dict[str, str]:
    """A return changed: record and drive its intents (messages, credit note, replacement order)."""
    from chalicelib.adapters.dynamo.returns import return_from_image
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.outbound import return_events

    change = record.raw_event.get("dynamodb", {})
    new_image = change.get("NewImage")
    if not new_image or new_image.get("type", {}).get("S") != RETURN_TYPE:
        return {}
    after = return_from_image(new_image)
    before = return_from_image(change["OldImage"]) if change.get("OldImage") else None
    container = get_container()
    order = container.orders.orders.get(after.order_id)
    if order is None:
        return {}
    container.kpis.on_return_change(before, after)
    container.surveys.on_return_change(before, after)
    events = return_events(before, after, changed_at(change, after.history[-1].at if after.history else None))
    intents = [
        *container.return_intents.plan(before, after, order),
        *container.webhooks.intents_for(order.id, events),  # return.updated, refund.requested
    ]
    container.intents.record(intents)  # raises (the stream retries) only if they could not be stored
    # Outbound webhooks get their first attempt from their own consumer (webhook_deliveries), the credit
    # note from the documents function: `inline` leaves both to them.
    outcome = {intent.id: result for intent, result in container.intents.drive(container.intents.inline(intents))}
    if outcome:
        get_logger().info("return change handled", extra={"return_id": after.id, "intents": outcome})
    return outcome


def process_order_stream(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the orders table stream (partial batch responses)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    from chalicelib.services.batch_reads import shared_reads

    # With the logger, a failing record is logged with its exception (not only at DEBUG).
    processor = BatchProcessor(
        event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False, logger=get_logger()
    )
    with shared_reads():  # webhook subscriptions and a customer's preferences: read once per batch
        return dict(
            process_partial_response(
                event=event, record_handler=handle_order_record, processor=processor, context=context
            )
        )


def process_webhook_deliveries(event: dict[str, Any]) -> dict[str, Any]:
    """Lambda entry point: the first attempt of every new outbound webhook intent in the batch, in parallel.

    A receiver that fails is not a batch failure (the intents' retry schedule owns it from
    there); only an intent that could not even be taken reports its record for the stream to retry."""
    from chalicelib.bootstrap import get_container
    from chalicelib.services.intents import Intent
    from chalicelib.services.webhooks import WEBHOOK

    records = event.get("Records", [])
    intents: list[Intent] = []
    for record in records:
        image = record.get("dynamodb", {}).get("NewImage") or {}
        if record.get("eventName") != "INSERT" or image.get("type", {}).get("S") != "intent":
            continue
        if image.get("kind", {}).get("S") != WEBHOOK or image.get("status", {}).get("S") != "pending":
            continue
        intents.append(Intent(order_id=image["order_id"]["S"], kind=WEBHOOK, key=image["key"]["S"]))
    outcome = {intent.id: result for intent, result in get_container().intents.drive(intents)} if intents else {}
    if outcome:
        get_logger().info("webhook deliveries attempted", extra={"intents": outcome})
    return {"batchItemFailures": []}


def process_document_intents(event: dict[str, Any]) -> dict[str, Any]:
    """Lambda entry point of the documents function: new documents-lane intents (invoices, receipts,
    credit notes, with their e-invoice XML), then the emails of the same orders that wait for them.

    A document that fails is the documents retry schedule's to finish (like any intent); only
    an order whose intents could not even be read reports its records for the stream to retry."""
    from chalicelib.bootstrap import get_container
    from chalicelib.services.intents import DOCUMENTS_LANE, Intent

    by_order: dict[str, list[tuple[str, Intent]]] = {}
    for record in event.get("Records", []):
        image = record.get("dynamodb", {}).get("NewImage") or {}
        if record.get("eventName") != "INSERT" or image.get("type", {}).get("S") != "intent":
            continue
        if image.get("lane", {}).get("S") != DOCUMENTS_LANE or image.get("status", {}).get("S") != "pending":
            continue
        followers = image.get("followers", {}).get("S")  # JSON; absent on intents recorded before they were kept
        intent = Intent(
            image["order_id"]["S"],
            image["kind"]["S"],
            image["key"]["S"],
            lane=DOCUMENTS_LANE,
            followers=None if followers is None else tuple(json.loads(followers)),
        )
        by_order.setdefault(intent.order_id, []).append((record["dynamodb"].get("SequenceNumber", ""), intent))
    runner, failures, outcome = get_container().intents, [], {}
    for order_id, entries in by_order.items():
        try:
            outcome.update({i.id: result for i, result in runner.drive_lane(DOCUMENTS_LANE, [i for _, i in entries])})
        except Exception:  # the order's pending intents could not be read: let the stream deliver them again
            get_logger().exception("documents not attempted", extra={"order_id": order_id})
            failures += [{"itemIdentifier": number} for number, _ in entries]
    if outcome:
        get_logger().info("documents attempted", extra={"intents": outcome})
    return {"batchItemFailures": failures}
