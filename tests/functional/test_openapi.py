"""GET /openapi.json: OpenAPI 3.1, complete, self-consistent, and generated from the models the code uses."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import BaseModel

import app as _app
from chalicelib.api import schemas
from chalicelib.api.http import ROUTES, RouteDoc
from chalicelib.api.openapi import REF, openapi_document

ALL_ROLES = ("customer", "agent", "admin", "storefront")

# The route table of the public API contract, as (method, path, who). "owner" is a
# customer acting on their own data; "public" and "signed" routes carry no bearer token.
API_MD_ROUTES: list[tuple[str, str, str]] = [
    ("GET", "/health", "public"),
    ("GET", "/openapi.json", "public"),
    ("PUT", "/v1/catalog/{sku}", "admin, storefront"),
    ("GET", "/v1/catalog/{sku}", "any role"),
    ("POST", "/v1/delivery-estimates", "storefront"),
    ("POST", "/v1/orders", "storefront"),
    ("GET", "/v1/orders/{id}", "owner, agent, admin, storefront"),
    ("GET", "/v1/orders", "customer, agent, admin"),
    ("POST", "/v1/orders/{id}/payments", "storefront"),
    ("POST", "/v1/orders/{id}/cancel", "owner, agent"),
    ("POST", "/v1/orders/{id}/processing", "agent, admin"),
    ("POST", "/v1/orders/{id}/holds/{code}/release", "agent, admin"),
    ("POST", "/v1/orders/{id}/shipments", "agent, admin"),
    ("POST", "/v1/webhooks/carrier", "signed"),
    ("POST", "/v1/webhooks/payment", "signed"),
    ("GET", "/v1/orders/{id}/timeline", "owner, agent, admin"),
    ("GET", "/v1/orders/{id}/documents", "owner, agent, admin"),
    ("POST", "/v1/orders/{id}/returns", "owner, agent"),
    ("POST", "/v1/returns/{id}/approve", "agent, admin"),
    ("POST", "/v1/returns/{id}/reject", "agent, admin"),
    ("POST", "/v1/returns/{id}/receive", "agent, admin"),
    ("GET", "/v1/returns/{id}", "owner, agent, admin"),
    ("POST", "/v1/tickets", "owner, agent"),
    ("GET", "/v1/tickets/{id}", "owner, agent"),
    ("POST", "/v1/tickets/{id}/messages", "owner, agent"),
    ("POST", "/v1/tickets/{id}/acknowledge", "agent"),
    ("POST", "/v1/tickets/{id}/resolve", "agent"),
    ("GET", "/v1/agent/orders/{id}", "agent, admin"),
    ("GET", "/v1/customers/{id}/preferences", "owner"),
    ("PUT", "/v1/customers/{id}/preferences", "owner"),
    ("POST", "/v1/webhooks/sms-inbound", "signed"),
    ("GET", "/surveys/{token}", "public"),
    ("POST", "/v1/surveys/{token}", "public"),
    ("POST", "/v1/feedback", "customer"),
    ("GET", "/v1/reports/kpis", "admin"),
    ("GET", "/reports/dashboard", "admin"),
    ("GET", "/track/{token}", "public"),
]


def shape(path: str) -> str:
    """A path with its parameter names erased: /v1/orders/{order_id} → /v1/orders/{}."""
    return re.sub(r"{\w+}", "{}", path)


def roles_of(who: str) -> set[str] | None:
    if who in ("public", "signed"):
        return None
    if who == "any role":
        return set(ALL_ROLES)
    return {"customer" if part.strip() == "owner" else part.strip() for part in who.split(",")}


def served_routes() -> set[tuple[str, str]]:
    """What the Chalice app serves (read from Chalice, not from the OpenAPI registry); the
    local-only helpers are never deployed and so not part of the public document."""
    return {
        (method, path)
        for path, entries in _app.app.routes.items()
        for method in entries
        if not path.startswith("/local/")
    }


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The served document, fetched once (the route is public and touches no AWS service)."""
    with Client(_app.app) as client:
        response: Any = client.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    served: dict[str, Any] = json.loads(response.body)
    return served


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, ref
        node = node[part]
    return node


