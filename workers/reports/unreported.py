"""The unreported-abuse estimate: calls that look like abuse nobody flagged, for managers to look at.

Agents under-report: a short call the agent ended at once, a `*` pressed and then nothing chosen, a number
that keeps reaching agents and was never flagged. Each is a hint, never a flag: nothing here blocks, flags or
changes anything; the manager looks at the calls and decides. Three counts over the last days (7 by default):

- short calls the agent ended: bridged to an agent, ended by the agent's side (the bridge ended with the
  agent's leg gone) within IVR_SHORT_CALL_SECONDS of the bridge, with no flag and no move;
- `*` with no move: the agent pressed `*` and went back to the caller (a `menu_open` event), and the call
  got no flag and no move afterwards;
- repeat callers never flagged: numbers (caller ID known) that reached agents at least 3 times, with no flag
  in the period and no strike on the sanction ladder.

It reads the raw event stream of the period and the calls it names (calls are kept 30 days), not the folded
aggregates, so the answer is kept a few minutes (`cached`) for the dashboard.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from blocklist import keys
from blocklist.calls import AGENT_GONE
from blocklist.numbers import WITHHELD, mask
from workers.reports.clock import _now_ms
from workers.reports.common import DAY_MS, Store
from workers.reports.streams import merged_events

DEFAULT_DAYS = 7
REPEAT_CALLS = 3  # a number reaching agents this often in the period, never flagged
SHOWN = 50  # calls (or numbers) listed per hint, newest first
CACHE_SECONDS = 300
MOVES = ("escalate", "warn", "callback")
HINT = "a hint, never a flag: look at these calls"
CALL_FIELDS = ("agent", "bridged_at", "bridge_end", "bridge_end_at", "number", "line", "kind")


def unreported(r: Store, *, short_seconds: int = 20, days: int = DEFAULT_DAYS, line: str | None = None,
               masked: bool = False, now_ms: int | None = None) -> dict[str, Any]:
    """The three hints over the last `days` days (one line or all); changes nothing."""
    if not 1 <= days <= 30:
        raise ValueError("days must be from 1 to 30 (calls are kept 30 days)")
    if not 1 <= short_seconds <= 600:
        raise ValueError("short_seconds must be from 1 to 600")
    end = now_ms if now_ms is not None else _now_ms()
    start = end - days * DAY_MS
    reported: set[str] = set()  # calls with a flag or a move
    flagged_numbers: set[str] = set()
    stars: dict[str, dict[str, str]] = {}
    ended: dict[str, str] = {}  # caller CallSid -> when it ended (status event)
    for _id, ev in merged_events(r, str(start), str(end)):
        if line and ev.get("line") and ev.get("line") != line:
            continue
        kind, sid = ev.get("type", ""), ev.get("call_sid", "")
        if kind == "flag":
            reported.add(sid)
            flagged_numbers.add(ev.get("number", ""))
        elif kind in MOVES:
            reported.add(sid)
        elif kind == "menu_open" and sid:
            stars[sid] = {"call_sid": sid, "agent": ev.get("agent", ""), "number": ev.get("number", ""),
                          "line": ev.get("line", ""), "at": ev.get("ts", "")}
        elif kind == "status" and sid and ev.get("kind", "caller") in ("caller", ""):
            ended[sid] = ev.get("ts", "")
    sids = sorted(ended)
    pipe = r.pipeline(transaction=False)
    for sid in sids:
        pipe.hmget(keys.call(sid), *CALL_FIELDS)
    calls = {sid: dict(zip(CALL_FIELDS, row, strict=True)) for sid, row in zip(sids, pipe.execute() if sids else [],
                                                                                  strict=True)}
    short: list[dict[str, Any]] = []
    reached: Counter[str] = Counter()
    reached_calls: dict[str, list[str]] = defaultdict(list)
    for sid, call in calls.items():
        bridged = int(call.get("bridged_at") or 0)
        if not bridged:
            continue
        number = call.get("number") or ""
        if number and number != WITHHELD:
            reached[number] += 1
            reached_calls[number].append(sid)
        talked_ms = int(call.get("bridge_end_at") or 0) - bridged
        if (call.get("bridge_end") == AGENT_GONE and 0 <= talked_ms <= short_seconds * 1000
                and sid not in reported):
            short.append({"call_sid": sid, "agent": call.get("agent") or "", "number": number,
                          "line": call.get("line") or "", "at": bridged, "seconds": round(talked_ms / 1000)})
    star_rows = [{**row, "at": int(row["at"] or 0)} for sid, row in stars.items() if sid not in reported]
    candidates = [n for n, count in reached.items() if count >= REPEAT_CALLS and n not in flagged_numbers]
    strikes = r.hmget(keys.STRIKES, candidates) if candidates else []
    repeat = [{"number": n, "calls": reached[n], "call_sids": sorted(reached_calls[n])[-10:]}
              for n, struck in zip(candidates, strikes, strict=True) if not int(struck or 0)]

    def shown(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        rows = sorted(rows, key=lambda row: row[key], reverse=True)[:SHOWN]
        if masked:
            rows = [{**row, "number": mask(row["number"]) if row.get("number") not in ("", WITHHELD) else
                     row.get("number", "")} for row in rows]
        return rows

    return {
        "hint": HINT,
        "meta": {"from": start, "to": end, "days": days, "line": line or "all", "short_seconds": short_seconds,
                 "repeat_calls": REPEAT_CALLS, "calls_seen": len(calls)},
        "counts": {"short_agent_ended": len(short), "star_no_move": len(star_rows), "repeat_unflagged": len(repeat)},
        "short_agent_ended": shown(short, "at"),
        "star_no_move": shown(star_rows, "at"),
        "repeat_unflagged": shown(repeat, "calls"),
    }


def cached(r: Store, *, short_seconds: int = 20, days: int = DEFAULT_DAYS, line: str | None = None,
           masked: bool = False) -> dict[str, Any]:
    """`unreported`, kept CACHE_SECONDS in Redis per question (the dashboard asks on every page load)."""
    key = keys.unreported_cache(f"{days}|{short_seconds}|{line or '*'}|{int(masked)}")
    hit = r.get(key)
    if hit:
        return dict(json.loads(hit))
    data = unreported(r, short_seconds=short_seconds, days=days, line=line, masked=masked)
    r.set(key, json.dumps(data), ex=CACHE_SECONDS)
    return data
