"""KPIs: the facts an order's life yields, the daily counters they add to, and the report.

A *fact* is one observation about one subject (an order, a ticket, a survey answer) that
counts once: its `key` makes it idempotent, so a stream record replayed five times adds
to the counters once. Counters are per day in the shop's timezone; a report adds the days
of its period, so it reads what the period holds, never the orders themselves.

Definitions (the version is stored with every frozen report):
- shipped_on_time: orders whose first complete shipment happened by the ship-by promised
  at placement ÷ orders due to ship that day (counted by the promised ship-by day); an order
  still unshipped when its promise breaks counts as a miss then.
- delivered_on_time: the same against the deliver-by the customer was first told.
- order_accuracy: orders shipped with no accuracy hold (released or not) and no later
  wrong_item / missing_item / damaged complaint ÷ orders shipped (by ship day).
- perfect_order_rate (APQC/SCOR, strict): delivered orders that were on time (both
  promises), complete, damage-free and with correct documents ÷ delivered orders.
- csat: share of 4–5 ratings; nps: % promoters (9–10) − % detractors (0–6).
- return_rate: returns requested ÷ orders delivered; survey_response_rate: answers ÷ surveys sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.errors import ValidationError
from chalicelib.domain.orders import Hold, Order
from chalicelib.domain.returns import Return
from chalicelib.domain.tickets import Ticket

DEFINITIONS_VERSION = "2026-12-01"

KPI_NAMES = (
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
)
DEFAULT_TARGETS: dict[str, float | None] = {
    "csat": 0.95,
    "nps": None,
    "post_support_csat": 0.95,
    "post_return_csat": None,
    "shipped_on_time": 0.95,
    "delivered_on_time": 0.95,
    "order_accuracy": 0.98,
    "perfect_order_rate": None,
    "tickets_acknowledged_24h": 1.0,
    "tickets_resolved_48h": 1.0,
    "return_rate": None,
    "survey_response_rate": None,
}
# Perfect-order components, reported next to the rate.
PERFECT_COMPONENTS = ("on_time", "complete", "damage_free", "correct_documents")
# What a later complaint says the delivered order lacked (a missing or wrong item: it was not complete).
COMPLAINT_COMPONENTS = {"damaged": "damage_free", "wrong_item": "complete", "missing_item": "complete"}
COMPLAINT_COMPONENTS |= {"invoice": "correct_documents"}


def component_miss(part: str) -> str:
    """The tag a delivery's fact carries for a perfect-order component it missed (no drill-down list of its own)."""
    return f"perfect:{part}"


def is_component_miss(tag: str) -> bool:
    return tag.startswith("perfect:")


ACCURACY_HOLDS = frozenset({"unknown_sku", "price_mismatch", "insufficient_stock", "invalid_address"})
ACCURACY_COMPLAINTS = frozenset({"wrong_item", "missing_item", "damaged"})
PERIODS = ("week", "month", "quarter")
SURVEY_KINDS = {"delivery": "csat", "support": "post_support_csat", "return": "post_return_csat"}
FEEDBACK_SOURCES = ("survey", "website", "review", "social", "chat", "phone", "other")


def num(kpi: str) -> str:
    return f"{kpi}__num"


def den(kpi: str) -> str:
    return f"{kpi}__den"


def cause(kind: str, value: str) -> str:
    """A counter of why things missed: `cause__hold__price_mismatch`, `cause__late_ship__dhl`."""
    safe = "".join(ch if ch.isalnum() else "_" for ch in value.lower())[:40] or "unknown"
    return f"cause__{kind}__{safe}"


@dataclass(frozen=True)
class Fact:
    """One idempotent observation: add `counts` to the counters of `day`, once per `key`."""

    key: str
    day: date
    counts: dict[str, int]
    subject: str  # the order / ticket / survey it is about (drill-down lists it on a miss)
    misses: tuple[str, ...] = ()  # the KPIs this fact is a miss of
    note: str | None = None  # shown with the miss (a detractor's comment)


