"""Returns and exchanges: the return aggregate, its transition table, and the rules for what may go back.

A return covers delivered units of one order. Its statuses:

  requested → approved | rejected{reason} | cancelled
  approved  → received | cancelled | expired (not received within the receipt window)
  received  → refunded (the provider confirms the refund) | exchanged (the replacement order exists)

Pure logic: no AWS imports. Money is integer minor units; unit prices are net and
tax is added per rate, exactly as on the order (domain/money.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import ConflictError, ValidationError
from chalicelib.domain.money import TaxBreakdown, allocate, tax_for
from chalicelib.domain.orders import DomainEvent, IllegalTransitionError, Order


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    RECEIVED = "received"
    REFUNDED = "refunded"
    EXCHANGED = "exchanged"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


R = ReturnStatus
TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    R.REQUESTED: frozenset({R.APPROVED, R.REJECTED, R.CANCELLED}),
    R.APPROVED: frozenset({R.RECEIVED, R.CANCELLED, R.EXPIRED}),
    R.RECEIVED: frozenset({R.REFUNDED, R.EXCHANGED}),
    R.REJECTED: frozenset(),
    R.REFUNDED: frozenset(),
    R.EXCHANGED: frozenset(),
    R.CANCELLED: frozenset(),
    R.EXPIRED: frozenset(),
}
# Statuses whose units no longer count as returned (they may be requested again).
RELEASED = frozenset({R.REJECTED, R.CANCELLED, R.EXPIRED})
OPEN = frozenset({R.REQUESTED, R.APPROVED, R.RECEIVED})
# Statuses of a return whose parcel has arrived.
BACK = frozenset({R.RECEIVED, R.REFUNDED, R.EXCHANGED})

REASONS = ("damaged", "wrong_item", "not_as_described", "too_late", "changed_mind", "other")
# The shop's fault: with the whole order coming back, shipping is refunded too.
SHOP_FAULT = frozenset({"damaged", "wrong_item", "not_as_described"})
RESOLUTIONS = ("refund", "exchange")
CONDITIONS = ("restockable", "damaged")
REFUND_MISMATCH = "refund_mismatch"


@dataclass(frozen=True)
class ReturnLine:
    sku: str
    quantity: int
    name: str = ""
    unit_price: int = 0
    tax_rate_bps: int = 0
    # Filled in on receipt: units received per condition, and the refund for the line.
    restockable: int = 0
    damaged: int = 0
    refund_amount: int = 0
    refund_tax: int = 0  # the tax within refund_amount


@dataclass(frozen=True)
class ReturnHold:
    """Something an agent must look at (e.g. the provider refunded another amount)."""

    code: str
    detail: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transition:
    status: str
    at: datetime
    actor: str
    reason: str | None = None


@dataclass
class Return:
    id: str
    number: str  # the RMA number the customer writes on the parcel
    order_id: str
    customer_id: str
    currency: str
    lines: list[ReturnLine]
    reason: str
    resolution: str  # refund | exchange
    created_at: datetime
    comment: str | None = None
    status: ReturnStatus = ReturnStatus.REQUESTED
    history: list[Transition] = field(default_factory=list)
    rejection_reason: str | None = None
    receive_by: datetime | None = None  # approved returns expire after this
    received_at: datetime | None = None
    refund_amount: int | None = None
    shipping_refund: int = 0
    refund_taxes: list[tuple[int, int, int]] = field(default_factory=list)  # (rate, net, tax) refunded
    refund_event_id: str | None = None
    refunded_amount: int | None = None
    credit_note_id: str | None = None
    credit_note_number: str | None = None
    replacement_order_id: str | None = None
    holds: list[ReturnHold] = field(default_factory=list)
    version: int = 0
    order_version: int = 0  # the order change its latest timeline entries follow (checked as they are written)
    events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    @property
    def units(self) -> dict[str, int]:
        return {line.sku: line.quantity for line in self.lines}

    @property
    def held_units(self) -> dict[str, int]:
        """The units this return keeps from being returned again (none once it is released)."""
        return {} if self.status in RELEASED else self.units

    @property
    def units_back_for_refund(self) -> dict[str, int]:
        """The units this return brought back for a refund (none before its parcel arrives; an
        exchange's units are replaced, so the customer still has them)."""
        return self.units if self.status in BACK and self.resolution == "refund" else {}

    def can(self, target: ReturnStatus) -> bool:
        return target in TRANSITIONS[self.status]

    def ensure_can(self, target: ReturnStatus) -> None:
        if not self.can(target):
            raise IllegalTransitionError(
                f"cannot move return from '{self.status}' to '{target}'",
                details=[{"current_status": str(self.status), "requested_status": str(target)}],
            )

    def opened(self, actor: str) -> None:
        """Record the request itself (history and timeline)."""
        self.history.append(Transition(str(R.REQUESTED), self.created_at, actor))
        self.events.append(
            DomainEvent(
                "return_requested",
                self.created_at,
                actor,
                {
                    "return_id": self.id,
                    "rma": self.number,
                    "to": "requested",
                    "reason": self.reason,
                    "resolution": self.resolution,
                    "lines": [{"sku": line.sku, "quantity": line.quantity} for line in self.lines],
                },
            )
        )

    def _move(self, target: ReturnStatus, at: datetime, actor: str, reason: str | None = None, **data: Any) -> None:
        self.ensure_can(target)
        previous, self.status = self.status, target
        self.history.append(Transition(str(target), at, actor, reason))
        extra = {"reason": reason} if reason else {}
        self.events.append(
            DomainEvent(
                f"return_{target}",
                at,
                actor,
                {"return_id": self.id, "rma": self.number, "from": str(previous), "to": str(target), **extra, **data},
            )
        )

    def approve(self, at: datetime, actor: str, receipt_days: int) -> None:
        self._move(R.APPROVED, at, actor, receive_by=_iso(at + timedelta(days=receipt_days)))
        self.receive_by = at + timedelta(days=receipt_days)

    def reject(self, at: datetime, actor: str, reason: str) -> None:
        self._move(R.REJECTED, at, actor, reason)
        self.rejection_reason = reason

    def cancel(self, at: datetime, actor: str, reason: str | None = None) -> None:
        self._move(R.CANCELLED, at, actor, reason)

    def expire(self, at: datetime) -> None:
        self._move(R.EXPIRED, at, "returns_sweep", "not received in time")

    def receive(self, at: datetime, actor: str, lines: list[ReturnLine], quote: RefundQuote | None) -> None:
        """Record what arrived (lines with conditions) and, for a refund, what is owed."""
        self._move(R.RECEIVED, at, actor, refund_amount=quote.total if quote else None)
        self.lines, self.received_at = lines, at
        if quote is not None:
            self.refund_amount, self.shipping_refund = quote.total, quote.shipping
            self.refund_taxes = [tuple(rate) for rate in quote.by_rate]  # type: ignore[misc]
            quoted = {line.sku: line for line in quote.lines}
            self.lines = [_with_refund(line, quoted.get(line.sku)) for line in lines]

    def restock(self) -> dict[str, int]:
        """Units to put back into stock (only after receipt; the write is the receipt's)."""
        return {line.sku: line.restockable for line in self.lines if line.restockable}

    def exchanged(self, at: datetime, replacement_order_id: str) -> None:
        self._move(R.EXCHANGED, at, "returns", replacement_order_id=replacement_order_id)

    def refunded(self, at: datetime, amount: int, event_id: str) -> None:
        self._move(R.REFUNDED, at, "payment_provider", amount=amount)
        self.refund_event_id, self.refunded_amount = event_id, amount

    def hold(self, hold: ReturnHold, at: datetime, actor: str) -> None:
        self.holds.append(hold)
        self.events.append(
            DomainEvent(
                "return_held", at, actor, {"return_id": self.id, "rma": self.number, "code": hold.code, **hold.data}
            )
        )


def _with_refund(line: ReturnLine, quoted: QuotedLine | None) -> ReturnLine:
    return replace(line, refund_amount=quoted.amount if quoted else 0, refund_tax=quoted.tax if quoted else 0)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def rma_number(return_id: str) -> str:
    """A short, unambiguous RMA number from the return's ULID (its 50 random bits)."""
    body = return_id.split("_", 1)[1]
    return f"RMA-{body[-10:-5]}-{body[-5:]}"


# --- what may go back --------------------------------------------------------------------


@dataclass(frozen=True)
class Eligibility:
    """Per SKU: units delivered, delivered within the window, and already returned."""

    delivered: dict[str, int]
    in_window: dict[str, int]
    returned: dict[str, int]

    def returnable(self, sku: str) -> int:
        left = self.delivered.get(sku, 0) - self.returned.get(sku, 0)
        return max(0, min(left, self.in_window.get(sku, 0)))


@dataclass(frozen=True)
class ReturnTally:
    """An order's returns in brief, kept beside them so that a new return need not read them all.

    `count`: the returns created; `held`: by return id, the units each still holds; `back`: by
    return id, the units each brought back for a refund; `receipts`: the receipts counted (each
    receipt writes conditionally on the count it read, so two never decide on the same picture).
    A return written before the tally (or its `back` line) was kept is missing there until its
    next change: then the tally is incomplete in that respect, and only the returns themselves tell."""

    count: int = 0
    held: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    back: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    receipts: int = 0

    @property
    def complete(self) -> bool:
        return len(self.held) == self.count

    @property
    def knows_what_came_back(self) -> bool:
        return self.complete and self.held.keys() <= self.back.keys()

    def units(self) -> dict[str, int]:
        return _sum_units(self.held.values())


def _sum_units(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for units in parts:
        for sku, quantity in units.items():
            total[sku] = total.get(sku, 0) + quantity
    return total


def tally_of(returns: Iterable[Return]) -> ReturnTally:
    """The tally the returns themselves give (all of the order's returns). Its `receipts` counts the
    returns received; the stored counter counts only receipts written since it was kept."""
    returns = list(returns)
    held = {ret.id: ret.held_units for ret in returns}
    back = {ret.id: ret.units_back_for_refund for ret in returns}
    return ReturnTally(len(held), held, back, sum(1 for ret in returns if ret.status in BACK))


def eligibility(order: Order, returns: Iterable[Return] | ReturnTally, now: datetime, window_days: int) -> Eligibility:
    """What of the order can still be returned at `now` (window counted from each delivery),
    given its returns or their complete tally."""
    delivered: dict[str, int] = {}
    in_window: dict[str, int] = {}
    for shipment in order.shipments:
        if shipment.status != "delivered":
            continue
        delivered_at = shipment.delivered_at or order.delivered_at
        open_window = delivered_at is not None and now <= delivered_at + timedelta(days=window_days)
        for line in shipment.lines:
            delivered[line.sku] = delivered.get(line.sku, 0) + line.quantity
            if open_window:
                in_window[line.sku] = in_window.get(line.sku, 0) + line.quantity
    tally = returns if isinstance(returns, ReturnTally) else tally_of(returns)
    if not tally.complete:
        raise ValueError("an incomplete tally cannot tell what was returned: read the returns")
    return Eligibility(delivered, in_window, tally.units())


def check_request(
    order: Order,
    requested: Sequence[tuple[str, int]],
    eligible: Eligibility,
    not_returnable: Iterable[str],
) -> None:
    """Raise unless every requested line may go back (409: nothing delivered; 422 naming the lines)."""
    if not eligible.delivered:
        raise ConflictError(
            "nothing of this order has been delivered yet",
            details=[{"order_status": str(order.status)}],
            code="order_not_delivered",
        )
    blocked = set(not_returnable)
    problems: list[dict[str, Any]] = []
    for sku, quantity in requested:
        if sku in blocked:
            problems.append({"sku": sku, "problem": "not_returnable"})
        elif eligible.delivered.get(sku, 0) == 0:
            problems.append({"sku": sku, "problem": "not_delivered"})
        elif eligible.in_window.get(sku, 0) == 0:
            problems.append({"sku": sku, "problem": "return_window_closed"})
        elif quantity > eligible.returnable(sku):
            problems.append(
                {"sku": sku, "problem": "too_many_units", "requested": quantity, "returnable": eligible.returnable(sku)}
            )
    if problems:
        closed = all(p["problem"] == "return_window_closed" for p in problems)
        names = ", ".join(f"{p['sku']} ({p['problem']})" for p in problems)
        raise ValidationError(
            f"these lines cannot be returned: {names}",
            details=problems,
            code="return_window_closed" if closed else "lines_not_returnable",
        )


def request_lines(order: Order, requested: Sequence[tuple[str, int]]) -> list[ReturnLine]:
    """The return's lines with the order's price and tax rate for each SKU."""
    by_sku = {line.sku: line for line in order.lines}
    return [
        ReturnLine(sku, quantity, by_sku[sku].name, by_sku[sku].unit_price, by_sku[sku].tax_rate_bps)
        for sku, quantity in requested
    ]


def received_lines(ret: Return, conditions: Mapping[str, tuple[int, str]] | None) -> list[ReturnLine]:
    """The lines as received: by default every unit, restockable; else per line (sku → quantity, condition).

    A line may come back with fewer units than requested, never more, and never a SKU not on the return."""
    if not conditions:
        return [_received(line, line.quantity, "restockable") for line in ret.lines]
    units = ret.units
    problems = [
        {
            "sku": sku,
            "problem": "not_on_return" if sku not in units else "too_many_units",
            "requested": units.get(sku, 0),
        }
        for sku, (quantity, _) in conditions.items()
        if quantity > units.get(sku, 0)
    ]
    if problems:
        raise ValidationError("received lines must be lines of the return", details=problems, code="invalid_receipt")
    return [
        _received(line, conditions[line.sku][0], conditions[line.sku][1])
        for line in ret.lines
        if line.sku in conditions
    ]


def _received(line: ReturnLine, quantity: int, condition: str) -> ReturnLine:
    restockable = quantity if condition == "restockable" else 0
    return replace(line, quantity=quantity, restockable=restockable, damaged=quantity - restockable)


# --- what is owed -------------------------------------------------------------------------


@dataclass(frozen=True)
class QuotedLine:
    sku: str
    quantity: int
    tax_rate_bps: int
    net: int
    tax: int

    @property
    def amount(self) -> int:
        return self.net + self.tax


@dataclass(frozen=True)
class RefundQuote:
    """The refund of a return: per line (net + its share of the rate's tax) and shipping."""

    lines: tuple[QuotedLine, ...]
    shipping_net: int
    shipping_tax: int
    by_rate: tuple[tuple[int, int, int], ...]  # (rate, net, tax): tax computed per rate, as on the invoice

    @property
    def shipping(self) -> int:
        return self.shipping_net + self.shipping_tax

    @property
    def total(self) -> int:
        return sum(net + tax for _, net, tax in self.by_rate)

    @property
    def per_sku(self) -> dict[str, int]:
        return {line.sku: line.amount for line in self.lines}


def refund_quote(
    order: Order,
    lines: Sequence[ReturnLine],
    whole_order: bool,
    reason: str,
    earlier: Iterable[Sequence[tuple[int, int, int]]] = (),
    *,
    shipping_refunded_before: bool = False,
) -> RefundQuote:
    """Unit price incl. tax per returned unit, less the line's share of order discounts (so refunds never
    exceed what was paid); shipping only when the whole order comes back through the shop's fault.

    The receipt that completes the order (`whole_order`) refunds at most what remains of what was
    paid, per tax rate — `earlier` are the (rate, net, tax) refunds of the order's other returns —
    and exactly that when it refunds shipping too: the order's refunds then add up to its total to
    the cent however many parcels it took, and never to a cent more. Shipping goes back once:
    not again if an earlier receipt refunded it (`shipping_refunded_before`)."""
    totals = order.totals
    order_lines = list(order.lines)
    line_discounts = dict(
        zip(
            (line.sku for line in order_lines),
            allocate(totals.discount_total, [line_.line_total for line_ in order_lines]),
            strict=True,
        )
    )
    quantities = {line.sku: line.quantity for line in order_lines}
    nets: list[tuple[str, int, int, int]] = []  # sku, quantity, rate, net
    for line in lines:
        if line.quantity <= 0:
            continue
        # Ceiling share of the discount: the sum over every return never exceeds the order's net.
        share = -(-line_discounts.get(line.sku, 0) * line.quantity // quantities[line.sku])
        nets.append((line.sku, line.quantity, line.tax_rate_bps, line.unit_price * line.quantity - share))
    shipping_by_rate: dict[int, int] = {}
    if whole_order and reason in SHOP_FAULT and totals.shipping_fee and not shipping_refunded_before:
        goods: dict[int, int] = {}
        for ordered in order_lines:
            goods[ordered.tax_rate_bps] = goods.get(ordered.tax_rate_bps, 0) + ordered.line_total
        rates = sorted(goods)
        shipping_by_rate = dict(zip(rates, allocate(totals.shipping_fee, [goods[r] for r in rates]), strict=True))
    rate_net: dict[int, int] = {}
    for _, _, rate, net in nets:
        rate_net[rate] = rate_net.get(rate, 0) + net
    for rate, net in shipping_by_rate.items():
        rate_net[rate] = rate_net.get(rate, 0) + net
    rate_tax = {rate: tax_for(net, rate) for rate, net in rate_net.items()}
    if whole_order:
        exact = bool(shipping_by_rate)  # shipping covers every rate of the goods
        for rate, (left_net, left_tax) in _left_to_refund(totals.taxes, earlier).items():
            if rate not in rate_net:
                continue
            net = left_net if exact else max(0, min(rate_net[rate], left_net))
            tax = left_tax if exact else max(0, min(rate_tax[rate], left_tax))
            # The rounding of the discount's shares goes to this rate's lines, last first (or its shipping).
            _adjust_nets(nets, rate, net - rate_net[rate], shipping_by_rate)
            rate_net[rate], rate_tax[rate] = net, tax
    by_rate = tuple((rate, net, rate_tax[rate]) for rate, net in sorted(rate_net.items()))
    quoted: list[QuotedLine] = []
    shipping_tax = 0
    for rate, _, tax in by_rate:
        members = [n for n in nets if n[2] == rate]
        shares = allocate(tax, [n[3] for n in members] + [shipping_by_rate.get(rate, 0)])
        quoted += [
            QuotedLine(sku, qty, rate, net, part) for (sku, qty, _, net), part in zip(members, shares, strict=False)
        ]
        shipping_tax += shares[-1]
    return RefundQuote(tuple(quoted), sum(shipping_by_rate.values()), shipping_tax, by_rate)


def _adjust_nets(
    nets: list[tuple[str, int, int, int]], rate: int, delta: int, shipping_by_rate: dict[int, int]
) -> None:
    """Move the rate's net by `delta`: onto its last line, a cut spread back over its lines so none
    goes below zero; shipping takes what no line of the rate can."""
    for index in reversed([i for i, n in enumerate(nets) if n[2] == rate]):
        if not delta:
            return
        sku, qty, _, net = nets[index]
        step = delta if delta > 0 else max(delta, -net)
        nets[index] = (sku, qty, rate, net + step)
        delta -= step
    if delta:
        shipping_by_rate[rate] = shipping_by_rate.get(rate, 0) + delta


def _left_to_refund(
    paid: Iterable[TaxBreakdown], earlier: Iterable[Sequence[tuple[int, int, int]]]
) -> dict[int, tuple[int, int]]:
    """Per rate, the (net, tax) paid less what earlier refunds gave back."""
    left = {line.rate_bps: (line.net, line.tax) for line in paid}
    for refund in earlier:
        for rate, net, tax in refund:
            paid_net, paid_tax = left.get(rate, (0, 0))
            left[rate] = (paid_net - net, paid_tax - tax)
    return left


def whole_order_returned(order: Order, ret: Return, others: Iterable[Return] | ReturnTally) -> bool:
    """True when this return's lines, with what the order's other returns already brought back for
    a refund (arrived, not merely requested), cover every unit of the order: so only the receipt
    that completes the order refunds its shipping, once however many returns it took.
    `others`: the order's returns, or their tally if it knows what each brought back."""
    tally = others if isinstance(others, ReturnTally) else tally_of(others)
    if not tally.knows_what_came_back:
        raise ValueError("an incomplete tally cannot tell what was returned: read the returns")
    covered = _sum_units(units for rid, units in tally.back.items() if rid != ret.id)
    for line in ret.lines:
        covered[line.sku] = covered.get(line.sku, 0) + line.quantity
    return all(covered.get(line.sku, 0) >= line.quantity for line in order.lines)