def test_served_document_is_openapi_3_1_and_valid(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    validate(document)  # openapi-spec-validator picks the 3.1 schema from the `openapi` field
    assert document == openapi_document()


def test_the_validator_is_not_a_rubber_stamp(document: dict[str, Any]) -> None:
    broken = {**document, "paths": {"/x": {"get": {"responses": {"200": {"content": 1}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_registered_route_is_documented_with_its_method(document: dict[str, Any]) -> None:
    for route in ROUTES:
        if route.path.startswith("/local/"):
            assert route.path not in document["paths"]  # local helpers are never part of the contract
            continue
        assert route.method.lower() in document["paths"].get(route.path, {}), (route.method, route.path)


def test_every_served_route_is_registered_and_documented(document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "put", "post", "patch", "delete")
    }
    assert served_routes() == documented
    assert {(route.method, route.path) for route in ROUTES if not route.path.startswith("/local/")} == documented


def test_every_implemented_api_md_route_is_documented_with_its_roles(document: dict[str, Any]) -> None:
    served = {(method, shape(path)): path for method, path in served_routes()}
    by_shape = {(route.method, shape(route.path)): route for route in ROUTES}
    implemented = [row for row in API_MD_ROUTES if (row[0], shape(row[1])) in served]
    assert ("POST", "/v1/orders", "storefront") in implemented  # the comparison found something
    for method, path, who in implemented:
        real_path = served[(method, shape(path))]
        operation = document["paths"][real_path][method.lower()]
        route = by_shape[(method, shape(path))]
        expected = roles_of(who)
        if expected is None:
            assert route.roles is None and operation["security"] == [], (method, path)
        else:
            assert route.roles is not None and set(route.roles) == expected, (method, path, route.roles)
            assert operation["security"] == [{"bearer": []}]
            assert {"401", "403"} <= set(operation["responses"])


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = [node["$ref"] for node in walk(document) if isinstance(node, dict) and "$ref" in node]
    assert len(refs) > 20
    for ref in refs:
        target = resolve(document, ref)
        assert isinstance(target, dict) and target, ref


def test_every_component_is_a_model_of_the_api(document: dict[str, Any]) -> None:
    names = set(document["components"]["schemas"])
    assert {"PlaceOrderIn", "OrderOut", "CatalogItemIn", "ErrorOut", "DeliveryEstimateIn"} <= names


def model_schema_as_components(model: type[BaseModel]) -> dict[str, Any]:
    """The model's own JSON schema, split the way components.schemas stores it."""
    schema = model.model_json_schema(ref_template=REF)
    components: dict[str, Any] = schema.pop("$defs", {})
    components[model.__name__] = schema
    return components


@pytest.mark.parametrize(
    "route",
    [route for route in ROUTES if route.request is not None and not route.path.startswith("/local/")],
    ids=lambda route: f"{route.method} {route.path}",
)
def test_request_bodies_are_the_models_the_code_validates_with(document: dict[str, Any], route: RouteDoc) -> None:
    assert route.request is not None
    operation = document["paths"][route.path][route.method.lower()]
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["content"][route.consumes[0]]["schema"] == {"$ref": f"#/components/schemas/{route.request.__name__}"}
    for name, schema in model_schema_as_components(route.request).items():
        assert document["components"]["schemas"][name] == schema, name
    if route.html_errors:  # a form: every error is a page that says what to fix
        assert {"403", "422"} & set(operation["responses"]), (route.method, route.path)
    else:
        assert "422" in operation["responses"] and "400" in operation["responses"]


def test_place_order_schema_is_place_order_in(document: dict[str, Any]) -> None:
    component = document["components"]["schemas"]["PlaceOrderIn"]
    schema = schemas.PlaceOrderIn.model_json_schema(ref_template=REF)
    schema.pop("$defs")
    assert component == schema
    assert component["additionalProperties"] is False  # unknown and server-owned fields → 422
    assert set(component["required"]) == {
        "customer",
        "currency",
        "lines",
        "shipping_address",
        "shipping_method",
    }
    operation = document["paths"]["/v1/orders"]["post"]
    idempotency = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert idempotency and idempotency[0]["in"] == "header" and idempotency[0]["required"] is True


def test_responses_reference_their_models(document: dict[str, Any]) -> None:
    for route in ROUTES:
        if route.path.startswith("/local/"):
            continue
        operation = document["paths"][route.path][route.method.lower()]
        for status, model in route.responses.items():
            if model is None:
                continue
            content = operation["responses"][str(status)]["content"][route.produces]
            assert content["schema"] == {"$ref": f"#/components/schemas/{model.__name__}"}
            for name, schema in model_schema_as_components(model).items():
                assert document["components"]["schemas"][name] == schema, name


def test_errors_reference_the_error_shape(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["error"]
    pages = {(route.method.lower(), route.path): route.html_errors for route in ROUTES if route.html_errors}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and int(status) in pages.get((method, path), ()):
                    content = dict(response["content"])
                    if status == "403" and "security" in operation and operation["security"]:
                        # a staff page's own 403 (CSRF) is a page; the token's refusal is the JSON error
                        assert content.pop("application/json") == {"schema": {"$ref": "#/components/schemas/ErrorOut"}}
                    assert content == {"text/html": {"schema": {"type": "string"}}}, (method, path)
                elif int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, status)


def test_path_parameters_are_declared(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for operation in operations.values():
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert declared == names, path


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for operations in document["paths"].values() for op in operations.values()]
    assert len(ids) == len(set(ids))


def test_openapi_json_response_is_described_as_an_object(document: dict[str, Any]) -> None:
    # Regression: the document described itself as a string.
    ok = document["paths"]["/openapi.json"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"].get("type") == "object"


def test_the_survey_answer_documents_its_form_its_page_and_its_409(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/surveys/{token}"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "application/x-www-form-urlencoded"}
    assert set(operation["responses"]["201"]["content"]) == {"application/json", "text/html"}
    assert {"409", "415"} <= set(operation["responses"])  # answered already; a body of another type


def test_every_route_that_takes_a_json_body_documents_its_415(document: dict[str, Any]) -> None:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                assert "415" in operation["responses"], (method, path)
