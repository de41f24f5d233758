"""JSON API of contact restrictions (blocklist/restrictions.py): steps short of a block a manager sets on one number
(agreed hours, at most N calls a day or week, supervisors only, voicemail only), each with a review date.

Every route wants a manager (or the service token). Bad input answers 400 and a number or restriction that is not
there 404, both as RFC 9457 problems (ivr.problems), and neither changes anything.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from blocklist.clock import format_time
from blocklist.restrictions import Restriction
from blocklist.rules import Blocklist
from ivr.api.bodies import acted_by as _by
from ivr.api.bodies import acting_role as _role
from ivr.api.bodies import body as _body
from ivr.api.bodies import reason as _reason
from ivr.api.bodies import text as _text
from ivr.auth import api_auth, require_role
from ivr.problems import problem
from ivr.resources import resources

bp = Blueprint("restrictions_api", __name__)
FIELDS = ("number", "kind", "hours", "max_calls", "per", "route", "review", "reason", "line", "start", "until", "by")


@bp.errorhandler(ValueError)
def _bad_request(exc: ValueError) -> tuple[Response, int]:
    return problem(400, "bad_request", str(exc))


@bp.errorhandler(LookupError)
def _not_found(exc: LookupError) -> tuple[Response, int]:
    return problem(404, "not_found", f"{str(exc).strip(chr(39))}; nothing was changed")


def _bl() -> Blocklist:
    return resources().blocklist


def restriction_json(r: Restriction) -> dict[str, Any]:
    """A restriction as the API gives it: milliseconds, and ISO 8601 times (UTC) beside them."""
    return {**r.to_dict(), "start": format_time(r.start_ms), "until": format_time(r.until_ms),
            "review": format_time(r.review_ms), "made": format_time(r.at)}


@bp.get("/api/restrictions")
@api_auth
@require_role("manager")
def list_restrictions() -> Any:
    """Every contact restriction, soonest review first."""
    return jsonify({"restrictions": [restriction_json(r) for r in _bl().list_restrictions()]})


@bp.post("/api/restrictions")
@api_auth
@require_role("manager")
def add_restriction() -> Any:
    """Restrict a number: {number, kind, review, reason, hours | max_calls + per | route, line?, start?, until?}."""
    body = _body()
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field {', '.join(unknown)[:80]}: send {', '.join(FIELDS)}")
    number = _text(body, "number")
    if not number:
        raise ValueError("give the caller's 'number', e.g. +14155550123")
    r = _bl().restrict(number, kind=_text(body, "kind"), hours=_text(body, "hours"),
                       max_calls=_text(body, "max_calls"), period=_text(body, "per"), route=_text(body, "route"),
                       review=_text(body, "review"), reason=_reason(body, "why the calls are restricted"),
                       by=_by(body), scope=_text(body, "line") or None, start=_text(body, "start"),
                       until=_text(body, "until"), role=_role())
    return jsonify({"restriction": restriction_json(r)}), 201


@bp.get("/api/restrictions/<number>")
@api_auth
@require_role("manager")
def show_restrictions(number: str) -> Any:
    """A number's restrictions (an empty list when it has none)."""
    bl = _bl()
    return jsonify({"number": bl.number(number), "restrictions": [restriction_json(r) for r in bl.restrictions(number)]})


@bp.delete("/api/restrictions/<number>")
@api_auth
@require_role("manager")
def remove_restrictions(number: str) -> Any:
    """Remove a number's restrictions, or one ({reason, id?, by?}); 404 when it has none (nothing changed)."""
    body = _body()
    bl = _bl()
    reason = _reason(body, "why the restriction is removed")
    removed = bl.unrestrict(number, reason=reason, by=_by(body), restriction_id=_text(body, "id"), role=_role())
    if not removed:
        raise LookupError(f"{bl.number(number)} has no contact restriction")
    return jsonify({"number": bl.number(number), "removed": [restriction_json(r) for r in removed]})



@bp.post("/api/restrictions/<number>/<rid>/keep")
@api_auth
@require_role("manager")
def keep_restriction(number: str, rid: str) -> Any:
    """After its review, keep one restriction until a new review date: {review, reason, by?}. Never renewed by
    itself: this is the manager's decision, in the history and the audit log."""
    body = _body()
    r = _bl().keep_restriction(number, rid, review=_text(body, "review"),
                               reason=_reason(body, "the review's outcome"), by=_by(body), role=_role())
    return jsonify({"restriction": restriction_json(r)})
