"""Inbound SMS: keywords, and the SNS envelope check used in AWS."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from chalicelib.domain.errors import UnauthorizedError
from chalicelib.notify.inbound import keyword_action, sns_string_to_sign, verify_sns_envelope

TOPIC = "arn:aws:sns:eu-central-1:111122223333:ordercare-sms-inbound"
CERT_URL = "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-abc.pem"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
CERT = (
    x509.CertificateBuilder()
    .subject_name(NAME)
    .issuer_name(NAME)
    .public_key(KEY.public_key())
    .serial_number(1)
    .not_valid_before(datetime.now(UTC) - timedelta(days=1))
    .not_valid_after(datetime.now(UTC) + timedelta(days=1))
    .sign(KEY, hashes.SHA256())
)


def envelope(**overrides: Any) -> dict[str, Any]:
    message = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": TOPIC,
        "Message": '{"originationNumber": "+4915112345678", "messageBody": "STOP"}',
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": "2",
        "SigningCertURL": CERT_URL,
    }
    message.update(overrides)
    signature = KEY.sign(sns_string_to_sign(message), padding.PKCS1v15(), hashes.SHA256())
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def check(message: dict[str, Any]) -> None:
    verify_sns_envelope(message, (TOPIC,), time.time(), fetch_certificate=lambda url: CERT)


def test_a_valid_envelope_passes() -> None:
    check(envelope())


@pytest.mark.parametrize(
    "tamper",
    [
        lambda m: m.update(Message=m["Message"].replace("STOP", "START")),
        lambda m: m.update(TopicArn="arn:aws:sns:eu-central-1:999999999999:attacker"),
        lambda m: m.update(SigningCertURL="https://evil.example.com/cert.pem"),
        lambda m: m.update(SigningCertURL="http://sns.eu-central-1.amazonaws.com/x.pem"),
        lambda m: m.update(Signature="not base64!"),
    ],
)
def test_tampered_or_foreign_envelopes_are_refused(tamper: Any) -> None:
    message = envelope()
    tamper(message)
    with pytest.raises(UnauthorizedError):
        check(message)


def test_stale_envelopes_are_refused() -> None:
    old = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with pytest.raises(UnauthorizedError):
        check(envelope(Timestamp=old))


@pytest.mark.parametrize(
    ("body", "action"),
    [
        ("STOP", "opt_out"),
        (" stop. ", "opt_out"),
        ("Unsubscribe", "opt_out"),
        ("START", "opt_in"),
        ("yes", "opt_in"),
        ("Where is my parcel?", None),
        ("", None),
    ],
)
def test_keywords(body: str, action: str | None) -> None:
    assert keyword_action(body) == action
