"""The agent's desk: my live call (polled), the flag button, difficult-caller moves, withheld-call notes,
the breather after a flag, and my own exposure this week."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from blocklist import abuse, events, keys
from blocklist import exposure as agent_exposure
from blocklist.calls import Calls, valid_sid
from blocklist.clock import now_ms
from blocklist.flags import flag_category
from blocklist.keys import Agg
from blocklist.keys import Desk as dk
from blocklist.numbers import WITHHELD
from blocklist.text import clean_text
from ivr.accounts import User
from ivr.auth import desk_user as me
from ivr.auth import require_role
from ivr.desk.abuse_words import category_choices
from ivr.moves import difficult
from ivr.moves.flag import acting_on, call_view, flag_as, my_leg
from ivr.resources import Resources, resources
from workers import reports

bp = Blueprint("desk_agent", __name__, url_prefix="/desk")
log = logging.getLogger("ivr.desk.agent")

# The flag form's choices before the abuse taxonomy; a form or client that still sends one as `reason` is read
# through abuse.category (threat -> threats, prank -> nonsense; anything else unknown -> other).
FLAG_REASONS = ("nonsense", "obscene", "threat", "prank", "silent", "other")
MOVES = ("escalate", "warn", "callback")
HISTORY_SHOWN = 10


def live_state(res: Resources, user: User) -> dict[str, Any]:
    """What the live-call panel shows: my phone's state and the caller bridged to it (or the last one)."""
    leg_sid, leg = my_leg(res, user)
    state: dict[str, Any] = {"leg": leg_sid, "identity": leg.get("identity", ""), "status": "offline",
                             "caller": None}
    if not user.identities:
        state["status"] = "no_phone"
        return state
    if not leg_sid:
        return state
    caller_sid = leg.get("caller", "")
    bridged_now = bool(caller_sid) and int(leg.get("bridged_at") or 0) >= int(leg.get("dial_started") or 0)
    if not caller_sid:
        state["status"] = "offline" if leg.get("ended") else "waiting"
        return state
    view = call_view(res, caller_sid)
    call = Calls(res.store).get(caller_sid)
    view["caller_name"] = call.get("CallerName", "")
    view["zip"] = call.get("FromZip", "")
    view["withheld"] = view["number"] == WITHHELD
    view["noted_at"] = int(call["desk_noted"]) if call.get("desk_noted") else None
    view["escalated"] = bool(call.get("escalated"))
    view["warnings"] = int(call.get("warnings") or 0)
    view["callback"] = call.get("callback", "")
    view["history_shown"] = list(reversed(view["history"]))[:HISTORY_SHOWN]
    state["caller"] = view
    if leg.get("ended"):
        # The agent's own leg is over (its status callback): whatever the caller's side still says, the agent
        # is on no call; the last caller stays shown, to flag it late.
        state["status"] = "offline"
    elif view["ended"]:
        state["status"] = "ended" if bridged_now else "waiting"
    elif bridged_now:
        state["status"] = "on_hold" if call.get("held") == "1" else "in_call"
    else:
        state["status"] = "waiting"
    return state


def _panel(res: Resources, user: User) -> tuple[str, str]:
    """The live-call panel's HTML and a version of it (the page replaces the panel when it changes)."""
    state = live_state(res, user)
    html = render_template("desk/_live_panel.html", state=state, categories=category_choices(),
                           default_category=res.settings.flag_category)
    return html, hashlib.sha256(html.encode()).hexdigest()[:16]


@bp.get("/call")
@require_role("agent")
def call() -> Any:
    """My live call: the caller bridged to me, their previous flags, the flag button and the moves."""
    res = resources()
    user = me()
    html, version = _panel(res, user)
    # The panel is our own template's output (already escaped), embedded as is.
    return render_template("desk/call.html", panel=Markup(html), version=version, user=user,
                           exposure=exposure(res, user), wellbeing=wellbeing(res, user), poll_ms=2000)