@dataclass(frozen=True)
class BoardPlace:
    """An order put on (present) or taken off one list of the live operations board."""

    kind: str  # ship_soon, late_shipping, late_delivery, stalled
    order_id: str
    number: str
    due_at: datetime | None
    present: bool


def hit_fact(kpi: str, subject: str, day: date, hit: bool, extra: dict[str, int] | None = None) -> Fact:
    counts = {den(kpi): 1, num(kpi): 1 if hit else 0, **(extra or {})}
    return Fact(f"{kpi}#{subject}", day, counts, subject, () if hit else (kpi,))


def score_facts(
    kind: str, subject: str, day: date, csat: int, nps: int | None, source: str, comment: str | None = None
) -> list[Fact]:
    """A rating (survey answer or feedback) as CSAT (and NPS) facts."""
    kpi = SURVEY_KINDS.get(kind, "csat")
    counts = {den(kpi): 1, num(kpi): 1 if csat >= 4 else 0}
    if kpi == "csat":
        counts |= {f"csat_src__{source}__den": 1, f"csat_src__{source}__num": 1 if csat >= 4 else 0}
    if nps is not None:
        counts |= {"nps__n": 1, "nps__promoters": 1 if nps >= 9 else 0, "nps__detractors": 1 if nps <= 6 else 0}
    misses = (kpi,) if csat <= 2 else ()
    return [Fact(f"score#{subject}", day, counts, subject, misses, comment if misses else None)]


# --- the report ---------------------------------------------------------------------------------------------


