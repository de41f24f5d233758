"""The service's clock: milliseconds since the epoch, and the simulated time of a demo request."""

from __future__ import annotations

import time
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# A demo/simulation clock for one request (IVR_SIMULATION_CLOCK): off in production, where it is never set.
clock_override: ContextVar[int | None] = ContextVar("ivr_clock_override", default=None)


def now_ms() -> int:
    """Milliseconds since the epoch: the wall clock, or the simulated time of the current request."""
    override = clock_override.get()
    return override if override is not None else int(time.time() * 1000)


def format_time(ms: int | None) -> str:
    """ISO 8601 in UTC with milliseconds ('' for None): exact, so an export imports back unchanged."""
    if ms is None:
        return ""
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
