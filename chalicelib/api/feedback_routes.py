"""Routes for surveys, feedback and the KPI report (a blueprint app.py registers).

Each body: parse → service → map. The survey form is public behind its signed token;
the report and the dashboard are for admins.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.http import Call, QueryParam, endpoint, json_response
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import NotFoundError, OrderCareError, ValidationError

if TYPE_CHECKING:
    from chalice.app import Response

    from chalicelib.api import schemas as s  # routes name their models: pydantic waits for a body
    from chalicelib.services.ports import StoredResponse

Record = Callable[[str | None, Callable[[dict[str, Any]], "StoredResponse"] | None], dict[str, Any]]

feedback_routes = Blueprint(__name__)

PERIOD_QUERY = (
    QueryParam("period", "week, month or quarter", {"type": "string", "enum": ["week", "month", "quarter"]}, True),
    QueryParam("start", "the period's first day, YYYY-MM-DD (a Monday for weeks)", {"type": "string"}, True),
)
SURVEY_PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _period(call: Call) -> tuple[str, date]:
    period = call.query.get("period", "")
    try:
        start = date.fromisoformat(call.query.get("start", ""))
    except ValueError as error:
        raise ValidationError("start must be a date (YYYY-MM-DD)", details=[{"field": "start"}]) from error
    return period, start


def _survey_form(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The survey page's form fields as the JSON body (numbers as numbers; blanks left out)."""

    def number(value: str) -> int | str:
        return int(value) if value.strip().isdigit() else value

    body: dict[str, Any] = {}
    aspects = {}
    for name, values in fields.items():
        value = values[-1]
        if name in ("csat", "nps"):
            body[name] = number(value)
        elif name == "comment":
            body["comment"] = value
        elif name.startswith("aspect_") and value.strip():
            aspects[name.removeprefix("aspect_")] = number(value)
        else:
            body[name] = value  # unknown fields → 422, as in JSON
    if aspects:
        body["aspects"] = aspects
    return body


def _page(status: int, html: str) -> Response:
    from chalicelib.web.routes import html_response

    return html_response(
        status,
        html,
        {"Content-Security-Policy": SURVEY_PAGE_CSP, "Cache-Control": "no-store", "Vary": "Accept-Language"},
    )


@endpoint(
    feedback_routes,
    "/surveys/{token}",
    "GET",
    summary="The survey form (HTML); `?score=N` pre-selects the score clicked in the email — only the POST records",
    roles=None,
    responses={200: None},
    produces="text/html",
    html_errors=(404,),  # a bad or expired token: the same HTML page either way
    query=(QueryParam("score", "1–5, pre-selected", {"type": "integer", "minimum": 1, "maximum": 5}),),
    tags=("feedback",),
)
def survey_page(call: Call, token: str) -> Response:
    from chalicelib.web.routes import not_found, preferred_language
    from chalicelib.web.survey import render_survey

    try:
        survey = get_container().surveys.open(token)
    except NotFoundError:
        return not_found(call)
    language = preferred_language(call.header("Accept-Language"))
    raw = call.query.get("score", "")
    score = int(raw) if raw.isdigit() and 1 <= int(raw) <= 5 else None
    html = render_survey(
        language, call.settings.shop_name, survey.kind, f"/v1/surveys/{token}", score, done=survey.status == "answered"
    )
    return _page(200, html)


@endpoint(
    feedback_routes,
    "/v1/surveys/{token}",
    "POST",
    summary="Answer a survey (JSON, or the survey page's form) — once; a detractor is called back",
    roles=None,
    request="SurveyAnswerIn",
    responses={201: "SurveyAnswerOut"},
    errors=(409,),  # answered already
    form=_survey_form,
    tags=("feedback",),
)
def answer_survey(call: Call, token: str) -> Response:
    from chalicelib.domain.surveys import Answer

    body: s.SurveyAnswerIn = call.body
    aspects = {k: v for k, v in (body.aspects.model_dump() if body.aspects else {}).items() if v is not None}
    from_form = (call.header("Content-Type") or "").startswith("application/x-www-form-urlencoded")
    try:
        survey = get_container().surveys.answer(token, Answer(body.csat, body.nps, aspects, body.comment or None))
    except OrderCareError as error:
        if not from_form or error.code != "already_answered":
            raise
        survey = get_container().surveys.open(token)
    if from_form:  # the page itself: a thank-you page, not JSON
        from chalicelib.web.routes import preferred_language
        from chalicelib.web.survey import render_survey

        language = preferred_language(call.header("Accept-Language"))
        return _page(201, render_survey(language, call.settings.shop_name, survey.kind, "", None, done=True))
    answered = survey.answered_at.strftime("%Y-%m-%dT%H:%M:%SZ") if survey.answered_at else ""
    return json_response(
        201, {"survey_id": survey.id, "kind": survey.kind, "status": survey.status, "answered_at": answered}
    )