def period_bounds(period: str, start: date) -> tuple[date, date]:
    """[start, end) of a week (Monday), month (1st) or quarter (Jan/Apr/Jul/Oct 1st)."""
    if period == "week":
        if start.weekday() != 0:
            raise ValidationError("a week starts on a Monday", details=[{"field": "start", "issue": "not_monday"}])
        return start, start + timedelta(days=7)
    if period not in ("month", "quarter"):
        raise ValidationError(
            f"unknown period '{period}'", details=[{"field": "period", "allowed": list(PERIODS)}], code="unknown_period"
        )
    months = 1 if period == "month" else 3
    if start.day != 1 or (period == "quarter" and (start.month - 1) % 3):
        raise ValidationError(f"a {period} starts on its first day", details=[{"field": "start", "issue": "unaligned"}])
    month = start.month - 1 + months
    return start, date(start.year + month // 12, month % 12 + 1, 1)


def previous_start(period: str, start: date) -> date:
    if period == "week":
        return start - timedelta(days=7)
    months = 1 if period == "month" else 3
    month = start.month - 1 - months
    return date(start.year + month // 12, month % 12 + 1, 1)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """95% Wilson score interval for a share (None for no observations, or for a ratio that is not a share).

    A period's return rate counts the returns requested in it against the orders delivered in it, and
    its survey response rate the answers against the surveys sent: more returns than deliveries (several
    per order, or of orders delivered before) is a true ratio above 1, with no interval of a share."""
    if n <= 0 or not 0 <= successes <= n:
        return None
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    return round(max(0.0, (centre - margin) / scale), 4), round(min(1.0, (centre + margin) / scale), 4)


@dataclass
class Totals:
    """The counters of a period, added up."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, counts: dict[str, int]) -> None:
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + int(value)

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)


def _share(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def kpi_value(name: str, totals: Totals) -> dict[str, object]:
    if name == "nps":
        n = totals.get("nps__n")
        promoters, detractors = totals.get("nps__promoters"), totals.get("nps__detractors")
        value = round(100 * (promoters - detractors) / n, 1) if n else None
        return {"value": value, "numerator": promoters - detractors, "denominator": n, "n": n}
    numerator, denominator = totals.get(num(name)), totals.get(den(name))
    result: dict[str, object] = {
        "value": _share(numerator, denominator),
        "numerator": numerator,
        "denominator": denominator,
    }
    if name in ("csat", "post_support_csat", "post_return_csat", "survey_response_rate") or name in SHARES:
        result["n"] = denominator
        interval = wilson(numerator, denominator)
        result["confidence_95"] = list(interval) if interval else None
    return result


SHARES = frozenset(KPI_NAMES) - {"nps"}


def build_report(
    period: str,
    start: date,
    end: date,
    totals: Totals,
    previous: Totals,
    targets: dict[str, float | None],
) -> dict[str, object]:
    kpis = []
    for name in KPI_NAMES:
        current = kpi_value(name, totals)
        target = targets.get(name)
        value = current["value"]
        met = None if target is None or value is None else bool(float(value) >= target)  # type: ignore[arg-type]
        kpis.append(
            {"name": name, **current, "target": target, "met": met, "previous": kpi_value(name, previous)["value"]}
        )
    by_source = {
        source: _share(totals.get(f"csat_src__{source}__num"), totals.get(f"csat_src__{source}__den"))
        for source in FEEDBACK_SOURCES
        if totals.get(f"csat_src__{source}__den")
    }
    components = {
        part: _share(totals.get(num(f"perfect_{part}")), totals.get(den(f"perfect_{part}")))
        for part in PERFECT_COMPONENTS
    }
    return {
        "period": period,
        "start": start.isoformat(),
        "end": (end - timedelta(days=1)).isoformat(),
        "definitions_version": DEFINITIONS_VERSION,
        "kpis": kpis,
        "csat_by_source": by_source,
        "perfect_order_components": components,
        "causes": _causes(totals),
    }


def _causes(totals: Totals) -> dict[str, list[dict[str, object]]]:
    grouped: dict[str, list[tuple[str, int]]] = {}
    for name, count in totals.counts.items():
        if name.startswith("cause__") and count > 0:
            _, kind, value = name.split("__", 2)
            grouped.setdefault(kind, []).append((value, count))
    return {
        kind: [{"cause": value, "count": count} for value, count in sorted(items, key=lambda c: (-c[1], c[0]))[:10]]
        for kind, items in grouped.items()
    }


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


# --- facts from an order's change -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Promise:
    """What the customer was told at placement: the goal KPIs measure against."""

    ship_by: datetime
    deliver_by: datetime


def yields_facts(before: Order | None, after: Order) -> bool:
    """Whether `order_facts` can find anything in this change (it needs the promise only then)."""
    return (
        _newly(before, after, "shipped_at")
        or _newly(before, after, "delivered_at")
        or (after.shipped_at is None and _newly(before, after, "sla_shipping", "breached"))
        or (after.delivered_at is None and _newly(before, after, "sla_delivery", "breached"))
    )


def order_facts(before: Order | None, after: Order, promise: Promise, zone: ZoneInfo) -> list[Fact]:
    """The KPI facts the change from `before` to `after` yields (each idempotent by its key)."""
    return [*_shipping_facts(before, after, promise, zone), *_delivery_facts(before, after, promise, zone)]


def _carrier(order: Order) -> str:
    return order.shipments[-1].carrier if order.shipments else "unshipped"


def _newly(before: Order | None, after: Order, attribute: str, value: str | None = None) -> bool:
    now, then = getattr(after, attribute), getattr(before, attribute) if before else None
    return (now == value and then != value) if value is not None else (now is not None and then is None)


def _shipping_facts(before: Order | None, after: Order, promise: Promise, zone: ZoneInfo) -> list[Fact]:
    due_day = local_day(promise.ship_by, zone)
    if _newly(before, after, "shipped_at") and after.shipped_at is not None:
        on_time = after.shipped_at <= promise.ship_by
        late = {} if on_time else {cause("late_ship", _carrier(after)): 1}
        held = [h.code for h in [*after.holds, *_released(after)] if h.code in ACCURACY_HOLDS]
        return [
            hit_fact("shipped_on_time", after.id, due_day, on_time, late),
            hit_fact("order_accuracy", after.id, local_day(after.shipped_at, zone), not held, _hold_causes(held)),
        ]
    if after.shipped_at is None and _newly(before, after, "sla_shipping", "breached"):
        # Still unshipped when the promise broke: a miss now (the later shipment finds the fact counted).
        return [hit_fact("shipped_on_time", after.id, due_day, False, {cause("late_ship", "unshipped"): 1})]
    return []


def _released(order: Order) -> list[Hold]:
    """Holds a person released: an accuracy problem they fixed. An exchange's replacement is free by
    design, so the price waiver it is created with is none."""
    if order.replaces_order_id is None:
        return list(order.waivers)
    return [w for w in order.waivers if w.code != "price_mismatch"]


def _hold_causes(codes: list[str]) -> dict[str, int]:
    return {cause("hold", code): 1 for code in codes}


def _delivery_facts(before: Order | None, after: Order, promise: Promise, zone: ZoneInfo) -> list[Fact]:
    due_day = local_day(promise.deliver_by, zone)
    if _newly(before, after, "delivered_at") and after.delivered_at is not None:
        on_time = after.delivered_at <= promise.deliver_by
        late = {} if on_time else {cause("late_delivery", _carrier(after)): 1}
        day = local_day(after.delivered_at, zone)
        parts = {
            "on_time": on_time and after.shipped_at is not None and after.shipped_at <= promise.ship_by,
            "complete": all(line.quantity <= _shipped(after, line.sku) for line in after.lines),
            "damage_free": not any(s.exception for s in after.shipments),
            "correct_documents": not after.refunds,
        }
        perfect = {f"perfect_{part}__den": 1 for part in parts} | {
            f"perfect_{part}__num": int(ok) for part, ok in parts.items()
        }
        perfect_fact = hit_fact("perfect_order_rate", after.id, day, all(parts.values()), perfect)
        # The parts it missed, on its marker: a later complaint then takes off only a part still counted.
        missed = tuple(component_miss(part) for part, ok in parts.items() if not ok)
        return [
            hit_fact("delivered_on_time", after.id, due_day, on_time, late),
            replace(perfect_fact, misses=perfect_fact.misses + missed),
            Fact(f"delivered#{after.id}", day, {den("return_rate"): 1}, after.id),
        ]
    if after.delivered_at is None and _newly(before, after, "sla_delivery", "breached"):
        return [hit_fact("delivered_on_time", after.id, due_day, False, {cause("late_delivery", _carrier(after)): 1})]
    return []


def _shipped(order: Order, sku: str) -> int:
    return sum(line.quantity for s in order.shipments for line in s.lines if line.sku == sku)


# --- facts from a ticket's change ----------------------------------------------------------------------------


def ticket_facts(before: Ticket | None, after: Ticket, zone: ZoneInfo) -> list[Fact]:
    """Acknowledged within 24 h and resolved within 48 h, counted on the day the ticket was opened.

    The first acknowledgement and the first resolution count (a reopened ticket is reported,
    not counted twice); a deadline that breaks before anyone acted counts as the miss."""
    day = local_day(after.created_at, zone)
    facts: list[Fact] = []
    if before is None:
        facts.append(Fact(f"ticket_opened#{after.id}", day, {cause("ticket", after.category): 1}, after.id))
    for kpi, at, deadline, clock in (
        ("tickets_acknowledged_24h", after.acknowledged_at, after.acknowledge_by, "sla_acknowledgement"),
        ("tickets_resolved_48h", after.resolved_at, after.resolve_by, "sla_resolution"),
    ):
        was = getattr(before, kpi_attr(kpi)) if before is not None else None
        if at is not None and was is None:
            facts.append(hit_fact(kpi, after.id, day, at <= deadline))
        elif (
            at is None
            and getattr(after, clock) == "breached"
            and (before is None or getattr(before, clock) != "breached")
        ):
            facts.append(hit_fact(kpi, after.id, day, False))
    return facts


def kpi_attr(kpi: str) -> str:
    return "acknowledged_at" if kpi == "tickets_acknowledged_24h" else "resolved_at"


# --- facts from a return's change ----------------------------------------------------------------------------

RETURN_CLOSED = frozenset({"rejected", "refunded", "exchanged", "cancelled", "expired"})


def return_facts(before: Return | None, after: Return, zone: ZoneInfo) -> list[Fact]:
    """A requested return counts toward the return rate (on the day requested), with its reason as a cause."""
    if before is not None:
        return []
    day = local_day(after.created_at, zone)
    return [Fact(f"returned#{after.id}", day, {num("return_rate"): 1, cause("return", after.reason): 1}, after.id)]
