"""`make -s report PERIOD=quarter START=2026-10-01`: the period's KPI review as HTML and PDF.

Reads the running local stack's table (as `make sweep` does) and writes
`.local/reports/kpis-<period>-<start>.html` and `.pdf`; prints their paths.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--period", default="quarter", choices=("week", "month", "quarter"))
    parser.add_argument("--start", required=True, help="the period's first day, YYYY-MM-DD")
    parser.add_argument("--out", default=".local/reports")
    args = parser.parse_args(argv)
    try:
        start = date.fromisoformat(args.start)
    except ValueError:
        parser.error(f"START must be a date such as 2026-10-01, not {args.start!r}")
    from local.stack import configure_process_environment

    configure_process_environment()
    from chalicelib.bootstrap import get_container
    from chalicelib.domain.errors import OrderCareError
    from chalicelib.web.review import build_review, render_review_html, render_review_pdf

    container = get_container()
    try:
        review = build_review(container.kpis, args.period, start)
    except OrderCareError as error:
        parser.error(error.message)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"kpis-{args.period}-{start.isoformat()}"
    shop = container.settings.shop_name
    stem.with_suffix(".html").write_text(render_review_html(review, shop), encoding="utf-8")
    stem.with_suffix(".pdf").write_bytes(render_review_pdf(review, shop))
    sys.stdout.write(f"{stem}.html\n{stem}.pdf\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
