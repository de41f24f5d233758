"""Days, weeks and hours in the report time zone; periods and ranges; small parsers of stream ids and fields."""

from __future__ import annotations

import time
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from workers.reports.common import _E164, _FIELD_SAFE


class Clock:
    """Local day, weekday and hour of a ms timestamp in the report zone (cached per 15 minutes)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._cache: dict[int, tuple[str, int, int]] = {}

    def at(self, ts_ms: int) -> tuple[str, int, int]:
        slot = ts_ms // 900_000  # every zone's offset is a multiple of 15 minutes
        hit = self._cache.get(slot)
        if hit is None:
            moment = datetime.fromtimestamp(slot * 900, self.tz)
            hit = (moment.strftime("%Y-%m-%d"), moment.weekday(), moment.hour)
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[slot] = hit
        return hit

    def day_start_ms(self, day: date) -> int:
        return int(datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp() * 1000)

    def today(self, now_ms: int | None = None) -> date:
        return datetime.fromtimestamp((now_ms if now_ms is not None else _now_ms()) / 1000, self.tz).date()

    def iso(self, ts_ms: int) -> str:
        return datetime.fromtimestamp(ts_ms / 1000, self.tz).isoformat(timespec="seconds")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _clean(value: Any, limit: int = 64) -> str:
    return _clean_text(value if isinstance(value, str) else str(value or ""), limit)


@lru_cache(maxsize=65536)
def _clean_text(text: str, limit: int) -> str:
    """Field-safe text ('|' and control characters replaced), cached: event values repeat a lot."""
    return _FIELD_SAFE.sub("/", text.strip())[:limit]


def _line(value: Any) -> str:
    text = str(value or "")
    return text if _E164.match(text) else ""


def prefix_of(number: str) -> str:
    """The range a number belongs to: its digits without the last four (what masking hides)."""
    return number[:-4] if len(number) > 8 else number
