"""Reads shared within one stream batch: once per batch inside `shared_reads`, every time outside."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from functools import partial
from typing import Any

from chalicelib.domain.outbound import make_event
from chalicelib.services.batch_reads import read_once, shared_reads
from chalicelib.services.webhooks import Subscription, WebhookService

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


class Store:
    """Only what planning reads: the active subscriptions, counted."""

    def __init__(self) -> None:
        self.reads = 0

    def active_subscriptions(self) -> list[Subscription]:
        self.reads += 1
        return [Subscription("whs_1", "https://example.com/hook", ("order.paid",), "whsec_x", "active", NOW)]


def test_outside_a_batch_every_read_goes_to_the_store() -> None:
    reads: list[str] = []

    def read() -> int:
        reads.append("k")
        return len(reads)

    assert [read_once("k", read) for _ in range(3)] == [1, 2, 3]


def test_inside_a_batch_once_per_key_and_the_next_batch_reads_again() -> None:
    reads: list[str] = []

    def read(key: str) -> Any:
        reads.append(key)
        return f"{key}{len(reads)}"

    with shared_reads():
        assert [read_once(key, partial(read, key)) for key in ("a", "b", "a", "b")] == ["a1", "b2", "a1", "b2"]
    with shared_reads():
        assert read_once("a", lambda: read("a")) == "a3"
    assert reads == ["a", "b", "a"]


def test_concurrent_lanes_each_have_their_own_batch() -> None:
    reads: list[str] = []
    barrier = threading.Barrier(2)

    def lane(name: str) -> None:
        with shared_reads():
            barrier.wait()
            read_once("subscriptions", lambda: reads.append(name))
            barrier.wait()

    threads = [threading.Thread(target=lane, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reads) == ["one", "two"]


def test_a_batch_of_order_changes_reads_the_subscriptions_once() -> None:
    store = Store()
    service = WebhookService(store, sender=None, clock=Clock(), allow_loopback=False)  # type: ignore[arg-type]
    events = [make_event("order.paid", f"ord_{n}", f"ord_{n}:2", NOW, {"id": f"ord_{n}"}) for n in range(3)]
    with shared_reads():
        planned = [service.intents_for(event.key.split(":")[0], [event]) for event in events]
    assert [len(intents) for intents in planned] == [1, 1, 1] and store.reads == 1
    service.intents_for("ord_x", [events[0]])  # outside a batch (e.g. the API emitting): read again
    assert store.reads == 2


def test_the_order_stream_consumer_runs_its_batch_in_one_scope(monkeypatch: Any) -> None:
    from chalicelib import pipeline

    reads: list[int] = []
    monkeypatch.setattr(pipeline, "handle_order_record", lambda record: read_once("k", lambda: reads.append(1)) or {})
    records = [
        {"eventID": str(n), "eventName": "MODIFY", "dynamodb": {"SequenceNumber": str(n), "Keys": {}}} for n in range(3)
    ]
    assert pipeline.process_order_stream({"Records": records}, None) == {"batchItemFailures": []}
    assert reads == [1]
