"""Trim what `chalice package` builds before CDK uploads it.

Two things in the dependency zip are dead weight on Lambda:
* boto3, botocore, s3transfer, jmespath (pulled in by pynamodb): the Python runtime
  provides them (`make bench` measures the package without them for that reason);
* Babel's locale data for languages the shop never writes in: messages and pages
  are worded in English and German, so only those locales (and `root`, which
  every locale inherits from) are kept; any other customer locale is formatted
  the English way (see chalicelib/presentation/formatting.py);
* code nothing here imports (UNUSED_TREES), and in the API package the PDF fonts;
* e-invoice weight nobody imports: drafthorse's XSDs for other profiles (the code
  validates with the EN 16931 one only), lxml's C sources and headers and the parts
  of lxml nothing here uses (objectify, html, isoschematron), python-stdnum's big
  lookup tables for numbers other than VAT ids and IBANs (MAC prefixes, IMSI,
  Chinese regions, NZ banks).

`prune_zip` rewrites a zip in place; `bench/package_size.py` uses the same rules
to report the size that is deployed.

Two packages: the main Chalice project (the repository root: the API, the stream consumers,
the schedules) and the documents function's (`stage_documents_project`: documents/app.py,
the same chalicelib/, and requirements.txt plus documents/requirements.txt — fpdf2, Pillow,
fontTools, drafthorse, lxml, pypdf ride in that package only).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from chalice.cdk import Chalice

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
KEPT_LOCALES = re.compile(r"^(root|en|de)(_[A-Za-z0-9]+)*\.dat$")
KEPT_DRAFTHORSE_SCHEMA = re.compile(r"^Factur-X_1\.0\.07_EN16931(_.*)?\.(xsd|xml)$")
UNUSED_LXML = re.compile(r"^(objectify\..*|html|isoschematron|includes|.*\.(pyx|pxd|pxi|h|c))$")
UNUSED_STDNUM = {"oui.dat", "imsi.dat", "cn/loc.dat", "nz/banks.dat"}
# Imported by nothing here: Powertools' REST resolver (Chalice routes), Stripe's request-parameter
# TypedDicts and thin-event classes (only webhook signatures are verified: construct_event needs
# neither), dnspython (email-validator loads it for deliverability checks, which are off), the
# EN 16931 XSLT (the tests validate with it).
UNUSED_TREES = (
    ("aws_lambda_powertools", "event_handler"),
    ("stripe", "params"),
    ("stripe", "events"),
    ("dns",),
    ("en16931-cii",),
)
# What only the documents function uses: the fonts its PDFs embed.
DOCUMENTS_ONLY = (("chalicelib", "documents", "fonts"),)
API, DOCUMENTS = "api", "documents"  # the two packages


def _under(parts: tuple[str, ...], trees: tuple[tuple[str, ...], ...]) -> bool:
    if parts[:2] == ("python", "lib") and len(parts) > 4 and parts[3] == "site-packages":
        parts = parts[4:]  # a layer's python/lib/python3.11/site-packages/…
    return any(parts[: len(tree)] == tree and len(parts) > len(tree) for tree in trees)


def dropped(name: str, package: str = API) -> bool:
    """True for a path inside the package (API or DOCUMENTS) that its function does not need."""
    parts = PurePosixPath(name).parts
    if _under(parts, UNUSED_TREES) or (package == API and _under(parts, DOCUMENTS_ONLY)):
        return True
    for index, part in enumerate(parts):
        top = part.split("-")[0]  # "botocore-1.44.5.dist-info" → "botocore"
        if top in RUNTIME_PROVIDED and (index + 1 == len(parts) or part == top or part.endswith(".dist-info")):
            return True
        if part == "locale-data" and index > 0 and parts[index - 1] == "babel" and index + 1 < len(parts):
            return not KEPT_LOCALES.match(parts[index + 1])
        if part == "lxml" and index + 1 < len(parts):
            return bool(UNUSED_LXML.match(parts[index + 1]))
        if part == "stdnum" and index + 1 < len(parts):
            return "/".join(parts[index + 1 :]) in UNUSED_STDNUM
        if part == "schema" and index > 0 and parts[index - 1] == "drafthorse" and index + 1 < len(parts):
            return not KEPT_DRAFTHORSE_SCHEMA.match(parts[index + 1])
    return False


def prune_zip(path: str, package: str = API) -> tuple[int, int]:
    """Rewrite the zip without the files its package drops; (size before, size after) in bytes."""
    before = os.path.getsize(path)
    handle, temporary = tempfile.mkstemp(suffix=".zip", dir=os.path.dirname(path))
    os.close(handle)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if not dropped(info.filename, package):
                target.writestr(info, source.read(info.filename))
    shutil.move(temporary, path)
    return before, os.path.getsize(path)


class PrunedChalice(Chalice):
    """chalice.cdk.Chalice whose packaged zips are pruned (as `package`, API or DOCUMENTS) before staging."""

    def __init__(self, *args: Any, package: str = API, **kwargs: Any) -> None:
        self.package = package  # read by _package_app, which the base constructor calls
        super().__init__(*args, **kwargs)

    def _package_app(self) -> Any:
        # Chalice imports the project's `app` module by name: the first app's stays cached in
        # sys.modules, and the second package would be built from it.
        previous = sys.modules.pop("app", None)
        try:
            result = super()._package_app()
        finally:
            if previous is not None:
                sys.modules["app"] = previous
        package_dir = getattr(self, "_sam_package_dir", "")
        for name in os.listdir(package_dir) if package_dir and os.path.isdir(package_dir) else ():
            if name.endswith(".zip"):
                prune_zip(os.path.join(package_dir, name), self.package)
        return result


DOCUMENTS_PROJECT = "documents"
STAGED = ".staged"  # documents/.staged/: gitignored; kept between runs so Chalice's dependency cache is reused


def stage_documents_project(root: Path, target: Path | None = None) -> Path:
    """The documents function's Chalice project, assembled from the repository at `root`
    (in documents/.staged/ unless `target` is given; its .chalice/deployments cache survives)."""
    source = root / DOCUMENTS_PROJECT
    project = target if target is not None else source / STAGED
    for stale in ("chalicelib", "app.py", "requirements.txt", ".chalice/config.json"):
        path = project / stale
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    (project / ".chalice").mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / ".chalice" / "config.json", project / ".chalice" / "config.json")
    shutil.copy2(source / "app.py", project / "app.py")
    shutil.copytree(root / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    lines = [
        line
        for path in (root / "requirements.txt", source / "requirements.txt")
        for line in path.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith(("#", "-r"))
    ]
    (project / "requirements.txt").write_text("\n".join(lines) + "\n")
    return project
