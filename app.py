"""OrderCare's Chalice app: thin routes (parse → service → map), nothing heavy at import.

Services come from the lazy composition root in chalicelib/bootstrap.py; request
and response shapes from chalicelib/api/schemas/, which /openapi.json documents.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalice.app import Chalice, Rate, Response

from chalicelib.api.feedback_routes import feedback_routes
from chalicelib.api.http import Call, QueryParam, endpoint, json_response
from chalicelib.api.support_routes import support_routes
from chalicelib.bootstrap import get_container
from chalicelib.domain.catalog import SKU_RE, CatalogItem
from chalicelib.domain.errors import NotFoundError, ValidationError
from chalicelib.domain.order_status import OrderStatus
from chalicelib.web.desk import desk_routes
from chalicelib.web.portal import portal_routes
from chalicelib.web.routes import tracking_routes

# Cold start: routes name their models (pydantic is imported by the first request that parses a
# body) and views import the domain, services and presenters they use, so `import app` registers
# routes and little else.
if TYPE_CHECKING:
    from chalicelib.api import schemas as s
    from chalicelib.domain.orders import Order
    from chalicelib.services.orders import PlaceOrder, Reply

# Powertools' Logger owns the "ordercare" logger (structured JSON); Chalice's own handler would print twice.
app = Chalice(app_name="ordercare", configure_logs=False)


@app.middleware("http")
def uniform_errors(event: Any, get_response: Any) -> Response:
    """Give Chalice's own errors (405 wrong method, 415 not JSON) the documented error shape."""
    response: Response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = {405: "method_not_allowed", 415: "unsupported_media_type"}.get(response.status_code, "error")
        error = {"error": {"code": code, "message": body["Message"], "details": []}}
        headers = {str(name): str(value) for name, value in (response.headers or {}).items()}
        return json_response(response.status_code, error, {**headers, "Content-Type": "application/json"})
    return response


CATALOG_WRITERS = ("admin", "storefront")
ANY_ROLE = ("customer", "agent", "admin", "storefront")
STAFF = ("agent", "admin")
SKU_PATTERN_HELP = "letters, digits, '.', '_' or '-', up to 64 characters"


@endpoint(app, "/health", "GET", summary="Liveness", roles=None, responses={200: "Health"}, tags=("meta",))
def health(call: Call) -> Response:
    return json_response(200, {"status": "ok"})


@endpoint(
    app,
    "/openapi.json",
    "GET",
    summary="This OpenAPI document",
    roles=None,
    responses={200: None},
    tags=("meta",),
)
def openapi(call: Call) -> Response:
    from chalicelib.api.openapi import openapi_document

    return json_response(200, openapi_document())


# --- catalogue -----------------------------------------------------------------------


def _valid_sku(sku: str) -> str:
    if not SKU_RE.fullmatch(sku):
        raise ValidationError(f"invalid SKU: {SKU_PATTERN_HELP}", details=[{"field": "sku"}])
    return sku


@endpoint(
    app,
    "/v1/catalog/{sku}",
    "PUT",
    summary="Create or replace a catalogue item",
    roles=CATALOG_WRITERS,
    request="CatalogItemIn",
    responses={200: "CatalogItemOut"},
    tags=("catalogue",),
)
def put_catalog_item(call: Call, sku: str) -> Response:
    from chalicelib.presentation.presenters import present_catalog_item

    body: s.CatalogItemIn = call.body
    item = get_container().catalog.upsert(CatalogItem(sku=_valid_sku(sku), **body.model_dump()))
    return json_response(200, present_catalog_item(item))


@endpoint(
    app,
    "/v1/catalog/{sku}",
    "GET",
    summary="A catalogue item",
    roles=ANY_ROLE,
    responses={200: "CatalogItemOut"},
    tags=("catalogue",),
)
def get_catalog_item(call: Call, sku: str) -> Response:
    from chalicelib.presentation.presenters import present_catalog_item

    item = get_container().catalog.get(_valid_sku(sku))
    return json_response(200, present_catalog_item(item))


# --- checkout ------------------------------------------------------------------------


@endpoint(
    app,
    "/v1/delivery-estimates",
    "POST",
    summary="The delivery promise for a checkout",
    roles=("storefront",),
    request="DeliveryEstimateIn",
    responses={200: "DeliveryEstimateOut"},
    tags=("orders",),
)
def delivery_estimate(call: Call) -> Response:
    from chalicelib.presentation.presenters import iso

    body: s.DeliveryEstimateIn = call.body
    start_day, promise = get_container().estimates.estimate(body.shipping_method, body.country, body.at)
    return json_response(
        200,
        {
            "shipping_method": body.shipping_method,
            "country": body.country,
            "start_day": start_day.isoformat(),
            "ship_by": iso(promise.ship_by),
            "deliver_by": iso(promise.deliver_by),
        },
    )


