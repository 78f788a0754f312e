"""The local stream replayer looks at the stream's shards once per interval for all its consumers."""

from __future__ import annotations

import time
from typing import Any

from local.streams import StreamReplayer


class _NotFound(Exception):
    pass


class _Exceptions:
    ResourceNotFoundException = _NotFound


class Tables:
    exceptions = _Exceptions

    def __init__(self) -> None:
        self.calls = 0

    def describe_table(self, TableName: str) -> dict[str, Any]:
        self.calls += 1
        return {
            "Table": {
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "LatestStreamArn": "arn:stream/1",
                "StreamSpecification": {"StreamEnabled": True},
            }
        }


class Streams:
    exceptions = _Exceptions

    def __init__(self) -> None:
        self.calls = 0

    def describe_stream(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        shards = [{"ShardId": "shard-1"}, {"ShardId": "shard-2", "ParentShardId": "shard-1"}]
        return {"StreamDescription": {"Shards": shards}}


def _replayer(tables: Tables, streams: Streams) -> StreamReplayer:
    handlers = {name: (lambda event, context: None) for name in ("orders", "documents", "tickets")}
    return StreamReplayer(
        "t", handlers, dynamodb_client=tables, streams_client=streams, failures_path=None, discovery_interval=60
    )


def test_every_consumer_takes_its_shards_from_one_look_per_interval() -> None:
    tables, streams = Tables(), Streams()
    replayer = _replayer(tables, streams)
    for consumer in replayer._consumers:
        consumer.discover()
        assert consumer.stream_arn == "arn:stream/1"
        assert {s: shard.parent_id for s, shard in consumer.shards.items()} == {
            "shard-1": None,
            "shard-2": "shard-1",
        }
    assert (tables.calls, streams.calls) == (1, 1)


def test_a_consumer_that_finished_a_shard_gets_a_fresh_look() -> None:
    tables, streams = Tables(), Streams()
    replayer = _replayer(tables, streams)
    first, second, _ = replayer._consumers
    first.discover()
    second.view_wanted_after = time.monotonic()  # as when one of its shards has just ended
    second.discover()
    assert (tables.calls, streams.calls) == (2, 2)
