"""The OpenAPI 3.1 document, generated from the route registry and the pydantic models."""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import FORM, IDEMPOTENCY_HEADER, JSON, ROUTES, RouteDoc
from chalicelib.api.schemas.common import ErrorOut

REF = "#/components/schemas/{model}"
LOCAL_ONLY = "/local/"
_ERRORS = {
    400: "malformed JSON",
    401: "missing, invalid or expired token",
    403: "role not allowed",
    404: "not found, or not yours",
    409: "conflict: illegal transition, stale version or idempotency key reuse",
    413: "body over 64 KiB",
    415: "the body's Content-Type is not one the route takes (JSON, or the form a page posts)",
    422: "validation failed (unknown or server-owned fields included)",
    429: "too many requests (Retry-After says how long to wait)",
    503: "a provider is unavailable; try again",
}
_HTML_ERRORS = {
    403: "the form's csrf_token is missing or wrong, or the role may not do this",
    404: "not found, or not yours (the same page either way)",
    409: "the change does not fit the current state (the page says why)",
    410: "the sign-in link expired or was used",
    422: "the form is incomplete or wrong (the page says what to fix)",
    429: "too many sign-in requests (Retry-After says how long to wait)",
    503: "the email could not be sent; try again",
}


def _models() -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"ErrorOut": ErrorOut}
    for route in ROUTES:
        for model in (route.request, *route.responses.values()):
            if model is not None:
                found[model.__name__] = model
    return list(found.values())


def _error_codes(route: RouteDoc) -> list[int]:
    # 415: a body in another Content-Type than the route takes (answered before the view runs).
    takes_body = route.request is not None or (route.method in ("POST", "PUT") and route.consumes != (JSON,))
    unsupported = [415] if takes_body else []
    if route.html_errors and not route.browser:  # portal pages: every error is a page (but that one)
        return sorted({*route.html_errors, *unsupported})
    codes = [404, 422] if "{" in route.path or route.request or route.query else []
    if route.request is not None:
        codes += [400, 413, 422]
    codes += unsupported
    if route.roles is not None:
        codes += [401, 403]
    if route.signed:
        codes += [401]
    if route.idempotency:
        codes += [409, 422]
    # Staff pages: their own errors (html_errors, a refused role too) are pages; the 401 is JSON.
    return sorted((set(codes) | set(route.errors) | set(route.html_errors)) - set(route.responses))


def _operation(route: RouteDoc, refs: dict[str, str]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": re.sub(r"\W+", "_", f"{route.method} {route.path}").strip("_").lower(),
        "tags": list(route.tags),
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        + [
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": q.schema,
            }
            for q in route.query
        ],
        "responses": {},
    }
    if route.idempotency:
        operation["parameters"].append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": route.idempotency == "required",
                "description": "same key + same body → the original response; + another body → 409",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if route.signed:
        name, description = route.signature or (
            "X-OrderCare-Signature",
            "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')> "
            "(SNS-delivered SMS is verified by its SNS message signature instead)",
        )
        operation["parameters"].append(
            {"name": name, "in": "header", "required": False, "description": description, "schema": {"type": "string"}}
        )
    if route.roles is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = f"Roles: {', '.join(route.roles)}."
    else:
        operation["security"] = []
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": {"$ref": refs[route.request.__name__]}} for media in route.consumes},
        }
        if route.form is not None:  # the same fields, posted by an HTML form (answered with a page)
            operation["requestBody"]["content"][FORM] = {"schema": {"$ref": refs[route.request.__name__]}}
    elif route.consumes != ("application/json",) and route.method in ("POST", "PUT"):
        operation["requestBody"] = {
            "required": False,
            "content": {
                media: {"schema": {"type": "string" if "rfc822" in media else "object"}} for media in route.consumes
            },
        }
        if route.form is not None:  # the same fields, posted by an HTML form
            operation["requestBody"]["content"][FORM] = {"schema": {"type": "object"}}
    for status, model in route.responses.items():
        if status == 204:
            operation["responses"]["204"] = {"description": "done; no content"}
            continue
        if 300 <= status < 400:  # a redirect: where to is in Location, there is no body to describe
            operation["responses"][str(status)] = {
                "description": "redirect (see the Location header)",
                "headers": {"Location": {"schema": {"type": "string"}}},
            }
            continue
        if model is None:
            schema = {"type": "object"} if route.produces == "application/json" else {"type": "string"}
            content = {route.produces: {"schema": schema}}
        else:
            content = {route.produces: {"schema": {"$ref": refs[model.__name__]}}}
        if route.form is not None and route.produces == "application/json":
            content["text/html"] = {"schema": {"type": "string"}}  # what a form post gets back: a page
        operation["responses"][str(status)] = {"description": "success", "content": content}
    if route.browser and "303" not in operation["responses"]:
        operation["responses"]["303"] = {
            "description": "a browser without a staff session: on to the sign-in (see the Location header)",
            "headers": {"Location": {"schema": {"type": "string"}}},
        }
    for status in _error_codes(route):
        if status in route.html_errors:
            content = {route.produces: {"schema": {"type": "string"}}}
            if status == 403 and route.roles is not None:  # the page's own 403 (CSRF); a token's refusal is JSON
                content["application/json"] = {"schema": {"$ref": refs["ErrorOut"]}}
            operation["responses"][str(status)] = {"description": _HTML_ERRORS[status], "content": content}
            continue
        operation["responses"][str(status)] = {
            "description": _ERRORS[status],
            "content": {"application/json": {"schema": {"$ref": refs["ErrorOut"]}}},
        }
    return operation


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    models = _models()
    mapping, definitions = models_json_schema([(model, "validation") for model in models], ref_template=REF)
    refs = {model.__name__: mapping[(model, "validation")]["$ref"] for model in models}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        if route.path.startswith(LOCAL_ONLY):
            continue  # the local stack's helpers are not part of the deployed contract
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OrderCare API",
            "version": "1.0.0",
            "description": "Order management with delivery promises, invoices and notifications.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
