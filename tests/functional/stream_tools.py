"""Read the table's stream from moto synchronously and feed it to the app's consumer."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from local.lambda_runtime import LambdaContext
from local.streams import to_lambda_record


class StreamTap:
    """Every stream record of a table, in order, each returned once by `new_records()`.

    Read from moto's backend: with current botocore, moto's in-process mock routes
    DynamoDB Streams calls to the DynamoDB handler ("Not yet implemented"). The
    local stack and the integration tier read real streams from DynamoDB Local."""

    def __init__(self, table: str):
        self.table = table
        self.seen: set[str] = set()
        self.all: list[dict[str, Any]] = []
        self.arn = boto3.client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]

    def new_records(self) -> list[dict[str, Any]]:
        shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].get_table(self.table).stream_shard
        assert shard is not None, "the table has no stream"
        fresh: list[dict[str, Any]] = []
        for record in shard.items:
            raw = record.to_json()
            number = raw["dynamodb"]["SequenceNumber"]
            if number not in self.seen:
                self.seen.add(number)
                fresh.append(to_lambda_record(raw, self.arn, "eu-central-1"))
        self.all += fresh
        return fresh


def deliver(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Invoke the stream consumers as Lambda would, with one batch: order_events, then the documents
    function with the records its mapping's filter lets through; their failures together."""
    from app import order_events
    from chalicelib.documents_app import document_intents
    from chalicelib.events import STREAM_FILTERS, matches_filter

    if not records:
        return {"batchItemFailures": []}
    result: dict[str, Any] = order_events({"Records": records}, LambdaContext("order_events"))
    documents = [record for record in records if matches_filter(STREAM_FILTERS["document_intents"], record)]
    if documents:
        failed = document_intents({"Records": documents}, LambdaContext("document_intents"))["batchItemFailures"]
        result = {"batchItemFailures": [*result.get("batchItemFailures", []), *failed]}
    return result


def drain(tap: StreamTap, rounds: int = 20) -> None:
    """Deliver until the stream is quiet (notifications write records too), retrying failures."""
    pending: list[dict[str, Any]] = []
    for _ in range(rounds):
        pending += tap.new_records()
        if not pending:
            return
        result = deliver(pending)
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        pending = [r for r in pending if r["dynamodb"]["SequenceNumber"] in failed]
    raise AssertionError(f"stream did not drain: {len(pending)} records keep failing")


def retry_sweep(at: datetime) -> dict[str, int]:
    """Run the retry schedule once, as of `at` (as EventBridge would invoke it)."""
    from app import retry_notifications
    from chalicelib.documents_app import retry_documents

    event = {
        "version": "0",
        "id": "1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "1",
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "eu-central-1",
        "resources": [],
        "detail": {},
    }
    # The documents lane first (it sends the emails waiting for its documents), then the main lane.
    documents: dict[str, int] = retry_documents(event, LambdaContext("retry_documents"))["intents"]
    result: dict[str, int] = retry_notifications(event, LambdaContext("retry_notifications"))["intents"]
    return dict(Counter(documents) + Counter(result))


def sweep_until_quiet(start: datetime, *, step: timedelta = timedelta(minutes=70), rounds: int = 30) -> datetime:
    """Retry sweeps an hour+ apart (past any backoff) until nothing is due; the last sweep's time."""
    at = start
    for _ in range(rounds):
        at += step
        if not retry_sweep(at):
            return at
    raise AssertionError("the retry schedule never went quiet")
