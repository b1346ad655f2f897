"""``actors.infra.atomic_write.packed_transaction``: the bytes redis-py would send for the
same transaction, whatever the arguments (hiredis packs what it takes whole; the rest
goes through redis-py's packing)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from actors.infra.atomic_write import packed_transaction

COMMANDS: list[list[tuple[Any, ...]]] = [
    [("EVAL", "return 0", 2, "{t}:a", "{t}:b", "é-ü", b"\x00\xff", 7, -3, 1.5, 1e-7, "")],
    [("XADD", "{t}:s", "MAXLEN", "~", 1_000_000, "*", "m", "x" * 70_000)],
    [("HSET", "{t}:h", "f", memoryview(b"view")), ("INCR", "{t}:n")],
    [("INCR", "{t}:n"), ("XGROUP CREATE", "{t}:s", "g", "0")],
    [("HSET", "{t}:h", "f", bytearray(b"array"))],
    [],
]


@pytest.mark.parametrize("commands", COMMANDS)
def test_a_transaction_is_packed_to_the_bytes_redis_py_sends(commands: list[tuple[Any, ...]]) -> None:
    connection = redis.Connection()  # type: ignore[no-untyped-call]  # never connects; redis-py leaves it unannotated
    expected = connection.pack_commands([("MULTI",), *commands, ("EXEC",)])  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    assert b"".join(packed_transaction(connection, commands)) == b"".join(expected)
