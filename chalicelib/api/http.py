"""HTTP plumbing shared by every route: auth, body parsing, errors, and the route registry.

`endpoint(...)` registers a Chalice route *and* records what /openapi.json says
about it, so the document is generated from the same models the code validates
with. Views receive a `Call` and stay a few lines long.
"""

from __future__ import annotations

import functools
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.api.auth import Principal, authenticate
from chalicelib.domain.errors import (
    BadRequestError,
    ForbiddenError,
    OrderCareError,
    PayloadTooLargeError,
    ValidationError,
)
from chalicelib.domain.webhooks import HEADER as SIGNATURE_HEADER
from chalicelib.domain.webhooks import verify_signature
from chalicelib.observability import get_logger
from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalice.app import Blueprint, Chalice, Request, Response
    from pydantic import BaseModel
    from pydantic import ValidationError as PydanticValidationError

    from chalicelib.services.orders import IdempotentRequest

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEMAS = "chalicelib.api.schemas"


def resolve_model(ref: type[BaseModel] | str) -> type[BaseModel]:
    """A route's model from its name: "Class" in chalicelib.api.schemas (which imports only the area
    module defining it), or "package.module:Class".

    Routes name their models so that registering them all at import builds no pydantic model and
    imports no pydantic (cold start); a model is imported when its route, or /openapi.json, needs it."""
    if not isinstance(ref, str):
        return ref
    module, _, name = ref.rpartition(":")
    model: type[BaseModel] = getattr(importlib.import_module(module or SCHEMAS), name)
    return model


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: dict[str, Any]
    required: bool = False


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    roles: tuple[str, ...] | None  # None: public
    request_ref: type[BaseModel] | str | None
    response_refs: dict[int, type[BaseModel] | str | None]
    query: tuple[QueryParam, ...] = ()
    idempotency: str | None = None  # "required" or "optional"
    produces: str = JSON
    tags: tuple[str, ...] = ()
    signed: bool = False  # webhook: X-OrderCare-Signature instead of a token
    optional_body: bool = False
    consumes: tuple[str, ...] = (JSON,)
    browser: bool = False  # staff pages: a session cookie is accepted as well as a bearer token
    html_errors: tuple[int, ...] = ()  # pages: the error statuses answered as HTML
    # Also accepts an HTML form (application/x-www-form-urlencoded), turned into the JSON body by this.
    form: Callable[[dict[str, list[str]]], dict[str, Any]] | None = None
    signature: tuple[str, str] | None = None  # a provider's own signature header: (name, description)
    errors: tuple[int, ...] = ()  # error statuses the route answers beyond those its shape implies
    # The request model documents the body; the view validates it, after unwrapping it (e.g. from SNS).
    view_parses_body: bool = False

    @functools.cached_property
    def request(self) -> type[BaseModel] | None:
        return None if self.request_ref is None else resolve_model(self.request_ref)

    @functools.cached_property
    def responses(self) -> dict[int, type[BaseModel] | None]:
        return {status: None if ref is None else resolve_model(ref) for status, ref in self.response_refs.items()}


ROUTES: list[RouteDoc] = []


