"""The synthesized table, `table_spec()` and the pynamodb models must describe the same table."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.dynamo import models
from chalicelib.adapters.dynamo.schema import TTL_ATTRIBUTE, table_spec
from tests.infra.conftest import Synthesized


def _table(synth: Synthesized) -> dict[str, Any]:
    _, table = synth.resource("AWS::DynamoDB::Table")
    return dict(table["Properties"])


def _attribute_types(definitions: list[dict[str, str]]) -> dict[str, str]:
    return {d["AttributeName"]: d["AttributeType"] for d in definitions}


def _keys(schema: list[dict[str, str]]) -> dict[str, str]:
    return {k["KeyType"]: k["AttributeName"] for k in schema}


def _indexes(definitions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {gsi["IndexName"]: {"keys": _keys(gsi["KeySchema"]), "projection": gsi["Projection"]} for gsi in definitions}


def test_there_is_exactly_one_table(each: Synthesized) -> None:
    assert len(each.resources("AWS::DynamoDB::Table")) == 1
    assert not each.resources("AWS::DynamoDB::GlobalTable")


def test_table_matches_table_spec(each: Synthesized) -> None:
    table = _table(each)
    spec = table_spec("any")
    assert _keys(table["KeySchema"]) == _keys(spec["KeySchema"])
    assert _attribute_types(table["AttributeDefinitions"]) == _attribute_types(spec["AttributeDefinitions"])
    assert _indexes(table.get("GlobalSecondaryIndexes", [])) == _indexes(spec.get("GlobalSecondaryIndexes", []))
    assert not table.get("LocalSecondaryIndexes") and not spec.get("LocalSecondaryIndexes")
    assert table["BillingMode"] == spec["BillingMode"]
    assert table["StreamSpecification"]["StreamViewType"] == spec["StreamSpecification"]["StreamViewType"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}


@pytest.mark.parametrize("model", models.MODELS, ids=lambda m: m.__name__)
def test_table_matches_pynamodb_model(dev: Synthesized, model: Any) -> None:
    table = _table(dev)
    types = _attribute_types(table["AttributeDefinitions"])
    schema = model._get_schema()
    assert _keys(schema["key_schema"]) == _keys(table["KeySchema"])
    for definition in schema["attribute_definitions"]:
        assert types.get(definition["AttributeName"]) == definition["AttributeType"], definition
    indexes = _indexes(table.get("GlobalSecondaryIndexes", []))
    for index in schema["global_secondary_indexes"]:
        assert index["index_name"] in indexes, index["index_name"]
        assert indexes[index["index_name"]]["keys"] == _keys(index["key_schema"])
        assert indexes[index["index_name"]]["projection"]["ProjectionType"] == index["projection"]["ProjectionType"]
        for definition in index["attribute_definitions"]:
            assert types.get(definition["AttributeName"]) == definition["AttributeType"], definition
    assert not schema["local_secondary_indexes"]
    ttl = model._ttl_attribute()
    if ttl is not None:
        assert ttl.attr_name == table["TimeToLiveSpecification"]["AttributeName"]


def test_every_gsi_of_the_table_is_used_by_a_model(dev: Synthesized) -> None:
    used = {i["index_name"] for m in models.MODELS for i in m._get_schema()["global_secondary_indexes"]}
    assert set(_indexes(_table(dev).get("GlobalSecondaryIndexes", []))) == used
