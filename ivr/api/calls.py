"""The JSON API of the call flow: flag a live call, see the caller bridged to an agent leg."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request

from blocklist import abuse
from blocklist.calls import Calls, valid_sid
from blocklist.flags import flag_category
from ivr.auth import api_auth, current_principal, require_role
from ivr.moves import difficult
from ivr.moves.flag import acting_on, call_view, flag_as
from ivr.problems import problem
from ivr.resources import resources

bp = Blueprint("api", __name__, url_prefix="/api")


def error(status: int, code: str, detail: str) -> tuple[Any, int]:
    return problem(status, code, detail)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or ValueError saying what to send."""
    if not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValueError("send a JSON object (Content-Type: application/json), e.g. {\"category\": \"obscene\"}")
    return data


def no_agent_field(data: dict[str, Any]) -> None:
    """Who acted is who asks (the token's owner), never a name the request brings."""
    if "agent" in data:
        raise ValueError("leave out agent: the call records who you are (your token's user, or for the service "
                         "token the agent the call was bridged to)")


class Refused(Exception):
    """An API answer other than success, raised from a helper (the blueprint turns it into JSON)."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


@bp.errorhandler(Refused)
def refused(exc: Refused) -> tuple[Any, int]:
    return error(exc.status, exc.code, exc.detail)


def acting_caller(sid: str) -> tuple[dict[str, str], str]:
    """The call and who acts on it, by the desk's rules for this principal's role (ivr.moves.flag.acting_on)."""
    p = current_principal()
    try:
        return acting_on(resources(), p.user if p is not None else None, sid)
    except LookupError as exc:
        raise Refused(404, "unknown_call", str(exc)) from None
    except PermissionError as exc:
        raise Refused(403, "not_your_caller", str(exc)) from None


def category_field(data: dict[str, Any], *, reason_alias: str = "") -> str:
    """The request's abuse category (blocklist/abuse.py key), or "" when it gives none. `reason`, what clients sent
    before categories, is read as its category. ValueError naming the choices for an unknown one."""
    category = text_field(data, "category", 40)
    if category:
        return abuse.category(category)
    return abuse.category(reason_alias) if reason_alias else ""


def text_field(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    if len(value) > limit:
        raise ValueError(f"{name} is {len(value)} characters; keep it under {limit}")
    return value


@bp.post("/calls/<sid>/flag")
@api_auth
def flag(sid: str) -> Any:
    """Flag a call from the desk: blocklist + event at once, the caller moved to isolation (retried)."""
    if not valid_sid(sid):
        return error(400, "bad_call_sid", "a CallSid is CA followed by 32 hex digits")
    try:
        data = json_body()
        reason = text_field(data, "reason", 200)
        note = text_field(data, "note", 2000)
        no_agent_field(data)
    except ValueError as exc:
        return error(400, "bad_request", str(exc))
    try:  # a reason alone (older clients) means the category it names, else "other": it may be free text
        category = flag_category(text_field(data, "category", 40), reason)
    except ValueError as exc:
        return error(400, "unknown_category", str(exc))
    p = current_principal()
    try:  # who acts is decided on the read the flag is made from (acting_on's rule): two round trips in all
        flagged = flag_as(resources(), p.user if p is not None else None, sid, via="desk", reason=reason, note=note,
                          category=category)
    except LookupError as exc:
        return error(404, "unknown_call", str(exc))
    except PermissionError as exc:
        return error(403, "not_your_caller", str(exc))
    result = flagged.result
    body = {
        "call_sid": sid,
        "status": "already_flagged" if result.status == "duplicate" else "flagged",
        "number": flagged.number,
        "blocked": result.blocked,
        "until": result.until_ms,
        "step": result.step,
        "caller": "in call" if flagged.caller_alive else "gone",
        "redirect": "queued" if flagged.redirect_job else ("not needed" if not flagged.caller_alive else "none"),
    }
    if result.status != "duplicate":
        body["category"] = category  # what this flag recorded (a repeat records nothing)
    return jsonify(body), 200 if result.status == "duplicate" else 202


@bp.get("/calls/<sid>")
@api_auth
def call(sid: str) -> Any:
    """One call as the desk shows it, incl. the redirect state after a desk flag."""
    if not valid_sid(sid):
        return error(400, "bad_call_sid", "a CallSid is CA followed by 32 hex digits")
    acting_caller(sid)  # an agent sees only their own callers, as on the desk
    return jsonify(call_view(resources(), sid))


@bp.get("/agents/<agent_sid>/call")
@api_auth
def agent_call(agent_sid: str) -> Any:
    """The caller bridged to this agent leg, and the number's flag history."""
    if not valid_sid(agent_sid):
        return error(400, "bad_call_sid", "an agent leg's CallSid is CA followed by 32 hex digits")
    leg = Calls(resources().store).agent_leg(agent_sid)
    if not leg:
        return error(404, "unknown_agent_leg", "no agent leg with this CallSid has connected (POST /agent/connect)")
    p = current_principal()
    if p is not None and p.user is not None and not p.at_least("manager") and \
            leg.get("identity", "") not in p.user.identities:
        return error(403, "not_your_leg", "this agent leg is not one of your phones: you can see only your own")
    caller = leg.get("caller", "")
    body: dict[str, Any] = {"agent_call_sid": agent_sid, "agent": leg.get("identity", ""), "caller": None}
    if caller:
        view = call_view(resources(), caller)
        view["current"] = not view["ended"] and int(leg.get("bridged_at") or 0) >= int(leg.get("dial_started") or 0)
        body["caller"] = view
    return jsonify(body)


