"""Return use cases: request, approve, reject, cancel, receive, refund matching, exchange, expiry sweep.

Each change is read → domain method → one conditional TransactWriteItems (the return's
version, its timeline entries, stock, its receipt timer). What follows a change — the
customer's notification, the credit note, the replacement order, the outbound
`return.updated` / `refund.requested` webhooks — is finished from the table's stream
(and, for the replacement, also right away by the request), each step idempotent, so
a retry or a race never does it twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.accuracy import PRICE_MISMATCH, check_order
from chalicelib.domain.calendar import BusinessCalendar
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import ConflictError, NotFoundError, OrderCareError, ValidationError
from chalicelib.domain.ids import has_prefix, new_id
from chalicelib.domain.order_numbers import new_order_number
from chalicelib.domain.orders import Order, OrderLine, Payment, Refund, owned_order
from chalicelib.domain.returns import (
    BACK,
    REFUND_MISMATCH,
    RefundQuote,
    Return,
    ReturnHold,
    ReturnStatus,
    ReturnTally,
    check_request,
    eligibility,
    received_lines,
    refund_quote,
    request_lines,
    rma_number,
    whole_order_returned,
)
from chalicelib.observability import get_logger
from chalicelib.services.ports import (
    CatalogRepository,
    Clock,
    OrderNumberTakenError,
    OrderRepository,
    Page,
    StaleVersionError,
    StoredResponse,
)

if TYPE_CHECKING:
    from chalicelib.services.orders import IdempotentRequest, OrderService

RequestRead = tuple[Order, Mapping[str, CatalogItem], ReturnTally]  # what a new return reads in one round trip
KEEP_TRYING = timedelta(hours=24)  # the retry window of an expiry that keeps losing write races
ATTEMPTS = 6  # concurrent receives: one wins, the others re-read the finished return
NUMBER_ATTEMPTS = 8  # human numbers drawn for a replacement order (each a conditional claim)


class ReturnRepository(Protocol):
    def for_order(self, order_id: str) -> tuple[list[Return], ReturnTally]: ...

    def order_for_request(
        self, order_id: str, skus: Iterable[str]
    ) -> tuple[Order | None, Mapping[str, CatalogItem], ReturnTally]:
        """The order, the catalogue items of these SKUs and the order's return tally, in one round trip."""
        ...

    def by_id(self, return_id: str, *, consistent: bool = False) -> Return | None:
        """The return with this id — by default from an index that may lag a change just made;
        `consistent`: as it is now (what a refusal, a lost race or a follow-up decides on)."""
        ...

    def get(self, order_id: str, return_id: str) -> Return | None: ...

    def list_by_status(self, status: str, *, limit: int, start: dict[str, Any] | None) -> Page: ...

    def create(
        self,
        ret: Return,
        tally: ReturnTally,
        response: StoredResponse | None = None,
    ) -> None: ...

    def save(
        self,
        ret: Return,
        *,
        stock: dict[str, int] | None = None,
        timer_create: datetime | None = None,
        timer_delete: datetime | None = None,
        require_timer: bool = False,
        receipts: int | None = None,
        response: StoredResponse | None = None,
    ) -> None:
        """Write the change; its timeline entries follow the order at `ret.order_version` (checked in
        the same write, which follows the order if it moved on). `receipts`: a receipt, decided on a
        tally that had counted so many (refused as stale if another receipt was counted since)."""
        ...

    def set_credit_note(self, ret: Return, document_id: str, number: str) -> None: ...


class ReturnTimers(Protocol):
    def due(self, now: datetime, real_now: datetime) -> tuple[list[tuple[str, str, datetime]], datetime]: ...

    def advance(self, through: datetime, keep: Sequence[datetime] = ()) -> None:
        """Move the cursor to `through`, but not past the hour of a deadline in `keep`."""
        ...

    def discard(self, return_id: str, order_id: str, due_at: datetime) -> None: ...


class CursorCodec(Protocol):
    def encode(self, scope: str, key: dict[str, Any] | None) -> str | None: ...

    def decode(self, scope: str, cursor: str | None) -> dict[str, Any] | None: ...


ReturnPresenter = Callable[[Return], dict[str, Any]]


