"""`make -s redrive`: replay the stream records in the failure destination through the consumer.

The local replayer writes each batch whose retries ran out to `.local/failures.jsonl`
(Lambda's on-failure record plus the records themselves). This hands those records
to the same handler again (`app.order_events`, idempotent: every effect is an intent
keyed by the order change), keeps the lines that still fail and prints what it did.
Run it against the running stack (`make run`), after fixing what made them fail.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any


def redrive(path: Path, handler: Any, context: Any) -> dict[str, int]:
    """Replay every line of `path`; rewrite it with the lines that failed again."""
    if not path.exists():
        return {"batches": 0, "records": 0, "replayed": 0, "still_failing": 0}
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept: list[str] = []
    counts = {"batches": len(lines), "records": 0, "replayed": 0, "still_failing": 0}
    for line in lines:
        failure = json.loads(line)
        records: list[dict[str, Any]] = failure.get("records") or []
        counts["records"] += len(records)
        try:
            result = handler({"Records": records}, context)
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        except Exception as error:  # the whole batch failed again: keep it
            failed = {r["dynamodb"]["SequenceNumber"] for r in records}
            failure["error"] = f"{type(error).__name__}"
        again = [r for r in records if r["dynamodb"]["SequenceNumber"] in failed]
        counts["replayed"] += len(records) - len(again)
        counts["still_failing"] += len(again)
        if again:
            kept.append(json.dumps({**failure, "records": again}, default=str, ensure_ascii=False))
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", default="", help="default: .local/failures.jsonl")
    args = parser.parse_args(argv)
    from local.paths import local_dir
    from local.stack import configure_process_environment

    configure_process_environment()
    import app  # after the environment points at the local stack
    from local.lambda_runtime import LambdaContext

    path = Path(args.file) if args.file else local_dir() / "failures.jsonl"
    with contextlib.redirect_stdout(sys.stderr):  # the handler's metrics (EMF) lines; stdout is the summary
        counts = redrive(path, app.order_events, LambdaContext("order_events"))
    sys.stdout.write(json.dumps({"file": str(path), **counts}, indent=2) + "\n")
    return 0 if counts["still_failing"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
