"""The long-running RQ processes (`ivr worker`, `ivr cron`), made to outlive Redis.

rq's own loops quit on most Redis errors ("found an unhandled exception, quitting...") and its cron
process exits on the first one. A call centre's line cannot wait for an operator to notice: here a
process that cannot reach Redis waits for it with a short backoff, says so once when Redis goes and
once when it comes back, and carries on where it was. Nothing here imports Flask.

Timings are tightened for a phone line, where a redirect stuck in a dead worker leaves a harasser on
the agent's line: an abandoned job (its worker died mid-job) is retried within about 20 s instead of
rq's 10 minutes, and a scheduler lock left by a dead worker is taken over within about 15 s, not 61.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import uuid4

import redis
import requests
from rq import Worker
from rq.cron import CronScheduler
from rq.job_lifecycle import call_exception_handlers
from rq.scheduler import RQScheduler
from rq.scripts import ACQUIRE_OR_REFRESH_LOCK_SCRIPT, acquire_or_refresh_lock
from rq.serializers import JSONSerializer
from rq.utils import now, utcformat

from blocklist import keys
from blocklist.store import RedisWatch, connect, describe

log = logging.getLogger("ivr.process")

# BusyLoadingError (Redis replaying its AOF after a restart) is a ConnectionError too.
REDIS_DOWN: tuple[type[BaseException], ...] = (redis.ConnectionError, redis.TimeoutError, OSError)
# A job that could not reach Twilio's REST API (or Redis): retried by its own schedule, logged in one line.
OUTSIDE_DOWN: tuple[type[BaseException], ...] = (requests.ConnectionError, requests.Timeout, *REDIS_DOWN)
BACKOFF_CAP_S = 2.0  # Redis is polled at least this often while it is away: a PING is nothing to it
JOB_MONITORING_S = 5  # how often a running job's worker proves it is alive
HEARTBEAT_SLACK_S = 10  # rq allows 60 s; two missed proofs are enough here
MAINTENANCE_S = 5  # how often a worker looks for abandoned jobs (and a free scheduler lock)
WORKER_TTL_S = 20  # an idle worker wakes every WORKER_TTL_S - 15 s, so maintenance really runs
SCHEDULER_RETRY_S = 15  # a scheduler that missed a queue's lock asks again this often (rq: 10 min)
OUTSIDE_QUIET_S = 600  # a job that cannot reach Twilio says so once per cause in this time, then at debug
ALIVE_FILE = "ivr-{role}.alive"  # in the temp folder, touched by each loop: docker compose's health check


def outside_problem(exc: BaseException) -> str:
    """'cannot reach Twilio's REST API at 127.0.0.1:8899 (connection refused)': short, for one log line."""
    if isinstance(exc, requests.RequestException):
        request = getattr(exc, "request", None)
        where = f" at {urlsplit(request.url).netloc}" if request is not None and request.url else ""
        why = "timed out" if isinstance(exc, requests.Timeout) else \
            "connection refused" if "refused" in str(exc).lower() else type(exc).__name__
        return f"cannot reach Twilio's REST API{where} ({why})"
    return f"cannot reach Redis ({describe(exc)})"


def alive_path(role: str) -> Path:
    return Path(tempfile.gettempdir()) / ALIVE_FILE.format(role=role)


def touch_alive(role: str) -> None:
    """Prove this process's loop still turns (even while Redis is away: waiting is not hanging)."""
    with contextlib.suppress(OSError):
        alive_path(role).touch()


def backoff(attempt: int) -> float:
    return float(min(BACKOFF_CAP_S, 0.25 * 2**attempt))


def wait_for_redis(conn: redis.Redis, watch: RedisWatch, stopping: Callable[[], bool], role: str = "") -> bool:
    """Block until Redis answers PING (True) or a stop is requested (False)."""
    attempt = 0
    while not stopping():
        if role:
            touch_alive(role)
        try:
            conn.ping()
        except REDIS_DOWN as exc:
            watch.down(exc)
            _sleep(backoff(attempt), stopping)
            attempt += 1
            continue
        watch.up()
        return True
    return False


