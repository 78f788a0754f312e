"""Auth on every route (driven by the route registry), the catalogue, delivery estimates, health."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
import time_machine
from chalice.test import Client
from moto import mock_aws

import app as _app  # registers every route in ROUTES before collection
from chalicelib.adapters.dynamo.schema import ensure_table
from chalicelib.api.auth import ROLES, mint_local_token
from chalicelib.api.http import ROUTES, RouteDoc
from chalicelib.api.schemas import CatalogItemOut, DeliveryEstimateOut
from chalicelib.settings import Settings
from tests.functional.conftest import CATALOG, Api

PATH_VALUES = {"sku": "MUG-1", "code": "price_mismatch"}
SOME_ID = "ord_01JD3M5X8Q2W7Y6Z4K9N0P1R2S"
PROTECTED = [route for route in ROUTES if route.roles is not None]


def concrete(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda match: PATH_VALUES.get(match.group(1), SOME_ID), path)


def route_id(route: RouteDoc) -> str:
    return f"{route.method} {route.path}"


def send(api: Api, route: RouteDoc, **kwargs: Any) -> Any:
    body: dict[str, Any] | None = {} if route.request is not None else None
    return api.call(route.method, concrete(route.path), body, **kwargs)


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.data
    assert set(response.data) == {"error"}, response.data
    error: dict[str, Any] = response.data["error"]
    assert set(error) == {"code", "message", "details"}
    assert re.fullmatch(r"[a-z][a-z0-9_]*", error["code"])
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], list)
    if code is not None:
        assert error["code"] == code
    return error


def test_the_registry_protects_the_documented_routes() -> None:
    protected = {route_id(route) for route in PROTECTED}
    assert {"PUT /v1/catalog/{sku}", "POST /v1/delivery-estimates", "POST /v1/orders"} <= protected
    assert {"GET /health", "GET /openapi.json"}.isdisjoint(protected)


# --- every protected route ------------------------------------------------------------------------
# Nothing here changes state (every call is refused or invalid), so one app and one table serve the
# whole class: the matrix grows with every route and a fresh table per case would cost ~0.4 s each.


@pytest.fixture(scope="class")
def shared_api() -> Iterator[Api]:
    from chalicelib.bootstrap import reset_container

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("OC_", "AWS_ENDPOINT_URL")):
                patch.delenv(name)
        patch.setenv("OC_TABLE_NAME", "ordercare-test")
        reset_container()
        try:
            with mock_aws():
                ensure_table(boto3.client("dynamodb"), "ordercare-test")
                with Client(_app.app) as client:
                    yield Api(client)
        finally:
            reset_container()


FORBIDDEN = [
    pytest.param(route, role, id=f"{route_id(route)} as {role}")
    for route in PROTECTED
    for role in ROLES
    if route.roles is not None and role not in route.roles
]
ALLOWED = [
    pytest.param(route, role, id=f"{route_id(route)} as {role}")
    for route in PROTECTED
    for role in ROLES
    if route.roles is not None and role in route.roles
]


def test_the_matrix_is_not_empty() -> None:
    # Guards against the parametrisation silently generating nothing.
    assert len(FORBIDDEN) >= 8 and len(ALLOWED) >= 8


class TestEveryProtectedRoute:
    @pytest.mark.parametrize("route", PROTECTED, ids=route_id)
    def test_no_token_is_401(self, shared_api: Api, route: RouteDoc) -> None:
        response = send(shared_api, route)
        assert_error(response, 401, "unauthorized")
        assert response.headers.get("WWW-Authenticate") == "Bearer"

    @pytest.mark.parametrize("route", PROTECTED, ids=route_id)
    def test_garbage_token_is_401(self, shared_api: Api, route: RouteDoc) -> None:
        response = send(shared_api, route, headers={"Authorization": "Bearer not.a.token"})
        assert_error(response, 401, "unauthorized")

    @pytest.mark.parametrize("route", PROTECTED, ids=route_id)
    def test_expired_token_is_401(self, shared_api: Api, route: RouteDoc) -> None:
        assert route.roles is not None
        token = mint_local_token(Settings.from_env(), route.roles[0], "someone", ttl_seconds=-1)
        response = send(shared_api, route, headers={"Authorization": f"Bearer {token}"})
        assert "expired" in assert_error(response, 401, "unauthorized")["message"]

    @pytest.mark.parametrize(("route", "role"), FORBIDDEN)
    def test_role_not_allowed_is_403(self, shared_api: Api, route: RouteDoc, role: str) -> None:
        assert_error(send(shared_api, route, role=role), 403, "forbidden")

    @pytest.mark.parametrize(("route", "role"), ALLOWED)
    def test_allowed_role_gets_past_auth(self, shared_api: Api, route: RouteDoc, role: str) -> None:
        response = send(shared_api, route, role=role)
        assert response.status_code not in (401, 403, 500), response.data


# --- health -----------------------------------------------------------------------------------------


def test_health_needs_no_token(api: Api) -> None:
    response = api.call("GET", "/health")
    assert response.status_code == 200 and response.data == {"status": "ok"}
    bad_token = api.call("GET", "/health", headers={"Authorization": "Bearer garbage"})
    assert bad_token.status_code == 200 and bad_token.data == {"status": "ok"}


# --- catalogue -----------------------------------------------------------------------------------------

ITEM = {"name": "Tea pot", "unit_price": 3450, "currency": "EUR", "stock": 7, "tax_rate_bps": 1900}


@pytest.mark.parametrize("role", ["admin", "storefront"])
def test_catalog_put_then_get_by_every_role(api: Api, role: str) -> None:
    put = api.call("PUT", "/v1/catalog/TEA-POT_2.L", ITEM, role=role)
    assert put.status_code == 200, put.data
    assert {key: put.data[key] for key in ITEM} == ITEM
    assert put.data["sku"] == "TEA-POT_2.L"
    CatalogItemOut.model_validate(put.data)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", put.data["updated_at"])
    for reader in ROLES:
        got = api.call("GET", "/v1/catalog/TEA-POT_2.L", role=reader)
        assert got.status_code == 200, (reader, got.data)
        assert got.data == put.data


def test_catalog_put_replaces_the_item(api: Api) -> None:
    changed = {**CATALOG["MUG-1"], "unit_price": 1499, "stock": 3}
    assert api.call("PUT", "/v1/catalog/MUG-1", changed, role="admin").status_code == 200
    got = api.call("GET", "/v1/catalog/MUG-1", role="customer").data
    assert (got["unit_price"], got["stock"]) == (1499, 3)


@pytest.mark.parametrize("role", ["customer", "agent"])
def test_catalog_put_by_customer_or_agent_is_403(api: Api, role: str) -> None:
    assert_error(api.call("PUT", "/v1/catalog/MUG-1", {**ITEM, "unit_price": 1}, role=role), 403, "forbidden")
    assert api.call("GET", "/v1/catalog/MUG-1", role="admin").data["unit_price"] == 1299  # unchanged


def test_catalog_unknown_sku_is_404(api: Api) -> None:
    assert_error(api.call("GET", "/v1/catalog/NOPE-404", role="customer"), 404, "not_found")


@pytest.mark.parametrize("sku", ["-leading-dash", "x" * 65, "bad!sku", "sp%20ace", "%C3%A9t%C3%A9"])
def test_catalog_invalid_sku_in_path_is_422(api: Api, sku: str) -> None:
    assert_error(api.call("GET", f"/v1/catalog/{sku}", role="admin"), 422, "validation_error")
    assert_error(api.call("PUT", f"/v1/catalog/{sku}", ITEM, role="admin"), 422, "validation_error")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit_price": -1}, "unit_price"),
        ({"unit_price": 12.99}, "unit_price"),
        ({"unit_price": 1299.0}, "unit_price"),
        ({"unit_price": "1299"}, "unit_price"),
        ({"stock": -1}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"tax_rate_bps": 10_001}, "tax_rate_bps"),
        ({"tax_rate_bps": -1}, "tax_rate_bps"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"surprise": 1}, "surprise"),
        ({"sku": "OTHER-1"}, "sku"),  # server-owned: the path says which SKU
        ({"updated_at": "2026-01-01T00:00:00Z"}, "updated_at"),
    ],
)
def test_catalog_invalid_bodies_are_422(api: Api, change: dict[str, Any], field: str) -> None:
    error = assert_error(api.call("PUT", "/v1/catalog/MUG-1", {**ITEM, **change}, role="admin"), 422)
    assert field in [detail["field"] for detail in error["details"]]
    assert api.call("GET", "/v1/catalog/MUG-1", role="admin").data["unit_price"] == 1299


@pytest.mark.parametrize("missing", sorted(ITEM))
def test_catalog_missing_field_is_422(api: Api, missing: str) -> None:
    body = {key: value for key, value in ITEM.items() if key != missing}
    error = assert_error(api.call("PUT", "/v1/catalog/NEW-1", body, role="admin"), 422, "validation_error")
    assert error["details"] == [{"field": missing, "message": "Field required", "type": "missing"}]
    assert_error(api.call("GET", "/v1/catalog/NEW-1", role="admin"), 404)


def test_catalog_tax_rate_bounds_are_inclusive(api: Api) -> None:
    for rate in (0, 10_000):
        assert api.call("PUT", "/v1/catalog/EDGE-1", {**ITEM, "tax_rate_bps": rate}, role="admin").status_code == 200


def test_catalog_malformed_json_is_400(api: Api) -> None:
    assert_error(api.call("PUT", "/v1/catalog/MUG-1", raw=b"{nope", role="admin"), 400, "malformed_json")


# --- delivery estimates ------------------------------------------------------------------------------


FROZEN_NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)  # Thu 13:00 in Berlin


@pytest.fixture
def frozen_now(clock: time_machine.Traveller) -> datetime:
    """The clock stands at FROZEN_NOW (`at` is only accepted from a day ago to a year ahead)."""
    clock.move_to(FROZEN_NOW, tick=False)
    return FROZEN_NOW


def estimate(api: Api, body: dict[str, Any], role: str = "storefront") -> Any:
    return api.call("POST", "/v1/delivery-estimates", body, role=role, sub="web")


def test_estimate_api_md_example(api: Api, frozen_now: datetime) -> None:
    response = estimate(api, {"shipping_method": "standard", "country": "DE", "at": "2026-11-27T09:00:00Z"})
    assert response.status_code == 200, response.data
    DeliveryEstimateOut.model_validate(response.data)
    assert response.data == {
        "shipping_method": "standard",
        "country": "DE",
        "start_day": "2026-11-27",
        "ship_by": "2026-12-01T22:59:59Z",
        "deliver_by": "2026-12-04T22:59:59Z",
    }


def test_estimate_express_after_cutoff_with_an_offset(api: Api, frozen_now: datetime) -> None:
    body = {"shipping_method": "express", "country": "AT", "at": "2026-11-27T16:00:00+01:00"}
    response = estimate(api, body)
    assert response.status_code == 200, response.data
    assert response.data["start_day"] == "2026-11-30"
    assert (response.data["ship_by"], response.data["deliver_by"]) == (
        "2026-12-02T22:59:59Z",
        "2026-12-03T22:59:59Z",
    )


def test_estimate_defaults_to_now(api: Api, frozen_now: datetime) -> None:
    response = estimate(api, {"shipping_method": "standard", "country": "DE"})
    assert response.status_code == 200, response.data
    assert response.data["start_day"] == "2026-11-26"  # Thu, before the cut-off
    assert (response.data["ship_by"], response.data["deliver_by"]) == (
        "2026-11-30T22:59:59Z",
        "2026-12-03T22:59:59Z",
    )


def test_estimate_defaults_to_the_real_now(api: Api) -> None:
    response = estimate(api, {"shipping_method": "express", "country": "DE"})
    assert response.status_code == 200, response.data
    ship_by = datetime.fromisoformat(response.data["ship_by"].replace("Z", "+00:00"))
    assert ship_by > datetime.now(UTC)


@pytest.mark.parametrize("role", ["customer", "agent", "admin"])
def test_estimate_is_storefront_only(api: Api, role: str) -> None:
    assert_error(estimate(api, {"shipping_method": "standard", "country": "DE"}, role=role), 403)


@pytest.mark.parametrize("country", ["US", "JP", "ZZ"])
def test_estimate_unsupported_country_is_422(api: Api, country: str) -> None:
    response = estimate(api, {"shipping_method": "standard", "country": country})
    assert_error(response, 422, "unsupported_country")


def test_estimate_unknown_method_is_422(api: Api) -> None:
    error = assert_error(estimate(api, {"shipping_method": "teleport", "country": "DE"}), 422, "validation_error")
    assert "teleport" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"shipping_method": "standard", "country": "DE", "at": "2026-11-27T09:00:00"},  # naive
        {"shipping_method": "standard", "country": "DE", "at": "next friday"},
        {"shipping_method": "standard", "country": "de"},
        {"shipping_method": "", "country": "DE"},
        {"country": "DE"},
        {"shipping_method": "standard", "country": "DE", "ship_by": "2026-12-01T22:59:59Z"},
    ],
)
def test_estimate_invalid_bodies_are_422(api: Api, body: dict[str, Any]) -> None:
    assert_error(estimate(api, body), 422, "validation_error")


@pytest.mark.parametrize(
    "at",
    [
        "9999-12-31T23:00:00Z",  # regression: OverflowError → 500
        "9999-12-30T10:00:00Z",
        "0001-01-01T00:00:00Z",  # regression: 200 with a malformed ship_by ("1-01-03T23:06:31Z")
        "2100-01-01T00:00:00.000001Z",  # just past the supported range
        "1999-12-31T23:59:59Z",
    ],
)
def test_estimate_at_out_of_range_is_422(api: Api, frozen_now: datetime, at: str) -> None:
    response = estimate(api, {"shipping_method": "standard", "country": "DE", "at": at})
    error = assert_error(response, 422, "validation_error")
    assert error["details"] == [{"field": "at"}]


@pytest.mark.parametrize("at", ["2100-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2026-11-27T09:00:00Z"])
def test_estimate_at_range_edges_are_accepted(api: Api, frozen_now: datetime, at: str) -> None:
    response = estimate(api, {"shipping_method": "standard", "country": "DE", "at": at})
    assert response.status_code == 200, response.data


def test_wrong_content_type_gets_the_documented_error_shape(api: Api) -> None:
    # Regression: Chalice's own 415 body was {"Code", "Message"}.
    response = api.call("PUT", "/v1/catalog/MUG-1", ITEM, role="admin", headers={"Content-Type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


def test_wrong_method_gets_the_documented_error_shape(api: Api) -> None:
    assert_error(api.call("DELETE", "/v1/catalog/MUG-1", role="admin"), 405, "method_not_allowed")
