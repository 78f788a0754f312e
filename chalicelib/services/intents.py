"""Durable intents: every effect of a business fact is recorded before any is attempted.

When an order changes (paid, shipped, …) its planners list what must follow — each
document, each message per channel, each escalation, later each outbound webhook —
and `IntentRunner.record` stores them all (one conditional write each, batched) before
`drive` attempts the first. So one failing effect can never hide another: each intent
is driven to an end on its own, by the stream consumer on the happy path or by the
retry schedule (`retry_due`) for the rest, one item's failure never stopping the sweep.

Failures: `PermanentEffectError` ends an intent as failed (its handler writes the reason
on the timeline). Anything else — throttling, a 5xx, a timeout, an exception nobody
foresaw — is transient: the intent is retried with exponential backoff until it is
`give_up_after` old (default 24 h), then given up (timeline + an alarm metric). Attempts
are counted only when a handler actually ran; stream redeliveries never count.

A new kind of effect is a small addition: an `EffectHandler` (perform one intent) and
a `Planner` (which intents an order change implies), both registered in bootstrap.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.orders import DomainEvent, Order
from chalicelib.observability import get_logger
from chalicelib.services.ports import Clock, IntentRecords

if TYPE_CHECKING:
    from chalicelib.services.documents import IssuedDocument

PENDING, DONE, FAILED, SKIPPED = "pending", "done", "failed", "skipped"
# Lanes: which function drives an intent. The main lane is the API package's stream consumer and
# retry schedule; the documents lane (PDF/XML rendering) is the documents function's, whose package
# alone carries fpdf2, drafthorse and lxml (README.md, "Architecture").
MAIN_LANE, DOCUMENTS_LANE = "", "documents"
LEASE_SECONDS = 120  # a worker that crashed mid-attempt is taken over after this
FIRST_RETRY_SECONDS = 60
MAX_RETRY_SECONDS = 3600
# Once an effect has happened (an email sent), recording that tries hard: if the write were left to
# the retry schedule, the retry would repeat the effect (a second email). 0.05 s doubling, ≤ 3.6 s.
OUTCOME_WRITE_ATTEMPTS = 8


@dataclass(frozen=True)
class Intent:
    """One effect to bring about, identified by (order, kind, key)."""

    order_id: str
    kind: str  # which handler performs it: "message", "document", …
    key: str  # unique per order and kind
    payload: dict[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()  # ids of intents to finish first (their outcome, not their success)
    status: str = PENDING  # or SKIPPED: recorded as decided, never attempted
    timeline: DomainEvent | None = None  # written with the record (e.g. why it was skipped)
    cause_version: int = 0  # the order version whose change implied it: its timeline entries follow that change
    lane: str = MAIN_LANE  # the function that drives it (the documents lane: its own stream consumer and schedule)
    # Another lane's intent: the main-lane intents of the same change that come after it (None: not known,
    # recorded before they were kept), so its consumer takes them next without reading the order's intents.
    followers: tuple[str, ...] | None = None

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.key}"


@dataclass(frozen=True)
class Attempt:
    """A stored intent this worker holds the lease on."""

    intent: Intent
    attempts: int  # attempts that ran and failed so far
    created_at: datetime
    give_up_at: datetime


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended, and the timeline entry written with it."""

    status: str  # DONE or SKIPPED
    event: DomainEvent | None = None
    summary: str = "done"
    # Documents whose PDFs the attempt put to S3: marked stored by the same write that ends the intent.
    stored: tuple[IssuedDocument, ...] = ()


