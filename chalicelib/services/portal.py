"""The customer portal's use cases: sign in with a one-time code, then read one's own orders.

The rules live in chalicelib/domain/sessions.py; this module orchestrates them over a
small store Protocol, the order and document repositories and the mailer. What a
signed-in customer may see is decided in one place, `_is_theirs`: an order placed
with another address is NotFoundError, exactly like an order that does not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from chalicelib.domain import sessions as rules
from chalicelib.domain.errors import ConflictError, NotFoundError, OrderCareError, ValidationError
from chalicelib.domain.ids import has_prefix
from chalicelib.domain.orders import Customer, Order
from chalicelib.presentation.formatting import language_of
from chalicelib.services.ports import Clock, EmailOrders, PortalRead, PortalStore, TimelineEntry

if TYPE_CHECKING:
    from chalicelib.services.documents import DocumentService, IssuedDocument
    from chalicelib.services.orders import OrderService
    from chalicelib.services.ports import Mailer, Preferences, PreferenceStore

PAGE_SIZE = 10


class RateLimitedError(OrderCareError):
    """Too many sign-in requests; `retry_after` is the seconds until the window ends."""

    status, code = 429, "rate_limited"

    def __init__(self, retry_after: int):
        super().__init__("too many sign-in requests; try again later", details=[{"retry_after": retry_after}])
        self.retry_after = retry_after


class ChallengeSpentError(ConflictError):
    """The code or link was used (or replaced) between the read and the write."""


class SignInFailedError(ValidationError):
    """A wrong, expired, used or locked code (the page says which, never whether the address has orders)."""

    def __init__(self, reason: str, attempts_left: int = 0):
        super().__init__("sign-in failed", details=[{"reason": reason}], code=f"sign_in_{reason}")
        self.reason = reason  # wrong | expired
        self.attempts_left = attempts_left


class SealedCursors:
    """Continuation tokens the customer cannot read: a portal URL carries no order id (Fernet, AES + HMAC).

    The key is derived from the link secrets (the first seals, all open), so rotation works as for links."""

    def __init__(self, secrets: Callable[[], tuple[str, ...]]):
        self.secrets = secrets

    @staticmethod
    def _fernet(secret: str) -> Any:
        import base64
        import hashlib

        from cryptography.fernet import Fernet

        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"portal-cursor:{secret}".encode()).digest()))

    def encode(self, scope: str, key: dict[str, Any] | None) -> str | None:
        if not key:
            return None
        import json

        return str(self._fernet(self.secrets()[0]).encrypt(json.dumps({"s": scope, "k": key}).encode()).decode())

    def decode(self, scope: str, cursor: str | None) -> dict[str, Any] | None:
        if cursor is None:
            return None
        import json

        from cryptography.fernet import InvalidToken

        for secret in self.secrets():
            try:
                payload = json.loads(self._fernet(secret).decrypt(cursor.encode()[:2048]))
            except (InvalidToken, ValueError):
                continue
            if isinstance(payload, dict) and payload.get("s") == scope and isinstance(payload.get("k"), dict):
                key: dict[str, Any] = payload["k"]
                return key
        raise ValidationError("invalid cursor", details=[{"field": "cursor"}], code="invalid_cursor")


@dataclass(frozen=True)
class SignInMail:
    """What the sign-in email says; rendered by the web layer's wording (en/de)."""

    code: str
    link: str
    minutes: int
    lang: str


@dataclass(frozen=True)
class OrderStory:
    order: Order
    documents: list[IssuedDocument]
    messages: list[TimelineEntry]  # the timeline; the page shows the messages we sent
    tickets: list[Any] = field(default_factory=list)  # the support tickets, internal notes removed
    returns: list[Any] = field(default_factory=list)  # the order's returns (the returns service's records)


