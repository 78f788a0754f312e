"""GET /desk: the agents' server-rendered desk — the queue with SLA countdowns, one order's whole
story (returns with their RMA numbers included), reply / internal note / acknowledge / resolve
forms and approve / reject / receive for returns. No JavaScript, no build step.

Staff sign in with a browser session (web/staff_session.py) or call with a bearer token.
Forms post back here, each with the session's CSRF token, and call the same services as the
API routes. Done: 303 to the order (post-redirect-get). Refused (a missing field, a wrong
quantity, a stale transition, a bad CSRF token): the order's page again with the error's 4xx
status and what to fix at the top.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from chalice.app import Blueprint

from chalicelib.api.http import Call, QueryParam, endpoint, raw_bytes
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import NotFoundError, OrderCareError, ValidationError
from chalicelib.web import staff_session

if TYPE_CHECKING:
    from chalice.app import Response

desk_routes = Blueprint(__name__)


STAFF = ("agent", "admin")
FORM = "application/x-www-form-urlencoded"
CONSUMES = (FORM, "application/json")
PAGE_ERRORS = (404, 422)  # answered as the desk page, saying what went wrong
FORM_ERRORS = (403, 404, 409, 422)  # 403: the session's CSRF token is missing or wrong
BROWSER_ONLY = (401,)  # a browser is sent to sign in (303); an API client gets JSON


def desk_form(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A desk form's route: staff only, a browser's form post (or JSON) answered 303 back to the order."""
    return endpoint(
        desk_routes,
        path,
        "POST",
        summary=summary,
        roles=STAFF,
        responses={303: None},
        consumes=CONSUMES,
        produces="text/html",
        html_errors=FORM_ERRORS,
        errors=BROWSER_ONLY,
        browser=True,
        tags=("desk",),
    )


MAX_FORM_FIELDS = 2 * 100 + 10  # a receipt: quantity and condition for up to 100 lines
DESK_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # No scripts at all; forms post only to the desk itself.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}


def _page(status: int, body: str, headers: dict[str, str] | None = None) -> Response:
    from chalice.app import Response

    return Response(body=body, status_code=status, headers={**DESK_HEADERS, **(headers or {})})


def _redirect(location: str, headers: dict[str, str] | None = None) -> Response:
    from chalice.app import Response

    return Response(
        body="", status_code=303, headers={"Location": location, "Cache-Control": "no-store", **(headers or {})}
    )


def form(call: Call, max_fields: int = 20) -> dict[str, str]:
    """The posted fields (a form, or JSON from API clients); the last value of each wins."""
    raw = raw_bytes(call.request)
    if len(raw) > call.settings.max_body_bytes:
        raise ValidationError("form too large", details=[{"field": "body"}])
    content_type = (call.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ValidationError("body is not JSON", details=[{"field": "body"}]) from exc
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError("the form could not be read", details=[{"field": "body"}]) from exc
    return {name: values[-1] for name, values in parsed.items()}


def _countdown(deadline: str, now: datetime) -> tuple[str, bool]:
    due = datetime.fromisoformat(deadline.replace("Z", "+00:00"))
    seconds = int((due - now).total_seconds())
    hours, rest = divmod(abs(seconds), 3600)
    text = f"{hours} h {rest // 60:02d} min"
    return (f"{text} left", False) if seconds >= 0 else (f"{text} overdue", True)


def _when(value: str | None) -> str:
    return value.replace("T", " ").replace("Z", " UTC") if value else "—"


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency}"


def render_desk(call: Call, *, story: dict[str, Any] | None, error: str | None = None) -> str:
    from chalicelib.presentation.templates import environment

    container = get_container()
    status, sla = call.query.get("status") or None, call.query.get("sla") or None
    page = container.tickets.queue(status=status, sla=sla, limit=50, start=None)
    now = container.clock.now().astimezone(UTC)
    queue = []
    for row in page.items:
        countdown, overdue = _countdown(row["next_deadline"], now)
        queue.append({**row, "countdown": countdown, "overdue": overdue})
    title = f"Desk · order {story['order'].get('number') or story['order']['id']}" if story else "Support desk"
    return (
        environment()
        .get_template("desk.html")
        .render(
            title=title,
            shop=call.settings.shop_name,
            role=call.caller.role,
            staff_id=call.caller.subject,
            cookie_session=not call.request.headers.get("authorization"),
            csrf=staff_session.csrf_token(call.request, call.settings),
            queue=queue,
            status=status or "",
            sla=sla or "",
            story=story,
            error=error,
            when=_when,
            money=_money,
        )
    )


