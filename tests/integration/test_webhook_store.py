"""Outbound webhook deliveries on moto and on DynamoDB Local: one Query a page reads the page and,
at the end of the list, the subscription's own item (same partition, same key range), which is
never a delivery, never takes a page's slot and never becomes a cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.round_trips import counting
from chalicelib.bootstrap import Container
from chalicelib.domain.errors import NotFoundError
from chalicelib.services.webhooks import Attempt, Delivery

pytestmark = pytest.mark.timeout(240)


def _pages(container: Container, subscription_id: str, limit: int) -> list[tuple[list[str], bool]]:
    """Every page through the service, as the API route pages it: (event ids, a cursor given)."""
    cursors = container.orders.cursors
    scope = f"deliveries:{subscription_id}"
    pages: list[tuple[list[str], bool]] = []
    cursor: str | None = None
    while len(pages) < 20:
        with counting() as calls:
            page = container.webhooks.deliveries(subscription_id, limit=limit, start=cursors.decode(scope, cursor))
        assert calls == {"Query": 1}, calls
        cursor = cursors.encode(scope, page.last_key)
        pages.append(([delivery.event_id for delivery in page.items], cursor is not None))
        if cursor is None:
            return pages
    raise AssertionError("the cursors never end")


def test_deliveries_page_in_one_query_each(store: Container) -> None:
    subscription = store.webhooks.subscribe("http://127.0.0.1:9/hook", ["order.placed"])
    assert _pages(store, subscription.id, 20) == [([], False)]
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    ids = [f"evt_01JD3M5X8Q2W7Y6Z4K9N0P{n:04d}" for n in range(7)]
    for n, event_id in enumerate(ids):
        delivery = Delivery(subscription.id, event_id, "order.placed", "pending", 0, at + timedelta(seconds=n))
        store.webhooks.store.record_attempt(delivery, Attempt("2026-12-01T10:00:00Z", 500, None, 3))
    newest_first = ids[::-1]
    for limit in (1, 2, 3, 6, 7, 8, 100):
        pages = _pages(store, subscription.id, limit)
        assert [event_id for page, _ in pages for event_id in page] == newest_first, (limit, pages)
        # DynamoDB's `Limit` paging: a full page has a cursor (after the last one: an empty page).
        assert len(pages) == len(ids) // limit + 1, (limit, pages)
        assert all(more == (len(page) == limit) for page, more in pages), (limit, pages)

    store.webhooks.delete(subscription.id)  # deleted: its deliveries stay readable
    assert [page for page, _ in _pages(store, subscription.id, 4)] == [newest_first[:4], newest_first[4:]]
    with counting() as calls, pytest.raises(NotFoundError):
        store.webhooks.deliveries("whs_01JD3M5X8Q2W7Y6Z4K9N0P1R2S", limit=20, start=None)
    assert calls == {"Query": 1}


def test_a_cursor_issued_before_the_change_still_continues(store: Container) -> None:
    """Cursors are the deliveries' own keys (pk, sk), as the Query of the deliveries alone gave them."""
    subscription = store.webhooks.subscribe("http://127.0.0.1:9/hook", ["order.placed"])
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    for n in range(3):
        event_id = f"evt_01JD3M5X8Q2W7Y6Z4K9N0P{n:04d}"
        delivery = Delivery(subscription.id, event_id, "order.placed", "pending", 0, at + timedelta(seconds=n))
        store.webhooks.store.record_attempt(delivery, Attempt("2026-12-01T10:00:00Z", 500, None, 3))
    old: dict[str, Any] = {"pk": f"WEBHOOKSUB#{subscription.id}", "sk": "DELIVERY#evt_01JD3M5X8Q2W7Y6Z4K9N0P0002"}
    page = store.webhooks.deliveries(subscription.id, limit=1, start=old)
    assert [d.event_id for d in page.items] == ["evt_01JD3M5X8Q2W7Y6Z4K9N0P0001"]
    assert page.last_key == {"pk": old["pk"], "sk": "DELIVERY#evt_01JD3M5X8Q2W7Y6Z4K9N0P0001"}
