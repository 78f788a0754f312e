"""`make -s sweep AT=<ISO time>`: run every scheduled job once, as of that time, against the local stack.

Prints a JSON summary (per job: what was due and what was done). The stack
started by `make run` must be running (its stream replayer sends what follows).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from datetime import UTC, datetime


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--at", default="", help="ISO time, e.g. 2026-12-01T10:00:00Z (default: now)")
    args = parser.parse_args(argv)
    try:
        at = _moment(args.at) if args.at else datetime.now(UTC)
    except ValueError:
        parser.error(f"AT must be an ISO-8601 time such as 2026-12-01T10:00:00Z, not {args.at!r}")
    from local.stack import configure_process_environment

    configure_process_environment()
    import app  # after the environment points at the local stack
    from local.scheduler import local_schedules, run_all_once

    # The handlers' metrics (CloudWatch EMF lines, which Lambda reads from stdout) go to stderr here:
    # stdout carries the summary alone, so scripts can parse it.
    with contextlib.redirect_stdout(sys.stderr):
        summary = run_all_once(app, at, local_schedules(app))  # the documents function's retry schedule too
    sys.stdout.write(json.dumps(summary, indent=2, default=str) + "\n")
    return 0 if summary.get("ok", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