@endpoint(
    desk_routes,
    "/desk",
    "GET",
    summary="The agents' desk (HTML): queue with SLA countdowns, one order's story, ticket and return forms",
    roles=STAFF,
    responses={200: None, 303: None},
    produces="text/html",
    html_errors=PAGE_ERRORS,
    errors=BROWSER_ONLY,
    query=(
        QueryParam("order", "the order whose story to show", {"type": "string"}),
        QueryParam("status", "queue filter", {"type": "string"}),
        QueryParam("sla", "queue filter: at_risk or breached", {"type": "string"}),
    ),
    browser=True,
    tags=("desk",),
)
def desk(call: Call) -> Response:
    from chalicelib.services.agent_view import agent_story

    order_id = call.query.get("order")
    story, error, status = None, None, 200
    if order_id:
        try:
            story = agent_story(get_container(), call.settings, order_id.strip())
        except NotFoundError:
            error, status = "No such order.", 404
    try:
        return _page(status, render_desk(call, story=story, error=error))
    except ValidationError as problem:  # a bad filter in the query string
        call.query = {}
        return _page(422, render_desk(call, story=story, error=problem.message))


def explain(error: OrderCareError) -> str:
    """What the agent reads at the top of the page: the error, and which field or line to fix."""
    if error.code == "csrf_failed":
        return "This form expired or did not come from this desk session: reload the page and send it again."
    parts = []
    for detail in error.details[:10]:
        if not isinstance(detail, dict):
            continue
        subject = detail.get("sku") or detail.get("field") or detail.get("header")
        problem = detail.get("problem") or detail.get("message")
        if subject and problem:
            parts.append(f"{subject}: {str(problem).replace('_', ' ')}")
    return f"{error.message} ({'; '.join(parts)})" if parts else error.message


def refused(call: Call, error: OrderCareError, order_id: str | None) -> Response:
    """A form the desk could not act on: the order's page again with the error's 4xx status."""
    from chalicelib.services.agent_view import agent_story

    if error.status == 401 or error.status >= 500:
        raise error  # sign in again (303 for a browser), or a real outage for the retry
    story = None
    if order_id:
        try:
            story = agent_story(get_container(), call.settings, order_id)
        except NotFoundError:
            story = None
    call.query = {}
    return _page(error.status, render_desk(call, story=story, error=explain(error)))


def _ticket_action(call: Call, ticket_id: str, act: Any) -> Response:
    from chalicelib.services.tickets import Caller

    caller = Caller(call.caller.role, call.caller.subject)
    tickets = get_container().tickets
    try:
        fields = form(call)
        staff_session.check_csrf(call.request, call.settings, fields.get("csrf_token"))
        ticket = act(tickets, caller, fields)
    except OrderCareError as error:
        try:
            order_id: str | None = tickets.get(ticket_id, caller).order_id
        except NotFoundError:
            order_id = None
        return refused(call, error, order_id)
    return _redirect(f"/desk?order={quote(ticket.order_id)}#t-{quote(ticket.id)}")


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name, "").strip()
    if not value:
        raise ValidationError(f"'{name}' is required", details=[{"field": name}])
    return value


def _on(fields: dict[str, str], name: str) -> bool:
    return fields.get(name, "").lower() in ("1", "on", "true", "yes")


@desk_form(
    "/desk/tickets/{ticket_id}/reply",
    "Desk form: reply to the customer or write an internal note (303 back to the order)",
)
def desk_reply(call: Call, ticket_id: str) -> Response:
    return _ticket_action(
        call,
        ticket_id,
        lambda tickets, caller, f: tickets.add_message(
            ticket_id,
            caller,
            _required(f, "message"),
            internal=_on(f, "internal"),
            await_customer=_on(f, "await_customer") and not _on(f, "internal"),
        ),
    )


@desk_form(
    "/desk/tickets/{ticket_id}/acknowledge",
    "Desk form: acknowledge a ticket",
)
def desk_acknowledge(call: Call, ticket_id: str) -> Response:
    return _ticket_action(call, ticket_id, lambda tickets, caller, f: tickets.acknowledge(ticket_id, caller))


@desk_form(
    "/desk/tickets/{ticket_id}/resolve",
    "Desk form: resolve a ticket",
)
def desk_resolve(call: Call, ticket_id: str) -> Response:
    return _ticket_action(
        call, ticket_id, lambda tickets, caller, f: tickets.resolve(ticket_id, caller, _required(f, "resolution"))
    )


# --- returns: approve, reject, receive ------------------------------------------------------------


