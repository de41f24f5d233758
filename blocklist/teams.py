"""Teams of agents (IVR_TEAMS): the callers waiting for one team, so its members take them before anyone else's.

A contact restriction may send a number's calls to one team only (blocklist/restrictions.py). Such a caller waits in
the team's own Twilio queue; Twilio gives an agent's `<Dial><Queue>` one queue at a time, so the service keeps
which callers wait for which team, and a member whose leg asks for the next caller dials the team's queue while
someone waits there, else the agents' queue. A caller leaves the list when bridged or when it leaves the queue;
an entry older than the longest wait is ignored and trimmed (a lost callback never holds a member for ever).
"""

from __future__ import annotations

from typing import Any

from blocklist import keys

KEEP_MS = 86_400_000  # a waiting list outlives no caller by more than a day


def wait(r: Any, team: str, caller_sid: str, at: int) -> None:
    """The caller now waits in the team's queue."""
    pipe = r.pipeline(transaction=False)
    pipe.zadd(keys.team_waiting(team), {caller_sid: at})
    pipe.pexpire(keys.team_waiting(team), KEEP_MS)
    pipe.execute()


def left(r: Any, team: str, caller_sid: str) -> None:
    """The caller was bridged to a member, or left the team's queue."""
    r.zrem(keys.team_waiting(team), caller_sid)


def with_callers(r: Any, teams: list[str], now: int, longest_wait_ms: int) -> list[str]:
    """Of `teams`, the ones someone waits for now (one round trip), in the order given."""
    if not teams:
        return []
    pipe = r.pipeline(transaction=False)
    for team in teams:
        pipe.zremrangebyscore(keys.team_waiting(team), "-inf", f"({now - longest_wait_ms}")
        pipe.zcard(keys.team_waiting(team))
    counts = pipe.execute()[1::2]
    return [team for team, count in zip(teams, counts, strict=True) if count]