# --- orders --------------------------------------------------------------------------


def _place_command(body: s.PlaceOrderIn) -> PlaceOrder:
    from chalicelib.domain.address import Address
    from chalicelib.domain.orders import Customer, Discount
    from chalicelib.services.orders import PlaceOrder

    return PlaceOrder(
        customer=Customer(**body.customer.model_dump()),
        currency=body.currency,
        lines=[(line.sku, line.quantity, line.unit_price) for line in body.lines],
        shipping_address=Address(**body.shipping_address.model_dump()),
        shipping_method=body.shipping_method,
        shipping_fee=body.shipping_fee,
        discounts=[Discount(d.code, d.amount) for d in body.discounts],
        billing_address=Address(**body.billing_address.model_dump()) if body.billing_address else None,
        buyer_reference=body.buyer_reference,
    )


@endpoint(
    app,
    "/v1/orders",
    "POST",
    summary="Place an order",
    roles=("storefront",),
    request="PlaceOrderIn",
    responses={201: "OrderOut"},
    idempotency="required",
    tags=("orders",),
)
def place_order(call: Call) -> Response:
    from chalicelib.presentation.presenters import present_order

    container = get_container()
    request = call.idempotent_request()
    assert request is not None  # required on this route
    status, body = container.orders.place(
        _place_command(call.body), request, call.actor, lambda order: present_order(call.settings, order)
    )
    return json_response(status, body)


def _owner_filter(call: Call) -> str | None:
    """Customers act on their own orders only; staff on any."""
    return call.caller.subject if call.caller.role == "customer" else None


@endpoint(
    app,
    "/v1/orders/{order_id}",
    "GET",
    summary="An order",
    roles=("customer", *STAFF, "storefront"),
    responses={200: "OrderOut"},
    tags=("orders",),
)
def get_order(call: Call, order_id: str) -> Response:
    from chalicelib.presentation.presenters import present_order

    order = get_container().orders.get(order_id, customer_id=_owner_filter(call))
    return json_response(200, present_order(call.settings, order))