def _return_action(call: Call, return_id: str, act: Any, *, max_fields: int = 20) -> Response:
    """CSRF-checked, then the same ReturnService call as the API route; 303 back to the return.

    The action reads the return itself and hands it back, order id included: the redirect needs
    no read of its own. Only a refused form reads the return again, for the order's page — or for
    the 404 an unknown return answers whatever else was wrong with the form."""
    returns = get_container().returns
    try:
        fields = form(call, max_fields)
        staff_session.check_csrf(call.request, call.settings, fields.get("csrf_token"))
        ret = act(returns, fields)
    except OrderCareError as error:
        if error.status == 401 or error.status >= 500:
            raise  # as refused() would: sign in again, or a real outage for the retry
        try:
            order_id = returns.get(return_id).order_id
        except NotFoundError as unknown:
            return refused(call, unknown, None)
        return refused(call, error, order_id)
    return _redirect(f"/desk?order={quote(ret.order_id)}#r-{quote(ret.id)}")


def received_conditions(fields: dict[str, str]) -> dict[str, tuple[int, str]] | None:
    """The receipt form's lines (`quantity:<sku>`, `condition:<sku>`), checked by the API's own model."""
    from pydantic import ValidationError as PydanticValidationError

    from chalicelib.api.schemas.returns import ReceiveReturnIn
    from chalicelib.services.returns import check_conditions

    lines: list[dict[str, Any]] = []
    for name, condition in fields.items():
        if not name.startswith("condition:"):
            continue
        sku = name.removeprefix("condition:")
        raw = fields.get(f"quantity:{sku}", "").strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
            raise ValidationError(
                f"the quantity received of {sku} must be a whole number",
                details=[{"field": f"quantity:{sku}", "message": "a whole number from 0"}],
            )
        lines.append({"sku": sku, "quantity": int(raw), "condition": condition})
    try:
        body = ReceiveReturnIn.model_validate({"lines": lines or None})
    except PydanticValidationError as exc:
        problems = [
            {"field": ".".join(str(part) for part in problem["loc"]), "message": problem["msg"]}
            for problem in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ValidationError("the receipt is invalid", details=problems) from exc
    return check_conditions([(line.sku, line.quantity, line.condition) for line in body.lines or []])


@desk_form(
    "/desk/returns/{return_id}/approve",
    "Desk form: approve a requested return (303 back to the order)",
)
def desk_approve_return(call: Call, return_id: str) -> Response:
    return _return_action(call, return_id, lambda returns, f: returns.approve(return_id, call.actor))


@desk_form(
    "/desk/returns/{return_id}/reject",
    "Desk form: reject a requested return, saying why (shown to the customer)",
)
def desk_reject_return(call: Call, return_id: str) -> Response:
    def reject(returns: Any, fields: dict[str, str]) -> Any:
        reason = _required(fields, "reason")
        if len(reason) > 500:
            raise ValidationError("the reason is longer than 500 characters", details=[{"field": "reason"}])
        return returns.reject(return_id, reason, call.actor)

    return _return_action(call, return_id, reject)


@desk_form(
    "/desk/returns/{return_id}/receive",
    "Desk form: record the returned parcel, per line the units received and their condition",
)
def desk_receive_return(call: Call, return_id: str) -> Response:
    return _return_action(
        call,
        return_id,
        lambda returns, f: returns.receive(return_id, received_conditions(f), call.actor),
        max_fields=MAX_FORM_FIELDS,
    )


# --- signing in ----------------------------------------------------------------------------------

SIGN_IN_CSRF_COOKIE = "oc_desk_signin"


@endpoint(
    desk_routes,
    "/desk/sign-in",
    "GET",
    summary="Local stack only: the dev sign-in page for staff browser sessions (404 elsewhere)",
    roles=None,
    responses={200: None},
    produces="text/html",
    html_errors=(404,),
    tags=("desk",),
)
def desk_sign_in_page(call: Call) -> Response:
    import secrets
    from html import escape

    if not call.settings.is_local:
        raise NotFoundError("staff sign in through /desk/login")
    token = secrets.token_urlsafe(24)
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Desk sign-in (local)</title>'
        "<style>body{font:1rem/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}"
        "label{display:block;font-weight:600;margin-top:.75rem}select,input{font:inherit;width:100%;padding:.4rem}"
        "button{margin-top:1rem;font:inherit;font-weight:600;padding:.5rem 1rem;background:#0a53be;color:#fff;"
        "border:0;border-radius:.4rem}</style></head><body><main><h1>Desk sign-in</h1>"
        "<p>Local stack only: pick a staff role. In AWS staff sign in with Cognito.</p>"
        '<form method="post" action="/desk/sign-in">'
        f'<input type="hidden" name="csrf_token" value="{escape(token)}">'
        '<label for="role">Role</label><select id="role" name="role"><option value="agent">agent</option>'
        '<option value="admin">admin</option></select>'
        '<label for="sub">Staff id</label><input id="sub" name="sub" value="agt_local" required maxlength="64">'
        '<button type="submit">Sign in</button></form></main></body></html>'
    )
    cookie = f"{SIGN_IN_CSRF_COOKIE}={token}; Path=/desk; Max-Age=600; HttpOnly; SameSite=Lax"
    return _page(200, body, {"Set-Cookie": cookie})


