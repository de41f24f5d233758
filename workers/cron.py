"""The periodic jobs, for rq's own cron: `rq cron workers.cron` (one process; workers run separately).

Add a job with one `cron.register(...)` line in the right block below. Cron expressions are in the
cron process's local time; report jobs work out "yesterday" and "last week" in IVR_TIMEZONE, so they
are correct whatever the process's zone.
"""

from __future__ import annotations

from typing import Any

import rq.cron as rq_cron
from rq import Queue, cron
from rq.serializers import JSONSerializer

from workers import calls, reports, restrictions
from workers.queues import MAINTENANCE, REPORTS


class JSONQueue(Queue):
    """rq 3.0's CronJob.enqueue builds a plain Queue (pickle); our workers read JSON, so cron enqueues JSON."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("serializer", JSONSerializer)
        super().__init__(*args, **kwargs)


_current = getattr(rq_cron, "Queue", None)
if not (isinstance(_current, type) and issubclass(_current, Queue)):
    raise RuntimeError("rq.cron no longer enqueues through rq.Queue: review workers/cron.py's JSONQueue")
rq_cron.Queue = JSONQueue  # type: ignore[attr-defined,misc]

FOLD_SECONDS = 10  # reports lag the calls by at most this much (plus the fold itself)
HOLD_CLEANUP_SECONDS = 300
STANDING_QUEUES_SECONDS = 900

# ---- reports ----------------------------------------------------------------------------------------------
# A fold tick that no worker started within its interval expires: the next tick covers it (no pile-up).
cron.register(reports.fold_job, REPORTS, interval=FOLD_SECONDS, ttl=FOLD_SECONDS, result_ttl=0, job_timeout=300,
              name="reports.fold")
cron.register(reports.build_daily_report, REPORTS, cron="20 0 * * *", job_timeout=1800, name="reports.daily")
cron.register(reports.build_weekly_report, REPORTS, cron="40 0 * * 1", job_timeout=1800, name="reports.weekly")

# ---- maintenance ------------------------------------------------------------------------------------------
cron.register(reports.retention_job, MAINTENANCE, cron="30 3 * * *", job_timeout=3600, name="reports.retention")
cron.register(calls.prune_block_index, MAINTENANCE, cron="45 3 * * *", job_timeout=3600, name="blocklist.prune")
# Aged-out feed entries no longer count from the second they age out; this gives their memory back.
cron.register(calls.sweep_feeds, MAINTENANCE, cron="15 * * * *", job_timeout=3600, name="feeds.sweep")
# Contact restrictions due for review go on the review list (never renewed silently); ended ones into the history.
# Every 10 minutes: a restriction comes up for review at most that long after its review date.
cron.register(restrictions.sweep_restrictions, MAINTENANCE, cron="*/10 * * * *", result_ttl=0, job_timeout=300,
              name="restrictions.sweep")

# ---- Twilio upkeep ----------------------------------------------------------------------------------------
# Private hold queues are made per call and Twilio keeps a queue until it is deleted: the empty ones go.
cron.register(calls.cleanup_hold_queues, MAINTENANCE, interval=HOLD_CLEANUP_SECONDS, ttl=HOLD_CLEANUP_SECONDS,
              result_ttl=0, job_timeout=120, name="twilio.hold_queues")
# A queue an agent or supervisor dials must exist at Twilio (else each Dial fails at once): made again if
# someone deleted it in the console.
cron.register(calls.ensure_standing_queues, MAINTENANCE, interval=STANDING_QUEUES_SECONDS,
              ttl=STANDING_QUEUES_SECONDS, result_ttl=0, job_timeout=60, name="twilio.standing_queues")
