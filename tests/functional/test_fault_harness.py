"""Issue 19 (6): 20 % of AWS calls failing and every stream batch delivered 2–5 times change nothing.

The scenario and the checks are in tests/functional/chaos.py. The functional tier plays a
bounded run by default (10 orders, seed 5: a cancellation, tickets, inbound email, a refund
and an exchange, a detractor's survey, SMS); `make faults` plays 200 orders (FAULT_ORDERS=…,
OC_FAULT_SEED=…) and prints its figures. The 20 % apply to every SDK attempt (botocore's
standard mode tries 3 times), so a call fails when all its attempts did; while a request is
served, 1 in 10 AWS calls also fails outright, so requests answer 5xx part-way through
and the clients retry them at any size.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from chalicelib.adapters.dynamo.schema import ensure_table
from tests.clock import frozen
from tests.functional.chaos import Run, plans
from tests.functional.conftest import CATALOG, Api
from tests.functional.moto_speed import fast_moto

ORDERS = int(os.environ.get("OC_FAULT_ORDERS", "10"))
SEED = int(os.environ.get("OC_FAULT_SEED", "5"))

pytestmark = pytest.mark.timeout(max(900, ORDERS * 30))


@pytest.fixture
def atomic_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with fast_moto(monkeypatch):
        yield


@contextmanager
def stack() -> Iterator[Api]:
    """A fresh shop, as the functional tier's `api` fixture makes one (moto, the demo catalogue)."""
    from chalicelib.bootstrap import reset_container

    reset_container()
    with mock_aws(), frozen():
        ensure_table(boto3.client("dynamodb"), "ordercare-test")
        boto3.client("s3").create_bucket(
            Bucket="ordercare-local-documents", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        boto3.client("ses").verify_email_identity(EmailAddress="orders@ordercare.local")
        boto3.client("sns").create_topic(Name="ordercare-local-ops")
        from app import app

        with Client(app) as client:
            api = Api(client)
            for sku, item in CATALOG.items():
                stocked = {**item, "stock": 10_000}
                assert api.call("PUT", f"/v1/catalog/{sku}", stocked, role="admin").status_code == 200
            yield api
    reset_container()


def play(chaos: bool, tmp_path: Path) -> tuple[Run, dict[str, Any]]:
    with stack() as api:
        run = Run(api, plans(ORDERS, SEED), chaos=chaos, seed=SEED, workdir=tmp_path)
        try:
            run.play()
            return run, {**run.outcome(), "failure_queue": run.failure_queue()}
        finally:
            run.receiver.close()


def test_faults_and_replays_leave_every_effect_exactly_once(
    settings_env: None, atomic_moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OC_SMS_DAILY_CAP", "100")  # the cap is tested elsewhere; here every SMS is due
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "ERROR")  # thousands of expected warnings otherwise
    _, calm = play(False, tmp_path)
    run, chaos = play(True, tmp_path)
    sys.stdout.write("".join(f"{line}\n" for line in run.figures.lines(ORDERS)))  # make faults shows them

    # The calm run is the reference: each effect once, every order at its end.
    assert calm["email_duplicates"] == calm["sms_duplicates"] == calm["webhook_duplicates"] == 0
    assert calm["failure_queue"] == set() and not calm["pending_intents"]
    assert {o["status"] for o in calm["orders"].values()} <= {"delivered", "cancelled"}
    assert calm["emails"] >= 4 * ORDERS and calm["sms"] > 0 and sum(calm["webhook_events"].values()) >= 3 * ORDERS

    # The faults really happened, on every service, and the stream really repeated itself.
    services = {key.split(":")[0] for key in run.figures.faults}
    assert services == {"s3", "ses", "sns", "dynamodb"}, run.figures.faults
    assert run.figures.replays >= run.figures.batches and run.figures.concurrent_replays > 0
    assert run.figures.stream_retries > 0
    # Requests failed part-way (5xx) and were retried by their clients.
    assert run.figures.api_retries > 0 and run.figures.outage_calls > 0, run.figures

    # Exactly the same effects, each once: per order, in the outbox, at the receiver, in the KPIs.
    for label, expected in calm["orders"].items():
        assert chaos["orders"][label] == expected, f"{label}: {chaos['orders'][label]} != {expected} {run.fired}"
    assert chaos["duplicated_subjects"] == [], chaos["duplicated_subjects"]
    for name in ("emails", "sms", "webhook_events", "kpis", "invoice_numbers"):
        assert chaos[name] == calm[name], f"{name}: {chaos[name]} != {calm[name]}"
    assert chaos["email_duplicates"] == chaos["sms_duplicates"] == chaos["webhook_duplicates"] == 0
    assert not chaos["pending_intents"], chaos["pending_intents"]
    # The failure queue holds the two poisoned records, and nothing else.
    assert chaos["failure_queue"] == run.poison and len(run.poison) == 2