@bp.get("/call/panel")
@require_role("agent")
def panel() -> Response:
    """The panel alone, for the page's polling; unchanged panels cost one small response."""
    html, version = _panel(resources(), me())
    if request.args.get("v") == version:
        return Response(status=204, headers={"X-Panel-Version": version})
    return Response(html, mimetype="text/html", headers={"X-Panel-Version": version})


def _my_caller(res: Resources, user: User, sid: str) -> tuple[dict[str, str], str]:
    """The call `sid` and who acts on it when this user may act on it (ivr.moves.flag.acting_on); else 4xx."""
    if not valid_sid(sid):
        abort(400, description="a CallSid is CA followed by 32 hex digits")
    try:
        return acting_on(res, user, sid)
    except LookupError as exc:
        abort(404, description=str(exc))
    except PermissionError as exc:
        abort(403, description=str(exc))


@bp.post("/call/<sid>/flag")
@require_role("agent")
def flag(sid: str) -> Any:
    """The desk's flag button: the same path as the phone key (blocklist + event), the caller to isolation."""
    if not valid_sid(sid):
        abort(400, description="a CallSid is CA followed by 32 hex digits")
    reason = clean_text(request.form.get("reason", ""), 200)
    note = clean_text(request.form.get("note", ""), 2000)
    if reason and reason not in FLAG_REASONS:
        reason = "other"
    try:  # the form's category; an older form's reason means the category it names
        category = flag_category(clean_text(request.form.get("category", ""), 40), reason)
    except ValueError as exc:
        return _refused(_("Not flagged: %(problem)s.", problem=str(exc)))
    try:  # who acts is decided on the flag's own watched read (acting_on's rule): no read of the call before it
        # the block's reason in plain words when the form gives only a category (the blocklist pages show it)
        flagged = flag_as(resources(), me(), sid, via="desk", reason=reason or abuse.WORDS[category], note=note,
                          category=category)
    except LookupError as exc:
        abort(404, description=str(exc))
    except PermissionError as exc:
        abort(403, description=str(exc))
    if flagged.result.status == "duplicate":
        flash("This caller was flagged already; nothing changed.")
    elif flagged.caller_alive:
        flash("Flagged. The caller is being moved to the analysis queue.")
    else:
        flash("Flagged. The caller had hung up already; the number is blocked.")
    if request.headers.get("X-Requested-With") == "fetch":
        return jsonify({"status": flagged.result.status, "breather": url_for("desk_agent.breather", call=sid)})
    return redirect(url_for("desk_agent.breather", call=sid))


@bp.post("/call/<sid>/move/<move>")
@require_role("agent")
def move(sid: str, move: str) -> Any:
    """Escalate to a supervisor, set the polite limit, or agree a callback: the same moves as keys 1, 2, 3."""
    if move not in MOVES:
        abort(404, description=f"unknown move {clean_text(move, 20)!r}: one of {', '.join(MOVES)}")
    res = resources()
    user = me()
    _call, agent = _my_caller(res, user, sid)
    note = clean_text(request.form.get("note", ""), 2000)
    try:
        category = difficult.move_category(clean_text(request.form.get("category", ""), 40))
    except ValueError as exc:
        return _refused(_("Not done: %(problem)s.", problem=str(exc)))
    try:
        result = desk_move(res, sid, move, agent=agent, note=note, category=category)
    except ValueError as exc:
        flash(f"Not done: {exc}.", "error")
        return redirect(url_for("desk_agent.call"))
    except LookupError as exc:
        abort(404, description=str(exc))
    flash(result)
    return redirect(url_for("desk_agent.call"))


def desk_move(res: Resources, sid: str, move: str, *, agent: str, note: str, category: str = "") -> str:
    """Run a difficult-caller move exactly as POST /api/calls/<sid>/<move> does; what to tell the agent."""

    return difficult.desk_move(res, sid, move, agent=agent, note=note, via="desk", category=category).message


def _refused(message: str) -> Any:
    """A flag or move the desk refused (an unknown category): nothing changed; the agent is told why, with a 400."""
    if request.headers.get("X-Requested-With") == "fetch":
        return jsonify({"status": "refused", "error": message}), 400
    abort(400, description=message)


