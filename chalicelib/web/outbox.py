"""GET /local/outbox: what the local stack's emulator has sent (local stack only; 404 elsewhere).

Emails are read back from the emulator's raw MIME, so the page shows exactly
what was sent: recipients, subject, text, HTML (viewable as rendered) and
attachment names. SMS show recipient and body. Newest first.
"""

from __future__ import annotations

import json
from email import message_from_string, policy
from email.message import EmailMessage
from html import escape
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import NotFoundError

if TYPE_CHECKING:
    from chalice.app import Response

    from chalicelib.api.http import Call


def _emulator_state(url: str) -> dict[str, Any]:
    from urllib.request import urlopen

    with urlopen(f"{url.rstrip('/')}/moto-api/data.json", timeout=5) as response:  # noqa: S310 - local emulator # nosec B310
        data: dict[str, Any] = json.load(response)
    return data


def _email(raw: dict[str, Any]) -> dict[str, Any]:
    message = message_from_string(str(raw.get("raw_data", "")), policy=policy.default)
    assert isinstance(message, EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "id": raw.get("id"),
        "from": str(message.get("From", raw.get("source", ""))),
        "to": sorted(set(raw.get("destinations") or [])) or [str(message.get("To", ""))],
        "subject": str(message.get("Subject", "")),
        "reply_to": str(message.get("Reply-To", "")) or None,
        "message_id": str(message.get("Message-ID", "")) or None,
        "in_reply_to": str(message.get("In-Reply-To", "")) or None,
        "text": text.get_content() if text is not None else "",
        "html": html.get_content() if html is not None else "",
        "attachments": [part.get_filename() for part in message.iter_attachments() if part.get_filename()],
    }


def outbox(url: str) -> dict[str, list[dict[str, Any]]]:
    state = _emulator_state(url)
    emails = [_email(raw) for raw in state.get("ses", {}).get("RawMessage", [])]
    sms = [
        {"id": item.get("message_id"), "to": item.get("phone_number"), "body": item.get("message")}
        for item in state.get("sns", {}).get("SMS", [])
    ]
    return {"emails": emails[::-1], "sms": sms[::-1]}


def render_outbox(call: Call) -> Response:
    from chalice.app import Response

    from chalicelib.api.http import json_response

    settings = call.settings
    if not settings.is_local or not settings.local_emulator_url:
        raise NotFoundError("the outbox exists on the local stack only")
    sent = outbox(settings.local_emulator_url)
    view = call.query.get("view")
    if view:
        email = next((e for e in sent["emails"] if e["id"] == view), None)
        if email is None:
            raise NotFoundError("no such email")
        return Response(
            body=email["html"] or escape(email["text"]),
            status_code=200,
            headers={"Content-Type": "text/html; charset=utf-8"},
        )
    if "application/json" in (call.header("Accept") or ""):
        faults = [{**fault.as_json(), "description": fault.description} for fault in _active_faults()]
        return json_response(200, {**sent, "faults": faults})
    return Response(body=_page(sent), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})


def fault_banner(faults: list[Any]) -> str:
    """While an outage drill runs (/local/faults), say which calls are failing."""
    if not faults:
        return ""
    items = "".join(f"<li>{escape(fault.description)}</li>" for fault in faults)
    return (
        '<aside role="alert" style="background:#fff3cd;border:1px solid #d39e00;border-radius:6px;padding:.5rem 1rem">'
        f"<b>Outage drill running</b> — these AWS calls are failing:<ul>{items}</ul>"
        "End it with <code>make -s fault CLEAR=1</code>.</aside>"
    )


def _active_faults() -> list[Any]:
    from chalicelib.adapters.faults import FaultStore

    return FaultStore().active()


def _page(sent: dict[str, list[dict[str, Any]]]) -> str:
    rows = []
    for email in sent["emails"]:
        attachments = ", ".join(escape(name) for name in email["attachments"]) or "—"
        rows.append(
            "<article><h3>{subject}</h3><p><b>To:</b> {to} · <b>Reply-To:</b> {reply_to} · "
            "<b>Attachments:</b> {attachments} · "
            '<a href="?view={id}">view HTML</a></p><pre>{text}</pre></article>'.format(
                subject=escape(email["subject"]),
                to=escape(", ".join(email["to"])),
                reply_to=escape(email.get("reply_to") or "—"),
                attachments=attachments,
                id=escape(str(email["id"])),
                text=escape(email["text"]),
            )
        )
    sms = "".join(f"<li><b>{escape(str(item['to']))}</b>: {escape(str(item['body']))}</li>" for item in sent["sms"])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Local outbox</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "article{border:1px solid #ccc;border-radius:6px;padding:0 1rem;margin:1rem 0}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}</style></head><body><main>"
        f"<h1>Local outbox</h1>{fault_banner(_active_faults())}<h2>Emails ({len(sent['emails'])}, newest first)</h2>"
        f"{''.join(rows) or '<p>None yet.</p>'}"
        f"<h2>SMS ({len(sent['sms'])})</h2><ul>{sms or '<li>None yet.</li>'}</ul></main></body></html>"
    )
