"""Replay a table's DynamoDB stream into Lambda handlers, as the CDK event source mapping would.

`chalice local` neither reads streams nor fires schedules, so the local stack
does: a `StreamReplayer` reads the table's stream through the `dynamodbstreams`
API (DynamoDB Local or moto) and calls each stream consumer (`handler(event,
context)`, the functions named in `chalicelib.events.STREAM_CONSUMERS`) with
events shaped exactly like the ones AWS Lambda receives.

What it emulates, per consumer (each has its own mapping and positions):
* shards are discovered periodically; a child shard is read only after its
  parent is finished, so records of one item arrive in order; a shard not
  seen before is read from TRIM_HORIZON;
* batches of up to `batch_size` (100) records, gathered for up to `batching_window`
  seconds (MaximumBatchingWindowInSeconds; 0: whatever one poll returns);
* `parallelization_factor` (ParallelizationFactor, 1-10): a shard's records are spread
  over that many lanes by the hash of their partition key and the lanes' batches are
  processed concurrently, so records of one item (an order's changes) stay in order
  while different orders proceed side by side; each lane retries, bisects and
  discards on its own, as Lambda's concurrent batches of one shard do;
* `ReportBatchItemFailures`: a response `{"batchItemFailures": [{"itemIdentifier":
  <SequenceNumber>}]}` checkpoints before the earliest failed record and
  re-delivers from there; an unknown identifier fails the whole batch;
* an exception fails the whole batch; with `bisect_on_error` the batch is split
  in two and retried (splitting does not use up retries), so a poison record
  ends up alone;
* at most `max_retries` (5) retries; then the failing records go to the failure
  destination (the in-memory `failures` list and a JSON-lines file, one line per
  discarded batch, shaped like Lambda's on-failure record plus the records
  themselves) and the shard moves on.

Delivery is at least once: records after a failed one may be delivered again.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Self

from chalicelib.events import STREAM_FILTERS, matches_filter
from local.lambda_runtime import LambdaContext, iso_z
from local.processes import Service

__all__ = ["StreamHandler", "StreamReplayer", "consumers_from_app", "to_lambda_record"]

logger = logging.getLogger(__name__)

StreamHandler = Callable[[dict[str, Any], Any], Any]


def consumers_from_app(app_module: ModuleType, table: str = "main") -> dict[str, StreamHandler]:
    """The app's stream consumers for `table`, by function name (from STREAM_CONSUMERS).

    The documents function's consumer lives in its own Chalice app (chalicelib/documents_app.py,
    a package of its own in AWS); locally it runs in this process with the others."""
    from chalicelib.events import DOCUMENTS_FUNCTIONS, STREAM_CONSUMERS

    handlers: dict[str, StreamHandler] = {}
    for name in STREAM_CONSUMERS.get(table, ()):
        source: Any = app_module
        if name in DOCUMENTS_FUNCTIONS:
            from chalicelib import documents_app

            source = documents_app
        handler = getattr(source, name, None)
        if handler is None:
            app = getattr(source, "app", None)
            handler = getattr(app, "handler_map", {}).get(name)
        if not callable(handler):
            logger.warning("stream consumer %r is named in STREAM_CONSUMERS but not found in app.py", name)
            continue
        handlers[name] = handler
    return handlers


# --- the Lambda event ---------------------------------------------------------------------------


def _epoch_seconds(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        seconds = value.timestamp()
        return int(seconds) if seconds.is_integer() else seconds
    return value


def _wire_attribute(value: Any) -> Any:
    """An AttributeValue as it appears in JSON: binary values base64-encoded, like Lambda's."""
    if isinstance(value, dict):
        return {key: _wire_attribute(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wire_attribute(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def to_lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """One `get_records` record as it appears in a Lambda DynamoDB stream event."""
    source = record.get("dynamodb", {})
    change: dict[str, Any] = {}
    if "ApproximateCreationDateTime" in source:
        change["ApproximateCreationDateTime"] = _epoch_seconds(source["ApproximateCreationDateTime"])
    for image in ("Keys", "NewImage", "OldImage"):
        if image in source:
            change[image] = _wire_attribute(source[image])
    for name in ("SequenceNumber", "SizeBytes", "StreamViewType"):
        if name in source:
            change[name] = source[name]
    event: dict[str, Any] = {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # TTL deletions carry the service principal
        event["userIdentity"] = dict(record["userIdentity"])
    return event


def _records_as_sent(response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any) -> None:
    """GetRecords' records as the service sent them (botocore `before-parse` hook): wire JSON is what
    a Lambda event carries already (epoch seconds, base64 binaries), and botocore's parse of every
    image, shape by shape, cost more of this process than the consumers it feeds. Only the rest of
    the body (the next iterator) is left for botocore to parse; errors are parsed as usual."""
    if response_dict.get("status_code") != 200:
        return
    body = json.loads(response_dict["body"] or b"{}")
    customized_response_dict["Records"] = body.pop("Records", [])
    response_dict["body"] = json.dumps(body).encode()


_ALL = -1  # "the whole batch failed"


def _earliest_failure(result: Any, batch: list[dict[str, Any]]) -> int | None:
    """Index of the earliest record the handler reported failed, `_ALL`, or None (success)."""
    if not isinstance(result, Mapping):
        return None
    failures = result.get("batchItemFailures")
    if failures is None or failures == []:
        return None
    if not isinstance(failures, list):
        return _ALL
    positions = {r["dynamodb"].get("SequenceNumber"): i for i, r in enumerate(batch)}
    earliest: int | None = None
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not identifier or identifier not in positions:
            return _ALL  # Lambda treats an invalid identifier as a failure of the whole batch
        index = positions[identifier]
        earliest = index if earliest is None else min(earliest, index)
    return earliest


# --- positions ------------------------------------------------------------------------------------


@dataclass
class _Lane:
    """One concurrent batch stream of a shard (ParallelizationFactor): its records, retries, window."""

    window: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    retries: int = 0
    invocations: int = 0  # invocations of the current head batch
    not_before: float = 0.0
    reported: bool = False  # the current failure streak was logged with its traceback
    since: float = 0.0  # when the oldest pending record arrived (the batching window runs from it)


@dataclass
class _Shard:
    shard_id: str
    parent_id: str | None
    lanes: list[_Lane]
    iterator: str | None = None
    last_sequence: str | None = None
    exhausted: bool = False  # closed, and every record has been fetched

    @property
    def pending(self) -> bool:
        return any(lane.pending for lane in self.lanes)

    @property
    def done(self) -> bool:
        return self.exhausted and not self.pending


@dataclass
class _Counters:
    invocations: int = 0
    records_delivered: int = 0
    records_filtered: int = 0
    invocations_saved: int = 0
    batches_failed: int = 0
    records_discarded: int = 0
    idle_passes: int = 0


class _Consumer:
    """One handler's event source mapping: its own shard positions, retries and thread."""

    def __init__(self, replayer: StreamReplayer, name: str, handler: StreamHandler) -> None:
        self.replayer = replayer
        self.name = name
        self.handler = handler
        self.filter = STREAM_FILTERS.get(name) if replayer.apply_filters else None
        self.stream_arn: str | None = None
        self.shards: dict[str, _Shard] = {}
        self.counters = _Counters()
        self.next_discovery = 0.0
        self.view_wanted_after = 0.0  # a stream view older than this (monotonic) will not do
        self.thread: threading.Thread | None = None
        self._counting = threading.Lock()  # lanes of one pass finish on several threads
        self._pool: ThreadPoolExecutor | None = None  # the lanes' concurrent invocations

    # -- the loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        replayer = self.replayer
        while not stop.is_set():
            try:
                busy = self.run_pass(stop)
            except Exception as exc:
                if type(exc).__module__.startswith("botocore"):  # e.g. DynamoDB Local is gone
                    logger.warning("stream replayer for %s: %s; retrying", self.name, exc)
                else:
                    logger.exception("stream replayer for %s failed; retrying", self.name)
                busy = False
                stop.wait(1.0)
            if not busy:
                stop.wait(replayer.poll_interval)

    def run_pass(self, stop: threading.Event) -> bool:
        """Fetch what is available on every readable shard, deliver every ready lane (concurrently);
        True if any work was done."""
        now = time.monotonic()
        if now >= self.next_discovery:
            self.discover()
        if self.stream_arn is None:
            self._mark_idle()
            return False
        busy = False
        waiting = False
        ready: list[tuple[_Shard, _Lane]] = []
        for shard in list(self.shards.values()):
            if stop.is_set():
                return busy
            if shard.done or not self._parent_done(shard):
                continue
            if self._wants_records(shard) and self._fetch(shard):
                busy = True
            for lane in shard.lanes:
                if not lane.pending:
                    continue
                if self._lane_ready(shard, lane):
                    ready.append((shard, lane))
                else:
                    waiting = True
        if ready:
            self._deliver_all(ready)
            busy = True
            waiting = waiting or any(lane.pending for _, lane in ready)
        for shard in {id(shard): shard for shard, _ in ready}.values():
            if shard.done:
                logger.debug("%s: shard %s finished", self.name, shard.shard_id)
                self.next_discovery = 0.0  # its children may be there now: look again, afresh
                self.view_wanted_after = time.monotonic()
        if not busy and not waiting:
            self._mark_idle()
        return busy

    def _wants_records(self, shard: _Shard) -> bool:
        """Read on while the lanes hold less than one full batch each (records in memory stay bounded)."""
        buffered = sum(len(lane.pending) for lane in shard.lanes)
        return not shard.exhausted and buffered < self.replayer.batch_size * len(shard.lanes)

    def _lane_ready(self, shard: _Shard, lane: _Lane) -> bool:
        now = time.monotonic()
        if now < lane.not_before:
            return False
        window = self.replayer.batching_window
        full = len(lane.pending) >= lane.window
        return window <= 0 or full or shard.exhausted or now - lane.since >= window

    def _deliver_all(self, ready: list[tuple[_Shard, _Lane]]) -> None:
        """One invocation per ready lane, side by side as Lambda's concurrent batches are."""
        if len(ready) == 1:
            self._deliver(*ready[0])
            return
        if self._pool is None:
            workers = max(2, self.replayer.parallelization_factor * 2)
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"stream-{self.name}")
        for future in [self._pool.submit(self._deliver, shard, lane) for shard, lane in ready]:
            future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _mark_idle(self) -> None:
        with self.replayer._idle_changed:
            self.counters.idle_passes += 1
            self.replayer._idle_changed.notify_all()

    def _parent_done(self, shard: _Shard) -> bool:
        parent = self.shards.get(shard.parent_id) if shard.parent_id else None
        return parent is None or parent.done  # an unknown parent has been trimmed away

    # -- shards ----------------------------------------------------------------------------------

    def discover(self) -> None:
        """Take on the stream's shards as the replayer last saw them (one look per interval for every
        consumer; a consumer that has just finished a shard asks for a look after that moment)."""
        replayer = self.replayer
        now = time.monotonic()
        self.next_discovery = now + replayer.discovery_interval
        view = replayer.stream_view(seen_after=max(now - replayer.discovery_interval, self.view_wanted_after))
        if view.stream_arn is None:
            self.stream_arn = None
            return
        if view.stream_arn != self.stream_arn:
            if self.stream_arn is not None:
                logger.info("%s: table %s has a new stream; following it", self.name, replayer.table_name)
            self.stream_arn = view.stream_arn
            self.shards = {}
        for shard_id, parent_id in view.shards:
            if shard_id not in self.shards:
                self.shards[shard_id] = _Shard(
                    shard_id=shard_id,
                    parent_id=parent_id,
                    lanes=[_Lane(window=replayer.batch_size) for _ in range(replayer.parallelization_factor)],
                )
                logger.debug("%s: new shard %s", self.name, shard_id)

    def _fetch(self, shard: _Shard) -> bool:
        """Read the next records of `shard` into `pending`; True if any passed the filter, or the page
        was full (more are waiting). A page of filtered-out records alone is an idle poll: re-reading at
        once would make a consumer that wants little (webhooks) poll as fast as the table is written."""
        streams = self.replayer.streams
        assert self.stream_arn is not None
        try:
            if shard.iterator is None:
                shard.iterator = self._iterator(shard)
            response = streams.get_records(ShardIterator=shard.iterator, Limit=self.replayer.batch_size)
        except streams.exceptions.ExpiredIteratorException:
            shard.iterator = None  # a new one continues after the last record read
            return False
        except streams.exceptions.TrimmedDataAccessException:
            logger.warning("%s: shard %s was trimmed past our position; records were lost", self.name, shard.shard_id)
            shard.iterator, shard.last_sequence = None, None
            return False
        except streams.exceptions.ResourceNotFoundException:
            shard.exhausted = True
            return False
        records: list[dict[str, Any]] = response.get("Records", [])
        passed: list[dict[str, Any]] = []
        if records:
            # As Lambda's event filtering: records the pattern rejects are dropped, no invocation.
            passed = [r for r in records if matches_filter(self.filter, r)]
            with self._counting:
                self.counters.records_filtered += len(records) - len(passed)
                if not passed:
                    self.counters.invocations_saved += 1  # this poll would have invoked the consumer for nothing
            arrived = time.monotonic()
            for record in passed:
                lane = shard.lanes[self.replayer.lane_of(record, len(shard.lanes))]
                if not lane.pending:
                    lane.since = arrived
                lane.pending.append(record)
            shard.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        shard.iterator = response.get("NextShardIterator")
        if shard.iterator is None:
            shard.exhausted = True
        return bool(passed) or len(records) >= self.replayer.batch_size

    def _iterator(self, shard: _Shard) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": shard.shard_id}
        if shard.last_sequence is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
            kwargs["SequenceNumber"] = shard.last_sequence
        return str(self.replayer.streams.get_shard_iterator(**kwargs)["ShardIterator"])

    # -- delivery --------------------------------------------------------------------------------

    def _deliver(self, shard: _Shard, lane: _Lane) -> None:
        replayer = self.replayer
        assert self.stream_arn is not None
        batch = lane.pending[: lane.window]
        event = {"Records": [to_lambda_record(r, self.stream_arn, replayer.region) for r in batch]}
        context = LambdaContext(self.name, region=replayer.region, timeout_ms=replayer.function_timeout_ms)
        with self._counting:
            self.counters.invocations += 1
        lane.invocations += 1
        error: str | None = None
        try:
            result = self.handler(event, context)
        except Exception as exc:
            earliest: int | None = _ALL
            error = f"{type(exc).__name__}: {exc}"
            if not lane.reported:
                logger.warning(
                    "%s raised on a batch of %d record(s) from %s",
                    self.name,
                    len(batch),
                    shard.shard_id,
                    exc_info=True,
                )
                lane.reported = True
        else:
            earliest = _earliest_failure(result, batch)
            if earliest == _ALL:
                error = f"invalid batchItemFailures response: {result!r}"[:500]

        if earliest is None:  # success
            self._advance(lane, len(batch))
            return

        with self._counting:
            self.counters.batches_failed += 1
        if earliest != _ALL:
            if earliest > 0:  # a partial failure checkpoints before the earliest failed record
                self._advance(lane, earliest)
                lane.invocations = 1
            batch = lane.pending[:1]  # what is discarded if this record keeps failing
            error = error or "reported in batchItemFailures"
        elif replayer.bisect_on_error and len(batch) > 1:
            lane.window = math.ceil(len(batch) / 2)
            logger.info("%s: splitting the failed batch; retrying %d record(s)", self.name, lane.window)
            return

        lane.retries += 1
        if lane.retries > replayer.max_retries:
            self._discard(shard, lane, batch, error or "failed", context)
            return
        delay = min(replayer.retry_backoff * 2 ** (lane.retries - 1), 5.0)
        lane.not_before = time.monotonic() + delay
        logger.info(
            "%s: retry %d/%d in %.2f s from sequence number %s (%s)",
            self.name,
            lane.retries,
            replayer.max_retries,
            delay,
            lane.pending[0]["dynamodb"]["SequenceNumber"],
            error,
        )

    def _advance(self, lane: _Lane, count: int, *, delivered: bool = True) -> None:
        del lane.pending[:count]
        if delivered:
            with self._counting:
                self.counters.records_delivered += count
        lane.retries = 0
        lane.invocations = 0
        lane.window = self.replayer.batch_size
        lane.not_before = 0.0
        lane.reported = False
        lane.since = time.monotonic()  # the rest waited already; a new window starts now

    def _discard(
        self, shard: _Shard, lane: _Lane, batch: list[dict[str, Any]], error: str, context: LambdaContext
    ) -> None:
        replayer = self.replayer
        assert self.stream_arn is not None
        records = [to_lambda_record(r, self.stream_arn, replayer.region) for r in batch]
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        failure = {
            "version": "1.0",
            "timestamp": iso_z(datetime.now(UTC)),
            "requestContext": {
                "requestId": context.aws_request_id,
                "functionArn": context.invoked_function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": lane.invocations,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": first.get("SequenceNumber"),
                "endSequenceNumber": last.get("SequenceNumber"),
                "approximateArrivalOfFirstRecord": _iso_or_none(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso_or_none(last.get("ApproximateCreationDateTime")),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
            "function": self.name,
            "error": error,
            "records": records,
        }
        replayer._record_failure(failure)
        count = len(batch)
        with self._counting:
            self.counters.records_discarded += count
        self._advance(lane, count, delivered=False)  # discarded, not delivered
        logger.error(
            "%s: retries exhausted, %d record(s) from sequence number %s -> failure destination %s: %s",
            self.name,
            count,
            first.get("SequenceNumber"),
            replayer.failures_path or "(in memory)",
            error,
        )


def _iso_or_none(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):  # epoch seconds, as sent
        value = datetime.fromtimestamp(value, UTC)
    return iso_z(value) if isinstance(value, datetime) else None


# --- the replayer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StreamView:
    """What DescribeTable + DescribeStream said at `seen_at` (monotonic): the stream and its shards."""

    stream_arn: str | None
    shards: tuple[tuple[str, str | None], ...]  # (shard id, parent shard id)
    seen_at: float


class StreamReplayer(Service):
    """Reads `table_name`'s stream and delivers it to `handlers` ({function name: handler})."""

    def __init__(
        self,
        table_name: str,
        handlers: Mapping[str, StreamHandler],
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        dynamodb_client: Any = None,
        streams_client: Any = None,
        batch_size: int = 100,
        parallelization_factor: int = 1,
        batching_window: float = 0.0,
        max_retries: int = 5,
        bisect_on_error: bool = True,
        poll_interval: float = 0.2,
        discovery_interval: float = 1.0,
        retry_backoff: float = 0.1,
        function_timeout_ms: int = 60_000,
        failures_path: Path | Literal["default"] | None = "default",
        apply_filters: bool = True,
    ) -> None:
        if not 1 <= batch_size <= 10_000:
            raise ValueError("batch_size must be between 1 and 10000")
        if not 1 <= parallelization_factor <= 10:
            raise ValueError("parallelization_factor must be between 1 and 10")
        if not 0 <= batching_window <= 300:
            raise ValueError("batching_window must be between 0 and 300 seconds")
        self.table_name = table_name
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "eu-central-1"
        self.endpoint_url = endpoint_url
        self.batch_size = batch_size
        self.parallelization_factor = parallelization_factor  # concurrent batches per shard
        self.batching_window = batching_window  # seconds a lane waits to fill a batch
        self.hash_key = "pk"  # the table's partition key (read from the table when it is found)
        self.apply_filters = apply_filters  # the mappings' FilterCriteria (chalicelib/events.py)
        self.max_retries = max_retries
        self.bisect_on_error = bisect_on_error
        self.poll_interval = poll_interval
        self.discovery_interval = discovery_interval
        self.retry_backoff = retry_backoff
        self.function_timeout_ms = function_timeout_ms
        if failures_path == "default":
            from local.paths import local_dir

            failures_path = local_dir() / "failures.jsonl"
        self.failures_path: Path | None = failures_path
        self.failures: list[dict[str, Any]] = []
        self._dynamodb = dynamodb_client
        self._streams = streams_client
        self._consumers = [_Consumer(self, name, handler) for name, handler in handlers.items()]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._idle_changed = threading.Condition()
        self._view: _StreamView | None = None
        self._view_lock = threading.Lock()
        self._missing_table_logged = False

    def lane_of(self, record: Mapping[str, Any], lanes: int) -> int:
        """The lane of a record: by its item's partition key, so one item's records keep their order."""
        if lanes == 1:
            return 0
        keys = record.get("dynamodb", {}).get("Keys", {})
        key = keys.get(self.hash_key, keys)
        return zlib.crc32(json.dumps(key, sort_keys=True, default=str).encode()) % lanes

    # -- clients ---------------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        import boto3

        return boto3.session.Session().client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint_url,
        )

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = self._client("dynamodb")
        return self._dynamodb

    @property
    def streams(self) -> Any:
        if self._streams is None:
            self._streams = self._client("dynamodbstreams")
            self._streams.meta.events.register("before-parse.dynamodb-streams.GetRecords", _records_as_sent)
        return self._streams

    # -- the stream's shards, one look shared by every consumer ----------------------------------

    def stream_view(self, *, seen_after: float) -> _StreamView:
        """The latest look at the stream, taken anew unless one was taken after `seen_after`."""
        with self._view_lock:
            if self._view is None or self._view.seen_at <= seen_after:
                seen_at = time.monotonic()
                arn = self._latest_stream_arn()
                shards = self._shards_of(arn) if arn else None
                self._view = _StreamView(arn if shards is not None else None, shards or (), seen_at)
            return self._view

    def _latest_stream_arn(self) -> str | None:
        try:
            table = self.dynamodb.describe_table(TableName=self.table_name)["Table"]
        except self.dynamodb.exceptions.ResourceNotFoundException:
            if not self._missing_table_logged:
                logger.warning("table %s does not exist (yet); waiting for it", self.table_name)
                self._missing_table_logged = True
            return None
        self._missing_table_logged = False
        hash_keys = [key["AttributeName"] for key in table.get("KeySchema", []) if key.get("KeyType") == "HASH"]
        if hash_keys:
            self.hash_key = hash_keys[0]
        arn = table.get("LatestStreamArn")
        if not arn or not table.get("StreamSpecification", {}).get("StreamEnabled", False):
            return None
        return str(arn)

    def _shards_of(self, arn: str) -> tuple[tuple[str, str | None], ...] | None:
        """Every shard of the stream (None: the stream is gone)."""
        shards: list[tuple[str, str | None]] = []
        kwargs: dict[str, Any] = {"StreamArn": arn}
        while True:
            try:
                description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            except self.streams.exceptions.ResourceNotFoundException:
                return None
            shards.extend((item["ShardId"], item.get("ParentShardId")) for item in description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return tuple(shards)
            kwargs["ExclusiveStartShardId"] = last

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def function_names(self) -> list[str]:
        return [consumer.name for consumer in self._consumers]

    def start(self) -> Self:
        """Start one background thread per consumer."""
        _ = self.dynamodb, self.streams  # build the clients before the threads share them
        self._stop.clear()
        for consumer in self._consumers:
            if consumer.thread is not None and consumer.thread.is_alive():
                continue
            consumer.thread = threading.Thread(
                target=consumer.run, args=(self._stop,), name=f"stream-{consumer.name}", daemon=True
            )
            consumer.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the batches being delivered now; wait up to `timeout` seconds."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for consumer in self._consumers:
            if consumer.thread is not None:
                consumer.thread.join(max(0.0, deadline - time.monotonic()))
                if consumer.thread.is_alive():
                    logger.warning("stream consumer %s is still running a batch", consumer.name)
                    continue  # its pool is still in use
                consumer.thread = None
            consumer.close()

    def wait_until_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every consumer has made a full pass with nothing left to deliver."""
        deadline = time.monotonic() + timeout
        with self._idle_changed:
            # Two passes: the first may have started before the caller's last write.
            targets = {id(c): c.counters.idle_passes + 2 for c in self._consumers}
            while True:
                if all(c.counters.idle_passes >= targets[id(c)] for c in self._consumers):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle_changed.wait(remaining)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per consumer: invocations, records delivered, failed batches, discarded records."""
        return {
            c.name: {
                "invocations": c.counters.invocations,
                "records_delivered": c.counters.records_delivered,
                "batches_failed": c.counters.batches_failed,
                "records_discarded": c.counters.records_discarded,
                "records_filtered": c.counters.records_filtered,
                "invocations_saved": c.counters.invocations_saved,
            }
            for c in self._consumers
        }

    def _record_failure(self, failure: dict[str, Any]) -> None:
        with self._lock:
            self.failures.append(failure)
            if self.failures_path is None:
                return
            with contextlib.suppress(OSError):
                self.failures_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                with self.failures_path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(failure, default=str, ensure_ascii=False) + "\n")
            except OSError as exc:
                logger.error("could not write the failure destination %s: %s", self.failures_path, exc)
