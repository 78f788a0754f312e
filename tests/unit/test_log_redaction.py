"""The logger's redaction: personal data and credentials masked in messages, extras and tracebacks."""

from __future__ import annotations

import io
import json
import logging

from chalicelib.domain.privacy import mask_credentials, redact
from chalicelib.observability import get_logger


def test_fields_are_masked_by_name_and_by_content() -> None:
    masked = redact(
        {
            "customer": {"email": "alice@example.com", "phone": "+4915112345678", "name": "Alice"},
            "shipping_address": {"line1": "Hauptstr. 1", "postal_code": "10115"},
            "code": "123456",
            "note": "write to bob@example.org or +4930123456",
            "ids": ["ord_1", "carol@example.net"],
            "count": 3,
        }
    )
    assert masked == {
        "customer": {"email": "a***@example.com", "phone": "+49********678", "name": "Alice"},
        "shipping_address": "***",
        "code": "***",
        "note": "write to b***@example.org or +49*****456",
        "ids": ["ord_1", "c***@example.net"],
        "count": 3,
    }


def test_an_intent_id_naming_a_channel_keeps_its_outcome_while_addresses_in_it_are_masked() -> None:
    intents = {"message:ops:breached#ops_email": "sent", "message:shipped#email": "failed: to alice@example.com"}
    assert redact({"intents": intents}) == {
        "intents": {"message:ops:breached#ops_email": "sent", "message:shipped#email": "failed: to a***@example.com"}
    }
    assert redact({"ops_email": "ops@example.com"}) == {"ops_email": "o***@example.com"}


def test_credentials_are_masked_in_text() -> None:
    text = mask_credentials("Authorization: Bearer abc.DEF-123 and eyJhbGciOi.eyJzdWIi.sig")
    assert text == "Authorization: Bearer *** and eyJ***"


def test_the_logger_masks_message_extras_and_traceback() -> None:
    handler = get_logger().registered_handler
    printed = io.StringIO()
    previous = handler.setStream(printed)
    try:
        get_logger().warning("mail to %s", "alice@example.com", extra={"phone": "+4915112345678"})
        try:
            raise ValueError("rejected: alice@example.com")
        except ValueError:
            get_logger().exception("send failed")
    finally:
        handler.setStream(previous)
    first, second = (json.loads(line) for line in printed.getvalue().splitlines())
    assert first["message"] == "mail to a***@example.com" and first["phone"] == "+49********678"
    assert "alice@" not in second["exception"] and second["exception_name"] == "ValueError"
    assert "a***@example.com" in second["exception"]


def test_a_propagated_copy_is_masked_too() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    keep = Keep()
    root.addHandler(keep)
    try:
        get_logger().info("for alice@example.com", extra={"email": "alice@example.com"})
    finally:
        root.removeHandler(keep)
    mine = [r for r in seen if r.name == "ordercare"]
    assert mine  # Powertools' logger propagates to the root logger (Lambda's own handler there)
    assert mine[-1].getMessage() == "for a***@example.com" and mine[-1].__dict__["email"] == "a***@example.com"
