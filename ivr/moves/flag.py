"""Flagging a caller as a harasser: the one path the phone key and the desk button share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from blocklist import abuse, exposure, keys, warnings
from blocklist.calls import DECISION_TTL_S, Calls, is_gone
from blocklist.entries import FlagResult
from blocklist.flags import FlagTransaction, flag_category
from blocklist.numbers import WITHHELD
from ivr import urls
from ivr.accounts import User
from ivr.resources import Resources
from workers.calls import enqueue_redirect
from workers.reports.jobs import fold_pending_key, schedule_fold

log = logging.getLogger("ivr.flag")
GEO_FIELDS = ("FromCity", "FromState", "FromZip", "FromCountry", "StirVerstat")


@dataclass(frozen=True)
class Flagged:
    result: FlagResult
    number: str
    caller_alive: bool
    redirect_job: str | None


# ---- who may act on a call ---------------------------------------------------------------------------------
def latest_leg(legs: list[tuple[str, dict[str, str]]]) -> tuple[str, dict[str, str]]:
    """Of some agent legs (CallSid, fields), the one that dialled or was bridged last; ("", {}) for none."""
    if not legs:
        return "", {}

    def last_activity(item: tuple[str, dict[str, str]]) -> int:
        leg = item[1]
        return max(int(leg.get("dial_started") or 0), int(leg.get("bridged_at") or 0))

    return max(legs, key=last_activity)


def my_leg(res: Resources, user: User) -> tuple[str, dict[str, str]]:
    """The latest agent leg of any of the user's phones (`ivr:agent:<identity>:leg`), and its state."""
    if not user.identities:
        return "", {}
    return latest_leg(Calls(res.store).current_legs(user.identities))


def who_acts(call: dict[str, str], user: User | None, leg: dict[str, str], sid: str) -> str:
    """The agent to record as acting on the call `sid`, by the desk's rule (see acting_on); `leg` is the
    user's latest leg (my_leg). PermissionError: an agent and not their caller."""
    if user is None:
        return call.get("agent", "")
    mine = call.get("agent") in user.identities or leg.get("caller") == sid
    if not mine and not user.at_least("manager"):
        raise PermissionError("this call was not bridged to your phone: you can act only on your own callers")
    if call.get("agent") in user.identities:
        return str(call["agent"])
    return leg.get("identity") or (user.identities[0] if user.identities else user.username)


def acting_on(res: Resources, user: User | None, sid: str) -> tuple[dict[str, str], str]:
    """The call `sid` and the agent to record as acting on it, by one rule for the desk and the API.

    An agent acts only on a caller bridged to one of their phones, and is recorded by that phone
    identity; a manager or admin acts on any call, recorded as themselves; the service token (no user)
    acts on any call, recorded as the agent the call was bridged to. Never a name from the request.
    LookupError: no such call; PermissionError: not this agent's caller.
    """
    call = Calls(res.store).get(sid)
    if not call:
        raise LookupError(unknown_call(sid))
    if user is None:
        return call, who_acts(call, None, {}, sid)
    _leg_sid, leg = my_leg(res, user)
    return call, who_acts(call, user, leg, sid)


def unknown_call(sid: str) -> str:
    return f"no call {sid} is known here; check the CallSid (calls are kept for 30 days)"


# ---- the flag ----------------------------------------------------------------------------------------------
def flag_call(res: Resources, caller_sid: str, *, via: str, agent: str, reason: str = "", note: str = "",
              move_caller: str = "redirect", category: str = "") -> Flagged:
    """Save the flag (blocklist entry + event) first, then move the caller.

    move_caller: "redirect" (REST update of the live leg, retried by RQ), "decision" (the caller is
    in its private hold queue and polls for the agent's choice), or "none". `agent` is who flagged (the
    phone key: the agent leg's identity); empty: the agent the call was bridged to. `category`: the abuse
    category (blocklist/abuse.py; empty: the one a legacy `reason` meant, else "other"); ValueError for an
    unknown one, before anything is written.
    """
    return _flag(res, caller_sid, user=None, agent=agent, via=via, reason=reason, note=note, move_caller=move_caller,
                 category=category)


def flag_as(res: Resources, user: User | None, caller_sid: str, *, via: str, reason: str = "", note: str = "",
            move_caller: str = "redirect", category: str = "") -> Flagged:
    """flag_call for a desk user (None: the service token), who acts decided by acting_on's rule on the
    same read the flag is made from. LookupError: no such call; PermissionError: not this agent's caller;
    ValueError: an unknown category (nothing written)."""
    return _flag(res, caller_sid, user=user, agent=None, via=via, reason=reason, note=note, move_caller=move_caller,
                 category=category)