@bp.post("/calls/<sid>/<move>")
@api_auth
def move(sid: str, move: str) -> Any:
    """Escalate, warn or call back from the desk; the caller's live leg is moved (REST, retried)."""
    if move not in difficult.MOVES:
        return error(404, "unknown_move", f"moves are {', '.join(difficult.MOVES)} (and flag)")
    if not valid_sid(sid):
        return error(400, "bad_call_sid", "a CallSid is CA followed by 32 hex digits")
    try:
        data = json_body()
        note = text_field(data, "note", 2000)
        no_agent_field(data)
        try:
            category = category_field(data, reason_alias=text_field(data, "reason", 40))
        except ValueError as exc:
            return error(400, "unknown_category", str(exc))
        delay = data.get("delay_seconds")
        if delay is not None and (not isinstance(delay, int) or isinstance(delay, bool)):
            raise ValueError("delay_seconds must be a whole number of seconds")
        at = None
        if data.get("at"):

            try:
                at = datetime.fromisoformat(text_field(data, "at", 40))
            except ValueError:
                raise ValueError("at must be an ISO time with zone, e.g. 2026-11-25T09:30:00+02:00") from None
    except ValueError as exc:
        return error(400, "bad_request", str(exc))
    _call, agent = acting_caller(sid)
    try:
        result = difficult.desk_move(resources(), sid, move, agent=agent, note=note, via="desk",
                                   delay_seconds=delay, at=at, category=category)
    except LookupError as exc:
        return error(404, "unknown_call", str(exc))
    except ValueError as exc:
        return error(400, "not_possible", str(exc))
    return jsonify({"call_sid": sid, "move": result.kind, "redirect": result.redirect, "detail": result.detail,
                    "category": category or None}), 202


@bp.get("/supervisors/queue")
@api_auth
def supervisors_queue() -> Any:
    """Escalated callers with who escalated, the note and the number's history."""
    rows = []
    for record in difficult.escalations(resources()):
        view = call_view(resources(), record["call_sid"])
        rows.append({"escalation": record, "call": view})
    return jsonify({"escalations": rows})


@bp.get("/callbacks")
@api_auth
@require_role("manager")
def callbacks() -> Any:
    """Scheduled callbacks with their outcome."""
    return jsonify({"callbacks": difficult.callbacks(resources())})
