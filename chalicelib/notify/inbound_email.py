"""Customers' emails in: a reply lands, threaded, on its order's ticket — or waits for an agent.

The same handler serves SES receiving in AWS (the receipt rule stores the raw message
in S3, then invokes `inbound_email` with its key) and `POST /local/inbound-email`.
For each message, in order:

1. already handled (same bytes)? → the first outcome again;
2. an auto-reply, bounce or list mail (Auto-Submitted, Precedence, DSN, mailer-daemon)?
   → ignored: no ticket, no receipt, no loop;
3. the signed `reply+<token>@<reply domain>` recipient names an order, and the sender
   is that order's customer? — otherwise the message is held for an agent (a forged or
   unknown token, another sender), never attached silently;
4. the text: MIME decoded by the standard library (charsets, quoted-printable, base64),
   HTML-only mails turned into text (html2text), quoted history and signatures
   stripped (mail-parser-reply, en/de); attachments stored in S3 (≤ 10 MB each,
   ≤ 25 MB per mail, type sniffed from the bytes with `filetype`);
5. threaded by In-Reply-To/References (our Message-IDs name the ticket), else the
   order's open ticket, else a resolved one is reopened (within 7 days), else a new
   ticket (category other, channel email; at most N per sender per hour) — whose
   creation sends the one automatic receipt (services/ticket_events.py).
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any, Protocol

from chalicelib.domain.errors import ConflictError
from chalicelib.domain.ids import new_id
from chalicelib.domain.privacy import mask_email
from chalicelib.domain.reply_address import order_from_token, token_from_address
from chalicelib.domain.tickets import ACTIVE, REOPEN_DAYS, TicketAttachment, TicketStatus
from chalicelib.observability import get_logger
from chalicelib.services.ports import Clock

SES_OBJECT_PREFIX = "inbound/ses/"  # where the receipt rule's S3 action stores raw messages (infra uses it)
MAX_MESSAGE_BYTES = 30 * 1024 * 1024
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS_BYTES = 25 * 1024 * 1024
MAX_BODY_CHARS = 20_000
AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
AUTO_SENDERS = ("mailer-daemon@", "postmaster@", "noreply@", "no-reply@")
APPEND_ATTEMPTS = 4  # transaction races lost to concurrent deliveries before giving up (SES retries later)
RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")


class MailStore(Protocol):
    def put_raw(self, key: str, data: bytes) -> None: ...

    def get_raw(self, key: str, bucket: str | None = None) -> bytes: ...

    def put_attachment(self, order_id: str, ticket_id: str, filename: str, content_type: str, data: bytes) -> str: ...


@dataclass(frozen=True)
class Parsed:
    sender: str
    subject: str
    message_id: str | None
    references: list[str]
    recipients: list[str]
    body: str
    attachments: list[tuple[str, str, bytes]]  # (filename, sniffed content type, bytes)
    dropped: list[str]  # attachments refused (too large)


def auto_reason(message: EmailMessage) -> str | None:
    """Why this is an automatic message (RFC 3834 auto-replies, RFC 3464 bounces, bulk mail), else None."""
    auto = str(message.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return f"auto-submitted: {auto}"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return f"precedence: {precedence}"
    if message.get("X-Autoreply") or message.get("X-Autorespond") or message.get("X-Autoresponder"):
        return "autoresponder header"
    if message.get_content_type() == "multipart/report" or any(
        part.get_content_type() in ("message/delivery-status", "message/disposition-notification")
        for part in message.walk()
    ):
        return "delivery status notification"
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    if sender.startswith(AUTO_SENDERS) or str(message.get("Return-Path", "")).strip() == "<>":
        return "automatic sender"
    return None


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = str(part.get_content())
    except (LookupError, UnicodeError):  # an unknown or lying charset: decode leniently
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""
    if part.get_content_type() == "text/html":
        import html2text

        converter = html2text.HTML2Text()
        converter.ignore_images, converter.body_width = True, 0
        content = converter.handle(content)
    return content.replace("\r\n", "\n")


# Mobile clients' one-line signatures the library's language tables miss, in its `sent_from` slot
# (matched on a line of its own, then cut with everything after it). iOS in German puts the verb last
# ("Von meinem iPhone gesendet"); the lookaheads keep ordinary sentences that merely start alike.
EXTRA_SENT_FROM = {
    "de": (
        r"Von meinem(?= (?:[\w.-]+ ){1,4}gesendet\.?$)",
        r"Gesendet mit der(?= (?:[\w.-]+ ){0,3}(?:Mail )?App\.?$)",
    ),
    "en": (r"Sent from(?= (?:Mail|Outlook|Yahoo Mail) for (?:Windows|iOS|Android|iPhone|iPad)\b)",),
}


@functools.cache
def _mobile_aware_message() -> type[Any]:
    from mailparser_reply import EmailMessage as ReplyMessage

    class MobileAwareMessage(ReplyMessage):  # type: ignore[misc]
        def _get_language_regex(self, language: str, regex_key: str) -> str:
            pattern = str(super()._get_language_regex(language, regex_key))
            extra = EXTRA_SENT_FROM.get(language, ()) if regex_key == "sent_from" else ()
            return "|".join(p for p in (pattern, *extra) if p)

    return MobileAwareMessage


def strip_reply(text: str) -> str:
    """The new part of a reply: quoted history and signatures (mobile ones too) removed (en/de)."""
    parsed = _mobile_aware_message()(text=text, languages=["en", "de"]).read()
    latest = parsed.replies[0] if parsed.replies else None
    body = (latest.body if latest is not None else "") or ""
    lines = [line for line in body.strip().splitlines() if not line.lstrip().startswith(">")]
    return "\n".join(lines).strip()


def _attachments(message: EmailMessage) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    import filetype

    kept: list[tuple[str, str, bytes]] = []
    dropped: list[str] = []
    total = 0
    body = message.get_body(preferencelist=("plain", "html"))
    for n, part in enumerate(message.walk()):
        if part.is_multipart() or part is body or part.get_content_maintype() == "message":
            continue
        filename = part.get_filename()
        inline_text = part.get_content_maintype() == "text" and not filename
        if inline_text or (part.get_content_disposition() is None and not filename):
            continue
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes) or not data:
            continue
        name = filename or f"attachment-{n}"
        if len(data) > MAX_ATTACHMENT_BYTES or total + len(data) > MAX_ATTACHMENTS_BYTES:
            dropped.append(name)
            continue
        kind = filetype.guess(data)  # the bytes decide, never the sender's Content-Type
        sniffed = kind.mime if kind is not None else "application/octet-stream"
        kept.append((name, sniffed, data))
        total += len(data)
    return kept, dropped


def parse(raw: bytes, envelope_recipients: Sequence[str] = ()) -> tuple[EmailMessage, Parsed]:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    headers = [str(value) for name in RECIPIENT_HEADERS for value in (message.get_all(name) or [])]
    recipients = [address for _, address in getaddresses(headers)] + list(envelope_recipients)
    references = [str(message.get("In-Reply-To", "")), str(message.get("References", ""))]
    text = _text(message)
    stripped = strip_reply(text) if text.strip() else ""
    attachments, dropped = _attachments(message)
    return message, Parsed(
        sender=parseaddr(str(message.get("From", "")))[1].strip().lower(),
        subject=str(message.get("Subject", ""))[:300],
        message_id=(str(message.get("Message-ID", "")).strip() or None),
        references=[r for r in references if r.strip()],
        recipients=recipients,
        body=(stripped or text.strip())[:MAX_BODY_CHARS],
        attachments=attachments,
        dropped=dropped,
    )


def once_key(message_id: str | None, raw_key: str) -> str:
    """The email's identity on its order: its Message-ID (the same in a duplicate receipt or an SES
    retry), or the stored object's key when it has none."""
    identity = (message_id or "").strip().strip("<>").strip().lower() or f"raw:{raw_key}"
    return f"INBOUNDMAIL#{hashlib.sha256(identity.encode()).hexdigest()[:40]}"


