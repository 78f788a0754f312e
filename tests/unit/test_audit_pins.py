"""The pin auditor of `make security` (local/audit_pins.py), against canned PyPI answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from local import audit_pins

ADVISORY = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-1"], "fixed_in": ["2.0.1"], "summary": "bad"}


def _pypi(answers: dict[str, dict[str, Any] | None]) -> Any:
    def get(url: str) -> dict[str, Any] | None:
        return answers.get(url.removeprefix(audit_pins.PYPI + "/"))

    return get


def _requirements(tmp_path: Path, text: str) -> str:
    path = tmp_path / "requirements.txt"
    path.write_text(text)
    return str(path)


def test_a_pin_with_a_known_vulnerability_fails_the_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(audit_pins, "_get", _pypi({"lib/2.0.0/json": {"vulnerabilities": [ADVISORY]}}))
    assert audit_pins.main([_requirements(tmp_path, "Lib==2.0.0  # why\n")]) == 1
    assert "lib==2.0.0: PYSEC-2099-1, CVE-2099-1 (fixed in 2.0.1)" in capsys.readouterr().out


def test_the_project_endpoint_speaks_for_the_latest_release_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = {"info": {"version": "2.0.0"}, "vulnerabilities": [ADVISORY]}
    monkeypatch.setattr(audit_pins, "_get", _pypi({"lib/json": project, "old/json": {"info": {"version": "9"}}}))
    assert audit_pins.main([_requirements(tmp_path, "lib==2.0.0\nold==1.0\n")]) == 1
    captured = capsys.readouterr()
    assert "lib==2.0.0: PYSEC-2099-1" in captured.out
    assert "not audited (older than PyPI's latest, no per-release data here): old==1.0" in captured.out


def test_withdrawn_advisories_do_not_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    withdrawn = {**ADVISORY, "withdrawn": "2099-01-02T00:00:00Z"}
    monkeypatch.setattr(audit_pins, "_get", _pypi({"lib/2.0.0/json": {"vulnerabilities": [withdrawn]}}))
    assert audit_pins.main([_requirements(tmp_path, "lib==2.0.0\n")]) == 0


def test_an_unpinned_requirement_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="lib is not pinned with =="):
        audit_pins.pins([_requirements(tmp_path, "lib>=2\n")])
