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
  Chinese regions, NZ banks) and its packages for countries outside the EU and UK;
* files nothing reads at run time (FILES_NEVER_READ): typing stubs, and of each *.dist-info
  everything but METADATA (ulid, holidays and pydantic call importlib.metadata.version, which reads
  its headers; the long description after them is cut) and entry_points.txt (pydantic's plugin lookup);
* holidays for countries the shop cannot be in: the shop country is one of the shipping countries
  (infra/stacks/config.py refuses any other), so only their modules and translations are kept and
  holidays/countries/__init__.py, which imports every country, is rewritten to import those only.

`prune_zip` rewrites a zip in place; `bench/package_size.py` uses the same rules
to report the size that is deployed.

Two packages: the main Chalice project (the repository root: the API, the stream consumers,
the schedules) and the documents function's (`stage_documents_project`: documents/app.py,
the same chalicelib/, and requirements.txt plus documents/requirements.txt — fpdf2, Pillow,
fontTools, drafthorse, lxml, pypdf ride in that package only).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from chalice.cdk import Chalice

from chalicelib.settings import Settings

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath")
KEPT_LOCALES = re.compile(r"^(root|en|de)(_[A-Za-z0-9]+)*\.dat$")
KEPT_DRAFTHORSE_SCHEMA = re.compile(r"^Factur-X_1\.0\.07_EN16931(_.*)?\.(xsd|xml)$")
UNUSED_LXML = re.compile(r"^(objectify\..*|html|isoschematron|includes|.*\.(pyx|pxd|pxi|h|c))$")
UNUSED_STDNUM = {"oui.dat", "imsi.dat", "cn/loc.dat", "nz/banks.dat"}
# python-stdnum's country packages kept: VAT ids are checked with stdnum.eu.vat (which imports the
# member states' modules, Greece's as gr) and stdnum.gb.vat; no other country's numbers are asked for.
EU_MEMBER_STATES = frozenset(
    {"at", "be", "bg", "cy", "cz", "de", "dk", "ee", "es", "fi", "fr", "gr", "hr", "hu"}
    | {"ie", "it", "lt", "lu", "lv", "mt", "nl", "pl", "pt", "ro", "se", "si", "sk"}
)
KEPT_STDNUM_COUNTRIES = EU_MEMBER_STATES | {"eu", "gb"}
STDNUM_COUNTRY = re.compile(r"^[a-z]{2}_?$")  # "de", "in_" (a keyword); not shared code such as iso7064/
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
    # Powertools utilities nothing here imports (the app uses logging, metrics, parameters, batch
    # and data_classes; none of these import the dropped ones).
    *(
        ("aws_lambda_powertools", "utilities", name)
        for name in (
            "auth_alpha",
            "circuit_breaker",
            "data_masking",
            "feature_flags",
            "idempotency",
            "kafka",
            "streaming",
            "validation",
        )
    ),
    # Babel's message-catalog tooling (extraction, .po/.mo files, the pybabel CLI): the app's strings
    # live in Python (chalicelib/notify/i18n.py); it uses Babel's locale data, numbers and dates only.
    ("babel", "messages"),
    # Financial-market calendars: holidays loads them lazily, by name, and the shop asks for a country.
    ("holidays", "financial"),
    # pycparser parses C declarations for cffi's ffi.cdef; cryptography ships compiled bindings and
    # never calls it.
    ("pycparser",),
)
# Single files nothing loads at run time, each with its reason.
FILES_NEVER_READ = re.compile(
    r"(^|/)("
    r"[^/]+\.pyi|py\.typed"  # typing stubs and markers: read by type checkers only
    r"|pydantic/mypy\.py"  # pydantic's mypy plugin: loaded by mypy only
    # Stripe's StripeClient and its services: stripe imports them lazily, by name, and the app
    # only verifies webhook signatures (stripe.Webhook.construct_event builds Event objects).
    r"|stripe/([a-z_]+/)*_[a-z0-9_]+_service\.py|stripe/_v[12]_services\.py|stripe/_stripe_client\.py"
    # dateutil's bundled tz database: dateutil.tz.gettz reads the system's first, which the
    # app's own zoneinfo lookups rely on anyway (nothing here calls gettz with a zone name).
    r"|dateutil/zoneinfo/dateutil-zoneinfo\.tar\.gz"
    # phonenumbers' short-number (emergency, service code) tables, loaded per region on a short-number
    # query only; the app parses, validates and formats full numbers (shortdata/__init__.py stays).
    r"|phonenumbers/shortdata/region_[A-Z0-9]+\.py"
    # charset_normalizer's mypyc builds of md.py and cd.py, which ship beside them and load instead:
    # only requests' guess at a response body's encoding runs them (stripe imports requests; the app
    # makes no Stripe API call), and the pure-Python modules give the same answers.
    r"|charset_normalizer/(md|cd)\.cpython-[^/]+\.so"
    r")$"
)
# In a *.dist-info directory only these are read (importlib.metadata.version, entry_points).
KEPT_DIST_INFO = {"METADATA", "entry_points.txt"}
HOLIDAY_COUNTRIES = frozenset(Settings().supported_countries)  # where the shop may be (config.py checks)
# What only the documents function uses: the fonts its PDFs embed.
DOCUMENTS_ONLY = (("chalicelib", "documents", "fonts"),)
API, DOCUMENTS = "api", "documents"  # the two packages


