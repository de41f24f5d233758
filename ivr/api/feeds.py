"""JSON API of bulk feeds (blocklist/feeds.py): the national-size lists carriers and regulators publish.

A feed is someone else's list, kept apart from the managers' blocks: it is imported whole (PUT with the CSV as the
body; a new version replaces the one in force at once), listed, deleted, and one number can be taken out of it on
appeal. Every route wants a manager (or the service token). Bad input answers 400 and a feed or entry that is not
there 404, both as RFC 9457 problems (ivr.problems), and neither changes anything.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from blocklist.clock import format_time, now_ms
from blocklist.feeds import MAX_AGE_OUT_DAYS, Feed, FeedEntry, FeedImport, text_lines, valid_name
from blocklist.rules import Blocklist
from blocklist.text import clean_text
from ivr.api.bodies import acted_by as _by
from ivr.api.bodies import acting_role as _role
from ivr.api.bodies import body as _body
from ivr.api.bodies import reason as _reason
from ivr.auth import api_auth, require_role
from ivr.problems import problem
from ivr.resources import resources

bp = Blueprint("feeds_api", __name__)
_TRUE = ("1", "true", "yes", "on")


class NotFound(Exception):
    """A feed, or a feed's entry, that is not there (404)."""


class ImportRunning(Exception):
    """Another import of the same feed holds its lock (409)."""


@bp.errorhandler(ValueError)
def _bad_request(exc: ValueError) -> tuple[Response, int]:
    return problem(400, "bad_request", str(exc))


@bp.errorhandler(csv.Error)
def _bad_csv(exc: csv.Error) -> tuple[Response, int]:
    return problem(400, "bad_request", f"the file cannot be read as CSV ({exc}); nothing was imported. Save it as "
                                       "CSV (UTF-8), one number per line, and send it again")


@bp.errorhandler(ImportRunning)
def _import_busy(exc: ImportRunning) -> tuple[Response, int]:
    return problem(409, "import_running", str(exc))


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return problem(404, "not_found", str(exc))


# ---- request helpers --------------------------------------------------------------------------------
def _bl() -> Blocklist:
    return resources().blocklist


def _flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in _TRUE


def _age_out_days(raw: str) -> int:
    text = raw.strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) > MAX_AGE_OUT_DAYS:
        raise ValueError(f"age_out_days must be a whole number of days from 0 (never) to {MAX_AGE_OUT_DAYS}")
    return int(text)


def fetched_at_ms(raw: str) -> int | None:
    """When the feed was fetched from its source, as ms: ISO 8601 (a date, or a date and time; UTC unless it says)
    or milliseconds since 1970; None when not given (the import then says: now)."""
    text = raw.strip()
    if not text:
        return None
    what_to_write = ("write an ISO 8601 date or time (2026-11-30 or 2026-11-30T14:05:00Z) or milliseconds since "
                     "1970 (13 digits, e.g. 1796083200000)")
    if text.isdigit():
        if not 12 <= len(text) <= 14:
            raise ValueError(f"fetched_at {text[:20]!r} is not a time: {what_to_write}")
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ms = int(when.timestamp() * 1000)
    except (ValueError, OverflowError):
        raise ValueError(f"fetched_at {text[:30]!r} is not a time: {what_to_write}") from None
    if ms <= 0:
        raise ValueError(f"fetched_at {text[:30]!r} is before 1970: give when the feed was fetched")
    return ms


def _upload() -> bytes:
    """The CSV: the body (Content-Type: text/csv) or the multipart field 'file'; ValueError when there is none."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValueError("send the CSV as the multipart field 'file', or as the body with Content-Type: text/csv")
        data = upload.read()
    else:
        data = request.get_data()
    if not data.strip():
        raise ValueError("the file is empty: send the feed's CSV as the body (Content-Type: text/csv), one number "
                         "per line, or number,reports,last_seen")
    return data


def feed_lines(data: bytes) -> Any:
    """An `open_text` for import_feed over an uploaded file. Bytes that are not UTF-8 become U+FFFD, so a broken
    number is reported as a bad row with its line (as `ivr feeds import` reads a file)."""
    return text_lines(data.decode("utf-8-sig", errors="replace"))


def card(feed: Feed) -> dict[str, Any]:
    """A feed as the API and `ivr feeds list --json` show it: the stored card and its times in ISO 8601."""
    return {**feed.to_dict(), "fetched": format_time(feed.fetched_at), "imported": format_time(feed.imported_at)}


def entry_json(entry: FeedEntry, feed: Feed | None, at: int) -> dict[str, Any]:
    """One feed's listing of a number, with whether it still counts (an aged-out entry waits for the sweeper)."""
    return {**entry.to_dict(), "seen": format_time(entry.seen_ms), "until": format_time(entry.until_ms),
            "active": entry.active(at), "source": feed.source if feed else "",
            "treatment": feed.treatment if feed else "", "scope": feed.scope if feed else ""}