@dataclass
class PortalService:
    store: PortalStore
    orders: OrderService
    by_email: EmailOrders
    documents: DocumentService
    preferences_store: PreferenceStore
    mailer: Mailer
    clock: Clock
    cursors: SealedCursors
    secrets: Callable[[], tuple[str, ...]]
    base_url: str
    compose: Callable[[SignInMail], dict[str, Any]]  # the email payload (subject, text, html)
    limits: Sequence[rules.RateLimit] = field(default=(rules.PER_ADDRESS, rules.PER_CLIENT))
    read_story: Callable[[str], OrderStory | None] | None = None  # one read of the order's partition
    tickets: Any = None  # the support TicketService (the portal's help form opens and answers tickets)
    returns: Any = None  # the ReturnService (the portal's return form requests through it)

    # --- signing in --------------------------------------------------------------------

    def start_sign_in(self, raw_email: str | None, client: str, next_path: str | None, lang: str) -> str:
        """Email a code and a link to the address, whether or not it has orders (no enumeration).

        The code exists only in this call and in the email: it cannot be retried later
        from a stored intent without storing it, so a delivery failure is the caller's
        to report ("try again"), and nothing of it is logged."""
        email = rules.normalise_email(raw_email)
        if email is None:
            raise ValidationError("enter a valid email address", details=[{"field": "email"}], code="invalid_email")
        now = self.clock.now()
        # Read when the code is asked for, so that redeeming it is one read and one write; every
        # address is looked up alike, so the request says nothing of whether it has orders.
        customer = self._newest_customer(email)
        challenge, code, link = rules.new_challenge(
            secrets.token_hex(16),
            email,
            now,
            self.secrets()[0],
            rules.safe_next(next_path),
            customer.id if customer is not None else None,
            language_of(customer.locale) if customer is not None else None,
        )
        keys = {"email": email, "ip": client or "unknown"}
        self.store.start(challenge, [(limit, keys[limit.scope]) for limit in self.limits], now)
        mail = SignInMail(code, f"{self.base_url}/account/verify?token={link}", int(rules.CODE_TTL.seconds // 60), lang)
        self.mailer.send(email, self.compose(mail))
        return email

    def verify_code(
        self, raw_email: str | None, raw_code: str | None, previous: str | None, fallback_lang: str
    ) -> tuple[str, str]:
        """A new session token and where to go, for the right code; SignInFailedError otherwise."""
        email = rules.normalise_email(raw_email)
        code = rules.clean_code(raw_code)
        if email is None or code is None:
            raise SignInFailedError("wrong", rules.MAX_CODE_ATTEMPTS)
        challenge = self.store.challenge(email)
        now = self.clock.now()
        if challenge is None or not challenge.usable(now):
            raise SignInFailedError("expired")
        if not challenge.matches(code, self.secrets()):
            self.store.count_failure(challenge)
            left = challenge.attempts_left - 1
            raise SignInFailedError("wrong" if left > 0 else "expired", left)
        return self._redeem(challenge, previous, fallback_lang, now)

    def link_usable(self, token: str | None) -> bool:
        found = self._link_challenge(token)
        return found is not None and found.usable(self.clock.now())

    def confirm_link(self, token: str | None, previous: str | None, fallback_lang: str) -> tuple[str, str]:
        challenge = self._link_challenge(token)
        now = self.clock.now()
        if challenge is None or not challenge.usable(now):
            raise SignInFailedError("expired")
        return self._redeem(challenge, previous, fallback_lang, now)

    def _link_challenge(self, token: str | None) -> rules.Challenge | None:
        if not token or len(token) > 100:
            return None
        link_hash = rules.token_hash(token)
        found = self.store.link(link_hash)
        if found is None:
            return None
        challenge = self.store.challenge(found[0])
        if challenge is None or challenge.id != found[1] or challenge.link_hash != link_hash:
            return None  # a newer sign-in request replaced the one this link was for
        return challenge

    def _redeem(
        self, challenge: rules.Challenge, previous: str | None, fallback_lang: str, now: datetime
    ) -> tuple[str, str]:
        lang = challenge.lang or fallback_lang
        session, token = rules.new_session(challenge.email, now, lang, challenge.customer_id)
        previous_hash = rules.token_hash(previous) if previous else None
        try:
            self.store.redeem(challenge, session, previous_hash)
        except ChallengeSpentError as error:
            raise SignInFailedError("expired") from error
        return token, challenge.next_path

    def _newest_customer(self, email: str) -> Customer | None:
        """The customer of the address's newest order (one Query): whose preferences, in which language."""
        page = self.by_email.list_for_email(email, limit=1, start=None)
        return page.items[0].customer if page.items else None

    # --- sessions ----------------------------------------------------------------------

    def session(self, token: str | None) -> rules.Session | None:
        """The live session behind a cookie (one GetItem; a write at most every few minutes)."""
        if not _token_ok(token):
            return None
        return self._live(self.store.session(rules.token_hash(token)))

    def session_and_order(self, token: str | None, order_id: str) -> tuple[rules.Session | None, Order | None]:
        """The cookie's live session and the path's order: one BatchGetItem, both keys come from the request.

        The order is None unless it is the session's own: another address's order is exactly a missing one."""
        read = self.read(token, order_id)
        return read.session, read.order

    def read(
        self,
        token: str | None,
        order_id: str,
        skus: Iterable[str] = (),
        ticket_id: str | None = None,
        *,
        tally: bool = False,
    ) -> PortalRead:
        """As `session_and_order`, with the catalogue items of these SKUs and the order's return tally
        (a return form), or the order's ticket (a reply), read alongside; none unless the order is the
        session's."""
        if not _token_ok(token):
            return PortalRead(None)
        if not _order_id_ok(order_id):
            return PortalRead(self.session(token))
        ticket_id = ticket_id if ticket_id is not None and _id_ok(ticket_id, "tkt") else None
        read = self.store.read(rules.token_hash(token), order_id, skus, ticket_id, tally=tally)
        session = self._live(read.session)
        if session is None or read.order is None or not _is_theirs(session, read.order):
            return PortalRead(session)
        return replace(read, session=session)

    def _live(self, session: rules.Session | None) -> rules.Session | None:
        """The session if it is still valid (idle and absolute limits), its idle clock refreshed now and then."""
        now = self.clock.now()
        if session is None or not session.valid(now):
            return None
        if session.needs_touch(now):
            session = session.touched(now)
            self.store.save_session(session)
        return session

    def sign_out(self, session: rules.Session, *, everywhere: bool) -> None:
        if everywhere:
            self.store.end_all(session.email)
        self.store.end(session.id_hash)

    def csrf(self, binding: str) -> str:
        return rules.csrf_token(self.secrets()[0], binding)

    def csrf_ok(self, binding: str | None, presented: str | None) -> bool:
        return rules.csrf_valid(self.secrets(), binding, presented)

    # --- reading one's own orders ------------------------------------------------------

    def list_orders(self, session: rules.Session, cursor: str | None) -> tuple[list[Order], str | None]:
        """A page of the address's orders, newest first: one Query."""
        scope = f"portal:{rules.email_key(session.email)}"
        page = self.by_email.list_for_email(session.email, limit=PAGE_SIZE, start=self.cursors.decode(scope, cursor))
        return page.items, self.cursors.encode(scope, page.last_key)

    def own_order(self, session: rules.Session, order_id: str) -> Order:
        """The order, if it was placed with the session's address; NotFoundError otherwise."""
        if not _order_id_ok(order_id):
            raise NotFoundError("order not found")
        return self._owned(session, self.orders.orders.get(order_id))

    @staticmethod
    def _owned(session: rules.Session, order: Order | None) -> Order:
        if order is None or not _is_theirs(session, order):
            raise NotFoundError("order not found")
        return order

    def order_story(self, session: rules.Session, order_id: str) -> OrderStory:
        """The order page's data: with `read_story`, one Query of the order's partition; else three reads."""
        if not _order_id_ok(order_id):
            raise NotFoundError("order not found")
        if self.read_story is not None:
            story = self.read_story(order_id)
            if story is None or not _is_theirs(session, story.order):
                raise NotFoundError("order not found")
        else:
            order = self.own_order(session, order_id)
            entries, _ = self.orders.timeline(order.id, customer_id=order.customer.id, limit=100, cursor=None)
            story = OrderStory(order, self.documents.list_for_order(order.id), entries)
        from chalicelib.services.tickets import visible_to_customer

        return OrderStory(
            order=story.order,
            documents=story.documents,
            messages=[entry for entry in story.messages if entry.kind == "notification_sent"],
            tickets=[visible_to_customer(ticket) for ticket in story.tickets],
            returns=story.returns,
        )

    # --- returns: through the returns service ---------------------------------------------

    def returnable(self, story: OrderStory) -> dict[str, int]:
        """Units per SKU the return form offers: the returns service's own eligibility rule."""
        from chalicelib.domain.returns import eligibility

        if self.returns is None:
            return {}
        eligible = eligibility(story.order, story.returns, self.clock.now(), self.returns.window_days)
        return {line.sku: eligible.returnable(line.sku) for line in story.order.lines if eligible.returnable(line.sku)}

    def request_return(
        self,
        session: rules.Session,
        read: PortalRead,
        lines: list[tuple[str, int]],
        reason: str,
        resolution: str,
        comment: str | None,
    ) -> Any:
        """A return of one's own order, its lines' catalogue items and its return tally (from `read`
        with `tally`), with every rule the returns service applies."""
        from chalicelib.services.returns import RequestReturn

        order = self._owned(session, read.order)
        command = RequestReturn(lines=lines, reason=reason, resolution=resolution, comment=comment)
        actor = f"customer:{order.customer.id}"
        known = (order, read.catalog, read.tally) if read.tally is not None else None
        return self.returns.request(order.id, command, actor, customer_id=order.customer.id, read=known)

    # --- help: tickets through the support service ----------------------------------------

    def open_ticket(self, session: rules.Session, order: Order, category: str, message: str) -> Any:
        """A ticket on one's own order (from `session_and_order`), opened by the support service."""
        from chalicelib.services.tickets import Caller

        order = self._owned(session, order)
        caller = Caller("customer", order.customer.id)
        return self.tickets.open(
            order_id=order.id, category=category, message=message, channel="web", caller=caller, order=order
        )

    def reply(self, session: rules.Session, read: PortalRead, ticket_id: str, message: str) -> Any:
        """A customer reply on a ticket of one's own order (from `read`, the ticket with it if found:
        then the reply reads nothing more); another order's ticket is a 404. A reply to a resolved
        ticket reopens it (within the reopen window), as a reply to its emails does."""
        from chalicelib.services.tickets import Caller

        order = self._owned(session, read.order)
        ticket = read.ticket
        if ticket is not None and ticket.order_version < order.version:
            # The order as read in the same batch: the reply's timeline entries follow it, no retry.
            ticket = replace(ticket, order_version=order.version)
        caller = Caller("customer", order.customer.id)
        return self.tickets.add_message(
            ticket_id, caller, message, channel="web", order_id=order.id, read=ticket, reopen_resolved=True
        )

    def document_url(self, token: str | None, document_id: str) -> tuple[rules.Session | None, str | None]:
        """The cookie's live session and, if the document is of its own order, a presigned link (≤ 300 s).

        Two round trips: the document by id (its order is not in the path), then the session and
        that order together. No link (None) for a document that is missing, not ready yet or of
        another address's order — the caller cannot tell which."""
        if not _token_ok(token):
            return None, None
        document = self.documents.records.by_id(document_id) if _id_ok(document_id, "doc") else None
        if document is None:
            return self.session(token), None
        session, order = self.session_and_order(token, document.order_id)
        if session is None or order is None:
            return session, None
        return session, self.documents.download_url(document)

    # --- preferences -------------------------------------------------------------------

    def customer_id(self, session: rules.Session) -> str | None:
        """Preferences are kept per customer id: the one of the address's newest order at sign-in
        (kept in the session), else now (the address had no order then)."""
        if session.customer_id is not None:
            return session.customer_id
        customer = self._newest_customer(session.email)
        return customer.id if customer is not None else None

    def preferences(self, session: rules.Session) -> tuple[str | None, Preferences | None]:
        customer_id = self.customer_id(session)
        return customer_id, self.preferences_store.get(customer_id) if customer_id else None

    def save_preferences(self, session: rules.Session, preferences: Preferences) -> rules.Session | None:
        """Save them for the address's customer; the session as it is now (its language follows the locale).

        None: the address has no order, so no customer to keep preferences for."""
        customer_id = self.customer_id(session)
        if customer_id is None:
            return None
        lang = language_of(preferences.locale) if preferences.locale else session.lang
        if (lang, customer_id) == (session.lang, session.customer_id):
            self.preferences_store.put(customer_id, preferences, self.clock.now())  # the session stays as it is
            return session
        session = replace(session, lang=lang, customer_id=customer_id)
        self.store.save_preferences(session, preferences, self.clock.now())
        return session


def _token_ok(token: str | None) -> TypeGuard[str]:
    return bool(token) and len(token or "") <= 100


def _id_ok(value: str, prefix: str) -> bool:
    return has_prefix(value, prefix) and len(value) <= 40


def _order_id_ok(order_id: str) -> bool:
    return _id_ok(order_id, "ord")


def _is_theirs(session: rules.Session, order: Order) -> bool:
    """The one rule of what a signed-in customer may see: orders placed with the session's address."""
    return rules.normalise_email(order.customer.email) == session.email
