"""The managers' desk: dashboard, blocklist (search, add, CSV import, unblock, permanent, history), review list,
dry run, evidence and report downloads, settings, withheld-call notes and the audit log.

Pages call the domain code (blocklist/, workers/reports/) directly; every change is written with the
manager's username, and the domain writes the audit record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from blocklist import csvio, dryrun, events, keys, policy, warnings
from blocklist.clock import now_ms
from blocklist.keys import Desk as dk
from blocklist.line_settings import review_subject
from blocklist.numbers import WITHHELD
from blocklist.parse import format_duration, format_ladder
from blocklist.policy import TREATMENTS
from blocklist.rules import Blocklist
from blocklist.text import clean_text
from ivr.auth import desk_user as _me
from ivr.auth import require_role
from ivr.desk.durations import BLOCK_LENGTHS, chosen_length
from ivr.desk.views_feeds import number_feeds
from ivr.desk.views_restrictions import restrict_card
from ivr.desk.web import fmt_time
from ivr.moves.difficult import callbacks
from ivr.resources import blocklist as _bl
from ivr.resources import resources
from workers import reports
from workers.reports import charts
from workers.reports import exports as evidence_exports

bp = Blueprint("desk_manager", __name__, url_prefix="/desk")
log = logging.getLogger("ivr.desk.manager")

PAGE = 50
AUDIT_PAGE = 100
LANGUAGE_CHOICES = ("", "en", "af", "zh", "pt", "vi", "fi")
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "blocked_treatment": ("", *TREATMENTS),
    "withheld_policy": ("", "allow", "linefault", "isolation", "reject"),
    "burst_action": ("", "review", *TREATMENTS),
    "language": LANGUAGE_CHOICES,
    **{name: ("", *policy.SIGNAL_ACTIONS) for name in policy.SIGNAL_SETTINGS
       if name.endswith("_action") or name.startswith("attest_")},
}
SETTING_LABELS = {
    "blocked_treatment": "Treatment of blocked callers",
    "withheld_policy": "Withheld caller ID",
    "burst_calls": "Burst rule: more than N calls",
    "burst_minutes": "... within M minutes",
    "burst_action": "... then",
    "language": "Prompt language",
    "attest_failed": "Caller ID verification failed (STIR/SHAKEN)",
    "attest_unsigned": "Caller ID not signed (STIR/SHAKEN)",
    "reputation_high": "Reputation score (add-ons, 0-100): high tier from",
    "reputation_high_action": "... high tier gets",
    "reputation_medium": "Medium tier from",
    "reputation_medium_action": "... medium tier gets",
    "line_types": "Line types to judge (e.g. premium,voip)",
    "line_types_action": "... those line types get",
    "campaign_numbers": "Campaign: more than N different numbers of one exchange",
    "campaign_minutes": "... within M minutes",
    "campaign_action": "... then",
    "sanction_ladder": "Sanction ladder (block length per flag)",
    "breather_seconds": "Agent's breather after a flag (seconds)",
    "exposure_shift_limit": "Difficult calls in a shift before a wellbeing break (0: off)",
    "exposure_week_limit": "Difficult calls in 7 days before a wellbeing break (0: off)",
}


def _number_or_none(bl: Blocklist, raw: str) -> str | None:
    try:
        number = bl.number(raw)
    except ValueError:
        return None
    return None if number == WITHHELD else number


# ---- dashboard ----------------------------------------------------------------------------------------------
def _report_settings() -> Any:

    s = resources().settings
    return dataclasses.replace(reports.ReportSettings.from_env(), data_dir=s.data_dir, default_region=s.default_region)


def _query() -> Any:

    return reports.Query.build(start=request.args.get("from") or None, end=request.args.get("to") or None,
                               line=request.args.get("line") or None, settings=_report_settings())


def _query_or_default() -> tuple[Any, str | None]:
    """The report query the page asked for, or the default (last 30 days) with the reason it was refused."""

    try:
        return _query(), None
    except ValueError as exc:
        return reports.Query.build(settings=_report_settings()), str(exc)


@bp.get("/dashboard")
@require_role("manager")
def dashboard() -> Any:
    """The reports' charts for a date range and one line (or all): heat map, trend, sources, deterrence, agents."""

    q, error = _query_or_default()
    data = reports.summary(resources().store, q)
    return render_template("desk/dashboard.html", data=data, charts=charts.report_charts(data), q=q, error=error,
                           headline=reports.headline(data), recent=recent_flags(),
                           args=_report_args(q)), 400 if error else 200


