"""Schema fuzzing over HTTP: schemathesis reads the `/openapi.json` that `make run` serves and sends
generated requests to every operation, once for each role the operation documents (a customer,
an agent, an admin and the storefront, with tokens from `make -s token`; public routes and portal
pages without one). Every answer must be below 500 and match the document: a documented status
code, its content type and its schema.

`make test` runs a few examples per operation and role (OC_FUZZ_EXAMPLES, default 3); `make fuzz`
runs many more. The stack runs on free ports of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.test_make_run import Stack, _free_ports, _kill, _start, _token, _wait_healthy

pytestmark = pytest.mark.timeout(int(os.environ.get("OC_FUZZ_TIMEOUT", "900")))

EXAMPLES = int(os.environ.get("OC_FUZZ_EXAMPLES", "3"))
DERANDOMIZE = "OC_FUZZ_EXAMPLES" not in os.environ  # make test: the same examples each run; make fuzz: fresh ones
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SUBJECTS = {"customer": "cus_fuzz", "agent": "agt_fuzz", "admin": "adm_fuzz", "storefront": "web"}
# The local stack's own drill and helper routes (fault injection would fail every later request).
SKIPPED_PREFIX = "/local/"


def _cases() -> list[Any]:
    import app  # noqa: F401 - registers every route
    from chalicelib.api.http import ROUTES

    cases = []
    for route in sorted(ROUTES, key=lambda r: (r.path, r.method)):
        if route.path.startswith(SKIPPED_PREFIX):
            continue
        for role in route.roles or (None,):
            cases.append(pytest.param(route.path, route.method, role, id=f"{route.method} {route.path} {role or '-'}"))
    return cases


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    names = ("OC_API_PORT", "OC_DDB_PORT", "OC_AWS_PORT")
    ports = dict(zip(names, _free_ports(3), strict=True))
    running = _start(ports, tmp_path_factory.mktemp("fuzz") / "make-run.log")
    try:
        _wait_healthy(running)
        yield running
    finally:
        _kill(running)


@pytest.fixture(scope="module")
def served(stack: Stack) -> Any:
    return schemathesis.openapi.from_url(f"{stack.url}/openapi.json")


@pytest.fixture(scope="module")
def tokens(stack: Stack) -> dict[str, str]:
    return {role: _token(stack, role, sub) for role, sub in SUBJECTS.items()}


def test_the_served_document_lists_every_route(served: Any) -> None:
    import app  # noqa: F401
    from chalicelib.api.http import ROUTES

    documented = {(path, method.upper()) for path, item in served.raw_schema["paths"].items() for method in item}
    assert {(r.path, r.method) for r in ROUTES if not r.path.startswith(SKIPPED_PREFIX)} <= documented


@pytest.mark.parametrize(("path", "method", "role"), _cases())
def test_fuzzed_requests_get_documented_answers(
    stack: Stack, served: Any, tokens: dict[str, str], path: str, method: str, role: str | None
) -> None:
    operation = served[path][method]
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
    statuses: list[int] = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        database=None,
        derandomize=DERANDOMIZE,
    )
    def conforms(case: Any) -> None:
        response = case.call(headers={**(case.headers or {}), **headers}, timeout=30)
        statuses.append(response.status_code)
        case.validate_response(response, checks=CHECKS)

    try:
        conforms()
    except Exception as error:
        raise AssertionError(f"{method} {path} as {role or 'nobody'}: {error}\n{stack.log_tail(3000)}") from error
    assert statuses, "no request was sent"
    if role:  # the token was accepted: the requests reached the route, not just the authentication
        assert set(statuses) != {401}, f"{method} {path} as {role}: every request was refused as unauthenticated"
