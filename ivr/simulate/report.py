"""What a run saw: the counts and the summary table `ivr simulate` prints."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass
class Counts:
    """What the simulator saw; each line is checkable against what the app stored."""

    placed: int = 0
    door: int = 0  # treated at the door: reject, line fault, hang-up, isolation
    queued: int = 0
    answered: int = 0
    flagged_key: int = 0
    flagged_desk: int = 0
    moves: Counter[str] = field(default_factory=Counter)  # escalate / warn / callback, by key
    abandoned: int = 0  # hung up waiting for an agent
    let_go: int = 0  # left the agents' queue by the app's Leave (longest wait, no agent)
    isolation_complete: int = 0
    isolation_abandoned: int = 0
    redirects: int = 0  # REST call updates from the app that moved a live leg
    callbacks: int = 0  # outbound calls the app created through REST
    status_callbacks: int = 0  # inbound callers' status callbacks the app accepted
    agent_hangups: int = 0  # bridges the agent ended by hanging up
    missing_queue_dials: int = 0  # agents' dials into a queue that did not exist (Twilio: failed at once)
    fallbacks: int = 0
    requests: int = 0
    busy_retries: int = 0  # API calls answered busy (503, Retry-After) and tried again, as the desk does
    errors: int = 0

    @property
    def flagged(self) -> int:
        return self.flagged_key + self.flagged_desk


@dataclass
class Report:
    counts: Counts
    blocked: set[str]
    flagged_calls: set[str]
    errors: Counter[str]
    by_hour: list[int]
    flags_by_hour: list[int]
    waits: list[float]
    latencies: list[float]
    real_seconds: float
    sim_seconds: float
    factor: float
    start_hour: float
    planned: int
    seed: int | None
    stopped: bool = False

    @property
    def exit_code(self) -> int:
        """1 when any webhook answered an error or invalid TwiML (or could not be reached)."""
        return 1 if self.counts.errors else 0

    def table(self) -> str:
        """The summary printed at the end of a run."""
        c = self.counts
        real = max(self.real_seconds, 1e-9)
        rows: list[tuple[str, str, str]] = [
            ("calls placed", f"{c.placed}", f"{c.placed / real:.1f}/s real" + (" (stopped early)" if self.stopped else "")),
            ("treated at the door", f"{c.door}", "reject, line fault, hang-up or isolation before any agent"),
            ("queued for an agent", f"{c.queued}", ""),
            ("answered by an agent", f"{c.answered}", self._wait_note()),
            ("flagged", f"{c.flagged}", f"* 9: {c.flagged_key}, desk: {c.flagged_desk}"
             + (f"; {c.flagged / c.answered:.0%} of answered" if c.answered else "")),
            ("numbers blocklisted", f"{len(self.blocked)}", "flagged callers with a caller ID"),
            ("isolation played / left early", f"{c.isolation_complete} / {c.isolation_abandoned}", ""),
            ("difficult-caller moves", f"{sum(c.moves.values())}",
             ", ".join(f"{k}: {v}" for k, v in sorted(c.moves.items())) or "escalate, warn, callback"),
            ("hung up waiting", f"{c.abandoned}", ""),
            ("let go by the app", f"{c.let_go}", "longest wait or no agent: offered a call back"),
            ("ended by the agent hanging up", f"{c.agent_hangups}", "Dial action CallStatus=completed"),
            ("dials of a missing queue", f"{c.missing_queue_dials}",
             "Twilio fails a Dial into a queue nobody created" if c.missing_queue_dials else ""),
            ("moved by the app (REST)", f"{c.redirects}", "call updates through the stand-in"),
            ("calls created by the app", f"{c.callbacks}", "callbacks through the stand-in"),
            ("status callbacks", f"{c.status_callbacks}", ""),
            ("webhook and API requests", f"{c.requests}", f"{c.requests / real:.0f}/s; {self._latency_note()}"),
            *([("busy answers tried again", f"{c.busy_retries}",
                "desk and API calls beyond IVR_DESK_CONCURRENCY; nothing was changed, the retry went through")]
              if c.busy_retries else []),
            ("errors", f"{c.errors}", "" if not c.errors else "see below; exit code 1"),
        ]
        width = max(len(r[0]) for r in rows)
        span = timedelta(seconds=round(self.sim_seconds))
        lines = [f"Simulated {span} from {int(self.start_hour):02d}:00 in {self.real_seconds:.1f} s real "
                 f"(x{self.factor:g}), {c.placed} of {self.planned} calls, seed {self.seed}"]
        lines += [f"  {name:<{width}}  {value:>9}  {note}".rstrip() for name, value, note in rows]
        lines.append(f"  {'calls by hour':<{width}}  {_bars(self.by_hour)}")
        lines.append(f"  {'flags by hour':<{width}}  {_bars(self.flags_by_hour)}")
        if self.errors:
            lines.append("Errors (first kinds, with counts):")
            lines += [f"  {n:>5}  {kind}" for kind, n in self.errors.most_common(12)]
        return "\n".join(lines)

    def _latency_note(self) -> str:
        if not self.latencies:
            return "no webhook answered"
        ordered = sorted(self.latencies)
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return (f"webhook latency median {ordered[len(ordered) // 2] * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
                f"max {ordered[-1] * 1000:.0f} ms")

    def _wait_note(self) -> str:
        if not self.waits:
            return ""
        ordered = sorted(self.waits)
        return f"waited median {ordered[len(ordered) // 2]:.0f} s, longest {ordered[-1]:.0f} s (simulated)"


def _bars(values: list[int]) -> str:
    top = max(values) if values else 0
    if not top:
        return "(none)"
    marks = " ▁▂▃▄▅▆▇█"
    return "".join(marks[min(8, math.ceil(v * 8 / top))] for v in values) + f"  (00-23 h, peak {top})"
