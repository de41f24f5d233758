"""Harassment reports: fold the event stream into aggregates exactly once, rebuild, retain, erase, query.

Exactly once under at-least-once delivery: a fold reads the events after the cursor stored in
`ivr:agg:state`, computes every increment of the batch in Python, and applies them together with the
new cursor in one MULTI/EXEC guarded by WATCH on that state hash. Every other writer of aggregates
(rebuild, erasure, retention) changes the state hash in its own transaction, so a concurrent or
replayed fold aborts and starts again from the cursor it then reads: no event is counted twice or lost.

Reports read only the pre-folded buckets (per day, month and year), never the raw stream.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
import logging
import os
import re
import time
import uuid
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis
from rq.exceptions import DuplicateJobError

from blocklist import keys
from blocklist.csvio import guard_cell
from blocklist.events import audit
from blocklist.keys import Agg as rk
from blocklist.numbers import WITHHELD, mask, normalize
from blocklist.parse import parse_shifts
from blocklist.settings import Settings
from blocklist.text import clean_text
from workers import queues
from workers.queues import FOLD_JOB_ID, REBUILD_JOB_ID

log = logging.getLogger("ivr.reports")
# A decode_responses=True client: its replies are str, which redis-py's annotations (bytes | str) cannot say.
Store = Any

DAY_MS = 86_400_000
RETURN_DAYS = (1, 7, 30)  # deterrence: did the caller call again within this many days
EXPOSURES = ("isolation", "reject", "linefault", "hangup")  # treatments whose effect is measured
# High-volume event types that expire with the retention window; every other type is also copied into
# the long-term stream (unknown future types too: kept is the safe default). A call's status is kept
# when the call was flagged or isolated (its duration belongs in the evidence pack).
EXPIRING = ("call", "overflow")
TRIM_MARGIN_MS = 3_600_000  # tolerated skew between the app's `ts` and Redis' stream-ID clock
SHORT_STATE_TTL_S = 2 * 86400  # notable-call / call-status markers live this long after their fold
PAUSE_MS = 300_000  # a rebuild pauses incremental folds at most this long while it swaps
DEFAULT_BATCH = 2000
MAX_WATCH_RETRIES = 50
REPORTS = ("frequency", "sources", "offenders", "deterrence", "agents", "withheld", "difficult")
MOVE_TYPES = ("escalate", "warn", "callback", "overflow", "callback_result")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DIMENSIONS = (  # source dimension -> event field (phonenumbers' facts, then Twilio's geography)
    ("region", "region"),
    ("line_type", "line_type"),
    ("carrier", "carrier"),
    ("country", "FromCountry"),
    ("state", "FromState"),
    ("city", "FromCity"),
    ("stir", "StirVerstat"),
)
_E164 = re.compile(r"^\+[1-9][0-9]{4,14}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_FIELD_SAFE = re.compile(r"[|\x00-\x1f]")


# ---- settings ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportSettings:
    """The report settings, read from the environment (the README's settings table lists them)."""

    retention_days: int = 90
    mask_numbers: bool = False
    timezone: str = "UTC"
    shifts: tuple[tuple[str, int, int], ...] = (("night", 22, 6), ("day", 6, 14), ("evening", 14, 22))
    data_dir: Path = Path("var")
    default_region: str = "US"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ReportSettings:
        """The report part of the service's Settings (IVR_EVENT_RETENTION_DAYS, IVR_REPORT_*, IVR_TIMEZONE...)."""

        s = Settings.from_env(environ=environ)
        return cls(
            retention_days=s.event_retention_days,
            mask_numbers=s.report_mask_numbers,
            timezone=s.timezone,
            shifts=parse_shifts(s.report_shifts),
            data_dir=Path(s.data_dir),
            default_region=s.default_region,
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def shift_of(self, hour: int) -> str:
        """Name of the shift a local hour belongs to ('other' when no shift covers it)."""
        for name, start, end in self.shifts:
            if (start <= hour < end) if start < end else (hour >= start or hour < end):
                return name
        return "other"


# ---- time ----------------------------------------------------------------------------------------------
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


# ---- folding -------------------------------------------------------------------------------------------
class Folder:
    """Turns events into counter increments and state changes; pure Python, no Redis I/O."""

    def __init__(self, clock: Clock, det: dict[str, str], *, since_day: str = "", archive: bool = False,
                 notable: set[str] | None = None, statuses: dict[str, str] | None = None) -> None:
        self.clock = clock
        self.det = det  # number -> "kind|ts|line|sid"; "" once resolved (deleted on write)
        self.since_day = since_day  # a rebuild skips frozen days entirely
        self.archive = archive
        self.notable = notable if notable is not None else set()
        self.statuses = statuses if statuses is not None else {}
        self.counts: Counter[tuple[str, str, str, str]] = Counter()  # (family, line, day, field) -> n
        self._sources_seen: Counter[tuple[str, str, tuple[str, ...], str]] = Counter()  # expanded by totals()
        self.withheld: list[tuple[str, str, str, int]] = []  # (line, day, member, ts)
        self.kept: list[tuple[str, dict[str, str]]] = []
        self.det_changed: set[str] = set()
        self.new_notable: set[str] = set()
        self.new_status: dict[str, str] = {}
        self.lines: set[str] = set()
        self.min_day = ""
        self.max_day = ""
        self.folded = 0

    def reset_output(self) -> None:
        """Forget emitted increments (the rebuild flushes per chunk and keeps its state)."""
        self.counts = Counter()
        self._sources_seen = Counter()
        self.withheld = []

    def totals(self) -> Counter[tuple[str, str, str, str]]:
        """Every increment so far: (family, line, day, field) -> n."""
        for (line, day, values, metric), n in self._sources_seen.items():
            for (dim, _name), value in zip(DIMENSIONS, values, strict=True):
                self.counts[(rk.SOURCES, line, day, f"{dim}|{value}|{metric}")] += n
        self._sources_seen = Counter()
        return self.counts

    def add(self, event_id: str, ev: dict[str, str]) -> None:
        ts = _int(ev.get("ts")) or _id(event_id)[0]
        day, weekday, hour = self.clock.at(ts)
        if day < self.since_day:
            return
        self.folded += 1
        if not self.min_day or day < self.min_day:
            self.min_day = day
        if day > self.max_day:
            self.max_day = day
        etype = ev.get("type") or ""
        etype = etype if _TYPE.match(etype) else "other"
        line = _line(ev.get("line"))
        if line:
            self.lines.add(line)
        number = ev.get("number") or ""
        sid = _clean(ev.get("call_sid"))
        self.counts[(rk.COUNTS, line, day, f"ev:{etype}")] += 1
        if etype == "call":
            self._call(ev, ts, day, weekday, hour, line, number, sid)
        elif etype == "flag":
            self._flag(ev, ts, day, weekday, hour, line, number, sid)
        elif etype == "isolation":
            self._isolation(ev, ts, day, weekday, hour, line, number, sid)
        elif etype in MOVE_TYPES:
            self._move(ev, etype, hour, line, day)
        elif etype == "status":
            self.counts[(rk.COUNTS, line, day, f"status:{_clean(ev.get('status')) or 'unknown'}")] += 1
            self.counts[(rk.COUNTS, line, day, "status:seconds")] += max(0, _int(ev.get("duration")))
        if self.archive:
            self._archive(event_id, ev, etype, sid)

    def _sources(self, ev: dict[str, str], line: str, day: str, metrics: tuple[str, ...], withheld: bool) -> None:
        values = tuple(
            "withheld" if withheld and dim in ("region", "line_type", "carrier")
            else _clean(ev.get(name)) or ("none" if dim == "stir" else "unknown")
            for dim, name in DIMENSIONS
        )
        for metric in metrics:  # counted per distinct combination; totals() expands them per dimension
            self._sources_seen[(line, day, values, metric)] += 1

    def _call(self, ev: dict[str, str], ts: int, day: str, wd: int, hour: int, line: str, number: str,
              sid: str) -> None:
        c = self.counts
        treated = ev.get("decision") == "treat"
        rule = _clean(ev.get("rule")) or "none"
        treatment = _clean(ev.get("treatment"))
        withheld = number == WITHHELD
        c[(rk.COUNTS, line, day, f"rule:{rule}")] += 1
        c[(rk.HOURS, line, day, f"{wd}|{hour}|call")] += 1
        self._sources(ev, line, day, ("call", "treat") if treated else ("call",), withheld)
        if withheld:
            c[(rk.COUNTS, line, day, "anon")] += 1
            c[(rk.HOURS, line, day, f"{wd}|{hour}|anon")] += 1
        if treated:
            c[(rk.COUNTS, line, day, "treat")] += 1
            c[(rk.COUNTS, line, day, f"treat:rule:{rule}")] += 1
            c[(rk.COUNTS, line, day, f"treat:{treatment or 'unknown'}")] += 1
            c[(rk.HOURS, line, day, f"{wd}|{hour}|treat")] += 1
            if withheld:
                c[(rk.COUNTS, line, day, "anon:treat")] += 1
        if not _E164.match(number):
            return
        if treated:
            c[(rk.NUM_TREATED, line, day, number)] += 1
            c[(rk.PREFIX_TREATED, line, day, prefix_of(number))] += 1
            if rule == "number":
                c[(rk.COUNTS, line, day, "blocked")] += 1
                c[(rk.NUM_BLOCKED, line, day, number)] += 1
        self._returned(number, ts, sid)
        if treated and treatment in EXPOSURES:
            self._exposed(number, treatment, ts, day, line, sid)

    def _flag(self, ev: dict[str, str], ts: int, day: str, wd: int, hour: int, line: str, number: str,
              sid: str) -> None:
        c = self.counts
        withheld = number == WITHHELD
        agent = _clean(ev.get("agent")) or "unknown"
        c[(rk.COUNTS, line, day, f"via:{_clean(ev.get('via')) or 'unknown'}")] += 1
        c[(rk.HOURS, line, day, f"{wd}|{hour}|flag")] += 1
        c[(rk.AGENTS, line, day, f"{agent}|{hour}")] += 1
        self._sources(ev, line, day, ("flag",), withheld)
        if ev.get("blocked") == "1":
            c[(rk.COUNTS, line, day, "flag:blocked")] += 1
        if withheld:
            c[(rk.COUNTS, line, day, "flag:anon")] += 1
            self.withheld.append((line, day, f"{ts}|{line}|{sid}|{agent}", ts))
        elif _E164.match(number):
            c[(rk.NUM_FLAGS, line, day, number)] += 1
            c[(rk.PREFIX_FLAGS, line, day, prefix_of(number))] += 1

    def _move(self, ev: dict[str, str], etype: str, hour: int, line: str, day: str) -> None:
        """Difficult-caller moves and overflow, per hour and per agent (coaching and relief, not blame)."""
        if etype == "overflow":
            move = f"overflow:{_clean(ev.get('reason')) or 'unknown'}"
        elif etype == "callback_result":
            status = _clean(ev.get("status"))
            if status not in ("done", "failed", "cancelled"):
                return  # only outcomes count; attempts and retries are in the event log
            move = f"callback:{status}"
        else:
            move = etype
        self.counts[(rk.MOVES, line, day, f"{move}|{hour}")] += 1
        if etype in ("escalate", "warn", "callback"):
            agent = _clean(ev.get("agent")) or "unknown"
            self.counts[(rk.MOVES, line, day, f"{move}|agent|{agent}")] += 1

    def _isolation(self, ev: dict[str, str], ts: int, day: str, wd: int, hour: int, line: str, number: str,
                   sid: str) -> None:
        c = self.counts
        c[(rk.COUNTS, line, day, f"iso:{_clean(ev.get('outcome')) or 'unknown'}")] += 1
        c[(rk.COUNTS, line, day, "iso:seconds")] += max(0, _int(ev.get("seconds")))
        c[(rk.HOURS, line, day, f"{wd}|{hour}|iso")] += 1
        if not _E164.match(number):
            return
        current = self.det.get(number) or ""
        if sid and current.startswith("isolation|") and current.rsplit("|", 1)[-1] == sid:
            return  # the door already sent this very call to isolation: one exposure, not two
        self._exposed(number, "isolation", ts, day, line, sid)

    def _returned(self, number: str, ts: int, sid: str) -> None:
        """A call from a number with an unanswered treatment resolves it: returned within 1/7/30 days?"""
        state = self.det.get(number)
        if not state:
            return
        kind, t0_text, line0, sid0 = (state.split("|", 3) + ["", "", "", ""])[:4]
        if sid and sid == sid0:
            return
        t0 = _int(t0_text)
        day0 = self.clock.at(t0)[0]
        gap = max(0, ts - t0)
        if day0 >= self.since_day:
            for days in RETURN_DAYS:
                if gap <= days * DAY_MS:
                    self.counts[(rk.COUNTS, line0, day0, f"det:{kind}:r{days}")] += 1
        self.det[number] = ""
        self.det_changed.add(number)

    def _exposed(self, number: str, kind: str, ts: int, day: str, line: str, sid: str) -> None:
        self.counts[(rk.COUNTS, line, day, f"det:{kind}:n")] += 1
        self.det[number] = f"{kind}|{ts}|{line}|{sid}"
        self.det_changed.add(number)

    def _archive(self, event_id: str, ev: dict[str, str], etype: str, sid: str) -> None:
        """Copy what must outlive the retention window into the long-term stream (same ID)."""
        if etype in EXPIRING:
            return
        if etype == "status":
            if sid and sid in self.notable:
                self.kept.append((event_id, ev))
            elif sid:
                self.new_status[sid] = f"{_clean(ev.get('status'))}|{_int(ev.get('duration'))}"
                self.statuses[sid] = self.new_status[sid]
            return
        copy = dict(ev)
        if etype in ("flag", "isolation") and sid:
            self.notable.add(sid)
            self.new_notable.add(sid)
            known = self.statuses.get(sid)
            if known and "duration" not in copy:  # the call ended before it was flagged
                status, _, duration = known.partition("|")
                copy.update({"call_status": status, "duration": duration})
        self.kept.append((event_id, copy))


# Apply one folded batch only if the report state is still the one it was computed from: a replayed,
# raced or outdated batch changes nothing. Read-decide-write, hence Lua; one call per batch also spares
# the client one command (and one reply) per counter.
APPLY_LUA = """
-- KEYS: 1 state hash, 2 deterrence hash, 3 long-term stream, 4 lines set, 5.. buckets and call markers
-- ARGV: 1 expected cursor ('*': no check, a rebuild's private namespace), 2 expected epoch, 3 payload JSON
if ARGV[1] ~= '*' then
  local cur = redis.call('HMGET', KEYS[1], 'cursor', 'epoch')
  if (cur[1] or '') ~= ARGV[1] or (cur[2] or '0') ~= ARGV[2] then return 0 end
end
local p = cjson.decode(ARGV[3])
if #p.kept > 0 then
  -- never XADD at or below the stream's last ID (it would fail half-way through the batch)
  local info = redis.call('EXISTS', KEYS[3]) == 1 and redis.call('XINFO', 'STREAM', KEYS[3]) or {}
  local last_ms, last_seq = -1, -1
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local ms, seq = string.match(info[i + 1], '^(%d+)-(%d+)$')
      last_ms, last_seq = tonumber(ms), tonumber(seq)
    end
  end
  for _, e in ipairs(p.kept) do
    local ms, seq = string.match(e[1], '^(%d+)-(%d+)$')
    ms, seq = tonumber(ms), tonumber(seq)
    if ms > last_ms or (ms == last_ms and seq > last_seq) then
      redis.call('XADD', KEYS[3], e[1], unpack(e[2]))
    end
  end
end
-- each op: {bucket key indexes (scopes x periods), {field, n, field, n, ...}}
for _, op in ipairs(p.h) do
  local f = op[2]
  for _, k in ipairs(op[1]) do
    for i = 1, #f, 2 do redis.call('HINCRBY', KEYS[k], f[i], f[i + 1]) end
  end
end
for _, op in ipairs(p.z) do
  local m = op[2]
  for _, k in ipairs(op[1]) do
    for i = 1, #m, 2 do redis.call('ZINCRBY', KEYS[k], m[i + 1], m[i]) end
  end
end
for _, op in ipairs(p.w) do
  local m = op[2]
  for _, k in ipairs(op[1]) do
    for i = 1, #m, 2 do redis.call('ZADD', KEYS[k], m[i + 1], m[i]) end
  end
end
for _, i in ipairs(p.notable) do redis.call('SET', KEYS[i], '1', 'EX', p.ttl) end
for _, op in ipairs(p.status) do redis.call('SET', KEYS[op[1]], op[2], 'EX', p.ttl) end
for i = 1, #p.det_set, 2 do redis.call('HSET', KEYS[2], p.det_set[i], p.det_set[i + 1]) end
for _, n in ipairs(p.det_del) do redis.call('HDEL', KEYS[2], n) end
for _, line in ipairs(p.lines) do redis.call('SADD', KEYS[4], line) end
if #p.state > 0 then redis.call('HSET', KEYS[1], unpack(p.state)) end
return 1
"""
_FIXED_KEYS = 4


def _batch(folder: Folder, namespace: str, rollups: bool, state: dict[str, str] | None = None
           ) -> tuple[list[str], str]:
    """The batch as (extra KEYS, payload JSON) for APPLY_LUA: each (family, line, day)'s fields once,
    with the buckets they go to (both scopes; day, month and year unless `rollups` is off)."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for (family, line, day, name), n in folder.totals().items():
        if n:
            groups[(family, line, day)] += (name, str(n))
    extra: dict[str, int] = {}

    def index(key: str) -> int:
        return extra.setdefault(key, _FIXED_KEYS + 1 + len(extra))

    def targets(family: str, line: str, day: str, periods: tuple[str, ...]) -> list[int]:
        scopes = (rk.ALL_LINES, line) if line else (rk.ALL_LINES,)
        return [index(rk.bucket(family, scope, p, namespace)) for scope in scopes for p in periods]

    hashes: list[list[Any]] = []
    zsets: list[list[Any]] = []
    for (family, line, day), fields in groups.items():
        op = [targets(family, line, day, (day, day[:7], day[:4]) if rollups else (day,)), fields]
        (zsets if family in rk.ZSET_FAMILIES else hashes).append(op)
    withheld: dict[tuple[str, str], list[str]] = defaultdict(list)
    for line, day, member, ts in folder.withheld:
        withheld[(line, day)] += (member, str(ts))
    det_set = [x for n in sorted(folder.det_changed) if folder.det.get(n) for x in (n, folder.det[n])]
    payload = {
        "h": hashes,
        "z": zsets,
        "w": [[targets(rk.WITHHELD, line, day, (day,)), members] for (line, day), members in withheld.items()],
        "kept": [[event_id, [x for kv in ev.items() for x in kv]] for event_id, ev in folder.kept],
        "notable": [index(rk.notable(sid)) for sid in sorted(folder.new_notable)],
        "status": [[index(rk.call_status(sid)), v] for sid, v in sorted(folder.new_status.items())],
        "det_set": det_set,
        "det_del": sorted(n for n in folder.det_changed if not folder.det.get(n)),
        "lines": sorted(folder.lines),
        "state": [x for kv in (state or {}).items() for x in kv],
        "ttl": SHORT_STATE_TTL_S,
    }
    return list(extra), json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _apply(r: Store, keys_: list[str], payload: str, namespace: str = rk.AGG, expect: tuple[str, str] | None = None
           ) -> bool:
    """Run APPLY_LUA; with `expect` (cursor, epoch) it applies only if the state still has them."""
    script = r.register_script(APPLY_LUA)
    fixed = [rk.STATE, rk.det(namespace), rk.KEPT, rk.LINES]
    cursor, epoch = expect if expect is not None else ("*", "")
    return bool(script(keys=fixed + keys_, args=[cursor, epoch, payload]))


@dataclass
class FoldResult:
    """What one fold call did."""

    folded: int = 0
    batches: int = 0
    cursor: str = ""
    paused: bool = False
    rebuild_needed: bool = False
    more: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"folded": self.folded, "batches": self.batches, "cursor": self.cursor, "paused": self.paused,
                "rebuild_needed": self.rebuild_needed, "more": self.more}


def _paused(state: dict[str, str], now: int) -> bool:
    return _int(state.get("pause_until")) > now


def _test_pause(batch_no: int) -> None:
    """Test hook: announce `pid batch` in a file before each commit and sleep before batch
    IVR_TEST_FOLD_PAUSE_AT's, so a test can SIGKILL the worker between compute and commit."""
    path = os.environ.get("IVR_TEST_FOLD_PAUSE_FILE")
    if not path:
        return
    with open(path, "a") as fh:
        fh.write(f"{os.getpid()} {batch_no}\n")
    if batch_no == int(os.environ.get("IVR_TEST_FOLD_PAUSE_AT", "1")):
        time.sleep(float(os.environ.get("IVR_TEST_FOLD_PAUSE_SECONDS", "30")))


def fold(r: Store, *, batch: int = DEFAULT_BATCH, budget_seconds: float | None = None,
         settings: ReportSettings | None = None) -> FoldResult:
    """Fold every event after the cursor (or as many as the time budget allows), batch by batch."""
    if batch < 1:
        raise ValueError("batch must be at least 1 event")
    rs = settings or ReportSettings.from_env()
    clock = Clock(rs.tz)
    result = FoldResult()
    started = time.monotonic()
    while True:
        n = _fold_batch(r, clock, batch, result.batches + 1, result)
        if n is None:
            result.paused = True
            break
        if n:
            result.folded += n
            result.batches += 1
        if n < batch:
            break
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            result.more = True
            break
    return result


def _fold_batch(r: Store, clock: Clock, batch: int, batch_no: int, result: FoldResult) -> int | None:
    for _attempt in range(MAX_WATCH_RETRIES):
        state = r.hgetall(rk.STATE)
        result.cursor = state.get("cursor", "")
        result.rebuild_needed = state.get("rebuild_needed") == "1"
        if _paused(state, _now_ms()):
            return None
        cursor = state.get("cursor", "")
        entries = r.xrange(keys.EVENTS, min=f"({cursor}" if cursor else "-", max="+", count=batch)
        if not entries:
            return 0
        folder = _folder_for(r, clock, entries)
        for event_id, ev in entries:
            folder.add(event_id, ev)
        last = entries[-1][0]
        update = {"cursor": last}
        if folder.min_day and (not state.get("min_day") or folder.min_day < state["min_day"]):
            update["min_day"] = folder.min_day
        if folder.max_day > state.get("max_day", ""):
            update["max_day"] = folder.max_day
        extra, payload = _batch(folder, rk.AGG, rollups=True, state=update)
        _test_pause(batch_no)
        if _apply(r, extra, payload, expect=(cursor, state.get("epoch", "0"))):
            result.cursor = last
            return len(entries)
        # Another fold, an erasure or a rebuild committed since we read the state: fold again from it.
    raise RuntimeError(f"the fold lost the race for {rk.STATE} {MAX_WATCH_RETRIES} times; is another process "
                       "rewriting the aggregates in a loop?")


def _folder_for(r: Store, clock: Clock, entries: list[tuple[str, dict[str, str]]]) -> Folder:
    """A Folder primed with the state the batch needs: deterrence per number, notable calls, statuses."""
    numbers = sorted({ev.get("number", "") for _id_, ev in entries if _E164.match(ev.get("number", ""))})
    status_sids = sorted({ev["call_sid"] for _id_, ev in entries if ev.get("type") == "status" and ev.get("call_sid")})
    flag_sids = sorted({ev["call_sid"] for _id_, ev in entries
                        if ev.get("type") in ("flag", "isolation") and ev.get("call_sid")})
    pipe = r.pipeline(transaction=False)
    pipe.hmget(rk.det(), numbers) if numbers else pipe.echo("")
    for sid in status_sids:
        pipe.exists(rk.notable(sid))
    for sid in flag_sids:
        pipe.get(rk.call_status(sid))
    replies = pipe.execute()
    det = {n: v for n, v in zip(numbers, replies[0] or [], strict=False) if v}
    notable = {sid for sid, hit in zip(status_sids, replies[1:1 + len(status_sids)], strict=True) if hit}
    statuses = {sid: v for sid, v in zip(flag_sids, replies[1 + len(status_sids):], strict=True) if v}
    return Folder(clock, det, archive=True, notable=notable, statuses=statuses)


# ---- reading the streams -------------------------------------------------------------------------------
def scan_stream(r: Store, stream: str, start: str = "-", end: str = "+",
                count: int = 5000) -> Iterator[tuple[str, dict[str, str]]]:
    """Every entry of a stream between two IDs (inclusive), in ID order, a page at a time."""
    low = start
    while True:
        chunk = r.xrange(stream, min=low, max=end, count=count)
        yield from chunk
        if len(chunk) < count:
            return
        low = "(" + chunk[-1][0]


def merged_events(r: Store, start: str = "-", end: str = "+",
                  count: int = 5000) -> Iterator[tuple[str, dict[str, str]]]:
    """The live stream and the long-term copies merged in ID order, each event once."""
    main = scan_stream(r, keys.EVENTS, start, end, count)
    kept = scan_stream(r, rk.KEPT, start, end, count)
    last = ""
    for event_id, ev in heapq.merge(main, kept, key=lambda item: _id(item[0])):
        if event_id != last:  # a kept copy has its original's ID; the original comes first
            last = event_id
            yield event_id, ev


def events_of(r: Store, number: str) -> list[tuple[str, dict[str, str]]]:
    """Every stored event of one number, plus its calls' events that carry no number (status)."""
    sids: set[str] = set()
    out = []
    for event_id, ev in merged_events(r):
        caller = ev.get("number", "")
        sid = ev.get("call_sid", "")
        if caller == number:
            out.append((event_id, ev))
            if sid:
                sids.add(sid)
        elif not caller and sid and sid in sids:
            out.append((event_id, ev))
    return out


# ---- rebuild -------------------------------------------------------------------------------------------
def _days(first: str, last: str) -> list[str]:
    if not first or not last or first > last:
        return []
    d, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while d <= end:
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


def _month_days(month: str) -> list[str]:
    first = date.fromisoformat(f"{month}-01")
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return _days(first.isoformat(), (nxt - timedelta(days=1)).isoformat())


def _scopes(r: Store) -> list[str]:
    return [rk.ALL_LINES, *sorted(r.smembers(rk.LINES))]


class _Progress:
    def __init__(self, callback: Callable[[int, int], None] | None, total: int) -> None:
        self.callback, self.total, self.seen = callback, max(total, 1), 0

    def step(self, n: int) -> None:
        self.seen += n
        if self.callback:
            self.callback(min(self.seen, self.total), self.total)

    def finish(self) -> None:
        """The total was an upper bound (kept copies duplicate live events): end at 100%."""
        self.step(self.total - self.seen)


class _Restart(Exception):
    """The retained window changed under a rebuild (erasure, retention): start it again."""


def rebuild(r: Store, *, progress: Callable[[int, int], None] | None = None, batch: int = 5000,
            settings: ReportSettings | None = None) -> dict[str, Any]:
    """Recompute the retained window's aggregates from the raw events and swap them in atomically."""
    rs = settings or ReportSettings.from_env()
    for _attempt in range(5):
        try:
            return _rebuild_once(r, Clock(rs.tz), progress, batch)
        except _Restart:
            continue
    raise RuntimeError("the rebuild was interrupted 5 times by erasures or retention runs; run it again later")


def _rebuild_once(r: Store, clock: Clock, progress: Callable[[int, int], None] | None,
                  batch: int) -> dict[str, Any]:
    ns = rk.rebuild_namespace(uuid.uuid4().hex)
    state = r.hgetall(rk.STATE)
    frozen, done, epoch = state.get("frozen_before", ""), state.get("cursor", ""), state.get("epoch", "0")
    start = f"{max(0, clock.day_start_ms(date.fromisoformat(frozen)) - TRIM_MARGIN_MS)}-0" if frozen else "-"
    tracker = _Progress(progress, r.xlen(keys.EVENTS) + r.xlen(rk.KEPT))
    folder = Folder(clock, {}, since_day=frozen)
    swap: list[tuple[str, str]] = []
    try:
        if done:
            _rebuild_fold(r, folder, ns, merged_events(r, start, done), batch, tracker)
        r.hset(rk.STATE, "pause_until", _now_ms() + PAUSE_MS)  # incremental folds wait while we catch up
        for _attempt in range(MAX_WATCH_RETRIES):
            with r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(rk.STATE)
                    now_state = pipe.hgetall(rk.STATE)
                    if now_state.get("epoch", "0") != epoch or now_state.get("frozen_before", "") != frozen:
                        raise _Restart()
                    latest = now_state.get("cursor", "")
                    if latest and (not done or _id(latest) > _id(done)):
                        pipe.unwatch()
                        low = f"({done}" if done else "-"
                        _rebuild_fold(r, folder, ns, scan_stream(r, keys.EVENTS, low, latest), batch, tracker)
                        done = latest
                        continue
                    first = frozen or min(filter(None, (now_state.get("min_day", ""), folder.min_day)), default="")
                    last = max(now_state.get("max_day", ""), folder.max_day)
                    swap = _prepare_swap(r, ns, first, last, frozen, clock, folder.det)
                    pipe.multi()
                    for live, temp in swap:
                        if temp:
                            pipe.rename(temp, live)
                        else:
                            pipe.delete(live)
                    pipe.hset(rk.STATE, mapping={"pause_until": 0, "rebuild_needed": 0, "rebuilt_at": _now_ms()})
                    pipe.hincrby(rk.STATE, "epoch", 1)
                    pipe.execute()
                    tracker.finish()
                    return {"events": folder.folded, "from": first, "to": last, "cursor": done,
                            "keys": sum(1 for _live, temp in swap if temp)}
                except redis.WatchError:
                    continue
        raise RuntimeError("the rebuild could not swap its aggregates in: the report state kept changing")
    except BaseException:
        r.hset(rk.STATE, "pause_until", 0)  # folds may go on; the swap itself was never applied
        raise
    finally:
        _drop_temp(r, ns, folder, frozen, swap)


def _rebuild_fold(r: Store, folder: Folder, ns: str, events: Iterable[tuple[str, dict[str, str]]],
                  batch: int, tracker: _Progress) -> None:
    """Fold events into the rebuild's namespace (day buckets only), one pipeline per batch."""
    pending = 0
    for event_id, ev in events:
        folder.add(event_id, ev)
        pending += 1
        if pending >= batch:
            _flush(r, folder, ns)
            tracker.step(pending)
            pending = 0
    _flush(r, folder, ns)
    tracker.step(pending)


def _flush(r: Store, folder: Folder, ns: str) -> None:
    """Apply a rebuild chunk to its private namespace (day buckets; no state check, no state change)."""
    folder.det_changed.clear()  # the rebuilt deterrence state is written once, at the swap
    extra, payload = _batch(folder, ns, rollups=False)
    _apply(r, extra, payload, namespace=ns)
    folder.reset_output()


def _swap_pairs(scopes: list[str], ns: str, days: list[str]) -> list[tuple[str, str]]:
    months = sorted({d[:7] for d in days})
    years = sorted({d[:4] for d in days})
    pairs = []
    for scope in scopes:
        for family in rk.ALL_FAMILIES:
            pairs += [(rk.bucket(family, scope, d), rk.bucket(family, scope, d, ns)) for d in days]
        for family in rk.ROLLED_UP:
            pairs += [(rk.bucket(family, scope, p), rk.bucket(family, scope, p, ns)) for p in months + years]
    pairs.append((rk.det(), rk.det(ns)))
    return pairs


def _prepare_swap(r: Store, ns: str, first: str, last: str, frozen: str, clock: Clock,
                  det: dict[str, str]) -> list[tuple[str, str]]:
    """Build month/year rollups and the deterrence state in `ns`; list (live, temp or '') pairs to swap."""
    days = _days(first, last)
    rebuilt = set(days)
    months = sorted({d[:7] for d in days})
    scopes = _scopes(r)
    for scope in scopes:
        for family in rk.ROLLED_UP:
            for month in months:
                parts = [rk.bucket(family, scope, d, ns if d in rebuilt else rk.AGG) for d in _month_days(month)]
                _sum_into(r, family, rk.bucket(family, scope, month, ns), parts)
            for year in sorted({d[:4] for d in days}):
                parts = [rk.bucket(family, scope, m, ns if m in months else rk.AGG)
                         for m in (f"{year}-{i:02d}" for i in range(1, 13))]
                _sum_into(r, family, rk.bucket(family, scope, year, ns), parts)
    waiting = sorted((n, v) for n, v in det.items() if v)
    r.delete(rk.det(ns))
    for i in range(0, len(waiting), 1000):
        r.hset(rk.det(ns), mapping=dict(waiting[i:i + 1000]))
    if frozen:  # treatments on frozen days still waiting for a return are not in the rebuilt window
        carry = {n: v for n, v in r.hgetall(rk.det()).items()
                 if clock.at(_int((v.split("|") + ["0", "0"])[1]))[0] < frozen}
        if carry:
            pipe = r.pipeline(transaction=False)
            for number, value in carry.items():
                pipe.hsetnx(rk.det(ns), number, value)
            pipe.execute()
    pairs = _swap_pairs(scopes, ns, days)
    hits: list[int] = []
    for i in range(0, len(pairs), 1000):
        pipe = r.pipeline(transaction=False)
        for _live, temp in pairs[i:i + 1000]:
            pipe.exists(temp)
        hits.extend(pipe.execute())
    return [(live, temp if hit else "") for (live, temp), hit in zip(pairs, hits, strict=True)]


def _sum_into(r: Store, family: str, dest: str, parts: list[str]) -> None:
    if family in rk.ZSET_FAMILIES:
        r.zunionstore(dest, parts)
        return
    pipe = r.pipeline(transaction=False)
    for key in parts:
        pipe.hgetall(key)
    total: Counter[str] = Counter()
    for data in pipe.execute():
        for name, value in data.items():
            total[name] += int(value)
    r.delete(dest)
    nonzero = {k: v for k, v in total.items() if v}
    if nonzero:
        r.hset(dest, mapping=nonzero)


def _drop_temp(r: Store, ns: str, folder: Folder, frozen: str, swap: list[tuple[str, str]]) -> None:
    """Delete whatever the rebuild left in its namespace (nothing after a successful swap)."""
    first = frozen or folder.min_day
    temps = {temp for _live, temp in swap if temp}
    temps.update(temp for _live, temp in _swap_pairs(_scopes(r), ns, _days(first, folder.max_day)))
    temps.add(rk.det(ns))
    ordered = sorted(temps)
    for i in range(0, len(ordered), 500):
        r.delete(*ordered[i:i + 500])


# ---- retention and erasure -----------------------------------------------------------------------------
def apply_retention(r: Store, *, settings: ReportSettings | None = None,
                    now_ms: int | None = None) -> dict[str, Any]:
    """Trim screened-call events older than the retention window; freeze the aggregates of those days."""
    rs = settings or ReportSettings.from_env()
    clock = Clock(rs.tz)
    cutoff_day = clock.today(now_ms) - timedelta(days=rs.retention_days)
    cutoff_ms = clock.day_start_ms(cutoff_day)
    caught_up = fold(r, settings=rs)  # nothing unfolded may be trimmed; kept copies are made by the fold
    for _attempt in range(MAX_WATCH_RETRIES):
        with r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(rk.STATE)
                state = pipe.hgetall(rk.STATE)
                cursor = state.get("cursor", "")
                frozen = max(state.get("frozen_before", ""), cutoff_day.isoformat())
                limit = min((cutoff_ms - TRIM_MARGIN_MS, 0), _id(cursor)) if cursor else None
                pipe.multi()
                if limit is not None:
                    pipe.xtrim(keys.EVENTS, minid=f"{limit[0]}-{limit[1]}", approximate=False)
                pipe.hset(rk.STATE, "frozen_before", frozen)
                replies = pipe.execute()
                trimmed = int(replies[0]) if limit is not None else 0
                log.info("retention: trimmed %d events, aggregates before %s frozen", trimmed, frozen)
                return {"trimmed": trimmed, "frozen_before": frozen, "folded": caught_up.folded}
            except redis.WatchError:
                continue
    raise RuntimeError("retention could not commit: the report state kept changing; run it again")


def _number(raw: str, rs: ReportSettings) -> str:
    if not raw or not raw.strip():
        raise ValueError("give the caller's number, e.g. +14155550123")
    number = normalize(raw, rs.default_region)
    if number == WITHHELD:
        raise ValueError("a withheld caller ID is not a number: there is nothing to erase or export for it")
    return number


def erase_number(r: Store, raw_number: str, *, by: str, reason: str, settings: ReportSettings | None = None,
                 rebuild_after: bool = True, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Erase one number from the events and the reports (audited); the retained window is then rebuilt."""
    rs = settings or ReportSettings.from_env()
    number = _number(raw_number, rs)
    # The audit record keeps printable text only (no control, bidi or unassigned characters).
    by, reason = _clean(clean_text(by, 200), 200), _clean(clean_text(reason, 500), 500)
    if not by or not reason:
        raise ValueError("an erasure needs --by (who asked for it) and --reason (e.g. the request reference)")
    clock = Clock(rs.tz)
    for _attempt in range(MAX_WATCH_RETRIES):
        with r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(rk.STATE)  # a fold committing while we look makes us look again
                state = pipe.hgetall(rk.STATE)
                events = events_of(r, number)
                frozen = state.get("frozen_before", "")
                hits = _number_hits(r, number, state)
                cursor = state.get("cursor", "")
                folded = [(i, ev) for i, ev in events if cursor and _id(i) <= _id(cursor)]
                frozen_counts = _frozen_contributions(clock, folded, frozen)
                ids = [event_id for event_id, _ev in events]
                pipe.multi()
                for i in range(0, len(ids), 1000):
                    pipe.xdel(keys.EVENTS, *ids[i:i + 1000])
                    pipe.xdel(rk.KEPT, *ids[i:i + 1000])
                pipe.hdel(rk.det(), number)
                for key, prefix_key, score in hits:
                    pipe.zrem(key, number)
                    if prefix_key:
                        pipe.zincrby(prefix_key, -score, prefix_of(number))
                        pipe.zremrangebyscore(prefix_key, "-inf", 0)
                for key, name, n in frozen_counts:
                    pipe.hincrby(key, name, -n)
                audit(pipe, ts=_now_ms(), by=by, role="manager", action="erase", number=mask(number),
                             scope="*", reason=reason, number_sha256=_sha256(number.encode()), events=len(ids))
                pipe.hset(rk.STATE, "rebuild_needed", 1)
                pipe.hincrby(rk.STATE, "epoch", 1)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    else:
        raise RuntimeError("the erasure could not commit: the report state kept changing; run it again")
    log.info("erased %s: %d events", mask(number), len(ids))
    # The blocklist's memory of the number goes with it (kept "until an audited erasure"): this is it.
    from blocklist.rules import Blocklist

    blocklist = Blocklist(r, default_region=rs.default_region).erase(number) if number != WITHHELD else {}
    if number != WITHHELD:
        from workers.callbacks import cancel_for_number

        blocklist["callbacks_cancelled"] = cancel_for_number(r, number, "the number was erased on request")
    rebuilt = rebuild(r, progress=progress, settings=rs) if rebuild_after else None
    return {"number": mask(number), "events_deleted": len(ids), "buckets_corrected": len(hits),
            "blocklist": blocklist, "rebuild": rebuilt}


def _number_hits(r: Store, number: str, state: dict[str, str]) -> list[tuple[str, str, float]]:
    """Every number-keyed bucket (all periods, all scopes) that names the number: (key, prefix key, score)."""
    days = _days(state.get("min_day", ""), state.get("max_day", ""))
    periods = days + sorted({d[:7] for d in days}) + sorted({d[:4] for d in days})
    candidates = [(rk.bucket(fam, scope, p), rk.bucket(pfam, scope, p) if pfam else "")
                  for scope in _scopes(r) for fam, pfam in rk.NUMBER_FAMILIES.items() for p in periods]
    hits: list[tuple[str, str, float]] = []
    for i in range(0, len(candidates), 2000):
        pipe = r.pipeline(transaction=False)
        for key, _pkey in candidates[i:i + 2000]:
            pipe.zscore(key, number)
        for (key, pkey), score in zip(candidates[i:i + 2000], pipe.execute(), strict=True):
            if score:
                hits.append((key, pkey, float(score)))
    return hits


def _frozen_contributions(clock: Clock, events: list[tuple[str, dict[str, str]]],
                          frozen: str) -> list[tuple[str, str, int]]:
    """The counts a number's surviving events added to frozen days (hash families; not deterrence)."""
    if not frozen:
        return []
    folder = Folder(clock, {})
    for event_id, ev in events:
        ts = _int(ev.get("ts")) or _id(event_id)[0]
        if clock.at(ts)[0] < frozen:
            folder.add(event_id, ev)
    out: Counter[tuple[str, str]] = Counter()
    for (family, line, day, name), n in folder.totals().items():
        if family not in rk.HASH_FAMILIES or name.startswith("det:"):
            continue
        for scope in ((rk.ALL_LINES, line) if line else (rk.ALL_LINES,)):
            for period in (day, day[:7], day[:4]):
                out[(rk.bucket(family, scope, period), name)] += n
    return [(key, name, n) for (key, name), n in out.items() if n]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- evidence pack -------------------------------------------------------------------------------------
EVIDENCE_COLUMNS = ("time", "call_sid", "duration", "line", "agent", "note", "treatment", "decision", "rule",
                    "flag_via", "flag_reason", "isolation", "isolation_seconds", "status", "stir", "city",
                    "state", "country")


def evidence(r: Store, raw_number: str, *, settings: ReportSettings | None = None,
             now_ms: int | None = None) -> dict[str, Any]:
    """Every stored call of one number (long-term events + retained calls), for the carrier or the police."""
    rs = settings or ReportSettings.from_env()
    number = _number(raw_number, rs)
    clock = Clock(rs.tz)
    calls: dict[str, dict[str, Any]] = {}
    actions: list[dict[str, Any]] = []
    raw: list[dict[str, str]] = []
    for event_id, ev in events_of(r, number):
        raw.append({"id": event_id, **ev})
        ts = _int(ev.get("ts")) or _id(event_id)[0]
        etype, sid = ev.get("type", ""), ev.get("call_sid", "")
        if etype not in ("call", "flag", "isolation", "status") or not sid:
            actions.append({"time": clock.iso(ts), "ts": ts, "action": etype, "by": ev.get("by", ev.get("agent", "")),
                            "reason": ev.get("reason", ""), "until": ev.get("until", ""), "line": ev.get("line", "")})
            continue
        row = calls.setdefault(sid, {c: "" for c in EVIDENCE_COLUMNS} | {"call_sid": sid, "ts": ts})
        row["ts"] = min(row["ts"], ts)
        row["time"] = clock.iso(row["ts"])
        row["line"] = row["line"] or ev.get("line", "")
        for column, name in (("stir", "StirVerstat"), ("city", "FromCity"), ("state", "FromState"),
                             ("country", "FromCountry")):
            row[column] = row[column] or ev.get(name, "")
        if etype == "call":
            row.update(decision=ev.get("decision", ""), rule=ev.get("rule", ""), door_treatment=ev.get("treatment", ""))
        elif etype == "flag":
            row.update(agent=ev.get("agent", ""), note=ev.get("note", ""), flag_via=ev.get("via", ""),
                       flag_reason=ev.get("reason", ""))
            if ev.get("duration") and not row["duration"]:
                row.update(duration=ev["duration"], status=ev.get("call_status", ""))
        elif etype == "isolation":
            row.update(isolation=ev.get("outcome", ""), isolation_seconds=ev.get("seconds", ""))
        else:
            row.update(status=ev.get("status", ""), duration=ev.get("duration", ""))
    rows = sorted(calls.values(), key=lambda item: item["ts"])
    for row in rows:
        door = row.pop("door_treatment", "")
        row["treatment"] = (door if row["decision"] == "treat" and door else
                            "isolation" if row["isolation"] else "flagged" if row["flag_via"] else "answered")
    return {"number": number, "generated_at": clock.iso(now_ms if now_ms is not None else _now_ms()),
            "timezone": rs.timezone, "calls": rows, "actions": actions, "events": raw,
            "note": f"Screened calls older than {rs.retention_days} days are no longer stored; flags, isolations "
                    "and blocklist actions are kept until an erasure."}


def evidence_files(pack: dict[str, Any]) -> dict[str, bytes]:
    """calls.csv, calls.json and a SHA256SUMS manifest (check with `sha256sum -c SHA256SUMS`)."""
    files = {
        "calls.csv": to_csv([{c: row.get(c, "") for c in EVIDENCE_COLUMNS} for row in pack["calls"]],
                            EVIDENCE_COLUMNS).encode(),
        "calls.json": (json.dumps(pack, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
    }
    files["SHA256SUMS"] = "".join(f"{_sha256(data)}  {name}\n" for name, data in files.items()).encode()
    return files


def evidence_folder_name(pack: dict[str, Any]) -> str:
    return f"evidence-{pack['number'].lstrip('+')}-{pack['generated_at'][:10]}"


def evidence_zip(pack: dict[str, Any]) -> bytes:
    """The evidence pack as one zip (a folder with the three files)."""
    buffer = io.BytesIO()
    folder = evidence_folder_name(pack)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in evidence_files(pack).items():
            zf.writestr(f"{folder}/{name}", data)
    return buffer.getvalue()


def write_evidence(pack: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the evidence pack's files into out_dir/<evidence-folder>/."""
    folder = Path(out_dir) / evidence_folder_name(pack)
    folder.mkdir(parents=True, exist_ok=True)
    return [_write_atomic(folder / name, data) for name, data in evidence_files(pack).items()]


def _write_atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


# ---- report queries (aggregates only) ------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    """What a report covers: local days start..end inclusive, one line or all, numbers masked or not."""

    start: date
    end: date
    line: str = ""
    mask: bool = False
    today: date = field(default_factory=date.today)
    settings: ReportSettings = field(default_factory=ReportSettings)

    @property
    def scope(self) -> str:
        return self.line or rk.ALL_LINES

    @classmethod
    def build(cls, *, start: str | date | None = None, end: str | date | None = None, line: str | None = None,
              mask: bool | None = None, settings: ReportSettings | None = None, now_ms: int | None = None) -> Query:
        """Validate user input: dates YYYY-MM-DD (default: the last 30 days), a line as a phone number."""
        rs = settings or ReportSettings.from_env()
        today = Clock(rs.tz).today(now_ms)
        end_d = _in_range(_parse_day(end, "to"), "to") if end else today
        start_d = _in_range(_parse_day(start, "from"), "from") if start else end_d - timedelta(days=29)
        if start_d > end_d:
            raise ValueError(f"from {start_d} is after to {end_d}: swap them")
        if (end_d - start_d).days > 3660:
            raise ValueError("a report covers at most 10 years: narrow from/to")
        line_e164 = ""
        if line and line != rk.ALL_LINES:
            line_e164 = normalize(line, rs.default_region)
            if line_e164 == WITHHELD:
                raise ValueError("line must be one of your Twilio numbers (the To number), e.g. +18005551212")
        return cls(start_d, end_d, line_e164, rs.mask_numbers if mask is None else mask, today, rs)

    def days(self) -> list[str]:
        return _days(self.start.isoformat(), self.end.isoformat())

    def periods(self) -> list[str]:
        return split_range(self.start, self.end)

    def show(self, number: str) -> str:
        return mask(number) if self.mask else number


# Events carry epoch milliseconds; the top leaves the date arithmetic room to step past `to`.
REPORT_DAYS = (date(1970, 1, 1), date(9998, 12, 31))


def _in_range(day: date, name: str) -> date:
    if not REPORT_DAYS[0] <= day <= REPORT_DAYS[1]:
        raise ValueError(f"{name}={day} is out of range: reports cover {REPORT_DAYS[0]} to {REPORT_DAYS[1]}")
    return day


def _parse_day(value: str | date, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{name}={str(value)[:20]!r} is not a date: write YYYY-MM-DD, e.g. 2025-01-31") from None


def split_range(start: date, end: date) -> list[str]:
    """The fewest buckets covering start..end: whole years, then whole months, then days."""
    out = []
    d = start
    while d <= end:
        if d.month == 1 and d.day == 1 and date(d.year, 12, 31) <= end:
            out.append(f"{d.year:04d}")
            d = date(d.year + 1, 1, 1)
            continue
        if d.day == 1:
            nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
            if nxt - timedelta(days=1) <= end:
                out.append(d.strftime("%Y-%m"))
                d = nxt
                continue
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


def _sum_hashes(r: Store, family: str, scopes: Iterable[str], periods: list[str]) -> dict[str, Counter[str]]:
    pipe = r.pipeline(transaction=False)
    scopes = list(scopes)
    for scope in scopes:
        for period in periods:
            pipe.hgetall(rk.bucket(family, scope, period))
    replies = iter(pipe.execute())
    out: dict[str, Counter[str]] = {}
    for scope in scopes:
        total: Counter[str] = Counter()
        for _period in periods:
            for name, value in next(replies).items():
                total[name] += int(value)
        out[scope] = total
    return out


def _top(r: Store, q: Query, families: dict[str, str], top: int, min_score: int = 1
         ) -> tuple[list[tuple[str, dict[str, int]]], int]:
    """Top members over the range of the sum of several sorted-set families, with each family's score."""
    token = uuid.uuid4().hex
    periods = q.periods()
    dests = {name: rk.query_temp(f"{token}:{name}") for name in families}
    rank = rk.query_temp(f"{token}:rank")
    pipe = r.pipeline(transaction=False)
    for name, family in families.items():
        pipe.zunionstore(dests[name], [rk.bucket(family, q.scope, p) for p in periods])
        pipe.expire(dests[name], 60)
    pipe.zunionstore(rank, list(dests.values()))
    pipe.expire(rank, 60)
    pipe.zrevrangebyscore(rank, "+inf", min_score, start=0, num=top, withscores=True)
    pipe.zcount(rank, min_score, "+inf")
    replies = pipe.execute()
    members = [m for m, _s in replies[-2]]
    pipe = r.pipeline(transaction=False)
    for name in families:
        if members:
            pipe.zmscore(dests[name], members)
    pipe.delete(rank, *dests.values())
    scores = pipe.execute()
    rows = []
    for i, member in enumerate(members):
        rows.append((member, {name: int(scores[j][i] or 0) for j, name in enumerate(families)}))
    return rows, int(replies[-1])


def frequency(r: Store, q: Query) -> dict[str, Any]:
    """How often: hour x weekday heat maps, the daily trend, totals per line, what the door did."""
    periods, days = q.periods(), q.days()
    fields = ("ev:call", "treat", "ev:flag", "anon", "iso:complete", "iso:abandoned", "blocked")
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.hmget(rk.bucket(rk.COUNTS, q.scope, day), fields)
    daily = []
    for day, values in zip(days, pipe.execute(), strict=True):
        v = [int(x or 0) for x in values]
        daily.append({"day": day, "calls": v[0], "treated": v[1], "flags": v[2], "withheld": v[3],
                      "isolations": v[4] + v[5], "blocked_attempts": v[6]})
    hours = _sum_hashes(r, rk.HOURS, [q.scope], periods)[q.scope]
    metrics = {"flags": "flag", "treated": "treat", "calls": "call", "withheld": "anon", "isolations": "iso"}
    heatmap = {name: [[hours.get(f"{wd}|{h}|{m}", 0) for h in range(24)] for wd in range(7)]
               for name, m in metrics.items()}
    lines = sorted(r.smembers(rk.LINES))
    if q.line:
        lines = [q.line]
    per_scope = _sum_hashes(r, rk.COUNTS, [q.scope, *lines], periods)
    counts = per_scope[q.scope]
    return {
        "totals": _totals(counts),
        "heatmap": heatmap,
        "weekdays": list(WEEKDAYS),
        "daily": daily,
        "lines": [{"line": line, **_totals(per_scope[line])} for line in lines],
        "door": {
            "by_rule": _prefixed(counts, "treat:rule:"),
            "by_treatment": {k: v for k, v in _prefixed(counts, "treat:").items() if not k.startswith("rule:")},
        },
        "events": _prefixed(counts, "ev:"),
    }


def _totals(c: Counter[str]) -> dict[str, int]:
    return {"calls": c["ev:call"], "treated": c["treat"], "flags": c["ev:flag"], "withheld": c["anon"],
            "isolations": c["iso:complete"] + c["iso:abandoned"], "isolations_abandoned": c["iso:abandoned"],
            "blocked_attempts": c["blocked"], "unblocks": c["ev:unblock"]}


def _prefixed(c: Counter[str], prefix: str) -> dict[str, int]:
    items = ((k[len(prefix):], v) for k, v in c.items() if k.startswith(prefix) and v)
    return dict(sorted(items, key=lambda kv: (-kv[1], kv[0])))


def sources(r: Store, q: Query, top: int = 20) -> dict[str, Any]:
    """Where from: top numbers and prefixes, regions, line types, carriers, geography, withheld, STIR."""
    numbers, distinct = _top(r, q, {"flags": rk.NUM_FLAGS, "treated": rk.NUM_TREATED}, top)
    prefixes, distinct_prefixes = _top(r, q, {"flags": rk.PREFIX_FLAGS, "treated": rk.PREFIX_TREATED}, top)
    sums = _sum_hashes(r, rk.SOURCES, [q.scope], q.periods())[q.scope]
    counts = _sum_hashes(r, rk.COUNTS, [q.scope], q.periods())[q.scope]
    dims: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    for name, n in sums.items():
        dim, value, metric = (name.split("|") + ["", ""])[:3]
        dims[dim][value][metric] += n
    dimensions: dict[str, list[dict[str, Any]]] = {}
    for dim, _field in DIMENSIONS:
        rows = sorted(((value, m["call"], m["treat"], m["flag"]) for value, m in dims.get(dim, {}).items()),
                      key=lambda row: (-(row[3] + row[2]), -row[1], row[0]))
        dimensions[dim] = [{"value": v, "calls": c, "treated": t, "flags": f} for v, c, t, f in rows[:50]]
    calls, flags = counts["ev:call"], counts["ev:flag"]
    return {
        "top_numbers": [{"number": q.show(n), "flags": s["flags"], "treated": s["treated"],
                         "total": s["flags"] + s["treated"]} for n, s in numbers],
        "numbers_total": distinct,
        "top_prefixes": [{"prefix": p, "flags": s["flags"], "treated": s["treated"],
                          "total": s["flags"] + s["treated"]} for p, s in prefixes],
        "prefixes_total": distinct_prefixes,
        "dimensions": dimensions,
        "withheld": {"calls": calls, "withheld_calls": counts["anon"], "share": _ratio(counts["anon"], calls),
                     "withheld_treated": counts["anon:treat"], "flags": flags, "withheld_flags": counts["flag:anon"],
                     "flag_share": _ratio(counts["flag:anon"], flags)},
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def offenders(r: Store, q: Query, top: int = 50) -> dict[str, Any]:
    """Repeat offenders: numbers flagged more than once; calls attempted while blocked."""
    repeat, repeat_total = _top(r, q, {"flags": rk.NUM_FLAGS}, top, min_score=2)
    blocked, blocked_numbers = _top(r, q, {"attempts": rk.NUM_BLOCKED}, top)
    counts = _sum_hashes(r, rk.COUNTS, [q.scope], q.periods())[q.scope]
    return {
        "repeat": [{"number": q.show(n), "flags": s["flags"]} for n, s in repeat],
        "repeat_total": repeat_total,
        "blocked": [{"number": q.show(n), "attempts": s["attempts"]} for n, s in blocked],
        "blocked_numbers": blocked_numbers,
        "blocked_attempts": counts["blocked"],
    }


def deterrence(r: Store, q: Query) -> dict[str, Any]:
    """After a treatment, how often the caller calls again within 1, 7 and 30 days, per treatment."""
    days = q.days()
    names = [f"det:{kind}:{suffix}" for kind in EXPOSURES for suffix in ("n", *(f"r{d}" for d in RETURN_DAYS))]
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.hmget(rk.bucket(rk.COUNTS, q.scope, day), names)
    per_day = [dict(zip(names, (int(v or 0) for v in values), strict=True)) for values in pipe.execute()]
    rows = []
    for kind in EXPOSURES:
        row: dict[str, Any] = {"kind": kind, "treatments": sum(d[f"det:{kind}:n"] for d in per_day)}
        for window in RETURN_DAYS:
            last_eligible = (q.today - timedelta(days=window + 1)).isoformat()  # the window has fully passed
            eligible = [d for day, d in zip(days, per_day, strict=True) if day <= last_eligible]
            n = sum(d[f"det:{kind}:n"] for d in eligible)
            back = sum(d[f"det:{kind}:r{window}"] for d in eligible)
            row.update({f"eligible_{window}d": n, f"returned_{window}d": back, f"rate_{window}d": _ratio(back, n)})
        rows.append(row)
    return {"kinds": rows, "note": "Each treatment counts once; 'returned' means the same number called again "
                                   "within the window. Treatments whose window has not passed yet are left out."}


def agents(r: Store, q: Query) -> dict[str, Any]:
    """Harassment calls (flags) per agent and per shift, for wellbeing."""
    sums = _sum_hashes(r, rk.AGENTS, [q.scope], q.periods())[q.scope]
    shift_names = [name for name, _s, _e in q.settings.shifts] + ["other"]
    per_agent: dict[str, dict[str, Any]] = {}
    for name, n in sums.items():
        agent, _, hour_text = name.rpartition("|")
        hour = _int(hour_text)
        row = per_agent.setdefault(agent, {"agent": agent, "flags": 0, "shifts": Counter(), "hours": [0] * 24})
        row["flags"] += n
        row["shifts"][q.settings.shift_of(hour)] += n
        row["hours"][hour % 24] += n
    rows = sorted(per_agent.values(), key=lambda row: (-row["flags"], row["agent"]))
    for row in rows:
        row["shifts"] = {s: row["shifts"].get(s, 0) for s in shift_names}
    totals = {s: sum(row["shifts"][s] for row in rows) for s in shift_names}
    if not totals.get("other"):
        totals.pop("other", None)
        for row in rows:
            row["shifts"].pop("other", None)
    return {"agents": rows, "shifts": totals,
            "shift_hours": {name: f"{s:02d}-{e:02d}" for name, s, e in q.settings.shifts}}


def withheld(r: Store, q: Query) -> dict[str, Any]:
    """Times of flagged withheld-ID calls per line, to match against the carrier's bill."""
    clock = Clock(q.settings.tz)
    days = q.days()
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.zrange(rk.bucket(rk.WITHHELD, q.scope, day), 0, -1, withscores=True)
    calls = []
    for entries in pipe.execute():
        for member, score in entries:
            _ts, line, sid, agent = (member.split("|", 3) + ["", "", ""])[:4]
            calls.append({"time": clock.iso(int(score)), "utc": datetime.fromtimestamp(score / 1000, UTC)
                          .isoformat(timespec="seconds"), "line": line, "call_sid": sid, "agent": agent})
    per_line = Counter(call["line"] for call in calls)
    return {"calls": calls, "total": len(calls),
            "per_line": [{"line": line, "flagged_withheld": n} for line, n in sorted(per_line.items())]}


def difficult(r: Store, q: Query) -> dict[str, Any]:
    """Difficult callers next to harassment: escalations, warnings, callbacks, overflow; per hour and agent."""
    sums = _sum_hashes(r, rk.MOVES, [q.scope], q.periods())[q.scope]
    counts = _sum_hashes(r, rk.COUNTS, [q.scope], q.periods())[q.scope]
    totals: Counter[str] = Counter()
    by_hour: dict[str, list[int]] = {}
    per_agent: dict[str, Counter[str]] = defaultdict(Counter)
    for name, n in sums.items():
        parts = name.split("|")
        move = parts[0]
        if len(parts) == 3 and parts[1] == "agent":
            per_agent[parts[2]][move] += n
            continue
        totals[move] += n
        by_hour.setdefault(move, [0] * 24)[_int(parts[1]) % 24] += n
    agents_rows: list[dict[str, Any]] = [
        {"agent": a, "escalate": c["escalate"], "warn": c["warn"], "callback": c["callback"], "total": sum(c.values())}
        for a, c in per_agent.items()
    ]
    agents_rows.sort(key=lambda row: (-int(row["total"]), str(row["agent"])))
    overflow = {k.split(":", 1)[1]: v for k, v in sorted(totals.items()) if k.startswith("overflow:")}
    return {
        "totals": {"escalate": totals["escalate"], "warn": totals["warn"], "callback": totals["callback"],
                   "callback_done": totals["callback:done"], "callback_failed": totals["callback:failed"],
                   "callback_cancelled": totals["callback:cancelled"],
                   "overflow": sum(overflow.values()), "flags": counts.get("ev:flag", 0),
                   "calls": counts.get("ev:call", 0)},
        "overflow": overflow,
        "by_hour": {move: hours for move, hours in sorted(by_hour.items())},
        "agents": agents_rows,
        "note": "Escalations per agent are for coaching and relief, not blame.",
    }


REPORT_FUNCS: dict[str, Callable[[redis.Redis, Query], dict[str, Any]]] = {
    "frequency": frequency, "sources": sources, "offenders": offenders, "deterrence": deterrence,
    "agents": agents, "withheld": withheld, "difficult": difficult,
}


def report(r: Store, name: str, q: Query) -> dict[str, Any]:
    """One named report as a plain dict, with the query it answers."""
    if name not in REPORT_FUNCS:
        raise ValueError(f"unknown report {name!r}: one of {', '.join(REPORTS)}")
    return {"meta": meta(r, q), name: REPORT_FUNCS[name](r, q)}


def summary(r: Store, q: Query) -> dict[str, Any]:
    """Every report for one query (the printable report and the scheduled builds)."""
    return {"meta": meta(r, q), **{name: func(r, q) for name, func in REPORT_FUNCS.items()}}


def meta(r: Store, q: Query) -> dict[str, Any]:
    state = r.hgetall(rk.STATE)
    clock = Clock(q.settings.tz)
    cursor = state.get("cursor", "")
    return {"from": q.start.isoformat(), "to": q.end.isoformat(), "line": q.line or "all lines",
            "timezone": q.settings.timezone, "masked": q.mask, "generated_at": clock.iso(_now_ms()),
            "folded_through": clock.iso(_id(cursor)[0]) if cursor else None,
            "frozen_before": state.get("frozen_before") or None, "lines": sorted(r.smembers(rk.LINES))}


# ---- tables and files ----------------------------------------------------------------------------------
def tables(name: str, data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A report's data as flat tables (CSV files, terminal output)."""
    if name == "frequency":
        heat = [{"metric": metric, "weekday": WEEKDAYS[wd], **{f"h{h:02d}": row[h] for h in range(24)}}
                for metric, matrix in data["heatmap"].items() for wd, row in enumerate(matrix)]
        door = [{"by": "rule", "value": k, "calls": v} for k, v in data["door"]["by_rule"].items()]
        door += [{"by": "treatment", "value": k, "calls": v} for k, v in data["door"]["by_treatment"].items()]
        return {"daily": data["daily"], "heatmap": heat, "lines": data["lines"], "door": door}
    if name == "sources":
        dims = [{"dimension": dim, **row} for dim, rows in data["dimensions"].items() for row in rows]
        return {"numbers": data["top_numbers"], "prefixes": data["top_prefixes"], "dimensions": dims,
                "withheld": [data["withheld"]]}
    if name == "offenders":
        return {"repeat": data["repeat"], "blocked": data["blocked"]}
    if name == "deterrence":
        return {"deterrence": data["kinds"]}
    if name == "agents":
        rows = [{"agent": row["agent"], "flags": row["flags"], **{f"shift_{k}": v for k, v in row["shifts"].items()}}
                for row in data["agents"]]
        return {"agents": rows, "shifts": [{"shift": k, "hours": data["shift_hours"].get(k, ""), "flags": v}
                                           for k, v in data["shifts"].items()]}
    if name == "withheld":
        return {"calls": data["calls"], "lines": data["per_line"]}
    if name == "difficult":
        hours = [{"move": move, **{f"h{h:02d}": row[h] for h in range(24)}} for move, row in data["by_hour"].items()]
        return {"totals": [data["totals"]], "agents": data["agents"], "hours": hours,
                "overflow": [{"reason": k, "callers": v} for k, v in data["overflow"].items()]}
    raise ValueError(f"unknown report {name!r}: one of {', '.join(REPORTS)}")


def _cell(value: Any) -> Any:
    """Spreadsheets run cells that start like a formula; prefix those with a quote (numbers stay): the one
    guard every export uses (blocklist.csvio.guard_cell)."""
    if value is None:
        return ""
    return guard_cell(value) if isinstance(value, str) else value


def to_csv(rows: list[dict[str, Any]], columns: Iterable[str] | None = None) -> str:
    """Rows as CSV text with a header; every row's keys (or `columns`) in order."""
    cols = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in cols])
    return buffer.getvalue()


def write_report_files(r: Store, q: Query, out_dir: Path) -> list[Path]:
    """report.json, one CSV per table (`<report>-<table>.csv`) and the printable report.html."""
    from workers.charts import render_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = summary(r, q)
    written = [_write_atomic(out / "report.json", (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())]
    for name in REPORTS:
        for table, rows in tables(name, data[name]).items():
            written.append(_write_atomic(out / f"{name}-{table}.csv", to_csv(rows).encode()))
    written.append(_write_atomic(out / "report.html", render_html(data).encode()))
    return written


# ---- jobs (RQ, `reports` queue; the schedule is in workers/cron.py) ------------------------------------
def _store() -> redis.Redis:
    from workers import context

    return context.store()


def fold_job(batch: int = DEFAULT_BATCH, budget_seconds: float = 50.0) -> dict[str, Any]:
    """Fold new events into the aggregates (exactly once, however often it runs)."""
    result = fold(_store(), batch=batch, budget_seconds=budget_seconds)
    if result.rebuild_needed:
        from rq import get_current_job

        job = get_current_job()
        if job is not None:
            schedule_rebuild(job.connection)
    return result.as_dict()


def rebuild_job() -> dict[str, Any]:
    """Recompute the retained window from the raw events and swap it in."""
    return rebuild(_store())


def retention_job() -> dict[str, Any]:
    """Trim expired screened-call events and freeze their days' aggregates."""
    return apply_retention(_store())


def build_daily_report(day: str = "") -> dict[str, Any]:
    """Write yesterday's (or `day`'s) report files under IVR_DATA_DIR/reports/daily/<day>/."""
    rs = ReportSettings.from_env()
    target = _parse_day(day, "day") if day else Clock(rs.tz).today() - timedelta(days=1)
    q = Query.build(start=target, end=target, settings=rs)
    folder = rs.data_dir / "reports" / "daily" / target.isoformat()
    fold(_store(), settings=rs)
    return {"folder": str(folder), "files": [p.name for p in write_report_files(_store(), q, folder)]}


def build_weekly_report(week_start: str = "") -> dict[str, Any]:
    """Write last week's (Monday to Sunday) report files under IVR_DATA_DIR/reports/weekly/<YYYY-Www>/."""
    rs = ReportSettings.from_env()
    if week_start:
        monday = _parse_day(week_start, "week_start")
        monday -= timedelta(days=monday.weekday())
    else:
        today = Clock(rs.tz).today()
        monday = today - timedelta(days=today.weekday() + 7)
    q = Query.build(start=monday, end=monday + timedelta(days=6), settings=rs)
    iso_year, iso_week, _ = monday.isocalendar()
    folder = rs.data_dir / "reports" / "weekly" / f"{iso_year}-W{iso_week:02d}"
    fold(_store(), settings=rs)
    return {"folder": str(folder), "files": [p.name for p in write_report_files(_store(), q, folder)]}


def _enqueue_once(rq_connection: redis.Redis, func: Callable[..., Any], job_id: str, timeout: int) -> str | None:
    try:
        job = queues.queue(queues.REPORTS, rq_connection).enqueue(func, job_id=job_id, unique=True, job_timeout=timeout,
                                                    result_ttl=0, failure_ttl=600)
    except DuplicateJobError:
        return None  # one is already pending or running: it will see our events
    return str(job.id)


def schedule_fold(rq_connection: redis.Redis) -> None:
    """Enqueue a fold unless one is already pending (deterministic job id): call it after a flag."""
    _enqueue_once(rq_connection, fold_job, FOLD_JOB_ID, 300)


def schedule_rebuild(rq_connection: redis.Redis) -> str | None:
    """Enqueue a rebuild unless one is already pending; returns the job id when enqueued."""
    return _enqueue_once(rq_connection, rebuild_job, REBUILD_JOB_ID, 3600)
