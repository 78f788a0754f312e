"""The quarterly (or any period's) review: KPIs against targets, the weekly trend, the causes,
and what detractors said — as an HTML page and a PDF (fpdf2, the invoices' embedded font)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from chalicelib.web.dashboard import LABELS, _display, sparkline, status_of


def weekly(service: Any, start: date, end: date) -> list[dict[str, Any]]:
    """Every week starting in [start, end): its KPI values (one Query for the whole range)."""
    from chalicelib.domain import kpis

    first = start - timedelta(days=start.weekday())
    _, days, _ = service.store.totals(first, end + timedelta(days=7))
    weeks: dict[date, kpis.Totals] = {}
    for day, counts in days:
        weeks.setdefault(day - timedelta(days=day.weekday()), kpis.Totals()).add(counts)
    result = []
    monday = first
    while monday < end:
        totals = weeks.get(monday, kpis.Totals())
        values = {name: kpis.kpi_value(name, totals)["value"] for name in kpis.KPI_NAMES}
        result.append({"start": monday.isoformat(), "values": values})
        monday += timedelta(weeks=1)
    return result


def build_review(service: Any, period: str, start: date) -> dict[str, Any]:
    from chalicelib.domain.kpis import period_bounds

    begin, end = period_bounds(period, start)
    report = service.report(period, begin)
    comments = []
    for name in ("csat", "post_support_csat", "post_return_csat"):
        cursor = None
        while True:
            page = service.misses(name, period, begin, 100, cursor)
            comments += [{"kpi": name, **item} for item in page["items"] if item.get("note")]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    return {"report": report, "weeks": weekly(service, begin, end), "comments": comments}


def render_review_html(review: dict[str, Any], shop: str) -> str:
    from chalicelib.presentation.templates import environment

    report = review["report"]
    rows = [
        {
            "label": LABELS[k["name"]],
            "value": _display(k["name"], k["value"]),
            "target": _display(k["name"], k["target"]) if k["target"] is not None else "—",
            "previous": _display(k["name"], k["previous"]),
            "status": status_of(k["value"], k["target"], k["met"]),
            "n": k["denominator"],
            "spark": sparkline([w["values"][k["name"]] for w in review["weeks"]], k["name"]),
        }
        for k in report["kpis"]
    ]
    return (
        environment()
        .get_template("review.html")
        .render(
            lang="en",
            title=f"KPI review {report['start']} – {report['end']}",
            banner="KPI review",
            shop=shop,
            report=report,
            rows=rows,
            comments=review["comments"],
        )
    )


def render_review_pdf(review: dict[str, Any], shop: str) -> bytes:
    from fpdf import FPDF

    from chalicelib.documents.pdf import FONT_FILES

    report = review["report"]
    pdf = FPDF(format="A4")
    for style, path in FONT_FILES.items():
        pdf.add_font("DejaVu", style, str(path))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 10, f"{shop}: KPI review {report['start']} – {report['end']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
    pdf.cell(
        0, 6, f"Period: {report['period']} · definitions {report['definitions_version']}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(2)
    widths = (78, 28, 28, 28, 28)
    pdf.set_font("DejaVu", "B", 9)
    for width, heading in zip(widths, ("KPI", "Value", "Target", "Previous", "n"), strict=True):
        pdf.cell(width, 7, heading, border="B")
    pdf.ln()
    pdf.set_font("DejaVu", "", 9)
    for k in report["kpis"]:
        name = k["name"]
        status = status_of(k["value"], k["target"], k["met"])
        colour = {"green": (20, 83, 45), "amber": (107, 61, 0), "red": (138, 28, 28)}.get(status, (27, 30, 35))
        cells = (
            LABELS[name],
            _display(name, k["value"]),
            _display(name, k["target"]) if k["target"] is not None else "—",
            _display(name, k["previous"]),
            str(k["denominator"]),
        )
        for index, (width, text) in enumerate(zip(widths, cells, strict=True)):
            pdf.set_text_color(*(colour if index == 1 else (27, 30, 35)))
            pdf.cell(width, 6, text, border="B")
        pdf.ln()
    pdf.set_text_color(27, 30, 35)
    _section(pdf, "Weekly trend (share of target KPIs per week)")
    for week in review["weeks"]:
        values = week["values"]
        line = ", ".join(
            f"{LABELS[n].split(' (')[0]} {_display(n, values[n])}"
            for n in ("shipped_on_time", "delivered_on_time", "order_accuracy", "csat")
        )
        pdf.multi_cell(0, 5, f"Week of {week['start']}: {line}", new_x="LMARGIN", new_y="NEXT")
    _section(pdf, "Causes")
    for kind, items in report["causes"].items():
        text = ", ".join(f"{i['cause'].replace('_', ' ')} {i['count']}" for i in items)
        pdf.multi_cell(0, 5, f"{kind.replace('_', ' ')}: {text}", new_x="LMARGIN", new_y="NEXT")
    if not report["causes"]:
        pdf.cell(0, 5, "No misses recorded.", new_x="LMARGIN", new_y="NEXT")
    _section(pdf, "What detractors said")
    for comment in review["comments"]:
        pdf.multi_cell(
            0, 5, f"{comment['day']} ({LABELS[comment['kpi']]}): {comment['note']}", new_x="LMARGIN", new_y="NEXT"
        )
    if not review["comments"]:
        pdf.cell(0, 5, "No comments from detractors.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _section(pdf: Any, title: str) -> None:
    pdf.ln(4)
    pdf.set_font("DejaVu", "B", 11)
    pdf.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 9)
