"""The tests' faster moto (tests/speedups.py): TransactWriteItems rolls back and Query answers as moto's own do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from chalicelib.adapters.dynamo.schema import ensure_table

TABLE = "ordercare-test"


@pytest.fixture
def ddb(settings_env: None) -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb")
        ensure_table(client, TABLE, start_sweeps=False)  # the table holds only what each test writes
        yield client


def _state(client: Any) -> tuple[list[Any], list[Any]]:
    items = sorted(client.scan(TableName=TABLE)["Items"], key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
    shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].get_table(TABLE).stream_shard
    assert shard is not None
    return items, [record.to_json()["dynamodb"] for record in shard.items]


def _put(pk: str, sk: str, **extra: Any) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {"pk": {"S": pk}, "sk": {"S": sk}, **extra}}}


def test_a_cancelled_transaction_leaves_items_and_stream_as_they_were(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[_put("A", "1", n={"N": "1"}), _put("B", "1")])
    before = _state(ddb)
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(
            TransactItems=[
                _put("C", "1"),  # a new partition
                _put("A", "2"),  # a new item in an existing partition
                {  # an item changed in place
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "A"}, "sk": {"S": "1"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "B"}, "sk": {"S": "1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "B"}, "sk": {"S": "2"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    assert _state(ddb) == before
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].get_table(TABLE)
    assert not any(key.value == "C" for key in table.items)  # no empty partition left behind


def test_a_transaction_naming_one_item_twice_changes_nothing(ddb: Any) -> None:
    ddb.transact_write_items(TransactItems=[_put("A", "1")])
    before = _state(ddb)
    with pytest.raises(ddb.exceptions.ClientError):
        ddb.transact_write_items(TransactItems=[_put("A", "2"), _put("A", "1", x={"S": "y"}), _put("A", "1")])
    assert _state(ddb) == before


def test_a_committed_transaction_writes_every_item_and_its_stream_records(ddb: Any) -> None:
    _, stream_before = _state(ddb)
    ddb.transact_write_items(TransactItems=[_put("A", "1"), _put("A", "2")])
    items, stream = _state(ddb)
    assert [(item["pk"]["S"], item["sk"]["S"]) for item in items] == [("A", "1"), ("A", "2")]
    assert len(stream) == len(stream_before) + 2


def test_queries_answer_as_moto_s_own_whole_table_queries(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.table import Table

    for n in range(12):  # three partitions, two index buckets, items without index keys among them
        extra = {"gsi1pk": {"S": f"DUE#{n % 2}"}, "gsi1sk": {"S": f"2026-12-0{n % 4 + 1}"}} if n % 3 else {}
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"P{n % 3}"}, "sk": {"S": f"S{n:02d}"}, **extra})

    def q(condition: str, values: dict[str, str], **extra: Any) -> dict[str, Any]:
        bound = {name: {"S": value} for name, value in values.items()}
        return {"KeyConditionExpression": condition, "ExpressionAttributeValues": bound, **extra}

    queries = [
        q("pk = :p", {":p": "P1"}),
        q("pk = :p AND sk > :s", {":p": "P0", ":s": "S03"}),
        q("pk = :p", {":p": "P2"}, ScanIndexForward=False, Limit=2),
        q("pk = :p", {":p": "none"}),
        q("gsi1pk = :p", {":p": "DUE#1"}, IndexName="gsi1"),
        q("gsi1pk = :p AND gsi1sk <= :s", {":p": "DUE#0", ":s": "2026-12-03"}, IndexName="gsi1", Limit=2),
    ]

    def answers() -> list[Any]:
        found = []
        for query in queries:
            pages, start = [], None
            while True:
                page = ddb.query(TableName=TABLE, **query, **({"ExclusiveStartKey": start} if start else {}))
                pages.append(page["Items"])
                start = page.get("LastEvaluatedKey")
                if not start:
                    break
            found.append(pages)
        return found

    fast = answers()
    monkeypatch.setattr(Table, "query", Table.query.__wrapped__)  # type: ignore[attr-defined]
    monkeypatch.setattr(Table, "all_items", Table.all_items.__wrapped__)  # type: ignore[attr-defined]
    assert fast == answers() and all(fast)
