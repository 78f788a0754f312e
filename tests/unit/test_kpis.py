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
