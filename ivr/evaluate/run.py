"""The month played through the real screen and the real flag, in virtual time, on a throwaway Redis.

Every call goes through `Blocklist.screen` (one script call, as at the door) with the month's time as `at`;
a call that gets through is answered, and when the agent flags it, `Blocklist.flag` runs at the moment the
agent presses the key. Nothing else of the service is imitated: the decisions are the product's own.

Virtual time and block expiry. A flag's block ends by Redis TTL (flag.lua: PEXPIREAT at the block's `until`,
the hash keeps `until` too); nothing in blocklist/ or workers/ sweeps blocks (the cron only prunes the
listing index, `Blocklist.prune_index`). Redis' clock does not run through a virtual month, so the month is
set in the future (START_MS, March 2100: no PEXPIREAT of the month fires by Redis' own clock during a run),
and at the first virtual millisecond after a block's `until` this runner deletes the block's key, exactly
what Redis' expiry does (`DEL` of the key and nothing else: no history entry, the index member left for
`prune_index`, as after a real expiry), checking first that the block still ends then (a flag during a block
leaves it as it was). So a 24-hour block really ends 24 virtual hours later.

The other keys with a TTL need nothing: the burst and campaign windows are trimmed by the screen's own
`now` (the month's time), and their real-time PEXPIRE only drops windows whose calls are long outside
them; call hashes and flag-once keys live longer than a run. The campaign marker (one campaign event per
window) keeps its real-time TTL, so a campaign gets one event per run: it changes no decision, and the
campaign figures use the first detection only.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from blocklist import keys
from blocklist.numbers import describe
from blocklist.policy import Policy
from blocklist.rules import Blocklist
from blocklist.signals import Signals
from ivr.evaluate.metrics import Outcome, figures, targets
from ivr.evaluate.population import DAY_MS, Population

START_MS = int(datetime(2100, 3, 1, tzinfo=UTC).timestamp() * 1000)
AGENTS = tuple(f"+1555000{1000 + i}" for i in range(8))  # the month's agents (who flags is recorded, not judged)
BY = "ivr evaluate"
STREAM_BATCH = 5000
_EXPIRE, _FLAG = 0, 1  # order of events at the same millisecond: an expiry before a flag


@dataclass
class Played:
    """What the month did: every call's outcome, and what the store did besides."""

    outcomes: list[Outcome]
    flags: int = 0
    blocks_expired: int = 0
    seconds: float = 0.0
    rules: dict[str, int] = field(default_factory=dict)


def play(bl: Blocklist, population: Population, progress: Callable[[int], None] | None = None) -> Played:
    """Screen every call of the month in time order, answer the ones that get through, flag as the agents
    would, end blocks when their time is up; `progress(n)` is told every few hundred calls."""
    started = time.monotonic()
    pending: list[tuple[int, int, int, str, str, str]] = []  # (ms, order, seq, number, call sid, line)
    seq = 0
    facts: dict[str, tuple[str, str, str]] = {}
    decided: list[tuple[str, bool, str, float, int | None]] = []  # (sid, stopped, rule, agent seconds, flagged at)
    flags = expired = 0
    rules: dict[str, int] = {}

    def run_until(now: int) -> None:
        nonlocal flags, expired, seq
        while pending and pending[0][0] <= now:
            at, order, _s, number, sid, line = heapq.heappop(pending)
            if order == _EXPIRE:
                expired += _expire_block(bl.r, number, at)
                continue
            result = bl.flag(number, call_sid=sid, line=line, via="key" if flags % 2 else "desk",
                             agent=AGENTS[flags % len(AGENTS)], at=at)
            flags += 1
            if result.until_ms is not None:
                seq += 1  # Redis expires a key once its time is past: the first millisecond after `until`
                heapq.heappush(pending, (result.until_ms + 1, _EXPIRE, seq, number, "", ""))

    for i, call in enumerate(population.calls):
        at = START_MS + call.at
        run_until(at)
        sid = f"CA{i:032x}"
        number = call.number
        if number not in facts:
            facts[number] = describe(number)
        d = bl.screen(number, call.line, sid, at=at, facts=facts[number],
                      signals=Signals.from_twilio(call.stir, call.addons))
        rules[d.rule] = rules.get(d.rule, 0) + 1
        flagged_at = None
        if d.blocked:
            seconds = 0.0
        elif call.flag_after is not None:
            seconds = call.flag_after
            flagged_at = at + round(call.flag_after * 1000)
            seq += 1
            heapq.heappush(pending, (flagged_at, _FLAG, seq, number, sid, call.line))
        else:
            seconds = call.talk
        decided.append((sid, d.blocked, d.rule, seconds, flagged_at))
        if progress is not None and (i + 1) % 250 == 0:
            progress(250)
    run_until(START_MS + population.scale.days * DAY_MS)  # the flags of the month's last calls
    if progress is not None:
        progress(len(population.calls) % 250)
    marked = _campaign_marks(bl.r)
    outcomes = [Outcome(at=START_MS + call.at, kind=call.kind, actor=call.actor, number=call.number, stopped=stopped,
                        rule=rule, agent_seconds=seconds, flagged_at=flagged_at,
                        campaign_mark=rule == "campaign" or sid in marked)
                for call, (sid, stopped, rule, seconds, flagged_at) in zip(population.calls, decided, strict=True)]
    return Played(outcomes, flags, expired, round(time.monotonic() - started, 2), dict(sorted(rules.items())))


