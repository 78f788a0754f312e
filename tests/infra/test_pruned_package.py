"""The pruned API package runs: the code and layer zips the dev synth staged (what CDK uploads),
extracted, in a fresh interpreter that sees only them, the standard library and what the Lambda runtime provides
(boto3, botocore and their dependencies, linked from the venv).

Every chalicelib module it ships imports, requests go through the Chalice app, and each library
the pruning cut into (holidays, stripe, cryptography, dist-info metadata) does its job here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.auth import mint_local_token
from chalicelib.settings import Settings
from tests.infra.conftest import Synthesized

LAYER_SITE = "python/lib/python3.11/site-packages"  # a layer's libraries, on sys.path as /opt/<this>
# What the Python runtime puts on sys.path besides the function's code (boto3 and its dependencies).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")

# Shared by the probe and the test (the complete package in the venv is the oracle): the days the
# calendar consults (no language given: the app's call) and the names in the country's own language
# and in English (translations kept).
HOLIDAYS_OF = r"""
def holidays_of(country, subdivision=None):
    import holidays

    def listed(language):
        found = holidays.country_holidays(country, subdiv=subdivision, years=2027, language=language)
        return sorted([str(day), name] for day, name in found.items())

    calendar = holidays.country_holidays(country, subdiv=subdivision, years=2027)
    languages = sorted({calendar.default_language, "en_US"} & set(calendar.supported_languages))
    return {"days": sorted(str(day) for day in calendar), **{language: listed(language) for language in languages}}
"""

PROBE = (
    HOLIDAYS_OF
    + r"""
import hashlib, hmac, importlib, importlib.metadata, json, pathlib, sys, time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

package, layer, runtime, token = sys.argv[1:5]
sys.path[:0] = [package, layer, runtime]  # Lambda's order: /var/task, /opt/python/lib/…, the runtime's
report = {"failed_imports": {}}
# Every chalicelib module, and every python-stdnum module left (its country packages were cut).
shipped = [(package, path) for path in sorted(pathlib.Path(package, "chalicelib").rglob("*.py"))]
shipped += [(layer, path) for path in sorted(pathlib.Path(layer, "stdnum").rglob("*.py"))]
for root, path in shipped:
    name = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
    try:
        importlib.import_module(name)
    except Exception as exc:
        report["failed_imports"][name] = repr(exc)

import app


def call(method, path, headers, body=None):
    event = {
        "resource": path, "path": path, "httpMethod": method,
        "requestContext": {"resourcePath": path, "httpMethod": method, "stage": "api"},
        "headers": headers, "multiValueHeaders": {}, "pathParameters": None,
        "multiValueQueryStringParameters": None, "stageVariables": None,
        "body": body, "isBase64Encoded": False,
    }
    answer = app.app(event, None)
    return answer["statusCode"], json.loads(answer["body"] or "null")


report["health"] = call("GET", "/health", {})
report["order"] = call(
    "POST", "/v1/orders",
    {"authorization": f"Bearer {token}", "content-type": "application/json", "idempotency-key": "pack-1"},
    json.dumps({"customer": {}}),
)

import holidays
from chalicelib.settings import Settings

report["holidays"] = {country: holidays_of(country) for country in Settings().supported_countries}
report["holidays_de_by"] = holidays_of("DE", "BY")

import stripe

intent = {"id": "pi_1", "object": "payment_intent", "metadata": {}}
payload = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": intent}})
payload, secret, stamp = payload.encode(), "whsec_test", int(time.time())
signature = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
event = stripe.Webhook.construct_event(payload, f"t={stamp},v1={signature}", secret)
report["stripe"] = [type(event).__name__, type(event.data.object).__name__]

import jwt
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
signed = jwt.encode({"sub": "a"}, key, algorithm="RS256")
report["rs256"] = jwt.decode(signed, key.public_key(), algorithms=["RS256"])["sub"]
fernet = Fernet(Fernet.generate_key())
report["fernet"] = fernet.decrypt(fernet.encrypt(b"portal")).decode()
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
now = datetime.now(UTC)
certificate = (
    x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
    .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256())
)
loaded = x509.load_pem_x509_certificate(certificate.public_bytes(Encoding.PEM))
report["x509"] = loaded.subject.rfc4514_string()

from chalicelib.api.schemas.common import _vat_id
from stdnum.eu import vat as eu_vat
from stdnum.util import get_cc_module

report["vat_modules"] = {cc: getattr(get_cc_module(cc, "vat"), "__name__", None) for cc in sorted(eu_vat.MEMBER_STATES)}
report["vat_ids"] = [_vat_id("DE 136 695 976"), _vat_id("ATU13585627"), _vat_id("GB 980 7806 84")]

import phonenumbers
from babel.numbers import format_currency
from email_validator import validate_email

number = phonenumbers.parse("+49 30 901820", None)
report["phone"] = [phonenumbers.is_valid_number(number), phonenumbers.format_number(number, 0)]
report["money"] = format_currency(1234.5, "EUR", locale="de_DE")
from babel.dates import format_datetime

moment = datetime(2027, 5, 6, 14, 30, tzinfo=UTC)
report["when"] = format_datetime(moment, "full", tzinfo=ZoneInfo("Europe/Berlin"), locale="de_AT")
report["email"] = validate_email("kunde@example.org", check_deliverability=False).normalized

import charset_normalizer
import requests

german = "Grüße aus München, die Bestellung über 1.234,50 € ist unterwegs. Vielen Dank für Ihren Einkauf!"
report["encoding"] = [charset_normalizer.from_bytes(german.encode("cp1252")).best().encoding, requests.__name__]
report["encoding"].append(pathlib.Path(importlib.import_module("charset_normalizer.md").__file__).name)

