"""KPI arithmetic, periods and survey tokens (pure rules)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain import kpis
from chalicelib.domain.errors import ValidationError
from chalicelib.domain.surveys import Answer, read_token, survey_token

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("week", date(2026, 11, 30), date(2026, 12, 7)),
        ("month", date(2026, 12, 1), date(2027, 1, 1)),
        ("quarter", date(2026, 10, 1), date(2027, 1, 1)),
        ("quarter", date(2027, 1, 1), date(2027, 4, 1)),
    ],
)
def test_period_bounds(period: str, start: date, end: date) -> None:
    assert kpis.period_bounds(period, start) == (start, end)


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("week", date(2026, 12, 1)),
        ("month", date(2026, 12, 2)),
        ("quarter", date(2026, 11, 1)),
        ("year", date(2026, 1, 1)),
    ],
)
def test_unaligned_or_unknown_periods_are_refused(period: str, start: date) -> None:
    with pytest.raises(ValidationError):
        kpis.period_bounds(period, start)


def test_previous_period() -> None:
    assert kpis.previous_start("quarter", date(2027, 1, 1)) == date(2026, 10, 1)
    assert kpis.previous_start("month", date(2027, 1, 1)) == date(2026, 12, 1)
    assert kpis.previous_start("week", date(2026, 11, 30)) == date(2026, 11, 23)


def test_days_are_the_shops_even_across_a_dst_change() -> None:
    # 2026-10-25 03:00 CEST → 02:00 CET: 22:30 UTC the evening before is already the 25th in Berlin.
    assert kpis.local_day(datetime(2026, 10, 24, 22, 30, tzinfo=UTC), BERLIN) == date(2026, 10, 25)
    assert kpis.local_day(datetime(2026, 10, 25, 22, 30, tzinfo=UTC), BERLIN) == date(2026, 10, 25)
    assert kpis.local_day(datetime(2026, 10, 25, 23, 30, tzinfo=UTC), BERLIN) == date(2026, 10, 26)


def test_wilson_interval() -> None:
    assert kpis.wilson(0, 0) is None
    low, high = kpis.wilson(95, 100) or (0.0, 0.0)
    assert 0.88 < low < 0.95 < high < 0.98
    assert kpis.wilson(10, 10) == (0.7225, 1.0)


def test_a_rate_above_one_is_reported_without_an_interval() -> None:
    # Seven returns requested in a week of four deliveries (several on one order): the report must not fail.
    totals = kpis.Totals()
    totals.add({kpis.num("return_rate"): 7, kpis.den("return_rate"): 4})
    assert kpis.wilson(7, 4) is None
    value = kpis.kpi_value("return_rate", totals)
    assert value["value"] == 1.75 and value["confidence_95"] is None
    report = kpis.build_report("week", date(2026, 11, 30), date(2026, 12, 6), totals, kpis.Totals(), {})
    rows: list[dict[str, Any]] = report["kpis"]  # type: ignore[assignment]
    assert next(row for row in rows if row["name"] == "return_rate")["value"] == 1.75


def test_empty_period_reports_nulls_not_zeros() -> None:
    report = kpis.build_report(
        "week", date(2026, 11, 30), date(2026, 12, 7), kpis.Totals(), kpis.Totals(), kpis.DEFAULT_TARGETS
    )
    rows: Any = report["kpis"]
    assert all(k["value"] is None and k["met"] is None for k in rows)
    assert report["end"] == "2026-12-06"


def test_nps_and_csat_from_scores() -> None:
    totals = kpis.Totals()
    for n, (csat, nps) in enumerate([(5, 10), (4, 9), (3, 7), (1, 2)]):
        for fact in kpis.score_facts("delivery", f"s{n}", date(2026, 12, 1), csat, nps, "survey"):
            totals.add(fact.counts)
    assert kpis.kpi_value("csat", totals)["value"] == 0.5
    assert kpis.kpi_value("nps", totals)["value"] == 25.0  # 2 promoters − 1 detractor of 4


def test_a_low_score_is_a_miss_and_a_detractor() -> None:
    (fact,) = kpis.score_facts("support", "s1", date(2026, 12, 1), 2, None, "survey")
    assert fact.misses == ("post_support_csat",) and fact.counts["post_support_csat__den"] == 1
    assert Answer(csat=2).detractor and Answer(csat=5, nps=6).detractor and not Answer(csat=4, nps=7).detractor


def test_survey_tokens_are_bound_signed_and_expire() -> None:
    now = 1_800_000_000.0
    token = survey_token("delivery", "ord_1", "Alice@Example.com ", "k1", now=now, days=30)
    claims = read_token(token, ("k2", "k1"), now=now + 10)  # rotated: the old key still verifies
    assert claims is not None and (claims.kind, claims.subject) == ("delivery", "ord_1")
    assert read_token(token, ("k2",), now=now) is None
    assert read_token(token, ("k1",), now=now + 31 * 86_400) is None
    assert read_token(token[:-3] + "abc", ("k1",), now=now) is None
    assert read_token("x" * 600, ("k1",), now=now) is None


class DayCounters:
    """The KPI store's day counters in memory; each `totals` call is one Query."""

    def __init__(self, days: dict[date, dict[str, int]]) -> None:
        self.days = days
        self.queries: list[tuple[date, date]] = []

    def totals(self, start: date, end: date) -> tuple[kpis.Totals, list[tuple[date, dict[str, int]]], int]:
        self.queries.append((start, end))
        found = sorted((day, counts) for day, counts in self.days.items() if start <= day < end)
        totals = kpis.Totals()
        for _, counts in found:
            totals.add(counts)
        return totals, found, len(found)


