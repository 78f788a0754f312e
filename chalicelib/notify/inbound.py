"""Inbound SMS: STOP/START keywords, and how such a message proves where it came from.

In AWS, replies to our SMS arrive through an SNS topic subscribed over HTTPS: the
SNS envelope is verified with its X.509 signature (certificate fetched from an
`sns.<region>.amazonaws.com` URL only). Locally the same inner message is posted
with an X-OrderCare-Signature HMAC like the other webhooks.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from chalicelib.domain.errors import BadRequestError, PayloadTooLargeError, UnauthorizedError, ValidationError
from chalicelib.domain.webhooks import TOLERANCE_SECONDS, verify_signature

# The industry-standard keywords (CTIA) plus common European ones.
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "STOPP", "ARRET"})
START_KEYWORDS = frozenset({"START", "YES", "UNSTOP", "OPTIN"})
_CERT_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


def keyword_action(body: str) -> str | None:
    """'stop' → 'opt_out', 'START' → 'opt_in', anything else → None (ignored)."""
    words = body.strip().upper().split()
    word = words[0].strip(".!") if words else ""
    if word in STOP_KEYWORDS:
        return "opt_out"
    if word in START_KEYWORDS:
        return "opt_in"
    return None


def sns_string_to_sign(envelope: dict[str, Any]) -> bytes:
    fields = _SIGNED_FIELDS.get(str(envelope.get("Type")))
    if fields is None:
        raise UnauthorizedError("unsupported SNS message type", code="invalid_signature")
    parts = []
    for name in fields:
        if name in envelope and envelope[name] is not None:
            parts.append(f"{name}\n{envelope[name]}\n")
    return "".join(parts).encode()


@functools.lru_cache(maxsize=8)
def _certificate(url: str) -> Any:
    from urllib.request import urlopen

    from cryptography import x509

    with urlopen(url, timeout=5) as response:  # noqa: S310 - https and host checked by the caller # nosec B310
        return x509.load_pem_x509_certificate(response.read())


def verify_sns_envelope(
    envelope: dict[str, Any], topics: tuple[str, ...], now: float, fetch_certificate: Any = _certificate
) -> None:
    """Raise UnauthorizedError unless the envelope is fresh, from one of our topics, and validly signed."""
    if str(envelope.get("TopicArn", "")) not in topics:
        raise UnauthorizedError("SNS message from a topic that is not ours", code="invalid_signature")
    try:
        sent = datetime.fromisoformat(str(envelope.get("Timestamp", "")).replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise UnauthorizedError("SNS message without a valid Timestamp", code="invalid_signature") from exc
    if abs(now - sent) > TOLERANCE_SECONDS:
        raise UnauthorizedError("SNS message outside the allowed time window", code="invalid_signature")
    url = str(envelope.get("SigningCertURL", ""))
    parsed = urlparse(url)
    if parsed.scheme != "https" or not _CERT_HOST.match(parsed.hostname or "") or not url.endswith(".pem"):
        raise UnauthorizedError("SNS signing certificate URL is not from SNS", code="invalid_signature")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    algorithm = hashes.SHA256() if str(envelope.get("SignatureVersion")) == "2" else hashes.SHA1()  # noqa: S303 - SignatureVersion 1 is SNS's own SHA1 scheme; 2 uses SHA256 # nosec B303
    try:
        signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
        fetch_certificate(url).public_key().verify(
            signature, sns_string_to_sign(envelope), padding.PKCS1v15(), algorithm
        )
    except (InvalidSignature, ValueError, OSError) as exc:  # OSError: the certificate could not be fetched
        raise UnauthorizedError("SNS signature does not match", code="invalid_signature") from exc


def inbound_message(
    headers: Any, raw: bytes, hmac_secrets: tuple[str, ...], sns_topics: tuple[str, ...], max_bytes: int = 64 * 1024
) -> dict[str, Any]:
    """The verified inner SMS message ({originationNumber, messageBody, …}) from either transport.

    The size limit first, then (HMAC transport) the signature, and only then is the JSON parsed."""
    if len(raw) > max_bytes:
        raise PayloadTooLargeError(f"request body is larger than {max_bytes} bytes")
    sns = bool(headers.get("x-amz-sns-message-type"))
    if not sns:
        verify_signature(headers.get("x-ordercare-signature"), raw, hmac_secrets, time.time())
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequestError("request body is not valid JSON", code="malformed_json") from exc
    if sns:
        if not sns_topics or not isinstance(document, dict):
            raise UnauthorizedError("SNS delivery is not configured here", code="invalid_signature")
        verify_sns_envelope(document, sns_topics, time.time())
        if document.get("Type") != "Notification":
            return {"sns_type": document.get("Type"), "subscribe_url": document.get("SubscribeURL")}
        try:
            inner = json.loads(document["Message"])
        except (KeyError, ValueError) as exc:
            raise ValidationError("SNS message is not an SMS event") from exc
        return inner if isinstance(inner, dict) else {}
    return document if isinstance(document, dict) else {}


def confirm_subscription(url: str) -> None:
    """Confirm an SNS subscription (only SNS's own host is ever called)."""
    from urllib.request import urlopen

    parsed = urlparse(url)
    if parsed.scheme != "https" or not _CERT_HOST.match(parsed.hostname or ""):
        raise ValidationError("SubscribeURL is not an SNS URL")
    with urlopen(url, timeout=5):  # noqa: S310 - https and SNS host checked above # nosec B310
        pass
