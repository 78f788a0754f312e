"""Fixtures shared by every tier: a safe AWS environment and token helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests import speedups

# Property tests judge correctness, not speed: on a loaded 2-core machine hypothesis's default
# 200 ms deadline per example fails tests that are right (timings belong in bench/).
settings.register_profile("ordercare", deadline=None)
settings.load_profile("ordercare")

# Never reach a real AWS account from tests, whatever the developer's shell has.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="eu-central-1",
    AWS_REGION="eu-central-1",
)


speedups.apply()

E_INVOICES_CHECKED = {"documents": 0, "pdfs": 0}

# The longest files (~40 s and more of one worker, measured), started first: pytest-xdist hands whole
# files out in collection order, and one of these begun last keeps a worker busy while the other idles.
LONGEST_FIRST = (
    "e2e/test_providers_http.py",
    "integration/test_sla_sweep_store.py",
    "e2e/test_outage_drill_http.py",
    "browser/test_portal_browser.py",
    "browser/test_tracking_browser.py",
    "functional/test_fault_harness.py",
    "e2e/test_load_smoke.py",
    "functional/test_feedback.py",
    "integration/test_pipeline_real_stream.py",
    "e2e/test_make_run.py",
    "functional/test_portal.py",
    "e2e/test_portal_http.py",
    "functional/test_sla.py",
    "functional/test_returns_api.py",
    "functional/test_stalls.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    rank = {here / name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path, len(rank)))  # stable: the rest keep their order


def pytest_sessionfinish(session: pytest.Session) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker: the controller prints the totals
        worker_output["e_invoices_checked"] = dict(E_INVOICES_CHECKED)


@pytest.hookimpl(optionalhook=True)  # an xdist hook
def pytest_testnodedown(node: Any, error: Any) -> None:
    for name, count in getattr(node, "workeroutput", {}).get("e_invoices_checked", {}).items():
        E_INVOICES_CHECKED[name] += count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    checked = E_INVOICES_CHECKED
    terminalreporter.write_line(
        f"e-invoices checked by the official EN 16931 rules: {checked['documents']} ({checked['pdfs']} PDFs)"
    )


@pytest.fixture(scope="session", autouse=True)
def every_e_invoice_conforms() -> Iterator[None]:
    """Each e-invoice (XML, Factur-X PDF) rendered by any test is checked against the official rules
    at the end of the session; one that fails them fails the run (a teardown error)."""
    from tests.einvoice_check import Recorder, recording

    recorder = Recorder()
    with recording(recorder):
        yield
    problems = recorder.problems()
    E_INVOICES_CHECKED["documents"] += len(recorder.documents)
    E_INVOICES_CHECKED["pdfs"] += sum(1 for _, _, pdf in recorder.documents.values() if pdf is not None)
    if problems:
        pytest.fail(f"{len(problems)} e-invoice conformance problem(s):\n" + "\n".join(problems[:50]))


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A clean OrderCare configuration (local defaults) for one test."""
    from chalicelib.bootstrap import reset_container

    for name in list(os.environ):
        if name.startswith("OC_") or name.startswith("AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OC_TABLE_NAME", "ordercare-test")
    monkeypatch.setenv("OC_LOCAL_FAULTS", str(tmp_path / "faults.json"))  # never a running stack's drills
    reset_container()
    yield
    reset_container()


def bearer(role: str, sub: str, **overrides: object) -> dict[str, str]:
    from chalicelib.api.auth import mint_local_token
    from chalicelib.settings import Settings

    return {"Authorization": f"Bearer {mint_local_token(Settings.from_env(), role, sub)}"}
