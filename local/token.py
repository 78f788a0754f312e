"""`make -s token ROLE=… SUB=…`: print a bearer token for the local stack, alone on stdout."""

from __future__ import annotations

import argparse
import sys

from chalicelib.api.auth import ROLES, mint_local_token
from chalicelib.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", required=True, choices=ROLES)
    parser.add_argument("--sub", required=True, help="subject: the customer id for customers")
    parser.add_argument("--ttl", type=int, default=8 * 3600, help="seconds until the token expires")
    args = parser.parse_args(argv)
    if not args.sub.strip():
        parser.error("--sub must not be empty")
    sys.stdout.write(mint_local_token(Settings.from_env(), args.role, args.sub, args.ttl) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
