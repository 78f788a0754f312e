"""Issue 19 §1: documents are rendered by the documents function alone (its own package).

The main stream consumer records the invoice/receipt intent with the payment's other effects
but neither renders it nor sends the receipt email that waits for it; the documents function
(its stream records: new documents-lane intents) issues both PDFs and then sends that email,
once, however often its batch is replayed. The main retry schedule leaves documents alone;
the documents one finishes them (and their email) after an outage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import order_events
from bench.round_trips import counting
from chalicelib.documents_app import document_intents
from chalicelib.events import STREAM_FILTERS, matches_filter
from local.lambda_runtime import LambdaContext
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, retry_sweep
from tests.functional.test_lifecycle_api import pay, place
from tests.functional.test_notifications import emails


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


def _main(records: list[dict[str, Any]]) -> None:
    assert order_events({"Records": records}, LambdaContext("order_events")) == {"batchItemFailures": []}


def _documents_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if matches_filter(STREAM_FILTERS["document_intents"], r)]


def _kinds(api: Api, order_id: str) -> list[str]:
    response = api.call("GET", f"/v1/orders/{order_id}/documents", role="agent", sub="a")
    return sorted(item["kind"] for item in response.data["items"])


def _receipts() -> list[Any]:
    return [m for m in emails() if "Zahlung" in str(m["Subject"])]


def test_the_main_consumer_records_documents_and_the_documents_function_issues_them(api: Api, tap: StreamTap) -> None:
    order = place(api)
    _main(tap.new_records())
    assert pay(api, order).status_code == 201
    _main(tap.new_records())  # the payment: intents recorded, the documents (and the receipt email) left
    assert _kinds(api, order["id"]) == [] and _receipts() == []
    fresh = tap.new_records()
    documents = _documents_records(fresh)
    assert len(documents) == 1  # only the document intent's INSERT passes the documents mapping's filter
    assert documents[0]["dynamodb"]["NewImage"]["lane"] == {"S": "documents"}
    assert not _documents_records([r for r in fresh if r not in documents])
    # The intent names the receipt email that waits for it, so the documents function takes that next
    # without reading the order's intents: no Query at all.
    (email,) = json.loads(documents[0]["dynamodb"]["NewImage"]["followers"]["S"])
    assert email.startswith("message:")
    with counting() as calls:
        assert document_intents({"Records": documents}, LambdaContext("document_intents")) == {"batchItemFailures": []}
    assert calls["Query"] == 0 and len(_receipts()) == 1
    for _ in range(3):  # replays (also of the main stream) add nothing
        assert document_intents({"Records": documents}, LambdaContext("document_intents")) == {"batchItemFailures": []}
        _main(fresh)
    assert _kinds(api, order["id"]) == ["invoice", "receipt"]
    (receipt,) = _receipts()
    assert sorted(part.get_filename() for part in receipt.iter_attachments()) == sorted(
        f"{item['number']}.pdf"
        for item in api.call("GET", f"/v1/orders/{order['id']}/documents", role="agent", sub="a").data["items"]
    )


def test_after_an_outage_each_lane_retries_its_own(api: Api, tap: StreamTap) -> None:
    from app import retry_notifications
    from chalicelib.documents_app import retry_documents

    order = place(api)
    _main(tap.new_records())
    pay(api, order)
    _main(tap.new_records())
    tap.new_records()  # the documents function's invocation is lost (it is down)
    later = datetime.now(UTC) + timedelta(hours=2)
    event: dict[str, Any] = {
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": later.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    event.update({"version": "0", "id": "1", "account": "1", "region": "eu-central-1", "resources": [], "detail": {}})
    main = retry_notifications(event, LambdaContext("retry_notifications"))["intents"]
    assert "issued" not in main and _kinds(api, order["id"]) == []  # the main lane never renders
    assert _receipts() == []  # the receipt email waits for its documents
    done = retry_documents(event, LambdaContext("retry_documents"))["intents"]
    assert done == {"issued": 1, "sent": 1}  # the documents, then the email that waited for them
    assert _kinds(api, order["id"]) == ["invoice", "receipt"] and len(_receipts()) == 1
    assert retry_sweep(later + timedelta(hours=2)) == {}
