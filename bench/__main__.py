"""Run every benchmark and print one `name: value` line per figure.

Only the figures go to stdout: what the code under measurement prints meanwhile (the
metrics' EMF lines, which Lambda sends to CloudWatch; tool banners) goes to stderr.
"""

from __future__ import annotations

import contextlib
import sys

from bench import (
    einvoice_validation,
    import_time,
    inbound_email,
    invoice_pdf,
    kpi_report,
    package_size,
    pipeline,
    round_trips,
    sla_sweep,
)


def main() -> int:
    figures = (
        import_time.run,
        round_trips.run,
        invoice_pdf.run,
        einvoice_validation.run,
        package_size.run,
        sla_sweep.run,
        kpi_report.run,
        pipeline.run,
        inbound_email.run,
    )
    for figure in figures:
        with contextlib.redirect_stdout(sys.stderr):
            lines = figure()
        for line in lines:
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