@endpoint(
    desk_routes,
    "/desk/sign-in",
    "POST",
    summary="Local stack only: start a staff browser session for the chosen role (404 elsewhere)",
    roles=None,
    responses={303: None},
    consumes=CONSUMES,
    produces="text/html",
    html_errors=(403, *PAGE_ERRORS),
    tags=("desk",),
)
def desk_sign_in(call: Call) -> Response:
    import hmac

    from chalicelib.api.auth import mint_local_token
    from chalicelib.domain.errors import ForbiddenError

    if not call.settings.is_local:
        raise NotFoundError("staff sign in through /desk/login")
    fields = form(call)
    expected = staff_session.cookies(call.request).get(SIGN_IN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, fields.get("csrf_token", "")):
        raise ForbiddenError("missing or invalid CSRF token", code="csrf_failed")
    role, sub = fields.get("role", ""), fields.get("sub", "").strip()
    if role not in STAFF or not sub or len(sub) > 64 or not sub.replace("_", "").replace("-", "").isalnum():
        raise ValidationError(
            "choose agent or admin and a staff id of letters, digits, _ or -", details=[{"field": "role"}]
        )
    token = mint_local_token(call.settings, role, sub, ttl_seconds=staff_session.SESSION_SECONDS)
    return _redirect("/desk", {"Set-Cookie": staff_session.session_cookie(token, call.settings)})


@endpoint(
    desk_routes,
    "/desk/login",
    "GET",
    summary="Staff sign-in through the Cognito hosted UI (authorization code + PKCE); locally 303 to the dev page",
    roles=None,
    responses={302: None, 303: None},
    errors=(404,),  # not configured (and not the local stack)
    tags=("desk",),
)
def desk_login(call: Call) -> Response:
    from chalice.app import Response

    if not call.settings.cognito_domain or not call.settings.desk_client_id:
        if call.settings.is_local:
            return _redirect("/desk/sign-in")
        raise NotFoundError("staff sign-in is not configured")
    location, cookie = staff_session.authorize_redirect(call.settings)
    return Response(
        body="", status_code=302, headers={"Location": location, "Set-Cookie": cookie, "Cache-Control": "no-store"}
    )


@endpoint(
    desk_routes,
    "/desk/callback",
    "GET",
    summary="Cognito's redirect back: the code (and PKCE verifier) traded for a session cookie",
    roles=None,
    responses={303: None},
    errors=(401, 403),  # the state or code did not check out, or the user is not staff
    query=(
        QueryParam("code", "authorization code", {"type": "string"}),
        QueryParam("state", "the state sent at /desk/login", {"type": "string"}),
    ),
    tags=("desk",),
)
def desk_callback(call: Call) -> Response:
    from chalicelib.api.auth import authenticate

    code, state = call.query.get("code", ""), call.query.get("state", "")
    if not code or not state:
        raise ValidationError("code and state are required", details=[{"field": "code"}])
    verifier = staff_session.pkce_verifier(call.request, call.settings, state)
    try:
        token = staff_session.exchange_code(call.settings, code, verifier)
    except OrderCareError:
        raise
    except Exception as exc:  # Cognito refused the code (expired, replayed) or is unreachable
        from chalicelib.domain.errors import ForbiddenError

        raise ForbiddenError("the sign-in could not be completed; sign in again", code="sign_in_failed") from exc
    authenticate(call.settings, f"Bearer {token}").require(*STAFF)  # only staff get a desk session
    return _redirect("/desk", {"Set-Cookie": staff_session.session_cookie(token, call.settings)})


@endpoint(
    desk_routes,
    "/desk/sign-out",
    "POST",
    summary="End the staff browser session",
    roles=STAFF,
    responses={303: None},
    consumes=CONSUMES,
    produces="text/html",
    html_errors=(403, 422),
    errors=BROWSER_ONLY,
    browser=True,
    tags=("desk",),
)
def desk_sign_out(call: Call) -> Response:
    staff_session.check_csrf(call.request, call.settings, form(call).get("csrf_token"))
    target = "/desk/sign-in" if call.settings.is_local else "/desk/login"
    return _redirect(target, {"Set-Cookie": staff_session.session_cookie("", call.settings, max_age=0)})
