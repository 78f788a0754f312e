"""The shop's business calendar and the delivery promise.

Rules (the delivery promise of the public API, as its OpenAPI description states it):
* business days exclude weekends and the shop country's public holidays;
* the start day is the order day when that is a business day and the order
  comes before the cut-off, otherwise the next business day;
* ship_by is the end (23:59:59 local) of the Nth business day after the start
  day (N = handling days, 2 by default);
* deliver_by is the end of the Mth business day after ship_by's day, M being
  the shipping method's transit days.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.errors import ValidationError

END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class Promise:
    ship_by: datetime
    deliver_by: datetime


@functools.lru_cache(maxsize=8)
def _public_holidays(country: str, subdivision: str | None) -> Any:
    # Imported lazily: the holidays package is large and only the promise needs it.
    import holidays

    if _countries_one_by_one():
        try:
            return holidays.country_holidays(country, subdiv=subdivision)
        except (NotImplementedError, ImportError, AttributeError):
            # A holidays release that looks countries up in the package: load it the usual way.
            del sys.modules["holidays.countries"]
    return holidays.country_holidays(country, subdiv=subdivision)


def _countries_one_by_one() -> bool:
    """Let `holidays` load only the countries asked for.

    Its `countries` package imports all of its ~280 country modules on first use (~110 ms of a
    cold container's first order) while a shop asks for one. `country_holidays` imports the
    country's own module (`holidays.countries.<name>`), so the package stands in unexecuted:
    its path is there, its __init__ is not run. Nothing here imports names from the package
    itself; a test compares the holidays found this way with the package's own. True while the
    stand-in is in place (made here, now or earlier)."""
    loaded = sys.modules.get("holidays.countries")
    if loaded is not None:
        return bool(getattr(loaded, STAND_IN, False))
    spec = importlib.util.find_spec("holidays.countries")
    if spec is None or spec.submodule_search_locations is None:
        return False
    package = importlib.util.module_from_spec(spec)
    setattr(package, STAND_IN, True)
    sys.modules["holidays.countries"] = package
    return True


STAND_IN = "_ordercare_stand_in"  # marks the unexecuted package


@dataclass(frozen=True)
class BusinessCalendar:
    country: str
    timezone: str
    cutoff_hour: int = 14
    handling_days: int = 2
    transit_days: dict[str, int] = field(default_factory=lambda: {"standard": 3, "express": 1})
    subdivision: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _public_holidays(self.country, self.subdivision)

    def next_business_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def add_business_days(self, day: date, count: int) -> date:
        for _ in range(count):
            day = self.next_business_day(day)
        return day

    def start_day(self, moment: datetime) -> date:
        """The business day on which work on an order placed at `moment` starts."""
        local = _require_aware(moment).astimezone(self.zone)
        if self.is_business_day(local.date()) and local.hour < self.cutoff_hour:
            return local.date()
        return self.next_business_day(local.date())

    def end_of_day_utc(self, day: date) -> datetime:
        return datetime.combine(day, END_OF_DAY, tzinfo=self.zone).astimezone(UTC)

    def promise(self, moment: datetime, shipping_method: str) -> Promise:
        """ship_by and deliver_by (UTC) for an order paid at `moment`."""
        if shipping_method not in self.transit_days:
            allowed = ", ".join(sorted(self.transit_days))
            raise ValidationError(
                f"unknown shipping_method '{shipping_method}' (one of: {allowed})",
                details=[{"field": "shipping_method", "allowed": sorted(self.transit_days)}],
            )
        ship_day = self.add_business_days(self.start_day(moment), self.handling_days)
        deliver_day = self.add_business_days(ship_day, self.transit_days[shipping_method])
        return Promise(self.end_of_day_utc(ship_day), self.end_of_day_utc(deliver_day))

    def business_days_between(self, start: datetime, end: datetime) -> int:
        """Whole business days from `start`'s local day to `end`'s local day (0 if same day)."""
        first = _require_aware(start).astimezone(self.zone).date()
        last = _require_aware(end).astimezone(self.zone).date()
        count, day = 0, first
        while day < last:
            day += timedelta(days=1)
            count += self.is_business_day(day)
        return count


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: OrderCare works in timezone-aware UTC")
    return moment
