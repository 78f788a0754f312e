"""Feedback and KPIs: counters from the stream, surveys, ratings, and the report.

Every count is a fact recorded once (idempotent by key), so replays add nothing; the
report reads day counters only. Surveys are scheduled from the stream and sent by the
scheduled dispatch, throttled per customer; answers count into CSAT/NPS and a detractor
is called back through a ticket when the support desk is wired in.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from chalicelib.domain import kpis
from chalicelib.domain.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.domain.ids import new_id
from chalicelib.domain.kpis import Fact
from chalicelib.domain.orders import NOT_SHIPPED, OPEN_SLA, Order, OrderStatus
from chalicelib.domain.returns import Return
from chalicelib.domain.surveys import Answer, Survey, read_token, recipient_tag, stored_answer, survey_token
from chalicelib.domain.tickets import Ticket
from chalicelib.observability import get_logger
from chalicelib.services.ports import Clock, StoredResponse


class KpiStore(Protocol):
    def record(self, fact: kpis.Fact) -> bool: ...

    def record_all(self, facts: list[kpis.Fact], board: Sequence[kpis.BoardPlace] = ()) -> bool:
        """Count every fact at once, and write the board's places with them (the board shares the
        store's table), or nothing (False) when any of the facts was counted before."""
        ...

    def demote(self, kpi: str, fact_key: str, cause_counter: str | None, *, part: str | None = None) -> bool: ...

    def save_promise(self, order_id: str, ship_by: datetime, deliver_by: datetime) -> None: ...

    def save_feedback(
        self,
        feedback_id: str,
        fields: dict[str, str | int | None],
        response: StoredResponse | None = None,
        facts: Sequence[kpis.Fact] = (),
    ) -> bool:
        """The feedback with its facts (and the request's idempotency record) in one write; whether
        the facts were counted by it."""
        ...

    def set_case(self, customer_id: str, case_id: str, is_open: bool) -> None: ...

    def has_open_case(self, customer_id: str) -> bool: ...

    def promise(self, order_id: str) -> tuple[datetime, datetime] | None: ...

    def totals(self, start: date, end: date) -> tuple[kpis.Totals, list[tuple[date, dict[str, int]]], int]: ...

    def misses(
        self, kpi: str, start: date, end: date, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, str]], str | None]: ...


class SurveyStore(Protocol):
    def schedule(self, survey: Survey) -> bool: ...

    def due(self, now: datetime, days_back: int) -> list[tuple[str, str, str]]: ...

    def done(self, due_key: str) -> None: ...

    def get(self, kind: str, subject: str) -> Survey | None: ...

    def take_slot(self, customer_id: str, survey_id: str, now: datetime, window_start: datetime) -> bool: ...

    def mark(self, survey: Survey, status: str, now: datetime, reason: str | None = None) -> None: ...

    def answer(
        self, survey: Survey, answer: dict[str, object], now: datetime, facts: Sequence[kpis.Fact] = ()
    ) -> tuple[bool, bool]:
        """Store the answer once with its facts, in one write: (stored, facts counted)."""
        ...


class OpsBoard(Protocol):
    def place(self, place: kpis.BoardPlace) -> None: ...

    def board(self, limit: int = 200) -> list[dict[str, str]]: ...

    def days_and_board(
        self, start: date, end: date, now: datetime, hours: int
    ) -> tuple[list[tuple[date, dict[str, int]]], list[dict[str, str]]]:
        """The day counters of [start, end), the board, and the orders whose ship-by is within `hours`."""
        ...


class ReportArchive(Protocol):
    """Where closed periods are frozen (S3 in AWS and locally)."""

    def load(self, period: str, start: date) -> dict[str, Any] | None: ...

    def save(self, period: str, start: date, report: dict[str, Any]) -> None: ...


