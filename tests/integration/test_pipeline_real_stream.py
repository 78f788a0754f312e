"""The notification pipeline on DynamoDB Local's real stream: replayed and raced, each message once.

DynamoDB is DynamoDB Local (its stream read by the local runtime's StreamReplayer,
which calls app.order_events); SES, SESv2, SNS and S3 are a moto server on a free
port (in-process `mock_aws` would also capture the DynamoDB Local calls). Messages
are read back from the server's /moto-api/data.json, as the local outbox does.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.bootstrap import Container, get_container, reset_container
from chalicelib.domain.address import Address
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.orders import Customer, Payment
from chalicelib.services.orders import IdempotentRequest, PlaceOrder
from chalicelib.settings import Settings
from local.processes import free_port
from local.streams import StreamReplayer, consumers_from_app

pytestmark = pytest.mark.timeout(60)

REGION = "eu-central-1"
CUSTOMER_EMAIL = "it@example.com"


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    """moto's server (SES, SESv2, SNS, S3) on a free port, for this module."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class Pipeline:
    container: Container
    emulator_url: str
    start_replayer: Callable[..., StreamReplayer]
    replayers: list[StreamReplayer] = field(default_factory=list)

    def emails(self) -> list[dict[str, Any]]:
        """Every email moto accepted, oldest first: recipients and subject."""
        url = f"{self.emulator_url}/moto-api/data.json"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the local emulator
            raw = json.load(response).get("ses", {}).get("RawMessage", [])
        return [
            {
                "to": sorted(set(m.get("destinations") or [])),
                "subject": str(message_from_string(m["raw_data"], policy=policy.default)["Subject"]),
            }
            for m in raw
        ]

    def wait_for_emails(self, count: int, replayer: StreamReplayer, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait for `count` emails and a quiet stream; then there must be exactly `count`."""
        deadline = time.monotonic() + timeout
        while len(self.emails()) < count:
            assert time.monotonic() < deadline, f"{len(self.emails())} of {count} emails: {replayer.stats()}"
            time.sleep(0.05)
        assert replayer.wait_until_idle(timeout=max(1.0, deadline - time.monotonic()))
        sent = self.emails()
        assert len(sent) == count, sent
        assert replayer.failures == []
        return sent

    def timeline(self, order_id: str) -> list[Any]:
        entries, _ = self.container.orders.timeline(order_id, customer_id=None, limit=100, cursor=None)
        return entries


@pytest.fixture
def pipeline(
    dynamodb_local_endpoint: str,
    table_name: str,
    emulator_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Pipeline]:
    for name in list(os.environ):
        if name.startswith("OC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OC_TABLE_NAME", table_name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local_endpoint)
    for service in ("SES", "SESV2", "SNS", "S3"):
        monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", emulator_url)

    reset = urllib.request.Request(f"{emulator_url}/moto-api/reset", method="POST")  # noqa: S310 - local emulator
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310
    settings = Settings.from_env()
    session = boto3.session.Session(region_name=REGION)
    session.client("ses").verify_email_identity(EmailAddress=settings.sender_email)
    session.client("sns").create_topic(Name=settings.ops_topic_arn.rsplit(":", 1)[-1])
    session.client("s3").create_bucket(  # invoices and receipts, attached to their emails
        Bucket=settings.documents_bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )

    reset_container()
    container = get_container()
    container.catalog.upsert(CatalogItem("MUG-1", "Mug", 1299, "EUR", 100, 1900))

    import app

    replayers: list[StreamReplayer] = []

    def start_replayer(**options: Any) -> StreamReplayer:
        replayer = StreamReplayer(
            table_name,
            consumers_from_app(app),
            endpoint_url=dynamodb_local_endpoint,
            region=REGION,
            poll_interval=0.05,
            discovery_interval=0.25,
            retry_backoff=0.01,
            failures_path=tmp_path / "failures.jsonl",
            **options,
        )
        replayers.append(replayer)
        return replayer.start()

    yield Pipeline(container, emulator_url, start_replayer, replayers)
    for replayer in replayers:
        replayer.stop()
    reset_container()


def place_and_pay(container: Container, payment_ref: str = "pi_it", email: str = CUSTOMER_EMAIL) -> str:
    command = PlaceOrder(
        customer=Customer("cus_it", email, "Integration", None, "de-DE"),
        currency="EUR",
        lines=[("MUG-1", 2, 1299)],
        shipping_address=Address("Integration", "Hauptstr. 1", "Berlin", "10115", "DE"),
        shipping_method="standard",
        shipping_fee=499,
        discounts=[],
    )
    request = IdempotentRequest("web", str(uuid.uuid4()), {"order": "it"})
    _, placed = container.orders.place(command, request, "storefront:web", lambda o: {"id": o.id})
    order_id = str(placed["id"])
    payment = Payment(container.orders.get(order_id).totals.total, "card", payment_ref, datetime.now(UTC))
    request = IdempotentRequest("web", str(uuid.uuid4()), {"order_id": order_id})
    container.orders.pay(order_id, payment, request, "storefront:web", lambda o: {})
    return order_id


def test_confirmation_and_receipt_once_even_when_the_whole_stream_is_replayed(pipeline: Pipeline) -> None:
    order_id = place_and_pay(pipeline.container)
    first = pipeline.start_replayer()
    sent = pipeline.wait_for_emails(2, first)
    number = pipeline.container.orders.get(order_id).reference
    assert [m["subject"] for m in sent] == [
        f"Bestellung {number} bestätigt",
        f"Zahlung für Bestellung {number} erhalten",
    ]
    assert all(m["to"] == [CUSTOMER_EMAIL] for m in sent)
    notified = [e for e in pipeline.timeline(order_id) if e.kind.startswith("notification_")]
    assert sorted((e.kind, e.data["template"]) for e in notified if e.data["channel"] == "email") == [
        ("notification_sent", "order_confirmation"),
        ("notification_sent", "payment_receipt"),
    ]
    first.stop()
    delivered = first.stats()["order_events"]["records_delivered"]

    # A new event source mapping reads the shard from TRIM_HORIZON: every record again.
    second = pipeline.start_replayer()
    deadline = time.monotonic() + 20
    while second.stats()["order_events"]["records_delivered"] < delivered:
        assert time.monotonic() < deadline, (second.stats(), delivered)
        time.sleep(0.05)
    assert pipeline.wait_for_emails(2, second) == sent
    assert [e for e in pipeline.timeline(order_id) if e.kind.startswith("notification_")] == notified


@pytest.mark.timeout(180)
def test_a_burst_in_concurrent_lanes_raced_by_a_second_mapping_sends_each_email_once(pipeline: Pipeline) -> None:
    container = pipeline.container
    with ThreadPoolExecutor(4) as pool:  # placed and paid at once, as a sale's burst
        order_ids = list(pool.map(lambda n: place_and_pay(container, f"pi_burst{n}", f"b{n}@example.com"), range(8)))
    factor = Settings().stream_parallelization_factor
    assert factor > 1
    # Two mappings read the same stream at once, each with concurrent lanes: every record twice, raced.
    first, second = (
        pipeline.start_replayer(parallelization_factor=factor),
        pipeline.start_replayer(parallelization_factor=factor),
    )
    sent = pipeline.wait_for_emails(16, first, timeout=45)
    assert second.wait_until_idle(timeout=20) and second.failures == []
    assert pipeline.wait_for_emails(16, first) == sent  # nothing more after both went quiet
    assert Counter(m["to"][0] for m in sent) == {f"b{n}@example.com": 2 for n in range(8)}
    invoices = []
    for order_id in order_ids:
        entries = pipeline.timeline(order_id)
        notified = Counter(e.data["template"] for e in entries if e.kind == "notification_sent")
        assert notified == {"order_confirmation": 1, "payment_receipt": 1}, entries
        invoices += [e.data["number"] for e in entries if e.kind == "document_issued" and e.data["kind"] == "invoice"]
    numbers = sorted(int(number.rsplit("-", 1)[1]) for number in invoices)
    assert len(invoices) == 8 and numbers == list(range(numbers[0], numbers[0] + 8))  # unique, gap-free


def test_concurrent_sweeps_flag_a_late_order_once_one_delay_notice_one_escalation(pipeline: Pipeline) -> None:
    container = pipeline.container
    order_id = place_and_pay(container)
    replayer = pipeline.start_replayer()
    pipeline.wait_for_emails(2, replayer)

    # Just past deliver-by (after ship-by), from the order's own promise: a fixed "10 days later" fell
    # short of it on a Friday evening (after the cutoff, the promise starts on Monday; 2 + 3 business days).
    later = container.orders.get(order_id).deliver_by + timedelta(minutes=1)
    start = threading.Barrier(2)

    def sweep() -> dict[str, int]:
        start.wait(timeout=10)
        return container.sla.sweep(later)

    with ThreadPoolExecutor(2) as pool:
        outcomes = [future.result() for future in [pool.submit(sweep), pool.submit(sweep)]]
    acted = Counter[str]()
    for outcome in outcomes:
        acted.update({key: n for key, n in outcome.items() if key.endswith(":acted")})
    assert acted == {"shipping:breached:acted": 1, "delivery:breached:acted": 1}, outcomes

    order = container.orders.get(order_id)
    assert (order.sla_shipping, order.sla_delivery) == ("breached", "breached")
    assert order.revised_deliver_by is not None and order.revised_deliver_by > order.deliver_by
    breached = [e.data["promise"] for e in pipeline.timeline(order_id) if e.kind == "sla_breached"]
    assert sorted(breached) == ["delivery", "shipping"]

    new = pipeline.wait_for_emails(4, replayer)[2:]
    delay = [m["subject"] for m in new if m["to"] == [CUSTOMER_EMAIL]]
    ops = [m["subject"] for m in new if m["to"] == [Settings().ops_email]]
    assert len(delay) == 1 and "neuer Liefertermin" in delay[0], new
    assert len(ops) == 1 and "shipping and delivery promise broken" in ops[0], new
    sent = Counter(
        (e.data["template"], e.data["channel"]) for e in pipeline.timeline(order_id) if e.kind == "notification_sent"
    )
    assert sent[("delay", "email")] == 1 and sent[("ops_breached", "ops_email")] == 1
    assert sent[("ops_breached", "ops_sns")] == 1

    # Sweeping again changes nothing and sends nothing.
    assert container.sla.sweep(later)["due"] == 0
    assert pipeline.wait_for_emails(4, replayer)[2:] == new
