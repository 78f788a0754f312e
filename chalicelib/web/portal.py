"""/account/…: the customer portal's pages (server-rendered, no JavaScript), a blueprint app.py registers.

Views stay thin: read the form and cookies, call PortalService, render. Cross-cutting
rules are here once: every POST checks its `csrf_token` (bound to the session, or
before sign-in to a random pre-session cookie) → 403; a page that needs a session
sends a stranger to the sign-in form and back afterwards (the way back travels in a
short-lived cookie, never in a URL); any order or document that is not the session's
gets the same 404 page as one that does not exist.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.http import FORM, Call, QueryParam, endpoint, resolve_model
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import NotFoundError, OrderCareError
from chalicelib.domain.sessions import SESSION_ABSOLUTE, safe_next

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from chalice.app import Response
    from pydantic import BaseModel

    from chalicelib.domain.orders import Order
    from chalicelib.domain.sessions import Session
    from chalicelib.services.portal import PortalService
    from chalicelib.services.ports import PortalRead

    # Pages name their forms (classes of chalicelib.web.portal_forms): pydantic waits for a POST.
    from chalicelib.web.portal_forms import (
        HelpForm,
        PreferencesForm,
        ReplyForm,
        ReturnForm,
        SignInForm,
        SignOutForm,
        VerifyForm,
    )

portal_routes = Blueprint(__name__)
FORMS = "chalicelib.web.portal_forms"

SESSION_COOKIE = "oc_session"
PRE_COOKIE = "oc_pre"  # before sign-in: what the sign-in and code forms' CSRF tokens are bound to
NEXT_COOKIE = "oc_next"  # where to go after signing in
PRE_SECONDS = 3600
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",  # order pages' paths must not reach a carrier's site
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
SIGN_IN_ERRORS = (403, 422, 429, 503)
PAGE_ERRORS = (403, 404)


class CsrfError(OrderCareError):
    status, code = 403, "csrf_token_invalid"


class SignInNeededError(OrderCareError):
    status, code = 303, "sign_in_needed"


class PortalPage:
    """One portal request: its cookies, form, language, and the response cookies to set."""

    def __init__(self, call: Call):
        self.call = call
        self.settings = call.settings
        self.service: PortalService = get_container().portal
        self.cookies = _cookies(call.header("Cookie"))
        self.set_cookies: list[str] = []
        self.session: Session | None = None
        self.form: dict[str, str] = {}

    # --- cookies -------------------------------------------------------------------

    def cookie_name(self, base: str) -> str:
        # Outside the local stack: __Host- (Secure, whole host, no Domain) — no subdomain can plant one.
        return base if self.settings.is_local else f"__Host-{base}"

    def cookie(self, base: str) -> str | None:
        return self.cookies.get(self.cookie_name(base))

    def put_cookie(self, base: str, value: str, max_age: int) -> None:
        secure = "" if self.settings.is_local else "; Secure"
        self.set_cookies.append(
            f"{self.cookie_name(base)}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        )

    def drop_cookie(self, base: str) -> None:
        self.put_cookie(base, "", 0)

    # --- language ------------------------------------------------------------------

    @property
    def lang(self) -> str:
        if self.session is not None:
            return self.session.lang
        from chalicelib.web.routes import preferred_language

        return preferred_language(self.call.header("Accept-Language"))

    # --- CSRF ----------------------------------------------------------------------

    def pre_binding(self) -> str:
        """The pre-sign-in cookie (set now if the browser has none) the sign-in forms are bound to."""
        value = self.cookie(PRE_COOKIE)
        if not value or len(value) > 100:
            value = secrets.token_urlsafe(24)
            self.cookies[self.cookie_name(PRE_COOKIE)] = value
            self.put_cookie(PRE_COOKIE, value, PRE_SECONDS)
        return f"pre:{value}"

    def csrf(self) -> str:
        binding = f"session:{self.session.id_hash}" if self.session else self.pre_binding()
        return self.service.csrf(binding)

    def check_csrf(self, *, signed_in: bool) -> None:
        if signed_in:
            binding = f"session:{self.session.id_hash}" if self.session else None
        else:
            pre = self.cookie(PRE_COOKIE)
            binding = f"pre:{pre}" if pre else None
        if not self.service.csrf_ok(binding, self.form.get("csrf_token")):
            raise CsrfError("the form's csrf_token is missing or wrong")

    # --- requests ------------------------------------------------------------------

    def read_form(self, name: str) -> Any:
        """The posted form as the model `name` of chalicelib.web.portal_forms."""
        from pydantic import ValidationError as PydanticValidationError

        from chalicelib.api.http import raw_bytes
        from chalicelib.web.portal_forms import parse_form

        model = resolve_model(f"{FORMS}:{name}")
        self.form = parse_form(raw_bytes(self.call.request))
        try:
            return model.model_validate(self.form)
        except PydanticValidationError:
            return model.model_validate({})  # oversized fields: treated as empty, the page asks again

    def load_session(self) -> Session | None:
        self.session = self.service.session(self.cookie(SESSION_COOKIE))
        return self.session

    def require_session(self) -> Session:
        session = self.load_session()
        if session is None:
            raise SignInNeededError("sign in first")
        return session

    def require_session_and_order(self, order_id: str) -> tuple[Session, Order | None]:
        """The session and the path's order in one read; the order is None unless it is the session's own."""
        session, read = self.require_read(order_id)
        return session, read.order

    def require_read(
        self, order_id: str, skus: Iterable[str] = (), ticket_id: str | None = None, *, tally: bool = False
    ) -> tuple[Session, PortalRead]:
        """As `require_session_and_order`, with what a form needs of the order in the same read
        (see PortalService.read)."""
        read = self.service.read(self.cookie(SESSION_COOKIE), order_id, skus, ticket_id, tally=tally)
        self.session = read.session
        if self.session is None:
            raise SignInNeededError("sign in first")
        return self.session, read

    @property
    def client(self) -> str:
        """The client address as API Gateway saw it (a forwarded header would be the client's to forge)."""
        context = getattr(self.call.request, "context", None) or {}
        identity = context.get("identity") or {}
        return str(identity.get("sourceIp") or "unknown")

    # --- responses -----------------------------------------------------------------

    def render(
        self, template: str, status: int = 200, headers: dict[str, str] | None = None, **values: Any
    ) -> Response:
        from chalicelib.web.render import render_portal

        nav = None
        if self.session is not None:
            nav = {"csrf": self.csrf()}
        body = render_portal(template, self.lang, self.settings.shop_name, nav=nav, **values)
        return self.respond(status, body, headers)

    def respond(self, status: int, body: str = "", headers: dict[str, str] | None = None) -> Response:
        from chalice.app import Response

        all_headers: dict[str, Any] = {**PAGE_HEADERS, "Vary": "Cookie, Accept-Language", **(headers or {})}
        if self.set_cookies:
            all_headers["Set-Cookie"] = list(self.set_cookies)
        return Response(body=body, status_code=status, headers=all_headers)

    def redirect(self, location: str) -> Response:
        return self.respond(303, "", {"Location": location})


def _cookies(header: str | None) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in (header or "")[:4096].split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip()
    return cookies


def page(
    path: str,
    method: str,
    summary: str,
    *,
    form: str | None = None,
    errors: tuple[int, ...] = PAGE_ERRORS,
    query: tuple[QueryParam, ...] = (),
    success: int = 200,
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Register a portal page: public in the API sense (the portal has its own session), HTML out."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        def run(call: Call, **params: str) -> Response:
            portal = PortalPage(call)
            try:
                return view(portal, **params)
            except SignInNeededError:
                here = path.format(**params)  # Chalice's request.path is the route's pattern
                if method == "GET" and safe_next(here) == here:
                    portal.put_cookie(NEXT_COOKIE, here, 900)
                return portal.redirect("/account")
            except CsrfError:
                return portal.render("portal_message.html", 403, key="forbidden", link="/account")
            except NotFoundError:
                return portal.render("portal_message.html", 404, key="not_found", link="/account/orders")

        run.__name__ = view.__name__
        # 303: not signed in (or done) — on to /account; documented so every answer is.
        responses: dict[int, type[BaseModel] | str | None] = {success: None, 303: None}
        endpoint(
            portal_routes,
            path,
            method,
            summary=summary,
            roles=None,
            responses=responses,
            request=None if form is None else f"{FORMS}:{form}",
            query=query,
            produces="text/html",
            consumes=(FORM,) if method == "POST" else ("application/json",),
            html_errors=errors,
            tags=("portal",),
        )(run)
        return view

    return decorator


# --- signing in ----------------------------------------------------------------------------


@page("/account", "GET", "The portal's sign-in form (signed in: on to the orders)")
def account(portal: PortalPage) -> Response:
    if portal.load_session() is not None:
        return portal.redirect("/account/orders")
    return _sign_in_form(portal)


def _sign_in_form(portal: PortalPage, status: int = 200, *, email: str = "", error: str | None = None) -> Response:
    next_path = safe_next(portal.cookie(NEXT_COOKIE))
    return portal.render(
        "portal_signin.html", status, csrf=portal.csrf(), email=email, error=error, next_path=next_path
    )


@page(
    "/account/sign-in",
    "POST",
    "Email a one-time code and sign-in link (the same answer whether or not the address has orders)",
    form="SignInForm",
    errors=SIGN_IN_ERRORS,
)
def sign_in(portal: PortalPage) -> Response:
    from chalicelib.domain.errors import ValidationError
    from chalicelib.services.portal import RateLimitedError
    from chalicelib.services.ports import PermanentDeliveryError, TransientDeliveryError

    form: SignInForm = portal.read_form("SignInForm")
    portal.check_csrf(signed_in=False)
    try:
        email = portal.service.start_sign_in(form.email, portal.client, form.next or None, portal.lang)
    except ValidationError:
        return _sign_in_form(portal, 422, email=form.email[:320], error="signin.invalid")
    except RateLimitedError as limited:
        minutes = max(1, (limited.retry_after + 59) // 60)
        headers = {"Retry-After": str(limited.retry_after)}
        return portal.render("portal_message.html", 429, headers, key="rate", minutes=minutes, link=None)
    except (TransientDeliveryError, PermanentDeliveryError):
        # Permanent too: saying "this address bounced" would tell whether it exists.
        return portal.render("portal_message.html", 503, {"Retry-After": "60"}, key="unavailable", link="/account")
    return _code_form(portal, email)


def _code_form(portal: PortalPage, email: str, status: int = 200, error: str | None = None, left: int = 0) -> Response:
    return portal.render("portal_code.html", status, csrf=portal.csrf(), email=email, error=error, left=left)


@page(
    "/account/verify",
    "POST",
    "Check the code (or the link's token) → 303 to the orders with a new session cookie",
    form="VerifyForm",
    errors=(403, 422),
    success=303,
)
def verify(portal: PortalPage) -> Response:
    from chalicelib.services.portal import SignInFailedError

    form: VerifyForm = portal.read_form("VerifyForm")
    portal.check_csrf(signed_in=False)
    previous = portal.cookie(SESSION_COOKIE)
    try:
        if form.token:
            token, next_path = portal.service.confirm_link(form.token, previous, portal.lang)
        else:
            token, next_path = portal.service.verify_code(form.email, form.code, previous, portal.lang)
    except SignInFailedError as failed:
        if form.token:
            return portal.render("portal_link.html", 422, usable=False, csrf="", token="")  # empty fields # nosec B106
        email = form.email.strip()[:320]
        return _code_form(portal, email, 422, f"code.{failed.reason}", failed.attempts_left)
    # A brand-new session id (whatever cookie the browser brought: no fixation); the pre-session is spent.
    portal.put_cookie(SESSION_COOKIE, token, int(SESSION_ABSOLUTE.total_seconds()))
    portal.drop_cookie(PRE_COOKIE)
    portal.drop_cookie(NEXT_COOKIE)
    return portal.redirect(next_path)


@page(
    "/account/verify",
    "GET",
    "The email's one-click sign-in link: a button that signs this browser in",
    query=(QueryParam("token", "the link's token", {"type": "string"}),),
    errors=(410,),
)
def verify_link(portal: PortalPage) -> Response:
    # A GET never signs in: mail scanners open links. The button posts the token back.
    token = portal.call.query.get("token", "")
    if not portal.service.link_usable(token):
        return portal.render("portal_link.html", 410, usable=False, csrf="", token="")  # empty fields # nosec B106
    return portal.render("portal_link.html", usable=True, csrf=portal.csrf(), token=token)


@page(
    "/account/sign-out",
    "POST",
    "End this session (or every session of the address) → 303",
    form="SignOutForm",
    errors=(403,),
    success=303,
)
def sign_out(portal: PortalPage) -> Response:
    form: SignOutForm = portal.read_form("SignOutForm")
    session = portal.load_session()
    if session is None:  # signed out already (or expired): nothing to protect
        portal.drop_cookie(SESSION_COOKIE)
        return portal.redirect("/account/signed-out")
    portal.check_csrf(signed_in=True)
    portal.service.sign_out(session, everywhere=form.everywhere == "on")
    portal.drop_cookie(SESSION_COOKIE)
    return portal.redirect("/account/signed-out")


@page("/account/signed-out", "GET", "The signed-out page")
def signed_out(portal: PortalPage) -> Response:
    return portal.render("portal_message.html", key="signed_out", link="/account")


# --- orders ---------------------------------------------------------------------------------


@page(
    "/account/orders",
    "GET",
    "The signed-in address's orders, newest first (one Query per page)",
    query=(QueryParam("cursor", "the 'older orders' link's cursor", {"type": "string"}),),
    errors=(404, 422),
)
def orders(portal: PortalPage) -> Response:
    from chalicelib.domain.errors import ValidationError
    from chalicelib.web.portal_views import order_rows

    session = portal.require_session()
    cursor = portal.call.query.get("cursor")
    try:
        found, next_cursor = portal.service.list_orders(session, cursor)
    except ValidationError:
        return portal.render("portal_message.html", 422, key="not_found", link="/account/orders")
    rows = order_rows(found, portal.lang, portal.settings.shop_timezone)
    return portal.render(
        "portal_orders.html",
        rows=rows,
        email=session.email,
        next_cursor=next_cursor,
        first_page=cursor is None,
        active="orders",
    )


@page(
    "/account/orders/{order_id}",
    "GET",
    "One order: status, parcels, documents, messages, help and ticket threads",
    query=(QueryParam("done", "sent | replied | returned: a form's confirmation", {"type": "string"}),),
)
def order(portal: PortalPage, order_id: str) -> Response:
    portal.require_session()
    done = portal.call.query.get("done", "")
    notice = {"sent": "help.sent", "replied": "help.replied", "returned": "return.sent"}.get(done)
    return _order_page(portal, order_id, notice=notice)


def _order_page(
    portal: PortalPage,
    order_id: str,
    status: int = 200,
    *,
    notice: str | None = None,
    help_error: bool = False,
    return_error: bool = False,
) -> Response:
    from chalicelib.web.portal_messages import strings
    from chalicelib.web.portal_views import order_page

    assert portal.session is not None
    service = portal.service
    story = service.order_story(portal.session, order_id)
    window = service.returns.window_days if service.returns is not None else 0
    view = order_page(
        story,
        portal.lang,
        portal.settings.shop_timezone,
        portal.settings.shop_name,
        service.clock.now(),
        returnable=service.returnable(story),
        return_days=window,
    )
    text = return_text = None
    if notice == "return.sent":
        number = view.returns[0].heading.split(" ", 1)[-1] if view.returns else ""
        return_text = strings(portal.lang)[notice].format(number=number)
    elif notice:
        number = view.tickets[0].heading.split(" ", 1)[-1] if view.tickets else ""
        text = strings(portal.lang)[notice].format(number=number)
    return portal.render(
        "portal_order.html",
        status,
        v=view.tracking,
        p=view,
        csrf=portal.csrf(),
        active="orders",
        notice=text,
        return_notice=return_text,
        help_error=help_error,
        return_error=return_error,
        help_category=portal.form.get("category", ""),
    )


@page(
    "/account/orders/{order_id}/returns",
    "POST",
    "Return items of one's own order (the returns service's rules) → 303 back to the order",
    form="ReturnForm",
    errors=(403, 404, 422),
    success=303,
)
def request_return(portal: PortalPage, order_id: str) -> Response:
    from chalicelib.domain.errors import ConflictError, ValidationError

    form: ReturnForm = portal.read_form("ReturnForm")
    chosen = [(name[4:], value) for name, value in portal.form.items() if name.startswith("qty_")]
    chosen = [(sku, value) for sku, value in chosen if value.strip() not in ("", "0")]
    # The session, the order, the chosen lines' catalogue items and the order's return tally: one read.
    session, read = portal.require_read(order_id, [sku for sku, _ in chosen], tally=True)
    portal.check_csrf(signed_in=True)
    if read.order is None:
        raise NotFoundError("order not found")
    lines = []
    for sku, value in chosen:
        if not (value.isascii() and value.isdigit() and len(value) <= 4):
            return _order_page(portal, order_id, 422, return_error=True)
        lines.append((sku, int(value)))
    from chalicelib.domain.returns import REASONS, RESOLUTIONS

    # The API checks these in its request schema; the form checks the same domain lists.
    if not lines or form.reason not in REASONS or form.resolution not in RESOLUTIONS:
        return _order_page(portal, order_id, 422, return_error=True)
    try:
        comment = form.comment.strip() or None
        portal.service.request_return(session, read, lines, form.reason, form.resolution, comment)
    except (ValidationError, ConflictError):
        return _order_page(portal, order_id, 422, return_error=True)
    return portal.redirect(f"/account/orders/{order_id}?done=returned#return")


@page(
    "/account/orders/{order_id}/help",
    "POST",
    "Get help: open a support ticket on one's own order → 303 back to the order",
    form="HelpForm",
    errors=(403, 404, 422),
    success=303,
)
def ask_for_help(portal: PortalPage, order_id: str) -> Response:
    from chalicelib.domain.errors import ValidationError

    form: HelpForm = portal.read_form("HelpForm")
    session, own = portal.require_session_and_order(order_id)
    portal.check_csrf(signed_in=True)
    if own is None:
        raise NotFoundError("order not found")
    if not form.message.strip():
        return _order_page(portal, order_id, 422, help_error=True)
    try:
        portal.service.open_ticket(session, own, form.category, form.message.strip())
    except ValidationError:
        return _order_page(portal, order_id, 422, help_error=True)
    return portal.redirect(f"/account/orders/{order_id}?done=sent#help")


@page(
    "/account/orders/{order_id}/tickets/{ticket_id}/messages",
    "POST",
    "Reply on a ticket of one's own order → 303 back to the order",
    form="ReplyForm",
    errors=(403, 404, 422),
    success=303,
)
def reply_to_ticket(portal: PortalPage, order_id: str, ticket_id: str) -> Response:
    from chalicelib.domain.errors import ConflictError, ValidationError

    form: ReplyForm = portal.read_form("ReplyForm")
    # The session, the order and the ticket: one read.
    session, read = portal.require_read(order_id, ticket_id=ticket_id)
    portal.check_csrf(signed_in=True)
    if read.order is None:
        raise NotFoundError("order not found")
    if not form.message.strip():
        return _order_page(portal, order_id, 422)
    try:
        portal.service.reply(session, read, ticket_id, form.message.strip())
    except (ValidationError, ConflictError):
        return _order_page(portal, order_id, 422)
    return portal.redirect(f"/account/orders/{order_id}?done=replied#help")


@page(
    "/account/documents/{document_id}",
    "GET",
    "Download an invoice, receipt or credit note → 302 to a presigned link (≤ 300 s)",
    success=302,
)
def document(portal: PortalPage, document_id: str) -> Response:
    portal.session, url = portal.service.document_url(portal.cookie(SESSION_COOKIE), document_id)
    if portal.session is None:
        raise SignInNeededError("sign in first")
    if url is None:  # missing, not ready yet or another address's: the same page
        raise NotFoundError("document not found")
    return portal.respond(302, "", {"Location": url})


# --- preferences ----------------------------------------------------------------------------


@page("/account/preferences", "GET", "Email / SMS / language (the store PUT /v1/customers/{id}/preferences uses)")
def preferences(portal: PortalPage) -> Response:
    session = portal.require_session()
    _, current = portal.service.preferences(session)
    return _preferences_page(portal, current, saved=False)


def _preferences_page(portal: PortalPage, current: Any, *, saved: bool, status: int = 200) -> Response:
    from chalicelib.web.portal_messages import LOCALES

    return portal.render(
        "portal_preferences.html",
        status,
        prefs=current,
        saved=saved,
        locales=LOCALES,
        csrf=portal.csrf(),
        active="preferences",
    )


@page("/account/preferences", "POST", "Save email / SMS / language", form="PreferencesForm", errors=(403, 422))
def save_preferences(portal: PortalPage) -> Response:
    from chalicelib.services.ports import Preferences
    from chalicelib.web.portal_messages import LOCALES

    form: PreferencesForm = portal.read_form("PreferencesForm")
    session = portal.require_session()
    portal.check_csrf(signed_in=True)
    if form.locale not in LOCALES:
        _, current = portal.service.preferences(session)
        return _preferences_page(portal, current, saved=False, status=422)
    chosen = Preferences(email=form.email == "on", sms=form.sms == "on", locale=form.locale)
    saved = portal.service.save_preferences(session, chosen)
    if saved is None:
        return _preferences_page(portal, None, saved=False)
    portal.session = saved  # the page answers in the language just chosen
    return _preferences_page(portal, chosen, saved=True)
