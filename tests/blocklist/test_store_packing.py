"""Our Redis clients pack commands with hiredis in one C call (blocklist/store.py, _fast_packing) instead of
redis-py's per-argument Python encoder. The bytes on the wire must be exactly redis-py's, for every argument
type redis-py accepts, and anything the fast path does not know must take redis-py's own path."""

from __future__ import annotations

import enum
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.connection import Connection
from rq.job import JobStatus

from blocklist.store import _fast_packing, connect

FastConnection = _fast_packing(Connection)

words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
plain_args = st.one_of(words, st.binary(max_size=40), st.integers(min_value=-(2**70), max_value=2**70))


class Level(enum.IntEnum):  # redis-py writes an IntEnum's repr ("<Level.HIGH: 2>"), hiredis its number
    HIGH = 2


class Shouting(str):  # a str subclass with its own encode: redis-py calls it, so must the packer
    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return str.encode(self.upper(), encoding, errors)


# RQ writes JobStatus (a str Enum) into its job hashes: its text goes on the wire, from either packer
enum_args = st.sampled_from([*JobStatus, Level.HIGH, Shouting("quiet")])
other_args = st.one_of(st.booleans(), st.floats(allow_nan=False), st.just(memoryview(b"view")), enum_args)
names = st.sampled_from(["GET", "HSET", "EVALSHA", "CLIENT SETNAME", b"SET", b"SCRIPT EXISTS"])
commands = st.tuples(names, st.lists(st.one_of(plain_args, other_args), max_size=12)).map(
    lambda c: (c[0], *c[1]))


def wire(packed: list[Any]) -> bytes:
    return b"".join(bytes(part) for part in packed)


@settings(max_examples=300, deadline=None)
@given(commands)
def test_one_command_packs_to_the_same_bytes_as_redis_py(command: tuple[Any, ...]) -> None:
    ours, theirs = FastConnection(), Connection()
    try:
        expected = wire(theirs.pack_command(*command))
    except redis.DataError:  # redis-py refuses it (a bool): so must we
        with pytest.raises(redis.DataError):
            ours.pack_command(*command)
        return
    assert wire(ours.pack_command(*command)) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(commands, min_size=1, max_size=8))
def test_a_pipeline_packs_to_the_same_bytes_as_redis_py(batch: list[tuple[Any, ...]]) -> None:
    ours, theirs = FastConnection(), Connection()
    try:
        expected = wire(theirs.pack_commands(batch))
    except redis.DataError:
        with pytest.raises(redis.DataError):
            ours.pack_commands(batch)
        return
    assert wire(ours.pack_commands(batch)) == expected


def test_a_client_that_does_not_write_utf8_strictly_keeps_redis_pys_packer() -> None:
    latin = FastConnection(encoding="latin-1")
    assert wire(latin.pack_command("SET", "k", "café")) == wire(Connection(encoding="latin-1").pack_command(
        "SET", "k", "café"))
    assert "café".encode("latin-1") in wire(latin.pack_command("SET", "k", "café"))


def test_every_client_we_make_packs_fast_and_round_trips_on_a_real_redis(redis_url: str) -> None:
    for decode in (True, False):
        client = connect(redis_url, decode=decode)
        assert getattr(client.connection_pool.connection_class, "_packs_fast", False)
        value = "Zoë 🙂 +14155550123"
        client.set("packing:text", value)
        client.hset("packing:hash", mapping={"n": 12, "bytes": b"\x00\xff", "text": value})
        pipe = client.pipeline()
        pipe.get("packing:text").hget("packing:hash", "n").zadd("packing:z", {"a": 1.5})  # a float: redis-py's path
        got = pipe.execute()
        text, n = (got[0], got[1]) if decode else (got[0].decode(), got[1].decode())
        assert (text, n, got[2]) == (value, "12", 1)
        raw = connect(redis_url, decode=False).hgetall("packing:hash")
        assert raw == {b"n": b"12", b"bytes": b"\x00\xff", b"text": value.encode()}
        client.delete("packing:text", "packing:hash", "packing:z")
