"""Integration fixtures: one DynamoDB Local for the session, a fresh table per test."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local.dynamodb_local import DynamoDBLocal, DynamoDBLocalError


@pytest.fixture(scope="session", autouse=True)
def aws_test_environment() -> Iterator[None]:
    """Dummy credentials and region; no endpoint overrides leaking in from the developer's shell."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AWS_ENDPOINT_URL") or name in (
                "AWS_PROFILE",
                "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN",
            ):
                patch.delenv(name)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
        patch.setenv("AWS_REGION", "eu-central-1")
        yield


@pytest.fixture(scope="session")
def dynamodb_local_endpoint(aws_test_environment: None) -> Iterator[str]:
    """DynamoDB Local on a free port for the whole session; its endpoint URL."""
    server = DynamoDBLocal(startup_timeout=90)
    try:
        server.start()
    except DynamoDBLocalError as exc:
        pytest.fail(f"DynamoDB Local did not start: {exc}")
    try:
        yield server.endpoint_url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dynamodb_client(dynamodb_local_endpoint: str) -> Any:
    import boto3

    return boto3.session.Session().client("dynamodb", endpoint_url=dynamodb_local_endpoint, region_name="eu-central-1")


@pytest.fixture
def start_sweeps() -> bool:
    """Whether a new table starts with its sweeps' cursors (a module that reads the raw stream says no)."""
    return True


@pytest.fixture
def table_name(dynamodb_client: Any, start_sweeps: bool) -> Iterator[str]:
    """A new OrderCare table (`ensure_table`: stream, TTL, GSI) for this test only."""
    from chalicelib.adapters.dynamo.schema import ensure_table

    name = f"it-{uuid.uuid4().hex[:12]}"
    assert ensure_table(dynamodb_client, name, start_sweeps=start_sweeps)
    yield name
    with contextlib.suppress(Exception):
        dynamodb_client.delete_table(TableName=name)


@pytest.fixture(params=["moto", "dynamodb_local"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A container on a fresh table, on moto and on DynamoDB Local (a module may add its in-memory fake)."""
    import boto3
    from moto import mock_aws

    from chalicelib.adapters.dynamo.schema import ensure_table
    from tests.integration.test_order_store import _container

    if request.param == "moto":
        with mock_aws():
            ensure_table(boto3.client("dynamodb", region_name="eu-central-1"), "it-moto")
            yield _container("it-moto")
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", request.getfixturevalue("dynamodb_local_endpoint"))
        yield _container(request.getfixturevalue("table_name"))


@pytest.fixture
def real_store(dynamodb_local_endpoint: str, table_name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A container on DynamoDB Local only: moto's transactions are not atomic across threads, so races
    (and their one-winner guarantee) need the real engine."""
    from tests.integration.test_order_store import _container

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    return _container(table_name)
