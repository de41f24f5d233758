"""Agents' wellbeing on the managers' desk: the check-ins after an agent crossed an exposure limit (acknowledged,
audited), and the unreported-abuse hint; the same over the JSON API.

The dashboard shows both as cards (templates desk/_checkins.html, desk/_unreported.html); the functions the
cards call are template globals, so only pages that include the cards read Redis for them.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, request, url_for

from blocklist import exposure, keys
from blocklist.clock import now_ms
from ivr.auth import api_auth, current_principal, require_role
from ivr.problems import problem
from ivr.resources import resources
from workers.reports import unreported

bp = Blueprint("desk_wellbeing", __name__)
log = logging.getLogger("ivr.desk.wellbeing")


CARD_CHECKINS = 200  # open check-ins the dashboard's card reads (grouped by agent, so a few rows)
ACKNOWLEDGE_AT_ONCE = 500  # check-ins one press of the card's button may acknowledge


def open_checkins() -> list[dict[str, Any]]:
    """Agents who crossed a limit and that no supervisor has checked in with yet: one entry per agent, newest first.

    A supervisor checks in with a person, not with each crossing: an agent who crossed the limit three times
    since is one row, with the latest crossing, how many more and since when, and every id the row's button
    acknowledges (the ids shown, so a crossing after the page was drawn waits for its own check-in)."""
    try:
        rows = exposure.checkins(resources().store, count=CARD_CHECKINS)
    except Exception:  # a card on the dashboard: the page works without it
        log.exception("the wellbeing check-ins could not be read")
        return []
    now = now_ms()
    agents: dict[str, dict[str, Any]] = {}
    for row in rows:  # newest first
        found = agents.get(row.get("agent", ""))
        if found is None:
            agents[row.get("agent", "")] = {"latest": row, "ids": [row["id"]], "since": int(row.get("at") or 0),
                                            "on_break": int(row.get("until") or 0) > now}
        else:
            found["ids"].append(row["id"])
            found["since"] = int(row.get("at") or 0)
    return list(agents.values())


def unreported_hint() -> dict[str, Any] | None:
    """The dashboard's unreported-abuse hint over the last 7 days (kept 5 minutes); None when it failed."""
    res = resources()
    try:
        return unreported.cached(res.store, short_seconds=res.settings.short_call_seconds)
    except Exception:  # a hint on the dashboard: the page works without it
        log.exception("the unreported-abuse hint could not be computed")
        return None


@bp.app_context_processor
def wellbeing_helpers() -> dict[str, Any]:
    if not request.path.startswith("/desk"):
        return {}
    return {"wellbeing_checkins": open_checkins, "unreported_hint": unreported_hint}


def _acknowledge(checkin_id: str) -> dict[str, str]:
    p = current_principal()
    if p is None:
        abort(403)
    role = p.user.role if p.user is not None else "manager"
    return exposure.acknowledge(resources().store, checkin_id, by=p.name, role=role)


@bp.post("/desk/wellbeing/acknowledge")
@require_role("manager")
def acknowledge() -> Any:
    """The check-in card's button: a supervisor checked in with the agent, for every crossing the row showed
    (each one audited, with who and when)."""
    ids = list(dict.fromkeys(i for i in request.form.getlist("id") if i))[:ACKNOWLEDGE_AT_ONCE]
    done: list[dict[str, str]] = []
    missing: list[str] = []
    for checkin_id in ids:
        try:
            done.append(_acknowledge(checkin_id))
        except LookupError as exc:
            missing.append(str(exc))
    if not done:
        flash(f"Not acknowledged: {missing[0] if missing else 'no check-in was named; reload the page'}.", "error")
        return redirect(url_for("desk_manager.dashboard")), 404
    agents = ", ".join(dict.fromkeys(row.get("agent", "") for row in done))
    more = f" ({len(done)} check-ins)" if len(done) > 1 else ""
    flash(f"Acknowledged: you checked in with {agents}{more}.")
    return redirect(url_for("desk_manager.dashboard") + "#checkins")


# ---- the JSON API --------------------------------------------------------------------------------------------
@bp.get("/api/reports/unreported")
@api_auth
@require_role("manager")
def api_unreported() -> Any:
    """The unreported-abuse hint: short calls the agent ended, `*` with no move, repeat callers never flagged."""
    res = resources()
    try:
        days = int(request.args.get("days", unreported.DEFAULT_DAYS))
        short = int(request.args.get("short_seconds", res.settings.short_call_seconds))
        line = request.args.get("line") or None
        if line is not None:
            line = res.blocklist.line_scope(line)
            line = None if line == keys.GLOBAL else line  # '*' is every line
        masked = request.args.get("mask", "").lower() in ("1", "true", "yes", "on")
        return jsonify(unreported.unreported(res.store, short_seconds=short, days=days, line=line, masked=masked))
    except ValueError as exc:
        return problem(400, "bad_request", f"{exc}; days is 1 to 30, short_seconds 1 to 600, line a line's number")


@bp.get("/api/wellbeing/checkins")
@api_auth
@require_role("manager")
def api_checkins() -> Response:
    """Check-ins: open ones (default), or all recent ones with `?all=1`."""
    show_all = request.args.get("all", "").lower() in ("1", "true", "yes", "on")
    return jsonify({"checkins": exposure.checkins(resources().store, open_only=not show_all)})


@bp.post("/api/wellbeing/checkins/acknowledge")
@api_auth
@require_role("manager")
def api_acknowledge() -> Any:
    """Acknowledge one check-in: JSON {"id": "..."} (the id from GET /api/wellbeing/checkins)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not str(body.get("id") or ""):
        return problem(400, "bad_request", 'send a JSON object with the check-in\'s id: {"id": "ann|1767000000000"}')
    try:
        return jsonify(_acknowledge(str(body["id"])))
    except LookupError as exc:
        return problem(404, "not_found", str(exc))
