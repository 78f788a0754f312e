"""The pruning applied to `chalice package`'s zips before deployment."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

pytest.importorskip("chalice.cdk")

from infra.stacks.packaging import DOCUMENTS, HolidayPlan, dropped, prune_zip, rewritten, stage_documents_project


@pytest.mark.parametrize(
    "name",
    [
        "python/lib/python3.11/site-packages/botocore/client.py",
        "botocore-1.44.5.dist-info/METADATA",
        "boto3/__init__.py",
        "s3transfer/manager.py",
        "jmespath/parser.py",
        "babel/locale-data/fr_FR.dat",
        "python/lib/python3.11/site-packages/babel/locale-data/ja.dat",
        "drafthorse/schema/Factur-X_1.0.07_EXTENDED.xsd",
        "lxml/objectify.cpython-311-x86_64-linux-gnu.so",
        "lxml/html/diff.cpython-311-x86_64-linux-gnu.so",
        "lxml/includes/extlibs/zlib.h",
        "lxml/etree.pyx",
        "stdnum/oui.dat",
        "aws_lambda_powertools/event_handler/api_gateway.py",
        "python/lib/python3.11/site-packages/stripe/params/_charge_create_params.py",
        "stripe/events/_v1_billing_meter_error_report_triggered_event.py",
        "python/lib/python3.11/site-packages/dns/resolver.py",
        "en16931-cii/EN16931-CII-validation.xslt",
        "chalicelib/documents/fonts/DejaVuSans.ttf",
        "stripe-16.1.0.dist-info/RECORD",
        "cryptography-50.0.2.dist-info/licenses/LICENSE",
        "pydantic/main.pyi",
        "holidays/py.typed",
        "pydantic/mypy.py",
        "stripe/_customer_service.py",
        "stripe/issuing/_card_service.py",
        "stripe/_stripe_client.py",
        "aws_lambda_powertools/utilities/idempotency/base.py",
        "holidays/financial/ice_futures_europe.py",
        "pycparser/c_parser.py",
        "dateutil/zoneinfo/dateutil-zoneinfo.tar.gz",
        "phonenumbers/shortdata/region_DE.py",
        "stdnum/us/ssn.py",
        "stdnum/in_/gstin.py",
        "charset_normalizer/md.cpython-311-x86_64-linux-gnu.so",
        "babel/messages/pofile.py",
    ],
)
def test_dropped(name: str) -> None:
    assert dropped(name)


def test_the_documents_package_keeps_its_fonts() -> None:
    assert not dropped("chalicelib/documents/fonts/DejaVuSans.ttf", DOCUMENTS)
    assert dropped("stripe/params/_charge_create_params.py", DOCUMENTS)


def test_the_documents_project_is_staged_with_both_requirements(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    project = stage_documents_project(root, tmp_path / "documents")
    requirements = (project / "requirements.txt").read_text().splitlines()
    assert "fpdf2==2.8.9" in requirements and "pynamodb==6.1.0" in requirements
    assert not any(
        line.startswith(("fpdf2", "lxml", "drafthorse", "fonttools", "pypdf"))
        for line in (root / "requirements.txt").read_text().splitlines()
    ), "the API's requirements carry a PDF/XML library"
    assert (project / "app.py").exists() and (project / "chalicelib" / "documents_app.py").exists()
    assert (project / ".chalice" / "config.json").exists()
    assert not list(project.rglob("__pycache__"))


@pytest.mark.parametrize(
    "name",
    [
        "app.py",
        "chalicelib/adapters/messaging.py",
        "babel/locale-data/root.dat",
        "babel/locale-data/de_DE.dat",
        "babel/locale-data/en_GB.dat",
        "babel/numbers.py",
        "pynamodb/models.py",
        "aws_lambda_powertools/utilities/boto3_stuff.py",
        "drafthorse/schema/Factur-X_1.0.07_EN16931.xsd",
        "drafthorse/schema/Factur-X_1.0.07_EN16931_urn_un_unece_uncefact_data_standard_QualifiedDataType_100.xsd",
        "lxml/etree.cpython-311-x86_64-linux-gnu.so",
        "lxml/_elementpath.cpython-311-x86_64-linux-gnu.so",
        "lxml/__init__.py",
        "stdnum/eu/vat.py",
        "stdnum/iban.dat",
        "aws_lambda_powertools/utilities/batch/base.py",
        "stripe/_webhook.py",
        "stripe/_charge.py",
        "dnspython-2.7.0.dist-info/METADATA",
        "chalicelib/documents/pdf.py",
        "pydantic-2.14.3.dist-info/METADATA",
        "pydantic-2.14.3.dist-info/entry_points.txt",
        "stripe/_customer.py",
        "stripe/_webhook.py",
        "stripe/issuing/_card.py",
        "aws_lambda_powertools/utilities/parameters/ssm.py",
        "aws_lambda_powertools/utilities/data_classes/dynamo_db_stream_event.py",
        "dateutil/zoneinfo/__init__.py",
        "_cffi_backend.cpython-311-x86_64-linux-gnu.so",
        "phonenumbers/shortdata/__init__.py",
        "phonenumbers/data/region_DE.py",
        "stdnum/gr/vat.py",
        "stdnum/gb/vat.py",
        "stdnum/eu/oss.py",
        "stdnum/at/postleitzahl.dat",
        "stdnum/isbn.py",
        "stdnum/iso7064/mod_11_10.py",
        "charset_normalizer/md.py",
    ],
)
def test_kept(name: str) -> None:
    assert not dropped(name)


def test_prune_zip_rewrites_in_place(tmp_path: Path) -> None:
    path = tmp_path / "deployment.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("app.py", "botocore/client.py", "babel/locale-data/fr.dat", "babel/locale-data/de.dat"):
            archive.writestr(name, "x" * 1000)
    before, after = prune_zip(str(path))
    assert after < before
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["app.py", "babel/locale-data/de.dat"]


REGISTRY = b"""
COUNTRIES: RegistryDict = {
    "aland_islands": ("AlandIslands", "AX", "ALA"),
    "finland": ("Finland", "FI", "FIN"),
    "germany": ("Germany", "DE", "DEU"),
    "united_states": ("UnitedStates", "US", "USA"),
}
"""


def _plan() -> HolidayPlan:
    files = {
        "holidays/registry.py": REGISTRY,
        "holidays/countries/aland_islands.py": b"from holidays.countries.finland import Finland\n",
        "holidays/countries/finland.py": b"",
        "holidays/countries/germany.py": b"",
    }
    return HolidayPlan.of(files.get, frozenset({"DE", "AX"}))


def test_holidays_keep_the_shop_countries_and_what_they_import() -> None:
    plan = _plan()
    assert plan.modules == {"germany", "aland_islands", "finland"} and plan.codes == {"DE", "AX", "FI"}
    for name in ("holidays/countries/germany.py", "holidays/countries/finland.py", "holidays/countries/__init__.py"):
        assert not dropped(name, holidays=plan)
    assert dropped("holidays/countries/united_states.py", holidays=plan)
    assert not dropped("holidays/locale/de/LC_MESSAGES/DE.mo", holidays=plan)
    assert not dropped("holidays/locale/sv_FI/LC_MESSAGES/AX.mo", holidays=plan)
    assert dropped("holidays/locale/en_US/LC_MESSAGES/US.mo", holidays=plan)
    assert not dropped("holidays/countries/united_states.py")  # no plan: no holiday rule


def test_holidays_without_a_shop_country_calendar_refuse_to_package() -> None:
    with pytest.raises(AssertionError, match="ZZ"):
        HolidayPlan.of({"holidays/registry.py": REGISTRY}.get, frozenset({"DE", "ZZ"}))


def test_the_countries_init_imports_the_kept_countries_only() -> None:
    source = (
        b"# header\nfrom holidays.countries.germany import Germany, DE, DEU\n"
        b"from holidays.countries.united_states import (\n    UnitedStates,\n    US,\n)\n"
    )
    result = rewritten("holidays/countries/__init__.py", source, _plan()).decode()
    assert result == "from holidays.countries.germany import Germany, DE, DEU\n"


def test_metadata_keeps_its_headers() -> None:
    metadata = b"Metadata-Version: 2.4\nName: pydantic\nVersion: 2.14.3\n\n# Pydantic\n\nlong text\n"
    assert rewritten("pydantic-2.14.3.dist-info/METADATA", metadata) == (
        b"Metadata-Version: 2.4\nName: pydantic\nVersion: 2.14.3\n\n"
    )
    assert rewritten("pydantic/main.py", metadata) == metadata


@pytest.mark.parametrize("prefix", ["", "python/lib/python3.11/site-packages/"])
def test_prune_zip_plans_holidays_at_the_root_and_in_a_layer(tmp_path: Path, prefix: str) -> None:
    import holidays

    registry = (Path(holidays.__file__).parent / "registry.py").read_bytes()
    files = {
        "holidays/registry.py": registry,
        "holidays/countries/__init__.py": b"from holidays.countries.germany import Germany\n"
        b"from holidays.countries.japan import Japan\n",
        "holidays/countries/germany.py": b"",
        "holidays/countries/japan.py": b"",
        "holidays/locale/de/LC_MESSAGES/DE.mo": b"",
        "holidays/locale/ja/LC_MESSAGES/JP.mo": b"",
    }
    path = tmp_path / "layer.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(prefix + name, data)
    prune_zip(str(path))
    with zipfile.ZipFile(path) as archive:
        kept = {name.removeprefix(prefix) for name in archive.namelist()}
        countries = archive.read(prefix + "holidays/countries/__init__.py")
    assert kept == set(files) - {"holidays/countries/japan.py", "holidays/locale/ja/LC_MESSAGES/JP.mo"}
    assert countries == b"from holidays.countries.germany import Germany\n"


def test_the_kept_stdnum_countries_are_the_ones_eu_vat_checks() -> None:
    from stdnum.eu import vat

    from infra.stacks.packaging import EU_MEMBER_STATES

    assert vat.MEMBER_STATES - {"xi"} == EU_MEMBER_STATES  # xi: Northern Ireland, checked as gb