@dataclass
class Call:
    """One request as a view sees it: the caller, the validated body, the query."""

    request: Request
    settings: Settings
    principal: Principal | None
    body: Any = None
    raw_json: Any = None
    query: dict[str, str] = field(default_factory=dict)
    verified: Any = None  # what the route's `verify` check extracted (e.g. an SNS message)
    idempotency: str | None = None  # the route's Idempotency-Key rule: "required", "optional" or None

    @property
    def caller(self) -> Principal:
        if self.principal is None:
            raise ForbiddenError("this route needs a caller")
        return self.principal

    @property
    def actor(self) -> str:
        return f"{self.caller.role}:{self.caller.subject}"

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name) or self.request.headers.get(name.lower())
        return value.strip() if isinstance(value, str) else None

    def idempotency_key(self) -> str:
        key = self.header(IDEMPOTENCY_HEADER)
        if not key:
            raise ValidationError(
                f"the {IDEMPOTENCY_HEADER} header is required on this route",
                details=[{"header": IDEMPOTENCY_HEADER}],
                code="idempotency_key_required",
            )
        if len(key) > 255 or not key.isprintable():
            raise ValidationError(
                f"{IDEMPOTENCY_HEADER} must be 1-255 printable characters",
                details=[{"header": IDEMPOTENCY_HEADER}],
            )
        return key

    def idempotent_request(self) -> IdempotentRequest | None:
        """The request as an idempotency record knows it (None: optional and not sent).

        One fingerprint for every route: the route, its ids and the parsed body, so the same
        key on another order or with another body is a 409, not a replay. The view
        hands it to a service that writes the response in the change's own
        transaction (`OrderService.answer`): check-then-store is never atomic."""
        from chalicelib.services.orders import IdempotentRequest

        if not self.header(IDEMPOTENCY_HEADER) and self.idempotency != "required":
            return None
        route = {"path": self.request.path, "params": dict(self.request.uri_params or {})}
        return IdempotentRequest(self.caller.subject, self.idempotency_key(), {**route, "body": self.raw_json})

    def query_int(self, name: str, *, default: int, low: int, high: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 6) or not low <= int(raw) <= high:
            raise ValidationError(
                f"'{name}' must be an integer from {low} to {high}",
                details=[{"field": name, "value": raw[:50]}],
            )
        return int(raw)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    from chalice.app import Response

    return Response(
        body=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers={"Content-Type": JSON, **(headers or {})},
    )


def error_response(error: OrderCareError) -> Response:
    body = {"error": {"code": error.code, "message": error.message, "details": error.details}}
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else {}
    return json_response(error.status, body, headers)


def html_error_response(error: OrderCareError) -> Response:
    """A plain page for an error raised before a page's view could render its own."""
    from html import escape

    from chalice.app import Response

    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{error.status} · {escape(error.code)}</title></head><body><main>"
        f"<h1>{escape(error.message)}</h1><p>Error code: {escape(error.code)}</p></main></body></html>"
    )
    headers: dict[str, str | list[str]] = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}
    return Response(body=body, status_code=error.status, headers=headers)


def validation_details(exc: PydanticValidationError) -> list[dict[str, Any]]:
    details = []
    for problem in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown or server-owned field"
        details.append({"field": location, "message": message, "type": problem["type"]})
    return details


def raw_bytes(request: Request) -> bytes:
    raw = request.raw_body or b""
    return raw.encode() if isinstance(raw, str) else raw


def parse_body(
    request: Request,
    model: type[BaseModel],
    settings: Settings,
    *,
    optional: bool = False,
    form: Callable[[dict[str, list[str]]], dict[str, Any]] | None = None,
) -> tuple[BaseModel, Any]:
    raw = raw_bytes(request)
    if len(raw) > settings.max_body_bytes:
        raise PayloadTooLargeError(f"request body is larger than {settings.max_body_bytes} bytes")
    if optional and not raw.strip():
        raw = b"{}"
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    try:
        if form is not None and content_type == FORM:
            from urllib.parse import parse_qs

            data = form(parse_qs(raw.decode("utf-8"), keep_blank_values=False, max_num_fields=50))
        else:
            data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequestError("request body is not valid JSON", code="malformed_json") from exc
    from pydantic import ValidationError as PydanticValidationError

    try:
        return model.model_validate(data), data
    except PydanticValidationError as exc:
        details = validation_details(exc)
        unknown = [d["field"] for d in details if d["type"] == "extra_forbidden"]
        message = f"unknown or server-owned fields: {', '.join(unknown)}" if unknown else "request body is invalid"
        raise ValidationError(message, details=details) from exc


