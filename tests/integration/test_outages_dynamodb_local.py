"""Outages on DynamoDB Local's real stream: SES and S3 down, then back — every effect once, no gap."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chalicelib.adapters.faults import Fault, FaultStore
from tests.integration import test_pipeline_real_stream as real
from tests.integration.test_pipeline_real_stream import Pipeline, place_and_pay

emulator_url, pipeline = real.emulator_url, real.pipeline  # the same fixtures

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def drills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultStore]:
    monkeypatch.setenv("OC_LOCAL_FAULTS", str(tmp_path / "faults.json"))
    store = FaultStore(tmp_path / "faults.json")
    yield store
    store.clear()


def sweep_until_quiet(pipeline: Pipeline) -> None:
    """Both retry schedules (the documents function's, then the main one) until neither has work."""
    from chalicelib.services.intents import DOCUMENTS_LANE

    at = pipeline.container.clock.now()
    for _ in range(30):
        at += timedelta(minutes=70)
        documents = pipeline.container.intents.retry_due(at, lane=DOCUMENTS_LANE)
        if not pipeline.container.intents.retry_due(at) and not documents:
            return
    raise AssertionError("the retry schedule never went quiet")


def settle(pipeline: Pipeline, records: int) -> None:
    replayer = pipeline.start_replayer()
    deadline = time.monotonic() + 30
    while replayer.stats()["order_events"]["records_delivered"] < records:
        assert time.monotonic() < deadline, replayer.stats()
        time.sleep(0.05)
    assert replayer.wait_until_idle(timeout=20)
    assert replayer.failures == []  # nothing for the failure queue: the intents were recorded


def test_ses_down_then_back_every_email_once(pipeline: Pipeline, drills: FaultStore) -> None:
    drills.add(Fault("sesv2", 1.0, "throttle"))
    orders = [place_and_pay(pipeline.container) for _ in range(3)]
    settle(pipeline, records=6)
    assert pipeline.emails() == []
    drills.clear()
    sweep_until_quiet(pipeline)
    subjects = [m["subject"] for m in pipeline.emails()]
    assert len(subjects) == 6 and len(set(subjects)) == 6
    for order_id in orders:
        kinds = [e.kind for e in pipeline.timeline(order_id) if e.data.get("channel") == "email"]
        assert kinds.count("notification_sent") == 2 and "notification_failed" not in kinds


def test_s3_down_during_payment_documents_and_receipt_follow_without_gap(
    pipeline: Pipeline, drills: FaultStore
) -> None:
    drills.add(Fault("s3", 1.0, "server", ("PutObject",)))
    orders = [place_and_pay(pipeline.container) for _ in range(3)]
    settle(pipeline, records=6)
    assert all(not doc.pdf_stored for o in orders for doc in pipeline.container.documents.list_for_order(o))
    drills.clear()
    sweep_until_quiet(pipeline)
    invoices = []
    for order_id in orders:
        documents = pipeline.container.documents.list_for_order(order_id)
        assert [d.kind for d in documents] == ["invoice", "receipt"] and all(d.pdf_stored for d in documents)
        invoices.append(documents[0].number)
    assert sorted(int(number[-6:]) for number in invoices) == [1, 2, 3]
    receipts = [m for m in pipeline.emails() if m["subject"].startswith("Zahlung")]
    assert len(receipts) == 3
