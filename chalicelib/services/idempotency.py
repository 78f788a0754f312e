"""Answering a request that carries an Idempotency-Key: once, and the same answer to every retry.

A change stores its response under the key in its own transaction (see OrderRepository), so
of concurrent retries exactly one changes anything; the others, and any later retry, replay
what the first one answered. One shape for orders, returns and tickets alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import ConflictError, OrderCareError
from chalicelib.services.ports import IdempotencyKeyTakenError

if TYPE_CHECKING:
    from chalicelib.services.orders import IdempotentRequest
    from chalicelib.services.ports import IdempotencyStore, StoredResponse

Answer = tuple[int, dict[str, Any]]


def answer_once(store: IdempotencyStore, request: IdempotentRequest, change: Callable[[], Answer]) -> Answer:
    """`change()`'s answer, or the stored one when the key was used before.

    A retry that finds the key taken by the change's own transaction replays it (from the
    record the failed write handed back, when it did: no extra read). A retry of a change
    that landed can fail the domain checks instead (the ticket is acknowledged now, the
    order paid): if the key is stored, that is a retry too and gets the first answer; if
    not, the domain error stands. The same key with another body is a 409 either way."""
    try:
        return change()
    except IdempotencyKeyTakenError as taken:
        return replay(store, request, taken.stored)
    except OrderCareError:
        stored = store.get(request.principal, request.key)
        if stored is None:
            raise
        return replay(store, request, stored)


def replay(store: IdempotencyStore, request: IdempotentRequest, stored: StoredResponse | None = None) -> Answer:
    """The stored response for a key already used (read unless given), or 409 if the body differs."""
    if stored is None:
        stored = store.get(request.principal, request.key)
    if stored is None:
        # Only possible if the record expired between the write and this read.
        raise ConflictError("idempotency key is being reused; retry", code="idempotency_conflict")
    if stored.request_hash != request.fingerprint:
        raise ConflictError(
            "this Idempotency-Key was already used with a different request body",
            code="idempotency_key_reused",
        )
    return stored.status_code, stored.body
