"""Rebuild: recompute the retained window from the raw events in a private namespace, then swap it in."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

import redis

from blocklist import keys
from blocklist.keys import Agg as rk
from workers.reports.clock import Clock, _id, _int, _now_ms
from workers.reports.common import MAX_WATCH_RETRIES, PAUSE_MS, TRIM_MARGIN_MS, Store
from workers.reports.fold import Folder, _apply, _batch
from workers.reports.settings import ReportSettings
from workers.reports.streams import merged_events, scan_stream


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
