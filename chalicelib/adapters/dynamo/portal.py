"""The portal's sign-in state in the single table (every item expires by TTL).

  SIGNIN#<address hash> / #CHALLENGE     the outstanding code of an address (a new one replaces it)
  SIGNINLINK#<link hash> / #LINK         the one-click link of that challenge
  SESSION#<token hash> / #SESSION        a signed-in browser (GSI2: SESSIONS#<address hash>)
  RATE#<scope>#<key hash>#<window> / #RATE   sign-in requests counted per window

A sign-in request is one TransactWriteItems: both rate counters (conditional on
being under their limit), the challenge and its link. A redemption is another:
the challenge marked used (conditional on being unused, the same challenge and
under 5 attempts), the new session put, the browser's previous session deleted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.adapters.dynamo.models import OrderItem, TableItem, Transactional
from chalicelib.adapters.dynamo.schema import GSI2
from chalicelib.domain.sessions import MAX_CODE_ATTEMPTS, Challenge, RateLimit, Session, email_key, token_hash
from chalicelib.services.portal import ChallengeSpentError, RateLimitedError
from chalicelib.services.ports import PortalRead

if TYPE_CHECKING:
    from collections.abc import Iterable

    from chalicelib.domain.catalog import CatalogItem
    from chalicelib.services.ports import Preferences

RATE_SK = "#RATE"
CHALLENGE_SK = "#CHALLENGE"
LINK_SK = "#LINK"
SESSION_SK = "#SESSION"
SLACK = timedelta(hours=1)  # TTL deletes lazily; every read checks expiry itself
BATCH_ATTEMPTS = 5


class RateItem(TableItem):
    hits = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class ChallengeItem(TableItem):
    challenge_id = UnicodeAttribute()
    email = UnicodeAttribute()
    code_hash = UnicodeAttribute()
    link_hash = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    next_path = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    used = BooleanAttribute(default=False)
    customer_id = UnicodeAttribute(null=True)
    lang = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class LinkItem(TableItem):
    email = UnicodeAttribute()
    challenge_id = UnicodeAttribute()
    expires_at = TTLAttribute()


class SessionsByAddress(GlobalSecondaryIndex["SessionItem"]):
    class Meta:
        index_name = GSI2
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class SessionItem(TableItem):
    email = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    last_seen_at = UTCDateTimeAttribute()
    lang = UnicodeAttribute(default="en")
    customer_id = UnicodeAttribute(null=True)
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    by_address = SessionsByAddress()
    expires_at = TTLAttribute()


PORTAL_MODELS: tuple[type[TableItem], ...] = (RateItem, ChallengeItem, LinkItem, SessionItem)


def challenge_pk(email: str) -> str:
    return f"SIGNIN#{email_key(email)}"


def link_pk(link_hash: str) -> str:
    return f"SIGNINLINK#{link_hash}"


def session_pk(id_hash: str) -> str:
    return f"SESSION#{id_hash}"


def sessions_pk(email: str) -> str:
    return f"SESSIONS#{email_key(email)}"


def rate_pk(limit: RateLimit, key: str, now: datetime) -> str:
    # Client addresses are personal data too: only their hash is stored.
    return f"RATE#{limit.scope}#{token_hash(key)[:32]}#{int(limit.window_start(now).timestamp())}"


def _challenge(item: ChallengeItem) -> Challenge:
    return Challenge(
        id=item.challenge_id,
        email=item.email,
        code_hash=item.code_hash,
        link_hash=item.link_hash,
        created_at=item.created_at,
        next_path=item.next_path,
        attempts=int(item.attempts or 0),
        used=bool(item.used),
        customer_id=item.customer_id,
        lang=item.lang,
    )


def _session(item: SessionItem) -> Session:
    return Session(
        id_hash=item.pk.removeprefix("SESSION#"),
        email=item.email,
        created_at=item.created_at,
        last_seen_at=item.last_seen_at,
        lang=item.lang or "en",
        customer_id=item.customer_id,
    )


def _session_item(session: Session) -> SessionItem:
    return SessionItem(
        pk=session_pk(session.id_hash),
        sk=SESSION_SK,
        type="portal_session",
        email=session.email,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        lang=session.lang,
        customer_id=session.customer_id,
        gsi2pk=sessions_pk(session.email),
        gsi2sk=f"SESSION#{session.created_at.astimezone(UTC).isoformat()}",
        expires_at=session.expires_at.astimezone(UTC) + SLACK,
    )


def _codes(error: TransactWriteError) -> list[str | None]:
    return [getattr(reason, "code", None) for reason in error.cancellation_reasons or []]


class DynamoPortalStore(Transactional):
    def __init__(self) -> None:
        for model in PORTAL_MODELS:  # the table may have been re-configured since the last container
            model.Meta.table_name = TableItem.Meta.table_name
            model.Meta.region = TableItem.Meta.region
            model._connection = None

    # --- sign-in -----------------------------------------------------------------------

    def start(self, challenge: Challenge, limits: list[tuple[RateLimit, str]], now: datetime) -> None:
        """Count the request against every limit and store the challenge, all or nothing.

        Raises RateLimitedError (with the seconds to wait) when a limit is reached."""
        expires = challenge.expires_at.astimezone(UTC) + SLACK
        try:
            with self.transaction() as transaction:
                # pynamodb sends puts before updates: the cancellation reasons follow that order.
                transaction.save(
                    ChallengeItem(
                        pk=challenge_pk(challenge.email),
                        sk=CHALLENGE_SK,
                        type="portal_challenge",
                        challenge_id=challenge.id,
                        email=challenge.email,
                        code_hash=challenge.code_hash,
                        link_hash=challenge.link_hash,
                        created_at=challenge.created_at,
                        next_path=challenge.next_path,
                        attempts=0,
                        used=False,
                        customer_id=challenge.customer_id,
                        lang=challenge.lang,
                        expires_at=expires,
                    )
                )
                transaction.save(
                    LinkItem(
                        pk=link_pk(challenge.link_hash),
                        sk=LINK_SK,
                        type="portal_link",
                        email=challenge.email,
                        challenge_id=challenge.id,
                        expires_at=expires,
                    )
                )
                for limit, key in limits:
                    window_end = limit.window_start(now) + limit.window
                    transaction.update(
                        RateItem(pk=rate_pk(limit, key, now), sk=RATE_SK),
                        actions=[
                            RateItem.hits.add(1),
                            RateItem.type.set("portal_rate"),
                            RateItem.expires_at.set(window_end.astimezone(UTC) + SLACK),
                        ],
                        condition=RateItem.hits.does_not_exist() | (RateItem.hits < limit.limit),
                    )
        except TransactWriteError as error:
            codes = _codes(error)
            hit = [
                limit for (limit, _), code in zip(limits, codes[2:], strict=False) if code == "ConditionalCheckFailed"
            ]
            if hit:
                raise RateLimitedError(max(limit.retry_after(now) for limit in hit)) from error
            raise

    def challenge(self, email: str) -> Challenge | None:
        try:
            return _challenge(ChallengeItem.get(challenge_pk(email), CHALLENGE_SK, consistent_read=True))
        except ChallengeItem.DoesNotExist:
            return None

    def link(self, link_hash: str) -> tuple[str, str] | None:
        """The (address, challenge id) a sign-in link belongs to."""
        try:
            item = LinkItem.get(link_pk(link_hash), LINK_SK, consistent_read=True)
        except LinkItem.DoesNotExist:
            return None
        return item.email, item.challenge_id

    def count_failure(self, challenge: Challenge) -> None:
        """One more wrong code for this very challenge (a newer one is left alone)."""
        try:
            ChallengeItem(pk=challenge_pk(challenge.email), sk=CHALLENGE_SK).update(
                actions=[ChallengeItem.attempts.add(1)],
                condition=(ChallengeItem.challenge_id == challenge.id) & (ChallengeItem.used == False),  # noqa: E712
            )
        except UpdateError:
            return  # replaced or redeemed meanwhile: nothing left to count against

    def redeem(self, challenge: Challenge, session: Session, previous_session: str | None) -> None:
        """Spend the challenge and start the session in one transaction; ChallengeSpentError if it was spent."""
        try:
            with self.transaction() as transaction:
                if previous_session:
                    transaction.delete(SessionItem(pk=session_pk(previous_session), sk=SESSION_SK))
                transaction.delete(LinkItem(pk=link_pk(challenge.link_hash), sk=LINK_SK))
                transaction.save(_session_item(session))
                transaction.update(
                    ChallengeItem(pk=challenge_pk(challenge.email), sk=CHALLENGE_SK),
                    actions=[ChallengeItem.used.set(True)],
                    condition=(ChallengeItem.challenge_id == challenge.id)
                    & (ChallengeItem.used == False)  # noqa: E712
                    & (ChallengeItem.attempts < MAX_CODE_ATTEMPTS),
                )
        except TransactWriteError as error:
            if "ConditionalCheckFailed" in _codes(error):
                raise ChallengeSpentError("this code was used already") from error
            raise

    # --- sessions ----------------------------------------------------------------------

    def session(self, id_hash: str) -> Session | None:
        try:
            return _session(SessionItem.get(session_pk(id_hash), SESSION_SK))
        except SessionItem.DoesNotExist:
            return None

    def read(
        self,
        id_hash: str,
        order_id: str,
        skus: Iterable[str] = (),
        ticket_id: str | None = None,
        *,
        tally: bool = False,
    ) -> PortalRead:
        """The session, an order, the catalogue items of these SKUs (up to 96), a ticket of that order
        (its item, without the messages) and the order's return tally in one BatchGetItem: a portal
        request names every key.

        Whose order it is, is the caller's to check (PortalService)."""
        from chalicelib.adapters.dynamo.models import CatalogItemModel
        from chalicelib.adapters.dynamo.repositories import (
            BATCH_GET_KEYS,
            ITEM_SK,
            ORDER_SK,
            catalog_from_item,
            order_from_item,
            order_pk,
            sku_pk,
        )
        from chalicelib.adapters.dynamo.returns import GUARD_SK, tally_from_raw
        from chalicelib.adapters.dynamo.tickets import TicketItem, ticket_from_item, ticket_sk

        table = TableItem.Meta.table_name
        keys = [(session_pk(id_hash), SESSION_SK), (order_pk(order_id), ORDER_SK)]
        if ticket_id is not None:
            keys.append((order_pk(order_id), ticket_sk(ticket_id)))
        if tally:
            keys.append((order_pk(order_id), GUARD_SK))
        keys += [(sku_pk(sku), ITEM_SK) for sku in list(dict.fromkeys(skus))[: BATCH_GET_KEYS - len(keys)]]
        request: dict[str, Any] = {table: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys]}}
        found: list[dict[str, Any]] = []
        for attempt in range(BATCH_ATTEMPTS):
            answer = self.connection().client.batch_get_item(RequestItems=request)
            found += answer.get("Responses", {}).get(table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(0.05 * 2**attempt)  # throttled: DynamoDB hands the keys back
        else:
            raise RuntimeError("BatchGetItem left keys unprocessed")
        session = order = ticket = guard = None
        catalog: dict[str, CatalogItem] = {}
        for raw in found:
            sk = raw["sk"]["S"]
            if sk == SESSION_SK:
                session = _session(SessionItem.from_raw_data(raw))
            elif sk == ORDER_SK:
                order = order_from_item(OrderItem.from_raw_data(raw))
            elif ticket_id is not None and sk == ticket_sk(ticket_id):
                ticket = ticket_from_item(TicketItem.from_raw_data(raw))
            elif sk == GUARD_SK:
                guard = raw
            else:
                item = catalog_from_item(CatalogItemModel.from_raw_data(raw))
                catalog[item.sku] = item
        return PortalRead(session, order, catalog, ticket, tally_from_raw(guard) if tally else None)

    def save_session(self, session: Session) -> None:
        """Refresh the idle clock (or the language); a session deleted meanwhile stays deleted."""
        try:
            _session_item(session).save(condition=SessionItem.pk.exists())
        except Exception as error:
            if "ConditionalCheckFailed" not in str(error):
                raise

    def save_preferences(self, session: Session, preferences: Preferences, now: datetime) -> None:
        """The session's customer's preferences and the session (its language, its customer) in one
        transaction; a session deleted meanwhile stays deleted, and the preferences are saved anyway."""
        from chalicelib.adapters.dynamo.notifications import preferences_item

        assert session.customer_id, "preferences are kept per customer"
        saved = preferences_item(session.customer_id, preferences, now)
        try:
            with self.transaction() as transaction:
                transaction.save(saved)
                transaction.save(_session_item(session), condition=SessionItem.pk.exists())
        except TransactWriteError as error:
            if "ConditionalCheckFailed" not in _codes(error):
                raise
            saved.save()

    def end(self, id_hash: str) -> None:
        SessionItem(pk=session_pk(id_hash), sk=SESSION_SK).delete()

    def end_all(self, email: str) -> int:
        """Delete every session of an address (one Query, then batched deletes)."""
        items = list(SessionItem.by_address.query(sessions_pk(email)))
        with SessionItem.batch_write() as batch:
            for item in items:
                batch.delete(SessionItem(pk=item.pk, sk=SESSION_SK))
        return len(items)


def read_order_story(order_id: str) -> Any:
    """The order, its documents, timeline and tickets from one Query of its partition (None: no order)."""
    from chalicelib.adapters.dynamo.documents import DocumentItem, _document
    from chalicelib.adapters.dynamo.models import TimelineItem
    from chalicelib.adapters.dynamo.repositories import order_from_item, timeline_entry
    from chalicelib.adapters.dynamo.tickets import items_to_tickets
    from chalicelib.services.agent_view import read_partition
    from chalicelib.services.portal import OrderStory

    items, _ = read_partition(order_id)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for raw in items:
        by_type.setdefault(raw.get("type", {}).get("S", ""), []).append(raw)
    if not by_type.get("order"):
        return None
    return OrderStory(
        order=order_from_item(OrderItem.from_raw_data(by_type["order"][0])),
        documents=[_document(DocumentItem.from_raw_data(raw)) for raw in by_type.get("document", [])],
        messages=[timeline_entry(TimelineItem.from_raw_data(raw)) for raw in by_type.get("timeline", [])],
        tickets=items_to_tickets(by_type.get("ticket", []) + by_type.get("ticket_message", [])),
        returns=_returns(items),
    )


def _returns(items: list[dict[str, Any]]) -> list[Any]:
    from chalicelib.adapters.dynamo.returns import ReturnItem, return_from_item

    # Only the return records themselves (its timers and events share the partition).
    return [
        return_from_item(ReturnItem.from_raw_data(raw)) for raw in items if raw.get("type", {}).get("S") == "return"
    ]
