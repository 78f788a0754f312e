"""moto's in-process DynamoDB, made fit for a long run with threads (the fault harness only).

One request at a time: DynamoDB applies each request atomically; moto's backend has no
locks, so two threads could otherwise both pass one condition check. The app's code still
interleaves between requests, which is where real races happen. (Transactions without
moto's whole-table copy come from tests/speedups.py, applied to every tier.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


@contextmanager
def fast_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)
    yield
