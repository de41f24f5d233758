"""The flag's second round trip (blocklist/flags.py, _FlagPipeline) answers as redis-py's own pipeline, and its
first round trip (FlagTransaction._send) applies the reply parsers itself. What comes back, values and errors
alike, must be exactly what redis-py gives on the same data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from blocklist.flags import FlagTransaction, _FlagPipeline
from blocklist.rules import Blocklist

Queue = Callable[[Any], None]


def seed(r: redis.Redis) -> None:
    r.flushdb()
    r.hset("t:hash", mapping={"a": "1", "b": "two"})
    r.set("t:text", "hello")
    r.rpush("t:list", "x", "y")


def everyday(p: Any) -> None:
    p.hset("t:hash", "c", "3")
    p.hgetall("t:hash")
    p.set("t:new", "v", ex=60)
    p.set("t:new", "w", nx=True)
    p.get("t:text")
    p.exists("t:text", "t:none")
    p.rpush("t:list", "z")
    p.lrange("t:list", 0, -1)
    p.zadd("t:z", {"m": 1.5})
    p.zscore("t:z", "m")
    p.hincrby("t:hash", "a", 2)
    p.expire("t:hash", 100)
    p.eval("return {1, 'two', {3}}", 0)


def wrong_type(p: Any) -> None:  # a command that fails when Redis runs it: the others still run
    p.set("t:after", "1")
    p.incr("t:hash")
    p.hget("t:hash", "a")


def unknown_command(p: Any) -> None:  # refused by Redis
    p.set("t:never", "1")
    p.execute_command("NO-SUCH-COMMAND", "x")


def run(pipe: Any, queue: Queue, raise_on_error: bool) -> tuple[str, Any]:
    queue(pipe)
    try:
        return "ok", pipe.execute(raise_on_error=raise_on_error)
    except redis.RedisError as exc:
        return type(exc).__name__, str(exc)
    finally:
        pipe.reset()


def answer(value: Any) -> Any:
    """Errors inside a reply list compare by kind and text."""
    if isinstance(value, list | tuple):
        return type(value)(answer(v) for v in value)
    if isinstance(value, Exception):
        return (type(value).__name__, str(value))
    return value


@pytest.mark.parametrize("queue", [everyday, wrong_type, unknown_command])
@pytest.mark.parametrize("raise_on_error", [True, False])
def test_the_flags_pipeline_answers_exactly_as_redis_py_does(redis_conn: redis.Redis, queue: Queue,
                                                            raise_on_error: bool) -> None:
    seed(redis_conn)
    theirs = answer(run(redis_conn.pipeline(transaction=False), queue, raise_on_error))
    after_theirs = sorted(redis_conn.keys("t:*"))
    seed(redis_conn)
    ours_pipe = _FlagPipeline(redis_conn.connection_pool, redis_conn.response_callbacks, False, None)
    ours = answer(run(ours_pipe, queue, raise_on_error))
    assert ours == theirs
    assert sorted(redis_conn.keys("t:*")) == after_theirs
    if queue is everyday:
        assert ours[0] == "ok" and ours[1][1] == {"a": "1", "b": "two", "c": "3"}  # HGETALL parsed as a dict


def test_the_first_round_trip_parses_its_replies_as_redis_py_does(redis_conn: redis.Redis) -> None:
    seed(redis_conn)
    bl = Blocklist(redis_conn)
    reads = [("HGETALL", "t:hash"), ("EXISTS", "t:text"), ("SCRIPT EXISTS", "0" * 40), ("SMEMBERS", "t:none"),
             ("ZSCORE", "t:none", "m")]
    with FlagTransaction(bl, "CA" + "0" * 32) as tx:
        ours = tx._send(reads)
    theirs = [redis_conn.execute_command(*command) for command in reads]
    assert ours == theirs
    assert ours[0] == {"a": "1", "b": "two"} and ours[2] == [False]


def test_an_error_reply_in_the_first_round_trip_takes_its_place(redis_conn: redis.Redis) -> None:
    seed(redis_conn)
    with FlagTransaction(Blocklist(redis_conn), "CA" + "1" * 32) as tx:
        replies = tx._send([("HGETALL", "t:text"), ("GET", "t:text")])
    assert replies[1] == "hello"
    assert isinstance(replies[0], redis.ResponseError) and "WRONGTYPE" in str(replies[0])
