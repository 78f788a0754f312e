"""Fire the Chalice app's `@app.schedule` functions locally, as EventBridge would.

* `Scheduler(app_module).start()` fires each schedule on its rate (or cron
  expression) in a background thread, with a scheduled-event payload.
* `run_all_once(app_module, at)` fires every schedule once, as of `at` (the
  event's `time`, which the handlers read as "now"), and returns a JSON-able summary.

Cron expressions use EventBridge's six fields (minutes hours day-of-month month
day-of-week year, UTC; day-of-week 1-7 = SUN-SAT); the `L`, `W` and `#` forms
are not supported locally: such schedules are logged and never fire on their own
(`run_all_once` still runs them).
"""

from __future__ import annotations

import calendar
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Self

from local.lambda_runtime import ACCOUNT_ID, LambdaContext, iso_z
from local.processes import Service

__all__ = [
    "CronError",
    "CronExpression",
    "Schedule",
    "Scheduler",
    "discover_schedules",
    "rate_seconds",
    "run_all_once",
    "scheduled_event",
]

logger = logging.getLogger(__name__)

ScheduleHandler = Callable[[dict[str, Any], Any], Any]

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$", re.IGNORECASE)
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between firings of `rate(N unit)`, or None if `expression` is not a rate."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    value = int(match.group(1))
    return value * _UNIT_SECONDS[match.group(2).lower().rstrip("s")] if value > 0 else None


# --- cron -----------------------------------------------------------------------------------------


class CronError(ValueError):
    """A cron expression the local scheduler cannot evaluate."""


_MONTHS = {name.upper(): i for i, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


def _cron_field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.upper().split(","):
        step, stepped = 1, "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad step in {text!r}")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _cron_value(first, names), _cron_value(last, names)
        else:
            start = _cron_value(part, names)
            end = high if stepped else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"{text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _cron_value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    if not text.isdigit():
        raise CronError(f"unsupported cron value {text!r} (L, W and # are not supported locally)")
    return int(text)


@dataclass(frozen=True)
class CronExpression:
    """An EventBridge `cron(...)` expression (UTC)."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?"
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # None: "?"; 1 = Sunday
    years: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> CronExpression:
        match = re.fullmatch(r"\s*cron\((.*)\)\s*", expression, re.IGNORECASE)
        if not match:
            raise CronError(f"not a cron expression: {expression!r}")
        fields = match.group(1).split()
        if len(fields) != 6:
            raise CronError(f"cron needs 6 fields, got {len(fields)}: {expression!r}")
        minutes, hours, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise CronError(f"exactly one of day-of-month and day-of-week must be '?': {expression!r}")
        return cls(
            minutes=_cron_field(minutes, 0, 59),
            hours=_cron_field(hours, 0, 23),
            days_of_month=None if dom == "?" else _cron_field(dom, 1, 31),
            months=_cron_field(month, 1, 12, _MONTHS),
            days_of_week=None if dow == "?" else _cron_field(dow, 1, 7, _DAYS),
            years=_cron_field(year, 1970, 2199),
        )

    def _day_matches(self, day: date) -> bool:
        if day.year not in self.years or day.month not in self.months:
            return False
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return (day.isoweekday() % 7) + 1 in self.days_of_week  # Monday=1 → 2, Sunday=7 → 1

    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing strictly after `moment` (UTC), within the next five years."""
        moment = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = moment.date()
        for _ in range(5 * 366):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)
                        if candidate >= moment:
                            return candidate
            day += timedelta(days=1)
        return None


# --- discovery and invocation --------------------------------------------------------------------


@dataclass
class Schedule:
    """One `@app.schedule` function: its name, expression and (wrapped) handler."""

    name: str
    expression: str
    handler: ScheduleHandler
    rule_name: str
    interval: int | None = None  # seconds, for rate expressions
    cron: CronExpression | None = None
    unsupported: str | None = None  # why it cannot fire on its own locally
    next_due: datetime | None = field(default=None, repr=False)


def _find_app(app_module: object) -> Any:
    from chalice.app import Chalice

    if isinstance(app_module, Chalice):
        return app_module
    app = getattr(app_module, "app", None)
    if not isinstance(app, Chalice):
        raise TypeError(f"{app_module!r} has no Chalice `app`")
    return app


def discover_schedules(app_module: object, *, stage: str = "dev") -> list[Schedule]:
    """The app's scheduled functions, in registration order (`app_module` is app.py or the app)."""
    from chalice.app import ScheduledEventConfig

    app = _find_app(app_module)
    schedules: list[Schedule] = []
    for source in app.event_sources:
        if not isinstance(source, ScheduledEventConfig):
            continue
        handler = getattr(app_module, source.name, None)
        if not callable(handler):
            handler = app.handler_map.get(source.name)
        if not callable(handler):
            logger.warning("schedule %s: no handler found; skipped", source.name)
            continue
        raw = source.schedule_expression
        expression = raw if isinstance(raw, str) else raw.to_string()
        schedule = Schedule(
            name=source.name,
            expression=expression,
            handler=handler,
            rule_name=f"{app.app_name}-{stage}-{source.name}",
        )
        schedule.interval = rate_seconds(expression)
        if schedule.interval is None:
            try:
                schedule.cron = CronExpression.parse(expression)
            except CronError as exc:
                schedule.unsupported = str(exc)
        schedules.append(schedule)
    return schedules


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-central-1"


