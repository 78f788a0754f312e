"""Synthesize the CDK app once per test session (two stacks, in parallel subprocesses).

* `dev`: the real app (infra/app.py, exactly what `make synth` runs).
* `prod_fixture`: OrderCareStack around a small Chalice app with schedules and a
  stream consumer, and every optional context value set (tests/infra/synth_fixture.py).

Subprocesses keep chalice.cdk's side effects (os.environ, sys.path, the cached
`app` module, the working directory) out of the test process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYNTH_TIMEOUT_SECONDS = 900  # the first `chalice package` downloads the Lambda wheels
DUMMY_ACCOUNT = "123456789012"
DUMMY_REGION = "eu-central-1"
NODE_MAJOR = "20"
INFRA_DEPS = ("aws_cdk", "constructs", "cfnlint")

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", NODE_MAJOR)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The first infra test also waits for the session's synth (two stacks, three `chalice package`
    runs): give every infra test the synth's own bound rather than the suite's 300 s."""
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SYNTH_TIMEOUT_SECONDS))


@dataclass(frozen=True)
class Synthesized:
    name: str
    stack_name: str
    path: Path
    template: dict[str, Any]
    seconds: float

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == resource_type}

    def resource(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))


def _require_infra_deps() -> None:
    missing = [name for name in INFRA_DEPS if importlib.util.find_spec(name) is None]
    if missing:
        message = f"infra test dependencies missing ({', '.join(missing)}): run `make infra-install`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _env(outdir: Path, context: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OC_", "CDK_"))}
    env.update(
        CDK_DEFAULT_ACCOUNT=DUMMY_ACCOUNT,
        CDK_DEFAULT_REGION=DUMMY_REGION,
        AWS_DEFAULT_REGION=DUMMY_REGION,
        AWS_EC2_METADATA_DISABLED="true",
        CDK_OUTDIR=str(outdir),
        CDK_CONTEXT_JSON=json.dumps(context),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=NODE_MAJOR,
    )
    return env


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Synthesized]]:
    _require_infra_deps()
    base = tmp_path_factory.mktemp("cdk")
    jobs = {
        "dev": ("OrderCare-dev", [sys.executable, str(ROOT / "infra" / "app.py")], {"stage": "dev"}),
        "prod_fixture": (
            "OrderCare-prod",
            [sys.executable, str(ROOT / "tests" / "infra" / "synth_fixture.py"), str(base / "prod_fixture")],
            {},
        ),
    }
    started = time.perf_counter()
    running = {}
    for name, (_, command, context) in jobs.items():
        outdir = base / name
        outdir.mkdir()
        running[name] = subprocess.Popen(
            command,
            cwd=outdir,
            env=_env(outdir, context),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    results: dict[str, Synthesized] = {}
    for name, process in running.items():
        output, _ = process.communicate(timeout=SYNTH_TIMEOUT_SECONDS)
        assert process.returncode == 0, f"synth {name} failed:\n{output[-6000:]}"
        stack_name = jobs[name][0]
        path = base / name / f"{stack_name}.template.json"
        results[name] = Synthesized(
            name=name,
            stack_name=stack_name,
            path=path,
            template=json.loads(path.read_text()),
            seconds=time.perf_counter() - started,
        )
    yield results


@pytest.fixture(scope="session")
def dev(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized["dev"]


@pytest.fixture(scope="session")
def prod(synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized["prod_fixture"]


@pytest.fixture(scope="session", params=["dev", "prod_fixture"])
def each(request: pytest.FixtureRequest, synthesized: dict[str, Synthesized]) -> Synthesized:
    """Both synthesized stacks, for promises that hold in every stage."""
    return synthesized[request.param]


def optional_module(name: str) -> Any:
    """Import an infra-only dependency (aws_cdk, cfnlint) untyped, so that `make typecheck`
    passes on a checkout where `make infra-install` has not run."""
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def match() -> Any:
    """aws_cdk.assertions.Match."""
    _require_infra_deps()
    return optional_module("aws_cdk.assertions").Match


@pytest.fixture(scope="session")
def template_of(synthesized: dict[str, Synthesized]) -> Any:
    """aws_cdk.assertions.Template for a synthesized stack, built once each."""
    template_class = optional_module("aws_cdk.assertions").Template
    cache: dict[str, Any] = {}

    def get(synth: Synthesized) -> Any:
        if synth.name not in cache:
            cache[synth.name] = template_class.from_json(synth.template)
        return cache[synth.name]

    return get