class PermanentEffectError(Exception):
    """No retry will ever make this effect succeed (address rejected, number invalid, …)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class EffectHandler(Protocol):
    def perform(self, intent: Intent, now: datetime) -> Outcome:
        """Bring the effect about (idempotently); raise PermanentEffectError or anything transient."""
        ...

    def failed(self, intent: Intent, reason: str, now: datetime) -> DomainEvent | None:
        """The timeline entry recording that the effect failed for good (or was given up)."""
        ...


class Planner(Protocol):
    def plan(self, before: Order | None, after: Order) -> list[Intent]:
        """The intents an order change implies (`before` None: a new order)."""
        ...


def with_followers(intents: Sequence[Intent]) -> list[Intent]:
    """Each other-lane intent with the ids of the main-lane intents of the same batch that come after it."""
    return [
        replace(
            intent,
            followers=tuple(other.id for other in intents if other.lane == MAIN_LANE and intent.id in other.after),
        )
        if intent.lane != MAIN_LANE
        else intent
        for intent in intents
    ]


def backoff(attempts: int) -> timedelta:
    """1 min, 2, 4, … capped at an hour."""
    return timedelta(seconds=min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


def error_label(error: BaseException) -> str:
    """What is kept of an error: its type and, for AWS errors, the code — never the message (PII)."""
    code = getattr(error, "response", {}) or {}
    aws_code = code.get("Error", {}).get("Code") if isinstance(code, dict) else None
    return f"{type(error).__name__}: {aws_code}" if aws_code else type(error).__name__


def persist(write: Callable[[], None]) -> None:
    """Write what records an effect that has happened, retrying transient errors a few times in
    place: left to the retry schedule, the retry would repeat the effect (a second email, POST)."""
    import time

    for tries in range(OUTCOME_WRITE_ATTEMPTS):
        try:
            write()
            return
        except Exception as error:
            if tries == OUTCOME_WRITE_ATTEMPTS - 1:
                raise
            get_logger().warning("effect happened, its record not stored yet", extra={"error": error_label(error)})
            time.sleep(min(0.05 * 2**tries, 1.0))


class WaitingError(Exception):
    """An intent this one comes after has not ended yet."""


@dataclass
class IntentRunner:
    records: IntentRecords
    handlers: dict[str, EffectHandler]
    clock: Clock
    planners: list[Planner] = field(default_factory=list)
    give_up_after: timedelta = timedelta(hours=24)
    on_give_up: Callable[[Intent], None] | None = None  # the alarm metric
    # Kinds driven by their own stream consumer (not inline after recording) and attempted in
    # parallel, so a slow one holds up neither the order's other effects nor each other.
    parallel_kinds: frozenset[str] = frozenset()

    def plan(self, before: Order | None, after: Order) -> list[Intent]:
        return [intent for planner in self.planners for intent in planner.plan(before, after)]

    def record(self, intents: Sequence[Intent], *, leased: Collection[str] = ()) -> list[Intent]:
        """Store the intents not stored yet; those in `leased` stored leased to the caller (it attempts them next)."""
        now = self.clock.now()
        lease_until = now + timedelta(seconds=LEASE_SECONDS) if leased else None
        return self.records.record(
            with_followers(intents),
            now=now,
            give_up_at=now + self.give_up_after,
            lease_until=lease_until,
            leased=leased,
        )

    def handle_change(self, before: Order | None, after: Order) -> dict[str, str]:
        """Record every intent of the change, then drive each; {intent id: what happened}."""
        intents = [replace(intent, cause_version=after.version) for intent in self.plan(before, after)]
        return self.record_and_drive(intents)

    def record_and_drive(self, intents: Sequence[Intent]) -> dict[str, str]:
        """Record the intents (raises only if they could not be stored: the caller's event is retried),
        then drive the ones this consumer drives at once (`inline`); {intent id: what happened}.

        The intents this call stores are stored already leased to it (one write for recording and
        claiming them all); ones stored before (a replayed record) are taken as usual, so a
        replay that finds them leased or ended does nothing twice."""
        inline = self.inline(intents)
        now = self.clock.now()
        stored = self.record(intents, leased={intent.id for intent in inline})
        held = {i.id: Attempt(i, 0, now, now + self.give_up_after) for i in stored if i in inline}
        return {intent.id: result for intent, result in self._drive_in_order(inline, None, held)}

    def inline(self, intents: Sequence[Intent]) -> list[Intent]:
        """The recorded intents this (main-lane) consumer drives at once: not another lane's, nor one
        waiting for another lane's (the documents function drives those right after its own)."""
        elsewhere = {intent.id for intent in intents if intent.lane != MAIN_LANE}
        return [
            intent
            for intent in intents
            if intent.status == PENDING
            and intent.lane == MAIN_LANE
            and intent.kind not in self.parallel_kinds
            and not elsewhere.intersection(intent.after)
        ]

    def drive_lane(self, lane: str, intents: Sequence[Intent], now: datetime | None = None) -> list[tuple[Intent, str]]:
        """Another lane's consumer: its new intents, then the pending ones of the same orders that wait
        for them (the receipt email waits for the invoice), in one pass so they follow at once."""
        mine = [intent for intent in intents if intent.lane == lane]
        return self.drive([*mine, *self._followers(mine)], now=now)

    def _followers(self, mine: Sequence[Intent]) -> list[Intent]:
        """The main-lane intents waiting for these: named by the intents themselves, else read."""
        if all(intent.followers is not None for intent in mine):
            waits_for: dict[tuple[str, str], list[str]] = {}
            for intent in mine:
                for follower in intent.followers or ():
                    waits_for.setdefault((intent.order_id, follower), []).append(intent.id)
            # The stored intent (its payload, all it waits for) comes with taking it; `after` only orders the pass.
            return [
                Intent(order_id, kind, key, after=tuple(after))
                for (order_id, follower), after in waits_for.items()
                for kind, key in [follower.split(":", 1)]
            ]
        ids = {intent.id for intent in mine}
        return [
            intent
            for order_id in dict.fromkeys(intent.order_id for intent in mine)
            for intent in self.records.pending(order_id)
            if intent.lane == MAIN_LANE and ids.intersection(intent.after)
        ]

    def drive(self, intents: Sequence[Intent], now: datetime | None = None) -> list[tuple[Intent, str]]:
        """Attempt each due intent once; one failing never stops the next."""
        parallel = [intent for intent in intents if intent.kind in self.parallel_kinds and not intent.after]
        outcome = self._drive_in_order([intent for intent in intents if intent not in parallel], now)
        if parallel:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=min(16, len(parallel))) as pool:
                for result in pool.map(lambda intent: self._drive_in_order([intent], now), parallel):
                    outcome.extend(result)
        return outcome

    def _drive_in_order(
        self, intents: Sequence[Intent], now: datetime | None, held: dict[str, Attempt] | None = None
    ) -> list[tuple[Intent, str]]:
        outcome: list[tuple[Intent, str]] = []
        ended: set[tuple[str, str]] = set()  # (order, intent id) ended in this pass
        for intent in sorted(intents, key=lambda item: bool(item.after)):
            at = now or self.clock.now()
            try:
                attempt = (held or {}).get(intent.id) or self.records.take(intent, now=at, lease_seconds=LEASE_SECONDS)
            except Exception as error:  # the retry schedule takes it up
                get_logger().warning("intent not taken", extra={"intent": intent.id, "error": error_label(error)})
                outcome.append((intent, "retry_later"))
                continue
            if attempt is None:
                outcome.append((intent, "duplicate"))
                continue
            try:
                result = self._attempt(attempt, at, {other for order, other in ended if order == intent.order_id})
            except Exception as error:  # recording the outcome failed: the lease runs out, a sweep retries
                get_logger().warning(
                    "intent outcome not stored", extra={"intent": intent.id, "error": error_label(error)}
                )
                result = "retry_later"
            outcome.append((intent, result))
            if result != "retry_later":
                ended.add((intent.order_id, intent.id))
        return outcome

    def retry_due(self, now: datetime | None = None, limit: int = 100, lane: str = MAIN_LANE) -> dict[str, int]:
        """The retry schedule of a lane: drive every intent of that lane whose next attempt is due."""
        at = now or self.clock.now()
        due = [attempt.intent for attempt in self.records.due(at, limit, lane=lane)]
        results = self.drive(due, now=at) if lane == MAIN_LANE else self.drive_lane(lane, due, now=at)
        return dict(Counter(result for _, result in results))

    def _attempt(self, attempt: Attempt, now: datetime, ended: set[str]) -> str:
        intent = attempt.intent
        handler = self.handlers.get(intent.kind)
        try:
            if handler is None:
                raise PermanentEffectError(f"no handler for intents of kind {intent.kind!r}")
            self._check_after(intent, ended)
            result = handler.perform(intent, now)
        except PermanentEffectError as error:
            return self._end_failed(attempt, handler, error.reason, now)
        except Exception as error:  # unknown errors are transient, capped by the same window
            return self._retry(attempt, handler, error, now)
        self._complete(attempt, result, now)
        return result.summary

    def _complete(self, attempt: Attempt, result: Outcome, now: datetime) -> None:
        """Record the effect that happened (idempotent: an intent already ended stays as it is)."""
        persist(lambda: self.records.complete(attempt, result.status, result.event, now=now, stored=result.stored))

    def _check_after(self, intent: Intent, ended: set[str]) -> None:
        waiting = [other for other in intent.after if other not in ended]
        if waiting:
            statuses = self.records.statuses(intent.order_id, waiting)
            if any(statuses.get(other, PENDING) == PENDING for other in waiting):
                raise WaitingError(f"waiting for {', '.join(waiting)}")

    def _retry(self, attempt: Attempt, handler: EffectHandler | None, error: Exception, now: datetime) -> str:
        label = error_label(error)
        if now >= attempt.give_up_at:
            hours = self.give_up_after.total_seconds() / 3600
            reason = f"gave up after {hours:g} h of retries ({label})"
            get_logger().error("intent given up", extra={"intent": attempt.intent.id, "error": label})
            if self.on_give_up is not None:
                self.on_give_up(attempt.intent)
            return self._end_failed(attempt, handler, reason, now, summary="given_up")
        if isinstance(error, WaitingError):  # not a failure of its own: due again at once, so the
            # documents function can send it the moment its documents are done (the next sweep otherwise)
            self.records.retry_later(attempt, at=now, error=str(error))
            return "retry_later"
        get_logger().warning(
            "intent failed, will retry",
            extra={"intent": attempt.intent.id, "order_id": attempt.intent.order_id, "error": label},
        )
        attempts = attempt.attempts + 1
        self.records.retry_later(replace(attempt, attempts=attempts), at=now + backoff(attempts), error=label)
        return "retry_later"

    def _end_failed(
        self, attempt: Attempt, handler: EffectHandler | None, reason: str, now: datetime, summary: str = "failed"
    ) -> str:
        event = handler.failed(attempt.intent, reason, now) if handler is not None else None
        self.records.complete(attempt, FAILED, event, now=now)
        return summary
