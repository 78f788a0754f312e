"""The delivery promise of the public API with the local stack's defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.bootstrap import calendar_from
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.errors import ValidationError
from chalicelib.settings import Settings

BERLIN = ZoneInfo("Europe/Berlin")
CAL = calendar_from(Settings())  # DE, Europe/Berlin, cut-off 14:00, handling 2, standard 3 / express 1


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_defaults_are_the_documented_shop() -> None:
    assert (CAL.country, CAL.timezone, CAL.cutoff_hour, CAL.handling_days) == ("DE", "Europe/Berlin", 14, 2)
    assert CAL.transit_days == {"standard": 3, "express": 1}


# --- the contract's worked examples ------------------------------------------------------------


def test_friday_morning_example() -> None:
    promise = CAL.promise(berlin(2026, 11, 27, 10, 0), "standard")
    assert promise.ship_by == utc("2026-12-01T22:59:59Z")  # Tue 23:59:59 CET
    assert promise.ship_by.astimezone(BERLIN) == berlin(2026, 12, 1, 23, 59, 59)
    assert promise.deliver_by == utc("2026-12-04T22:59:59Z")  # Fri
    assert promise.ship_by.tzinfo == UTC and promise.deliver_by.tzinfo == UTC


@pytest.mark.parametrize(
    ("moment", "ship_by"),
    [
        pytest.param(berlin(2026, 11, 27, 16, 0), date(2026, 12, 2), id="fri-16:00-after-cutoff"),
        pytest.param(berlin(2026, 11, 28, 10, 0), date(2026, 12, 2), id="saturday"),
        pytest.param(berlin(2026, 11, 29, 10, 0), date(2026, 12, 2), id="sunday"),
        pytest.param(berlin(2026, 12, 23, 10, 0), date(2026, 12, 28), id="christmas-25-to-27-skipped"),
        pytest.param(berlin(2026, 12, 31, 10, 0), date(2027, 1, 5), id="new-year"),
    ],
)
def test_documented_ship_by_examples(moment: datetime, ship_by: date) -> None:
    promise = CAL.promise(moment, "standard")
    assert promise.ship_by == CAL.end_of_day_utc(ship_by)
    assert promise.ship_by.astimezone(BERLIN).date() == ship_by
    assert promise.ship_by.astimezone(BERLIN).time() == time(23, 59, 59)


def test_christmas_and_new_year_deliver_by() -> None:
    assert CAL.promise(berlin(2026, 12, 23, 10), "standard").deliver_by == utc("2026-12-31T22:59:59Z")
    assert CAL.promise(berlin(2026, 12, 31, 10), "standard").deliver_by == utc("2027-01-08T22:59:59Z")


# --- the cut-off ---------------------------------------------------------------------------------


def test_exactly_at_the_cutoff_counts_as_after() -> None:
    at_cutoff = berlin(2026, 11, 25, 14, 0, 0)  # Wednesday
    assert CAL.start_day(at_cutoff) == date(2026, 11, 26)
    assert CAL.promise(at_cutoff, "standard").ship_by == utc("2026-11-30T22:59:59Z")  # Mon


def test_one_second_before_the_cutoff_counts_as_before() -> None:
    before = berlin(2026, 11, 25, 13, 59, 59)
    assert CAL.start_day(before) == date(2026, 11, 25)
    assert CAL.promise(before, "standard").ship_by == utc("2026-11-27T22:59:59Z")  # Fri


def test_cutoff_is_local_time_not_utc() -> None:
    # 13:30Z is 14:30 in Berlin in winter: after the cut-off although 13:30 < 14:00.
    assert CAL.start_day(utc("2026-11-25T13:30:00Z")) == date(2026, 11, 26)
    # 12:30Z in summer is 14:30 CEST: after; 11:59:59Z is 13:59:59 CEST: before.
    assert CAL.start_day(utc("2026-07-15T12:30:00Z")) == date(2026, 7, 16)
    assert CAL.start_day(utc("2026-07-15T11:59:59Z")) == date(2026, 7, 15)


def test_order_day_is_the_local_day() -> None:
    # Thu 23:30Z is already Friday 00:30 in Berlin: the start day is Friday, not Thursday.
    assert CAL.start_day(utc("2026-11-26T23:30:00Z")) == date(2026, 11, 27)
    # Sun 23:30Z is Monday 00:30 in Berlin: Monday is the start day.
    assert CAL.start_day(utc("2026-11-29T23:30:00Z")) == date(2026, 11, 30)


def test_other_timezones_in_the_input_are_converted() -> None:
    new_york = datetime(2026, 11, 27, 4, 0, tzinfo=ZoneInfo("America/New_York"))  # = 10:00 Berlin
    assert CAL.promise(new_york, "standard") == CAL.promise(berlin(2026, 11, 27, 10), "standard")


# --- methods ----------------------------------------------------------------------------------------


def test_express_is_one_business_day_after_ship_by() -> None:
    promise = CAL.promise(berlin(2026, 11, 27, 10), "express")
    assert promise.ship_by == utc("2026-12-01T22:59:59Z")
    assert promise.deliver_by == utc("2026-12-02T22:59:59Z")


def test_express_over_a_weekend() -> None:
    promise = CAL.promise(berlin(2026, 11, 25, 10), "express")  # Wed → ship Fri → deliver Mon
    assert promise.ship_by == utc("2026-11-27T22:59:59Z")
    assert promise.deliver_by == utc("2026-11-30T22:59:59Z")


def test_unknown_shipping_method_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as raised:
        CAL.promise(berlin(2026, 11, 27, 10), "teleport")
    assert raised.value.status == 422
    assert "teleport" in raised.value.message
    assert raised.value.details == [{"field": "shipping_method", "allowed": ["express", "standard"]}]


# --- daylight-saving time -------------------------------------------------------------------------


def test_promise_across_the_end_of_summer_time() -> None:
    # Thu 2026-10-22 10:00 CEST; clocks go back on Sun 2026-10-25.
    promise = CAL.promise(berlin(2026, 10, 22, 10), "standard")
    assert promise.ship_by == utc("2026-10-26T22:59:59Z")  # Mon 23:59:59 CET (UTC+1)
    assert promise.deliver_by == utc("2026-10-29T22:59:59Z")
    assert promise.ship_by.astimezone(BERLIN).utcoffset() == timedelta(hours=1)


def test_promise_across_the_start_of_summer_time() -> None:
    # Fri 2026-03-27 10:00 CET; clocks go forward on Sun 2026-03-29.
    promise = CAL.promise(berlin(2026, 3, 27, 10), "standard")
    assert promise.ship_by == utc("2026-03-31T21:59:59Z")  # Tue 23:59:59 CEST (UTC+2)
    assert promise.deliver_by == utc("2026-04-07T21:59:59Z")  # Fri 3 Apr and Mon 6 Apr are holidays
    assert promise.ship_by.astimezone(BERLIN).utcoffset() == timedelta(hours=2)


def test_end_of_day_on_the_days_the_clocks_change() -> None:
    assert CAL.end_of_day_utc(date(2026, 3, 29)) == utc("2026-03-29T21:59:59Z")
    assert CAL.end_of_day_utc(date(2026, 10, 25)) == utc("2026-10-25T22:59:59Z")


# --- holidays and weekends -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 5, 14),  # Ascension (Thursday)
        date(2026, 5, 25),  # Whit Monday
        date(2027, 5, 6),  # Ascension 2027
        date(2026, 10, 3),  # German Unity Day (a Saturday in 2026)
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2027, 1, 1),
        date(2026, 4, 3),  # Good Friday
    ],
)
def test_public_holidays_are_not_business_days(day: date) -> None:
    assert not CAL.is_business_day(day)


def test_weekdays_and_weekends() -> None:
    assert CAL.is_business_day(date(2026, 12, 24))  # Christmas Eve is a working day nationally
    assert CAL.is_business_day(date(2026, 11, 27))
    assert not CAL.is_business_day(date(2026, 11, 28))  # Saturday
    assert not CAL.is_business_day(date(2026, 11, 29))  # Sunday


def test_order_on_whit_monday_starts_tuesday() -> None:
    promise = CAL.promise(berlin(2026, 5, 25, 9), "standard")
    assert CAL.start_day(berlin(2026, 5, 25, 9)) == date(2026, 5, 26)
    assert promise.ship_by == utc("2026-05-28T21:59:59Z")  # Thu
    assert promise.deliver_by == utc("2026-06-02T21:59:59Z")  # Fri, Mon, Tue


def test_ascension_is_skipped_inside_the_handling_days() -> None:
    # Wed 2026-05-13 before the cut-off: start Wed, Thu 14th is Ascension → ship Mon 18th.
    promise = CAL.promise(berlin(2026, 5, 13, 9), "express")
    assert promise.ship_by == utc("2026-05-18T21:59:59Z")
    assert promise.deliver_by == utc("2026-05-19T21:59:59Z")


def test_holidays_follow_the_configured_country() -> None:
    france = BusinessCalendar(country="FR", timezone="Europe/Paris")
    assert not france.is_business_day(date(2026, 7, 14))  # Bastille Day
    assert CAL.is_business_day(date(2026, 7, 14))
    assert CAL.is_business_day(date(2026, 1, 6))  # Epiphany is only regional in Germany
    assert not BusinessCalendar("DE", "Europe/Berlin", subdivision="BY").is_business_day(date(2026, 1, 6))


# --- naive datetimes ---------------------------------------------------------------------------------


def test_naive_datetimes_are_rejected() -> None:
    naive = datetime(2026, 11, 27, 10, 0)
    with pytest.raises(ValueError, match="naive"):
        CAL.promise(naive, "standard")
    with pytest.raises(ValueError, match="naive"):
        CAL.start_day(naive)
    with pytest.raises(ValueError, match="naive"):
        CAL.business_days_between(naive, berlin(2026, 12, 1))
    with pytest.raises(ValueError, match="naive"):
        CAL.business_days_between(berlin(2026, 12, 1), naive)


# --- business_days_between ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (berlin(2026, 11, 27, 10), berlin(2026, 11, 27, 23), 0),  # same day
        (berlin(2026, 11, 27, 10), berlin(2026, 11, 30, 1), 1),  # Fri → Mon
        (berlin(2026, 11, 27, 10), berlin(2026, 12, 1, 23, 59, 59), 2),
        (berlin(2026, 11, 28, 10), berlin(2026, 11, 29, 10), 0),  # Sat → Sun
        (berlin(2026, 12, 23, 10), berlin(2026, 12, 28, 10), 2),  # 24th and 28th
        (berlin(2026, 12, 1), berlin(2026, 11, 27), 0),  # backwards: nothing
    ],
)
def test_business_days_between(start: datetime, end: datetime, expected: int) -> None:
    assert CAL.business_days_between(start, end) == expected


def test_business_days_between_uses_local_days() -> None:
    # Fri 22:30Z is Fri 23:30 Berlin; Sun 23:30Z is Mon 00:30 Berlin → one business day (Monday).
    assert CAL.business_days_between(utc("2026-11-27T22:30:00Z"), utc("2026-11-29T23:30:00Z")) == 1


# --- properties -----------------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2035, 12, 31),
    timezones=st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]),
)


@settings(max_examples=200, deadline=None)
@given(moment=moments, method=st.sampled_from(["standard", "express"]))
def test_promise_properties(moment: datetime, method: str) -> None:
    promise = CAL.promise(moment, method)
    ship_local = promise.ship_by.astimezone(BERLIN)
    deliver_local = promise.deliver_by.astimezone(BERLIN)

    assert promise.ship_by >= moment
    assert promise.ship_by.utcoffset() == timedelta(0)
    for local in (ship_local, deliver_local):
        assert local.time() == time(23, 59, 59)
        assert CAL.is_business_day(local.date())
    assert CAL.business_days_between(promise.ship_by, promise.deliver_by) == CAL.transit_days[method]

    # Independent of start_day: counted from the order's local day, ship_by is 2 business days
    # later when ordered on a business day before 14:00 local, else 3 (the start day moves on).
    order_local = moment.astimezone(BERLIN)
    on_time = CAL.is_business_day(order_local.date()) and order_local.time() < time(14)
    assert CAL.business_days_between(moment, promise.ship_by) == (2 if on_time else 3)


HOLIDAYS_PROBE = """
import json, sys
from datetime import date, timedelta
if sys.argv[1] == "package":
    import holidays.countries  # the package's own way: every country module