def _expire_block(r: redis.Redis, number: str, now: int) -> int:
    """Do what Redis' TTL does to a flag's block at `now`: delete the key if the block has ended (1), else 0."""
    key = keys.block(keys.GLOBAL, number)
    until = r.hget(key, "until")
    if until and int(until) < now:
        return int(r.delete(key))
    return 0


def _campaign_marks(r: redis.Redis) -> set[str]:
    """CallSids the screen put in a campaign: the call event's `campaign` field, or the call that raised a
    type=campaign event (read from the event stream once the month is over)."""
    marked: set[str] = set()
    start = "-"
    while True:
        batch = r.xrange(keys.EVENTS, min=start, max="+", count=STREAM_BATCH)
        for _id, ev in batch:
            if (ev.get("type") == "call" and ev.get("campaign")) or ev.get("type") == "campaign":
                marked.add(ev.get("call_sid", ""))
        if len(batch) < STREAM_BATCH:
            return marked
        start = "(" + batch[-1][0]


def policy_shown(bl: Blocklist, lines: tuple[str, ...]) -> dict[str, Any]:
    """The policy in force: every line setting for all lines (with the sanction ladder), the lines whose own
    settings differ, and the campaign exchange length."""
    everywhere = bl.effective_settings(keys.GLOBAL)
    differ = {}
    for line in lines:
        own = bl.effective_settings(line)
        changed = {k: v for k, v in own.items() if everywhere.get(k) != v}
        if changed:
            differ[line] = changed
    return {"all_lines": everywhere, "lines": differ, "campaign_prefix_digits": bl.policy.campaign_digits}


def evaluate(conn: redis.Redis, population: Population, policy: Policy, changes: dict[str, str] | None = None,
             line: str = keys.GLOBAL, default_region: str = "US",
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """One policy over the month on an emptied database: the policy (with `changes` set on `line` as a manager
    would set them), the figures and the targets."""
    conn.flushdb()
    bl = Blocklist(conn, policy, default_region)
    for name, value in (changes or {}).items():
        bl.set_line_setting(line, name, value, by=BY)
    played = play(bl, population, progress)
    fig = figures(played.outcomes)
    return {"policy": policy_shown(bl, population.scale.lines), "changes": dict(changes or {}),
            "changes_line": line if changes else "", "figures": fig, "targets": targets(fig),
            "store": {"flags": played.flags, "blocks_expired": played.blocks_expired, "rules": played.rules},
            "seconds": played.seconds}


def check_changes(conn: redis.Redis, policy: Policy, changes: dict[str, str], line: str, lines: tuple[str, ...],
                  default_region: str = "US") -> str:
    """The line as stored ('*' or E.164), or ValueError naming the fix for a line the month has no calls on or a
    setting the store refuses (tried on the emptied throwaway database before minutes of work)."""
    conn.flushdb()
    bl = Blocklist(conn, policy, default_region)
    scope = bl.line_scope(line)
    if scope != keys.GLOBAL and scope not in lines:
        raise ValueError(f"line {line} gets no calls in the evaluation: use one of {', '.join(lines)}, or leave "
                         "--line out to change all lines")
    try:
        for name, value in changes.items():
            bl.set_line_setting(scope, name, value, by=BY)
    finally:
        conn.flushdb()
    return scope