def _sleep(seconds: float, stopping: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not stopping() and time.monotonic() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


class QuietOutage(logging.Filter):
    """rq logs every reconnect attempt, with a traceback when a loop quits: keep the first line of an
    outage, as one line, and drop the repeats (RedisWatch says when Redis is back)."""

    def __init__(self, watch: RedisWatch, role: str = "") -> None:
        super().__init__()
        self.watch = watch
        self.role = role

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        redis_exc = isinstance(exc, REDIS_DOWN)
        retrying = isinstance(record.msg, str) and "could not connect to Redis" in record.msg
        if not (redis_exc or retrying):
            return True
        if self.role:
            touch_alive(self.role)  # rq's own reconnect loop is turning: waiting is not hanging
        if exc is None:
            exc = next((a for a in (record.args or ()) if isinstance(a, BaseException)), None)  # type: ignore[union-attr]
        self.watch.down(exc if exc is not None else redis.ConnectionError(record.getMessage()))
        return False  # RedisWatch.down() said it, once, in one line


SCHEDULER_LOCK_S = 10  # rq holds a scheduler lock for 61 s; a dead scheduler's then blocks retries that long


class LineScheduler(RQScheduler):
    """rq's scheduler (retries, callbacks at their time) living through Redis outages and failovers.

    Its locks are taken and refreshed (every second) for SCHEDULER_LOCK_S instead of rq's 61 s, each in one
    command: a worker that died with its scheduler hands scheduling to another within seconds, so the retry of
    a redirect it left half-done is not held back for a minute. A worker whose rq loop ended (a job finished
    while Redis was away) starts its next loop's scheduler under the same name (`ivr worker`: one name a
    process), so that scheduler takes back the lock its predecessor could not release, at once.
    """

    redis_url = ""

    @property
    def connection(self) -> redis.Redis:
        # rq rebuilds its client from the connection class alone, which loses Sentinel discovery.
        if self._connection is None:
            self._connection = connect(self.redis_url, socket_timeout=10, decode=False)
        return self._connection  # type: ignore[return-value]

    @property
    def should_reacquire_locks(self) -> bool:
        if self._queue_names == self.acquired_locks:
            return False
        if not self.lock_acquisition_time:
            return True
        return (datetime.now() - self.lock_acquisition_time).total_seconds() > SCHEDULER_RETRY_S

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        """rq's acquire_locks with SCHEDULER_LOCK_S: a lock that is free, or this scheduler's own (by name)."""
        owned = {name for name in self._queue_names
                 if acquire_or_refresh_lock(self.connection, self.get_locking_key(name), self.name,
                                            SCHEDULER_LOCK_S) in ("acquired", "refreshed")}
        self._scheduled_job_registries = []
        self._acquired_locks = owned
        self.lock_acquisition_time = datetime.now()  # type: ignore[assignment]
        if owned and auto_start and (not self._process or not self._process.is_alive()):
            self.start()
        return owned

    def heartbeat(self) -> None:
        """rq's heartbeat (one round trip) with the locks refreshed for SCHEDULER_LOCK_S; a lock another
        scheduler took meanwhile is dropped, so its queue is scheduled once."""
        self.last_heartbeat = now()
        names = sorted(self._acquired_locks)
        script = self.connection.register_script(ACQUIRE_OR_REFRESH_LOCK_SCRIPT)
        with self.connection.pipeline() as pipe:
            pipe.hset(self.key, "last_heartbeat", utcformat(self.last_heartbeat))
            pipe.expire(self.key, self.interval + 60)
            for name in names:
                script(keys=[self.get_locking_key(name)], args=[self.name, SCHEDULER_LOCK_S], client=pipe)
            outcomes = pipe.execute()[2:]
        lost = {name for name, outcome in zip(names, outcomes, strict=True) if outcome == 0}
        if lost:
            self.log.warning("Scheduler locks for %s were taken over by another scheduler", ", ".join(sorted(lost)))
            self._acquired_locks -= lost
            self._scheduled_job_registries = []

    def work(self) -> None:
        self._install_signal_handlers()
        watch = RedisWatch("rq scheduler")
        born = False
        while not self._stop_requested:
            try:
                if not born:
                    self.register_birth()
                    born = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                self.enqueue_scheduled_jobs()
                watch.up()
            except REDIS_DOWN as exc:
                watch.down(exc)
            time.sleep(self.interval)
        try:
            self.stop()  # releases the locks at once, so a restarted worker schedules without waiting
        except REDIS_DOWN:
            log.warning("rq scheduler: stopped without releasing its locks (Redis unreachable); they expire "
                        "within %d s, or this worker's next scheduler takes them back", SCHEDULER_LOCK_S)


class LineWorker(Worker):
    """rq's forking Worker with a phone line's timings and a scheduler that outlives Redis outages."""

    redis_url = ""
    scheduler_name = ""  # the same for every loop of one `ivr worker` process (run_worker); empty: rq's own
    max_connection_wait_time = BACKOFF_CAP_S  # rq's reconnect backoff grows to 60 s otherwise

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_monitoring_interval", JOB_MONITORING_S)
        kwargs.setdefault("maintenance_interval", MAINTENANCE_S)
        kwargs.setdefault("worker_ttl", WORKER_TTL_S)
        kwargs.setdefault("serializer", JSONSerializer)
        super().__init__(*args, **kwargs)
        self.watch: RedisWatch | None = None

    def get_heartbeat_ttl(self, job: Any, working_time: float = 0.0) -> int:
        """How long a started job may go without a proof of life before it counts as abandoned."""
        if job.timeout and job.timeout > 0:
            return int(min(job.timeout - working_time, self.job_monitoring_interval)) + HEARTBEAT_SLACK_S
        return self.job_monitoring_interval + HEARTBEAT_SLACK_S

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        touch_alive("worker")  # first: during an outage rq's heartbeat raises, and the loop still turns
        super().heartbeat(*args, **kwargs)
        if self.watch is not None:
            self.watch.up()

    def handle_exception(self, job: Any, *exc_info: Any) -> None:
        """A job that could not reach Twilio or Redis is a state of the world, not a bug: one line (once
        per job kind and cause every OUTSIDE_QUIET_S), its traceback at debug; anything else as rq logs it."""
        exc = exc_info[1]
        if not isinstance(exc, OUTSIDE_DOWN):
            super().handle_exception(job, *exc_info)
            return
        try:
            func = str(job.func_name).rsplit(".", 1)[-1]
        except Exception:  # a job that cannot be read: rq's own handling says so
            super().handle_exception(job, *exc_info)
            return
        what = outside_problem(exc)
        first = True
        with contextlib.suppress(*REDIS_DOWN):
            first = bool(self.connection.set(keys.said(f"{func}:{type(exc).__name__}"), "1", nx=True,
                                             ex=OUTSIDE_QUIET_S))
        log.log(logging.WARNING if first else logging.DEBUG, "job %s: %s; it runs again by its own retry or "
                "schedule%s", func, what, "" if isinstance(exc, REDIS_DOWN) and not isinstance(
                    exc, requests.RequestException) else " (is TWILIO_API_BASE_URL right and reachable from here?)")
        log.debug("job %s failed", job.id, exc_info=exc_info)
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def _start_scheduler(self, burst: bool = False, logging_level: Any = "INFO", date_format: Any = None,
                         log_format: Any = None) -> None:
        kwargs: dict[str, Any] = {"logging_level": logging_level if logging_level is not None else self.log.level}
        if date_format is not None:
            kwargs["date_format"] = date_format
        if log_format is not None:
            kwargs["log_format"] = log_format
        scheduler = LineScheduler(self.queues, connection=self.connection, serializer=self.serializer,
                                  name=self.scheduler_name or None, **kwargs)
        scheduler.redis_url = self.redis_url
        self.scheduler = scheduler
        scheduler.acquire_locks()
        if not scheduler.acquired_locks:
            return  # another worker schedules; maintenance asks again every MAINTENANCE_S
        if burst:
            try:
                scheduler.register_birth()
                scheduler.enqueue_scheduled_jobs()
            finally:
                scheduler.release_locks()
                scheduler.register_death()
        else:
            scheduler.start()


class _Stop:
    """SIGINT/SIGTERM between rq's own loops (rq installs its handlers while it works)."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, *_: object) -> None:
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def run_worker(redis_url: str, queues: list[str], burst: bool = False,
               on_start: Callable[[], None] | None = None, rq_log_level: str = "WARNING") -> None:
    """`ivr worker`: work the queues until stopped, across any number of Redis outages."""
    watch = RedisWatch("worker")
    logging.getLogger("rq.worker").addFilter(QuietOutage(watch, role="worker"))
    stop = _Stop()
    stop.install()
    # No read timeout (rq blocks in BLPOP for its dequeue timeout); connect() adds TCP keepalives and a
    # PING before reusing a connection idle for 30 s, so a primary that vanished is noticed.
    conn = connect(redis_url, socket_timeout=None, decode=False)
    scheduler_name = uuid4().hex  # every loop's scheduler: it takes back the lock a loop's end left behind
    started = False
    while not stop():
        if not wait_for_redis(conn, watch, stop, role="worker"):
            break
        if not started and on_start is not None:
            _run_start_hook(on_start)
            started = True
        worker = LineWorker(queues, connection=conn)
        worker.redis_url = redis_url
        worker.scheduler_name = scheduler_name
        worker.watch = watch
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level=rq_log_level)
        except REDIS_DOWN as exc:  # rq's teardown needs Redis too
            watch.down(exc)
        except Exception as exc:  # rq's teardown after a failover (a half-read pipeline): one line, go on
            log.warning("worker: rq's loop ended with %s", describe(exc))
            log.debug("worker: rq's loop ended", exc_info=True)
        stop.install()  # rq's handlers are gone with its loop
        if burst or worker._stop_requested or worker._shutdown_requested_date is not None:
            break  # Ctrl-C / SIGTERM reached rq's handler while it worked
        if not watch.is_down:
            log.warning("worker: rq's loop ended unexpectedly; starting a new one")
            _sleep(1.0, stop)


def _run_start_hook(hook: Callable[[], None]) -> None:
    try:
        hook()
    except Exception as exc:  # upkeep at start never keeps a worker from working
        log.warning("start-up task %s failed (%s); it is retried by its own schedule", getattr(hook, "__name__", hook),
                    describe(exc))


class LineCron(CronScheduler):
    """rq's cron living through Redis outages: a job due while Redis was away is enqueued when it is back."""

    def run_forever(self, stopping: Callable[[], bool]) -> None:
        watch = RedisWatch("cron")
        born = False
        attempt = 0
        while not stopping():
            touch_alive("cron")
            try:
                if not born:
                    self.register_birth()
                    born = True
                if self.enqueue_jobs():
                    self.save()
                self.heartbeat()
                watch.up()
                attempt = 0
                pause = self.calculate_sleep_interval()
            except REDIS_DOWN as exc:
                watch.down(exc)
                pause = backoff(attempt)
                attempt += 1
            _sleep(pause, stopping)
        with contextlib.suppress(*REDIS_DOWN):  # else the registry entry expires by itself
            self.register_death()


def run_cron(redis_url: str, config: str, on_start: Callable[[], None] | None = None,
             rq_log_level: str = "WARNING") -> None:
    """`ivr cron`: the one rq cron process, across any number of Redis outages."""
    stop = _Stop()
    stop.install()
    conn = connect(redis_url, socket_timeout=10, decode=False)
    cron = LineCron(connection=conn, logging_level=rq_log_level)
    cron.load_config_from_file(config)
    cron.log.info("cron: %d periodic jobs from %s", len(cron.get_jobs()), config)
    if on_start is not None and wait_for_redis(conn, RedisWatch("cron"), stop):
        _run_start_hook(on_start)
    cron.run_forever(stop)