from chalicelib.domain.calendar import _public_holidays
found = {}
for country, subdivision in [("DE", None), ("DE", "BY"), ("AT", None), ("FR", None), ("GB", "SCT"), ("US", "CA")]:
    calendar = _public_holidays(country, subdivision)
    day, days = date(2024, 1, 1), []
    while day.year < 2033:
        if day in calendar:
            days.append([day.isoformat(), calendar.get(day)])
        day += timedelta(days=1)
    found[f"{country}-{subdivision}"] = days
loaded = sorted(name for name in sys.modules if name.startswith("holidays.countries."))
print(json.dumps({"found": found, "loaded": loaded}))
"""


def _holidays_in_a_fresh_interpreter(way: str) -> dict[str, Any]:
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", HOLIDAYS_PROBE, way], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def test_countries_loaded_one_by_one_have_the_holidays_the_package_gives() -> None:
    light, full = _holidays_in_a_fresh_interpreter("one-by-one"), _holidays_in_a_fresh_interpreter("package")
    assert light["found"] == full["found"]
    found = light["found"]
    assert ["2026-12-25", "Christmas Day"] in found["DE-None"]
    assert ["2026-01-06", "Epiphany"] in found["DE-BY"] and ["2026-01-06", "Epiphany"] not in found["DE-None"]
    # Only the countries asked for (and what they build on) were imported, not all ~280.
    assert len(light["loaded"]) < 10 < len(full["loaded"]) // 10


def test_a_holidays_release_that_needs_the_whole_package_still_gets_it() -> None:
    import subprocess
    import sys
    from pathlib import Path

    probe = """
import sys
from datetime import date
import holidays
from chalicelib.domain import calendar
library = holidays.country_holidays
def needs_the_package(*args, **kwargs):
    if getattr(sys.modules.get("holidays.countries"), calendar.STAND_IN, False):
        raise NotImplementedError("Country DE not available")  # as a release that looks it up there would
    return library(*args, **kwargs)
holidays.country_holidays = needs_the_package
found = calendar._public_holidays("DE", None)
print(date(2026, 12, 25) in found, getattr(sys.modules["holidays.countries"], calendar.STAND_IN, False))
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", probe], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]  # found, through the package's own __init__
