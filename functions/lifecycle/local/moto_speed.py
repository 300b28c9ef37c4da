"""One fix to moto's speed, for the local stack, the tests and the benchmarks (never deployed).

moto's DynamoDB `transact_write_items` backs up each table a transaction writes, to roll back
if it fails, by deep-copying it, and it does so once per item of the transaction, stream and
all: a transaction of 50 counters deep-copied the engagement table 50 times, and a table with
a stream copied every stream record it ever had (each holding the item images). Here a
transaction copies each table once and leaves its stream out of the copy; if the transaction
fails, the stream records it added are taken off again, so what a reader of the stream sees
is what moto's own rollback leaves. Installed when the local stack is imported.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_installed = False
_lock = threading.Lock()


class _OncePerTransaction:
    """Stands for the `copy` module inside moto's DynamoDB models: while a transaction is
    being applied, a table is copied once and without its stream; anything else is copied
    as before."""

    def __init__(self, table: type) -> None:
        self._table = table
        self._local = threading.local()

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        copies: dict[int, Any] | None = getattr(self._local, "copies", None)
        # Only tables: they live through the transaction, so their ids stay theirs.
        if copies is None or not isinstance(value, self._table):
            return copy.deepcopy(value, memo)
        found = copies.get(id(value))
        if found is None:
            found = copies[id(value)] = self._copy(value)
        return found

    def _copy(self, table: Any) -> Any:
        shard = table.stream_shard
        if shard is None:
            return copy.deepcopy(table)
        # The shard itself is shared through the memo: a failed transaction's records are
        # cut off it again below.
        self._local.shards.append((shard, len(shard.items)))
        return copy.deepcopy(table, {id(shard): shard})

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def during(self, apply: Any) -> Any:
        def transact_write_items(backend: Any, *args: Any, **kwargs: Any) -> Any:
            self._local.copies, self._local.shards = {}, []
            try:
                return apply(backend, *args, **kwargs)
            except BaseException:
                # moto put the copies back: its streams lose what the transaction added.
                for shard, length in self._local.shards:
                    del shard.items[length:]
                    for table in backend.tables.values():
                        if table.stream_shard is shard:
                            shard.table = table
                raise
            finally:
                self._local.copies, self._local.shards = None, []

        return transact_write_items


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table

        shim = _OncePerTransaction(Table)
        models.copy = shim  # type: ignore[attr-defined,assignment]
        backend = models.DynamoDBBackend
        backend.transact_write_items = shim.during(backend.transact_write_items)  # type: ignore[method-assign]
        _installed = True