def _site_relative(parts: tuple[str, ...]) -> tuple[str, ...]:
    if parts[:2] == ("python", "lib") and len(parts) > 4 and parts[3] == "site-packages":
        return parts[4:]  # a layer's python/lib/python3.11/site-packages/…
    return parts


def _under(parts: tuple[str, ...], trees: tuple[tuple[str, ...], ...]) -> bool:
    parts = _site_relative(parts)
    return any(parts[: len(tree)] == tree and len(parts) > len(tree) for tree in trees)


@dataclass(frozen=True)
class HolidayPlan:
    """The holidays country modules (and their entity codes) a package keeps."""

    modules: frozenset[str]
    codes: frozenset[str]

    @classmethod
    def of(cls, read: Callable[[str], bytes | None], countries: frozenset[str] = HOLIDAY_COUNTRIES) -> HolidayPlan:
        """From the packaged holidays (`read` a site-relative path → its bytes, None if absent): the modules of
        `countries`, with every country module those import (Åland imports Finland's, …)."""
        registry = read("holidays/registry.py")
        assert registry is not None, "no holidays/registry.py to plan from"
        entities: dict[str, tuple[str, ...]] = {}
        for node in ast.parse(registry).body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "COUNTRIES":
                assert node.value is not None
                entities = ast.literal_eval(node.value)
        modules = {module for module, (_, code, *_) in entities.items() if code in countries}
        missing = countries - {code for _, code, *_ in (entities[module] for module in modules)}
        assert not missing, f"holidays has no calendar for {sorted(missing)}"
        pending = list(modules)
        while pending:
            source = read(f"holidays/countries/{pending.pop()}.py") or b""
            for imported in re.findall(rb"^from holidays\.countries\.(\w+) import", source, re.M):
                if imported.decode() not in modules:
                    modules.add(imported.decode())
                    pending.append(imported.decode())
        return cls(frozenset(modules), frozenset(entities[module][1] for module in modules))

    def dropped(self, parts: tuple[str, ...]) -> bool:
        if len(parts) == 3 and parts[1] == "countries" and parts[2].endswith(".py"):
            return parts[2] != "__init__.py" and parts[2][:-3] not in self.modules
        if len(parts) == 5 and parts[1] == "locale" and parts[4].endswith(".mo"):
            return parts[4][:-3] not in self.codes  # locale/<language>/LC_MESSAGES/<entity code>.mo
        return False

    def countries_init(self, source: bytes) -> bytes:
        """holidays/countries/__init__.py importing the kept countries only."""
        tree = ast.parse(source)
        tree.body = [
            node
            for node in tree.body
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("holidays.countries."))
            or (node.module or "").rsplit(".", 1)[1] in self.modules
        ]
        return (ast.unparse(tree) + "\n").encode()


