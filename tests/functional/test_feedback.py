"""Surveys, feedback and the KPI report through the real app (moto), driven by the stream."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from app import feedback
from local.lambda_runtime import LambdaContext
from tests import clock
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, deliver, drain
from tests.functional.test_lifecycle_api import carrier, processing_order, staff
from tests.functional.test_notifications import emails

WEEK = "2026-11-30"  # the Monday tests.clock.FROZEN_AT falls in


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


def run_feedback(at: datetime) -> dict[str, Any]:
    event = {
        "version": "0",
        "id": "x",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "1",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-central-1",
        "resources": [],
        "detail": {},
    }
    result: dict[str, Any] = feedback(event, LambdaContext("feedback"))
    return result


def delivered(api: Api, tap: StreamTap, customer: dict[str, Any] | None = None, delivered_at: str | None = None) -> str:
    order = processing_order(api, **({"customer": customer} if customer else {}))
    tracking = f"TRK{uuid.uuid4().hex[:8]}"
    assert (
        staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking}).status_code
        == 201
    )
    carrier(api, tracking, "delivered", occurred_at=delivered_at)
    drain(tap)
    return str(order["id"])


def report(api: Api, period: str = "week", start: str = WEEK) -> dict[str, Any]:
    response = api.call("GET", f"/v1/reports/kpis?period={period}&start={start}", role="admin", sub="boss")
    assert response.status_code == 200, response.data
    return {k["name"]: k for k in response.data["kpis"]} | {"_": response.data}


def survey_links() -> list[str]:
    found = []
    for message in emails():
        text = message.get_body(preferencelist=("plain",)).get_content()
        found += re.findall(r"http://127\.0\.0\.1:8000(/surveys/[A-Za-z0-9_.-]+\?score=\d)", text)
    return found


def test_a_delivered_order_counts_once_however_often_the_stream_replays(api: Api, tap: StreamTap) -> None:
    delivered(api, tap)
    for _ in range(3):
        deliver(tap.all)  # the whole history again, as a redelivering event source would
    # Promises count on the day they were due (deliver_by is next week): the quarter holds them all.
    kpis = report(api, "quarter", "2026-10-01")
    for name in ("shipped_on_time", "delivered_on_time", "order_accuracy", "perfect_order_rate"):
        assert (kpis[name]["numerator"], kpis[name]["denominator"], kpis[name]["value"]) == (1, 1, 1.0), name
    assert kpis["shipped_on_time"]["met"] is True and kpis["shipped_on_time"]["target"] == 0.95
    assert kpis["csat"]["value"] is None and kpis["csat"]["denominator"] == 0  # nobody asked yet
    assert kpis["return_rate"]["denominator"] == 1
    assert [k["name"] for k in kpis["_"]["kpis"]] == [
        "csat",
        "nps",
        "post_support_csat",
        "post_return_csat",
        "shipped_on_time",
        "delivered_on_time",
        "order_accuracy",
        "perfect_order_rate",
        "tickets_acknowledged_24h",
        "tickets_resolved_48h",
        "return_rate",
        "survey_response_rate",
    ]


def test_a_late_shipment_is_a_miss_listed_in_the_drill_down(api: Api, tap: StreamTap) -> None:
    order = processing_order(api)
    drain(tap)
    clock.advance_to("2026-12-03T09:00:00Z")  # ship_by was Wed 2026-12-02 23:59 Berlin
    staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dpd", "tracking_number": "LATE-1"})
    drain(tap)
    kpis = report(api, "month", "2026-12-01")
    assert (kpis["shipped_on_time"]["numerator"], kpis["shipped_on_time"]["denominator"]) == (0, 1)
    assert kpis["shipped_on_time"]["met"] is False
    assert {"cause": "dpd", "count": 1} in kpis["_"]["causes"]["late_ship"]
    misses = api.call(
        "GET", "/v1/reports/kpis/shipped_on_time/misses?period=month&start=2026-12-01", role="admin", sub="boss"
    )
    assert misses.status_code == 200 and [m["subject"] for m in misses.data["items"]] == [order["id"]]
    assert misses.data["next_cursor"] is None


def test_the_delivery_survey_goes_out_once_and_a_scanner_prefetch_records_nothing(api: Api, tap: StreamTap) -> None:
    order_id = delivered(api, tap)
    assert run_feedback(clock.now() + timedelta(days=2))["surveys"] == {"due": 0}  # not yet: 3 days after delivery
    first = run_feedback(clock.now() + timedelta(days=3, hours=1))
    assert first["surveys"] == {"due": 1, "sent": 1}
    drain(tap)
    assert run_feedback(clock.now() + timedelta(days=3, hours=2))["surveys"] == {"due": 0}
    links = survey_links()
    assert len(links) == 5 and [link[-1] for link in links] == ["1", "2", "3", "4", "5"]
    subject = [str(m["Subject"]) for m in emails()][-1]
    assert subject.startswith("Wie zufrieden sind Sie mit Bestellung")

    page = api.client.http.get(links[3])  # what a mail scanner (or the customer's click) does
    html = page.body.decode() if isinstance(page.body, bytes) else page.body
    assert (
        page.status_code == 200 and 'value="4" required checked' in html and "form-action 'self'" in str(page.headers)
    )
    assert report(api)["csat"]["denominator"] == 0  # opening the link answered nothing

    token = links[3].split("/surveys/")[1].split("?")[0]
    answer = {"csat": 4, "nps": 9, "aspects": {"speed": 5}, "comment": "Schnell!"}
    response = api.call("POST", f"/v1/surveys/{token}", answer)
    assert response.status_code == 201 and response.data["status"] == "answered"
    assert api.call("POST", f"/v1/surveys/{token}", answer).status_code == 409
    kpis = report(api)
    assert (kpis["csat"]["numerator"], kpis["csat"]["denominator"]) == (1, 1)
    assert kpis["nps"]["value"] == 100.0 and kpis["survey_response_rate"]["value"] == 1.0
    assert kpis["_"]["csat_by_source"] == {"survey": 1.0}
    # The agent's view of the order (one Query of its partition) shows the answer, once.
    story = api.call("GET", f"/v1/agent/orders/{order_id}", role="agent", sub="agt_1")
    assert story.status_code == 200
    [shown] = story.data["survey_answers"]
    assert shown["kind"] == "delivery" and shown["answer"] == answer and shown["answered_at"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"csat": 6}, 422),
        ({"csat": 0}, 422),
        ({"csat": "4"}, 422),
        ({"csat": 3, "nps": 11}, 422),
        ({"csat": 3, "aspects": {"speed": 9}}, 422),
        ({"csat": 3, "status": "answered"}, 422),
    ],
)
def test_out_of_range_answers_are_refused(api: Api, tap: StreamTap, body: dict[str, Any], status: int) -> None:
    delivered(api, tap)
    run_feedback(clock.now() + timedelta(days=4))
    token = survey_links()[0].split("/surveys/")[1].split("?")[0]
    assert api.call("POST", f"/v1/surveys/{token}", body).status_code == status


def test_the_page_form_answers_and_bad_tokens_find_nothing(api: Api, tap: StreamTap) -> None:
    delivered(api, tap)
    run_feedback(clock.now() + timedelta(days=4))
    token = survey_links()[0].split("/surveys/")[1].split("?")[0]
    for bad in (token[:-2] + "xx", "garbage", token.replace(".", "")):
        assert api.client.http.get(f"/surveys/{bad}").status_code == 404
        assert api.call("POST", f"/v1/surveys/{bad}", {"csat": 5}).status_code == 404
    form = api.client.http.post(
        f"/v1/surveys/{token}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "de"},
        body=b"csat=2&aspect_speed=1&aspect_accuracy=&comment=Zu+sp%C3%A4t",
    )
    assert form.status_code == 201 and "Vielen Dank" in form.body.decode()
    kpis = report(api)
    assert (kpis["csat"]["numerator"], kpis["csat"]["denominator"]) == (0, 1)
    misses = api.call("GET", f"/v1/reports/kpis/csat/misses?period=week&start={WEEK}", role="admin", sub="b").data
    assert len(misses["items"]) == 1  # a detractor is a miss to follow up


def test_one_survey_per_customer_per_window(api: Api, tap: StreamTap) -> None:
    delivered(api, tap)
    delivered(api, tap)
    result = run_feedback(clock.now() + timedelta(days=4))
    assert result["surveys"] == {"due": 2, "sent": 1, "dropped": 1}
    assert len(survey_links()) == 5


def test_website_and_outside_feedback_count_in_csat_by_source(api: Api, tap: StreamTap) -> None:
    order_id = delivered(api, tap)
    own = api.call("POST", "/v1/feedback", {"order_id": order_id, "rating": 5}, role="customer", sub="cus_alice")
    assert own.status_code == 201 and own.data["source"] == "website"
    other = api.call("POST", "/v1/feedback", {"order_id": order_id, "rating": 1}, role="customer", sub="cus_bob")
    assert other.status_code == 404
    outside = {"source": "review", "rating": 2, "occurred_at": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert api.call("POST", "/v1/feedback/external", outside, role="agent", sub="agt_1").status_code == 201
    assert api.call("POST", "/v1/feedback/external", outside, role="customer", sub="cus_alice").status_code == 403
    kpis = report(api)
    assert (kpis["csat"]["numerator"], kpis["csat"]["denominator"]) == (1, 2)
    assert kpis["_"]["csat_by_source"] == {"website": 1.0, "review": 0.0}
    assert kpis["csat"]["confidence_95"][0] < 0.5 < kpis["csat"]["confidence_95"][1]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("period=year&start=2026-01-01", 422),
        ("period=week&start=2026-12-01", 422),  # a Tuesday
        ("period=quarter&start=2026-11-01", 422),
        ("period=month&start=yesterday", 422),
        ("period=month", 422),
    ],
)
def test_report_queries_are_validated(api: Api, query: str, status: int) -> None:
    assert api.call("GET", f"/v1/reports/kpis?{query}", role="admin", sub="b").status_code == status


def test_reports_are_for_admins(api: Api) -> None:
    for role in ("customer", "agent", "storefront"):
        response = api.call("GET", f"/v1/reports/kpis?period=week&start={WEEK}", role=role, sub="x")
        assert response.status_code == 403, role
    assert api.call("GET", f"/v1/reports/kpis/nope/misses?period=week&start={WEEK}", role="admin").status_code == 404
    bad_cursor = api.call(
        "GET", f"/v1/reports/kpis/csat/misses?period=week&start={WEEK}&cursor=abc", role="admin", sub="b"
    )
    assert bad_cursor.status_code == 422


def test_a_closed_period_is_frozen_and_served_from_its_snapshot(api: Api, tap: StreamTap) -> None:
    delivered(api, tap)
    before = report(api)["_"]
    assert before["closed"] is False
    clock.advance_to("2026-12-08T08:00:00Z")  # the next Monday: last week has ended
    assert "week:2026-11-30" in run_feedback(clock.now())["frozen_reports"]
    frozen = report(api)["_"]
    assert frozen["closed"] is True and len(frozen["sha256"]) == 64
    assert run_feedback(clock.now())["frozen_reports"] == []  # frozen once
    delivered(api, tap, delivered_at="2026-12-01T10:00:00Z")  # a late fact does not rewrite history
    assert report(api)["_"]["sha256"] == frozen["sha256"]


# --- tickets: their clocks, what they say about the order, the follow-up of a detractor -------------------------


def test_ticket_clocks_and_a_wrong_item_complaint_count(api: Api, tap: StreamTap) -> None:
    from tests.functional.test_tickets_api import agent, open_ticket

    order_id = delivered(api, tap)
    ticket = open_ticket(api, order_id, category="wrong_item", message="A blue mug instead of a red one")
    assert ticket.status_code == 201, ticket.data
    drain(tap)
    clock.advance_to(clock.now() + timedelta(hours=2))
    assert agent(api, "POST", f"/v1/tickets/{ticket.data['id']}/acknowledge").status_code == 200
    drain(tap)
    kpis = report(api, "quarter", "2026-10-01")
    assert (kpis["tickets_acknowledged_24h"]["numerator"], kpis["tickets_acknowledged_24h"]["denominator"]) == (1, 1)
    assert kpis["tickets_resolved_48h"]["denominator"] == 0  # not resolved yet
    assert (kpis["order_accuracy"]["numerator"], kpis["order_accuracy"]["denominator"]) == (0, 1)  # demoted
    assert kpis["perfect_order_rate"]["numerator"] == 0
    assert {"cause": "wrong_item", "count": 1} in kpis["_"]["causes"]["ticket"]
    deliver(tap.all)  # replays change nothing
    assert report(api, "quarter", "2026-10-01")["order_accuracy"]["denominator"] == 1


def test_each_complaint_takes_off_the_perfect_order_component_it_names_once(api: Api, tap: StreamTap) -> None:
    from tests.functional.test_tickets_api import open_ticket

    order_id = delivered(api, tap)
    parts = report(api, "quarter", "2026-10-01")["_"]["perfect_order_components"]
    assert parts == {"on_time": 1.0, "complete": 1.0, "damage_free": 1.0, "correct_documents": 1.0}
    assert open_ticket(api, order_id, category="damaged", message="The mug arrived broken").status_code == 201
    drain(tap)
    kpis = report(api, "quarter", "2026-10-01")
    assert kpis["perfect_order_rate"]["numerator"] == 0 and kpis["perfect_order_rate"]["denominator"] == 1
    parts = kpis["_"]["perfect_order_components"]
    assert parts == {"on_time": 1.0, "complete": 1.0, "damage_free": 0.0, "correct_documents": 1.0}
    # A second complaint about another part, once the order is no longer perfect, still takes that part off.
    assert open_ticket(api, order_id, category="invoice", message="Wrong VAT id").status_code == 201
    assert open_ticket(api, order_id, category="damaged", message="And the second one").status_code == 201
    drain(tap)
    deliver(tap.all)  # replays change nothing
    kpis = report(api, "quarter", "2026-10-01")
    parts = kpis["_"]["perfect_order_components"]
    assert parts == {"on_time": 1.0, "complete": 1.0, "damage_free": 0.0, "correct_documents": 0.0}
    assert kpis["perfect_order_rate"]["numerator"] == 0


def test_a_survey_decided_before_a_failed_send_is_sent_by_the_retry_even_if_a_ticket_opened_meanwhile(
    api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.bootstrap import get_container
    from tests.functional.test_tickets_api import open_ticket

    order_id = delivered(api, tap)
    surveys = get_container().surveys
    send = surveys.send

    def outage(*args: Any) -> None:
        raise ConnectionError("the intents table did not answer")

    monkeypatch.setattr(surveys, "send", outage)
    assert run_feedback(clock.now() + timedelta(days=4))["surveys"] == {"due": 1, "retry": 1}
    monkeypatch.setattr(surveys, "send", send)
    assert open_ticket(api, order_id, category="other", message="Rechnung bitte").status_code == 201
    drain(tap)
    assert run_feedback(clock.now() + timedelta(days=4, minutes=15))["surveys"] == {"due": 1, "sent": 1}
    drain(tap)
    assert len(survey_links()) == 5  # one survey message
    assert run_feedback(clock.now() + timedelta(days=4, minutes=30))["surveys"] == {"due": 0}


def test_no_survey_while_a_ticket_is_open_and_a_detractor_gets_one_follow_up(api: Api, tap: StreamTap) -> None:
    from tests.functional.test_tickets_api import open_ticket

    order_id = delivered(api, tap)
    assert open_ticket(api, order_id, category="delay", message="Where is it?").status_code == 201
    drain(tap)
    assert run_feedback(clock.now() + timedelta(days=4))["surveys"] == {"due": 1, "dropped": 1}

    second = delivered(api, tap, customer={"id": "cus_bob", "email": "bob@example.com", "name": "Bob", "locale": "en"})
    run_feedback(clock.now() + timedelta(days=4))
    token = survey_links()[0].split("/surveys/")[1].split("?")[0]
    answer = api.call("POST", f"/v1/surveys/{token}", {"csat": 1, "nps": 2, "comment": "Broken"})
    assert answer.status_code == 201
    queue = api.call("GET", "/v1/tickets?limit=100", role="agent", sub="agt_1").data["items"]
    follow_ups = [t for t in queue if t["channel"] == "survey"]
    assert len(follow_ups) == 1 and follow_ups[0]["order_id"] == second


@pytest.mark.parametrize("retried", [{"csat": 1, "nps": 2, "comment": "Kaputt"}, {"csat": 5}], ids=["same", "changed"])
def test_a_retried_answer_finishes_what_a_failure_after_storing_it_left_undone(
    api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch, retried: dict[str, Any]
) -> None:
    """The fault harness lost a detractor's follow-up ticket: the answer was stored (with its facts,
    in one write), the ticket's write failed (5xx), and the client's retry was told 409 before anything
    else happened. A retry finishes the stored answer's follow-ups whatever it says (the customer may
    have changed it), and counts nothing twice."""
    from chalicelib.bootstrap import get_container

    order_id = delivered(api, tap)
    run_feedback(clock.now() + timedelta(days=4))
    token = survey_links()[0].split("/surveys/")[1].split("?")[0]
    surveys = get_container().surveys
    open_ticket, calls = surveys.open_ticket, []
    assert open_ticket is not None

    def flaky(survey: Any, answer: Any) -> None:
        calls.append(survey.id)
        if len(calls) == 1:  # the answer and its facts are stored; then DynamoDB fails
            raise ConnectionError("DynamoDB did not answer")
        open_ticket(survey, answer)

    monkeypatch.setattr(surveys, "open_ticket", flaky)
    answer = {"csat": 1, "nps": 2, "comment": "Kaputt"}
    assert api.call("POST", f"/v1/surveys/{token}", answer).status_code == 500
    assert api.call("POST", f"/v1/surveys/{token}", retried).status_code == 409  # answered once, finished now
    assert api.call("POST", f"/v1/surveys/{token}", {"csat": 4}).status_code == 409  # nothing counted twice

    kpis = report(api)
    assert (kpis["csat"]["numerator"], kpis["csat"]["denominator"]) == (0, 1)
    assert kpis["nps"]["value"] == -100.0 and kpis["survey_response_rate"]["value"] == 1.0
    queue = api.call("GET", "/v1/tickets?limit=100", role="agent", sub="agt_1").data["items"]
    assert [t["order_id"] for t in queue if t["channel"] == "survey"] == [order_id]  # one follow-up


def test_the_dashboard_shows_every_kpi_the_trend_and_the_board(api: Api, tap: StreamTap) -> None:
    delivered(api, tap)
    late = processing_order(api)
    drain(tap)
    from app import sla_sweep

    sweep_at = clock.now() + timedelta(days=4)
    event = {
        "version": "0",
        "id": "x",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "1",
        "time": sweep_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-central-1",
        "resources": [],
        "detail": {},
    }
    sla_sweep(event, LambdaContext("sla_sweep"))
    drain(tap)
    from tests.conftest import bearer

    headers = {**bearer("admin", "boss"), "Accept": "text/html"}
    response = api.client.http.get("/reports/dashboard", headers=headers)
    html = response.body.decode() if isinstance(response.body, bytes) else response.body
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert html.count('class="card kpi') == 12 and html.count("<svg") == 12
    assert 'data-kpi="shipped_on_time"' in html
    assert f"?order={late['id']}" in html and 'data-board="late_shipping"' in html
    for role in ("customer", "agent"):
        assert api.client.http.get("/reports/dashboard", headers=bearer(role, "x")).status_code == 403


def test_the_dashboard_is_one_query(api: Api, tap: StreamTap) -> None:
    from bench.round_trips import counting
    from tests.conftest import bearer

    delivered(api, tap)
    processing_order(api)
    drain(tap)
    headers = {**bearer("admin", "boss"), "Accept": "text/html"}
    assert api.client.http.get("/reports/dashboard", headers=headers).status_code == 200  # warm
    with counting() as calls:
        assert api.client.http.get("/reports/dashboard", headers=headers).status_code == 200
    # The day counters (the week's report and its 13-week trend) and the board after them in
    # their partition: one Query, however many orders are open.
    assert dict(calls) == {"Query": 1}


def test_the_quarterly_review_has_every_kpi_the_causes_and_what_detractors_said(api: Api, tap: StreamTap) -> None:
    import io

    from pypdf import PdfReader

    from chalicelib.bootstrap import get_container
    from chalicelib.web.review import build_review, render_review_html, render_review_pdf

    delivered(api, tap)
    run_feedback(clock.now() + timedelta(days=4))
    token = survey_links()[0].split("/surveys/")[1].split("?")[0]
    api.call("POST", f"/v1/surveys/{token}", {"csat": 1, "comment": "Die Tasse kam zerbrochen an"})
    review = build_review(get_container().kpis, "quarter", datetime(2026, 10, 1).date())
    assert [c["note"] for c in review["comments"]] == ["Die Tasse kam zerbrochen an"]
    assert len(review["weeks"]) == 14  # every week that starts in the quarter (its first Monday is Sep 28)
    html = render_review_html(review, "Shop")
    assert html.count("<svg") == 12 and "Die Tasse kam zerbrochen an" in html
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(render_review_pdf(review, "Shop"))).pages)
    assert "Shipped on time" in text and "Die Tasse kam zerbrochen an" in text


def test_a_return_counts_in_the_return_rate_and_is_asked_about_once_completed(api: Api, tap: StreamTap) -> None:
    from tests.functional.test_returns_api import act, refund_webhook, request_return

    order_id = delivered(api, tap)
    created = request_return(api, order_id, reason="damaged")
    assert created.status_code == 201, created.data
    drain(tap)
    kpis = report(api, "quarter", "2026-10-01")
    assert (kpis["return_rate"]["numerator"], kpis["return_rate"]["denominator"]) == (1, 1)
    assert {"cause": "damaged", "count": 1} in kpis["_"]["causes"]["return"]
    assert kpis["order_accuracy"]["numerator"] == 0  # a damaged parcel: not an accurate order after all
    assert run_feedback(clock.now() + timedelta(days=4))["surveys"] == {"due": 1, "dropped": 1}  # return open
    return_id = created.data["id"]
    assert act(api, return_id, "approve").status_code == 200
    received = act(api, return_id, "receive", {"lines": [{"sku": "MUG-1", "quantity": 1, "condition": "damaged"}]})
    drain(tap)
    assert refund_webhook(api, order_id, received.data["refund_amount"]).status_code == 200
    drain(tap)
    result = run_feedback(clock.now() + timedelta(hours=1))  # the dropped one took no slot
    assert result["surveys"] == {"due": 1, "sent": 1}


def test_an_answer_is_one_read_and_one_write_its_facts_counted_with_it(api: Api, tap: StreamTap) -> None:
    from bench.round_trips import counting

    delivered(api, tap)
    run_feedback(clock.now() + timedelta(days=4))
    token = survey_links()[0].split("/surveys/")[1].split("?")[0]
    with counting() as opened:
        assert api.call("GET", f"/surveys/{token}").status_code == 200
    assert opened == {"GetItem": 1}  # the survey knows the address its link was sent to
    with counting() as answered:
        assert api.call("POST", f"/v1/surveys/{token}", {"csat": 5, "nps": 10}).status_code == 201
    assert answered == {"GetItem": 1, "TransactWriteItems": 1}  # the answer, its scores, the response
    kpis = report(api)
    assert (kpis["csat"]["numerator"], kpis["csat"]["denominator"]) == (1, 1)
    assert kpis["nps"]["value"] == 100.0 and kpis["survey_response_rate"]["value"] == 1.0
    with counting() as again:
        assert api.call("POST", f"/v1/surveys/{token}", {"csat": 1}).status_code == 409
    assert "TransactWriteItems" in again and report(api)["csat"]["denominator"] == 1  # nothing counted twice


def test_feedback_is_one_read_and_one_write_and_a_retry_one_read(api: Api, tap: StreamTap) -> None:
    from bench.round_trips import counting

    order_id = delivered(api, tap)
    customer = api.call("GET", f"/v1/orders/{order_id}", role="agent").data["customer"]["id"]
    body = {"rating": 4, "order_id": order_id, "comment": "Fine"}
    with counting() as plain:
        assert api.call("POST", "/v1/feedback", body, role="customer", sub=customer).status_code == 201
    assert plain == {"GetItem": 1, "TransactWriteItems": 1}  # the order; the feedback with its fact
    key = {"Idempotency-Key": "fb-rt"}
    with counting() as keyed:
        first = api.call("POST", "/v1/feedback", body, role="customer", sub=customer, headers=key)
    assert first.status_code == 201 and keyed == {"BatchGetItem": 1, "TransactWriteItems": 1}
    with counting() as replayed:
        again = api.call("POST", "/v1/feedback", body, role="customer", sub=customer, headers=key)
    assert (again.status_code, again.data) == (201, first.data) and replayed == {"BatchGetItem": 1}
    stranger = api.call("POST", "/v1/feedback", body, role="customer", sub="cus_other", headers=key)
    assert stranger.status_code == 404  # not their order, key or no key
    kpis = report(api)
    assert (kpis["csat"]["numerator"], kpis["csat"]["denominator"]) == (2, 2)


def test_a_survey_scheduled_before_it_kept_its_address_is_checked_against_the_order(api: Api, tap: StreamTap) -> None:
    from bench.round_trips import counting
    from chalicelib.adapters.dynamo.kpis import _survey_key
    from chalicelib.adapters.dynamo.models import TableItem

    order_id = delivered(api, tap)
    run_feedback(clock.now() + timedelta(days=4))
    token = survey_links()[0].split("/surveys/")[1].split("?")[0]
    TableItem._get_connection().connection.client.update_item(
        TableName=TableItem.Meta.table_name, Key=_survey_key("delivery", order_id), UpdateExpression="REMOVE recipient"
    )
    with counting() as opened:
        assert api.call("GET", f"/surveys/{token}").status_code == 200
    assert opened == {"GetItem": 2}  # the survey, then the order's address
    assert api.call("POST", f"/v1/surveys/{token}", {"csat": 5}).status_code == 201


def test_the_survey_after_a_resolved_ticket_asks_about_the_help_not_a_delivery(api: Api, tap: StreamTap) -> None:
    from tests.functional.test_tickets_api import agent, open_ticket

    order = processing_order(api)  # never shipped: there is no delivery to ask about
    drain(tap)
    ticket = open_ticket(api, order["id"], category="payment", message="Was my card charged twice?").data
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/acknowledge")
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/resolve", {"resolution": "Only once: the other was a hold."})
    drain(tap)
    assert run_feedback(clock.now() + timedelta(hours=25))["surveys"] == {"due": 1, "sent": 1}
    drain(tap)
    survey = emails()[-1]
    subject, text = str(survey["Subject"]), survey.get_body(("plain",)).get_content()
    assert "Hilfe" in subject and order["number"] in subject, subject
    assert "Anfrage" in text and "angekommen" not in text, text
