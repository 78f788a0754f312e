"""`make -s sign-webhook KIND=stripe|aftership` signs exactly as the providers do."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from chalicelib.domain.errors import UnauthorizedError
from chalicelib.providers.stripe_events import translate, verify_and_parse
from chalicelib.settings import Settings
from local.webhook import signed_header
from tests.provider_fixtures import aftership_signature, charge_refunded, payment_intent_succeeded


def test_stripe_header_verifies_with_the_official_library() -> None:
    import stripe

    raw = json.dumps(payment_intent_succeeded("ord_1", 100)).encode()
    name, header = signed_header("stripe", Settings(), raw, int(time.time()))
    assert name == "Stripe-Signature"
    stripe.Webhook.construct_event(raw, header, "whsec_local_stripe_webhook_secret")
    assert verify_and_parse(raw, header, ("whsec_other", "whsec_local_stripe_webhook_secret")).type.startswith(
        "payment"
    )
    with pytest.raises(UnauthorizedError):
        verify_and_parse(raw, header, ("whsec_other",))
    with pytest.raises(UnauthorizedError):
        verify_and_parse(b"\xff\xfe", header, ("whsec_local_stripe_webhook_secret",))


def test_aftership_header_is_base64_hmac_of_the_body() -> None:
    raw = b'{"event":"tracking_update"}'
    name, header = signed_header("aftership", Settings(), raw, int(time.time()))
    assert name == "aftership-hmac-sha256" and header == aftership_signature(raw)


def test_translation_keys_refunds_by_refund_id() -> None:
    from chalicelib.providers.stripe_events import StripeEvent

    event = StripeEvent.model_validate(charge_refunded("pi_abc", [("re_1", 5), ("re_2", 7)]))
    commands = translate(event)
    assert [(c.event_id, c.amount, c.payment_ref, c.status) for c in commands] == [
        ("stripe:re_1", 5, "pi_abc", "refunded"),
        ("stripe:re_2", 7, "pi_abc", "refunded"),
    ]


def test_the_make_helper_prints_a_curl_with_the_stripe_header() -> None:
    body = json.dumps(payment_intent_succeeded("ord_1", 100))
    out = subprocess.run(
        [sys.executable, "-m", "local.webhook", "--kind", "stripe", "--body", body],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "/v1/webhooks/stripe" in out and "Stripe-Signature: t=" in out
