"""The tests' faster moto TransactWriteItems (tests/speedups.py) rolls back as moto's own does."""

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
        ensure_table(client, TABLE)
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
