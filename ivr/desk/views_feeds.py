"""The managers' desk for bulk feeds (blocklist/feeds.py): the Feeds page (the feeds in force, import or replace one
from its CSV, delete one) and, on a number's page, the feeds that list it with a form to take it out (an appeal).

A feed is someone else's list (a carrier's, a regulator's), not a manager's decision: it has its own page and its
own section on a number's page, apart from the blocks. Every change is written with the manager's username, and the
domain writes the audit record.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_number
from flask_babel import gettext as _

from blocklist.clock import now_ms
from blocklist.feeds import FEED_NAME, MAX_AGE_OUT_DAYS, Feed, FeedEntry, FeedImport, valid_name
from blocklist.policy import TREATMENTS
from blocklist.rules import Blocklist
from blocklist.text import clean_text
from ivr.api.feeds import feed_lines
from ivr.auth import desk_user as _me
from ivr.auth import require_role
from ivr.resources import blocklist as _bl
from ivr.resources import resources

bp = Blueprint("desk_feeds", __name__, url_prefix="/desk")
FORM_FIELDS = ("name", "source", "licence", "fetched_at", "age_out_days", "treatment", "line")
# blocklist.feeds.FEED_NAME for the browser's pattern attribute: browsers read it with the `v` flag, under which a
# '-' inside [...] must be escaped (the unescaped form is refused as an invalid expression, and nothing is checked).
NAME_PATTERN = FEED_NAME.pattern.replace("_-]", r"_\-]")


@dataclass(frozen=True)
class Listing:
    """One feed's entry for a number, as the number's page shows it."""

    entry: FeedEntry
    feed: Feed | None  # None only if the feed was deleted between the two reads
    active: bool  # False: aged out (the screen ignores it), waiting for the sweeper


def number_feeds(bl: Blocklist, number: str) -> list[Listing]:
    """The feeds that list a number (aged-out entries included, marked), for its page."""
    entries = bl.feed_entries(number)
    if not entries:
        return []
    feeds = {f.name: f for f in bl.feeds()}
    at = now_ms()
    return [Listing(e, feeds.get(e.feed), e.active(at)) for e in entries]


# ---- the Feeds page -------------------------------------------------------------------------------------------
@bp.get("/feeds")
@require_role("manager")
def feeds() -> Any:
    """The feeds in force; import (or replace) one from its CSV; delete one."""
    return _feeds_page()


def _feeds_page(import_result: FeedImport | None = None, form: dict[str, str] | None = None,
                status: int = 200) -> Any:
    return render_template("desk/feeds.html", feeds=_bl().feeds(), import_result=import_result, form=form or {},
                           treatments=TREATMENTS, max_age_out=MAX_AGE_OUT_DAYS, name_pattern=NAME_PATTERN,
                           today=datetime.now(resources().settings.tz()).date().isoformat()), status


def _fetched_at(raw: str) -> int | None:
    """The form's fetched-on date as ms: the start of that day in the service's time zone; None when left empty."""
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(_("the fetched-on date %(value)s is not a date: write it as 2026-11-30", value=raw[:20])) \
            from None
    start = datetime(day.year, day.month, day.day, tzinfo=resources().settings.tz())
    return int(start.timestamp() * 1000)


def _age_out_days(raw: str) -> int:
    if not raw:
        return 0
    if not raw.isdigit() or int(raw) > MAX_AGE_OUT_DAYS:
        raise ValueError(_("age-out %(value)s: write a whole number of days from 0 (never) to %(top)s",
                           value=raw[:12], top=MAX_AGE_OUT_DAYS))
    return int(raw)


@bp.post("/feeds/import")
@require_role("manager")
def feeds_import() -> Any:
    """A feed's CSV upload: checked whole; every bad row reported with its line; nothing written unless all are good,
    or 'import the good rows' is ticked. 'Check only' writes nothing and counts what the feed would hold. A name in
    force is replaced whole (the screen sees the old list or the new one, never a mix)."""
    me = _me()
    form = {k: clean_text(request.form.get(k, ""), 120).strip() for k in FORM_FIELDS}
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose the feed's CSV file to upload (one number per line, or number, reports, last reported)."),
              "error")
        return _feeds_page(form=form, status=400)
    try:
        result = _bl().import_feed(
            form["name"], feed_lines(upload.read()), source=form["source"], licence=form["licence"],
            by=me.username, fetched_at=_fetched_at(form["fetched_at"]),
            age_out_days=_age_out_days(form["age_out_days"]), treatment=form["treatment"],
            scope=form["line"] or None, partial=bool(request.form.get("partial")),
            write=not request.form.get("check_only"), role=me.role)
    except RuntimeError as exc:  # import_feed's "being imported by someone else right now"
        flash(_("Not imported: %(problem)s.", problem=str(exc)), "error")
        return _feeds_page(form=form, status=409)
    except (ValueError, csv.Error) as exc:
        flash(_("Not imported: %(problem)s.", problem=str(exc)), "error")
        return _feeds_page(form=form, status=400)
    status = 400 if result.bad_rows and not result.partial else 200
    # After an import the form starts empty; after a check or a refusal it keeps what was written, to try again.
    return _feeds_page(import_result=result, form={} if result.written else form, status=status)


@bp.post("/feeds/<name>/delete")
@require_role("manager")
def feeds_delete(name: str) -> Any:
    """Stop using a feed, with the reason: out of the screen at once, its numbers deleted."""
    me = _me()
    reason = clean_text(request.form.get("reason", ""), 200).strip()
    try:
        if not reason:
            raise ValueError(_("say why the feed is no longer used; it goes into the audit log"))
        feed = _bl().delete_feed(name, by=me.username, reason=reason, role=me.role)
    except ValueError as exc:
        flash(_("Not deleted: %(problem)s.", problem=str(exc)), "error")
        return redirect(url_for("desk_feeds.feeds"))
    if feed is None:
        flash(_("There is no feed %(name)s any more; nothing changed.", name=clean_text(name, 40)), "error")
    else:
        flash(_("Feed %(name)s deleted: its %(count)s numbers no longer count.", name=feed.name,
                count=format_number(feed.entries)))
    return redirect(url_for("desk_feeds.feeds"))


# ---- a number's page ------------------------------------------------------------------------------------------
@bp.post("/numbers/<number>/feeds/<name>/remove")
@require_role("manager")
def feeds_remove(number: str, name: str) -> Any:
    """Take a number out of one feed (an appeal), with the reason: until the feed's next import brings it back."""
    me = _me()
    bl = _bl()
    reason = clean_text(request.form.get("reason", ""), 200).strip()
    try:
        e164 = bl.number(number)
        if not reason:
            raise ValueError(_("say why the number comes out of the feed (the appeal's outcome)"))
        removed = bl.remove_from_feed(name, e164, by=me.username, reason=reason, role=me.role)
    except (ValueError, LookupError) as exc:
        flash(_("Not taken out: %(problem)s.", problem=str(exc)), "error")
        return redirect(url_for("desk_manager.number", number=number))
    if removed:
        flash(_("Taken out of feed %(name)s: the feed no longer stops this number, until its next import lists it "
                "again. To let the caller through for good, add the number to the allowlist.",
                name=valid_name(name)))
    else:
        flash(_("Feed %(name)s does not list this number; nothing changed.", name=valid_name(name)), "error")
    return redirect(url_for("desk_manager.number", number=e164))