distributions = ("holidays", "pydantic", "python-ulid", "stripe")
report["versions"] = {name: importlib.metadata.version(name) for name in distributions}
files = {getattr(module, "__file__", None) or "" for module in list(sys.modules.values())}
report["outside"] = sorted(f for f in files if f and not f.startswith((package, layer, runtime, sys.base_prefix)))
print(json.dumps(report))
"""
)


def _api_zips(dev: Synthesized) -> tuple[Path, Path]:
    """The API function's code and layer assets in the dev synth's output (the documents
    function's code carries the PDF fonts, its layer fpdf)."""
    code, layers = [], []
    for path in sorted(dev.path.parent.glob("asset.*.zip")):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
        if "app.py" in names and not any(name.startswith("chalicelib/documents/fonts/") for name in names):
            code.append(path)
        elif f"{LAYER_SITE}/pynamodb/__init__.py" in names and not any(
            name.startswith(f"{LAYER_SITE}/fpdf/") for name in names
        ):
            layers.append(path)
    assert len(code) == len(layers) == 1, f"expected one API code and layer asset, found {code} and {layers}"
    return code[0], layers[0]


@pytest.fixture(scope="module")
def probed(dev: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    package, layer = tmp_path_factory.mktemp("api-package"), tmp_path_factory.mktemp("api-layer")
    code_zip, layer_zip = _api_zips(dev)
    for path, target in ((code_zip, package), (layer_zip, layer)):
        with zipfile.ZipFile(path) as archive:
            archive.extractall(target)
    runtime = tmp_path_factory.mktemp("lambda-runtime")
    site = Path(sysconfig.get_paths()["purelib"])
    for name in RUNTIME_PROVIDED:
        (runtime / name).symlink_to(site / name)
    token = mint_local_token(Settings(), "storefront", "web")
    result = subprocess.run(
        # -I -S: no site-packages, no PYTHON* variables; the probe puts the package and the runtime's
        # libraries on sys.path itself.
        [sys.executable, "-I", "-S", "-c", PROBE, str(package), str(layer / LAYER_SITE), str(runtime), token],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=package,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-central-1", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 0, result.stderr[-6000:]
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_every_shipped_chalicelib_and_stdnum_module_imports(probed: dict[str, Any]) -> None:
    assert probed["failed_imports"] == {}


def test_nothing_is_loaded_from_outside_the_package_and_the_runtime(probed: dict[str, Any]) -> None:
    assert probed["outside"] == []


def test_requests_are_served(probed: dict[str, Any]) -> None:
    assert probed["health"] == [200, {"status": "ok"}]
    status, body = probed["order"]
    assert status == 422, body  # the token verified (HS256), the body parsed by pydantic and refused


def _holidays(country: str, subdivision: str | None = None) -> dict[str, list[Any]]:
    namespace: dict[str, Any] = {}
    exec(HOLIDAYS_OF, namespace)  # noqa: S102 - the module's own constant, shared with the probe
    result: dict[str, list[Any]] = namespace["holidays_of"](country, subdivision)
    return result


def test_every_shop_country_has_its_holidays(probed: dict[str, Any]) -> None:
    """The same days and names (in each country's own language) as the complete holidays package."""
    assert probed["holidays"] == {country: _holidays(country) for country in Settings().supported_countries}
    assert probed["holidays_de_by"] == _holidays("DE", "BY")  # subdivisions kept


def test_stripe_webhook_events_are_built(probed: dict[str, Any]) -> None:
    assert probed["stripe"] == ["Event", "PaymentIntent"]


def test_cryptography_does_what_the_app_asks_of_it(probed: dict[str, Any]) -> None:
    assert probed["rs256"] == "a" and probed["fernet"] == "portal"
    assert probed["x509"] == "CN=sns.amazonaws.com"


def test_phone_numbers_money_and_addresses(probed: dict[str, Any]) -> None:
    assert probed["phone"] == [True, "+4930901820"]
    assert probed["money"] == "1.234,50\xa0€"
    assert probed["when"] == "Donnerstag, 6. Mai 2027, 16:30:00 Mitteleuropäische Sommerzeit"
    assert probed["email"] == "kunde@example.org"


def test_vat_ids_of_every_member_state_and_the_uk_are_checked(probed: dict[str, Any]) -> None:
    from stdnum.eu import vat as eu_vat
    from stdnum.util import get_cc_module

    expected = {cc: getattr(get_cc_module(cc, "vat"), "__name__", None) for cc in sorted(eu_vat.MEMBER_STATES)}
    assert probed["vat_modules"] == expected
    assert probed["vat_ids"] == ["DE136695976", "ATU13585627", "980780684"]


def test_requests_and_its_encoding_guess_work(probed: dict[str, Any]) -> None:
    import charset_normalizer

    german = "Grüße aus München, die Bestellung über 1.234,50 € ist unterwegs. Vielen Dank für Ihren Einkauf!"
    best = charset_normalizer.from_bytes(german.encode("cp1252")).best()
    assert best is not None
    assert probed["encoding"] == [best.encoding, "requests", "md.py"]  # the pure-Python module answered


def test_dist_info_metadata_answers_version_lookups(probed: dict[str, Any]) -> None:
    requirements = (Path(__file__).parents[2] / "requirements.txt").read_text().splitlines()
    pinned = dict(pin.split("==", 1) for line in requirements if "==" in (pin := line.split("#", 1)[0].strip()))
    assert probed["versions"] == {name: pinned[name] for name in ("holidays", "pydantic", "python-ulid", "stripe")}
