"""Stream consumers: turn order changes on the table's stream into their effects.

Each record is handled on its own (Powertools BatchProcessor): a record that
fails is reported in `batchItemFailures`, so the event source retries it (and
bisects, and finally sends it to the failure queue) without blocking the shard
or redoing the records that succeeded. Every effect is idempotent by key.
"""

from __future__ import annotations

from typing import Any

from chalicelib.observability import get_logger


def order_from_image(image: dict[str, Any]) -> Any:
    """A stream image (DynamoDB JSON) of an order item as a domain Order."""
    from chalicelib.adapters.dynamo.models import OrderItem
    from chalicelib.adapters.dynamo.repositories import order_from_item

    return order_from_item(OrderItem.from_raw_data(image))


def handle_order_record(record: Any) -> list[dict[str, str]]:
    """Notify the customer of every milestone in one order change; returns what was done."""
    from chalicelib.bootstrap import get_container
    from chalicelib.notify.milestones import escalations, milestones

    change = record.raw_event.get("dynamodb", {})
    new_image = change.get("NewImage")
    if not new_image or new_image.get("type", {}).get("S") != "order":
        return []
    after = order_from_image(new_image)
    before = order_from_image(change["OldImage"]) if change.get("OldImage") else None
    container = get_container()
    container.sla.on_order_change(before, after)
    issued = _issue_documents(container, before, after)
    results = []
    for state, promises in escalations(before, after).items():
        results.append(container.notifications.escalate(after, state, promises))
    for milestone in milestones(before, after):
        attachments = []
        if milestone.kind == "payment_receipt":  # the invoice and receipt travel with the receipt email
            attachments = container.documents.email_attachments([d for d in issued if d.kind in ("invoice", "receipt")])
        outcome = container.notifications.notify(after, milestone, attachments)
        get_logger().info("milestone handled", extra={"order_id": after.id, "milestone": milestone.key, **outcome})
        results.append(outcome)
    return results


def _issue_documents(container: Any, before: Any, after: Any) -> list[Any]:
    """Invoice + receipt for a new payment, a credit note per new refund (idempotent by key)."""
    issued: list[Any] = []
    seen_payments = {p.provider_ref for p in before.payments} if before else set()
    if any(p.provider_ref not in seen_payments for p in after.payments):
        issued += container.documents.issue_for_payment(after)
    seen_refunds = {r.event_id for r in before.refunds} if before else set()
    issued += [container.documents.issue_credit_note(after, r) for r in after.refunds if r.event_id not in seen_refunds]
    return issued


def process_order_stream(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the orders table stream (partial batch responses)."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    return dict(
        process_partial_response(event=event, record_handler=handle_order_record, processor=processor, context=context)
    )