def _report_args(q: Any) -> dict[str, str]:
    return {"from": q.start.isoformat(), "to": q.end.isoformat(), **({"line": q.line} if q.line else {})}


def recent_flags(limit: int = 15, scan: int = 2000) -> list[dict[str, str]]:
    """The latest flags from the event log (a bounded look at its newest entries; reports stay folded)."""
    out = []
    for _id, ev in resources().store.xrevrange(keys.EVENTS, count=scan):
        if ev.get("type") == "flag":
            out.append(ev)
            if len(out) >= limit:
                break
    return out


@bp.get("/dashboard/recent")
@require_role("manager")
def dashboard_recent() -> Any:
    """The dashboard's latest-flags list alone, for polling."""
    html = render_template("desk/_recent_flags.html", recent=recent_flags())

    version = hashlib.sha256(html.encode()).hexdigest()[:16]
    if request.args.get("v") == version:
        return Response(status=204, headers={"X-Panel-Version": version})
    return Response(html, mimetype="text/html", headers={"X-Panel-Version": version})


# ---- blocklist ------------------------------------------------------------------------------------------------
@bp.get("/blocklist")
@require_role("manager")
def blocklist() -> Any:
    """Search and list active blocks; add one; upload a CSV."""
    return _blocklist_page()


def _blocklist_page(import_result: csvio.ImportResult | None = None, form: dict[str, str] | None = None,
                    status: int = 200) -> Any:
    bl = _bl()
    query = clean_text(request.args.get("q", ""), 64).strip()
    try:
        start = max(0, int(request.args.get("start", "0")))
    except ValueError:
        start = 0
    found_number = _number_or_none(bl, query) if query else None
    if found_number:
        return redirect(url_for("desk_manager.number", number=found_number))
    if query:
        digits = "".join(ch for ch in query if ch.isdigit())
        pool = bl.list_blocks(count=1000)
        blocks = [e for e in pool if digits and digits in e.number or query.lower() in e.reason.lower()][:PAGE]
        more = False
    else:
        blocks = bl.list_blocks(start=start, count=PAGE + 1)
        more = len(blocks) > PAGE
        blocks = blocks[:PAGE]
    return render_template("desk/blocklist.html", blocks=blocks, query=query, start=start, more=more, page=PAGE,
                           treatments=TREATMENTS, import_result=import_result, form=form or {},
                           prefixes=bl.list_prefixes(), block_lengths=BLOCK_LENGTHS,
                           zone=resources().settings.timezone), status


@bp.post("/blocklist/add")
@require_role("manager")
def blocklist_add() -> Any:
    """Block one number: reason required; a length chosen from the list or written (never permanent by default).
    'Show the end time' (preview) checks the length and shows the end it would set, saving nothing."""
    me = _me()
    bl = _bl()
    form = {k: clean_text(request.form.get(k, ""), 300).strip() for k in ("number", "line", "treatment", "duration",
                                                                           "duration_custom", "reason")}
    try:
        if request.form.get("preview"):
            duration = chosen_length(form["duration"], form["duration_custom"])
            ends = "would never end (permanent)" if duration is None else \
                f"would last {format_duration(duration)}, until {_desk_time(now_ms() + duration * 1000)}"
            flash(f"Not saved yet: a block made now {ends}. Press Block to save it.")
            return _blocklist_page(form=form)
        if not form["reason"]:
            raise ValueError("say why the number is blocked; it goes into its history")
        duration = chosen_length(form["duration"], form["duration_custom"])
        entry = bl.block(form["number"], by=me.username, reason=form["reason"], scope=form["line"] or None,
                         treatment=form["treatment"], duration=duration, role=me.role)
    except ValueError as exc:
        flash(f"Not blocked: {exc}.", "error")
        return _blocklist_page(form=form, status=400)
    flash(f"{entry.number} blocked permanently." if entry.until_ms is None else
          f"{entry.number} blocked for {format_duration(duration or 0)}, until {_desk_time(entry.until_ms)}.")
    return redirect(url_for("desk_manager.number", number=entry.number))


def _desk_time(ms: int) -> str:
    """A time as the desk's pages show it (the service's time zone, to the minute)."""
    return fmt_time(ms, zone=resources().settings.tz())


