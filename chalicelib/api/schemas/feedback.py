"""Surveys, feedback and KPI reports."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from chalicelib.api.schemas.common import (
    Moment,
    Out,
    Strict,
    Timestamp,
)

Score = Annotated[int, Field(strict=True, ge=1, le=5)]


class SurveyAspects(Strict):
    accuracy: Score | None = None
    speed: Score | None = None
    communication: Score | None = None
    invoicing: Score | None = None
    resolution: Score | None = None


class SurveyAnswerIn(Strict):
    csat: Score
    nps: Annotated[int, Field(strict=True, ge=0, le=10)] | None = None
    aspects: SurveyAspects | None = None
    comment: Annotated[str, Field(max_length=2000)] | None = None


class SurveyAnswerOut(Out):
    survey_id: str
    kind: str
    status: str
    answered_at: Timestamp


class FeedbackIn(Strict):
    order_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    rating: Score
    comment: Annotated[str, Field(max_length=2000)] | None = None


class ExternalFeedbackIn(Strict):
    source: Literal["review", "social", "chat", "phone", "other"]
    rating: Score
    order_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    comment: Annotated[str, Field(max_length=2000)] | None = None
    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://")] | None = None
    occurred_at: Moment


class FeedbackOut(Out):
    id: str
    source: str
    rating: int
    order_id: str | None
    recorded_at: Timestamp


class KpiOut(Out):
    name: str
    value: float | None
    target: float | None
    met: bool | None
    numerator: int
    denominator: int
    previous: float | None
    n: int | None = None
    confidence_95: list[float] | None = None


class KpiReportOut(Out):
    period: Literal["week", "month", "quarter"]
    start: str
    end: str
    definitions_version: str
    closed: bool
    kpis: list[KpiOut]
    causes: dict[str, list[dict[str, Any]]]
    csat_by_source: dict[str, float | None]
    perfect_order_components: dict[str, float | None]


class KpiMissOut(Out):
    subject: str
    day: str
    note: str | None = None


class KpiMissesOut(Out):
    name: str
    period: str
    start: str
    items: list[KpiMissOut]
