"""Opening and calling hours: 'Mon-Fri 08:00-18:00|Sat 09:00-13:00' in the service's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(?:(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+)?(?P<h1>\d{1,2}):(?P<m1>\d{2})-(?P<h2>\d{1,2}):(?P<m2>\d{2})$")


@dataclass(frozen=True)
class Window:
    days: frozenset[int]
    start: int  # minutes after midnight
    end: int  # exclusive; 1440 = midnight


@dataclass(frozen=True)
class Hours:
    """A weekly schedule; an empty schedule is always open."""

    windows: tuple[Window, ...] = ()
    text: str = ""

    def is_open(self, moment: datetime) -> bool:
        if not self.windows:
            return True
        minute = moment.hour * 60 + moment.minute
        return any(moment.weekday() in w.days and w.start <= minute < w.end for w in self.windows)

    def next_open(self, moment: datetime) -> datetime:
        """`moment` if open, else the start of the next window (within a week)."""
        if self.is_open(moment):
            return moment
        day0 = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        best: datetime | None = None
        for offset in range(0, 8):
            day = day0 + timedelta(days=offset)
            for w in self.windows:
                if day.weekday() not in w.days:
                    continue
                start = day + timedelta(minutes=w.start)
                if start > moment and (best is None or start < best):
                    best = start
            if best is not None:
                return best
        raise ValueError(f"hours {self.text!r} never open")


@lru_cache(maxsize=256)  # the same few schedules are parsed on every call
def parse_hours(text: str) -> Hours:
    """Parse 'Mon-Fri 08:00-18:00|Sat 09:00-13:00' ('08:00-20:00' = every day; '' = always)."""
    windows = []
    for part in (p.strip().lower() for p in text.split("|")):
        if not part:
            continue
        m = _WINDOW.match(part)
        if not m:
            raise ValueError(f"{part!r} is not an hours window: write e.g. 'Mon-Fri 08:00-18:00' or '08:00-20:00'")
        if m["d1"]:
            if m["d1"] not in DAYS or (m["d2"] and m["d2"] not in DAYS):
                raise ValueError(f"{part!r}: days are Mon Tue Wed Thu Fri Sat Sun")
            a, b = DAYS.index(m["d1"]), DAYS.index(m["d2"] or m["d1"])
            days = frozenset(range(a, b + 1)) if a <= b else frozenset([*range(a, 7), *range(0, b + 1)])
        else:
            days = frozenset(range(7))
        start, end = int(m["h1"]) * 60 + int(m["m1"]), int(m["h2"]) * 60 + int(m["m2"])
        if not (0 <= start < end <= 1440) or int(m["m1"]) > 59 or int(m["m2"]) > 59:
            raise ValueError(f"{part!r}: the window must start before it ends, within 00:00-24:00")
        windows.append(Window(days, start, end))
    return Hours(tuple(windows), text)


def parse_time(text: str) -> time:
    h, _, m = text.partition(":")
    return time(int(h), int(m or 0))
