"""Sign (and optionally send) a webhook body for the local stack, as a carrier or the payment provider would.

    make -s sign-webhook KIND=carrier BODY='{"event_id":"e1","tracking_number":"TRK1",...}'

prints a ready-to-run curl command with the X-OrderCare-Signature header, using the
local secrets (CARRIER_WEBHOOK_SECRET / PAYMENT_WEBHOOK_SECRET / SMS_INBOUND_SECRET
override them). `--send` posts it instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

from chalicelib.domain.webhooks import signature_header
from chalicelib.settings import Settings

ROUTES = {"carrier": "/v1/webhooks/carrier", "payment": "/v1/webhooks/payment", "sms": "/v1/webhooks/sms-inbound"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=sorted(ROUTES), required=True)
    parser.add_argument(
        "--body", default=os.environ.get("BODY", ""), help="the JSON body, exactly as it will be sent (default: $BODY)"
    )
    parser.add_argument("--url", default="", help="API base URL (default: OC_PUBLIC_BASE_URL or :8000)")
    parser.add_argument("--send", action="store_true", help="POST it and print the response")
    args = parser.parse_args(argv)
    try:
        json.loads(args.body)
    except ValueError:
        parser.error("BODY must be JSON")
    settings = Settings.from_env()
    secret = {
        "carrier": settings.carrier_webhook_secrets,
        "payment": settings.payment_webhook_secrets,
        "sms": settings.sms_inbound_secrets,
    }[args.kind][0]
    raw = args.body.encode()
    header = signature_header(secret, raw, int(time.time()))
    url = (args.url or settings.public_base_url).rstrip("/") + ROUTES[args.kind]
    if not args.send:
        sys.stdout.write(
            f"curl -sS -X POST {shlex.quote(url)} -H 'Content-Type: application/json' "
            f"-H {shlex.quote('X-OrderCare-Signature: ' + header)} --data-binary {shlex.quote(args.body)}\n"
        )
        return 0
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    if not url.startswith(("http://", "https://")):
        parser.error("--url must be an http(s) URL")
    headers = {"Content-Type": "application/json", "X-OrderCare-Signature": header}
    request = Request(url, data=raw, method="POST", headers=headers)  # noqa: S310 - http(s) checked above
    try:
        with urlopen(request, timeout=10) as response:  # noqa: S310 - the local stack
            sys.stdout.write(response.read().decode() + "\n")
            return 0
    except HTTPError as error:
        sys.stdout.write(error.read().decode() + "\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
