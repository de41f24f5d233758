"""Redis connections: one place decides timeouts, client options and Sentinel discovery."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.exceptions import NoScriptError
from redis.retry import Retry
from redis.sentinel import Sentinel

try:  # redis[hiredis] is a dependency; without it, redis-py's own packer
    from hiredis import pack_command as _pack_command
except ImportError:  # pragma: no cover
    _pack_command = None  # type: ignore[assignment]

SENTINEL_SCHEME = "redis+sentinel"


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RedisWatch:
    """Logs Redis going away and coming back once per change, never once per attempt."""

    def __init__(self, who: str, meanwhile: str = "waiting for it, retrying every 2 s at most",
                 logger: logging.Logger | None = None, after: str = "carrying on") -> None:
        self.who = who
        self.meanwhile = meanwhile
        self.after = after
        self.log = logger or logging.getLogger("ivr.redis")
        self.down_since: float | None = None
        self.during = 0  # events counted while down (e.g. calls let through unscreened)

    @property
    def is_down(self) -> bool:
        return self.down_since is not None

    def down(self, exc: BaseException) -> None:
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.log.warning("%s: Redis unreachable (%s); %s", self.who, describe(exc), self.meanwhile)

    def up(self) -> None:
        if self.down_since is not None:
            during = f" ({self.during} meanwhile)" if self.during else ""
            self.log.warning("%s: Redis reachable again after %.0f s%s; %s", self.who,
                             time.monotonic() - self.down_since, during, self.after)
            self.down_since = None
            self.during = 0


def sentinel_url(sentinels: str, service: str, db: int = 0) -> str:
    """REDIS_SENTINELS ('host:26379,host2:26379') + service name as one URL connect() understands."""
    hosts = [h.strip() for h in sentinels.split(",") if h.strip()]
    for host in hosts:
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"REDIS_SENTINELS entry {host!r}: write host:port, e.g. 10.0.0.5:26379")
    if not service:
        raise ValueError("REDIS_SENTINEL_SERVICE is empty: name the monitored primary, e.g. mymaster")
    return f"{SENTINEL_SCHEME}://{','.join(hosts)}/{service}/{db}"


def _options(socket_timeout: float | None, decode: bool) -> dict[str, object]:
    return {
        "decode_responses": decode,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout if socket_timeout is not None else 5,
        "health_check_interval": 30,
        # A peer that vanished without a reset (a partition, a dead host) is noticed by TCP, not waited on
        # for ever by a client with no read timeout (the RQ worker blocks in BLPOP).
        "socket_keepalive": True,
        # The webhook path must answer within Twilio's 15 s, so no silent retries on it.
        "retry": Retry(NoBackoff(), 0) if socket_timeout is not None else Retry(NoBackoff(), 1),
    }


class Breaker:
    """Fails fast while Redis is known to be unreachable, so a thread never waits out a socket timeout
    that the previous request already waited out (a stalled or stopped Redis, a failover in progress).

    After a timeout (Redis stalled, or its host gone quiet) the breaker opens for `open_seconds`: every
    command on the guarded client raises ConnectionError at once, without touching the network. The
    first command after that tries Redis again; a reply closes the breaker. A refused connection (Redis
    stopped, or restarting) fails at once by itself, so it does not open the breaker: calls are screened
    again the moment Redis answers. One breaker per client role and process.
    """

    def __init__(self, name: str, open_seconds: float = 1.0, watch: RedisWatch | None = None) -> None:
        self.name = name
        self.open_seconds = open_seconds
        self.watch = watch  # told of every failure and of the first reply after one
        self.open_until = 0.0
        self.trips = 0
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self.open_until

    def check(self) -> None:
        """Raise ConnectionError while open (nothing is sent, so nothing is half-written)."""
        if self.open_until and time.monotonic() < self.open_until:
            raise redis.ConnectionError(f"Redis unreachable a moment ago ({self.name} client); "
                                        f"trying again within {self.open_seconds:g} s")

    def trip(self) -> None:
        with self._lock:
            self.open_until = time.monotonic() + self.open_seconds
            self.trips += 1

    def failed(self, exc: BaseException) -> None:
        if isinstance(exc, redis.TimeoutError):
            self.trip()
        if self.watch is not None:
            self.watch.down(exc)

    def close(self) -> None:
        if self.open_until:
            self.open_until = 0.0
        if self.watch is not None and self.watch.down_since is not None:
            self.watch.up()


def _guarded_class(base: type, breaker: Breaker) -> type:
    """`base` (the pool's connection class: TCP, TLS, unix socket or Sentinel-managed) behind `breaker`."""

    class Guarded(base):  # type: ignore[valid-type,misc]
        def connect(self, *args: Any, **kwargs: Any) -> Any:
            breaker.check()
            try:
                return super().connect(*args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                breaker.failed(exc)
                raise

        def send_packed_command(self, *args: Any, **kwargs: Any) -> Any:
            breaker.check()
            try:
                return super().send_packed_command(*args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                breaker.failed(exc)
                raise

        def read_response(self, *args: Any, **kwargs: Any) -> Any:
            try:
                reply = super().read_response(*args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                breaker.failed(exc)
                raise
            breaker.close()
            return reply

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


_PLAIN = (str, bytes, int)  # what hiredis packs to the very bytes redis-py's own encoder writes (bool is not int here)
_fast_classes: dict[type, type] = {}


def _plain(args: tuple[Any, ...]) -> bool:
    """Arguments hiredis.pack_command writes exactly as redis-py would: str (UTF-8), bytes and int; and a command
    name with no space in it (redis-py splits 'CLIENT SETNAME' into two arguments). A str subclass counts when it
    keeps str's own encode (RQ's JobStatus: both write its text); an int subclass never does (redis-py writes an
    IntEnum's repr, hiredis its number)."""
    for arg in args:
        if type(arg) not in _PLAIN and not (isinstance(arg, str) and type(arg).encode is str.encode):
            return False
    first = args[0] if args else b""
    return (" " not in first) if isinstance(first, str) else (not isinstance(first, bytes) or b" " not in first)


def _fast_packing(base: type) -> type:
    """`base` with its commands packed by hiredis in one C call per command.

    redis-py encodes each argument in Python first (about 1.2 µs an argument here): a desk flag's MULTI of about
    150 arguments spent more time being packed than Redis took to run it. Anything but str/bytes/int, or a client
    not encoding UTF-8 strictly, goes through redis-py's own packer unchanged (tests/blocklist/test_store_packing.py
    checks the bytes are the same).
    """
    if _pack_command is None or getattr(base, "_packs_fast", False):
        return base
    if base not in _fast_classes:
        class FastPacking(base):  # type: ignore[valid-type,misc]
            _packs_fast = True

            def _utf8(self) -> bool:
                ok = self.__dict__.get("_utf8_strict")
                if ok is None:
                    encoder = self.encoder
                    ok = self.__dict__["_utf8_strict"] = (
                        encoder.encoding.lower().replace("-", "") == "utf8" and encoder.encoding_errors == "strict")
                return bool(ok)

            def pack_command(self, *args: Any) -> Any:
                if _plain(args) and self._utf8():
                    return [_pack_command(args)]
                return super().pack_command(*args)

            def pack_commands(self, commands: Any) -> Any:
                commands = [cmd if type(cmd) is tuple else tuple(cmd) for cmd in commands]
                if self._utf8() and all(_plain(cmd) for cmd in commands):
                    return [b"".join([_pack_command(cmd) for cmd in commands])]
                return super().pack_commands(commands)

        FastPacking.__name__ = FastPacking.__qualname__ = f"FastPacking{base.__name__}"
        _fast_classes[base] = FastPacking
    return _fast_classes[base]


def guard(client: redis.Redis, breaker: Breaker) -> redis.Redis:
    """Put `client`'s connections behind `breaker` (before its first connection is made)."""
    pool = client.connection_pool
    pool.connection_class = _guarded_class(pool.connection_class, breaker)
    return client


def connect(url: str, socket_timeout: float | None = None, decode: bool = True,
            breaker: Breaker | None = None) -> redis.Redis:
    """A client for `url` (redis://, rediss://, unix:// or redis+sentinel://hosts/service/db); with a
    `breaker`, it fails fast for a moment after Redis stopped answering (see Breaker)."""
    if breaker is not None:
        return guard(connect(url, socket_timeout, decode), breaker)
    if not url:
        raise ValueError("no Redis URL: set REDIS_URL, or start the service with `ivr serve` (embedded Redis)")
    if url.startswith(SENTINEL_SCHEME + "://"):
        parts = urlsplit(url)
        hosts = [(h.rpartition(":")[0], int(h.rpartition(":")[2])) for h in parts.netloc.split("@")[-1].split(",")]
        path = [p for p in parts.path.split("/") if p]
        service, db = (path + ["mymaster", "0"])[:2] if len(path) < 2 else path[:2]
        password = unquote(parts.password) if parts.password else None
        sentinel = Sentinel(hosts, socket_timeout=socket_timeout or 5, sentinel_kwargs={"socket_timeout": 1})
        client: redis.Redis = sentinel.master_for(service, db=int(db), password=password,
                                                  **_options(socket_timeout, decode))  # type: ignore[arg-type]
    else:
        client = redis.Redis.from_url(url, **_options(socket_timeout, decode))  # type: ignore[arg-type]
    pool = client.connection_pool
    pool.connection_class = _fast_packing(pool.connection_class)
    return client


class FastScript:
    """A registered script run with EVALSHA straight on a connection of the client's pool: the screen's path.

    The screen runs once per call. redis-py's generic command path (re-checking every argument, a retry
    closure, timing hooks, reply callbacks, Script's own wrapper) costs about 15 µs of client CPU per
    call, a third of the round trip. This keeps what matters of it: the client's connection pool
    (Sentinel discovery, health checks, reconnects), its retry policy, and a reload when Redis has lost
    the script (a restart, a failover): the script then runs through redis-py's Script, which loads it.

    Each thread keeps the pool's connection it last used (a web thread screens one call at a time) instead of
    taking one from the pool and giving it back on every call: the checkout and return (the pool's lock, its
    bookkeeping, and a connect() that finds the socket open) were a sixth of the screen's client CPU under load.
    The check that matters is kept before every call, as the pool makes it: a socket with something to read
    (Redis closed it: a restart, a failover, CLIENT KILL; or a stray reply) is closed and opened again first,
    so the call is screened. The connection goes back to the pool when its thread ends or this script object
    goes; a forked child opens its own.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.pool = script.registered_client.connection_pool
        self._threads = threading.local()

    def _connection(self) -> Any:
        held: _Held | None = getattr(self._threads, "held", None)
        if held is None or held.pid != os.getpid():
            held = self._threads.held = _Held(self.pool)  # get_connection() checks the socket itself
            return held.connection
        conn = held.connection
        try:  # ConnectionPool.get_connection's own check, without the checkout
            if conn.can_read():
                raise redis.ConnectionError("Connection has data")
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            conn.disconnect()
            conn.connect()
            if conn.can_read():
                raise redis.ConnectionError("Connection not ready") from None
        return conn

    def __call__(self, keys: list[str], args: list[Any]) -> Any:
        command = ("EVALSHA", self.script.sha, len(keys), *keys, *args)
        conn = self._connection()
        try:
            packed = [_pack_command(command)] if _pack_command is not None else conn.pack_command(*command)
            return conn.retry.call_with_retry(lambda: _send_and_read(conn, packed), lambda _error: conn.disconnect())
        except NoScriptError:
            pass
        finally:
            if getattr(conn, "should_reconnect", _never)():  # redis-py 8: the server announced a move
                conn.disconnect()
        return self.script(keys=keys, args=args)


class _Held:
    """One thread's connection out of a pool, given back when the thread's storage (or its FastScript) goes."""

    __slots__ = ("pool", "connection", "pid")

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection = pool.get_connection()

    def __del__(self) -> None:
        if self.pid == os.getpid():  # never a connection a parent process opened
            with contextlib.suppress(Exception):  # a pool closed or reset meanwhile: nothing to give back
                self.pool.release(self.connection)


def _never() -> bool:
    return False


def _send_and_read(conn: Any, packed: list[bytes]) -> Any:
    conn.send_packed_command(packed)
    return conn.read_response()


AOF_FLUSH_TIMEOUT_S = 3.0  # Redis postpones an AOF write by at most 2 s while a slow fsync runs


def aof_written(connection: Any, timeout_s: float = AOF_FLUSH_TIMEOUT_S) -> bool:
    """Wait until Redis has handed its AOF buffer to the OS, so the writes made so far survive a
    SIGKILL of Redis (a host crash can still lose the last second: appendfsync everysec).

    With everysec Redis may answer a write while its AOF buffer waits for a slow background fsync;
    an empty buffer after our write means our write is in the file. True also when AOF is off.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if hasattr(connection, "send_command"):
            connection.send_command("INFO", "persistence")
            info = connection.read_response()
        else:
            info = connection.execute_command("INFO", "persistence")
        text = info.decode() if isinstance(info, bytes) else str(info) if not isinstance(info, dict) else ""
        fields = info if isinstance(info, dict) else dict(
            line.split(":", 1) for line in text.splitlines() if ":" in line)
        if str(fields.get("aof_enabled", "0")) != "1" or int(fields.get("aof_buffer_length", 0) or 0) == 0:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def parse_aof_info(response: Any, **_options: Any) -> dict[str, str]:
    """The aof_* fields of an `INFO persistence` reply, as text: all aof_written_before_reply reads. (redis-py's
    parse_info turns every field of every section into numbers: 28 µs of a desk flag's CPU; this takes 8.)"""
    if isinstance(response, bytes):
        response = response.decode("utf-8", "replace")
    return dict(line.split(":", 1) for line in response.split("\r\n") if line.startswith("aof_") and ":" in line)


def aof_written_before_reply(info: dict[str, Any]) -> bool:
    """True when an `INFO persistence` taken right after some writes, in the same batch, shows that Redis
    writes its AOF buffer to the OS before it sends that batch's replies (so no later check is needed).

    Redis writes the buffer just before it answers the clients of an event-loop turn; the one exception
    (everysec) is a background fsync still running, when it postpones the write by up to 2 s. So: no AOF,
    or no fsync pending, no rewrite under way or scheduled (its end starts an fsync) and the last write
    went through. Anything else is "not sure", and the caller polls with aof_written as before.
    """
    if str(info.get("aof_enabled", "0")) != "1":
        return True
    return (str(info.get("aof_pending_bio_fsync", "1")) == "0" and str(info.get("aof_rewrite_in_progress", "1")) == "0"
            and str(info.get("aof_rewrite_scheduled", "1")) == "0" and info.get("aof_last_write_status") == "ok")


class AckPipeline(redis.client.Pipeline):
    """A pipeline whose writes, before its connection goes back to the pool, are (1) in the AOF file
    and (2) acknowledged by `replicas` replicas (WAIT only covers writes made on its own connection).

    A pipeline that ends with `INFO persistence` (see aof_written_before_reply) and sets `aof_in_batch`
    from its reply saves the round trip of the AOF check when that reply already settles it.
    """

    replicas = 0
    timeout_ms = 500
    acknowledged: int | None = None
    aof_ok: bool | None = None
    aof_in_batch = False
    _ack_due = False

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        self._ack_due = bool(self.command_stack)
        return super().execute(raise_on_error)  # type: ignore[no-any-return]

    def reset(self) -> None:
        if self._ack_due and self.connection is not None:
            self._ack_due = False
            try:
                self.aof_ok = True if self.aof_in_batch else aof_written(self.connection)
                if self.replicas > 0:
                    self.connection.send_command("WAIT", self.replicas, self.timeout_ms)
                    self.acknowledged = int(self.connection.read_response())
            except redis.RedisError:
                self.acknowledged = -1
        self.aof_in_batch = False
        super().reset()


def ack_pipeline(connection: redis.Redis, replicas: int, timeout_ms: int, transaction: bool = True) -> AckPipeline:
    """A pipeline on `connection` whose writes wait for `replicas` replicas (none: a plain pipeline)."""
    pipe = AckPipeline(connection.connection_pool, connection.response_callbacks, transaction, None)
    pipe.replicas, pipe.timeout_ms = replicas, timeout_ms
    return pipe


def describe_url(url: str) -> str:
    """A Redis URL fit to print: its password replaced by ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
