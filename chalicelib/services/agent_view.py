"""The agent's view of one order: everything from one Query over the order's item collection.

Order, timeline, documents, notifications, tickets and their messages (internal notes
included), returns and survey answers all live under pk ORDER#<id>, so the whole
story is one Query (more pages only past 1 MB). Presigned links are computed locally
(no round trip). The response says what it cost.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.ids import has_prefix

# Item types of other aggregates in the order's partition shown as stored: survey answers (adapters/dynamo/kpis.py).
# Returns are presented exactly as GET /v1/returns/{id} answers (RMA number, status, lines, history).
SURVEY_TYPES = ("survey_answer",)
HIDDEN_ATTRIBUTES = frozenset({"pk", "sk", "gsi1pk", "gsi1sk", "type", "expires_at"})


def read_partition(order_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every item under ORDER#<id> (raw DynamoDB JSON) and what the reading cost."""
    from chalicelib.adapters.dynamo.models import TableItem
    from chalicelib.adapters.dynamo.repositories import order_pk

    client = TableItem._get_connection().connection.client
    kwargs: dict[str, Any] = {
        "TableName": TableItem.Meta.table_name,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": order_pk(order_id)}},
        "ReturnConsumedCapacity": "TOTAL",
    }
    items: list[dict[str, Any]] = []
    cost = {"round_trips": 0, "items": 0, "read_capacity_units": 0.0}
    while True:
        response = client.query(**kwargs)
        cost["round_trips"] += 1
        items += response.get("Items", [])
        cost["read_capacity_units"] += float((response.get("ConsumedCapacity") or {}).get("CapacityUnits") or 0)
        if "LastEvaluatedKey" not in response:
            break
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    cost["items"] = len(items)
    return items, cost


def _plain(raw: dict[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    value = {k: deserializer.deserialize(v) for k, v in raw.items() if k not in HIDDEN_ATTRIBUTES}
    plain: dict[str, Any] = _jsonable(value)
    return plain


def _jsonable(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return None
    return value


def _effect(raw: dict[str, Any]) -> dict[str, Any]:
    """A recorded effect (message, document, …) and how it ended; payloads are dropped once ended."""
    from chalicelib.adapters.dynamo.intents import IntentItem

    item = IntentItem.from_raw_data(raw)

    def iso(moment: Any) -> str | None:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None

    payload = item.payload or {}
    return {
        "kind": item.kind,
        "key": item.key,
        "status": item.status,
        "attempts": int(item.attempts or 0),
        "last_error": item.last_error,
        "channel": payload.get("channel"),
        "subject": payload.get("subject"),
        "created_at": iso(item.created_at),
        "ended_at": iso(item.ended_at),
    }


def _returns(raw_items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The order's returns, oldest first, as the returns API presents them."""
    from chalicelib.adapters.dynamo.returns import ReturnItem, return_from_item
    from chalicelib.presentation.presenters import present_return

    returns = sorted((return_from_item(ReturnItem.from_raw_data(raw)) for raw in raw_items), key=lambda r: r.created_at)
    return [present_return(ret) for ret in returns]


def agent_story(container: Any, settings: Any, order_id: str) -> dict[str, Any]:
    """GET /v1/agent/orders/{id}: the whole story (404 for an unknown order)."""
    from chalicelib.adapters.dynamo.documents import DocumentItem, _document
    from chalicelib.adapters.dynamo.models import OrderItem, TimelineItem
    from chalicelib.adapters.dynamo.repositories import order_from_item, timeline_entry
    from chalicelib.adapters.dynamo.tickets import items_to_tickets
    from chalicelib.presentation.presenters import present_document, present_order, present_timeline_entry
    from chalicelib.presentation.support_presenters import present_ticket

    if not has_prefix(order_id, "ord"):
        raise NotFoundError("order not found")
    items, cost = read_partition(order_id)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for raw in items:
        by_type.setdefault(raw.get("type", {}).get("S", ""), []).append(raw)
    orders = by_type.get("order", [])
    if not orders:
        raise NotFoundError("order not found")
    order = order_from_item(OrderItem.from_raw_data(orders[0]))
    presented = present_order(settings, order)
    documents = [_document(DocumentItem.from_raw_data(raw)) for raw in by_type.get("document", [])]
    timeline = [timeline_entry(TimelineItem.from_raw_data(raw)) for raw in by_type.get("timeline", [])]
    link: Callable[[Any], str] = container.attachment_link
    tickets = items_to_tickets(by_type.get("ticket", []) + by_type.get("ticket_message", []))
    return {
        "order": presented,
        "payments": presented["payments"],
        "refunds": presented["refunds"],
        "shipments": presented["shipments"],
        "documents": [present_document(d, container.documents.download_url(d)) for d in documents],
        "timeline": [present_timeline_entry(e) for e in timeline],
        "notifications": [_effect(raw) for raw in by_type.get("intent", [])],
        "tickets": [present_ticket(t, staff_reader=True, link=link) for t in tickets],
        "returns": _returns(by_type.get("return", [])),
        "survey_answers": [_plain(raw) for kind in SURVEY_TYPES for raw in by_type.get(kind, [])],
        "holds": presented["holds"],
        "cost": {**cost, "read_at": container.clock.now().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
    }
