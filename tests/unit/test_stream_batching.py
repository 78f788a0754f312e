"""What one stream record costs: intents stored already leased, KPI facts in one write, the board only on change.

Fakes stand in for DynamoDB; each counts the calls a record makes (the bench counts real round trips)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain import kpis
from chalicelib.domain.orders import DomainEvent, OrderStatus, SlaState
from chalicelib.services.documents import IssuedDocument
from chalicelib.services.feedback import FeedbackSettings, KpiService
from chalicelib.services.intents import DONE, PENDING, Attempt, Intent, IntentRunner, Outcome
from chalicelib.settings import Settings
from tests.unit.test_notify_render import sample_order

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return NOW


@dataclass
class Records:
    """Intent records in memory, with the lease semantics of the DynamoDB adapter."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    takes: list[str] = field(default_factory=list)

    def record(
        self,
        intents: Sequence[Intent],
        *,
        now: datetime,
        give_up_at: datetime,
        lease_until: datetime | None = None,
        leased: Collection[str] = (),
    ) -> list[Intent]:
        stored = [intent for intent in intents if intent.id not in self.items]
        for intent in stored:
            next_at = lease_until if intent.id in leased and lease_until else now
            self.items[intent.id] = {"intent": intent, "status": intent.status, "next_at": next_at}
        return stored

    def take(self, intent: Intent, *, now: datetime, lease_seconds: int) -> Attempt | None:
        self.takes.append(intent.id)
        item = self.items[intent.id]
        if item["status"] != PENDING or item["next_at"] > now:
            return None
        item["next_at"] = now + timedelta(seconds=lease_seconds)
        return Attempt(intent, 0, now, now + timedelta(hours=24))

    def complete(
        self,
        attempt: Attempt,
        status: str,
        event: DomainEvent | None,
        *,
        now: datetime,
        stored: Sequence[IssuedDocument] = (),
    ) -> None:
        self.items[attempt.intent.id]["status"] = status

    def retry_later(self, attempt: Attempt, *, at: datetime, error: str) -> None:
        self.items[attempt.intent.id]["next_at"] = at

    def due(self, now: datetime, limit: int, *, lane: str = "") -> list[Attempt]:
        return []

    def pending(self, order_id: str) -> list[Intent]:
        return [i["intent"] for i in self.items.values() if i["status"] == PENDING and i["intent"].order_id == order_id]

    def statuses(self, order_id: str, ids: Iterable[str]) -> dict[str, str]:
        return {i: self.items[i]["status"] for i in ids if i in self.items}


@dataclass
class Effect:
    performed: list[str] = field(default_factory=list)

    def perform(self, intent: Intent, now: datetime) -> Outcome:
        self.performed.append(intent.id)
        return Outcome(DONE)

    def failed(self, intent: Intent, reason: str, now: datetime) -> DomainEvent | None:
        return None


def test_intents_a_record_stores_are_stored_leased_and_attempted_without_a_take() -> None:
    records, effect = Records(), Effect()
    runner = IntentRunner(
        records, {"message": effect, "webhook": effect}, Clock(), parallel_kinds=frozenset({"webhook"})
    )
    intents = [Intent("ord_1", "message", "a"), Intent("ord_1", "message", "b"), Intent("ord_1", "webhook", "w")]

    assert runner.record_and_drive(intents) == {"message:a": "done", "message:b": "done"}
    assert records.takes == []  # recorded and claimed in the one write
    assert records.items["webhook:w"]["next_at"] == NOW  # another consumer's: due now, not leased
    assert effect.performed == ["message:a", "message:b"]

    # The same record again (a replay): stored before, so taken as usual — and ended, so nothing twice.
    assert runner.record_and_drive(intents) == {"message:a": "duplicate", "message:b": "duplicate"}
    assert records.takes == ["message:a", "message:b"] and effect.performed == ["message:a", "message:b"]


def test_a_replay_while_the_first_delivery_holds_the_lease_does_nothing() -> None:
    records, effect = Records(), Effect()
    runner = IntentRunner(records, {"message": effect}, Clock())
    intent = Intent("ord_1", "message", "a")
    runner.record([intent], leased={intent.id})  # the first delivery stored it leased, then stalled
    assert runner.record_and_drive([intent]) == {"message:a": "duplicate"}
    assert effect.performed == []


@dataclass
class KpiStore:
    counted: set[str] = field(default_factory=set)
    writes: list[list[str]] = field(default_factory=list)
    promise_reads: int = 0

    def record(self, fact: kpis.Fact) -> bool:
        self.writes.append([fact.key])
        new = fact.key not in self.counted
        self.counted.add(fact.key)
        return new

    def record_all(self, facts: list[kpis.Fact], board: Sequence[kpis.BoardPlace] = ()) -> bool:
        self.writes.append([fact.key for fact in facts] + [f"board:{p.kind}:{p.present}" for p in board])
        if any(fact.key in self.counted for fact in facts):
            return False
        self.counted.update(fact.key for fact in facts)
        return True

    def save_promise(self, order_id: str, ship_by: datetime, deliver_by: datetime) -> None:
        return None

    def promise(self, order_id: str) -> tuple[datetime, datetime] | None:
        self.promise_reads += 1
        return None

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected store call {name}")


@dataclass
class Board:
    placed: list[tuple[str, bool]] = field(default_factory=list)
    dues: list[datetime | None] = field(default_factory=list)

    def place(self, place: kpis.BoardPlace) -> None:
        self.placed.append((place.kind, place.present))
        self.dues.append(place.due_at)


