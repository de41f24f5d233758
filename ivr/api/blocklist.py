"""JSON API of the blocklist, allowlist, range rules, review list, dry run and line settings.

Every route wants `Authorization: Bearer <IVR_API_TOKEN>`. Bad input answers 400 and a number that
is not listed answers 404, both as RFC 9457 problems (ivr.problems), and neither changes anything.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from blocklist import csvio, dryrun, keys, warnings
from blocklist.blocks import block_length
from blocklist.clock import format_time
from blocklist.entries import Decision, Entry
from blocklist.numbers import WITHHELD
from blocklist.parse import DURATION_FORMS, parse_duration
from blocklist.policy import validate_line_setting
from blocklist.rules import Blocklist
from blocklist.signals import signals_to_try
from ivr.api.bodies import acted_by as _by
from ivr.api.bodies import body as _body
from ivr.api.bodies import reason as _reason
from ivr.api.bodies import text as _text
from ivr.auth import api_auth, require_role
from ivr.problems import problem
from ivr.resources import resources

bp = Blueprint("blocklist_api", __name__)
MAX_COUNT = 1000
_TRUE = ("1", "true", "yes", "on")


class NotFound(Exception):
    """A number, rule or entry that is not there (404)."""


@bp.errorhandler(ValueError)
def _bad_request(exc: ValueError) -> tuple[Response, int]:
    return problem(400, "bad_request", str(exc))


@bp.errorhandler(csvio.ImportBusy)
def _import_busy(exc: csvio.ImportBusy) -> tuple[Response, int]:
    return problem(409, "import_running", str(exc))


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> tuple[Response, int]:
    return problem(404, "not_found", str(exc))


# ---- request helpers --------------------------------------------------------------------------------
def _bl() -> Blocklist:
    return resources().blocklist


def _import_by() -> str:
    """Who imports a CSV: as _by(), with `by` from the query or the multipart form."""
    return _by({"by": request.args.get("by") or request.form.get("by") or ""})


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in _TRUE


def _int_arg(name: str, default: int, top: int = MAX_COUNT) -> int:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) > top:
        raise ValueError(f"{name} must be a whole number from 0 to {top}")
    return int(raw)


def _query_number(name: str) -> str:
    value = request.args.get(name, "")
    # An unencoded '+' in a query string arrives as a space; a number never starts with one.
    if value[:1] == " " and value[1:2].isdigit():
        value = "+" + value[1:]
    return value


def _line(value: str | None) -> str:
    return _bl().line_scope(value or None)


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {**entry.to_dict(), "until": format_time(entry.until_ms), "blocked_at": format_time(entry.at)}


def _decision_json(number: str, line: str, d: Decision) -> dict[str, Any]:
    return {"number": number, "line": line, "decision": d.decision, "rule": d.rule, "treatment": d.treatment,
            "detail": d.detail, "explain": d.explain()}


def _csv_upload() -> bytes:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValueError("send the CSV as the multipart field 'file', or as the body with Content-Type: text/csv")
        return upload.read()
    data = request.get_data()
    if not data:
        raise ValueError("the body is empty: send the CSV file as the body (Content-Type: text/csv)")
    return data


def _import_reply(result: csvio.ImportResult) -> tuple[Response, int]:
    if result.errors and not result.partial:  # nothing imported (or, checked only, nothing would be)
        return problem(400, "bad_rows", result.summary(), **result.to_dict())
    return jsonify({"detail": result.summary(), **result.to_dict()}), 200


def _csv_reply(rows: Any, name: str) -> Response:
    out = io.StringIO()
    csvio.write_csv(rows, out)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.csv"'})


# ---- blocklist --------------------------------------------------------------------------------------
@bp.get("/api/blocklist")
@api_auth
def list_blocks() -> Any:
    """Active blocks, newest first (?line= one line's, ?start=&count= to page)."""
    scope = _line(request.args.get("line")) if request.args.get("line") else None
    start, count = _int_arg("start", 0, 10**9), _int_arg("count", 100)
    blocks = _bl().list_blocks(scope, start=start, count=count)
    return jsonify({"blocks": [_entry_json(e) for e in blocks], "start": start, "count": len(blocks)})


@bp.post("/api/blocklist")
@api_auth
@require_role("manager")
def add_block() -> Any:
    """Block a number: {number, reason, line?, treatment?, duration | until | permanent: true, by?}; a duration
    carries its unit ('7d'), and a block without an end is asked for by name ('permanent'): with no length at
    all, or an empty one, nothing is blocked."""
    body = _body()
    bl = _bl()
    reason = _reason(body, "why the number is blocked")
    duration: int | None = None
    until_ms: int | None = None
    if body.get("duration") is not None:
        duration = _duration(body, "duration")
    if body.get("until") not in (None, ""):  # an empty until is no end time (and so not a length either)
        until_ms = csvio.parse_time(_text(body, "until"))
    permanent = body.get("permanent")
    # 'permanent' said by name: "duration": "permanent" (parse_duration's None) or "permanent": true
    named_permanent = _flag(permanent or False) or (body.get("duration") is not None and duration is None)
    if (duration is not None) + (until_ms is not None) + named_permanent > 1:
        raise ValueError("give one of duration, until or permanent: true, not two of them")
    if permanent is not None and not _flag(permanent) and duration is None and until_ms is None:
        raise ValueError("permanent is false but no duration or until is given: say how long, e.g. duration '7d'")
    if not named_permanent and duration is None and until_ms is None:
        raise ValueError(f"say how long the block lasts: duration with its unit ({DURATION_FORMS}), until with "
                         "its zone (e.g. 2030-01-31T18:00:00Z), or duration 'permanent' for a block that never ends")
    entry = bl.block(_text(body, "number"), by=_by(body), reason=reason, scope=_text(body, "line") or None,
                     treatment=_text(body, "treatment").lower(), duration=duration, until_ms=until_ms)
    return jsonify({"block": _entry_json(entry), "explain": _explain_block(entry)}), 201


def _duration(body: dict[str, Any], name: str) -> int | None:
    """A length sent in `name`, with its unit; a bare number (JSON's 3 or '3') and an empty text are refused."""
    text = _text(body, name)
    if not text:
        raise ValueError(f"{name} is empty: give a length with its unit, {DURATION_FORMS}, or leave {name} out")
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _explain_block(entry: Entry) -> str:
    where = "all lines" if entry.scope == keys.GLOBAL else f"line {entry.scope}"
    until = ("permanently" if entry.until_ms is None
             else f"for {block_length(entry.at, entry.until_ms)['lasts']}, until {format_time(entry.until_ms)}")
    return f"{entry.number} blocked on {where} {until}"


@bp.get("/api/blocklist/<number>")
@api_auth
def show_block(number: str) -> Any:
    """A number's active blocks in every scope, its ladder step and allowlist entries; 404 if not blocked."""
    bl = _bl()
    entries = bl.entries(number)
    if not entries:
        raise NotFound(f"{bl.number(number)} is not blocked; its past is at /api/blocklist/<number>/history")
    return jsonify({"number": entries[0].number, "blocks": [_entry_json(e) for e in entries],
                    "strikes": bl.strikes(number), "allowlist": bl.allow_entries(number),
                    **_warnings_json(entries[0].number)})


def _warnings_json(number: str) -> dict[str, Any]:
    """The number's limit-setting warnings on record, and whether the manager should be offered a restriction or
    a block (IVR_WARNINGS_BEFORE_OFFER)."""
    count = warnings.count(resources().store, number)
    return {"warnings_on_record": count,
            "offer_restriction_or_block": warnings.offer_due(count, resources().settings.warnings_before_offer)}


@bp.delete("/api/blocklist/<number>")
@api_auth
@require_role("manager")
def unblock(number: str) -> Any:
    """Lift a block (appeal): {reason, line?, forgive?, by?}; 404 if it was not blocked there."""
    body = _body()
    bl = _bl()
    reason = _reason(body, "the appeal's outcome")
    line = _text(body, "line") or request.args.get("line") or None
    if not bl.unblock(number, by=_by(body), reason=reason, scope=line, forgive=_flag(body.get("forgive", False))):
        where = "" if _line(line) == keys.GLOBAL else f" on line {_line(line)}"
        raise NotFound(f"{bl.number(number)} is not blocked{where}; nothing was changed")
    return jsonify({"unblocked": True, "number": bl.number(number), "scope": _line(line)})


@bp.patch("/api/blocklist/<number>")
@api_auth
@require_role("manager")
def change_block(number: str) -> Any:
    """Edit a block: {reason?: new reason, permanent?: true, temporary?: '7d' (with its unit), why?, line?, by?}."""
    body = _body()
    bl = _bl()
    number = bl.number(number)
    scope = _line(_text(body, "line") or None)
    by = _by(body)
    new_reason = _text(body, "reason")
    permanent = _flag(body.get("permanent", False))
    temporary = _duration(body, "temporary") if body.get("temporary") is not None else None
    if permanent and temporary is not None:
        raise ValueError("a block is either permanent or temporary: send one of them")
    if not (new_reason or permanent or temporary is not None):
        raise ValueError("nothing to change: send reason, permanent: true, or temporary (e.g. '7d')")
    why = _text(body, "why") or new_reason
    if (permanent or temporary is not None) and not why:
        raise ValueError("say why the block's length changes in 'why'; it goes into the number's history")
    entry = bl.entry(number, scope)
    if entry is None:
        raise NotFound(f"{number} is not blocked{'' if scope == keys.GLOBAL else ' on line ' + scope}; "
                       "nothing was changed")
    try:
        if permanent:
            entry = bl.make_permanent(number, by=by, reason=why, scope=scope)
        if temporary is not None:
            entry = bl.make_temporary(number, seconds=temporary, by=by, reason=why, scope=scope)
        if new_reason:
            entry = bl.edit_reason(number, reason=new_reason, by=by, scope=scope)
    except LookupError as exc:  # the block ran out meanwhile
        raise NotFound(str(exc)) from None
    return jsonify({"block": _entry_json(entry)})


@bp.get("/api/blocklist/<number>/history")
@api_auth
def history(number: str) -> Any:
    """Everything that happened to a number, oldest first, expiries included; 404 if nothing ever did."""
    bl = _bl()
    items = bl.history(number)
    if not items:
        raise NotFound(f"{bl.number(number)} has no history: it was never flagged, blocked or listed")
    for item in items:
        item["when"] = format_time(int(item.get("at") or 0))
    return jsonify({"number": bl.number(number), "strikes": bl.strikes(number), "history": items,
                    **_warnings_json(bl.number(number))})


@bp.get("/api/check")
@api_auth
def check() -> Any:
    """The screen's decision for a call from ?number= to ?line= right now, and the rule behind it; with
    ?stir= (StirVerstat) and ?score= (an add-on reputation 0-100), for a call carrying those signals."""
    bl = _bl()
    raw = _query_number("number")
    if not raw.strip():
        raise ValueError("give ?number= (URL-encode + as %2B) and the called ?line=")
    number = bl.number(raw)
    line = _line(_query_number("line"))
    signals = signals_to_try(stir=request.args.get("stir", ""), score=request.args.get("score", ""))
    return jsonify(_decision_json(number, line, bl.check(number, line, signals)))


@bp.post("/api/blocklist/import")
@api_auth
@require_role("manager")
def import_blocks() -> Any:
    """CSV body or multipart 'file'; all or nothing unless ?partial=1; ?check_only=1 writes nothing and says what
    the import would add, change, leave and skip."""
    data = _csv_upload()
    result = csvio.import_blocklist(_bl(), data, by=_import_by(), partial=_flag(request.args.get("partial", "")),
                                    write=not _flag(request.args.get("check_only", "")))
    return _import_reply(result)


@bp.get("/api/blocklist/export")
@api_auth
@require_role("manager")
def export_blocks() -> Any:
    """Every active block and range rule as CSV (imports back to the same state)."""
    return _csv_reply(csvio.blocklist_rows(_bl()), "blocklist")


# ---- allowlist --------------------------------------------------------------------------------------
@bp.get("/api/allowlist")
@api_auth
def list_allowed() -> Any:
    """Allowlist entries, newest first."""
    start, count = _int_arg("start", 0, 10**9), _int_arg("count", 100)
    items = _bl().list_allowed(start=start, count=count)
    return jsonify({"allowlist": items, "start": start, "count": len(items)})


@bp.post("/api/allowlist")
@api_auth
@require_role("manager")
def allow() -> Any:
    """Always let a number through: {number, reason, line?, by?}."""
    body = _body()
    bl = _bl()
    reason = _reason(body, "why it is always let through")
    line = _text(body, "line") or None
    bl.allow(_text(body, "number"), by=_by(body), reason=reason, scope=line)
    number = bl.number(_text(body, "number"))
    return jsonify({"allowed": True, "number": number, "scope": _line(line)}), 201


@bp.get("/api/allowlist/<number>")
@api_auth
def show_allowed(number: str) -> Any:
    """A number's allowlist entries; 404 if it is on none."""
    bl = _bl()
    items = bl.allow_entries(number)
    if not items:
        raise NotFound(f"{bl.number(number)} is not on the allowlist")
    return jsonify({"number": bl.number(number), "allowlist": items})


@bp.delete("/api/allowlist/<number>")
@api_auth
@require_role("manager")
def disallow(number: str) -> Any:
    """Take a number off the allowlist: {reason, line?, by?}; 404 if it was not on it."""
    body = _body()
    bl = _bl()
    reason = _reason(body, "why it no longer gets through unscreened")
    line = _text(body, "line") or request.args.get("line") or None
    if not bl.disallow(number, by=_by(body), reason=reason, scope=line):
        raise NotFound(f"{bl.number(number)} is not on the allowlist"
                       f"{'' if _line(line) == keys.GLOBAL else ' of line ' + _line(line)}; nothing was changed")
    return jsonify({"removed": True, "number": bl.number(number), "scope": _line(line)})


@bp.post("/api/allowlist/import")
@api_auth
@require_role("manager")
def import_allowed() -> Any:
    """CSV (number,scope,reason) body or multipart 'file'; all or nothing unless ?partial=1; ?check_only=1 writes
    nothing and says what the import would do."""
    data = _csv_upload()
    result = csvio.import_allowlist(_bl(), data, by=_import_by(), partial=_flag(request.args.get("partial", "")),
                                    write=not _flag(request.args.get("check_only", "")))
    return _import_reply(result)


@bp.get("/api/allowlist/export")
@api_auth
@require_role("manager")
def export_allowed() -> Any:
    """The allowlist as CSV (imports back to the same state)."""
    return _csv_reply(csvio.allowlist_rows(_bl()), "allowlist")


# ---- range rules ------------------------------------------------------------------------------------
@bp.get("/api/prefixes")
@api_auth
def list_prefixes() -> Any:
    """Every range rule."""
    return jsonify({"prefixes": _bl().list_prefixes()})


@bp.post("/api/prefixes")
@api_auth
@require_role("manager")
def add_prefix() -> Any:
    """Treat every number starting with a prefix: {prefix, reason, line?, treatment?, by?}."""
    body = _body()
    bl = _bl()
    reason = _reason(body, "why the range is treated")
    prefix = bl.add_prefix(_text(body, "prefix"), by=_by(body), reason=reason, scope=_text(body, "line") or None,
                           treatment=_text(body, "treatment").lower())
    return jsonify({"prefix": bl.prefix_rule(prefix, _text(body, "line") or None)}), 201


@bp.get("/api/prefixes/<prefix>")
@api_auth
def show_prefix(prefix: str) -> Any:
    """One range rule (?line= for a line's own); 404 if there is none."""
    rule = _bl().prefix_rule(prefix, request.args.get("line") or None)
    if rule is None:
        raise NotFound(f"no range rule {prefix!r} on {request.args.get('line') or 'all lines'}")
    return jsonify({"prefix": rule})


@bp.delete("/api/prefixes/<prefix>")
@api_auth
@require_role("manager")
def remove_prefix(prefix: str) -> Any:
    """Drop a range rule: {reason, line?, by?}; 404 if there was none."""
    body = _body()
    bl = _bl()
    reason = _reason(body, "why the range is no longer treated")
    line = _text(body, "line") or request.args.get("line") or None
    if not bl.remove_prefix(prefix, by=_by(body), reason=reason, scope=line):
        raise NotFound(f"no range rule {prefix!r} on {line or 'all lines'}; nothing was changed")
    return jsonify({"removed": True, "prefix": prefix, "scope": _line(line)})


# ---- review list, dry run, line settings ------------------------------------------------------------
@bp.get("/api/review")
@api_auth
def review() -> Any:
    """Callers the burst rule put on the managers' review list, newest first."""
    return jsonify({"review": _bl().review_list(count=_int_arg("count", 100))})


@bp.delete("/api/review/<number>")
@api_auth
@require_role("manager")
def dismiss_review(number: str) -> Any:
    """Take a caller off the review list (?line= for a withheld-ID burst on that line); 404 if not on it."""
    bl = _bl()
    subject = bl.number(number)
    line = request.args.get("line") or _text(_body(), "line")
    if subject == WITHHELD and not line:
        raise ValueError("withheld callers are reviewed per line: add ?line=<the called number>")
    scope = _line(line) if subject == WITHHELD else None
    if not bl.dismiss_review(subject, scope):
        raise NotFound(f"{subject} is not on the review list{' of line ' + scope if scope else ''}")
    return jsonify({"dismissed": True, "number": subject})


@bp.post("/api/dryrun")
@api_auth
@require_role("manager")
def dry_run() -> Any:
    """What a rule would have done: {kind: number|prefix|withheld|burst, ..., line?, days?: 7}."""
    body = _body()
    res = resources()
    rule = dryrun.candidate(body, res.settings.default_region)
    return jsonify(dryrun.dry_run(res.store, rule, dryrun.days_of(body.get("days", 7))))


@bp.get("/api/lines/<line>/settings")
@api_auth
def line_settings(line: str) -> Any:
    """A line's overrides and the settings the screen uses on it ('*': the global overrides)."""
    bl = _bl()
    scope = _line(line)
    return jsonify({"line": scope, "overrides": bl.line_settings(scope), "effective": bl.effective_settings(scope)})


@bp.put("/api/lines/<line>/settings")
@api_auth
@require_role("manager")
def set_line_settings(line: str) -> Any:
    """Override settings of a line: {name: value, ..., by?}; '' or null clears an override."""
    body = _body()
    bl = _bl()
    scope = _line(line)
    by = _by(body)
    changes = {name: "" if value is None else str(value).strip() for name, value in body.items() if name != "by"}
    if not changes:
        raise ValueError("send the settings to change, e.g. {\"withheld_policy\": \"linefault\"}")
    for name, value in changes.items():  # all checked before any is written
        validate_line_setting(name, value)
    for name, value in changes.items():
        bl.set_line_setting(scope, name, value, by=by)
    return jsonify({"line": scope, "overrides": bl.line_settings(scope), "effective": bl.effective_settings(scope)})