@bp.post("/blocklist/import")
@require_role("manager")
def blocklist_import() -> Any:
    """CSV upload: checked whole first; every bad row reported with its line; nothing written unless all are
    good, or 'import the good rows' is ticked. 'Check only' writes nothing and says what the upload would do."""
    me = _me()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("Choose a CSV file to upload (columns: number, scope, treatment, reason, until, permanent).", "error")
        return _blocklist_page(status=400)
    data = upload.read()
    try:
        result = csvio.import_blocklist(_bl(), data, by=me.username, partial=bool(request.form.get("partial")),
                                        write=not request.form.get("check_only"))
    except ValueError as exc:
        flash(f"Not imported: {exc}.", "error")
        return _blocklist_page(status=409 if isinstance(exc, csvio.ImportBusy) else 400)
    status = 400 if result.errors and not result.partial else 200
    return _blocklist_page(import_result=result, status=status)


@bp.get("/numbers/<number>")
@require_role("manager")
def number(number: str) -> Any:
    """One number: its blocks (unblock, make permanent), ladder step, allowlist, the bulk feeds that list it (take it
    out), full history, evidence pack."""
    bl = _bl()
    e164 = _number_or_none(bl, number)
    if e164 is None:
        abort(400, description=f"{clean_text(number, 40)!r} is not a phone number: write it like +14155550123")
    history = list(reversed(bl.history(e164)))
    return render_template("desk/number.html", number=e164, blocks=bl.entries(e164), strikes=bl.strikes(e164),
                           allowed=bl.allow_entries(e164), history=history, block_lengths=BLOCK_LENGTHS,
                           feeds=number_feeds(bl, e164), zone=resources().settings.timezone,
                           restrict=restrict_card(bl, e164), teams=sorted(resources().settings.teams),
                           **warnings_offer(e164))


def warnings_offer(number: str) -> dict[str, Any]:
    """The number's limit-setting warnings on record, and whether to offer a restriction or a block (after
    IVR_WARNINGS_BEFORE_OFFER of them)."""
    res = resources()
    count = warnings.count(res.store, number)
    return {"warnings_on_record": count,
            "warnings_offer": warnings.offer_due(count, res.settings.warnings_before_offer)}


@bp.post("/numbers/<number>/unblock")
@require_role("manager")
def unblock(number: str) -> Any:
    """Lift a block (appeal), with the reason; 'forgive' also steps the ladder back once."""
    me = _me()
    bl = _bl()
    reason = clean_text(request.form.get("reason", ""), 200).strip()
    scope = request.form.get("scope") or None
    try:
        if not reason:
            raise ValueError("say why the number is unblocked (the appeal's outcome)")
        done = bl.unblock(number, by=me.username, reason=reason, scope=scope, role=me.role,
                          forgive=bool(request.form.get("forgive")))
    except ValueError as exc:
        flash(f"Not unblocked: {exc}.", "error")
        return redirect(url_for("desk_manager.number", number=number))
    flash("Unblocked: the number gets through again." if done else "It was not blocked there; nothing changed.",
          "info" if done else "error")
    return redirect(url_for("desk_manager.number", number=bl.number(number)))


@bp.post("/numbers/<number>/permanent")
@require_role("manager")
def make_permanent(number: str) -> Any:
    me = _me()
    bl = _bl()
    reason = clean_text(request.form.get("reason", ""), 200).strip()
    try:
        if not reason:
            raise ValueError("say why the block becomes permanent")
        bl.make_permanent(number, by=me.username, reason=reason, scope=request.form.get("scope") or None,
                          role=me.role)
    except (ValueError, LookupError, RuntimeError) as exc:
        flash(f"Not changed: {exc}.", "error")
        return redirect(url_for("desk_manager.number", number=number))
    flash("The block is permanent now.")
    return redirect(url_for("desk_manager.number", number=bl.number(number)))


