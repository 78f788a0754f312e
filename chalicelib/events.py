"""Which Lambda functions consume which stream, shared by CDK and the local runtime.

Stream consumers are plain `@app.lambda_function`s (README.md, "Architecture");
this table is the single source of truth for their wiring. Keys are logical
table names ("main" is the OrderCare table); values are function names in app.py.
"""

from __future__ import annotations

from typing import Any

STREAM_CONSUMERS: dict[str, tuple[str, ...]] = {
    "main": ("order_events", "webhook_deliveries", "document_intents"),
}
# Functions of the documents app (chalicelib/documents_app.py; its own package, documents/), not app.py's.
DOCUMENTS_FUNCTIONS = ("document_intents", "retry_documents")

# Event filtering per consumer (Lambda's FilterCriteria pattern syntax, lists of allowed
# values at the leaves): only order, ticket and return items reach `order_events`, so the timeline, intent
# and document writes an order change causes never invoke it just to be dropped.
ORDER_TYPE = "order"
TICKET_TYPES = ("ticket", "ticket_message")  # support: services/ticket_events.py
RETURN_TYPE = "return"
STREAM_FILTERS: dict[str, dict[str, Any]] = {
    "order_events": {"dynamodb": {"NewImage": {"type": {"S": [ORDER_TYPE, *TICKET_TYPES, RETURN_TYPE]}}}},
    # Outbound webhooks: only a new "webhook" intent invokes the delivery function.
    "webhook_deliveries": {
        "eventName": ["INSERT"],
        "dynamodb": {"NewImage": {"type": {"S": ["intent"]}, "kind": {"S": ["webhook"]}}},
    },
    # Documents: only a new documents-lane intent (invoice, receipt, credit note) invokes the documents function.
    "document_intents": {
        "eventName": ["INSERT"],
        "dynamodb": {"NewImage": {"type": {"S": ["intent"]}, "lane": {"S": ["documents"]}}},
    },
}


def matches_filter(pattern: dict[str, Any] | None, record: dict[str, Any]) -> bool:
    """Whether a stream record passes a FilterCriteria pattern (equality leaves only, as used here)."""
    if not pattern:
        return True
    for name, wanted in pattern.items():
        value = record.get(name) if isinstance(record, dict) else None
        if isinstance(wanted, dict):
            if not isinstance(value, dict) or not matches_filter(wanted, value):
                return False
        elif value not in wanted:
            return False
    return True
