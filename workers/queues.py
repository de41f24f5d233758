"""RQ queue names in one place; every queue uses the JSON serializer."""

from __future__ import annotations

import redis
from rq import Queue
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


def queue(name: str, connection: redis.Redis) -> Queue:
    """An RQ queue with the project's serializer and a sane default timeout."""
    if name not in ALL_QUEUES:
        raise ValueError(f"unknown queue {name!r}: one of {', '.join(ALL_QUEUES)}")
    return Queue(name, connection=connection, serializer=JSONSerializer, default_timeout=120)
