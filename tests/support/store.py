"""Redis as the tests see it: a snapshot of every key, to prove that nothing was written; and the commands the
server ran meanwhile, from its own MONITOR, to count what the app sent without touching the app's client."""

from __future__ import annotations

import secrets
import threading
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


class ServerLog:
    """What the Redis server itself saw while the block ran: every command, as its MONITOR reports it, and how many
    reads it processed (`INFO stats` total_reads_processed: a write of one or more commands that the client sent
    at once, a pipeline, a MULTI or a script, is one read). Nothing on the client is replaced or wrapped.

        with ServerLog(conn) as log:
            ...
        log.sent   # the clients' commands ('EVALSHA ...'), without the ones scripts ran and without our own INFO
        log.reads  # round trips, counted by the server
    """

    def __init__(self, conn: redis.Redis) -> None:
        # the log's own client, on one connection of its own: its commands are left out of `sent`
        self.conn = redis.Redis(connection_pool=redis.ConnectionPool(**conn.connection_pool.connection_kwargs),
                                single_connection_client=True)
        self.marker = "server-log-end-" + secrets.token_hex(8)
        self.entries: list[dict[str, Any]] = []
        self.reads = 0

    def _stats(self) -> int:
        return int(self.conn.info("stats")["total_reads_processed"])

    def __enter__(self) -> ServerLog:
        self._own = str(self.conn.client_info()["addr"])
        self._monitor = self.conn.monitor()  # a connection of its own
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()
        self._before = self._stats()
        return self

    def _follow(self) -> None:
        while True:
            entry = self._monitor.next_command()
            if self.marker in entry["command"]:
                return
            self.entries.append(entry)

    def __exit__(self, *exc: Any) -> None:
        self.reads = self._stats() - self._before - 1  # less the read of that INFO itself
        self.conn.echo(self.marker)  # MONITOR reports in order: once this is seen, everything before it was
        self._thread.join(10)
        self._monitor.__exit__(*exc)
        self.conn.close()
        assert not self._thread.is_alive(), "MONITOR never reported the end marker"

    @property
    def by_client(self) -> list[tuple[str, str]]:
        """(client address, command) of the clients' commands, in the order the server ran them."""
        found = [(f"{e['client_address']}:{e['client_port']}", e["command"]) for e in self.entries
                 if e["client_type"] != "lua"]
        return [(client, command) for client, command in found if client != self._own]

    @property
    def sent(self) -> list[str]:
        return [command for _client, command in self.by_client]
