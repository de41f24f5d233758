"""Redis as the tests see it: a snapshot of every key, to prove that nothing was written."""

from __future__ import annotations

from typing import Any

import redis


def snapshot(conn: redis.Redis) -> dict[str, Any]:
    """Every key with its type and content: proves that nothing at all was written."""
    out: dict[str, Any] = {}
    for key in conn.scan_iter(count=1000):
        kind = conn.type(key)
        if kind == "hash":
            out[key] = conn.hgetall(key)
        elif kind == "list":
            out[key] = conn.lrange(key, 0, -1)
        elif kind == "zset":
            out[key] = conn.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            out[key] = conn.xrange(key)
        else:
            out[key] = conn.dump(key)
    return out
