"""The reports themselves, read from the pre-folded buckets only: frequency, sources, offenders, deterrence, agents,
withheld, difficult callers, and the signals at the door (attestation, reputation, campaigns)."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from blocklist import abuse
from blocklist.attestation import ATTESTATION_CLASSES
from blocklist.keys import Agg as rk
from blocklist.numbers import WITHHELD, mask, normalize
from workers.reports.call_signals import ATTESTATION_WORDS, CAMPAIGN_ACTIONS, OUTCOMES, TIER_NAMES, TIER_WORDS
from workers.reports.clock import Clock, _id, _int, _now_ms
from workers.reports.common import DIMENSIONS, EXPOSURES, REPORTS, RETURN_DAYS, WEEKDAYS, Store
from workers.reports.rebuild import _days
from workers.reports.settings import ReportSettings


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
        "totals": count_totals(counts),
        "heatmap": heatmap,
        "weekdays": list(WEEKDAYS),
        "daily": daily,
        "lines": [{"line": line, **count_totals(per_scope[line])} for line in lines],
        "door": {
            "by_rule": _prefixed(counts, "treat:rule:"),
            "by_treatment": {k: v for k, v in _prefixed(counts, "treat:").items() if not k.startswith("rule:")},
            "by_feed": _prefixed(counts, "feed:"),  # calls each bulk feed stopped (part of by_rule's "feed")
        },
        "events": _prefixed(counts, "ev:"),
        "by_category": by_category(counts),
    }


CATEGORY_COUNTS = ("flag", "escalate", "warn", "callback")  # what is counted per abuse category (cat:<what>:<key>)


def by_category(c: Counter[str]) -> list[dict[str, Any]]:
    """Flags and difficult-caller moves per abuse category (blocklist/abuse.py), every category in the taxonomy's
    order. Records older than categories count as what their reason meant, else "other"; so do moves made with
    the phone keys, which give no category."""
    rows = []
    for category in abuse.CATEGORIES:
        row: dict[str, Any] = {"category": category.key, "words": category.words}
        for what in CATEGORY_COUNTS:
            row["flags" if what == "flag" else what] = c[f"cat:{what}:{category.key}"]
        rows.append(row)
    return rows


# The headline counts: name in `totals`, the words every page shows with the number, and what it counts. The
# dashboard, the reports page, the printable report and the API all show frequency()["totals"] (count_totals):
# one number, one definition. Numbers elsewhere that count differently say so where they are shown.
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("flags", "flagged calls", "Calls an agent flagged as harassment (phone key or desk button)."),
    ("treated", "treated at the door", "Calls the screen answered with a treatment instead of the agents' queue."),
    ("blocked_attempts", "calls while blocked", "Treated calls from a number on the blocklist."),
    ("isolations", "isolations", "Callers who went through the isolation queue, to the end or hanging up; "
                                 "withheld callers included."),
    ("withheld", "withheld-ID calls", "Calls that came without a caller ID."),
    ("calls", "calls screened", "Every call the screen answered, treated or put through."),
)


def headline(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline counts of a `summary()` or `report("frequency")` dict, each with its words and definition."""
    totals = data["frequency"]["totals"]
    return [{"name": name, "label": label, "definition": definition, "value": int(totals[name])}
            for name, label, definition in HEADLINE]


def count_totals(c: Counter[str]) -> dict[str, int]:
    """The one definition of each headline count, from a period's summed counters."""
    return {"calls": c["ev:call"], "treated": c["treat"], "flags": c["ev:flag"], "withheld": c["anon"],
            "isolations": c["iso:complete"] + c["iso:abandoned"], "isolations_abandoned": c["iso:abandoned"],
            "blocked_attempts": c["blocked"], "unblocks": c["ev:unblock"], "campaigns": c["ev:campaign"]}


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


def _split(c: Counter[str], prefix: str) -> dict[str, int]:
    """Calls allowed and stopped at the door under one counter prefix, and their sum (the calls)."""
    row = {done: c[f"{prefix}{done}"] for done in OUTCOMES}
    return {"calls": sum(row.values()), **row}


CAMPAIGN_ROWS = 500  # the campaign table lists at most the latest this many of a period (the count has them all)


