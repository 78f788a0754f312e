"""Trim what `chalice package` builds before CDK uploads it.

Two things in the dependency zip are dead weight on Lambda:
* boto3, botocore, s3transfer, jmespath (pulled in by pynamodb): the Python runtime
  provides them (`make bench` measures the package without them for that reason);
* Babel's locale data for languages the shop never writes in: messages and pages
  are worded in English and German, so only those locales (and `root`, which
  every locale inherits from) are kept; any other customer locale is formatted
  the English way (see chalicelib/presentation/formatting.py);
* e-invoice weight nobody imports: drafthorse's XSDs for other profiles (the code
  validates with the EN 16931 one only), lxml's C sources and headers and the parts
  of lxml nothing here uses (objectify, html, isoschematron), python-stdnum's big
  lookup tables for numbers other than VAT ids and IBANs (MAC prefixes, IMSI,
  Chinese regions, NZ banks).

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
UNUSED_LXML = re.compile(r"^(objectify\..*|html|isoschematron|includes|.*\.(pyx|pxd|pxi|h|c))$")
UNUSED_STDNUM = {"oui.dat", "imsi.dat", "cn/loc.dat", "nz/banks.dat"}


def dropped(name: str) -> bool:
    """True for a path inside the package that Lambda does not need."""
    parts = PurePosixPath(name).parts
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
