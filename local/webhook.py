"""Sign (and optionally send) a webhook body for the local stack, as a carrier or the payment provider would.

    make -s sign-webhook KIND=carrier BODY='{"event_id":"e1","tracking_number":"TRK1",...}'
    make -s sign-webhook KIND=stripe BODY='{"id":"evt_1","type":"payment_intent.succeeded",...}'
    make -s sign-webhook KIND=aftership BODY='{"event":"tracking_update","msg":{...}}'

prints a ready-to-run curl command with the header the sender would set
(X-OrderCare-Signature; Stripe-Signature as Stripe computes it; aftership-hmac-sha256),
using the local secrets (CARRIER_WEBHOOK_SECRET / PAYMENT_WEBHOOK_SECRET /
SMS_INBOUND_SECRET / STRIPE_WEBHOOK_SECRET / AFTERSHIP_WEBHOOK_SECRET override them).
`--send` posts it instead.
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

ROUTES = {
    "carrier": "/v1/webhooks/carrier",
    "payment": "/v1/webhooks/payment",
    "sms": "/v1/webhooks/sms-inbound",
    "stripe": "/v1/webhooks/stripe",
    "aftership": "/v1/webhooks/aftership",
}


def signed_header(kind: str, settings: Settings, raw: bytes, now: int) -> tuple[str, str]:
    """(header name, value) as the sender of `kind` signs `raw`."""
    import base64
    import hashlib
    import hmac

    if kind == "stripe":  # what stripe.WebhookSignature verifies: HMAC-SHA256 over "<t>.<body>"
        mac = hmac.new(settings.stripe_webhook_secrets[0].encode(), f"{now}.".encode() + raw, hashlib.sha256)
        return "Stripe-Signature", f"t={now},v1={mac.hexdigest()}"
    if kind == "aftership":  # base64 HMAC-SHA256 of the raw body
        mac = hmac.new(settings.aftership_webhook_secrets[0].encode(), raw, hashlib.sha256)
        return "aftership-hmac-sha256", base64.b64encode(mac.digest()).decode()
    secret = {
        "carrier": settings.carrier_webhook_secrets,
        "payment": settings.payment_webhook_secrets,
        "sms": settings.sms_inbound_secrets,
    }[kind][0]
    return "X-OrderCare-Signature", signature_header(secret, raw, now)


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
    raw = args.body.encode()
    name, header = signed_header(args.kind, settings, raw, int(time.time()))
    url = (args.url or settings.public_base_url).rstrip("/") + ROUTES[args.kind]
    if not args.send:
        sys.stdout.write(
            f"curl -sS -X POST {shlex.quote(url)} -H 'Content-Type: application/json' "
            f"-H {shlex.quote(name + ': ' + header)} --data-binary {shlex.quote(args.body)}\n"
        )
        return 0
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    if not url.startswith(("http://", "https://")):
        parser.error("--url must be an http(s) URL")
    headers = {"Content-Type": "application/json", name: header}
    request = Request(url, data=raw, method="POST", headers=headers)  # noqa: S310 - http(s) checked above
    try:
        with urlopen(request, timeout=10) as response:  # noqa: S310 - the local stack # nosec B310
            sys.stdout.write(response.read().decode() + "\n")
            return 0
    except HTTPError as error:
        sys.stdout.write(error.read().decode() + "\n")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
