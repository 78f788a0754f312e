"""`make -s inbound-email FILE=mail.eml`: hand a raw RFC 5322 message to the local stack, as SES receiving would.

Posts the file to `POST /local/inbound-email` (Content-Type: message/rfc822) and prints
the JSON answer: `{outcome: ticket_created | message_added | held | ignored, ticket_id?}`.
To try the loop, copy the `reply_to` of an email in the outbox into the message's `To:`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", required=True, help="the raw message (.eml)")
    parser.add_argument("--url", default="", help="API base URL (default: the local stack, OC_API_PORT or 8000)")
    args = parser.parse_args(argv)
    path = Path(args.file)
    if not path.is_file():
        parser.error(f"FILE {args.file!r} is not a file")
    from local.stack import StackConfig  # the API port of the running stack (OC_API_PORT)

    url = (args.url or StackConfig.from_env().api_url).rstrip("/") + "/local/inbound-email"
    if not url.startswith(("http://", "https://")):
        parser.error("--url must be an http(s) URL")
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    request = Request(url, data=path.read_bytes(), method="POST", headers={"Content-Type": "message/rfc822"})  # noqa: S310
    try:
        with urlopen(request, timeout=30) as response:  # noqa: S310 - the local stack # nosec B310
            sys.stdout.write(response.read().decode() + "\n")
            return 0
    except HTTPError as error:
        sys.stdout.write(error.read().decode() + "\n")
        return 1
    except OSError as error:
        sys.stderr.write(f"could not reach the local stack at {url}: {error} (is `make run` running?)\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