@dataclass
class ReturnReply:
    """An idempotent request being answered: its response is written in the change's own transaction."""

    request: IdempotentRequest
    present: ReturnPresenter
    status: int
    body: dict[str, Any] | None = None

    def record(self, ret: Return, answers: OrderService) -> StoredResponse:
        self.body = self.present(replace(ret, version=ret.version + 1))  # the version being written
        return answers.stored(self.request, self.status, self.body)


@dataclass(frozen=True)
class RequestReturn:
    lines: list[tuple[str, int]]
    reason: str
    resolution: str
    comment: str | None = None


@dataclass
class ReturnService:
    returns: ReturnRepository
    orders: OrderRepository
    catalog: CatalogRepository
    timers: ReturnTimers
    calendar: BusinessCalendar
    clock: Clock
    cursors: CursorCodec
    supported_countries: tuple[str, ...]
    answers: OrderService | None = None  # idempotency records: stored and replayed as for orders
    window_days: int = 30
    receipt_days: int = 30

    def answer(
        self,
        request: IdempotentRequest | None,
        present: ReturnPresenter,
        status: int,
        run: Callable[[ReturnReply | None], Return],
    ) -> tuple[int, dict[str, Any]]:
        """Run a return change as the answer to a request; with an Idempotency-Key the response is
        written in the change's transaction, so concurrent retries change it once and answer alike."""
        from chalicelib.services.idempotency import answer_once

        if request is None or self.answers is None:
            return status, present(run(None))
        reply = ReturnReply(request, present, status)

        def change() -> tuple[int, dict[str, Any]]:
            ret = run(reply)
            return status, reply.body if reply.body is not None else present(ret)

        return answer_once(self.answers.idempotency, request, change)

    def _stored(self, reply: ReturnReply | None, ret: Return) -> StoredResponse | None:
        return reply.record(ret, self.answers) if reply is not None and self.answers is not None else None

    # --- reading ---------------------------------------------------------------------

    def _order(self, order_id: str, customer_id: str | None = None) -> Order:
        return owned_order(self.orders.get(order_id) if has_prefix(order_id, "ord") else None, customer_id)

    def _request_read(
        self,
        order_id: str,
        customer_id: str | None,
        skus: list[str],
        read: RequestRead | None,
    ) -> RequestRead:
        """The order (the customer's own, else 404), the lines' catalogue items and the order's
        return tally: one round trip (none when the caller read them for this request)."""
        order: Order | None
        if read is not None and read[0].id == order_id and set(skus) <= set(read[1]):
            order, catalog, tally = read
        elif has_prefix(order_id, "ord"):
            order, catalog, tally = self.returns.order_for_request(order_id, skus)
        else:
            order, catalog, tally = None, {}, ReturnTally()
        return owned_order(order, customer_id), catalog, tally

    def get(self, return_id: str, *, customer_id: str | None = None, consistent: bool = False) -> Return:
        """The return (one read); for customers (`customer_id` given) only their own — otherwise 404."""
        ret = self.returns.by_id(return_id, consistent=consistent) if has_prefix(return_id, "ret") else None
        if ret is None or (customer_id is not None and ret.customer_id != customer_id):
            raise NotFoundError("return not found")
        return ret

    def for_order(self, order_id: str) -> list[Return]:
        """Every return of an order, oldest first (for the order's story)."""
        return sorted(self.returns.for_order(order_id)[0], key=lambda r: r.created_at)

    def queue(self, status: str, *, limit: int, cursor: str | None) -> tuple[list[Return], str | None]:
        """Returns in one status, oldest first."""
        if status not in ReturnStatus.__members__.values():
            raise ValidationError(
                "unknown status", details=[{"field": "status", "allowed": [str(s) for s in ReturnStatus]}]
            )
        scope = f"returns:{status}"
        page = self.returns.list_by_status(status, limit=limit, start=self.cursors.decode(scope, cursor))
        return page.items, self.cursors.encode(scope, page.last_key)

    # --- requesting ------------------------------------------------------------------

    def request(
        self,
        order_id: str,
        command: RequestReturn,
        actor: str,
        *,
        customer_id: str | None,
        reply: ReturnReply | None = None,
        read: RequestRead | None = None,
    ) -> Return:
        """Open a return for delivered units within the window (409 nothing delivered, 422 per line).

        What was returned already comes from the order's tally, read with the order: one read, one
        write. Only an order whose older returns predate the tally reads them (one Query more).
        `read`: the order, the lines' catalogue items and the tally, as the caller read them for
        this request (the portal, with its session); a retry after a lost race reads them again."""
        skus = [sku for sku, _ in command.lines]
        for attempt in range(ATTEMPTS):
            now = self.clock.now()
            order, catalog, tally = self._request_read(order_id, customer_id, skus, read if attempt == 0 else None)
            returned: ReturnTally | list[Return] = tally
            if not tally.complete:
                returned, tally = self.returns.for_order(order.id)
            blocked = [sku for sku, item in catalog.items() if not item.returnable]
            check_request(order, command.lines, eligibility(order, returned, now, self.window_days), blocked)
            return_id = new_id("ret", now)
            ret = Return(
                id=return_id,
                number=rma_number(return_id),
                order_id=order.id,
                customer_id=order.customer.id,
                currency=order.currency,
                lines=request_lines(order, command.lines),
                reason=command.reason,
                resolution=command.resolution,
                created_at=now,
                comment=command.comment,
                order_version=order.version,
            )
            ret.opened(actor)
            try:
                self.returns.create(ret, tally, self._stored(reply, ret))
                return ret
            except StaleVersionError:
                if attempt == ATTEMPTS - 1:
                    raise
                _pause(attempt)
        raise AssertionError("unreachable")

    # --- changing --------------------------------------------------------------------

    def _change(
        self,
        return_id: str,
        change: Callable[[Return], dict[str, Any] | None],
        *,
        customer_id: str | None = None,
        reply: ReturnReply | None = None,
    ) -> Return:
        """Read, apply, write conditionally; a lost race is retried from a fresh read.

        `change` returns the save's keyword arguments, or None when nothing is to be written.
        The first read is the index's, which may lag a change just made: the write's version
        condition catches a stale read that leads to a write, and a refusal or a "nothing to do"
        is only answered from a strongly consistent read."""
        consistent = False
        for attempt in range(ATTEMPTS):
            ret = self.get(return_id, customer_id=customer_id, consistent=consistent)
            try:
                effects = change(ret)
            except OrderCareError:
                if consistent:
                    raise
                consistent = True  # perhaps refused on a stale copy: decide on the return as it is
                continue
            if effects is None:
                if consistent:
                    return ret
                consistent = True
                continue
            consistent = True  # a lost race: the next read must see the winner
            try:
                self.returns.save(ret, **effects, response=self._stored(reply, ret))
                return ret
            except StaleVersionError:
                if attempt == ATTEMPTS - 1:
                    raise
                _pause(attempt)
        raise AssertionError("unreachable")

    def approve(self, return_id: str, actor: str, *, reply: ReturnReply | None = None) -> Return:
        now = self.clock.now()

        def change(ret: Return) -> dict[str, Any]:
            ret.approve(now, actor, self.receipt_days)
            return {"timer_create": ret.receive_by}

        return self._change(return_id, change, reply=reply)

    def reject(self, return_id: str, reason: str, actor: str, *, reply: ReturnReply | None = None) -> Return:
        now = self.clock.now()

        def change(ret: Return) -> dict[str, Any]:
            ret.reject(now, actor, reason)
            return {}

        return self._change(return_id, change, reply=reply)

    def cancel(
        self,
        return_id: str,
        actor: str,
        *,
        customer_id: str | None,
        reason: str | None = None,
        reply: ReturnReply | None = None,
    ) -> Return:
        now = self.clock.now()

        def change(ret: Return) -> dict[str, Any]:
            timer = ret.receive_by if ret.status == ReturnStatus.APPROVED else None
            ret.cancel(now, actor, reason)
            return {"timer_delete": timer}

        return self._change(return_id, change, customer_id=customer_id, reply=reply)

    def receive(
        self,
        return_id: str,
        conditions: Mapping[str, tuple[int, str]] | None,
        actor: str,
        *,
        reply: ReturnReply | None = None,
    ) -> Return:
        """Record the parcel: restockable units back to stock once, the refund owed or the replacement order.

        A retried or racing receive finds the return received and only finishes what is left."""
        now = self.clock.now()

        def change(ret: Return) -> dict[str, Any] | None:
            if ret.status in BACK:
                return None  # already received: the answer is the return as it is
            ret.ensure_can(ReturnStatus.RECEIVED)
            # The order and the tally of its returns in one read (their returns only if the tally is incomplete).
            found, _, tally = self.returns.order_for_request(ret.order_id, [])
            order = owned_order(found)
            lines = received_lines(ret, conditions)
            quote = None
            if ret.resolution == "refund":
                quote = self._refund(order, replace(ret, lines=lines), tally)
            else:
                ret.replacement_order_id = new_id("ord", now)
            ret.receive(now, actor, lines, quote)
            if quote is not None and quote.total <= 0:
                ret.refunded(now, 0, "nothing-to-refund")  # e.g. a free replacement came back
            # Counted against the tally read: a receipt racing this one makes it decide again.
            return {"stock": ret.restock(), "timer_delete": ret.receive_by, "receipts": tally.receipts}

        ret = self._change(return_id, change, reply=reply)
        try:
            return self.finish(ret)
        except Exception:  # the receipt stands; the exchange intent (from the stream) finishes it
            get_logger().exception("exchange left to its intent", extra={"return_id": ret.id})
            return ret

    def _refund(self, order: Order, received: Return, tally: ReturnTally) -> RefundQuote:
        """What a received return refunds. The other returns are read only when the tally cannot
        tell what they brought back, or when this parcel completes the order and so refunds no
        more than what the others left of what was paid (their refunds are on them)."""
        returns = None if tally.knows_what_came_back else self.returns.for_order(order.id)[0]
        whole = whole_order_returned(order, received, tally if returns is None else returns)
        others_back = any(units for rid, units in tally.back.items() if rid != received.id)
        if whole and returns is None and others_back:
            returns = self.returns.for_order(order.id)[0]
        others = [other for other in returns or () if other.id != received.id]
        return refund_quote(
            order,
            received.lines,
            whole,
            received.reason,
            [other.refund_taxes for other in others],
            shipping_refunded_before=any(other.shipping_refund for other in others),
        )

    def finish(self, ret: Return) -> Return:
        """Bring a received exchange to its end: exactly one replacement order, then `exchanged`."""
        if ret.status != ReturnStatus.RECEIVED or ret.resolution != "exchange" or not ret.replacement_order_id:
            return ret
        replacement_id = ret.replacement_order_id
        if self.orders.get(replacement_id) is None:
            order = self._order(ret.order_id, None)
            self._place_replacement(order, ret)
        now = self.clock.now()

        def change(current: Return) -> dict[str, Any] | None:
            if current.status != ReturnStatus.RECEIVED:
                return None
            current.exchanged(now, replacement_id)
            return {}

        return self._change(ret.id, change)

    def _place_replacement(self, order: Order, ret: Return) -> None:
        for _ in range(NUMBER_ATTEMPTS):
            try:
                self.orders.add(self.replacement(order, ret, new_order_number()))
                return
            except StaleVersionError:  # another finisher wrote it (the id is the return's): that order stands
                return
            except OrderNumberTakenError:
                continue  # draw another human number
        raise ConflictError("could not assign the replacement an order number; retry", code="order_number_unavailable")

    def replacement(self, order: Order, ret: Return, number: str | None = None) -> Order:
        """The exchange's replacement: the received lines at no charge, placed and paid by `exchange`."""
        at = ret.received_at or self.clock.now()
        lines = [
            OrderLine(line_.sku, line_.quantity, 0, line_.tax_rate_bps, line_.name)
            for line_ in ret.lines
            if line_.quantity > 0
        ]
        catalog = self.catalog.get_many(line.sku for line in lines)
        found = check_order(lines, catalog, order.currency, order.shipping_address, self.supported_countries)
        promise = self.calendar.promise(at, order.shipping_method)
        replacement = Order.place(
            order_id=str(ret.replacement_order_id),
            number=number,
            customer=order.customer,
            currency=order.currency,
            lines=lines,
            shipping_address=order.shipping_address,
            shipping_method=order.shipping_method,
            shipping_fee=0,
            discounts=[],
            placed_at=at,
            ship_by=promise.ship_by,
            deliver_by=promise.deliver_by,
            holds=[hold for hold in found if hold.code != PRICE_MISMATCH],
            actor="returns",
        )
        # The zero price is intended: waived, so re-checks before processing do not hold it.
        replacement.waivers = [hold for hold in found if hold.code == PRICE_MISMATCH]
        replacement.replaces_order_id = order.id
        replacement.record_event("exchange_for", at, "returns", return_id=ret.id, rma=ret.number, order_id=order.id)
        replacement.record_payment(Payment(0, "exchange", f"exchange:{ret.id}", at), self.calendar, "returns")
        return replacement

    # --- refunds from the payment provider -------------------------------------------

    def on_refund(self, order: Order, refund: Refund) -> bool:
        """Match a provider refund to the return awaiting it (True: the return accounts for it).

        The right amount marks the return refunded; another amount is held on the
        oldest awaiting return for an agent. Unrelated refunds (no return waiting) → False."""
        for attempt in range(ATTEMPTS):
            returns, _ = self.returns.for_order(order.id)
            if any(r.refund_event_id == refund.event_id for r in returns) or any(
                h.code == REFUND_MISMATCH and h.data.get("event_id") == refund.event_id
                for r in returns
                for h in r.holds
            ):
                return True
            waiting = sorted(
                (r for r in returns if r.status == ReturnStatus.RECEIVED and r.resolution == "refund"),
                key=lambda r: r.created_at,
            )
            if not waiting:
                return False
            match = next((r for r in waiting if r.refund_amount == refund.amount), None)
            if match is not None:
                match.refunded(refund.refunded_at, refund.amount, refund.event_id)
                target = match
            else:
                target = waiting[0]
                target.hold(
                    ReturnHold(
                        REFUND_MISMATCH,
                        f"the provider refunded {refund.amount}, the return expects {target.refund_amount}",
                        {"event_id": refund.event_id, "expected": target.refund_amount, "received": refund.amount},
                    ),
                    self.clock.now(),
                    "payment_provider",
                )
            target.order_version = max(target.order_version, order.version)  # the order in hand: no retried write
            try:
                self.returns.save(target)
                return True
            except StaleVersionError:
                if attempt == ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    # --- the sweep -------------------------------------------------------------------

    def sweep(self, now: datetime) -> dict[str, int]:
        """Expire approved returns not received by their deadline (reads only due timers).

        A deadline whose expiry kept losing races (`left`) keeps the cursor at its hour, so the
        next sweep reads it again, for up to KEEP_TRYING after the deadline; then it is given up
        with an error in the log (the return stays approved; an agent can still cancel it)."""
        due, through = self.timers.due(now, self.clock.now())
        outcome = {"due": len(due), "expired": 0, "stale": 0, "done": 0, "left": 0, "given_up": 0}
        left: list[datetime] = []
        for return_id, order_id, due_at in due:
            result = self._expire(return_id, order_id, due_at, now)
            if result == "left" and due_at <= now - KEEP_TRYING:
                # Past the retry window: the sweep must not re-read every hour since, for ever.
                get_logger().error("return expiry given up", extra={"return_id": return_id, "due_at": due_at})
                result = "given_up"
            outcome[result] += 1
            if result == "left":
                left.append(due_at)
        self.timers.advance(through, keep=left)
        return outcome

    def _expire(self, return_id: str, order_id: str, due_at: datetime, now: datetime) -> str:
        for attempt in range(ATTEMPTS):
            ret = self.returns.get(order_id, return_id)  # strongly consistent
            if ret is None or ret.status != ReturnStatus.APPROVED or ret.receive_by != due_at:
                if attempt:
                    return "done"  # received, cancelled or expired by someone else meanwhile
                self.timers.discard(return_id, order_id, due_at)
                return "stale"
            ret.expire(now)
            try:
                self.returns.save(ret, timer_delete=due_at, require_timer=True)
                return "expired"
            except StaleVersionError:  # a change of the return (read it again) or a write conflict
                _pause(attempt)
        return "left"


def _accounts_for(ret: Return, event_id: str) -> bool:
    """The return was marked refunded by, or holds a mismatch for, this provider event."""
    held = any(h.code == REFUND_MISMATCH and h.data.get("event_id") == event_id for h in ret.holds)
    return held or ret.refund_event_id == event_id


def _pause(attempt: int) -> None:
    # Jitter spreads racing writers so the next round has a winner.
    time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - not cryptographic # nosec B311


def check_conditions(lines: Sequence[tuple[str, int, str]] | None) -> dict[str, tuple[int, str]] | None:
    if not lines:
        return None
    skus = [sku for sku, _, _ in lines]
    if len(skus) != len(set(skus)):
        raise ValidationError("each sku once per receipt", details=[{"field": "lines"}])
    return {sku: (quantity, condition) for sku, quantity, condition in lines}
