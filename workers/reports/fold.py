"""The exactly-once fold of the event stream into aggregates (see the package docstring)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from blocklist import abuse, keys
from blocklist.keys import Agg as rk
from blocklist.numbers import WITHHELD
from workers.reports.call_signals import (
    PROVIDER_CHARS,
    call_attestation,
    campaign_action,
    outcome,
    reputation_score,
    reputation_tier,
)
from workers.reports.clock import Clock, _clean, _id, _int, _line, _now_ms, prefix_of
from workers.reports.common import (
    _E164,
    _TYPE,
    DAY_MS,
    DEFAULT_BATCH,
    DIMENSIONS,
    EXPIRING,
    EXPOSURES,
    MAX_WATCH_RETRIES,
    MOVE_TYPES,
    RETURN_DAYS,
    SHORT_STATE_TTL_S,
    Store,
)
from workers.reports.settings import ReportSettings


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
        self.campaigns: list[tuple[str, str, str, int]] = []  # (line, day, member, ts)
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
        self.campaigns = []

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
        elif etype == "campaign":
            self._campaign(ev, ts, day, line)
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
        self._signals(ev, line, day)
        if withheld:
            c[(rk.COUNTS, line, day, "anon")] += 1
            c[(rk.HOURS, line, day, f"{wd}|{hour}|anon")] += 1
        if treated:
            c[(rk.COUNTS, line, day, "treat")] += 1
            c[(rk.COUNTS, line, day, f"treat:rule:{rule}")] += 1
            if rule == "feed":  # which bulk feed stopped it (feed names: 40 characters at most)
                c[(rk.COUNTS, line, day, f"feed:{_clean(ev.get('feed'), 40) or 'unknown'}")] += 1
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

    def _signals(self, ev: dict[str, str], line: str, day: str) -> None:
        """A call by attestation class, by reputation tier and add-on, and as part of a campaign; allowed or stopped."""
        done = outcome(ev)
        score = reputation_score(ev.get("rep"))
        provider = _clean(ev.get("rep_by"), PROVIDER_CHARS) if score is not None else ""
        c = self.counts
        c[(rk.COUNTS, line, day, f"attest:{call_attestation(ev)}:{done}")] += 1
        c[(rk.COUNTS, line, day, f"rep:{reputation_tier(score)}:{done}:{provider}")] += 1
        if ev.get("campaign"):
            c[(rk.COUNTS, line, day, f"campaign_call:{done}")] += 1

    def _campaign(self, ev: dict[str, str], ts: int, day: str, line: str) -> None:
        """A campaign the screen detected on a line: counted per action, and listed (the day's campaign table)."""
        action = campaign_action(ev.get("action"))
        self.counts[(rk.COUNTS, line, day, f"campaign:{action}")] += 1
        first = _int(ev.get("first"))
        first = first if 0 < first <= ts else ts  # the window's first call cannot come after the detection
        fields = (ts, line, _clean(ev.get("prefix"), 16), max(0, _int(ev.get("numbers"))),
                  max(0, _int(ev.get("minutes"))), first, action)
        self.campaigns.append((line, day, "|".join(str(f) for f in fields), ts))

    def _flag(self, ev: dict[str, str], ts: int, day: str, wd: int, hour: int, line: str, number: str,
              sid: str) -> None:
        c = self.counts
        withheld = number == WITHHELD
        agent = _clean(ev.get("agent")) or "unknown"
        c[(rk.COUNTS, line, day, f"via:{_clean(ev.get('via')) or 'unknown'}")] += 1
        # the abuse category; a flag older than categories counts as what its reason meant, else "other"
        c[(rk.COUNTS, line, day, f"cat:flag:{abuse.category(ev.get('category') or ev.get('reason'), 'other')}")] += 1
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
            # a move's abuse category when the agent gave one (the phone keys give none: counted as "other")
            self.counts[(rk.COUNTS, line, day, f"cat:{etype}:{abuse.category(ev.get('category'), 'other')}")] += 1

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
    campaigns: dict[tuple[str, str], list[str]] = defaultdict(list)
    for line, day, member, ts in folder.campaigns:
        campaigns[(line, day)] += (member, str(ts))
    det_set = [x for n in sorted(folder.det_changed) if folder.det.get(n) for x in (n, folder.det[n])]
    payload = {
        "h": hashes,
        "z": zsets,
        "w": [[targets(rk.WITHHELD, line, day, (day,)), members] for (line, day), members in withheld.items()]
        + [[targets(rk.CAMPAIGNS, line, day, (day,)), members] for (line, day), members in campaigns.items()],
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
