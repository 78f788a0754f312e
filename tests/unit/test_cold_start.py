"""Cold start: `import app` registers the routes and little else; a request imports what it uses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
# What the first request that needs it pays for, not every cold start.
DEFERRED = (
    "pydantic",
    "boto3",
    "botocore",
    "pynamodb",
    "jinja2",
    "fpdf",
    "babel",
    "chalicelib.api.schemas",
    "chalicelib.domain.orders",
    "chalicelib.services.orders",
    "chalicelib.presentation.presenters",
)


def _run(code: str) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AWS_DEFAULT_REGION": "eu-central-1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def test_import_app_defers_models_sdks_and_services() -> None:
    loaded = _run(f"import sys, app; print(sorted(m for m in {DEFERRED!r} if m in sys.modules))")
    assert loaded == "[]"


def test_a_request_without_a_body_imports_no_pydantic() -> None:
    code = """
import sys, app
from chalice.test import Client
with Client(app.app) as client:
    status = client.http.get("/health").status_code
print(status, "pydantic" in sys.modules)
"""
    assert _run(code) == "200 False"


def test_a_route_model_imports_only_its_area_of_the_schemas() -> None:
    code = """
import sys, app
from chalicelib.api.http import resolve_model
resolve_model("PlaceOrderIn")
print(sorted(m.rpartition(".")[2] for m in sys.modules if m.startswith("chalicelib.api.schemas")))
"""
    assert _run(code) == "['common', 'orders', 'schemas']"


def test_every_route_names_models_that_exist() -> None:
    import app  # noqa: F401 - registers every route
    from chalicelib.api.http import ROUTES

    for route in ROUTES:
        refs = {"request": route.request_ref, **{str(status): ref for status, ref in route.response_refs.items()}}
        models = {"request": route.request, **{str(status): model for status, model in route.responses.items()}}
        for key, ref in refs.items():
            model = models[key]
            if ref is None:
                assert model is None
                continue
            assert isinstance(model, type) and issubclass(model, BaseModel), (route.method, route.path, key)
            assert model.__name__ == (ref.__name__ if isinstance(ref, type) else ref.rpartition(":")[2])