def _flag(res: Resources, caller_sid: str, *, user: User | None, agent: str | None, via: str, reason: str,
          note: str, move_caller: str, category: str) -> Flagged:
    """Two round trips (FlagTransaction): read the call and who acts; then the flag script, which runs the
    caller's move and the jobs after the flag, and only when the flag is new. So the flag is saved before
    anything can move the caller, and a flag of the same call made in between (the phone key and the desk
    at once) is answered as a duplicate, with nothing else written."""
    category = flag_category(category, reason)  # an unknown category is refused before any round trip
    with FlagTransaction(res.blocklist, caller_sid) as tx:
        seen = tx.read(user.identities if user is not None else (), extra=[("EXISTS", fold_pending_key())])
        call = seen.call
        if not call:
            raise LookupError(unknown_call(caller_sid))
        acting = agent if agent is not None else who_acts(call, user, latest_leg(seen.legs)[1], caller_sid)
        number = call.get("number", WITHHELD)
        alive = not is_gone(call)
        if seen.flagged_via is not None:  # what the flag script answers a second flag of a call, unwritten
            return Flagged(FlagResult("duplicate", False, None, 0, via=seen.flagged_via), number, alive, None)
        after = _AfterFlag(res, caller_sid, call, alive, move_caller, fold_pending=bool(seen.extra[0]))
        extra = {name: call.get(name, "") for name in GEO_FIELDS if call.get(name)}
        result = tx.commit(number, line=call.get("line", ""), via=via, agent=acting or call.get("agent", ""),
                           reason=reason, note=note, extra=extra, also=after.queue, category=category)
    if result.status == "flagged":
        log.info("call %s flagged via %s by %s (number %s, blocked=%s)", caller_sid, via, acting or "?", number,
                 result.blocked)
    return Flagged(result, number, alive, after.job_id if result.status == "flagged" else None)


class _AfterFlag:
    """What a new flag does besides the flag, recorded for the flag script to run after it (see _flag)."""

    def __init__(self, res: Resources, caller_sid: str, call: dict[str, str], alive: bool, move_caller: str,
                 fold_pending: bool) -> None:
        self.res, self.sid, self.call, self.alive = res, caller_sid, call, alive
        self.move_caller, self.fold_pending = move_caller, fold_pending
        self.job_id: str | None = None

    def queue(self, pipe: Any) -> None:
        sid, call = self.sid, self.call
        # Plain HSETs on the call the read just found (Calls.update's script only guards against unknown
        # CallSids); the flag script, which runs them after its own, keeps the hash from outliving the call.
        if self.alive and self.move_caller in ("decision", "redirect"):
            # the held caller's next poll reads it; for a redirect, in case it sits in its private hold queue
            pipe.set(keys.decision(sid), "isolate", ex=DECISION_TTL_S)
        if self.alive and self.move_caller == "redirect":
            pipe.hset(keys.call(sid), "redirect", "queued")
            self.job_id = enqueue_redirect(self.res.rq_connection, self.res.settings, sid,
                                           urls.external("voice.isolation", lang=call.get("lang", "")), pipeline=pipe)
        elif not self.alive:
            pipe.hset(keys.call(sid), "redirect", "caller_gone")
        exposure.record(pipe, call.get("agent", ""), sid)  # the agent it was bridged to: the wellbeing counts
        if not self.fold_pending:
            _schedule_fold(self.res, pipe)


def _schedule_fold(res: Resources, pipe: Any) -> None:
    """Ask the reports worker to fold the new event; a failure here never loses the flag."""
    try:
        schedule_fold(res.rq_connection, pipeline=pipe)
    except Exception:  # the periodic fold (rq cron) picks the event up anyway
        log.exception("could not enqueue the report fold; the periodic fold will pick the flag up")
        res.count("fold_enqueue_errors")


def call_view(res: Resources, caller_sid: str) -> dict[str, Any]:
    """What the desk shows about one caller: the call, the number's blocks and history."""
    call = Calls(res.store).get(caller_sid)
    number = call.get("number", "")
    history: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    if number and number != WITHHELD:
        history = res.blocklist.history(number)
        entries = [e.to_dict() for e in res.blocklist.entries(number)]
    flags = [h for h in history if h.get("action") == "flag" and h.get("call_sid") != caller_sid]
    # Older flags have no category: the one their reason meant, else "other" (a Counter keeps the taxonomy's order)
    kinds = [abuse.category(f.get("category") or f.get("reason"), default="other") for f in flags]
    return {
        "call_sid": caller_sid,
        "number": number,
        "line": call.get("line", ""),
        "city": call.get("FromCity", ""),
        "state": call.get("FromState", ""),
        "country": call.get("FromCountry", ""),
        "started": int(call["started"]) if call.get("started") else None,
        "bridged_at": int(call["bridged_at"]) if call.get("bridged_at") else None,
        "ended": int(call["ended"]) if call.get("ended") else None,
        "screen": {"decision": call.get("decision", ""), "rule": call.get("rule", ""), "detail": call.get("detail", "")},
        "flagged": bool(call.get("flagged")),
        "flag_via": call.get("flag_via", ""),
        "redirect": call.get("redirect", ""),
        "isolation": call.get("isolation_outcome", ""),
        "previous_flags": len(flags),
        "previous_categories": [{"category": key, "flags": kinds.count(key)} for key in abuse.KEYS if key in kinds],
        "category": call.get("category", ""),
        "warnings_on_record": warnings.count(res.store, number),
        "blocks": entries,
        "history": history,
    }
