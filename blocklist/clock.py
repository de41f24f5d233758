"""The service's clock: milliseconds since the epoch, and the simulated time of a demo request."""

from __future__ import annotations

import time
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from babel.dates import format_datetime, format_timedelta

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


# ---- time as people read it (the desk, the command line, the printable report) ------------------------
# One way everywhere: '5 Dec 2026, 14:01 SAST', in the service's time zone (IVR_TIMEZONE) with the zone
# named, through babel's CLDR patterns so the desk's languages get their own month names and order.
# Exports and the API keep ISO 8601 with an offset (format_time above).

def as_datetime(ms: int, zone: tzinfo = UTC) -> datetime:
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(zone)


def human_time(ms: Any, zone: tzinfo = UTC, *, seconds: bool = False, locale: str = "en",
               zone_name: bool = True) -> str:
    """'5 Dec 2026, 14:01 SAST' ('' for nothing): the one format people read times in. zone_name=False
    leaves the zone out, for a column whose heading names it once (the printable report's withheld log)."""
    try:
        value = int(ms)
    except (TypeError, ValueError):
        return ""
    if value <= 0:
        return ""
    moment = as_datetime(value, zone)
    text = format_datetime(moment, "d MMM y, HH:mm:ss" if seconds else "d MMM y, HH:mm", locale=locale)
    return f"{text} {moment.tzname()}" if zone_name else text


def relative_time(ms: Any, now: int | None = None, *, locale: str = "en") -> str:
    """'in 3 days', '2 hours ago' (babel's words, rounded as people say it; '' for nothing)."""
    try:
        value = int(ms)
    except (TypeError, ValueError):
        return ""
    if value <= 0:
        return ""
    delta = timedelta(milliseconds=value - (now if now is not None else now_ms()))
    return format_timedelta(delta, add_direction=True, threshold=1.0, locale=locale)
