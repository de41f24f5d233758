"""The managers' desk for contact restrictions (blocklist/restrictions.py): on a number's page, the "Restrict contact"
card lists the restrictions in force (remove one, with the reason) and makes a new one (agreed hours, at most N
calls a day or week, supervisors only, voicemail only; a review date is always given).

Every change is written with the manager's username, and the domain writes the history and the audit record.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from blocklist.clock import now_ms
from blocklist.numbers import WITHHELD
from blocklist.restrictions import KINDS, PERIODS, Restriction
from blocklist.rules import Blocklist
from blocklist.text import clean_text
from ivr.auth import desk_user as _me
from ivr.auth import require_role
from ivr.desk.restriction_words import restriction_words
from ivr.resources import blocklist as _bl
from ivr.resources import resources

bp = Blueprint("desk_restrictions", __name__, url_prefix="/desk")


def restrict_card(bl: Blocklist, number: str) -> dict[str, Any]:
    """What the number page's "Restrict contact" card shows: the restrictions (each with whether it is in force),
    and the first review date the form accepts (tomorrow in the service's time zone)."""
    at = now_ms()
    items: list[tuple[Restriction, str]] = []
    for r in bl.restrictions(number):
        due = r.review_due or r.review_ms <= at
        state = "ended" if r.ended(at) else "later" if r.start_ms > at else "due" if due else "active"
        items.append((r, state))
    tomorrow = (datetime.now(resources().settings.tz()) + timedelta(days=1)).date().isoformat()
    return {"items": items, "min_review": tomorrow, "kinds": KINDS, "periods": PERIODS}


def _back(number: str) -> Any:
    return redirect(url_for("desk_manager.number", number=number, _anchor="restrict"))


def _number(bl: Blocklist, raw: str) -> str:
    try:
        number = bl.number(raw)
    except ValueError:
        number = ""
    if not number or number == WITHHELD:
        abort(400, description=f"{clean_text(raw, 40)!r} is not a phone number: write it like +14155550123")
    return number


@bp.post("/numbers/<number>/restrict")
@require_role("manager")
def restrict(number: str) -> Any:
    """Make a restriction from the card's form; a bad field is said back and nothing is written."""
    me = _me()
    bl = _bl()
    e164 = _number(bl, number)
    form = request.form
    kind = form.get("kind", "")
    try:
        r = bl.restrict(e164, kind=kind, hours=form.get("hours", "") if kind == "hours" else "",
                        max_calls=form.get("max_calls", "") if kind == "max_calls" else None,
                        period=form.get("per", "") if kind == "max_calls" else "",
                        route=form.get("route", "") if kind == "route" else "", review=form.get("review", ""),
                        until=form.get("until", ""), reason=form.get("reason", ""), by=me.username,
                        scope=form.get("line") or None, role=me.role)
    except (ValueError, LookupError, RuntimeError) as exc:
        flash(_("Not restricted: %(why)s.", why=str(exc)), "error")
        return _back(e164)
    flash(_("Restricted: %(what)s. It comes up for review on the date you gave.", what=restriction_words(r)))
    return _back(e164)


@bp.post("/numbers/<number>/restrictions/<rid>/remove")
@require_role("manager")
def remove(number: str, rid: str) -> Any:
    """Remove one restriction, with the reason."""
    me = _me()
    bl = _bl()
    e164 = _number(bl, number)
    try:
        removed = bl.unrestrict(e164, reason=request.form.get("reason", ""), by=me.username, restriction_id=rid,
                                role=me.role)
    except (ValueError, LookupError) as exc:
        flash(_("Not removed: %(why)s.", why=str(exc)), "error")
        return _back(e164)
    flash(_("Restriction removed: %(what)s.", what=restriction_words(removed[0])))
    return _back(e164)


@bp.post("/numbers/<number>/restrictions/<rid>/keep")
@require_role("manager")
def keep(number: str, rid: str) -> Any:
    """After its review, keep one restriction until a new review date, with the review's outcome."""
    me = _me()
    bl = _bl()
    e164 = _number(bl, number)
    try:
        kept = bl.keep_restriction(e164, rid, review=request.form.get("review", ""),
                                   reason=request.form.get("reason", ""), by=me.username, role=me.role)
    except (ValueError, LookupError) as exc:
        flash(_("Not kept: %(why)s.", why=str(exc)), "error")
        return _back(e164)
    flash(_("Restriction kept: %(what)s. It comes up for review again on the date you gave.", what=restriction_words(kept)))
    return _back(e164)
