"""One fix to moto's speed, for the local stack, the tests and the benchmarks (never deployed).

moto's DynamoDB `transact_write_items` backs up a table before it applies a transaction, so it
can roll back, but it deep-copies the table once per item of the transaction, not once per
table: a transaction of 50 counters deep-copies the engagement table 50 times, and a table
that grows makes every transaction slower. Here a transaction copies each table once; the
backup it rolls back to is the same. Installed when the local stack is imported.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_installed = False
_lock = threading.Lock()


class _OncePerTransaction:
    """Stands for the `copy` module inside moto's DynamoDB models: while a transaction is
    being applied, a table is deep-copied once; anything else is copied as before."""

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
            found = copies[id(value)] = copy.deepcopy(value, memo)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def during(self, apply: Any) -> Any:
        def transact_write_items(backend: Any, *args: Any, **kwargs: Any) -> Any:
            self._local.copies = {}
            try:
                return apply(backend, *args, **kwargs)
            finally:
                self._local.copies = None

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
