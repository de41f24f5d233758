"""RQ queue names in one place; every queue uses the JSON serializer."""

from __future__ import annotations

from typing import Any

import redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

CALLS = "calls"  # REST moves of live calls: latency matters
REPORTS = "reports"  # folding events into aggregates
MAINTENANCE = "maintenance"  # queue cleanup, retention, index pruning
ALL_QUEUES = (CALLS, REPORTS, MAINTENANCE)

# Deterministic job ids, where a duplicate job would double the work (or a call's move).
FOLD_JOB_ID = "ivr-reports-fold"  # a burst of flags enqueues at most one pending fold
REBUILD_JOB_ID = "ivr-reports-rebuild"
STANDING_QUEUES_JOB_ID = "twilio-standing-queues"


def redirect_job_id(tag: str, call_sid: str) -> str:
    """One REST move of one call (isolation, a desk move): retried, never doubled."""
    return f"redirect-{tag}-{call_sid}"


def callback_job_id(callback_id: str, attempt: int) -> str:
    """Attempt N of one call back: a duplicate schedule replaces, never doubles."""
    return f"{callback_id}-{attempt}"


class JsonJob(Job):
    """RQ's Job, always with the JSON serializer.

    RQ checks a serializer it is given against its `typing.Protocol` in every Job it makes (17 us on
    Python 3.11, a tenth of a desk flag's job); this class is given none, so RQ takes its default without the
    check, and then sets ours. What it writes to Redis is RQ's own job, read by any RQ worker."""

    def __init__(self, id: str | None = None, connection: redis.Redis | None = None, serializer: object = None):
        if serializer not in (None, JSONSerializer):
            raise ValueError(f"jobs here are JSON (rq.serializers.JSONSerializer), not {serializer!r}")
        super().__init__(id, connection=connection)
        self.serializer = JSONSerializer


def kept_on(connection: redis.Redis, kind: str) -> dict[Any, Any]:
    """A dict of things made for `connection` (queues, prepared jobs), kept on the connection object itself, as
    RQ keeps its server version there: they live and die with it."""
    made: dict[Any, Any] = connection.__dict__.setdefault(f"_ivr_rq_{kind}", {})
    return made


def queue(name: str, connection: redis.Redis) -> Queue:
    """The RQ queue `name` on `connection`, with the project's serializer and a sane default timeout.

    One Queue per connection and name, kept on the connection (RQ keeps its server version there too): a
    Queue holds no state of its own between enqueues, and making one costs another serializer check."""
    if name not in ALL_QUEUES:
        raise ValueError(f"unknown queue {name!r}: one of {', '.join(ALL_QUEUES)}")
    made: dict[str, Queue] = kept_on(connection, "queues")
    found = made.get(name)
    if found is None:
        found = made[name] = Queue(name, connection=connection, serializer=JSONSerializer, default_timeout=120,
                                   job_class=JsonJob)
    return found