def import_reply(result: FeedImport) -> tuple[Response, int]:
    """200 (replaced, partial or checked only) or 201 (a new feed) with what the import did; 400 with the bad rows
    when nothing was imported (or, checked only, nothing would be)."""
    body = {"detail": result.summary(), **result.to_dict()}
    if result.bad_rows and not result.partial:
        return problem(400, "bad_rows", result.summary(), **result.to_dict())
    return jsonify(body), 201 if result.written and result.replaced is None else 200


def _feed_or_404(name: str) -> Feed:
    feed = _bl().feed(name)
    if feed is None:
        raise NotFound(f"there is no feed {valid_name(name)}; GET /api/feeds lists the feeds in force, and PUT "
                       f"/api/feeds/{valid_name(name)} imports one")
    return feed


# ---- routes -----------------------------------------------------------------------------------------
@bp.get("/api/feeds")
@api_auth
@require_role("manager")
def list_feeds() -> Any:
    """Every feed in force, by name."""
    return jsonify({"feeds": [card(f) for f in _bl().feeds()]})


@bp.get("/api/feeds/<name>")
@api_auth
@require_role("manager")
def show_feed(name: str) -> Any:
    """One feed's card; 404 if there is no such feed."""
    return jsonify({"feed": card(_feed_or_404(name))})


@bp.put("/api/feeds/<name>")
@api_auth
@require_role("manager")
def import_feed(name: str) -> Any:
    """Import (or replace) a feed: the CSV as the body, its metadata in the query (source and licence required).
    All or nothing unless ?partial=1; ?check_only=1 writes nothing and counts what the feed would hold."""
    name = valid_name(name)
    args = request.args
    source, licence = clean_text(args.get("source", ""), 120).strip(), clean_text(args.get("licence", ""), 120).strip()
    if not source:
        raise ValueError("say where the feed comes from in ?source=, e.g. 'FTC Do Not Call complaints'")
    if not licence:
        raise ValueError("say under which terms the feed is used in ?licence=, e.g. 'public data' or a contract")
    fetched = fetched_at_ms(args.get("fetched_at", ""))
    age_out = _age_out_days(args.get("age_out_days", ""))
    treatment = args.get("treatment", "").strip().lower()
    line = args.get("line", "").strip() or None
    _bl().line_scope(line)  # a bad line is refused before the file is read
    data = _upload()
    try:
        result = _bl().import_feed(name, feed_lines(data), source=source, licence=licence, by=_by(),
                                   fetched_at=fetched, age_out_days=age_out, treatment=treatment, scope=line,
                                   partial=_flag("partial"), write=not _flag("check_only"), role=_role())
    except RuntimeError as exc:  # import_feed's "being imported by someone else right now"
        raise ImportRunning(str(exc)) from None
    return import_reply(result)


@bp.delete("/api/feeds/<name>")
@api_auth
@require_role("manager")
def delete_feed(name: str) -> Any:
    """Stop using a feed: {reason, by?}; out of the screen at once, its numbers deleted. 404 if there is none."""
    body = _body()
    reason = _reason(body, "why the feed is no longer used", "the audit log")
    feed = _bl().delete_feed(name, by=_by(body), reason=reason, role=_role())
    if feed is None:
        raise NotFound(f"there is no feed {valid_name(name)}; nothing was changed (GET /api/feeds lists them)")
    return jsonify({"deleted": True, "feed": card(feed)})


@bp.delete("/api/feeds/<name>/numbers/<number>")
@api_auth
@require_role("manager")
def remove_number(name: str, number: str) -> Any:
    """Take one number out of a feed (an appeal): {reason, by?}; it stays out until the feed's next import.
    404 if there is no such feed or it does not list the number."""
    body = _body()
    bl = _bl()
    reason = _reason(body, "the appeal's outcome", "the number's history")
    e164 = bl.number(number)
    try:
        removed = bl.remove_from_feed(name, e164, by=_by(body), reason=reason, role=_role())
    except LookupError as exc:
        raise NotFound(f"{exc}; nothing was changed") from None
    if not removed:
        raise NotFound(f"feed {valid_name(name)} does not list {e164}; nothing was changed "
                       f"(GET /api/numbers/{e164}/feeds says which feeds list it)")
    return jsonify({"removed": True, "feed": valid_name(name), "number": e164})


@bp.get("/api/numbers/<number>/feeds")
@api_auth
@require_role("manager")
def number_feeds(number: str) -> Any:
    """The feeds that list a number, with its reports, when it was last reported and until when it counts
    (an aged-out entry shows with active: false until the sweeper removes it). An empty list when none does."""
    bl = _bl()
    entries = bl.feed_entries(number)
    feeds = {f.name: f for f in bl.feeds()} if entries else {}
    at = now_ms()
    return jsonify({"number": bl.number(number), "feeds": [entry_json(e, feeds.get(e.feed), at) for e in entries]})
