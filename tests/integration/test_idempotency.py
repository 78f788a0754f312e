"""One idempotency path: the response record is written in the change's own transaction.

Ten concurrent identical requests with one Idempotency-Key must change the order
once and all answer the same — only a real engine (DynamoDB Local) shows the race.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.bootstrap import Container
from chalicelib.domain.orders import Order
from chalicelib.services.orders import IdempotentRequest, Reply
from tests.integration.test_order_store import _pay, _place, _processing, real_store  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(180)


def _present(order: Order) -> dict[str, Any]:
    return {"id": order.id, "status": str(order.status), "version": order.version, "shipments": len(order.shipments)}


def _ten_at_once(container: Container, request: IdempotentRequest, status: int, run: Any) -> list[Any]:
    def one(_: int) -> tuple[int, dict[str, Any]]:
        return container.orders.answer(request, _present, status, run)

    with ThreadPoolExecutor(max_workers=10) as pool:
        return list(pool.map(one, range(10)))


def test_ten_concurrent_shipments_with_one_key_ship_once(real_store: Container) -> None:  # noqa: F811
    order_id = _processing(real_store, quantity=3, sku="BOOK-1")
    request = IdempotentRequest("agt_1", "ship-" + uuid.uuid4().hex, {"path": "ship", "body": {"carrier": "dhl"}})

    def ship(reply: Reply | None) -> Order:
        return real_store.orders.ship(order_id, "dhl", "TRK-ONCE", None, "agent:agt_1", reply=reply)[0]

    answers = _ten_at_once(real_store, request, 201, ship)
    assert len({repr(answer) for answer in answers}) == 1, answers  # ten identical responses
    assert answers[0][0] == 201 and answers[0][1]["status"] == "shipped"
    order = real_store.orders.get(order_id)
    assert len(order.shipments) == 1 and real_store.catalog.get("BOOK-1").stock == 0  # one effect
    entries, _ = real_store.orders.timeline(order_id, customer_id=None, limit=100, cursor=None)
    assert sum(1 for entry in entries if entry.kind == "shipped") <= 1
    assert answers[0][1]["version"] == order.version


def test_ten_concurrent_cancels_with_one_key_cancel_once(real_store: Container) -> None:  # noqa: F811
    order_id = _place(real_store)["id"]
    _pay(real_store, order_id)
    request = IdempotentRequest("cus_it", "cancel-" + uuid.uuid4().hex, {"path": "cancel", "body": {}})

    def cancel(reply: Reply | None) -> Order:
        orders = real_store.orders
        return orders.cancel(order_id, "changed my mind", "customer:cus_it", customer_id="cus_it", reply=reply)

    answers = _ten_at_once(real_store, request, 200, cancel)
    assert len({repr(answer) for answer in answers}) == 1, answers
    order = real_store.orders.get(order_id)
    assert str(order.status) == "cancelled" and answers[0][1]["version"] == order.version
    entries, _ = real_store.orders.timeline(order_id, customer_id=None, limit=100, cursor=None)
    cancelled = [e for e in entries if e.kind == "status_changed" and e.data.get("to") == "cancelled"]
    assert len(cancelled) == 1, [(e.kind, e.data) for e in entries]
