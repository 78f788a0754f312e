"""A return's effects as durable intents: the customer's message per step, the credit note, the exchange.

Planned from each change of a return item on the stream (recorded before any is
attempted, like an order's), performed by the intent runner and finished by its
retry schedule. Each is idempotent: the credit note by its document key, the
replacement order by the id the return already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.documents.invoice import DocumentError
from chalicelib.domain.errors import NotFoundError
from chalicelib.domain.orders import DomainEvent, Order
from chalicelib.domain.returns import Return, ReturnStatus
from chalicelib.notify.milestones import Milestone, return_milestones
from chalicelib.services.documents import DocumentService
from chalicelib.services.intents import DOCUMENTS_LANE, DONE, Intent, Outcome, PermanentEffectError
from chalicelib.services.returns import ReturnService

RETURN = "return"  # the intent kind
CREDIT_NOTE, EXCHANGE = "credit_note", "exchange"


class MessagePlanner(Protocol):
    def plan_messages(self, order: Order, found: list[Milestone]) -> list[Intent]: ...


@dataclass
class ReturnIntents:
    """Planner (from return changes) and handler of "return" intents."""

    returns: ReturnService
    documents: DocumentService
    messages: MessagePlanner

    def plan(self, before: Return | None, after: Return, order: Order) -> list[Intent]:
        found = return_milestones(before, after)
        intents = self.messages.plan_messages(order, found) if found else []
        arrived = after.status == ReturnStatus.RECEIVED and (before is None or before.status != ReturnStatus.RECEIVED)
        if arrived and after.refund_amount:
            intents.append(
                Intent(
                    order.id,
                    RETURN,
                    f"{CREDIT_NOTE}#{after.id}",
                    {"return": after.id, "do": CREDIT_NOTE},
                    lane=DOCUMENTS_LANE,  # rendered by the documents function
                )
            )
        if arrived and after.resolution == "exchange":
            intents.append(Intent(order.id, RETURN, f"{EXCHANGE}#{after.id}", {"return": after.id, "do": EXCHANGE}))
        return intents

    def perform(self, intent: Intent, now: datetime) -> Outcome:
        try:
            # As it is now (the index may lag the change whose stream record brought this intent).
            ret = self.returns.get(str(intent.payload["return"]), consistent=True)
        except NotFoundError as error:
            raise PermanentEffectError("the return does not exist") from error
        if intent.payload.get("do") == CREDIT_NOTE:
            order = self.returns.orders.get(ret.order_id)
            if order is None:
                raise PermanentEffectError("the order does not exist")
            try:
                document = self.documents.issue_return_credit_note(order, ret)
            except DocumentError as error:  # cannot be built: no retry changes that
                raise PermanentEffectError(str(error)) from error
            self.returns.returns.set_credit_note(ret, document.id, document.number)
            return Outcome(DONE, None, "issued")
        self.returns.finish(ret)
        return Outcome(DONE, None, "exchanged")

    def failed(self, intent: Intent, reason: str, now: datetime) -> DomainEvent:
        return DomainEvent("return_effect_failed", now, "returns", {"effect": intent.key, "reason": reason})