def _board_places(order: Order) -> dict[str, bool]:
    """On which lists of the operations board the order belongs."""
    active = order.status != OrderStatus.CANCELLED
    stalled = any(s.stalled for s in order.shipments)  # flagged by the stall sweep (or AfterShip's Expired)
    # Paid and not shipped: an order awaiting payment is not the warehouse's to ship (and has no open promise).
    to_ship = order.shipped_at is None and order.status in NOT_SHIPPED and order.status != OrderStatus.PLACED
    return {
        "ship_soon": to_ship and order.sla_shipping in OPEN_SLA,  # listed once its ship-by is 8 h away
        "late_shipping": active and order.shipped_at is None and order.sla_shipping == "breached",
        "late_delivery": active and order.delivered_at is None and order.sla_delivery == "breached",
        "stalled": stalled and order.delivered_at is None,
    }


def _board_due(kind: str, order: Order) -> datetime | None:
    if kind in ("ship_soon", "late_shipping"):
        return order.ship_by
    if kind == "late_delivery":
        return order.revised_deliver_by or order.deliver_by
    return None


TREND_WEEKS = 13  # the dashboard's trend; at least 2, so it holds the week before this one too
SHIP_SOON_HOURS = 8  # the board's "ship soon" list: not shipped, ship-by within this many hours


@dataclass(frozen=True)
class FeedbackSettings:
    timezone: str = "Europe/Berlin"
    delivery_delay: timedelta = timedelta(days=3)
    support_delay: timedelta = timedelta(hours=24)
    return_delay: timedelta = timedelta(hours=0)
    throttle_window: timedelta = timedelta(days=30)
    token_days: int = 30
    targets: dict[str, float | None] = field(default_factory=lambda: dict(kpis.DEFAULT_TARGETS))


