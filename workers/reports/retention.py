"""Retention (trim old screened-call events, freeze their days) and audited erasure of one number."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis

from blocklist import keys
from blocklist.events import audit
from blocklist.keys import Agg as rk
from blocklist.numbers import WITHHELD, mask, normalize
from blocklist.rules import Blocklist
from blocklist.text import clean_text
from workers.callbacks import cancel_for_number
from workers.reports.clock import Clock, _clean, _id, _int, _now_ms, prefix_of
from workers.reports.common import MAX_WATCH_RETRIES, TRIM_MARGIN_MS, Store, log
from workers.reports.fold import Folder, fold
from workers.reports.rebuild import _days, _scopes, rebuild
from workers.reports.settings import ReportSettings
from workers.reports.streams import events_of


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
    blocklist = Blocklist(r, default_region=rs.default_region).erase(number) if number != WITHHELD else {}
    if number != WITHHELD:
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
