"""The physical DynamoDB layout: one table, one stream, four GSIs.

Single-table design so that each read route is one round trip:
  ORDER#<id> / #ORDER        the order aggregate (GSI1: CUSTOMER#<id> / ORDER#<id>)
  ORDER#<id> / EVENT#V<version>#<n>  its timeline entries, in the order recorded
                             (one Query reads the whole story)
  ORDERNO#<number> / #ORDERNO  the claim that makes an order number unique
                             (GSI3 on the order item: ORDERNO#<number> / #ORDER)
  SKU#<sku>  / #ITEM         a catalogue item
  IDEM#<principal>#<key> / #IDEM  an idempotency record (expires via TTL)
GSI2 is overloaded for reads by an id that does not name the order (each read one Query):
  EMAIL#<hash of the normalised address> / ORDER#<id>   every order of an address, newest first
  DOCUMENT#<doc id> / DOCUMENT                          a document by its id (the download link)
  RETURN#<return id> / RETURN                           a return by its id
  SESSIONS#<hash of the address> / SESSION#<created>    an address's portal sessions (sign out everywhere)
GSI4 is the SLA sweep's due work, sparse (only orders with an open promise or stall timer):
  DUE#<yyyy-mm-ddThh> / <due iso>#<order id>   on the order item: the hour and time of its next due
                             timer, so a sweep reads each due order once (timers.py)

`table_spec` is what the local stack and the tests create; the CDK stack builds
the same table and a test compares the two.
"""

from __future__ import annotations

from typing import Any

GSI1 = "gsi1"
GSI2 = "gsi2"
GSI3 = "gsi3"  # sparse: finds an order by its human number in one Query
GSI4 = "gsi4"  # sparse: orders by the hour their next SLA timer comes due
TTL_ATTRIBUTE = "expires_at"


def table_spec(table_name: str) -> dict[str, Any]:
    """boto3 `create_table` arguments for the OrderCare table."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"}
            for name in (
                "pk",
                "sk",
                "gsi1pk",
                "gsi1sk",
                "gsi2pk",
                "gsi2sk",
                "gsi3pk",
                "gsi3sk",
                "gsi4pk",
                "gsi4sk",
            )
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": GSI2,
                "KeySchema": [
                    {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": GSI3,
                "KeySchema": [
                    {"AttributeName": "gsi3pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi3sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": GSI4,
                "KeySchema": [
                    {"AttributeName": "gsi4pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi4sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},  # the sweep decides from the index copy alone
            },
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def ensure_table(client: Any, table_name: str, *, start_sweeps: bool = True) -> bool:
    """Create the table (and its TTL) if missing, its sweeps' cursors at this hour unless
    `start_sweeps` is False (no item at all); return True when it was created."""
    existing = client.list_tables().get("TableNames", [])
    if table_name in existing:
        return False
    client.create_table(**table_spec(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name)
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
    if start_sweeps:
        _start_sweeps_now(client, table_name)
    return True


def _start_sweeps_now(client: Any, table_name: str) -> None:
    """Nothing is due in a table before it exists: its sweeps start at its first hour rather than
    catching up a week of empty hour buckets (a sweep without a cursor looks back that far)."""
    from datetime import UTC, datetime

    from pynamodb.attributes import UTCDateTimeAttribute

    from chalicelib.adapters.dynamo.returns import CURSOR_PK as RETURNS_CURSOR
    from chalicelib.adapters.dynamo.timers import CURSOR_PK as ORDERS_CURSOR
    from chalicelib.adapters.dynamo.timers import CURSOR_SK

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    through = UTCDateTimeAttribute().serialize(hour)
    for pk in (ORDERS_CURSOR, RETURNS_CURSOR):
        item = {"pk": {"S": pk}, "sk": {"S": CURSOR_SK}, "type": {"S": "sweep_cursor"}, "through": {"S": through}}
        client.put_item(TableName=table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
