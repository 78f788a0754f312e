"""`make -s fault SERVICE=ses RATIO=1 [ERROR=throttle|server|timeout] [OPS=SendEmail,…]` / `make -s fault CLEAR=1`.

Turns an outage drill on (or off) on the running local stack through its API
(POST / DELETE /local/faults), and prints the active faults.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any


def _call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
    port = os.environ.get("OC_API_PORT", "").strip() or "8000"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local stack only # nosec B310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--service", default="")
    parser.add_argument("--ratio", default="1")
    parser.add_argument("--error", default="server")
    parser.add_argument("--operations", default="", help="comma-separated, e.g. SendEmail,SendRawEmail")
    parser.add_argument("--clear", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.clear:
            status, answer = _call("DELETE", "/local/faults")
        elif args.service:
            body: dict[str, Any] = {"service": args.service, "ratio": float(args.ratio), "error": args.error}
            if args.operations:
                body["operations"] = [op.strip() for op in args.operations.split(",") if op.strip()]
            status, answer = _call("POST", "/local/faults", body)
        else:
            status, answer = _call("GET", "/local/faults")
    except (OSError, ValueError) as error:
        sys.stderr.write(f"is the local stack running (make run)? {error}\n")
        return 1
    if status >= 400:
        sys.stderr.write(json.dumps(answer, indent=2) + "\n")
        return 1
    _, active = _call("GET", "/local/faults")
    sys.stdout.write(json.dumps({"result": answer, "active": active["items"]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