def dropped(name: str, package: str = API, holidays: HolidayPlan | None = None) -> bool:
    """True for a path inside the package (API or DOCUMENTS) that its function does not need
    (holiday calendars are judged only when the package's `holidays` plan is given)."""
    parts = PurePosixPath(name).parts
    if _under(parts, UNUSED_TREES) or (package == API and _under(parts, DOCUMENTS_ONLY)):
        return True
    if FILES_NEVER_READ.search(name):
        return True
    site = _site_relative(parts)
    if holidays is not None and site[:1] == ("holidays",) and holidays.dropped(site):
        return True
    for index, part in enumerate(parts):
        top = part.split("-")[0]  # "botocore-1.44.5.dist-info" → "botocore"
        if top in RUNTIME_PROVIDED and (index + 1 == len(parts) or part == top or part.endswith(".dist-info")):
            return True
        if part.endswith(".dist-info") and index + 1 < len(parts):
            return index + 2 != len(parts) or parts[index + 1] not in KEPT_DIST_INFO
        if part == "locale-data" and index > 0 and parts[index - 1] == "babel" and index + 1 < len(parts):
            return not KEPT_LOCALES.match(parts[index + 1])
        if part == "lxml" and index + 1 < len(parts):
            return bool(UNUSED_LXML.match(parts[index + 1]))
        if part == "stdnum" and index + 1 < len(parts):
            country = STDNUM_COUNTRY.match(parts[index + 1]) and parts[index + 1] not in KEPT_STDNUM_COUNTRIES
            in_country = bool(country) and index + 2 < len(parts)
            return in_country or "/".join(parts[index + 1 :]) in UNUSED_STDNUM
        if part == "schema" and index > 0 and parts[index - 1] == "drafthorse" and index + 1 < len(parts):
            return not KEPT_DRAFTHORSE_SCHEMA.match(parts[index + 1])
    return False


def rewritten(name: str, data: bytes, holidays: HolidayPlan | None = None) -> bytes:
    """A kept file's bytes as packaged: a dist-info METADATA keeps its headers (all that
    importlib.metadata reads; the long description after the first blank line goes), and
    holidays/countries/__init__.py imports only the kept countries."""
    site = "/".join(_site_relative(PurePosixPath(name).parts))
    if site.endswith(".dist-info/METADATA"):
        headers, _, _ = data.replace(b"\r\n", b"\n").partition(b"\n\n")
        return headers + b"\n\n"
    if holidays is not None and site == "holidays/countries/__init__.py":
        return holidays.countries_init(data)
    return data


def _holiday_plan(source: zipfile.ZipFile) -> HolidayPlan | None:
    """The plan for the holidays library in the zip, at its root or in a layer's site-packages
    (None without it: no calendars to judge)."""
    names = set(source.namelist())
    registries = [name for name in names if _site_relative(PurePosixPath(name).parts) == ("holidays", "registry.py")]
    if not registries:
        return None
    prefix = registries[0].removesuffix("holidays/registry.py")
    return HolidayPlan.of(lambda path: source.read(prefix + path) if prefix + path in names else None)


def prune_zip(path: str, package: str = API) -> tuple[int, int]:
    """Rewrite the zip without the files its package drops; (size before, size after) in bytes."""
    before = os.path.getsize(path)
    handle, temporary = tempfile.mkstemp(suffix=".zip", dir=os.path.dirname(path))
    os.close(handle)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as target:
        holidays = _holiday_plan(source)
        for info in source.infolist():
            if not dropped(info.filename, package, holidays):
                target.writestr(info, rewritten(info.filename, source.read(info.filename), holidays))
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