def signals(r: Store, q: Query) -> dict[str, Any]:
    """Signals at the door: calls by caller-ID attestation and reputation tier, put through or stopped; campaigns."""
    periods, days = q.periods(), q.days()
    lines = [q.line] if q.line else sorted(r.smembers(rk.LINES))
    per_scope = _sum_hashes(r, rk.COUNTS, [q.scope, *lines], periods)
    counts = per_scope[q.scope]
    providers: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for name, n in counts.items():
        if name.startswith("rep:"):
            _rep, tier, done, provider = (name.split(":", 3) + ["", "", ""])[:4]
            providers[(tier, provider)][done] += n
    fields = ["ev:campaign", *(f"campaign:{a}" for a in CAMPAIGN_ACTIONS)]
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.hmget(rk.bucket(rk.COUNTS, q.scope, day), fields)
    for day in days:
        pipe.zrange(rk.bucket(rk.CAMPAIGNS, q.scope, day), 0, -1, withscores=True)
    replies = pipe.execute()
    daily = [{"day": day, "campaigns": int(values[0] or 0),
              **{action: int(v or 0) for action, v in zip(CAMPAIGN_ACTIONS, values[1:], strict=True)}}
             for day, values in zip(days, replies[:len(days)], strict=True)]
    found = [member for entries in replies[len(days):] for member, _score in entries]
    clock = Clock(q.settings.tz)
    campaigns = []
    for member in found[-CAMPAIGN_ROWS:]:
        ts, line, prefix, numbers, minutes, first, action = (member.split("|", 6) + [""] * 6)[:7]
        campaigns.append({"detected": clock.iso(_int(ts)), "line": line, "prefix": prefix,
                          "first_seen": clock.iso(_int(first)), "numbers": _int(numbers),
                          "minutes": _int(minutes), "action": action})
    totals = count_totals(counts)
    order = {tier: i for i, tier in enumerate(TIER_NAMES)}
    return {
        "totals": {"calls": totals["calls"], "stopped": totals["treated"], "campaigns": totals["campaigns"],
                   **{f"campaign_calls_{done}": counts[f"campaign_call:{done}"] for done in OUTCOMES}},
        "attestation": [{"class": cls, "meaning": ATTESTATION_WORDS.get(cls, cls), **_split(counts, f"attest:{cls}:")}
                        for cls in ATTESTATION_CLASSES],
        "reputation": [{"tier": tier, "band": TIER_WORDS[tier],
                        **_sum_outcomes(m for (t, _p), m in providers.items() if t == tier)} for tier in TIER_NAMES],
        "providers": [{"tier": tier, "provider": provider or "-", **_sum_outcomes([m])}
                      for (tier, provider), m in sorted(providers.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
                      if tier in order],
        "daily": daily,
        "campaigns": campaigns,
        "campaigns_listed": len(campaigns),
        "lines": [{"line": line, **_line_signals(per_scope[line])} for line in lines],
        "note": "Stopped: the screen treated the call at the door (the headline's 'treated at the door'); allowed: "
                "it went on to the agents, on the review list or not. Reputation tiers are fixed bands of the add-on "
                "score, whatever each line's own thresholds are.",
    }


def _sum_outcomes(parts: Iterable[Counter[str]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    row = {done: total[done] for done in OUTCOMES}
    return {"calls": sum(row.values()), **row}


def _line_signals(c: Counter[str]) -> dict[str, int]:
    """One line's calls per attestation class and reputation tier, and its campaigns (the per-line table)."""
    tiers: Counter[str] = Counter()
    for name, n in c.items():
        if name.startswith("rep:"):
            tiers[name.split(":", 2)[1]] += n
    totals = count_totals(c)
    return {"calls": totals["calls"],
            **{f"attest_{cls}": _split(c, f"attest:{cls}:")["calls"] for cls in ATTESTATION_CLASSES},
            **{f"rep_{tier}": tiers[tier] for tier in TIER_NAMES}, "campaigns": totals["campaigns"]}


REPORT_FUNCS: dict[str, Callable[[redis.Redis, Query], dict[str, Any]]] = {
    "frequency": frequency, "sources": sources, "offenders": offenders, "deterrence": deterrence,
    "agents": agents, "withheld": withheld, "difficult": difficult, "signals": signals,
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
