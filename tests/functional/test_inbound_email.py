"""Email in: a corpus of real-world messages (Gmail, Outlook, Apple Mail, en/de, HTML-only, quoted-printable,
an auto-reply, a bounce, a forged token, an attachment, another sender) → the right outcome each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.dynamo.tickets import TicketItem, ticket_sk
from chalicelib.bootstrap import get_container
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, drain
from tests.functional.test_lifecycle_api import place
from tests.functional.test_notifications import emails
from tests.functional.test_tickets_api import agent, open_ticket

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "inbound"


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


def fixture(name: str, order_id: str, **values: str) -> bytes:
    container = get_container()
    reply_to = container.reply_address(order_id)
    local, _, domain = reply_to.partition("@")
    forged = f"{local[:-4]}{'aaaa' if not local.endswith('aaaa') else 'bbbb'}@{domain}"  # the MAC no longer fits
    text = (CORPUS / f"{name}.eml").read_text()
    defaults = {
        "REPLY_TO": reply_to,
        "FORGED_REPLY_TO": forged,
        "FROM": "alice@example.com",
        "IN_REPLY_TO": "<unknown@example.com>",
        "REFERENCES": "<unknown@example.com>",
    }
    for key, value in {**defaults, **values}.items():
        text = text.replace("{{" + key + "}}", value)
    return text.encode()


def post(api: Api, raw: bytes) -> Any:
    return api.call("POST", "/local/inbound-email", raw=raw, headers={"Content-Type": "message/rfc822"})


@pytest.mark.parametrize(
    ("name", "outcome", "expected_text", "absent_text"),
    [
        ("gmail_en_reply", "ticket_created", "four days now", "DHL is delivering"),
        ("outlook_de_reply", "ticket_created", "beschädigt angekommen", "Gesendet:"),
        ("apple_mail_de", "ticket_created", "fehlt das Kochbuch", ("schrieb OrderCare", "Von meinem iPhone")),
        ("iphone_en_reply", "ticket_created", "mug inside is chipped", ("Sent from my iPhone", "wrote:")),
        ("android_de_reply", "ticket_created", "Packstation umleiten", ("Gesendet von meinem", "Betreff:")),
        ("html_only", "ticket_created", "Müller & Söhne GmbH", "<p>"),
        ("quoted_printable_en", "ticket_created", "charged twice for this order — once", "=E2"),
        ("attachment", "ticket_created", "arrived broken", None),
        ("auto_reply", "ignored", None, None),
        ("bounce", "ignored", None, None),
        ("forged_token", "held", None, None),
        ("other_sender", "held", None, None),
        ("no_token", "held", None, None),
    ],
)
def test_corpus(
    api: Api,
    tap: StreamTap,
    name: str,
    outcome: str,
    expected_text: str | None,
    absent_text: str | tuple[str, ...] | None,
) -> None:
    order = place(api)
    drain(tap)
    before = len(emails())
    response = post(api, fixture(name, order["id"]))
    assert response.status_code == 202, response.data
    assert response.data["outcome"] == outcome, response.data
    drain(tap)
    new = emails()[before:]
    if outcome == "ticket_created":
        ticket = agent(api, "GET", f"/v1/tickets/{response.data['ticket_id']}").data
        assert ticket["channel"] == "email" and ticket["category"] == "other"
        body = ticket["messages"][0]["body"]
        assert expected_text in body, body
        for absent in (absent_text,) if isinstance(absent_text, str) else absent_text or ():
            assert absent not in body, body
        # exactly one automatic receipt, with the ticket number and the 24 h promise, threaded to the mail
        assert len(new) == 1 and ticket["number"] in str(new[0]["Subject"])
        assert str(new[0]["In-Reply-To"]).strip() and str(new[0]["Auto-Submitted"]) == "auto-replied"
    else:
        assert response.data["ticket_id"] is None and new == []  # no ticket, no receipt, no loop
    if outcome == "held":
        held = agent(api, "GET", "/v1/inbound/held").data["items"]
        assert held and held[0]["reason"] in ("forged_token", "sender_mismatch", "unknown_token")
        assert agent(api, "GET", "/v1/tickets").data["items"] == []  # never attached silently


def test_attachment_is_sniffed_stored_and_linked(api: Api, tap: StreamTap) -> None:
    order = place(api)
    result = post(api, fixture("attachment", order["id"])).data
    ticket = agent(api, "GET", f"/v1/tickets/{result['ticket_id']}").data
    [attachment] = ticket["messages"][0]["attachments"]
    assert attachment["content_type"] == "image/png"  # sent as application/octet-stream
    assert attachment["filename"] == "IMG_2041.bin" and attachment["size"] > 0
    assert "X-Amz-Expires=300" in attachment["url"]
    mine = api.call("GET", f"/v1/tickets/{result['ticket_id']}", role="customer", sub="cus_alice").data
    assert mine["messages"][0]["attachments"][0]["content_type"] == "image/png"
    other = api.call("GET", f"/v1/tickets/{result['ticket_id']}", role="customer", sub="cus_mallory")
    assert other.status_code == 404


def test_a_reply_threads_onto_the_ticket_and_comes_back_the_same_way(api: Api, tap: StreamTap) -> None:
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/messages", {"message": "Which colour was it?"})
    drain(tap)
    reply = emails()[-1]
    assert ticket["number"] in str(reply["Subject"])
    answer = fixture(
        "gmail_en_reply", order["id"], IN_REPLY_TO=str(reply["Message-ID"]), REFERENCES=str(reply["References"])
    )
    result = post(api, answer).data
    assert result == {"outcome": "message_added", "ticket_id": ticket["id"]}
    thread = agent(api, "GET", f"/v1/tickets/{ticket['id']}").data["messages"]
    assert [m["channel"] for m in thread] == ["web", "web", "email"]
    # The same message delivered twice (SES retries, a resend) is handled once.
    again = post(api, answer).data
    assert again["outcome"] == "message_added" and again["duplicate"] is True
    assert len(agent(api, "GET", f"/v1/tickets/{ticket['id']}").data["messages"]) == 3


def test_a_reply_to_a_resolved_ticket_reopens_it(api: Api, tap: StreamTap) -> None:
    order = place(api)
    ticket = open_ticket(api, order["id"]).data
    agent(api, "POST", f"/v1/tickets/{ticket['id']}/resolve", {"resolution": "Re-sent"})
    result = post(api, fixture("quoted_printable_en", order["id"])).data
    assert result == {"outcome": "message_added", "ticket_id": ticket["id"]}
    current = agent(api, "GET", f"/v1/tickets/{ticket['id']}").data
    assert current["status"] == "acknowledged" and current["reopened"] == 1


def test_tickets_per_sender_are_rate_limited(api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch) -> None:
    container = get_container()
    monkeypatch.setattr(container.inbound_email, "sender_hourly_cap", 2)
    order = place(api)
    outcomes = []
    for n in range(3):
        raw = fixture("quoted_printable_en", order["id"]).replace(b"<qp-1@example.com>", f"<qp-{n}@x>".encode())
        result = post(api, raw).data
        outcomes.append(result["outcome"])
        if result.get("ticket_id"):  # closed, so the next mail cannot thread onto it
            item = TicketItem.get(f"ORDER#{order['id']}", ticket_sk(result["ticket_id"]))
            item.update(actions=[TicketItem.status.set("closed")])
    assert outcomes == ["ticket_created", "ticket_created", "held"], outcomes
    assert agent(api, "GET", "/v1/inbound/held").data["items"][0]["reason"] == "rate_limited"


def test_local_route_rejects_an_empty_body(api: Api) -> None:
    response = post(api, b"  ")
    assert response.status_code == 422 and response.data["error"]["code"]