@dataclass
class InboundEmailHandler:
    tickets: Any  # services.tickets.TicketService
    repository: Any  # adapters.dynamo.tickets.DynamoTicketRepository
    orders: Any  # services.orders.OrderService
    store: MailStore
    clock: Clock
    reply_domain: str
    secrets: Callable[[], tuple[str, ...]]
    sender_hourly_cap: int = 5

    def receive(self, raw: bytes, recipients: Sequence[str] = ()) -> dict[str, Any]:
        """The local helper's entry: keep the raw message in S3 (as SES would), then handle it."""
        digest = hashlib.sha256(raw).hexdigest()
        key = f"inbound/raw/{digest}.eml"
        self.store.put_raw(key, raw)
        return self.handle(raw, key, recipients)

    def from_s3(self, bucket: str, key: str, recipients: Sequence[str] = ()) -> dict[str, Any]:
        """The SES receipt rule's entry: SES already stored the raw message."""
        return self.handle(self.store.get_raw(key, bucket), key, recipients)

    def from_ses_event(self, event: dict[str, Any], bucket: str) -> list[dict[str, Any]]:
        """An SES receipt-rule Lambda action (after the S3 action stored the message under its id)."""
        results = []
        for record in event.get("Records", []):
            ses = record.get("ses", {})
            message_id = str(ses.get("mail", {}).get("messageId", ""))
            if not message_id or "/" in message_id:
                continue
            recipients = [str(r) for r in ses.get("receipt", {}).get("recipients", [])]
            results.append(self.from_s3(bucket, f"{SES_OBJECT_PREFIX}{message_id}", recipients))
        return results

    def handle(self, raw: bytes, raw_key: str, recipients: Sequence[str] = ()) -> dict[str, Any]:
        started = time.perf_counter()
        digest = hashlib.sha256(raw).hexdigest()
        seen = self.repository.inbound_seen(digest)
        if seen is not None:
            return {"outcome": seen[0], "ticket_id": seen[1], "duplicate": True}
        message, parsed = parse(raw, recipients)
        result = self._decide(message, parsed, raw_key)
        self.repository.mark_inbound(digest, result["outcome"], result.get("ticket_id"))
        get_logger().info(
            "inbound email handled",
            extra={
                "outcome": result["outcome"],
                "reason": result.get("reason"),
                "from": mask_email(parsed.sender) if parsed.sender else None,
                "ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return result

    def _decide(self, message: EmailMessage, parsed: Parsed, raw_key: str) -> dict[str, Any]:
        reason = auto_reason(message)
        if reason is not None:
            return {"outcome": "ignored", "ticket_id": None, "reason": reason}
        order_id, token_reason = self._order_for(parsed.recipients)
        if order_id is None:
            return self._hold(parsed, raw_key, token_reason, None)
        order = self.orders.orders.get(order_id)
        if order is None:
            return self._hold(parsed, raw_key, "unknown_order", None)
        if parsed.sender != order.customer.email.strip().lower():
            return self._hold(parsed, raw_key, "sender_mismatch", order_id)
        if not parsed.body and not parsed.attachments:
            return self._hold(parsed, raw_key, "empty", order_id)
        return self._attach(order, parsed, raw_key)

    def _order_for(self, recipients: Sequence[str]) -> tuple[str | None, str]:
        tokens = [t for t in (token_from_address(r, self.reply_domain) for r in recipients) if t]
        if not tokens:
            return None, "unknown_token"
        for token in tokens:
            order_id = order_from_token(token, self.secrets())
            if order_id is not None:
                return order_id, ""
        return None, "forged_token"

    def _hold(self, parsed: Parsed, raw_key: str, reason: str, order_id: str | None) -> dict[str, Any]:
        # Keyed by sender and Message-ID (else the object): a duplicate delivery is held once.
        from chalicelib.services.ports import StaleVersionError

        identity = f"{parsed.sender}|{parsed.message_id}" if parsed.message_id else None
        held = {
            "id": new_id("inb", self.clock.now()),
            "reason": reason,
            "sender": parsed.sender[:254],
            "subject": parsed.subject,
            "excerpt": parsed.body[:300],
            "raw_key": raw_key,
            "order_id": order_id,
        }
        key = once_key(identity, raw_key).removeprefix("INBOUNDMAIL#")
        for attempt in range(APPEND_ATTEMPTS):
            try:
                held_id = self.repository.hold(held, self.clock.now(), key)
                break
            except StaleVersionError:  # a concurrent copy was holding it; its marker answers next time
                if attempt == APPEND_ATTEMPTS - 1:
                    raise
        return {"outcome": "held", "ticket_id": None, "reason": reason, "held_id": held_id}

    def _attach(self, order: Any, parsed: Parsed, raw_key: str) -> dict[str, Any]:
        from chalicelib.adapters.dynamo.tickets import DuplicateAutoTicketError
        from chalicelib.services.ports import StaleVersionError

        once = once_key(parsed.message_id, raw_key)
        attachments = tuple(
            TicketAttachment(name, kind, len(data), self.store.put_attachment(order.id, "inbound", name, kind, data))
            for name, kind, data in parsed.attachments
        )
        for attempt in range(APPEND_ATTEMPTS):
            try:
                return self._append(order, parsed, raw_key, once, attachments)
            except DuplicateAutoTicketError:  # a concurrent delivery of the same email recorded it first
                return self._recorded(order.id, once)
            except StaleVersionError:  # lost a transaction race: the winner may be this very email
                if self.repository.recorded(order.id, once) is not None:
                    return self._recorded(order.id, once)
                if attempt == APPEND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _recorded(self, order_id: str, once: str) -> dict[str, Any]:
        recorded = self.repository.recorded(order_id, once)
        outcome = "ticket_created" if recorded is None or recorded[0] == "opened" else "message_added"
        return {"outcome": outcome, "ticket_id": recorded[1] if recorded else None, "duplicate": True}

    def _append(
        self, order: Any, parsed: Parsed, raw_key: str, once: str, attachments: tuple[TicketAttachment, ...]
    ) -> dict[str, Any]:
        """Onto the thread's ticket (reopened if resolved), else a new one — the email's marker written
        in the same transaction, so the same message delivered twice lands once."""
        from chalicelib.adapters.dynamo.tickets import DuplicateAutoTicketError, SenderQuotaExceededError
        from chalicelib.services.ports import StaleVersionError
        from chalicelib.services.tickets import Caller

        customer = Caller("customer", order.customer.id)
        body = parsed.body or "(attachments only)"
        if parsed.dropped:
            body += "\n\n[Not kept, over the size limit: " + ", ".join(parsed.dropped) + "]"
        ticket = self._thread(order, parsed)
        if ticket is not None:
            try:
                self.tickets.add_message(
                    ticket.id,
                    customer,
                    body,
                    channel="email",
                    attachments=attachments,
                    email_message_id=parsed.message_id,
                    once_key=once,
                    reopen_resolved=True,
                )
                return {"outcome": "message_added", "ticket_id": ticket.id}
            except (DuplicateAutoTicketError, StaleVersionError):
                raise  # the caller tells a duplicate from a lost race
            except ConflictError:
                pass  # closed meanwhile: a new ticket takes it
        try:
            created = self.tickets.open(
                order_id=order.id,
                category="other",
                message=body,
                channel="email",
                caller=customer,
                attachments=attachments,
                email_message_id=parsed.message_id,
                once_key=once,
                sender_quota=(parsed.sender, self.clock.now(), self.sender_hourly_cap),
            )
        except SenderQuotaExceededError:
            return self._hold(parsed, raw_key, "rate_limited", order.id)
        return {"outcome": "ticket_created", "ticket_id": created.id}

    def _thread(self, order: Any, parsed: Parsed) -> Any:
        """The ticket this email answers: named by our Message-IDs, else the order's open or recent one."""
        from chalicelib.notify.ticket_mail import ticket_id_from_message_ids

        tickets = self.repository.for_order(order.id)
        named = ticket_id_from_message_ids(parsed.references, self.reply_domain)
        now = self.clock.now()

        def usable(ticket: Any) -> bool:
            if ticket.status in ACTIVE:
                return True
            recent = ticket.resolved_at is not None and (now - ticket.resolved_at).days < REOPEN_DAYS
            return ticket.status == TicketStatus.RESOLVED and recent

        by_id = {t.id: t for t in tickets}
        if named in by_id and usable(by_id[named]):
            return by_id[named]
        candidates = sorted((t for t in tickets if usable(t)), key=lambda t: (t.status in ACTIVE, t.created_at))
        return candidates[-1] if candidates else None