class Archive:
    def __init__(self) -> None:
        self.saved: dict[tuple[str, date], dict[str, Any]] = {}

    def load(self, period: str, start: date) -> dict[str, Any] | None:
        return self.saved.get((period, start))

    def save(self, period: str, start: date, report: dict[str, Any]) -> None:
        self.saved[(period, start)] = report


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


def _kpi_service(days: dict[date, dict[str, int]], now: datetime) -> tuple[Any, DayCounters, Archive]:
    from chalicelib.services.feedback import FeedbackSettings, KpiService

    store, archive = DayCounters(days), Archive()
    return KpiService(store, FixedClock(now), FeedbackSettings(), archive), store, archive  # type: ignore[arg-type]


DAYS = {
    date(2026, 9, 30): {kpis.num("shipped_on_time"): 1, kpis.den("shipped_on_time"): 4},  # previous quarter
    date(2026, 10, 1): {kpis.num("shipped_on_time"): 3, kpis.den("shipped_on_time"): 4},
    date(2026, 12, 31): {kpis.num("shipped_on_time"): 2, kpis.den("shipped_on_time"): 2},
    date(2027, 1, 1): {kpis.num("shipped_on_time"): 0, kpis.den("shipped_on_time"): 9},  # next quarter
}


@pytest.mark.parametrize(("period", "start"), [("week", date(2026, 11, 30)), ("quarter", date(2026, 10, 1))])
def test_a_report_and_its_previous_period_are_one_query_with_the_figures_of_two(period: str, start: date) -> None:
    service, store, _ = _kpi_service(DAYS, datetime(2026, 12, 2, 10, tzinfo=UTC))
    report = service.report(period, start)
    previous_start = kpis.previous_start(period, start)
    end = kpis.period_bounds(period, start)[1]
    assert store.queries == [(previous_start, end)]
    # The same figures as summing each period on its own.
    this, before = (DayCounters(DAYS).totals(*kpis.period_bounds(period, s))[0] for s in (start, previous_start))
    expected = kpis.build_report(period, start, end, this, before, service.config.targets)
    assert report == {**expected, "closed": False}
    if period == "quarter":
        on_time = next(k for k in report["kpis"] if k["name"] == "shipped_on_time")
        assert (on_time["value"], on_time["previous"]) == (round(5 / 6, 4), 0.25)


def test_a_closed_period_is_its_frozen_snapshot_and_without_one_a_single_query() -> None:
    service, store, archive = _kpi_service(DAYS, datetime(2027, 1, 2, 10, tzinfo=UTC))
    computed = service.report("quarter", date(2026, 10, 1))
    assert computed["closed"] is True and store.queries == [(date(2026, 7, 1), date(2027, 1, 1))]
    archive.save("quarter", date(2026, 10, 1), {"frozen": True})
    assert service.report("quarter", date(2026, 10, 1)) == {"frozen": True}
    assert len(store.queries) == 1  # the snapshot: no counters read


def test_the_dashboard_reads_the_week_and_its_trend_in_one_query_with_their_own_figures() -> None:
    days = {
        date(2026, 11, 24): {kpis.num("shipped_on_time"): 1, kpis.den("shipped_on_time"): 4},  # the week before
        date(2026, 12, 1): {kpis.num("shipped_on_time"): 3, kpis.den("shipped_on_time"): 4},  # this week
        date(2026, 9, 7): {kpis.num("shipped_on_time"): 2, kpis.den("shipped_on_time"): 2},  # 13th week back
        date(2026, 8, 31): {kpis.num("shipped_on_time"): 0, kpis.den("shipped_on_time"): 9},  # before the trend
    }
    service, store, _ = _kpi_service(days, datetime(2026, 12, 2, 10, tzinfo=UTC))
    dashboard = service.dashboard()
    assert store.queries == [(date(2026, 9, 7), date(2026, 12, 7))]  # 13 weeks, this one included
    # The same figures as the report and the trend read on their own.
    assert dashboard["report"] == service.report("week", date(2026, 11, 30))
    assert dashboard["trend"] == service.trend(13)
    on_time = next(k for k in dashboard["report"]["kpis"] if k["name"] == "shipped_on_time")
    assert (on_time["value"], on_time["previous"]) == (0.75, 0.25)
    assert dashboard["trend"][0]["values"]["shipped_on_time"] == 1.0 and dashboard["board"] == []