@dataclass
class KpiService:
    store: KpiStore
    clock: Clock
    config: FeedbackSettings
    archive: ReportArchive | None = None
    board: OpsBoard | None = None
    on_fact: Callable[[kpis.Fact], None] | None = None  # the EMF metrics

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)

    def on_order_change(self, before: Order | None, after: Order) -> int:
        """Count what this change of an order means for the KPIs; how many new facts."""
        if before is None and after.promised_ship_by is None:  # an order that does not carry its promise
            self.store.save_promise(after.id, after.ship_by, after.deliver_by)
        interesting = (
            before is None
            or any(
                getattr(before, name) != getattr(after, name)
                for name in ("status", "shipped_at", "delivered_at", "sla_shipping", "sla_delivery")
            )
            or [s.status for s in before.shipments] != [s.status for s in after.shipments]
        )
        if not interesting:
            if [s.stalled for s in before.shipments] != [s.stalled for s in after.shipments]:  # type: ignore[union-attr]
                self._place_all(self._board_changes(before, after))  # a stall flagged or cleared: the board only
            return 0
        places = self._board_changes(before, after)
        if not kpis.yields_facts(before, after):
            self._place_all(places)
            return 0  # neither shipped, delivered nor late just now: no fact, so no promise to read
        if after.promised_ship_by is not None and after.promised_deliver_by is not None:
            promise = kpis.Promise(after.promised_ship_by, after.promised_deliver_by)  # on the order: no read
        else:  # placed before the order kept its promise: the one stored at its placement
            promised = self.store.promise(after.id)
            promise = kpis.Promise(*promised) if promised else kpis.Promise(after.ship_by, after.deliver_by)
        return self.count_all(kpis.order_facts(before, after, promise, self.zone), places)

    def on_ticket_change(self, before: Ticket | None, after: Ticket) -> int:
        """Count the ticket's deadlines kept or missed, its category, and what it says about the order."""
        facts = kpis.ticket_facts(before, after, self.zone)
        counted = sum(self.count(fact) for fact in facts)
        if before is None:
            self.record_complaint(after.order_id, after.category, after.created_at)
        is_open = after.status not in ("resolved", "closed")
        if before is None or is_open != (before.status not in ("resolved", "closed")):
            self.store.set_case(after.customer_id, after.id, is_open)
        return counted

    def _board_changes(self, before: Order | None, after: Order) -> list[kpis.BoardPlace]:
        """What keeps the live operations board in step (to ship soon, late to ship, late to arrive,
        stalled): the places that change with this change, none without a board.

        A replayed record writes them again; a ship-soon entry is filed by its ship-by, so a revised
        ship-by moves it."""
        if self.board is None:
            return []
        then = _board_places(before) if before is not None else {}
        number = str(getattr(after, "number", "") or after.id)
        places = []
        for kind, present in _board_places(after).items():
            was = then.get(kind, False)
            moved = kind == "ship_soon" and was and present and before is not None and before.ship_by != after.ship_by
            if was and (moved or not present):
                places.append(kpis.BoardPlace(kind, after.id, number, _board_due(kind, before), False))  # type: ignore[arg-type]
            if present and (moved or not was):
                places.append(kpis.BoardPlace(kind, after.id, number, _board_due(kind, after), True))
        return places

    def _place_all(self, places: Sequence[kpis.BoardPlace]) -> None:
        for place in places:
            self.board.place(place)  # type: ignore[union-attr]  # places come only with a board

    def on_return_change(self, before: Return | None, after: Return) -> int:
        """Count a new return (return rate, reason), what it says about the order, and keep the open cases."""
        counted = sum(self.count(fact) for fact in kpis.return_facts(before, after, self.zone))
        if before is None:
            self.record_complaint(after.order_id, after.reason, after.created_at)
        closed = str(after.status) in kpis.RETURN_CLOSED
        if before is None or closed != (str(before.status) in kpis.RETURN_CLOSED):
            self.store.set_case(after.customer_id, after.id, not closed)
        return counted

    def record_complaint(self, order_id: str, category: str, at: datetime) -> None:
        """A wrong_item / missing_item / damaged complaint makes a shipped order inaccurate after the fact;
        with an invoice complaint too, a delivered order is not perfect any more, and the component the
        complaint names (damage-free, complete, correct documents) is taken off, once."""
        perfect = f"perfect_order_rate#{order_id}"
        if category == "invoice":  # wrong documents: not a perfect order any more
            self.store.demote("perfect_order_rate", perfect, kpis.cause("complaint", category))
        elif category in kpis.ACCURACY_COMPLAINTS:
            self.store.demote("order_accuracy", f"order_accuracy#{order_id}", kpis.cause("complaint", category))
            self.store.demote("perfect_order_rate", perfect, None)
        part = kpis.COMPLAINT_COMPONENTS.get(category)
        if part is not None:
            self.store.demote("perfect_order_rate", perfect, None, part=part)

    def count(self, fact: kpis.Fact) -> bool:
        """Record `fact` once; a new one is also reported as a metric."""
        new = self.store.record(fact)
        if new and self.on_fact is not None:
            self.on_fact(fact)
        return new

    def announce(self, facts: Sequence[kpis.Fact]) -> None:
        """Report newly counted facts as metrics."""
        if self.on_fact is not None:
            for fact in facts:
                self.on_fact(fact)

    def count_all(self, facts: list[kpis.Fact], board: Sequence[kpis.BoardPlace] = ()) -> int:
        """Record the facts of one change, with its board places, in one write when none was counted
        before; how many were new."""
        if len(facts) > 1 and self.store.record_all(facts, board):
            self.announce(facts)
            return len(facts)
        self._place_all(board)  # a single fact, or a replay: the board on its own
        return sum(self.count(fact) for fact in facts)  # one of them was counted already (a replay)

    def record_feedback(
        self,
        source: str,
        rating: int,
        order_id: str | None,
        comment: str | None,
        url: str | None,
        at: datetime,
        *,
        feedback_id: str | None = None,
        stored: Callable[[dict[str, Any]], StoredResponse] | None = None,
    ) -> dict[str, Any]:
        """Website feedback or an outside rating (review, social, chat, phone): kept and counted in CSAT.

        The feedback, its CSAT fact and (`stored`) the request's idempotency record are one write. A
        request with an Idempotency-Key names the feedback itself (`feedback_id`, from the key), so a
        retry finds its record (IdempotencyKeyTakenError) and counts nothing again."""
        recorded = self.clock.now()
        fields: dict[str, str | int | None] = {
            "source": source,
            "rating": rating,
            "order_id": order_id,
            "comment": comment,
            "url": url,
            "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "recorded_at": recorded.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        feedback_id = feedback_id or new_id("fbk")
        answer = {
            "id": feedback_id,
            "source": source,
            "rating": rating,
            "order_id": order_id,
            "recorded_at": fields["recorded_at"],
        }
        facts = kpis.score_facts("delivery", feedback_id, kpis.local_day(at, self.zone), rating, None, source, comment)
        if self.store.save_feedback(feedback_id, fields, stored(answer) if stored else None, facts):
            self.announce(facts)
        return answer

    # --- reading ------------------------------------------------------------------------------------------

    def report(self, period: str, start: date) -> dict[str, Any]:
        begin, end = kpis.period_bounds(period, start)
        today = kpis.local_day(self.clock.now(), self.zone)
        closed = end <= today
        if closed and self.archive is not None:
            frozen = self.archive.load(period, begin)
            if frozen is not None:
                return frozen
        report = self._compute(period, begin, end)
        report["closed"] = closed
        return report

    def _compute(self, period: str, begin: date, end: date) -> dict[str, Any]:
        # The previous period ends where this one begins: one Query over both (one round trip), split by day.
        _, days, _ = self.store.totals(kpis.previous_start(period, begin), end)
        return self._build(period, begin, end, days)

    def _build(self, period: str, begin: date, end: date, days: list[tuple[date, dict[str, int]]]) -> dict[str, Any]:
        """The report of [begin, end) against the period before, from day counters covering at least both."""
        first = kpis.previous_start(period, begin)
        totals, previous = kpis.Totals(), kpis.Totals()
        for day, counts in days:
            if begin <= day < end:
                totals.add(counts)
            elif first <= day < begin:
                previous.add(counts)
        return kpis.build_report(period, begin, end, totals, previous, self.config.targets)

    def freeze_closed(self, now: datetime) -> list[str]:
        """Write the report of every period that has just ended (idempotent: a frozen one stays)."""
        if self.archive is None:
            return []
        today = kpis.local_day(now, self.zone)
        frozen = []
        for period in kpis.PERIODS:
            start = _period_start(period, today)
            last = kpis.previous_start(period, start)
            if self.archive.load(period, last) is None:
                report = self._compute(period, *kpis.period_bounds(period, last))
                report["closed"] = True
                self.archive.save(period, last, report)
                frozen.append(f"{period}:{last.isoformat()}")
        return frozen

    def trend(self, weeks: int) -> list[dict[str, Any]]:
        """Weekly values of every KPI for the last `weeks` weeks (oldest first): one Query."""
        this_week = _period_start("week", kpis.local_day(self.clock.now(), self.zone))
        first = this_week - timedelta(weeks=weeks - 1)
        _, days, _ = self.store.totals(first, this_week + timedelta(days=7))
        return self._weekly(first, weeks, days)

    @staticmethod
    def _weekly(first: date, weeks: int, days: list[tuple[date, dict[str, int]]]) -> list[dict[str, Any]]:
        buckets = [kpis.Totals() for _ in range(weeks)]
        for day, counts in days:
            buckets[(day - first).days // 7].add(counts)
        return [
            {
                "start": (first + timedelta(weeks=i)).isoformat(),
                "values": {name: kpis.kpi_value(name, bucket)["value"] for name in kpis.KPI_NAMES},
            }
            for i, bucket in enumerate(buckets)
        ]

    def dashboard(self) -> dict[str, Any]:
        """This week against the targets, 13 weeks of trend, the causes, and who needs someone now.

        The trend's weeks include this one and the one before: one Query of the day counters gives
        the week's report (open, so never the archive's) and the trend; the board is kept after the
        day counters in their partition, so the same Query reads it."""
        now = self.clock.now()
        week = _period_start("week", kpis.local_day(now, self.zone))
        first, end = week - timedelta(weeks=TREND_WEEKS - 1), week + timedelta(days=7)
        if self.board is not None:
            days, board = self.board.days_and_board(first, end, now, SHIP_SOON_HOURS)
        else:
            _, days, _ = self.store.totals(first, end)
            board = []
        report = self._build("week", week, end, days)
        report["closed"] = False  # this week is still running
        return {"report": report, "trend": self._weekly(first, TREND_WEEKS, days), "board": board}

    def misses(self, name: str, period: str, start: date, limit: int, cursor: str | None) -> dict[str, Any]:
        if name not in kpis.KPI_NAMES:
            raise NotFoundError(f"no KPI named '{name}'", code="unknown_kpi")
        begin, end = kpis.period_bounds(period, start)
        if cursor is not None:
            _check_cursor(cursor, name)
        items, next_cursor = self.store.misses(name, begin, end, limit, cursor)
        return {"name": name, "period": period, "start": begin.isoformat(), "items": items, "next_cursor": next_cursor}


def _check_cursor(cursor: str, name: str) -> None:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        valid = (
            isinstance(key, dict)
            and key.get("pk") == {"S": f"KPIMISS#{name}"}
            and isinstance(key.get("sk"), dict)
            and isinstance(key["sk"].get("S"), str)
            and set(key) == {"pk", "sk"}
        )
    except (ValueError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise ValidationError("cursor is not valid for this list", code="invalid_cursor")


def _period_start(period: str, today: date) -> date:
    if period == "week":
        return today - timedelta(days=today.weekday())
    if period == "month":
        return today.replace(day=1)
    return date(today.year, (today.month - 1) // 3 * 3 + 1, 1)


# --- surveys ----------------------------------------------------------------------------------------------------


@dataclass
class SurveyService:
    store: SurveyStore
    kpis: KpiService
    clock: Clock
    config: FeedbackSettings
    secrets: Callable[[], tuple[str, ...]]
    load_order: Callable[[str], Order]
    send: Callable[[Order, Survey, str], None]  # (order, survey, token) → the email/SMS intents
    survey_url: Callable[[str], str]
    has_open_case: Callable[[str], bool] = lambda customer_id: False
    open_ticket: Callable[[Survey, Answer], None] | None = None

    def on_order_change(self, before: Order | None, after: Order) -> bool:
        """Schedule the delivery survey when an order is delivered (once per order)."""
        if after.status != OrderStatus.DELIVERED or (before is not None and before.status == OrderStatus.DELIVERED):
            return False
        delivered = after.delivered_at or self.clock.now()
        return self.schedule("delivery", after.id, after, delivered + self.config.delivery_delay)

    def on_ticket_change(self, before: Ticket | None, after: Ticket) -> bool:
        """Schedule the post-support survey when a ticket is first resolved (once per ticket)."""
        if after.resolved_at is None or (before is not None and before.resolved_at is not None):
            return False
        if after.channel in ("system", "survey"):
            return False  # our own follow-ups are not asked about
        order = self.load_order(after.order_id)
        return self.schedule("support", after.id, order, after.resolved_at + self.config.support_delay)

    def on_return_change(self, before: Return | None, after: Return) -> bool:
        """Schedule the post-return survey when a return is completed (refunded or exchanged), once."""
        done = ("refunded", "exchanged")
        if str(after.status) not in done or (before is not None and str(before.status) in done):
            return False
        order = self.load_order(after.order_id)
        return self.schedule("return", after.id, order, self.clock.now() + self.config.return_delay)

    def schedule(self, kind: str, subject: str, order: Order, due_at: datetime) -> bool:
        survey = Survey(
            new_id("srv"),
            kind,
            subject,
            order.id,
            order.customer.id,
            due_at,
            recipient=recipient_tag(order.customer.email),
        )
        return self.store.schedule(survey)

    def dispatch(self, now: datetime) -> dict[str, int]:
        """Send (or drop) every survey due by `now`; per-item isolation, safe to run twice."""
        outcome: dict[str, int] = {"due": 0}
        for due_key, kind, subject in self.store.due(now, days_back=7):
            outcome["due"] += 1
            try:
                result = self._dispatch_one(kind, subject, now)
            except Exception as error:  # one bad survey never stops the others; retried next sweep
                get_logger().warning("survey dispatch failed", extra={"kind": kind, "error": type(error).__name__})
                result = "retry"
            if result != "retry":
                self.store.done(due_key)
            outcome[result] = outcome.get(result, 0) + 1
        return outcome

    def _dispatch_one(self, kind: str, subject: str, now: datetime) -> str:
        survey = self.store.get(kind, subject)
        if survey is None or survey.status not in ("scheduled", "sent"):
            return "stale"
        order = self.load_order(survey.order_id)
        if survey.status == "scheduled":
            if self.has_open_case(survey.customer_id):
                self.store.mark(survey, "dropped", now, "open_case")
                return "dropped"
            if not self.store.take_slot(survey.customer_id, survey.id, now, now - self.config.throttle_window):
                self.store.mark(survey, "dropped", now, "throttled")
                return "dropped"
            # Decided before the send: a retry after a partial failure finishes the send instead of
            # judging again (a ticket opened meanwhile must not drop a survey already on its way), and
            # the link works as soon as the message can arrive.
            self.store.mark(survey, "sent", now)
        token = survey_token(
            kind, subject, order.customer.email, self.secrets()[0], now=now.timestamp(), days=self.config.token_days
        )
        self.send(order, survey, token)  # idempotent per survey: a retry re-sends nothing twice
        # Counted on every pass, not only the first: a retry after the mark must still count it
        # (a fact counts once by its key), on the day it was sent.
        day = kpis.local_day(survey.sent_at or now, self.kpis.zone)
        self.kpis.count(kpis.Fact(f"survey_sent#{survey.id}", day, {kpis.den("survey_response_rate"): 1}, survey.id))
        return "sent"

    def open(self, token: str) -> Survey:
        """The survey a link opens (404 for a bad, expired or unknown token)."""
        claims = read_token(token, self.secrets(), now=self.clock.now().timestamp())
        survey = self.store.get(claims.kind, claims.subject) if claims else None
        if survey is None or survey.status not in ("sent", "answered"):
            raise NotFoundError("this survey link is not valid", code="survey_not_found")
        # Bound to the address it was sent to: kept with the survey (read before that: the order's).
        recipient = survey.recipient or recipient_tag(self.load_order(survey.order_id).customer.email)
        if claims is None or recipient != claims.recipient:
            raise NotFoundError("this survey link is not valid", code="survey_not_found")
        return survey

    def answer(self, token: str, answer: Answer) -> Survey:
        """Store the answer once, then what follows from it (its KPI facts, a detractor's follow-up ticket).

        Any answer to an answered survey (a client retrying a request that failed after the answer
        was stored, or the customer changing their mind) finishes the stored answer's follow-ups
        (each lands once, by its key) and is then told the survey is answered."""
        survey = self.open(token)
        stored: dict[str, object] = {
            "csat": answer.csat,
            "nps": answer.nps,
            "aspects": answer.aspects,
            "comment": answer.comment,
        }
        if survey.status != "answered":
            if survey.kind != "delivery" and answer.nps is not None:
                raise ValidationError("nps is asked after delivery only", details=[{"field": "nps"}])
            now = self.clock.now()
            facts = self._facts(survey, answer, now)
            saved, counted = self.store.answer(survey, stored, now, facts)  # one write: the answer and its facts
            if saved:
                survey.status, survey.answered_at, survey.answer = "answered", now, stored
                if counted:
                    self.kpis.announce(facts)
                self._follow_up(survey, answer, now, counted=counted)
                return survey
            survey = self.open(token)  # another request answered it meanwhile
        if survey.answer and survey.answered_at is not None:
            # Whatever this request says, the stored answer's follow-ups are finished: the one
            # that stored it may have failed after it, and its customer may never retry as it was.
            self._follow_up(survey, stored_answer(survey.answer), survey.answered_at)
        raise ConflictError("this survey has already been answered", code="already_answered")

    def _facts(self, survey: Survey, answer: Answer, answered_at: datetime) -> list[Fact]:
        """What an answer counts (its scores, and the survey as answered), on the day it was answered."""
        day = kpis.local_day(answered_at, self.kpis.zone)
        scores = kpis.score_facts(survey.kind, survey.id, day, answer.csat, answer.nps, "survey", answer.comment)
        answered = kpis.Fact(f"survey_answered#{survey.id}", day, {kpis.num("survey_response_rate"): 1}, survey.id)
        return [*scores, answered]

    def _follow_up(self, survey: Survey, answer: Answer, answered_at: datetime, *, counted: bool = False) -> None:
        """Idempotent by key (facts by their key, the ticket by the survey), dated when it was answered;
        `counted`: the facts were written with the answer."""
        if not counted:
            self.kpis.count_all(self._facts(survey, answer, answered_at))
        if self.open_ticket is not None and (answer.detractor or (answer.comment and answer.csat <= 3)):
            self.open_ticket(survey, answer)
