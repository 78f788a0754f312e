"""Reads shared by the records of one stream batch (one invocation of a stream consumer).

A batch of order changes asks the same questions again and again — which webhook
subscriptions are active, what a customer's notification preferences are (an order's
changes travel together in its lane) — and each answer is one DynamoDB round trip.
Inside `shared_reads()` the first record's answer serves the batch's later records;
outside it (API requests, schedules) every read goes to the table as before. The
batch is processed within a second or so of the changes it carries, so an answer read
at its start is as fresh as the records themselves; the next batch reads again.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_reads: ContextVar[dict[Hashable, Any] | None] = ContextVar("batch_reads", default=None)


@contextmanager
def shared_reads() -> Iterator[None]:
    """The scope of one batch (each thread — each concurrent lane — has its own)."""
    token = _reads.set({})
    try:
        yield
    finally:
        _reads.reset(token)


def read_once(key: Hashable, read: Callable[[], T]) -> T:
    """`read()`, or within a batch the answer it gave for `key` earlier in the batch."""
    cache = _reads.get()
    if cache is None:
        return read()
    if key not in cache:
        cache[key] = read()
    result: T = cache[key]
    return result