def _service() -> tuple[KpiService, KpiStore, Board]:
    store, board = KpiStore(), Board()
    service = KpiService(store, Clock(), FeedbackSettings(), board=board)  # type: ignore[arg-type]
    return service, store, board


def test_a_delivery_counts_its_facts_in_one_write_and_a_replay_counts_nothing_twice() -> None:
    service, store, board = _service()
    shipped = replace(sample_order("de"), shipped_at=NOW, delivered_at=None, status=OrderStatus.SHIPPED)
    delivered = replace(shipped, delivered_at=NOW + timedelta(days=1), status=OrderStatus.DELIVERED)

    assert service.on_order_change(shipped, delivered) == 3
    assert len(store.writes) == 1 and len(store.writes[0]) == 3  # delivered_on_time, perfect order, return rate
    assert service.on_order_change(shipped, delivered) == 0  # replayed: one by one after the batch is refused
    assert store.writes[1:] == [store.writes[0], *([key] for key in store.writes[0])]
    assert board.placed == []  # on time: on no list before or after


def test_shipping_counts_its_facts_and_takes_the_order_off_ship_soon_in_one_write() -> None:
    service, store, board = _service()
    paid = replace(sample_order("de"), status=OrderStatus.PAID, shipped_at=None, delivered_at=None, shipments=[])
    shipped = replace(paid, status=OrderStatus.SHIPPED, shipped_at=paid.ship_by - timedelta(hours=2))

    assert service.on_order_change(paid, shipped) == 2  # shipped on time, order accuracy
    assert store.writes == [["shipped_on_time#" + paid.id, "order_accuracy#" + paid.id, "board:ship_soon:False"]]
    assert board.placed == []  # in the facts' transaction, not a write of its own
    assert service.on_order_change(paid, shipped) == 0  # a replay: the transaction is refused as a whole,
    assert board.placed == [("ship_soon", False)]  # so the board is written on its own and the facts one by one
    assert store.writes[2:] == [["shipped_on_time#" + paid.id], ["order_accuracy#" + paid.id]]


def test_a_change_that_yields_no_fact_reads_no_promise_and_the_board_is_written_only_on_change() -> None:
    service, store, board = _service()
    order = sample_order("de")
    order.shipped_at = order.delivered_at = None
    order.shipments, order.status = [], OrderStatus.PAID
    late = replace(order, sla_shipping=SlaState.BREACHED)
    assert not kpis.yields_facts(order, replace(order, status=OrderStatus.PROCESSING))
    service.on_order_change(order, replace(order, status=OrderStatus.PROCESSING))
    assert store.promise_reads == 0 and store.writes == [] and board.placed == []

    service.on_order_change(order, late)  # broke the shipping promise: a miss, off "ship soon", onto "late"
    assert store.promise_reads == 0  # the order carries the promise made at its placement
    assert board.placed == [("ship_soon", False), ("late_shipping", True)]
    service.on_order_change(late, replace(late, status=OrderStatus.PROCESSING))  # still late: nothing to write
    assert board.placed == [("ship_soon", False), ("late_shipping", True)]


def test_an_order_is_filed_to_ship_soon_once_paid_by_its_revised_ship_by_and_leaves_when_cancelled() -> None:
    service, _, board = _service()
    placed = replace(sample_order("de"), status=OrderStatus.PLACED, shipped_at=None, delivered_at=None, shipments=[])
    service.on_order_change(None, placed)
    assert board.placed == []  # awaiting payment: not the warehouse's to ship yet
    revised = replace(placed, status=OrderStatus.PAID, ship_by=placed.ship_by + timedelta(days=1))
    service.on_order_change(placed, revised)  # paid a business day later: filed under its new ship-by
    assert (board.placed, board.dues) == ([("ship_soon", True)], [revised.ship_by])
    service.on_order_change(revised, replace(revised, status=OrderStatus.PROCESSING))  # same ship-by: no write
    cancelled = replace(revised, status=OrderStatus.CANCELLED)
    service.on_order_change(revised, cancelled)
    assert board.placed[1:] == [("ship_soon", False)] and board.dues[1:] == [revised.ship_by]


def test_an_order_placed_before_it_kept_its_promise_reads_the_stored_one() -> None:
    service, store, _ = _service()
    order = replace(sample_order("de"), promised_ship_by=None, promised_deliver_by=None)
    order.shipped_at = order.delivered_at = None
    order.shipments = []
    service.on_order_change(order, replace(order, sla_shipping=SlaState.BREACHED))
    assert store.promise_reads == 1


def test_stream_tuning_comes_from_settings_within_lambdas_bounds() -> None:
    assert Settings.from_env({}).stream_parallelization_factor == Settings().stream_parallelization_factor
    tuned = Settings.from_env({"OC_STREAM_PARALLELIZATION_FACTOR": "10", "OC_STREAM_BATCHING_WINDOW_SECONDS": "1"})
    assert (tuned.stream_parallelization_factor, tuned.stream_batching_window_seconds) == (10, 1)
    with pytest.raises(ValueError, match="OC_STREAM_PARALLELIZATION_FACTOR"):
        Settings.from_env({"OC_STREAM_PARALLELIZATION_FACTOR": "0"})
    with pytest.raises(ValueError, match="OC_STREAM_BATCHING_WINDOW_SECONDS"):
        Settings.from_env({"OC_STREAM_BATCHING_WINDOW_SECONDS": "301"})
