"""moto's DynamoDB transactions, journaled: for the local stack, the tests and the benchmarks
(never deployed).

moto's `transact_write_items` backs up each table a transaction names, to put it back if the
transaction fails, by deep-copying it whole (once per item of the transaction, stream and all).
The cost grows with the table: a campaign's ledger claims slowed as the ledger filled, and with a
million profiles one copy took seconds. Here a transaction keeps a journal instead: each item
it names is copied before the transaction touches it, and each stream's length is noted; if the
transaction fails, those items are put back as they were (or taken out, if they were not there)
and the stream records it added are cut off again. What a reader of the tables or their streams
sees afterwards is what moto's own rollback leaves; moto's code does everything else.
Installed when the local stack is imported.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_installed = False
_lock = threading.Lock()
_LOCAL = threading.local()


class _Journal:
    """What one transaction may change: the items it names, as they were, and its streams'
    lengths."""

    def __init__(self) -> None:
        self._items: dict[tuple[int, Any, Any], tuple[Any, Any, Any, Any]] = {}
        self._streams: dict[int, tuple[Any, int]] = {}

    def note(self, table: Any, hash_key: Any, range_key: Any) -> None:
        where = (id(table), hash_key, range_key)
        if where not in self._items:
            before = copy.deepcopy(table.get_item(hash_key, range_key))
            self._items[where] = (table, hash_key, range_key, before)
        shard = table.stream_shard
        if shard is not None and id(shard) not in self._streams:
            self._streams[id(shard)] = (shard, len(shard.items))

    def undo(self) -> None:
        for table, hash_key, range_key, item in self._items.values():
            _put_back(table, hash_key, range_key, item)
        for shard, length in self._streams.values():
            del shard.items[length:]


def _put_back(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """The item as it was before a failed transaction (None: it was not there)."""
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


class _TablesKept:
    """What moto's DynamoDB models find as `copy`: a table is "copied" as itself (the journal
    is its backup, so moto's putting the copy back changes nothing); anything else is copied
    as before."""

    def __init__(self, table: type) -> None:
        self._table = table

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self._table) and getattr(_LOCAL, "journal", None) is not None:
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _journaled(apply: Any) -> Any:
    def transact_write_items(backend: Any, *args: Any, **kwargs: Any) -> Any:
        _LOCAL.journal = journal = _Journal()
        try:
            return apply(backend, *args, **kwargs)
        except BaseException:
            journal.undo()
            raise
        finally:
            _LOCAL.journal = None

    transact_write_items.__wrapped__ = apply  # type: ignore[attr-defined]
    return transact_write_items


def _noting(read: Any) -> Any:
    """moto's transaction reads each item it names (`get_item`) before it checks or writes
    it: that read notes the item in the journal."""

    def get_item(backend: Any, table_name: str, keys: dict[str, Any], *args: Any) -> Any:
        journal: _Journal | None = getattr(_LOCAL, "journal", None)
        table = backend.tables.get(table_name)
        if journal is not None and table is not None:
            try:
                where = backend.get_keys_value(table, keys)
            except Exception:  # moto's own get_item answers a malformed key
                where = None
            if where is not None:
                journal.note(table, *where)
        return read(backend, table_name, keys, *args)

    get_item.__wrapped__ = read  # type: ignore[attr-defined]
    return get_item


def install() -> None:
    global _installed
    with _lock:
        if _installed:
            return
        from moto.dynamodb import models
        from moto.dynamodb.models.table import Table

        models.copy = _TablesKept(Table)  # type: ignore[attr-defined,assignment]
        backend = models.DynamoDBBackend
        backend.transact_write_items = _journaled(backend.transact_write_items)  # type: ignore[method-assign]
        backend.get_item = _noting(backend.get_item)  # type: ignore[method-assign]
        _installed = True