LIST_QUERY = (
    QueryParam("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
    QueryParam("cursor", "next_cursor of the previous page", {"type": "string"}),
    QueryParam("status", "only orders in this status", {"type": "string", "enum": [str(v) for v in OrderStatus]}),
    QueryParam(
        "customer_id",
        "agents and admins: whose orders (they give this or `email`, unless `number` is given)",
        {"type": "string"},
    ),
    QueryParam(
        "email",
        "agents and admins: the orders placed with this address, whoever placed them (case ignored)",
        {"type": "string", "maxLength": 254, "examples": ["alice@example.com"]},
    ),
    QueryParam(
        "number",
        "the order's human number (any case, '-' optional): one order or none, in one round trip",
        {"type": "string", "maxLength": 20, "examples": ["K7QM-R3TE"]},
    ),
)


@endpoint(
    app,
    "/v1/orders",
    "GET",
    summary="Orders, newest first",
    roles=("customer", *STAFF),
    responses={200: "OrderListOut"},
    query=LIST_QUERY,
    tags=("orders",),
)
def list_orders(call: Call) -> Response:
    from chalicelib.presentation.presenters import present_order

    number = call.query.get("number")
    if number is not None:
        found = get_container().orders.find_by_number(number, customer_id=_owner_filter(call))
        matches = [present_order(call.settings, found)] if found else []
        return json_response(200, {"items": matches, "next_cursor": None})
    status = call.query.get("status")
    if status is not None and status not in OrderStatus.__members__.values():
        raise ValidationError("unknown status", details=[{"field": "status", "allowed": [str(v) for v in OrderStatus]}])
    limit, cursor = call.query_int("limit", default=20, low=1, high=100), call.query.get("cursor")
    email = call.query.get("email") if call.caller.role != "customer" else None
    if email is not None and call.query.get("customer_id") is None:
        orders, next_cursor = get_container().orders.list_for_email(email, limit=limit, cursor=cursor, status=status)
        return json_response(
            200, {"items": [present_order(call.settings, o) for o in orders], "next_cursor": next_cursor}
        )
    customer_id = _list_owner(call)
    if customer_id is None:  # a customer asking for someone else's list sees an empty one
        return json_response(200, {"items": [], "next_cursor": None})
    orders, next_cursor = get_container().orders.list_for_customer(
        customer_id, limit=limit, cursor=cursor, status=status
    )
    items: list[dict[str, Any]] = [present_order(call.settings, order) for order in orders]
    return json_response(200, {"items": items, "next_cursor": next_cursor})


def _list_owner(call: Call) -> str | None:
    """Whose list: a customer's own (another's is empty, `email` too: an address is not proof of owning it);
    staff name the customer (or give `email`, handled before)."""
    if call.caller.role == "customer":
        requested = call.query.get("customer_id")
        own = requested in (None, call.caller.subject) and call.query.get("email") is None
        return call.caller.subject if own else None
    customer_id = call.query.get("customer_id")
    if not customer_id:
        raise ValidationError("customer_id or email is required", details=[{"field": "customer_id"}])
    if call.query.get("email") is not None:
        raise ValidationError("give customer_id or email, not both", details=[{"field": "email"}])
    return customer_id


def _answer(call: Call, run: Callable[[Reply | None], Order], status: int = 200) -> Response:
    """Answer with the changed order; an Idempotency-Key's response is stored in the same transaction."""
    from chalicelib.presentation.presenters import present_order

    orders = get_container().orders
    code, body = orders.answer(call.idempotent_request(), lambda o: present_order(call.settings, o), status, run)
    return json_response(code, body)


# --- lifecycle -----------------------------------------------------------------------


@endpoint(
    app,
    "/v1/orders/{order_id}/payments",
    "POST",
    summary="Record the payment → paid",
    roles=("storefront",),
    request="PaymentIn",
    responses={201: "OrderOut"},
    idempotency="required",
    tags=("lifecycle",),
)
def record_payment(call: Call, order_id: str) -> Response:
    from chalicelib.domain.orders import Payment
    from chalicelib.presentation.presenters import present_order

    body: s.PaymentIn = call.body
    orders = get_container().orders
    payment = Payment(body.amount, body.method, body.provider_ref, orders.clock.now())
    request = call.idempotent_request()
    assert request is not None  # required on this route
    status, response = orders.pay(
        order_id, payment, request, call.actor, lambda order: present_order(call.settings, order)
    )
    return json_response(status, response)


@endpoint(
    app,
    "/v1/orders/{order_id}/cancel",
    "POST",
    summary="Cancel before shipment → cancelled",
    roles=("customer", "agent"),
    request="CancelIn",
    optional_body=True,
    responses={200: "OrderOut"},
    idempotency="optional",
    tags=("lifecycle",),
)
def cancel_order(call: Call, order_id: str) -> Response:
    body: s.CancelIn = call.body
    orders, owner = get_container().orders, _owner_filter(call)
    return _answer(call, lambda reply: orders.cancel(order_id, body.reason, call.actor, customer_id=owner, reply=reply))


@endpoint(
    app,
    "/v1/orders/{order_id}/processing",
    "POST",
    summary="Re-check accuracy and start processing",
    roles=STAFF,
    responses={200: "OrderOut"},
    tags=("lifecycle",),
    idempotency="optional",
)
def start_processing(call: Call, order_id: str) -> Response:
    orders = get_container().orders
    return _answer(call, lambda reply: orders.start_processing(order_id, call.actor, reply=reply))


@endpoint(
    app,
    "/v1/orders/{order_id}/holds/{code}/release",
    "POST",
    summary="Release a hold after review",
    roles=STAFF,
    request="ReleaseHoldIn",
    responses={200: "OrderOut"},
    tags=("lifecycle",),
    idempotency="optional",
)
def release_hold(call: Call, order_id: str, code: str) -> Response:
    body: s.ReleaseHoldIn = call.body
    orders = get_container().orders
    return _answer(call, lambda reply: orders.release_hold(order_id, code, body.reason, call.actor, reply=reply))


@endpoint(
    app,
    "/v1/orders/{order_id}/shipments",
    "POST",
    summary="Ship some or all unshipped units",
    roles=STAFF,
    request="ShipmentIn",
    responses={201: "OrderOut"},
    tags=("lifecycle",),
    idempotency="optional",
)
def create_shipment(call: Call, order_id: str) -> Response:
    from chalicelib.domain.orders import ShipmentLine

    body: s.ShipmentIn = call.body
    lines = [ShipmentLine(line.sku, line.quantity) for line in body.lines] if body.lines else None
    orders = get_container().orders

    def run(reply: Reply | None) -> Order:
        return orders.ship(order_id, body.carrier, body.tracking_number, lines, call.actor, reply=reply)[0]

    return _answer(call, run, 201)


@endpoint(
    app,
    "/v1/orders/{order_id}/timeline",
    "GET",
    summary="Everything that happened to the order",
    roles=("customer", *STAFF),
    responses={200: "TimelineOut"},
    query=LIST_QUERY[:2],  # limit, cursor
    tags=("orders",),
)
def order_timeline(call: Call, order_id: str) -> Response:
    entries, next_cursor = get_container().orders.timeline(
        order_id,
        customer_id=_owner_filter(call),
        limit=call.query_int("limit", default=20, low=1, high=100),
        cursor=call.query.get("cursor"),
    )
    from chalicelib.presentation.presenters import present_timeline_entry

    items = [present_timeline_entry(entry) for entry in entries]
    return json_response(200, {"order_id": order_id, "items": items, "next_cursor": next_cursor})


@endpoint(
    app,
    "/v1/orders/{order_id}/documents",
    "GET",
    summary="Invoices, receipts and credit notes of an order",
    roles=("customer", *STAFF),
    responses={200: "DocumentListOut"},
    tags=("orders",),
)
def order_documents(call: Call, order_id: str) -> Response:
    from chalicelib.presentation.presenters import present_document

    service = get_container().documents
    documents = service.for_customer(order_id, _owner_filter(call))  # 404 for someone else's order
    items = [
        present_document(document, service.download_url(document), service.xml_url(document)) for document in documents
    ]
    return json_response(200, {"order_id": order_id, "items": items})


# --- webhooks ------------------------------------------------------------------------


@endpoint(
    app,
    "/v1/webhooks/carrier",
    "POST",
    summary="Carrier tracking events (signed)",
    roles=None,
    request="CarrierWebhookIn",
    responses={200: "WebhookAck"},
    signed_by=lambda settings: settings.carrier_webhook_secrets,
    tags=("webhooks",),
)
def carrier_webhook(call: Call) -> Response:
    from chalicelib.services.orders import CarrierUpdate

    body: s.CarrierWebhookIn = call.body
    outcome = get_container().orders.carrier_event(
        CarrierUpdate(
            body.event_id,
            body.tracking_number,
            body.status,
            body.occurred_at,
            body.estimated_delivery,
            body.detail,
            body.location,
        )
    )
    return json_response(200, {"received": True, "outcome": outcome})


@endpoint(
    app,
    "/v1/webhooks/payment",
    "POST",
    summary="Payment provider events (signed)",
    roles=None,
    request="PaymentWebhookIn",
    responses={200: "WebhookAck"},
    signed_by=lambda settings: settings.payment_webhook_secrets,
    tags=("webhooks",),
)
def payment_webhook(call: Call) -> Response:
    from chalicelib.services.orders import PaymentEvent

    body: s.PaymentWebhookIn = call.body
    outcome = get_container().orders.payment_event(
        PaymentEvent(body.event_id, body.order_id, body.amount, body.provider_ref, body.status)
    )
    return json_response(200, {"received": True, "outcome": outcome})


# --- returns and exchanges ------------------------------------------------------------


def _present_return(call: Call) -> Callable[[Any], dict[str, Any]]:
    from chalicelib.presentation.presenters import present_return

    customer = call.caller.role == "customer"
    return lambda ret: present_return(ret, for_customer=customer)


def _return_response(call: Call, ret: Any, status: int = 200) -> Response:
    return json_response(status, _present_return(call)(ret))


def _return_answer(call: Call, run: Callable[[Any], Any], status: int = 200) -> Response:
    """Answer with the changed return; an Idempotency-Key's response is stored in the same transaction."""
    code, body = get_container().returns.answer(call.idempotent_request(), _present_return(call), status, run)
    return json_response(code, body)


@endpoint(
    app,
    "/v1/orders/{order_id}/returns",
    "POST",
    summary="Request a return of delivered units (refund or exchange)",
    roles=("customer", "agent"),
    request="ReturnIn",
    responses={201: "ReturnOut"},
    idempotency="optional",
    tags=("returns",),
)
def request_return(call: Call, order_id: str) -> Response:
    from chalicelib.services.returns import RequestReturn

    body: s.ReturnIn = call.body
    command = RequestReturn(
        lines=[(line.sku, line.quantity) for line in body.lines],
        reason=body.reason,
        resolution=body.resolution,
        comment=body.comment,
    )
    returns = get_container().returns
    owner = _owner_filter(call)
    return _return_answer(
        call, lambda reply: returns.request(order_id, command, call.actor, customer_id=owner, reply=reply), 201
    )


@endpoint(
    app,
    "/v1/returns/{return_id}",
    "GET",
    summary="A return",
    roles=("customer", *STAFF),
    responses={200: "ReturnOut"},
    tags=("returns",),
)
def get_return(call: Call, return_id: str) -> Response:
    return _return_response(call, get_container().returns.get(return_id, customer_id=_owner_filter(call)))


RETURN_QUERY = (
    *LIST_QUERY[:2],
    QueryParam(
        "status",
        "the queue of this status (default requested)",
        {
            "type": "string",
            "enum": ["requested", "approved", "rejected", "received", "refunded", "exchanged", "cancelled", "expired"],
        },
    ),
)


@endpoint(
    app,
    "/v1/returns",
    "GET",
    summary="The returns queue of one status, oldest first",
    roles=STAFF,
    responses={200: "ReturnListOut"},
    query=RETURN_QUERY,
    tags=("returns",),
)
def list_returns(call: Call) -> Response:
    from chalicelib.presentation.presenters import present_return

    returns, next_cursor = get_container().returns.queue(
        call.query.get("status") or "requested",
        limit=call.query_int("limit", default=20, low=1, high=100),
        cursor=call.query.get("cursor"),
    )
    return json_response(200, {"items": [present_return(r) for r in returns], "next_cursor": next_cursor})


@endpoint(
    app,
    "/v1/returns/{return_id}/approve",
    "POST",
    summary="Approve a requested return (it must then arrive within the receipt window)",
    roles=STAFF,
    responses={200: "ReturnOut"},
    idempotency="optional",
    tags=("returns",),
)
def approve_return(call: Call, return_id: str) -> Response:
    returns = get_container().returns
    return _return_answer(call, lambda reply: returns.approve(return_id, call.actor, reply=reply))


@endpoint(
    app,
    "/v1/returns/{return_id}/reject",
    "POST",
    summary="Reject a requested return, saying why",
    roles=STAFF,
    request="RejectReturnIn",
    responses={200: "ReturnOut"},
    idempotency="optional",
    tags=("returns",),
)
def reject_return(call: Call, return_id: str) -> Response:
    body: s.RejectReturnIn = call.body
    returns = get_container().returns
    return _return_answer(call, lambda reply: returns.reject(return_id, body.reason, call.actor, reply=reply))


@endpoint(
    app,
    "/v1/returns/{return_id}/cancel",
    "POST",
    summary="Cancel a return before it is received",
    roles=("customer", *STAFF),
    request="CancelReturnIn",
    optional_body=True,
    responses={200: "ReturnOut"},
    idempotency="optional",
    tags=("returns",),
)
def cancel_return(call: Call, return_id: str) -> Response:
    body: s.CancelReturnIn = call.body
    returns, owner = get_container().returns, _owner_filter(call)
    return _return_answer(
        call,
        lambda reply: returns.cancel(return_id, call.actor, customer_id=owner, reason=body.reason, reply=reply),
    )


@endpoint(
    app,
    "/v1/returns/{return_id}/receive",
    "POST",
    summary="Record the returned parcel: stock, credit note and refund request, or the replacement order",
    roles=STAFF,
    request="ReceiveReturnIn",
    optional_body=True,
    responses={200: "ReturnOut"},
    idempotency="optional",
    tags=("returns",),
)
def receive_return(call: Call, return_id: str) -> Response:
    from chalicelib.services.returns import check_conditions

    body: s.ReceiveReturnIn = call.body
    conditions = check_conditions(
        [(line_.sku, line_.quantity, line_.condition) for line_ in body.lines] if body.lines else None
    )
    returns = get_container().returns
    return _return_answer(call, lambda reply: returns.receive(return_id, conditions, call.actor, reply=reply))


def _verify_stripe(request: Any, settings: Any) -> Any:
    from chalicelib.api.http import raw_bytes
    from chalicelib.providers.stripe_events import SIGNATURE_HEADER, verify_and_parse

    header = request.headers.get(SIGNATURE_HEADER.lower())
    return verify_and_parse(raw_bytes(request), header, settings.stripe_webhook_secrets)


@endpoint(
    app,
    "/v1/webhooks/stripe",
    "POST",
    summary="Stripe events as Stripe sends them (Stripe-Signature)",
    roles=None,
    request="chalicelib.providers.stripe_events:StripeEvent",
    responses={200: "WebhookAck"},
    verify=_verify_stripe,
    signature=("Stripe-Signature", "t=<unix seconds>,v1=<hex HMAC-SHA256(whsec, '<t>.<raw body>')>, as Stripe signs"),
    tags=("webhooks",),
)
def stripe_webhook(call: Call) -> Response:
    """payment_intent.succeeded pays the order in metadata.order_id (amount and currency
    checked: a mismatch holds it `payment_mismatch`), refunds are recorded, a failed
    payment goes on the timeline; other types, unknown orders and replays are 200."""
    from chalicelib.services.providers import apply_stripe

    outcome = apply_stripe(get_container().orders, call.verified)
    return json_response(200, {"received": True, "outcome": outcome})


def _verify_aftership(request: Any, settings: Any) -> Any:
    from chalicelib.api.http import raw_bytes
    from chalicelib.providers.aftership import SIGNATURE_HEADER, verify

    return verify(raw_bytes(request), request.headers.get(SIGNATURE_HEADER), settings.aftership_webhook_secrets)


@endpoint(
    app,
    "/v1/webhooks/aftership",
    "POST",
    summary="AfterShip tracking webhooks as AfterShip sends them (aftership-hmac-sha256)",
    roles=None,
    request="chalicelib.providers.aftership:AfterShipWebhook",
    responses={200: "WebhookAck"},
    verify=_verify_aftership,
    signature=("aftership-hmac-sha256", "base64 HMAC-SHA256 of the raw body with the AfterShip webhook secret"),
    tags=("webhooks",),
)
def aftership_webhook(call: Call) -> Response:
    """tracking_update and edd_revise, mapped onto the carrier statuses (InfoReceived → label_created,
    InTransit → in_transit, OutForDelivery → out_for_delivery, AttemptFail → attempt_failed,
    AvailableForPickup → available_for_pickup, Delivered → delivered, Exception → exception, with
    Exception_010/011 → returned_to_sender and Exception_013 → lost; edd_revise → delayed with the new
    estimate); the checkpoint's time is `occurred_at`, and the raw tag and subtag stay on the carrier
    event. Expired is no scan: it flags the parcel stalled (`needs_attention`, reason stalled) as the
    stall sweep does (`unchanged` when delivered or already flagged). Unknown tracking numbers, other
    events and replays are 200 with the outcome."""
    from chalicelib.services.providers import apply_aftership

    outcome = apply_aftership(get_container().orders, call.verified)
    return json_response(200, {"received": True, "outcome": outcome})


app.register_blueprint(tracking_routes)
app.register_blueprint(support_routes)
app.register_blueprint(portal_routes)
app.register_blueprint(feedback_routes)
app.register_blueprint(desk_routes)


# --- outbound webhooks (the storefront's subscriptions) -------------------------------


@endpoint(
    app,
    "/v1/webhook-subscriptions",
    "POST",
    summary="Subscribe a URL to outbound events (the secret is shown once)",
    roles=("admin",),
    request="WebhookSubscriptionIn",
    responses={201: "WebhookSubscriptionOut"},
    idempotency="optional",
    tags=("outbound webhooks",),
)
def create_webhook_subscription(call: Call) -> Response:
    from chalicelib.services.ports import IdempotencyKeyTakenError
    from chalicelib.services.webhooks import present_subscription

    body: s.WebhookSubscriptionIn = call.body
    container = get_container()
    request = call.idempotent_request()

    def stored(subscription: Any) -> Any:  # the response, written in the same transaction
        assert request is not None
        return container.orders.stored(request, 201, present_subscription(subscription, with_secret=True))

    try:
        subscription = container.webhooks.subscribe(body.url, list(body.events), stored if request else None)
    except IdempotencyKeyTakenError:
        assert request is not None
        return json_response(*container.orders.replay(request))
    return json_response(201, present_subscription(subscription, with_secret=True))


@endpoint(
    app,
    "/v1/webhook-subscriptions/{subscription_id}",
    "GET",
    summary="A webhook subscription (without its secret)",
    roles=("admin",),
    responses={200: "WebhookSubscriptionOut"},
    tags=("outbound webhooks",),
)
def get_webhook_subscription(call: Call, subscription_id: str) -> Response:
    from chalicelib.services.webhooks import present_subscription

    return json_response(200, present_subscription(get_container().webhooks.get(subscription_id)))


@endpoint(
    app,
    "/v1/webhook-subscriptions/{subscription_id}",
    "DELETE",
    summary="Stop delivering to a subscription (pending deliveries are cancelled)",
    roles=("admin",),
    responses={204: None},
    tags=("outbound webhooks",),
)
def delete_webhook_subscription(call: Call, subscription_id: str) -> Response:
    get_container().webhooks.delete(subscription_id)
    return Response(body="", status_code=204)


@endpoint(
    app,
    "/v1/webhook-subscriptions/{subscription_id}/deliveries",
    "GET",
    summary="Deliveries, newest first: attempts, status codes, next retry; dead-lettered ones too",
    roles=("admin",),
    responses={200: "WebhookDeliveryListOut"},
    query=LIST_QUERY[:2],
    tags=("outbound webhooks",),
)
def webhook_deliveries_list(call: Call, subscription_id: str) -> Response:
    from chalicelib.services.webhooks import present_delivery

    container = get_container()
    scope = f"deliveries:{subscription_id}"
    page = container.webhooks.deliveries(
        subscription_id,
        limit=call.query_int("limit", default=20, low=1, high=100),
        start=container.orders.cursors.decode(scope, call.query.get("cursor")),
    )
    return json_response(
        200,
        {
            "subscription_id": subscription_id,
            "items": [present_delivery(delivery) for delivery in page.items],
            "next_cursor": container.orders.cursors.encode(scope, page.last_key),
        },
    )


# --- notifications -------------------------------------------------------------------


@app.lambda_function(name="order_events")
def order_events(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Consumer of the table's stream: notifications for every order milestone."""
    from chalicelib.pipeline import process_order_stream

    return process_order_stream(event, context)


def _event_time(event: Any) -> datetime:
    """The schedule's "now": the event's time (time travel for `make sweep`), else the clock."""
    moment = getattr(event, "time", None)
    if isinstance(moment, str) and moment:
        return datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return get_container().clock.now()


@app.lambda_function(name="inbound_email")
def inbound_email(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """SES receiving: the receipt rule stored the raw message in S3, then invokes this (async, with a DLQ)."""
    container = get_container()
    return {"results": container.inbound_email.from_ses_event(event, container.settings.inbound_bucket_name)}


@app.schedule(Rate(5, unit=Rate.MINUTES), name="sla_sweep")
def sla_sweep(event: Any) -> dict[str, Any]:
    """Flag orders whose promise is at risk or broken; expire returns not received in time (each once)."""
    container, now = get_container(), _event_time(event)
    return {"sla": container.sla.sweep(now), "returns": container.returns.sweep(now)}


@app.schedule(Rate(15, unit=Rate.MINUTES), name="feedback")
def feedback(event: Any) -> dict[str, Any]:
    """Send the surveys that are due and freeze the KPI report of every period that has ended."""
    container, now = get_container(), _event_time(event)
    return {"surveys": container.surveys.dispatch(now), "frozen_reports": container.kpis.freeze_closed(now)}


@app.lambda_function(name="cognito_post_confirmation")
def cognito_post_confirmation(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Cognito trigger: users who signed themselves up are put into the `customer` group."""
    from chalicelib.adapters.cognito import post_confirmation

    return post_confirmation(event)


@app.lambda_function(name="webhook_deliveries")
def webhook_deliveries(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Consumer of the table's stream: the first attempt of every new outbound webhook delivery."""
    from chalicelib.pipeline import process_webhook_deliveries

    return process_webhook_deliveries(event)


@app.schedule(Rate(5, unit=Rate.MINUTES), name="retry_notifications")
def retry_notifications(event: Any) -> dict[str, Any]:
    """Finish every effect (message, document, …) left pending by an outage or a crash."""
    return {"intents": get_container().intents.retry_due(_event_time(event))}


def _own_customer(call: Call, customer_id: str) -> str:
    if call.caller.subject != customer_id:
        raise NotFoundError("customer not found")
    return customer_id


@endpoint(
    app,
    "/v1/customers/{customer_id}/preferences",
    "GET",
    summary="Notification preferences",
    roles=("customer",),
    responses={200: "PreferencesOut"},
    tags=("notifications",),
)
def get_preferences(call: Call, customer_id: str) -> Response:
    preferences = get_container().preferences.get(_own_customer(call, customer_id))
    return json_response(200, {"customer_id": customer_id, **vars(preferences)})


@endpoint(
    app,
    "/v1/customers/{customer_id}/preferences",
    "PUT",
    summary="Choose email / SMS and language",
    roles=("customer",),
    request="PreferencesIn",
    responses={200: "PreferencesOut"},
    tags=("notifications",),
)
def put_preferences(call: Call, customer_id: str) -> Response:
    from chalicelib.services.ports import Preferences

    body: s.PreferencesIn = call.body
    container = get_container()
    preferences = Preferences(email=body.email, sms=body.sms, locale=body.locale)
    container.preferences.put(_own_customer(call, customer_id), preferences, container.clock.now())
    return json_response(200, {"customer_id": customer_id, **vars(preferences)})


def _verify_inbound_sms(request: Any, settings: Any) -> dict[str, Any]:
    from chalicelib.api.http import raw_bytes
    from chalicelib.notify.inbound import inbound_message

    return inbound_message(
        request.headers,
        raw_bytes(request),
        settings.sms_inbound_secrets,
        settings.sms_inbound_topic_arns,
        settings.max_body_bytes,
    )


@endpoint(
    app,
    "/v1/webhooks/sms-inbound",
    "POST",
    summary="STOP / START replies to our SMS (signed)",
    roles=None,
    request="chalicelib.api.schemas.notifications:SmsInboundBody",
    view_parses_body=True,  # the SMS is the body or, from SNS, inside it: verified and unwrapped first
    responses={200: "SmsInboundOut"},
    errors=(400, 413, 422),
    verify=_verify_inbound_sms,
    tags=("webhooks",),
)
def sms_inbound(call: Call) -> Response:
    from chalicelib.notify.inbound import confirm_subscription, keyword_action

    message: dict[str, Any] = call.verified
    if message.get("sns_type") == "SubscriptionConfirmation":
        confirm_subscription(str(message.get("subscribe_url")))
        return json_response(200, {"received": True, "action": "subscription_confirmed"})
    from chalicelib.api.schemas.notifications import SmsInboundIn

    inbound = _parse_model(SmsInboundIn, message)
    action = keyword_action(inbound.messageBody)
    if action:
        container = get_container()
        container.preferences.set_sms_opt_out(
            inbound.originationNumber,
            action == "opt_out",
            inbound.messageBody.strip()[:20].upper(),
            container.clock.now(),
        )
    return json_response(200, {"received": True, "action": action})


def _parse_model(model: Any, data: Any) -> Any:
    from pydantic import ValidationError as PydanticValidationError

    from chalicelib.api.http import validation_details

    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError("inbound SMS is invalid", details=validation_details(exc)) from exc


@endpoint(
    app,
    "/local/outbox",
    "GET",
    summary="Local stack only: every email and SMS sent (404 elsewhere)",
    roles=None,
    responses={200: None},
    tags=("local",),
)
def local_outbox(call: Call) -> Response:
    from chalicelib.web.outbox import render_outbox

    return render_outbox(call)


# --- outage drills (local stack only) ------------------------------------------------


def _fault_store(call: Call) -> Any:
    from chalicelib.adapters.faults import FaultStore

    if not call.settings.is_local:
        raise NotFoundError("fault injection exists on the local stack only")
    return FaultStore()


def _fault_out(fault: Any) -> dict[str, Any]:
    return {**fault.as_json(), "description": fault.description}


@endpoint(
    app,
    "/local/faults",
    "POST",
    summary="Local stack only: make a share of S3/SES/SNS/DynamoDB calls fail in every local process",
    roles=None,
    request="FaultIn",
    responses={201: "FaultOut"},
    tags=("local",),
)
def add_fault(call: Call) -> Response:
    from chalicelib.adapters.faults import Fault

    body: s.FaultIn = call.body
    store = _fault_store(call)
    fault = store.add(Fault(body.service, body.ratio, body.error, tuple(body.operations or ())))
    return json_response(201, _fault_out(fault))


@endpoint(
    app,
    "/local/faults",
    "GET",
    summary="Local stack only: the active faults",
    roles=None,
    responses={200: "FaultsOut"},
    tags=("local",),
)
def list_faults(call: Call) -> Response:
    return json_response(200, {"items": [_fault_out(fault) for fault in _fault_store(call).active()]})


@endpoint(
    app,
    "/local/faults",
    "DELETE",
    summary="Local stack only: end every fault",
    roles=None,
    responses={200: "FaultsCleared"},
    tags=("local",),
)
def clear_faults(call: Call) -> Response:
    return json_response(200, {"cleared": _fault_store(call).clear()})


@endpoint(
    app,
    "/local/faults/{fault_id}",
    "DELETE",
    summary="Local stack only: end one fault",
    roles=None,
    responses={200: "FaultsCleared"},
    tags=("local",),
)
def clear_fault(call: Call, fault_id: str) -> Response:
    if not _fault_store(call).remove(fault_id):
        raise NotFoundError("no such fault")
    return json_response(200, {"cleared": 1})
