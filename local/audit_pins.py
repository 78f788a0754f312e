"""Known vulnerabilities in the pinned runtime requirements, from PyPI's advisory data (OSV's, as pip-audit reads it).

pip-audit asks PyPI's per-release endpoint (/pypi/<name>/<version>/json), which the
registry proxy on these machines answers with 404 for every pin, so it audited
nothing. The project endpoint (/pypi/<name>/json) does answer, but its
`vulnerabilities` describe the latest release only. So each pin is checked with the
per-release endpoint where it answers, else with the project endpoint when the pin
is the latest release; a pin that neither can vouch for is listed as not audited.

Exit status 1 when a pin has a known (not withdrawn) vulnerability, else 0.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

PYPI = "https://pypi.org/pypi"
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Pin:
    name: str
    version: str


def pins(paths: list[str]) -> list[Pin]:
    """Every `name==version` requirement in the files; anything unpinned is an error (pins are the contract)."""
    found: list[Pin] = []
    for path in paths:
        for number, raw in enumerate(Path(path).read_text().splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            try:
                requirement = Requirement(line)
            except InvalidRequirement as error:
                raise SystemExit(f"{path}:{number}: not a requirement: {error}") from error
            exact = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            if len(exact) != 1:
                raise SystemExit(f"{path}:{number}: {requirement.name} is not pinned with ==")
            found.append(Pin(canonicalize_name(requirement.name), exact[0]))
    return found


def _get(url: str) -> dict[str, Any] | None:
    """The JSON at `url`, or None for 404."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - https://pypi.org only # nosec B310
            document: dict[str, Any] = json.load(response)
            return document
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def advisories(pin: Pin) -> list[dict[str, Any]] | None:
    """The pin's known vulnerabilities, or None when PyPI cannot say for this release."""
    release = _get(f"{PYPI}/{pin.name}/{pin.version}/json")
    if release is None:
        project = _get(f"{PYPI}/{pin.name}/json")
        if project is None or project["info"]["version"] != pin.version:
            return None
        release = project
    return [v for v in release.get("vulnerabilities") or [] if not v.get("withdrawn")]


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def main(paths: list[str]) -> int:
    vulnerable, unaudited = 0, []
    for pin in pins(paths):
        try:
            found = advisories(pin)
        except (urllib.error.URLError, TimeoutError) as error:
            _say(f"audit_pins: PyPI unreachable ({error}); nothing was audited")
            return 0
        if found is None:
            unaudited.append(f"{pin.name}=={pin.version}")
        for vulnerability in found or []:
            vulnerable += 1
            ids = ", ".join([vulnerability["id"], *vulnerability.get("aliases", [])])
            fixed = ", ".join(vulnerability.get("fixed_in") or []) or "no fix yet"
            _say(f"{pin.name}=={pin.version}: {ids} (fixed in {fixed}): {vulnerability.get('summary') or ''}")
    audited = len(pins(paths)) - len(unaudited)
    _say(f"audit_pins: {audited} pins audited, {vulnerable} known vulnerabilities")
    if unaudited:
        _say("audit_pins: not audited (older than PyPI's latest, no per-release data here): " + ", ".join(unaudited))
    return 1 if vulnerable else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
