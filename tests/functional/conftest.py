"""Functional tier: the real app through chalice.test.Client, AWS emulated by moto."""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import time_machine
from chalice.test import Client
from moto import mock_aws

from chalicelib.adapters.dynamo.schema import ensure_table
from local.samples import order_body as order_body  # the tests import it from here
from tests.clock import frozen
from tests.conftest import bearer

CATALOG = {
    "MUG-1": {
        "name": "Ceramic mug",
        "unit_price": 1299,
        "currency": "EUR",
        "stock": 100,
        "tax_rate_bps": 1900,
    },
    "BOOK-1": {"name": "Cookbook", "unit_price": 2500, "currency": "EUR", "stock": 5, "tax_rate_bps": 700},
}


HERE = Path(__file__).parent


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A module of this tier is imported with the clock at FROZEN_AT, as its tests run, so not even a
    module-level constant can hold today's date; that is why `make timeshift` re-runs only a few
    canary modules of this tier (for whatever might read the clock past time-machine)."""
    if isinstance(collector, pytest.Module) and collector.path.is_relative_to(HERE):
        with frozen():
            return (yield)
    return (yield)


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    """Every functional test starts at tests.clock.FROZEN_AT, whatever today is."""
    with frozen() as traveller:
        yield traveller


@pytest.fixture
def aws(settings_env: None) -> Iterator[None]:
    with mock_aws():
        ensure_table(boto3.client("dynamodb"), "ordercare-test")
        # What the local stack provisions: the documents bucket, the sender, the ops topic.
        boto3.client("s3").create_bucket(
            Bucket="ordercare-local-documents", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        boto3.client("ses").verify_email_identity(EmailAddress="orders@ordercare.local")
        boto3.client("sns").create_topic(Name="ordercare-local-ops")
        yield


class Api:
    """A thin JSON helper over chalice.test.Client."""

    def __init__(self, client: Client):
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        role: str | None = None,
        sub: str = "someone",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Any:
        all_headers = {
            "Content-Type": "application/json",
            **(bearer(role, sub) if role else {}),
            **(headers or {}),
        }
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response: Any = self.client.http.request(method, path, headers=all_headers, body=payload)
        is_json = str(response.headers.get("Content-Type", "application/json")).startswith("application/json")
        response.data = (json.loads(response.body) if is_json else response.body) if response.body else None
        return response


@pytest.fixture
def api(aws: None) -> Iterator[Api]:
    from app import app

    with Client(app) as client:
        helper = Api(client)
        for sku, item in CATALOG.items():
            assert helper.call("PUT", f"/v1/catalog/{sku}", item, role="admin").status_code == 200
        yield helper