def endpoint(
    app: Chalice | Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    roles: tuple[str, ...] | None,
    responses: dict[int, type[BaseModel] | str | None],
    request: type[BaseModel] | str | None = None,
    query: tuple[QueryParam, ...] = (),
    idempotency: str | None = None,
    produces: str = JSON,
    tags: tuple[str, ...] = (),
    signed_by: Callable[[Settings], tuple[str, ...]] | None = None,
    verify: Callable[[Request, Settings], Any] | None = None,
    optional_body: bool = False,
    consumes: tuple[str, ...] = (JSON,),
    browser: bool = False,
    html_errors: tuple[int, ...] = (),
    form: Callable[[dict[str, list[str]]], dict[str, Any]] | None = None,
    signature: tuple[str, str] | None = None,
    errors: tuple[int, ...] = (),
    view_parses_body: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a Chalice route that authenticates, parses and maps errors for `view`.

    `roles=None` makes a route public; `signed_by` names the webhook secrets whose
    X-OrderCare-Signature the raw body must carry instead, `verify` is any other
    check of the raw request (run before the body is parsed)."""
    if signed_by is not None:
        verify = _hmac_check(signed_by)
    doc = RouteDoc(
        method,
        path,
        summary,
        roles,
        request,
        responses,
        query,
        idempotency,
        produces,
        tags,
        signed=verify is not None,
        optional_body=optional_body,
        consumes=consumes,
        browser=browser,
        html_errors=html_errors,
        form=form,
        signature=signature,
        errors=errors,
        view_parses_body=view_parses_body,
    )
    ROUTES.append(doc)

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def handle(**params: str) -> Any:
            current = app.current_request
            assert current is not None
            call: Call | None = None
            try:
                call = _prepare_call(current, doc, verify)
                return view(call, **params)
            except OrderCareError as error:
                if doc.browser and error.status == 401 and "text/html" in (current.headers.get("accept") or ""):
                    from chalicelib.web.staff_session import sign_in_redirect

                    return sign_in_redirect(current)
                # A page answers its own errors as pages; a token's refusal on a staff page stays JSON.
                token_refused = call is None and doc.roles is not None
                if error.status in doc.html_errors and doc.produces.startswith("text/html") and not token_refused:
                    return html_error_response(error)
                return error_response(error)
            except Exception:
                get_logger().exception("unhandled error", extra={"route": f"{method} {path}"})
                return error_response(OrderCareError("something went wrong on our side"))

        content_types = [*consumes, FORM] if form and FORM not in consumes else list(consumes)
        app.route(path, methods=[method], content_types=content_types)(handle)
        return view

    return decorator


def _hmac_check(secrets: Callable[[Settings], tuple[str, ...]]) -> Callable[[Request, Settings], None]:
    def check(request: Request, settings: Settings) -> None:
        header = request.headers.get(SIGNATURE_HEADER.lower())
        verify_signature(header, raw_bytes(request), secrets(settings), time.time())

    return check


def _prepare_call(current: Request, doc: RouteDoc, verify: Callable[[Request, Settings], Any] | None) -> Call:
    settings = get_settings()
    principal = None
    if doc.roles is not None:
        authorization = current.headers.get("authorization")
        if doc.browser and not authorization:
            from chalicelib.web.staff_session import session_authorization

            authorization = session_authorization(current)
        principal = authenticate(settings, authorization).require(*doc.roles)
    verified = verify(current, settings) if verify is not None else None
    call = Call(request=current, settings=settings, principal=principal, query=dict(current.query_params or {}))
    call.verified = verified
    call.idempotency = doc.idempotency
    # Pages read their own forms; a view that unwraps its body validates it itself.
    parsed = (JSON in doc.consumes or doc.form is not None) and not doc.view_parses_body
    model = doc.request if parsed else None
    if model is not None:
        call.body, call.raw_json = parse_body(current, model, settings, optional=doc.optional_body, form=doc.form)
    return call
