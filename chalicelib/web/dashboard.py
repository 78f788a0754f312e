"""The KPI dashboard: every KPI against its target, 13 weeks of trend as inline SVG, the causes,
and the live operations board. Server-rendered, no JavaScript, no CDN; readable on a phone."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.kpis import KPI_NAMES

LABELS = {
    "csat": "Customer satisfaction (CSAT)",
    "nps": "Net promoter score",
    "post_support_csat": "CSAT after support",
    "post_return_csat": "CSAT after a return",
    "shipped_on_time": "Shipped on time",
    "delivered_on_time": "Delivered on time",
    "order_accuracy": "Order accuracy",
    "perfect_order_rate": "Perfect orders",
    "tickets_acknowledged_24h": "Tickets acknowledged in 24 h",
    "tickets_resolved_48h": "Tickets resolved in 48 h",
    "return_rate": "Return rate",
    "survey_response_rate": "Survey response rate",
}
BOARD_LABELS = {
    "ship_soon": "Ship-by within 8 h, not shipped",
    "late_shipping": "Ship-by passed, not shipped",
    "late_delivery": "Deliver-by passed, not delivered",
    "stalled": "Parcel stalled (no carrier scan)",
}
AMBER_MARGIN = 0.03  # within 3 points below target: amber, further: red


def status_of(value: float | None, target: float | None, met: bool | None) -> str:
    if value is None:
        return "none"
    if target is None:
        return "neutral"
    if met:
        return "green"
    return "amber" if value >= target - AMBER_MARGIN else "red"


def _display(name: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:+.0f}" if name == "nps" else f"{value * 100:.1f} %"


def sparkline(values: list[float | None], name: str, width: int = 240, height: int = 48) -> str:
    """A 13-point trend as an accessible inline SVG polyline (gaps where a week had no data)."""
    scale_low, scale_high = (-100.0, 100.0) if name == "nps" else (0.0, 1.0)
    step = width / max(len(values) - 1, 1)
    segments: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        y = height - (value - scale_low) / (scale_high - scale_low) * (height - 4) - 2
        segments[-1].append(f"{i * step:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline fill="none" stroke="#0a53be" stroke-width="2" points="{" ".join(points)}"/>'
        for points in segments
        if len(points) > 1
    )
    dots = "".join(
        f'<circle r="2.5" fill="#0a53be" cx="{p.split(",")[0]}" cy="{p.split(",")[1]}"/>'
        for points in segments
        for p in points[-1:]
    )
    known = [v for v in values if v is not None]
    label = f"{LABELS.get(name, name)}: 13-week trend, " + (
        f"latest {_display(name, known[-1])}" if known else "no data yet"
    )
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="100%" height="{height}" role="img" '
        f'aria-label="{label}"><rect width="{width}" height="{height}" fill="#f6f8fb"/>{lines}{dots}</svg>'
    )


def render_dashboard(data: dict[str, Any], shop: str, desk_url: str = "/desk") -> str:
    from chalicelib.presentation.templates import environment

    report = data["report"]
    trend = data["trend"]
    cards = []
    for kpi in report["kpis"]:
        name = kpi["name"]
        cards.append(
            {
                "name": name,
                "label": LABELS[name],
                "value": _display(name, kpi["value"]),
                "target": _display(name, kpi["target"]) if kpi["target"] is not None else "",
                "status": status_of(kpi["value"], kpi["target"], kpi["met"]),
                "n": kpi["denominator"],
                "previous": _display(name, kpi["previous"]),
                "spark": sparkline([week["values"][name] for week in trend], name),
            }
        )
    board = [{**row, "label": BOARD_LABELS.get(row["kind"], row["kind"])} for row in data["board"]]
    causes = {kind: items for kind, items in report["causes"].items()}
    return (
        environment()
        .get_template("dashboard.html")
        .render(
            lang="en",
            title="KPI dashboard",
            banner="KPI dashboard",
            shop=shop,
            report=report,
            cards=cards,
            order=KPI_NAMES,
            board=board,
            causes=causes,
            desk_url=desk_url,
        )
    )
