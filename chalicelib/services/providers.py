"""Real providers' webhooks, applied through the same commands as the native ones.

A provider retries every non-2xx for days, so what cannot be applied (an order we
do not know, a payment for a cancelled order) is answered 200 with an outcome and
a log line, and stays inspectable — never a retry storm, never a second code path.
"""

from __future__ import annotations

from chalicelib.domain.errors import NotFoundError, OrderCareError
from chalicelib.domain.orders import STALLED
from chalicelib.observability import get_logger
from chalicelib.providers.aftership import AfterShipWebhook
from chalicelib.providers.stripe_events import PaymentCommand, StripeEvent, translate
from chalicelib.services.orders import CarrierUpdate, OrderService, PaymentEvent, StallReport


def apply_stripe(orders: OrderService, event: StripeEvent) -> str:
    """Apply a verified Stripe event; the outcome ("applied", "duplicate", "ignored", "unknown_order", …)."""
    commands = translate(event)
    if not commands:
        return "ignored"
    outcomes = [_apply(orders, event, command) for command in commands]
    return outcomes[0] if len(set(outcomes)) == 1 else ",".join(outcomes)


def _apply(orders: OrderService, event: StripeEvent, command: PaymentCommand) -> str:
    order_id = command.order_id or (orders.order_id_for_payment(command.payment_ref) if command.payment_ref else None)
    log = {"provider": "stripe", "stripe_event": event.id, "stripe_type": event.type, "order_id": order_id}
    if order_id is None:
        get_logger().warning("stripe event for no known order", extra=log)
        return "unknown_order"
    payment = PaymentEvent(
        event_id=command.event_id,
        order_id=order_id,
        amount=command.amount,
        provider_ref=command.provider_ref,
        status=command.status,
        currency=command.currency or None,
        reason=command.reason,
    )
    try:
        outcome = orders.payment_event(payment)
    except NotFoundError:
        get_logger().warning("stripe event for no known order", extra=log)
        return "unknown_order"
    except OrderCareError as error:
        get_logger().warning("stripe event not applicable", extra={**log, "reason": error.code})
        return f"not_applied:{error.code}"
    get_logger().info("stripe event applied", extra={**log, "outcome": outcome})
    return outcome


MAX_TEXT, MAX_LOCATION = 500, 200  # the native webhook's limits on `detail` and `location`


def _known_statuses() -> frozenset[str]:
    """The carrier statuses the order aggregate applies (the carrier status model)."""
    from chalicelib.domain.carriers import CARRIER_STATUSES

    return frozenset(CARRIER_STATUSES)


def apply_aftership(orders: OrderService, webhook: AfterShipWebhook) -> str:
    """Apply a verified AfterShip webhook through the native carrier command; the outcome."""
    from chalicelib.providers.aftership import describe, translate

    command = translate(webhook, orders.clock.now(), orders.calendar.end_of_day_utc)
    if command is None:
        return "ignored"
    log = {"provider": "aftership", "aftership_event": webhook.event_id, **describe(command)}
    stall = command.status == STALLED  # Expired: AfterShip heard nothing for too long — not a scan
    if not stall and command.status not in _known_statuses():
        get_logger().warning("aftership status not applied by this version", extra=log)
        return f"not_applied:{command.status}"
    try:
        if stall:
            outcome = orders.report_stall(
                StallReport(command.event_id, command.tracking_number, command.raw_tag, command.raw_subtag)
            )
        else:
            outcome = orders.carrier_event(
                CarrierUpdate(
                    command.event_id,
                    command.tracking_number,
                    command.status,
                    command.occurred_at,
                    command.estimated_delivery,
                    detail=command.detail[:MAX_TEXT] if command.detail else None,
                    location=command.location[:MAX_LOCATION] if command.location else None,
                    tag=command.raw_tag,
                    subtag=command.raw_subtag,
                )
            )
    except NotFoundError:
        get_logger().warning("aftership update for no known shipment", extra=log)
        return "unknown_tracking_number"
    except OrderCareError as error:
        get_logger().warning("aftership update not applicable", extra={**log, "reason": error.code})
        return f"not_applied:{error.code}"
    get_logger().info("aftership update applied", extra={**log, "outcome": outcome})
    return outcome
