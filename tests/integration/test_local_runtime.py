"""The local runtime against DynamoDB Local: stream replay into Lambda handlers, and schedules."""

from __future__ import annotations

import json
import threading
import time
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local.lambda_runtime import LambdaContext, iso_z
from local.scheduler import Scheduler, run_all_once
from local.streams import StreamReplayer

pytestmark = pytest.mark.timeout(120)

RECORD_KEYS = {
    "eventID",
    "eventName",
    "eventVersion",
    "eventSource",
    "awsRegion",
    "dynamodb",
    "eventSourceARN",
}


def eventually(predicate: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Recorder:
    """A stream handler that records each invocation; `decide` picks its response."""

    def __init__(self, decide: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.decide = decide
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            self.events.append(json.loads(json.dumps(event)))  # must be plain JSON, like Lambda's
            self.contexts.append(context)
        return self.decide(event) if self.decide else None

    def records(self) -> list[dict[str, Any]]:
        with self.lock:
            return [record for event in self.events for record in event["Records"]]

    def values(self) -> list[str]:
        """The `v` attribute of every record's NewImage (or OldImage for removals), in delivery order."""
        return [_value(record) for record in self.records()]


@pytest.fixture
def start_sweeps() -> bool:
    return False  # the table holds only what each test writes: its stream is exactly those records


def _value(record: dict[str, Any]) -> str:
    image = record["dynamodb"].get("NewImage") or record["dynamodb"]["OldImage"]
    return str(image["v"]["S"])


def _put(client: Any, table: str, pk: str, value: str, **extra: Any) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": "#ITEM"}, "v": {"S": value}, **extra}
    client.put_item(TableName=table, Item=item)


@pytest.fixture
def make_replayer(dynamodb_local_endpoint: str, tmp_path: Path) -> Iterator[Callable[..., StreamReplayer]]:
    started: list[StreamReplayer] = []

    def make(table: str, handler: Any, **options: Any) -> StreamReplayer:
        options.setdefault("poll_interval", 0.05)
        options.setdefault("retry_backoff", 0.01)
        options.setdefault("failures_path", tmp_path / "failures.jsonl")
        replayer = StreamReplayer(
            table,
            {"consumer": handler},
            endpoint_url=dynamodb_local_endpoint,
            region="eu-central-1",
            **options,
        )
        started.append(replayer)
        return replayer.start()

    yield make
    for replayer in started:
        replayer.stop()


def test_writes_reach_the_handler_as_lambda_stream_events_in_order(
    dynamodb_client: Any, table_name: str, make_replayer: Callable[..., StreamReplayer]
) -> None:
    # Written before the replayer starts: a shard it has not seen is read from TRIM_HORIZON.
    _put(dynamodb_client, table_name, "ORDER#1", "v1", blob={"B": b"\x00\xff"})
    recorder = Recorder()
    replayer = make_replayer(table_name, recorder)
    _put(dynamodb_client, table_name, "ORDER#1", "v2")
    _put(dynamodb_client, table_name, "ORDER#2", "other")
    dynamodb_client.update_item(
        TableName=table_name,
        Key={"pk": {"S": "ORDER#1"}, "sk": {"S": "#ITEM"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "v3"}},
    )
    dynamodb_client.delete_item(TableName=table_name, Key={"pk": {"S": "ORDER#1"}, "sk": {"S": "#ITEM"}})

    eventually(lambda: len({r["eventID"] for r in recorder.records()}) >= 5, what="5 stream records")
    assert replayer.wait_until_idle(timeout=10)

    stream_arn = dynamodb_client.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    seen: dict[str, dict[str, Any]] = {}
    for event in recorder.events:
        assert set(event) == {"Records"}
        assert 1 <= len(event["Records"]) <= 100
        for record in event["Records"]:
            assert set(record) == RECORD_KEYS
            assert record["eventVersion"] == "1.1"
            assert record["eventSource"] == "aws:dynamodb"
            assert record["awsRegion"] == "eu-central-1"
            assert record["eventSourceARN"] == stream_arn
            change = record["dynamodb"]
            assert change["StreamViewType"] == "NEW_AND_OLD_IMAGES"
            assert isinstance(change["SequenceNumber"], str)
            assert isinstance(change["SizeBytes"], int)
            created = change["ApproximateCreationDateTime"]
            assert isinstance(created, int | float)
            assert abs(created - time.time()) < 180  # epoch seconds, as in Lambda events
            seen.setdefault(record["eventID"], record)

    first = [r for r in seen.values() if r["dynamodb"]["Keys"]["pk"] == {"S": "ORDER#1"}]
    assert [(r["eventName"], _value(r)) for r in first] == [
        ("INSERT", "v1"),
        ("MODIFY", "v2"),
        ("MODIFY", "v3"),
        ("REMOVE", "v3"),
    ]
    assert [int(r["dynamodb"]["SequenceNumber"]) for r in first] == sorted(
        int(r["dynamodb"]["SequenceNumber"]) for r in first
    )
    insert, modify, _, remove = first
    assert insert["dynamodb"]["Keys"] == {"pk": {"S": "ORDER#1"}, "sk": {"S": "#ITEM"}}
    assert "OldImage" not in insert["dynamodb"]
    assert insert["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}  # binary is base64 in JSON
    assert modify["dynamodb"]["OldImage"]["v"] == {"S": "v1"}
    assert modify["dynamodb"]["NewImage"]["v"] == {"S": "v2"}
    assert "NewImage" not in remove["dynamodb"]
    assert remove["dynamodb"]["OldImage"]["v"] == {"S": "v3"}

    context = recorder.contexts[0]
    assert isinstance(context, LambdaContext)
    assert context.function_name == "consumer"
    assert context.invoked_function_arn.endswith(":function:consumer")
    assert context.aws_request_id and context.memory_limit_in_mb > 0
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
    assert replayer.failures == []
    assert replayer.stats()["consumer"]["records_delivered"] >= 5


def test_a_reported_batch_item_failure_is_redelivered_from_that_record(
    dynamodb_client: Any, table_name: str, make_replayer: Callable[..., StreamReplayer]
) -> None:
    for value in ("a", "flaky", "c"):  # written first, so that they arrive as one batch
        _put(dynamodb_client, table_name, f"ITEM#{value}", value)
    attempts = {"flaky": 0}

    def decide(event: dict[str, Any]) -> dict[str, Any]:
        for record in event["Records"]:
            if _value(record) == "flaky":
                attempts["flaky"] += 1
                if attempts["flaky"] <= 2:
                    return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}

    recorder = Recorder(decide)
    replayer = make_replayer(table_name, recorder)
    eventually(lambda: attempts["flaky"] >= 3, what="the third delivery of the failed record")
    assert replayer.wait_until_idle(timeout=10)

    batches = [[_value(r) for r in event["Records"]] for event in recorder.events]
    assert batches[0] == ["a", "flaky", "c"]
    assert batches[1][0] == "flaky" and batches[2][0] == "flaky"  # re-delivered from the failed record
    values = recorder.values()
    assert values.count("a") == 1  # checkpointed before the failure: not delivered again
    assert values.count("flaky") == 3
    assert values.count("c") >= 2  # after the failed record: delivered again (at least once)
    assert replayer.failures == []


def test_a_record_that_always_fails_goes_to_the_failure_destination_and_later_records_arrive(
    dynamodb_client: Any,
    table_name: str,
    make_replayer: Callable[..., StreamReplayer],
    tmp_path: Path,
) -> None:
    for value in ("ok1", "poison", "ok2"):
        _put(dynamodb_client, table_name, f"ITEM#{value}", value)

    def decide(event: dict[str, Any]) -> None:
        if any(_value(record) == "poison" for record in event["Records"]):
            raise ValueError("cannot process poison")

    recorder = Recorder(decide)
    replayer = make_replayer(table_name, recorder)
    eventually(lambda: len(replayer.failures) == 1, what="the failure destination")
    _put(dynamodb_client, table_name, "ITEM#ok3", "ok3")
    eventually(lambda: "ok3" in recorder.values(), what="a record written after the poison one")
    assert replayer.wait_until_idle(timeout=10)

    (failure,) = replayer.failures
    info = failure["DDBStreamBatchInfo"]
    assert [_value(r) for r in failure["records"]] == ["poison"]  # bisecting isolated it
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == failure["records"][0]["dynamodb"]["SequenceNumber"]
    assert info["streamArn"] == failure["records"][0]["eventSourceARN"]
    arrived = failure["records"][0]["dynamodb"]["ApproximateCreationDateTime"]  # epoch seconds, as sent
    assert info["approximateArrivalOfFirstRecord"] == iso_z(datetime.fromtimestamp(arrived, UTC))
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["function"] == "consumer"
    assert "ValueError: cannot process poison" in failure["error"]

    # Bounded: the isolated record was tried once and retried max_retries (5) times, no more.
    alone = [event for event in recorder.events if [_value(r) for r in event["Records"]] == ["poison"]]
    assert len(alone) == 6
    # Everything else got through, in order, and nothing after the poison record was lost.
    delivered_ok = [
        _value(r)
        for event in recorder.events
        if "poison" not in [_value(x) for x in event["Records"]]
        for r in event["Records"]
    ]
    assert delivered_ok == ["ok1", "ok2", "ok3"]

    lines = (tmp_path / "failures.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [json.loads(json.dumps(failure))]
    assert replayer.stats()["consumer"]["records_discarded"] == 1


def test_with_a_parallelization_factor_lanes_run_at_once_and_each_item_keeps_its_order(
    dynamodb_client: Any, table_name: str, make_replayer: Callable[..., StreamReplayer]
) -> None:
    # Eight items, five versions each, interleaved: one shard, records of all items mixed.
    for version in range(5):
        for item in range(8):
            _put(dynamodb_client, table_name, f"ORDER#{item}", f"{item}:{version}")
    meeting = threading.Barrier(2, timeout=20)  # two invocations must be in flight together to pass it
    met: list[bool] = []

    def decide(event: dict[str, Any]) -> dict[str, Any]:
        if len(met) < 2:
            met.append(True)
            meeting.wait()  # one lane at a time would break the barrier (BrokenBarrierError)
        return {"batchItemFailures": []}

    recorder = Recorder(decide)
    replayer = make_replayer(table_name, recorder, parallelization_factor=4)
    eventually(lambda: len(recorder.values()) >= 40, what="40 records")
    assert replayer.wait_until_idle(timeout=10)

    assert not meeting.broken and len(met) == 2
    values = recorder.values()
    assert sorted(values) == sorted(f"{item}:{version}" for item in range(8) for version in range(5))  # once each
    for item in range(8):  # one item's records in the order they were written
        assert [v for v in values if v.startswith(f"{item}:")] == [f"{item}:{version}" for version in range(5)]
    for event in recorder.events:  # a batch holds one lane's items only
        keys = {record["dynamodb"]["Keys"]["pk"]["S"] for record in event["Records"]}
        lanes = {replayer.lane_of({"dynamodb": {"Keys": {"pk": {"S": key}}}}, 4) for key in keys}
        assert len(lanes) == 1
    assert replayer.failures == []


def test_a_poison_record_holds_up_only_its_own_lane(
    dynamodb_client: Any, table_name: str, make_replayer: Callable[..., StreamReplayer]
) -> None:
    lanes = 4
    probe = StreamReplayer(table_name, {}, failures_path=None)

    def lane_of(key: str) -> int:
        return probe.lane_of({"dynamodb": {"Keys": {"pk": {"S": key}}}}, lanes)

    other = next(key for key in (f"ORDER#{n}" for n in range(100)) if lane_of(key) != lane_of("ORDER#poison"))
    _put(dynamodb_client, table_name, "ORDER#poison", "poison")
    _put(dynamodb_client, table_name, "ORDER#poison", "after-poison")
    _put(dynamodb_client, table_name, other, "other")
    processed: list[tuple[str, int]] = []  # (value, failures recorded so far) of every successful batch
    replayer: StreamReplayer | None = None

    def decide(event: dict[str, Any]) -> None:
        batch = [_value(record) for record in event["Records"]]
        if "poison" in batch:
            raise ValueError("cannot process poison")
        processed.extend((value, len(replayer.failures) if replayer else 0) for value in batch)

    recorder = Recorder(decide)
    replayer = make_replayer(table_name, recorder, parallelization_factor=lanes, retry_backoff=0.05)
    eventually(lambda: "after-poison" in [value for value, _ in processed], what="the record after the poison one")
    assert replayer.wait_until_idle(timeout=10)

    assert [value for value, _ in processed] == ["other", "after-poison"]  # the other lane went first
    assert dict(processed) == {"other": 0, "after-poison": 1}  # its own item waited until it was discarded
    (failure,) = replayer.failures
    assert [_value(r) for r in failure["records"]] == ["poison"]
    alone = [event for event in recorder.events if [_value(r) for r in event["Records"]] == ["poison"]]
    assert len(alone) == 6  # tried once, retried max_retries (5) times


def test_the_apps_stream_consumers_are_chalice_lambda_functions_named_in_stream_consumers(
    dynamodb_client: Any,
    table_name: str,
    dynamodb_local_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from chalice.app import Chalice

    from chalicelib import events
    from local.streams import consumers_from_app

    app = Chalice(app_name="streamtest")
    seen: list[tuple[str, str]] = []

    @app.lambda_function()
    def on_change(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend((r["eventName"], context.function_name) for r in event["Records"])
        return {"batchItemFailures": []}

    module = types.ModuleType("streamtest_app")
    for name, value in {"app": app, "on_change": on_change}.items():
        setattr(module, name, value)
    monkeypatch.setitem(events.STREAM_CONSUMERS, "main", ("on_change", "not_there"))

    handlers = consumers_from_app(module)
    assert list(handlers) == ["on_change"]  # a missing name is logged and skipped
    _put(dynamodb_client, table_name, "ITEM#1", "x")
    with StreamReplayer(
        table_name,
        handlers,
        endpoint_url=dynamodb_local_endpoint,
        poll_interval=0.05,
        failures_path=tmp_path / "failures.jsonl",
    ) as replayer:
        eventually(lambda: bool(seen), what="the Chalice lambda function")
        assert replayer.wait_until_idle(timeout=10)
    assert seen == [("INSERT", "on_change")]


def _schedule_app() -> tuple[types.ModuleType, list[dict[str, Any]]]:
    from chalice.app import Chalice, Cron

    app = Chalice(app_name="schedtest")
    received: list[dict[str, Any]] = []

    @app.schedule("rate(5 minutes)")
    def sweep(event: Any) -> dict[str, Any]:
        received.append(event.to_dict())
        return {"swept": 3, "now": event.time, "at": datetime.fromisoformat(event.time)}

    @app.schedule(Cron(0, 3, "*", "*", "?", "*"))
    def nightly(event: Any) -> None:
        return None

    @app.schedule("rate(1 hour)")
    def broken(event: Any) -> None:
        raise RuntimeError("sweep failed")

    @app.schedule("cron(0 0 L * ? *)")
    def month_end(event: Any) -> str:
        return "closed"

    module = types.ModuleType("schedtest_app")
    # month_end is left off the module on purpose: it is found through app.handler_map.
    for name, value in {"app": app, "sweep": sweep, "nightly": nightly, "broken": broken}.items():
        setattr(module, name, value)
    return module, received


def test_run_all_once_fires_every_schedule_as_of_the_given_time() -> None:
    module, received = _schedule_app()
    at = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)

    summary = run_all_once(module, at)

    assert json.loads(json.dumps(summary)) == summary
    assert summary["at"] == "2026-11-27T09:30:00Z"
    assert summary["ok"] is False  # one handler raised
    results = summary["results"]
    assert list(results) == ["sweep", "nightly", "broken", "month_end"]
    assert results["sweep"]["ok"] is True
    assert results["sweep"]["result"] == {
        "swept": 3,
        "now": "2026-11-27T09:30:00Z",
        "at": "2026-11-27T09:30:00Z",
    }
    assert results["nightly"] == {**results["nightly"], "ok": True, "result": None}
    assert results["nightly"]["schedule"] == "cron(0 3 * * ? *)"
    assert results["broken"]["ok"] is False
    assert results["broken"]["error"] == "RuntimeError: sweep failed"
    assert results["month_end"]["result"] == "closed"  # run once even though it never fires on its own

    (event,) = received
    assert event["time"] == "2026-11-27T09:30:00Z"
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["version"] == "0"
    assert event["detail"] == {}
    assert event["region"] == "eu-central-1"
    assert event["resources"] == [f"arn:aws:events:eu-central-1:{event['account']}:rule/schedtest-dev-sweep"]
    assert event["id"]


def test_the_scheduler_fires_rate_schedules_and_skips_cron_it_cannot_evaluate() -> None:
    module, received = _schedule_app()
    scheduler = Scheduler(module, fire_immediately=True)
    assert [s.name for s in scheduler.schedules if s.unsupported] == ["month_end"]
    with scheduler:
        eventually(lambda: scheduler.fired["sweep"] >= 1 and scheduler.fired["broken"] >= 1, timeout=10)
    assert len(received) == 1
    assert scheduler.fired["month_end"] == 0
    assert scheduler.fired["nightly"] == 0  # next 03:00 UTC is not now
