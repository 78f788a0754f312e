"""The inbound-email handler's time per message (parse, strip, S3, DynamoDB), on moto in process.

Twenty real-world replies from the test corpus (Gmail, Outlook, Apple Mail, HTML-only,
quoted-printable, one with an attachment) are handed to the same handler SES receiving
uses; the first (cold: imports, clients) is reported apart from the warm median and p95.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "inbound"
REPLIES = ("gmail_en_reply", "outlook_de_reply", "apple_mail_de", "html_only", "quoted_printable_en", "attachment")


def run() -> list[str]:
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-central-1")
    os.environ["OC_TABLE_NAME"] = "ordercare-bench-inbound"
    import boto3
    from moto import mock_aws

    from chalicelib.adapters.dynamo.schema import ensure_table
    from chalicelib.bootstrap import get_container, reset_container

    reset_container()
    with mock_aws():
        ensure_table(boto3.client("dynamodb"), "ordercare-bench-inbound")
        boto3.client("s3").create_bucket(
            Bucket="ordercare-local-documents", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        container = get_container()
        from bench.round_trips import _order_body
        from chalicelib.domain.address import Address
        from chalicelib.domain.orders import Customer
        from chalicelib.services.orders import IdempotentRequest, PlaceOrder

        body = _order_body()
        command = PlaceOrder(
            customer=Customer(**{**body["customer"], "phone": None}),
            currency="EUR",
            lines=[("MUG-1", 1, 1299)],
            shipping_address=Address(**body["shipping_address"]),
            shipping_method="standard",
            shipping_fee=499,
            discounts=[],
        )
        _, placed = container.orders.place(
            command, IdempotentRequest("web", "bench", {}), "bench", lambda o: {"id": o.id}
        )
        reply_to = container.reply_address(placed["id"]).encode()
        timings = []
        for n in range(20):
            raw = (CORPUS / f"{REPLIES[n % len(REPLIES)]}.eml").read_bytes()
            raw = raw.replace(b"{{REPLY_TO}}", reply_to).replace(b"{{FROM}}", b"bench@example.com")
            raw = raw.replace(b"alice@EXAMPLE.com", b"Bench@Example.com")  # addresses match case-insensitively
            raw = raw.replace(b"{{IN_REPLY_TO}}", b"<x@example.com>").replace(b"{{REFERENCES}}", b"<x@example.com>")
            raw = raw.replace(b"Subject: ", f"Subject: [{n}] ".encode(), 1)  # every message distinct
            started = time.perf_counter()
            result = container.inbound_email.receive(raw)
            timings.append(time.perf_counter() - started)
            assert result["outcome"] in ("ticket_created", "message_added"), result
    reset_container()
    cold, warm = timings[0], sorted(timings[1:])
    median, p95 = warm[len(warm) // 2], warm[int(len(warm) * 0.95) - 1]
    return [
        f"inbound_email_ms_per_message: median={median * 1000:.1f} p95={p95 * 1000:.1f} "
        f"first={cold * 1000:.1f} (n={len(timings)}, moto in process)"
    ]
