"""The pruning applied to `chalice package`'s zips before deployment."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

pytest.importorskip("chalice.cdk")

from infra.stacks.packaging import DOCUMENTS, dropped, prune_zip, stage_documents_project


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