@endpoint(
    feedback_routes,
    "/v1/feedback",
    "POST",
    summary="Website feedback from a customer (counts in CSAT, source `website`)",
    roles=("customer",),
    request="FeedbackIn",
    responses={201: "FeedbackOut"},
    idempotency="optional",
    tags=("feedback",),
)
def website_feedback(call: Call) -> Response:
    body: s.FeedbackIn = call.body
    container = get_container()
    return _feedback_answer(
        call,
        body.order_id,
        call.caller.subject,  # 404 unless the order is theirs
        lambda feedback_id, stored: container.kpis.record_feedback(
            "website",
            body.rating,
            body.order_id,
            body.comment,
            None,
            container.clock.now(),
            feedback_id=feedback_id,
            stored=stored,
        ),
    )


def _feedback_answer(call: Call, order_id: str | None, customer_id: str | None, record: Record) -> Response:
    """Record feedback once per Idempotency-Key: the key names the feedback (a retry counts the same
    fact again, i.e. nothing) and its response is stored with it; the same key with another body: 409.
    The order it is about (404 unless it exists, and is `customer_id`'s) and the stored response are
    read together."""
    from chalicelib.domain.ids import keyed_id
    from chalicelib.services.ports import IdempotencyKeyTakenError

    request = call.idempotent_request()
    orders = get_container().orders
    stored = orders.stored_about(request, order_id, customer_id=customer_id)
    if request is None:
        return json_response(201, record(None, None))
    if stored is not None:
        return json_response(*orders.replay(request, stored))  # answered before: nothing is counted again
    try:
        answer = record(keyed_id("fbk", request.principal, request.key), lambda body: orders.stored(request, 201, body))
    except IdempotencyKeyTakenError:  # a concurrent retry stored it first
        return json_response(*orders.replay(request))
    return json_response(201, answer)


@endpoint(
    feedback_routes,
    "/v1/feedback/external",
    "POST",
    summary="Feedback from outside (reviews, social media, chat, phone), recorded by staff",
    roles=("agent", "admin"),
    request="ExternalFeedbackIn",
    responses={201: "FeedbackOut"},
    idempotency="optional",
    tags=("feedback",),
)
def external_feedback(call: Call) -> Response:
    body: s.ExternalFeedbackIn = call.body
    container = get_container()
    return _feedback_answer(
        call,
        body.order_id,
        None,  # 404 for an unknown order
        lambda feedback_id, stored: container.kpis.record_feedback(
            body.source,
            body.rating,
            body.order_id,
            body.comment,
            body.url,
            body.occurred_at,
            feedback_id=feedback_id,
            stored=stored,
        ),
    )


@endpoint(
    feedback_routes,
    "/v1/reports/kpis",
    "GET",
    summary="Every KPI of a week, month or quarter against its target (closed periods from their frozen snapshot)",
    roles=("admin",),
    responses={200: "KpiReportOut"},
    query=PERIOD_QUERY,
    tags=("reports",),
)
def kpi_report(call: Call) -> Response:
    period, start = _period(call)
    return json_response(200, get_container().kpis.report(period, start))


@endpoint(
    feedback_routes,
    "/v1/reports/kpis/{name}/misses",
    "GET",
    summary="The orders (or surveys) that missed a KPI in the period, paginated",
    roles=("admin",),
    responses={200: "KpiMissesOut"},
    query=(
        *PERIOD_QUERY,
        QueryParam("limit", "1–100, default 20", {"type": "integer", "minimum": 1, "maximum": 100}),
        QueryParam("cursor", "from next_cursor", {"type": "string"}),
    ),
    tags=("reports",),
)
def kpi_misses(call: Call, name: str) -> Response:
    period, start = _period(call)
    raw_limit = call.query.get("limit", "20")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise ValidationError("limit must be 1–100", details=[{"field": "limit"}])
    cursor = call.query.get("cursor") or None
    return json_response(200, get_container().kpis.misses(name, period, start, int(raw_limit), cursor))


@endpoint(
    feedback_routes,
    "/reports/dashboard",
    "GET",
    summary="The KPI dashboard (HTML): every KPI against its target, 13-week trends, causes, the live board",
    roles=("admin",),
    responses={200: None},
    produces="text/html",
    browser=True,
    tags=("reports",),
)
def dashboard_page(call: Call) -> Response:
    from chalicelib.web.dashboard import render_dashboard
    from chalicelib.web.routes import html_response

    html = render_dashboard(get_container().kpis.dashboard(), call.settings.shop_name)
    return html_response(200, html, {"Cache-Control": "no-store"})