@bp.post("/call/<sid>/note-time")
@require_role("agent")
def note_time(sid: str) -> Any:
    """Withheld caller: note this call's time for the manager (to match against the carrier's bill)."""
    res = resources()
    user = me()
    call, _agent = _my_caller(res, user, sid)
    if call.get("number", WITHHELD) != WITHHELD:
        flash("This caller's number is known: flag it, or note it in the flag's note.", "error")
        return redirect(url_for("desk_agent.call"))
    at = now_ms()
    started = call.get("started") or call.get("bridged_at") or str(at)
    if call.get("desk_noted"):
        flash("This call's time was noted already.")
        return redirect(url_for("desk_agent.call"))
    pipe = res.store.pipeline(transaction=True)
    pipe.xadd(dk.WITHHELD_NOTES, {"ts": str(at), "call_started": str(started), "call_sid": sid,
                                  "line": call.get("line", ""), "agent": call.get("agent", ""), "by": user.username,
                                  "from_raw": clean_text(call.get("from_raw", ""), 40)})
    events.audit(pipe, ts=at, by=user.username, role=user.role, action="withheld_note", number=WITHHELD,
                 scope=call.get("line", ""), subject=sid, reason="withheld call time noted for the carrier's bill")
    pipe.execute()
    Calls(res.store).update(sid, desk_noted=at)
    flash("Noted: the manager sees this call's time on the withheld-calls page.")
    return redirect(url_for("desk_agent.call"))


# ---- after a flag ------------------------------------------------------------------------------------------
@bp.get("/breather")
@require_role("agent")
def breather() -> Any:
    """A short pause before the next call, and my own exposure this week."""
    res = resources()
    user = me()
    sid = request.args.get("call", "")
    call = Calls(res.store).get(sid) if valid_sid(sid) else {}
    just_flagged = call.get("flagged", "")
    override = res.store.hget(keys.SETTINGS, "breather_seconds")  # the managers' desk setting, as the phone reads it
    base = int(override) if override and str(override).isdigit() else res.settings.breather_seconds
    return render_template("desk/breather.html", seconds=agent_exposure.breather_seconds(max(1, base), call.get("category")),
                           exposure=exposure(res, user, int(just_flagged or 0)), wellbeing=wellbeing(res, user),
                           user=user)


def wellbeing(res: Resources, user: User) -> agent_exposure.Exposure | None:
    """My difficult calls this shift and this week, and my wellbeing break if one is on (read only)."""
    if not user.identities:
        return None
    try:
        return agent_exposure.look(res.store, user.identities[0], agent_exposure.Limits.from_settings(res.settings))
    except Exception:  # a card on the desk: the desk works without it
        log.exception("the wellbeing state could not be read")
        return None


def exposure(res: Resources, user: User, just_flagged_ms: int = 0) -> dict[str, Any]:
    """Harassment calls flagged on my phones in the last 7 days, from the folded reports.

    A flag made a moment ago (`just_flagged_ms`) that the reports have not folded yet is counted too, so the
    breather never says 0 right after the agent's own flag.
    """
    out: dict[str, Any] = {"flags": 0, "days": 7, "available": True}
    if not user.identities:
        return out
    try:

        rs = dataclasses.replace(reports.ReportSettings.from_env(), data_dir=res.settings.data_dir,
                                 default_region=res.settings.default_region)
        q = reports.Query.build(settings=rs)
        q = dataclasses.replace(q, start=q.end - timedelta(days=6))
        data = reports.agents(res.store, q)
    except Exception:  # reports are a convenience here: the desk works without them
        log.exception("exposure report failed")
        out["available"] = False
        return out
    mine = set(user.identities) | {user.username}
    out["flags"] = sum(int(row.get("flags", 0)) for row in data.get("agents", []) if row.get("agent") in mine)
    if just_flagged_ms and just_flagged_ms > _folded_through_ms(res):
        out["flags"] += 1
    return out


def _folded_through_ms(res: Resources) -> int:
    """Time of the last event the reports have folded (stream ids start with milliseconds)."""

    cursor = str(res.store.hget(Agg.STATE, "cursor") or "")
    head = cursor.split("-", 1)[0]
    return int(head) if head.isdigit() else 0