def scheduled_event(schedule: Schedule, at: datetime, region: str | None = None) -> dict[str, Any]:
    """The EventBridge "Scheduled Event" that `schedule` receives when it fires at `at`."""
    region = region or _region()
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": iso_z(at),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{schedule.rule_name}"],
        "detail": {},
    }


def _jsonable(value: Any) -> Any:
    def default(item: Any) -> Any:
        if isinstance(item, datetime):
            return iso_z(item)
        if isinstance(item, date):
            return item.isoformat()
        if isinstance(item, set | frozenset | tuple):
            return list(item)
        if is_dataclass(item) and not isinstance(item, type):
            return asdict(item)
        if hasattr(item, "model_dump"):
            return item.model_dump(mode="json")
        return str(item)

    return json.loads(json.dumps(value, default=default))


def fire(schedule: Schedule, at: datetime, region: str | None = None) -> dict[str, Any]:
    """Invoke `schedule` once as of `at`; a summary with its JSON-able result or its error."""
    region = region or _region()
    started = time.perf_counter()
    summary: dict[str, Any] = {"schedule": schedule.expression, "time": iso_z(at)}
    try:
        result = schedule.handler(scheduled_event(schedule, at, region), LambdaContext(schedule.name, region=region))
    except Exception as exc:
        logger.warning("schedule %s failed", schedule.name, exc_info=True)
        summary.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    else:
        summary.update(ok=True, result=_jsonable(result))
    summary["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return summary


def local_schedules(app_module: object) -> list[Schedule]:
    """The app's schedules and the documents function's (its own Chalice app, hosted here too)."""
    from chalicelib import documents_app

    return discover_schedules(app_module) + discover_schedules(documents_app)


def run_all_once(app_module: object, at: datetime, schedules: Iterable[Schedule] | None = None) -> dict[str, Any]:
    """Fire every schedule (the app's, unless given) once with `time` = `at`; {"at", "ok", "results"}."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    chosen = discover_schedules(app_module) if schedules is None else list(schedules)
    results = {schedule.name: fire(schedule, at) for schedule in chosen}
    return {"at": iso_z(at), "ok": all(r["ok"] for r in results.values()), "results": results}


# --- the background scheduler -------------------------------------------------------------------


class Scheduler(Service):
    """Fires the app's schedules on their rates in a background thread until `stop()`."""

    def __init__(
        self,
        app_module: object | None = None,
        *,
        schedules: Iterable[Schedule] | None = None,
        fire_immediately: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if schedules is None:
            if app_module is None:
                raise ValueError("give app_module or schedules")
            schedules = discover_schedules(app_module)
        self.schedules = list(schedules)
        self.fire_immediately = fire_immediately
        self.clock = clock
        self.fired: dict[str, int] = {s.name: 0 for s in self.schedules}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def describe(self) -> list[str]:
        """One line per schedule: name, expression and whether it fires locally."""
        lines = []
        for s in self.schedules:
            note = f"not fired locally ({s.unsupported})" if s.unsupported else "fires locally"
            lines.append(f"{s.name}: {s.expression} - {note}")
        return lines

    def _first_due(self, schedule: Schedule, now: datetime) -> datetime | None:
        if schedule.interval is not None:
            return now if self.fire_immediately else now + timedelta(seconds=schedule.interval)
        if schedule.cron is not None:
            return schedule.cron.next_after(now)
        return None

    def start(self) -> Self:
        if self._thread is not None and self._thread.is_alive():
            return self
        now = self.clock()
        for schedule in self.schedules:
            if schedule.unsupported:
                logger.warning(
                    "schedule %s (%s) will not fire locally: %s",
                    schedule.name,
                    schedule.expression,
                    schedule.unsupported,
                )
            schedule.next_due = self._first_due(schedule, now)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            due = [s.next_due for s in self.schedules if s.next_due is not None]
            if not due:
                self._stop.wait(60)
                continue
            wait = (min(due) - self.clock()).total_seconds()
            if wait > 0:
                self._stop.wait(min(wait, 60.0))
                continue
            now = self.clock()
            for schedule in self.schedules:
                if schedule.next_due is None or schedule.next_due > now or self._stop.is_set():
                    continue
                at = schedule.next_due
                summary = fire(schedule, at)
                self.fired[schedule.name] += 1
                logger.info(
                    "schedule %s fired: %s in %.0f ms",
                    schedule.name,
                    "ok" if summary["ok"] else summary["error"],
                    summary["duration_ms"],
                )
                schedule.next_due = self._next_due(schedule, at, self.clock())

    @staticmethod
    def _next_due(schedule: Schedule, previous: datetime, now: datetime) -> datetime | None:
        if schedule.interval is not None:
            following = previous + timedelta(seconds=schedule.interval)
            return following if following > now else now + timedelta(seconds=schedule.interval)
        if schedule.cron is not None:
            return schedule.cron.next_after(max(previous, now))
        return None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop firing; wait up to `timeout` for a handler that is running now."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("a scheduled handler is still running")
            self._thread = None
