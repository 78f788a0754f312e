"""One way to read a failed DynamoDB condition, for single writes and transactions.

pynamodb wraps botocore's errors: a single Put/Update/Delete raises PutError /
UpdateError / DeleteError whose `cause_response_code` is the DynamoDB code; a
TransactWriteItems raises TransactWriteError whose `cancellation_reasons` line up
one to one with the items *in the order pynamodb sent them*. `Guarded` records,
for each item as it is added, which domain error its condition stands for, so the
mapping never depends on that order being remembered elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import PynamoDBException, TransactWriteError

CONDITION_FAILED = "ConditionalCheckFailed"
CONDITION_FAILED_EXCEPTION = "ConditionalCheckFailedException"
CONFLICT = "TransactionConflict"
ALL_OLD = "ALL_OLD"  # ReturnValuesOnConditionCheckFailure: the item as it is, with the cancellation


def condition_failed(error: PynamoDBException) -> bool:
    """Whether a single conditional write failed its condition (and nothing else went wrong)."""
    return getattr(error, "cause_response_code", None) == CONDITION_FAILED_EXCEPTION


def client_cancellation_codes(error: Exception) -> list[str | None]:
    """The per-item cancellation codes of a raw botocore TransactWriteItems failure, in the items' order."""
    response = getattr(error, "response", None) or {}
    return [reason.get("Code") for reason in response.get("CancellationReasons") or []]


def client_condition_failed(error: Exception) -> bool:
    """The same question for a raw botocore client call: a failed condition (alone, or in a transaction)."""
    response = getattr(error, "response", None) or {}
    code = response.get("Error", {}).get("Code", "")
    if code == CONDITION_FAILED_EXCEPTION:
        return True
    reasons = response.get("CancellationReasons") or []
    return code == "TransactionCanceledException" and any(r.get("Code") == CONDITION_FAILED for r in reasons)


def cancellation_codes(error: TransactWriteError) -> list[str | None]:
    """The per-item cancellation codes of a transaction, in the order the items were sent."""
    return [getattr(reason, "code", None) for reason in error.cancellation_reasons or []]


class AlreadyDone(Exception):
    """The condition guarding an idempotent step failed: someone did it already."""


ErrorFactory = Callable[[], Exception]
# The order in which pynamodb's TransactWrite sends its items.
_SENT_ORDER = ("condition_check", "delete", "save", "update")


@dataclass
class Guarded:
    """A TransactWrite that remembers which domain error each item's condition stands for.

    pynamodb sends condition checks, deletes, puts, then updates, whatever order they
    were added in; `map` lines the cancellation reasons up with that order."""

    transaction: Any
    _errors: dict[str, list[ErrorFactory | None]] = field(default_factory=dict)

    def _guard(self, operation: str, error: ErrorFactory | None) -> None:
        self._errors.setdefault(operation, []).append(error)

    def save(
        self, item: Any, *, condition: Any = None, error: ErrorFactory | None = None, return_old: bool = False
    ) -> None:
        """`return_old`: a failed condition hands back the item as it is (see `failed_items`)."""
        extra = {"return_values": ALL_OLD} if return_old else {}
        self.transaction.save(item, condition=condition, **extra)
        self._guard("save", error)

    def delete(self, item: Any, *, condition: Any = None, error: ErrorFactory | None = None) -> None:
        self.transaction.delete(item, condition=condition)
        self._guard("delete", error)

    def update(
        self,
        item: Any,
        actions: list[Any],
        *,
        condition: Any = None,
        error: ErrorFactory | None = None,
        return_old: bool = False,
    ) -> None:
        extra = {"return_values": ALL_OLD} if return_old else {}
        self.transaction.update(item, actions=actions, condition=condition, **extra)
        self._guard("update", error)

    def condition_check(
        self,
        model: Any,
        key: tuple[str, str],
        *,
        condition: Any,
        error: ErrorFactory | None = None,
        return_old: bool = False,
    ) -> None:
        """A condition on an item the transaction does not write (`key`: its hash and range key)."""
        hash_key, range_key = key
        self.transaction.condition_check(model, hash_key, range_key, condition=condition)
        if return_old:  # pynamodb's condition_check takes no return values: set them on the item it queued
            self.transaction._condition_check_items[-1]["ReturnValuesOnConditionCheckFailure"] = ALL_OLD
        self._guard("condition_check", error)

    def failed_items(self, error: TransactWriteError) -> list[tuple[Exception, dict[str, Any] | None]]:
        """Each failed condition's domain error with the item as it is, as DynamoDB JSON (when the write
        asked for it with `return_old`, and the engine returned it; else None)."""
        reasons = error.cancellation_reasons or []
        factories = [factory for kind in _SENT_ORDER for factory in self._errors.get(kind, [])]
        return [
            (factory(), getattr(reason, "raw_item", None))
            for reason, factory in zip(reasons, factories, strict=False)
            if reason is not None and reason.code == CONDITION_FAILED and factory is not None
        ]

    def failures(self, error: TransactWriteError) -> list[Exception]:
        """The domain error of every item whose condition failed, in the order the items were sent."""
        codes = cancellation_codes(error)
        factories = [factory for kind in _SENT_ORDER for factory in self._errors.get(kind, [])]
        return [f() for code, f in zip(codes, factories, strict=False) if code == CONDITION_FAILED and f is not None]

    def map(self, error: TransactWriteError, *, conflict: ErrorFactory | None = None) -> Exception:
        """The domain error of the first failed condition; a conflict; or the original error."""
        codes = cancellation_codes(error)
        factories = [factory for kind in _SENT_ORDER for factory in self._errors.get(kind, [])]
        for code, factory in zip(codes, factories, strict=False):
            if code == CONDITION_FAILED and factory is not None:
                return factory()
        if conflict is not None and CONFLICT in codes:
            return conflict()
        return error
