"""GET /track/{token}: the customer's tracking page, public behind a signed, expiring link.

A blueprint, registered by app.py. Everything heavy (Jinja2, Babel, the view model)
loads on the first request. Whatever is wrong with a link (tampered, expired, another
kind of token, an order that does not exist) gets the same 404 page with the same
headers, so the answer never tells which it was.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.http import Call, endpoint
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import NotFoundError
from chalicelib.presentation.links import order_id_from_token

if TYPE_CHECKING:
    from chalice.app import Response

    from chalicelib.domain.orders import Order

tracking_routes = Blueprint(__name__)

HTML = "text/html; charset=utf-8"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Type": HTML,
    "Cache-Control": "private, max-age=60",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never hand it to a carrier's site
    "X-Content-Type-Options": "nosniff",
}


def html_response(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    from chalice.app import Response

    return Response(body=body, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})


def preferred_language(accept_language: str | None) -> str:
    """The first language of an Accept-Language header that the pages are written in, else English."""
    from chalicelib.presentation.formatting import DEFAULT_LANGUAGE, LANGUAGES

    ranked = []
    for position, part in enumerate((accept_language or "")[:200].split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        language = tag.strip().split("-")[0].lower()
        if language in LANGUAGES and quality > 0:
            ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE


def not_found(call: Call) -> Response:
    from chalicelib.web.render import render_not_found

    language = preferred_language(call.header("Accept-Language"))
    return html_response(404, render_not_found(language, shop_name(call)), {"Vary": "Accept-Language"})


def shop_name(call: Call) -> str:
    return call.settings.shop_name


def find_order(token: str, call: Call) -> Order | None:
    """The order a valid link names (one GetItem).

    Invoices and receipts are not linked from this public page: a tracking link is
    long-lived and travels by SMS, while the PDFs carry name and street address; they
    are attached to the payment email and listed, behind login, by /documents."""
    order_id = order_id_from_token(token, call.settings.link_secrets, now=time.time())
    if order_id is None:
        return None
    try:
        return get_container().orders.get(order_id)
    except NotFoundError:
        return None


@endpoint(
    tracking_routes,
    "/track/{token}",
    "GET",
    summary="The customer's tracking page (HTML, signed link)",
    roles=None,
    responses={200: None},
    produces="text/html",
    html_errors=(404,),
    tags=("tracking",),
)
def tracking_page(call: Call, token: str) -> Response:
    order = find_order(token, call)
    if order is None:
        return not_found(call)
    from chalicelib.web.render import render_tracking
    from chalicelib.web.tracking import build_tracking_view

    settings = call.settings
    view = build_tracking_view(order, now=datetime.now(UTC), timezone=settings.shop_timezone, shop_name=shop_name(call))
    return html_response(200, render_tracking(view))
