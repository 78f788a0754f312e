"""Test-process speed-ups that change no behaviour: caches and cheaper copies inside the AWS libraries.

Installed by tests/conftest.py for every tier (none of them is app code; the Lambda never sees them).
"""

from __future__ import annotations

import copy
import functools
from types import SimpleNamespace
from typing import Any

_applied = False


def apply() -> None:
    """Install them all (once per process)."""
    global _applied
    if not _applied:
        _applied = True
        share_botocore_loader()
        cheap_moto_transactions()
        fast_moto_scalars()
        fast_moto_queries()
        share_pynamodb_sessions()


def share_botocore_loader() -> None:
    """One botocore data loader for every session the tests create.

    moto gives each mock its own boto3 default session, pynamodb makes a session per connection,
    and every new session parsed the service models and endpoints JSON again (~0.2 s a client on
    this machine), most of a functional test's setup. The files never change, so one loader (which
    caches what it parsed) serves them all; clients, credentials and endpoints stay per session.
    """
    import botocore.loaders
    import botocore.session

    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)


def cheap_moto_transactions() -> None:
    """moto's TransactWriteItems without its whole-table copy.

    moto backs every TransactWriteItems up with `copy.deepcopy` of each table it touches (every
    item and every stream record so far), so each transaction cost O(table) and a test driving a
    few orders spent most of its time copying. The same rollback needs only the items the
    transaction names and the stream's length: this takes that smaller backup, lets moto run the
    transaction with its table copy made a no-op, and on cancellation puts those items back and
    drops the stream records the transaction added, which is what moto's restored copy holds.
    tests/functional/test_moto_transactions.py holds both to the same outcomes.
    """
    import moto.dynamodb.models as backend_module
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        # The wrapper below keeps the backup; moto's own table copy becomes the same table.
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    setattr(backend_module, "copy", SimpleNamespace(deepcopy=deepcopy, copy=copy.copy))  # noqa: B010
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        backup = _backup(self, transact_items)
        try:
            original(self, transact_items)
        except BaseException:
            _restore(backup)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _backup(backend: Any, transact_items: list[dict[str, Any]]) -> list[Any]:
    items: list[tuple[Any, Any, Any, bool, Any]] = []
    streams: dict[int, tuple[Any, int]] = {}
    for entry in transact_items:
        for _, op in entry.items():
            try:
                table = backend.get_table(op["TableName"])
                keys = op["Item"] if "Item" in op else op["Key"]
                hash_key, range_key = backend.get_keys_value(table, keys)
            except Exception:  # noqa: S112 - moto refuses this operation before it writes anything
                continue
            had_hash = hash_key in table.items
            items.append((table, hash_key, range_key, had_hash, copy.deepcopy(table.get_item(hash_key, range_key))))
            if table.lambda_event_source_mappings:  # moto would empty the stream into a Lambda
                raise NotImplementedError("tests.moto_speed: a moto stream with Lambda mappings")
            if table.stream_shard is not None:
                streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
    return [items, list(streams.values())]


def _restore(backup: list[Any]) -> None:
    items, streams = backup
    for table, hash_key, range_key, had_hash, item in reversed(items):
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
            continue
        if item is not None:
            table.items[hash_key][range_key] = item
            continue
        bucket = table.items.get(hash_key)
        if bucket is not None:
            bucket.pop(range_key, None)
            if not bucket and not had_hash:
                del table.items[hash_key]
    for shard, length in streams:
        del shard.items[length:]


def share_pynamodb_sessions() -> None:
    """One botocore session per thread and AWS environment for pynamodb's connections.

    pynamodb opens a botocore session for every connection, and the app has a connection per
    model class, rebuilt with each test's container: ~75 ms of handler registration each on this
    machine. Its clients stay per connection; a connection given its own keys keeps its own session.
    """
    import os
    import threading

    import botocore.session
    from pynamodb.connection.base import Connection

    own_session = Connection.session.fget  # type: ignore[attr-defined]
    shared: dict[tuple[Any, ...], botocore.session.Session] = {}

    def session(self: Any) -> botocore.session.Session:
        if getattr(self._local, "session", None) is None and not self._aws_access_key_id:
            environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
            key = (threading.get_ident(), environment)
            if key not in shared:
                shared[key] = botocore.session.get_session()
            self._local.session = shared[key]
        return own_session(self)

    Connection.session = property(session)  # type: ignore[assignment,method-assign]


def fast_moto_scalars() -> None:
    """moto compares key values (sorting every query's candidates) through `DynamoType.cast_value`,
    which tests six types before it returns a string as it is: the sweeps' queries made millions of
    those calls. Strings, binaries and numbers now answer first; every other type goes as before."""
    from decimal import Decimal

    from moto.dynamodb.models.dynamo_type import DynamoType

    general = DynamoType.cast_value.fget  # type: ignore[attr-defined]

    def cast_value(self: Any) -> Any:
        kind = self.type
        if kind == "S" or kind == "B":
            return self.value
        if kind == "N":
            return Decimal(self.value)
        return general(self)

    DynamoType.cast_value = property(cast_value)  # type: ignore[assignment,method-assign]


def fast_moto_queries() -> None:
    """moto's Query without sorting the whole table first.

    moto answers every Query from `Table.all_items()`, a sorted copy of every item, and then filters
    it by the key: O(table · log table) per query, so a run's cost grew with the square of its size
    (the fault harness's 200 orders did not finish). The query now starts from the candidates the
    key can match — a table query from its partition, an index query from the items whose index
    hash key attributes are equal — and moto filters and sorts those exactly as before (its own
    sort decides the order: the full table key is in it, so the input order cannot show).
    tests/functional/test_moto_transactions.py holds both to the same answers.
    """
    import threading

    from moto.dynamodb.models.table import Table

    hint = threading.local()
    every_item, query = Table.all_items, Table.query

    @functools.wraps(every_item)
    def all_items(self: Any) -> Any:
        candidates = getattr(hint, "candidates", None)
        if candidates is not None and candidates[0] is self:
            return list(candidates[1])
        return every_item(self)

    def candidates(table: Any, hash_key: Any, index_name: Any, conditions: Any) -> list[Any] | None:
        if not index_name:
            if hash_key is None or not table.range_key_attr:
                return None
            return list(table.items.get(hash_key, {}).values())
        if not conditions:
            return None
        wanted = [(name, value.type, value.value) for name, value in conditions]
        found = []
        for by_range in table.items.values():
            for item in by_range.values() if table.range_key_attr else (by_range,):
                attrs = item.attrs
                for name, kind, value in wanted:
                    have = attrs.get(name)
                    if have is None or have.type != kind or have.value != value:
                        break
                else:
                    found.append(item)
        return found

    @functools.wraps(query)
    def fast_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        found = candidates(self, hash_key, index_name, kwargs.get("hash_key_conditions"))
        if found is None:
            return query(self, hash_key, *args, **kwargs)
        hint.candidates = (self, found)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            hint.candidates = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = fast_query  # type: ignore[method-assign]
