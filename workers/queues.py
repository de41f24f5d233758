"""RQ queue names in one place; every queue uses the JSON serializer."""

from __future__ import annotations

import redis
from rq import Queue
from rq.serializers import JSONSerializer

CALLS = "calls"  # REST moves of live calls: latency matters
REPORTS = "reports"  # folding events into aggregates
MAINTENANCE = "maintenance"  # queue cleanup, retention, index pruning
ALL_QUEUES = (CALLS, REPORTS, MAINTENANCE)


def queue(name: str, connection: redis.Redis) -> Queue:
    """An RQ queue with the project's serializer and a sane default timeout."""
    if name not in ALL_QUEUES:
        raise ValueError(f"unknown queue {name!r}: one of {', '.join(ALL_QUEUES)}")
    return Queue(name, connection=connection, serializer=JSONSerializer, default_timeout=120)
