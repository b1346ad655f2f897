"""The commit script's call as ``actors.owner.store.send_script`` packs it (hiredis, in
one call) against redis-py's own ``send_command`` and its pure-Python packer: the same
bytes on the wire for generated keys and arguments (text of any unicode, empty
strings, separators, many values)."""

from __future__ import annotations

from collections.abc import Callable

import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.connection import PythonRespSerializer

from actors.owner.store import send_script

values = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


class _Wire:
    """A socket that keeps what is sent."""

    def __init__(self) -> None:
        self.sent = bytearray()

    def sendall(self, data: bytes) -> None:
        self.sent += data


def wire_of(send: Callable[[redis.Connection], None]) -> bytes:
    conn = redis.Connection()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    wire = _Wire()
    conn._sock = wire  # type: ignore[assignment]  # a connection that is never opened
    send(conn)
    return bytes(wire.sent)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["EVALSHA", "EVAL"]),
    values,
    st.lists(values, max_size=8),
    st.lists(values, max_size=200),
)
def test_commit_call_is_packed_as_redis_py_packs_it(
    command: str, script: str, keys: list[str], args: list[str]
) -> None:
    packed = wire_of(lambda conn: send_script(conn, command, script, keys, args))

    assert packed.startswith(f"*{3 + len(keys) + len(args)}\r\n".encode())
    call = (command, script, len(keys), *keys, *args)
    assert packed == wire_of(lambda conn: conn.send_command(*call))  # type: ignore[no-untyped-call]  # unannotated
    encoder = redis.Connection().encoder  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
    python_packer = PythonRespSerializer(6000, encoder.encode)
    assert packed == b"".join(python_packer.pack(*call))  # type: ignore[no-untyped-call]  # unannotated
