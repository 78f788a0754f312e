"""Log hygiene: every log line of a whole lifecycle carries no personal data and no credential.

Placed → paid → processed → shipped → delivered (with every email, SMS and document), a ticket
with an agent's reply, inbound emails (a reply and a stranger's), a portal sign-in with its code,
an SES outage (providers' errors name the address) and a request the app fails on. Every line the
Powertools logger prints (exactly as printed) and every record of any other logger is captured;
none may show Alice's email address, phone number, street address, her sign-in code or any token.
"""

from __future__ import annotations

import io
import logging
import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from chalicelib.bootstrap import get_container
from chalicelib.observability import get_logger
from tests.conftest import bearer
from tests.functional.conftest import Api
from tests.functional.portal_tools import Browser, Clock, last_code, last_link_token
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_inbound_email import fixture, post
from tests.functional.test_lifecycle_api import carrier, pay, place, staff
from tests.functional.test_outages import fault, sms_on

ALICE = "alice@example.com"


class Everything(logging.Handler):
    """Every record of every logger, rendered with its arguments, extras and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        extras = {
            k: v for k, v in vars(record).items() if k not in logging.LogRecord("", 0, "", 0, "", (), None).__dict__
        }
        self.lines.append(f"{record.name}: {text} {extras}")


@pytest.fixture
def logs() -> Iterator[Callable[[], list[str]]]:
    """The Powertools logger's own output (as printed) and every other logger's records, so far."""
    handler = get_logger().registered_handler
    printed = io.StringIO()
    previous = handler.setStream(printed)
    everything = Everything()
    root = logging.getLogger()
    root.addHandler(everything)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [*printed.getvalue().splitlines(), *everything.lines]
    finally:
        handler.setStream(previous)
        root.removeHandler(everything)
        root.setLevel(level)


def lifecycle(api: Api, tap: StreamTap) -> dict[str, str]:
    """The whole story; returns the secrets it produced (sign-in code, link token, tokens)."""
    get_container().portal.clock = Clock()
    sms_on(api)
    order = place(api)
    assert pay(api, order).status_code == 201
    assert staff(api, f"/v1/orders/{order['id']}/processing").status_code == 200
    tracking = f"TRK{uuid.uuid4().hex[:10]}"
    shipped = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking})
    assert shipped.status_code == 201, shipped.data
    drain(tap)
    assert carrier(api, tracking, "delivered").status_code == 200
    drain(tap)
    ticket = api.call(
        "POST",
        "/v1/tickets",
        {"order_id": order["id"], "category": "delay", "message": "Call me on +4915112345678"},
        role="customer",
        sub="cus_alice",
    )
    assert ticket.status_code == 201, ticket.data
    reply = {"message": f"Dear Alice, we wrote to {ALICE}", "internal": False}
    path = f"/v1/tickets/{ticket.data['id']}/messages"
    assert api.call("POST", path, reply, role="agent", sub="agt_1").status_code == 201
    drain(tap)
    assert post(api, fixture("gmail_en_reply", order["id"])).data["outcome"] in ("ticket_created", "message_added")
    assert post(api, fixture("other_sender", order["id"], FROM="stranger@example.org")).data["outcome"] == "held"
    drain(tap)
    browser = Browser(api)
    browser.sign_in(ALICE)
    code, link = last_code(ALICE), last_link_token(ALICE)
    assert browser.get(f"/account/orders/{order['id']}").status == 200
    # SES refuses for a while (its errors name the address); the intents retry later.
    fault(api, service="ses", ratio=1.0, error="server")
    assert Browser(api).request_code(ALICE).status == 503
    assert staff(api, f"/v1/tickets/{ticket.data['id']}/acknowledge").status_code in (200, 409)
    assert api.call("DELETE", "/local/faults").status_code in (200, 204)
    drain(tap)
    session = browser.jar.get("oc_session") or next(iter(browser.jar.values()), "")
    token = bearer("customer", "cus_alice")["Authorization"].removeprefix("Bearer ")
    return {"code": code, "link": link, "session": session, "jwt": token}


def test_no_personal_data_or_credentials_in_any_log_line(api: Api, logs: Callable[[], list[str]]) -> None:
    tap = StreamTap("ordercare-test")
    tap.new_records()
    secrets = lifecycle(api, tap)
    # the logger is handed a customer's data directly, too (as a careless log call would)
    get_logger().warning(
        f"could not reach {ALICE} on +4915112345678",
        extra={"customer": {"email": ALICE, "phone": "+4915112345678"}, "address": "Hauptstr. 1, 10115 Berlin"},
    )
    try:
        raise ValueError(f"bad address {ALICE}")
    except ValueError:
        get_logger().exception("failed", extra={"authorization": f"Bearer {secrets['jwt']}", "code": secrets["code"]})
    logs_now = logs()
    assert len(logs_now) > 15, logs_now  # the lifecycle really logged (our lines: fontTools' INFO is off)
    assert any('"order change handled"' in line for line in logs_now)
    assert any("a***@example.com" in line and "+49********678" in line for line in logs_now)  # masked, not dropped
    forbidden = {
        "email": re.compile(r"alice@example\.com|stranger@example\.org", re.IGNORECASE),
        "phone": re.compile(r"\+?49\s?151\s?1234\s?5678|15112345678"),
        "street": re.compile(r"Hauptstr", re.IGNORECASE),
        "sign-in code": re.compile(rf"\b{secrets['code']}\b"),
        "sign-in link token": re.compile(re.escape(secrets["link"])),
        "bearer token": re.compile(r"eyJ[\w-]+\.[\w-]+"),
    }
    if len(secrets["session"]) >= 16:
        forbidden["session"] = re.compile(re.escape(secrets["session"]))
    problems = [
        f"{what}: {line[:400]}" for line in logs_now for what, pattern in forbidden.items() if pattern.search(line)
    ]
    assert not problems, "log lines with personal data or credentials:\n" + "\n".join(problems[:20])