@bp.get("/numbers/<number>/evidence.zip")
@require_role("manager")
def evidence(number: str) -> Any:
    """The evidence pack for the carrier or the police: calls.csv, history.csv, audit.csv, calls.json,
    SHA256SUMS."""

    try:
        pack = reports.evidence(resources().store, number, settings=_report_settings())
    except ValueError as exc:
        abort(400, description=str(exc))
    me = _me()
    events.audit(resources().store, by=me.username, role=me.role, action="evidence_export", number=pack["number"],
                 reason=f"{len(pack['calls'])} call(s)")
    name = reports.evidence_folder_name(pack)
    return Response(reports.evidence_zip(pack), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"'})


@bp.get("/numbers/<number>/export/<kind>")
@require_role("manager")
def evidence_export(number: str, kind: str) -> Any:
    """One export of the evidence pack alone (kind ftc, traceback or letter; workers/reports/exports.py), with
    its SHA-256 in the Repr-Digest header, audited like the pack."""
    try:
        pack = reports.evidence(resources().store, number, settings=_report_settings())
        name, data = evidence_exports.export_file(pack, kind)
    except ValueError as exc:
        abort(400, description=str(exc))
    except LookupError as exc:
        abort(404, description=str(exc))
    me = _me()
    events.audit(resources().store, by=me.username, role=me.role, action="evidence_file", number=pack["number"],
                 subject=name, reason=f"{len(evidence_exports.reported_calls(pack))} call(s)")
    return Response(data, mimetype=evidence_exports.KINDS[kind][1], headers={
        "Content-Disposition": f'attachment; filename="{evidence_exports.download_name(pack, kind)}"',
        "Repr-Digest": evidence_exports.repr_digest(data)})


# ---- review list and dry run --------------------------------------------------------------------------------
@bp.get("/review")
@require_role("manager")
def review() -> Any:
    """Callers the burst rule or a caller signal put on the review list, campaigns' exchanges (block them or
    dismiss them), and the call backs
    agreed with callers, with those that will not be placed and why."""
    return render_template("desk/review.html", items=_bl().review_list(count=200), treatments=TREATMENTS,
                           callbacks=callbacks(resources(), count=200),
                           warned=warnings.due(resources().store, resources().settings.warnings_before_offer),
                           warnings_before_offer=resources().settings.warnings_before_offer)


@bp.post("/review/dismiss")
@require_role("manager")
def review_dismiss() -> Any:
    bl = _bl()
    raw = request.form.get("number", "")
    try:
        subject, exchange = review_subject(bl, raw)
        line = request.form.get("line") or None
        scope = bl.line_scope(line) if subject == WITHHELD or exchange else None
        done = bl.dismiss_review(subject, scope)
    except ValueError as exc:
        flash(f"Not dismissed: {exc}.", "error")
        return redirect(url_for("desk_manager.review"))
    flash("Taken off the review list." if done else "It was not on the review list any more.")
    return redirect(url_for("desk_manager.review"))


@bp.route("/dryrun", methods=["GET", "POST"])
@require_role("manager")
def dry_run() -> Any:
    """What a rule would have done over the recorded calls of the last days; changes nothing."""
    res = resources()
    result = None
    form = {k: clean_text(request.values.get(k, ""), 64).strip() for k in
            ("kind", "number", "prefix", "policy", "line", "treatment", "calls", "minutes", "action", "days")}
    form["days"] = form["days"] or "7"
    status = 200
    # "Show its fields" (the page without its script) only switches the form to the chosen kind of rule.
    if request.method == "POST" and not request.form.get("choose"):
        try:
            rule = dryrun.candidate(form, res.settings.default_region)
            result = dryrun.dry_run(res.store, rule, dryrun.days_of(form["days"]))
        except ValueError as exc:
            flash(f"Cannot try this rule: {exc}.", "error")
            status = 400
    return render_template("desk/dryrun.html", form=form, result=result, kinds=dryrun.KINDS, treatments=TREATMENTS,
                           policies=dryrun.WITHHELD_POLICIES, kind_labels=DRY_RUN_KINDS,
                           shown_kind=form["kind"] if form["kind"] in dryrun.KINDS else dryrun.KINDS[0]), status


# The kinds of rule the dry run tries, as its form names them.
DRY_RUN_KINDS = {"number": "one number", "prefix": "a range of numbers (prefix)",
                 "withheld": "callers who withhold their number", "burst": "a burst of calls from one number"}


# ---- reports and withheld calls -----------------------------------------------------------------------------
@bp.get("/reports")
@require_role("manager")
def reports_page() -> Any:
    """Report downloads: CSV tables, the printable HTML report (print it to PDF), evidence packs."""

    q, error = _query_or_default()
    data = reports.summary(resources().store, q)
    table_names = {name: list(reports.tables(name, data[name])) for name in reports.REPORTS}
    return render_template("desk/reports.html", q=q, args=_report_args(q), tables=table_names, error=error,
                           report_titles=reports.REPORT_TITLES, table_title=reports.table_title,
                           headline=reports.headline(data),
                           lines=sorted(resources().store.smembers("ivr:agg:lines")))


@bp.get("/withheld")
@require_role("manager")
def withheld() -> Any:
    """Withheld-ID calls whose time agents noted, and flagged withheld calls: to match the carrier's bill."""

    notes = [{"id": i, **fields} for i, fields in resources().store.xrevrange(dk.WITHHELD_NOTES, count=500)]
    q, _error = _query_or_default()
    flagged = reports.withheld(resources().store, q)
    return render_template("desk/withheld.html", notes=notes, flagged=flagged, q=q, args=_report_args(q))


# ---- settings ---------------------------------------------------------------------------------------------------
def _setting_names(scope: str = "") -> tuple[str, ...]:
    extra = tuple(policy.GLOBAL_SETTINGS) if scope == keys.GLOBAL else ()
    return tuple(policy.LINE_SETTINGS) + extra


@bp.route("/settings", methods=["GET", "POST"])
@require_role("manager")
def settings() -> Any:
    """Default treatments, withheld policy, burst rule, language per line; every change audited."""
    me = _me()
    bl = _bl()
    res = resources()
    status = 200
    scope_raw = clean_text(request.values.get("line", "*"), 32).strip() or "*"
    try:
        scope = bl.line_scope(scope_raw)
    except ValueError as exc:
        flash(f"{exc}.", "error")
        scope, status = keys.GLOBAL, 400
    if request.method == "POST" and status == 200:
        names = _setting_names(scope)
        changes = {n: clean_text(request.form.get(n, ""), 64).strip() for n in names if n in request.form}
        current = bl.line_settings(scope)
        typed = dict(changes)  # what the manager wrote: set_line_setting checks it again (the stored form has no units)
        try:
            for name, value in list(changes.items()):  # all checked before any is written
                if name in policy.GLOBAL_SETTINGS:
                    changes[name] = policy.normalize_global_setting(name, value)
                else:
                    policy.validate_line_setting(name, value)
            changes = {n: v for n, v in changes.items() if v != current.get(n, "")}
            for name in changes:
                bl.set_line_setting(scope, name, typed[name], by=me.username, role=me.role)
        except ValueError as exc:
            flash(f"Nothing saved: {exc}.", "error")
            status = 400
        else:
            flash(f"Saved {len(changes)} change(s) for {'all lines' if scope == keys.GLOBAL else scope}."
                  if changes else "Nothing changed.")
            return redirect(url_for("desk_manager.settings", line=scope))
    lines = sorted(set(res.store.smembers("ivr:agg:lines")) | set(res.settings.line_languages))
    s = res.settings
    ladder = format_ladder(policy.ladder_text(bl.policy.ladder))
    overrides, effective = bl.line_settings(scope), bl.effective_settings(scope)
    for shown in (overrides, effective):  # the ladder is stored as seconds; shown as a manager writes it
        if shown.get("sanction_ladder"):
            shown["sanction_ladder"] = format_ladder(shown["sanction_ladder"])
    return render_template("desk/settings.html", scope=scope, names=_setting_names(scope), labels=SETTING_LABELS,
                           choices=SETTING_CHOICES, overrides=overrides,
                           effective=effective, lines=lines, ladder=ladder,
                           breather=s.breather_seconds, default_language=s.default_language, recent=_audit(actions={"setting"}, count=20)), status


# ---- audit ------------------------------------------------------------------------------------------------------
def _audit(before: str = "+", count: int = AUDIT_PAGE, actions: set[str] | None = None) -> list[dict[str, str]]:
    out = []
    for entry_id, fields in resources().store.xrevrange(keys.AUDIT, max=before, count=count * (5 if actions else 1)):
        if actions and fields.get("action") not in actions:
            continue
        out.append({"id": entry_id, **fields})
        if len(out) >= count:
            break
    return out


@bp.get("/audit")
@require_role("manager")
def audit() -> Any:
    """Every manager action (blocks, unblocks, settings, users, exports), newest first."""
    before = request.args.get("before", "+")
    if before != "+" and not all(part.isdigit() for part in before.split("-", 1)):
        before = "+"
    bound = before if before == "+" else f"({before}"
    entries = _audit(bound, AUDIT_PAGE + 1)
    more = len(entries) > AUDIT_PAGE
    entries = entries[:AUDIT_PAGE]
    return render_template("desk/audit.html", entries=entries, more=more,
                           next_before=entries[-1]["id"] if more and entries else "")
