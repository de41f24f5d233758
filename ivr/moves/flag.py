"""Flagging a caller as a harasser: the one path the phone key and the desk button share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from blocklist import keys
from blocklist.calls import Calls, is_gone
from blocklist.entries import FlagResult
from blocklist.numbers import WITHHELD
from ivr import urls
from ivr.accounts import User
from ivr.resources import Resources
from workers.calls import enqueue_redirect
from workers.reports import schedule_fold

log = logging.getLogger("ivr.flag")
GEO_FIELDS = ("FromCity", "FromState", "FromZip", "FromCountry", "StirVerstat")


@dataclass(frozen=True)
class Flagged:
    result: FlagResult
    number: str
    caller_alive: bool
    redirect_job: str | None


# ---- who may act on a call ---------------------------------------------------------------------------------
def my_leg(res: Resources, user: User) -> tuple[str, dict[str, str]]:
    """The latest agent leg of any of the user's phones (`ivr:agent:<identity>:leg`), and its state."""
    if not user.identities:
        return "", {}
    sids = res.store.mget([keys.agent_current_leg(i) for i in user.identities])
    found = [sid for sid in sids if sid]
    if not found:
        return "", {}
    pipe = res.store.pipeline(transaction=False)
    for sid in found:
        pipe.hgetall(keys.agent_leg(sid))
    legs = [(sid, leg) for sid, leg in zip(found, pipe.execute(), strict=True) if leg]
    if not legs:
        return "", {}

    def last_activity(item: tuple[str, dict[str, str]]) -> int:
        leg = item[1]
        return max(int(leg.get("dial_started") or 0), int(leg.get("bridged_at") or 0))

    return max(legs, key=last_activity)


def acting_on(res: Resources, user: User | None, sid: str) -> tuple[dict[str, str], str]:
    """The call `sid` and the agent to record as acting on it, by one rule for the desk and the API.

    An agent acts only on a caller bridged to one of their phones, and is recorded by that phone
    identity; a manager or admin acts on any call, recorded as themselves; the service token (no user)
    acts on any call, recorded as the agent the call was bridged to. Never a name from the request.
    LookupError: no such call; PermissionError: not this agent's caller.
    """
    call = Calls(res.store).get(sid)
    if not call:
        raise LookupError(f"no call {sid} is known here; check the CallSid (calls are kept for 30 days)")
    if user is None:
        return call, call.get("agent", "")
    _leg_sid, leg = my_leg(res, user)
    mine = call.get("agent") in user.identities or leg.get("caller") == sid
    if not mine and not user.at_least("manager"):
        raise PermissionError("this call was not bridged to your phone: you can act only on your own callers")
    if call.get("agent") in user.identities:
        return call, str(call["agent"])
    return call, leg.get("identity") or (user.identities[0] if user.identities else user.username)


def flag_call(res: Resources, caller_sid: str, *, via: str, agent: str, reason: str = "", note: str = "",
              move_caller: str = "redirect") -> Flagged:
    """Save the flag (blocklist entry + event) first, then move the caller.

    move_caller: "redirect" (REST update of the live leg, retried by RQ), "decision" (the caller is
    in its private hold queue and polls for the agent's choice), or "none".
    """
    calls = Calls(res.store)
    call = calls.get(caller_sid)
    if not call:
        raise LookupError(f"no call {caller_sid} is known here; check the CallSid (calls are kept for 30 days)")
    number = call.get("number", WITHHELD)
    extra = {name: call.get(name, "") for name in GEO_FIELDS if call.get(name)}
    result = res.blocklist.flag(number, call_sid=caller_sid, line=call.get("line", ""), via=via,
                                agent=agent or call.get("agent", ""), reason=reason, note=note, extra=extra)
    alive = not is_gone(call)
    job_id = None
    if result.status == "flagged":
        _schedule_fold(res)
        if alive and move_caller == "decision":
            calls.decide(caller_sid, "isolate")
        elif alive and move_caller == "redirect":

            calls.decide(caller_sid, "isolate")  # in case the caller sits in its private hold queue
            calls.update(caller_sid, redirect="queued")
            job_id = enqueue_redirect(res.rq_connection, res.settings, caller_sid,
                                      urls.external("voice.isolation", lang=call.get("lang", "")))
        elif not alive:
            calls.update(caller_sid, redirect="caller_gone")
        log.info("call %s flagged via %s by %s (number %s, blocked=%s)", caller_sid, via, agent or "?", number,
                 result.blocked)
    return Flagged(result, number, alive, job_id)


def _schedule_fold(res: Resources) -> None:
    """Ask the reports worker to fold the new event; a failure here never loses the flag."""
    try:

        schedule_fold(res.rq_connection)
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
    flags = [h for h in history if h.get("action") == "flag"]
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
        "previous_flags": len([f for f in flags if f.get("call_sid") != caller_sid]),
        "blocks": entries,
        "history": history,
    }
