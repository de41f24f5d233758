"""Harassment reports over HTTP: JSON, CSV, the printable HTML report, evidence packs, fold/rebuild/erase.

Every route needs a manager (the service token, a desk user's API token, or a desk session; never a
token in the URL); erasing a number needs an admin. The views only parse and validate; the work is in
workers/reports/, which reads pre-folded aggregates.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, jsonify, request

from blocklist import events
from ivr.auth import api_auth, current_principal, principal_name, require_role
from ivr.problems import problem
from ivr.resources import resources
from workers import reports
from workers.queues import FOLD_JOB_ID, REBUILD_JOB_ID
from workers.reports import exports
from workers.reports.printable import render_html

bp = Blueprint("reports", __name__)


def _settings() -> reports.ReportSettings:
    app_settings = resources().settings
    return dataclasses.replace(reports.ReportSettings.from_env(), data_dir=app_settings.data_dir,
                               default_region=app_settings.default_region, timezone=app_settings.timezone)


def _query() -> reports.Query:
    rs = _settings()
    forced = request.args.get("mask", "").lower() in ("1", "true", "yes", "on")
    return reports.Query.build(start=request.args.get("from"), end=request.args.get("to"),
                               line=request.args.get("line"), mask=rs.mask_numbers or forced, settings=rs)


def _bad(exc: Exception) -> tuple[Response, int]:
    return problem(400, "bad_request", str(exc))


@bp.get("/api/reports")
@api_auth
@require_role("manager")
def index() -> Response:
    """What reports exist and how to ask for them."""
    return jsonify({
        "reports": list(reports.REPORTS),
        "parameters": {"from": "YYYY-MM-DD (default: 29 days before `to`)", "to": "YYYY-MM-DD (default: today)",
                       "line": "one line's number (default: all lines)", "mask": "1 hides the last digits"},
        "csv": "/api/reports/<report>.csv?table=<table>", "html": "/reports/print", "summary": "/api/reports/summary",
        "evidence": "/api/reports/evidence/<number>",
        "exports": [f"/api/reports/evidence/<number>/{name}" for name in EXPORT_ROUTES],
    })


@bp.get("/api/reports/summary")
@api_auth
@require_role("manager")
def summary() -> Any:
    """Every report for one period."""
    try:
        q = _query()
    except ValueError as exc:
        return _bad(exc)
    return jsonify(reports.summary(resources().store, q))


@bp.get("/api/reports/<name>")
@api_auth
@require_role("manager")
def one(name: str) -> Any:
    """One report as JSON."""
    try:
        if name not in reports.REPORTS:
            raise ValueError(f"unknown report {name!r}: one of {', '.join(reports.REPORTS)}")
        q = _query()
    except ValueError as exc:
        return _bad(exc)
    return jsonify(reports.report(resources().store, name, q))


@bp.get("/api/reports/<name>.csv")
@api_auth
@require_role("manager")
def one_csv(name: str) -> Any:
    """One table of a report as a CSV download (`?table=`, default the report's first table)."""
    try:
        if name not in reports.REPORTS:
            raise ValueError(f"unknown report {name!r}: one of {', '.join(reports.REPORTS)}")
        q = _query()
        data = reports.REPORT_FUNCS[name](resources().store, q)
        tables = reports.tables(name, data)
        table = request.args.get("table") or next(iter(tables))
        if table not in tables:
            raise ValueError(f"report {name} has no table {table!r}: one of {', '.join(tables)}")
    except ValueError as exc:
        return _bad(exc)
    filename = f"{name}-{table}-{q.start}-{q.end}.csv"
    return Response(reports.to_csv(tables[table]), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/reports/print")
@api_auth
@require_role("manager")
def printable() -> Any:
    """The printable HTML report with its charts (same query parameters as the JSON routes)."""
    try:
        q = _query()
    except ValueError as exc:
        return _bad(exc)
    html = render_html(reports.summary(resources().store, q))
    return Response(html, mimetype="text/html", headers={"Cache-Control": "no-store"})


@bp.get("/api/reports/evidence/<number>")
@api_auth
@require_role("manager")
def evidence(number: str) -> Any:
    """Evidence pack of one number: a zip with calls.csv, history.csv, audit.csv, calls.json, the exports (when a
    call was flagged or treated: workers/reports/exports.py) and SHA256SUMS."""
    try:
        pack = reports.evidence(resources().store, number, settings=_settings())
    except ValueError as exc:
        return _bad(exc)
    name = reports.evidence_folder_name(pack)
    return Response(reports.evidence_zip(pack), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"', "Cache-Control": "no-store"})


# The exports of the evidence pack downloaded alone: the route's file name -> the kind (workers/reports/exports.py)
EXPORT_ROUTES = {"ftc.csv": "ftc", "traceback.csv": "traceback", "letter.txt": "letter"}


@bp.get("/api/reports/evidence/<number>/ftc.csv", defaults={"kind": "ftc"})
@bp.get("/api/reports/evidence/<number>/traceback.csv", defaults={"kind": "traceback"})
@bp.get("/api/reports/evidence/<number>/letter.txt", defaults={"kind": "letter"})
@api_auth
@require_role("manager")
def evidence_export(number: str, kind: str) -> Any:
    """One export of the evidence pack alone (FTC complaint CSV, traceback request CSV, warning letter), with its
    SHA-256 in the RFC 9530 Repr-Digest header; the same bytes are listed in the pack's SHA256SUMS."""
    try:
        pack = reports.evidence(resources().store, number, settings=_settings())
        name, data = exports.export_file(pack, kind)
    except ValueError as exc:
        return _bad(exc)
    except LookupError as exc:
        return problem(404, "not_found", str(exc))
    p = current_principal()
    events.audit(resources().store, by=principal_name(), role=p.role if p else "", action="evidence_file",
                 number=pack["number"], subject=name, reason=f"{len(exports.reported_calls(pack))} call(s)")
    return Response(data, mimetype=exports.KINDS[kind][1], headers={
        "Content-Disposition": f'attachment; filename="{exports.download_name(pack, kind)}"',
        "Repr-Digest": exports.repr_digest(data), "Cache-Control": "no-store"})


@bp.post("/api/reports/fold")
@api_auth
@require_role("manager")
def fold() -> Any:
    """Ask for a fold now (at most one is pending at a time)."""
    reports.schedule_fold(resources().rq_connection)
    return jsonify({"queued": True, "job_id": FOLD_JOB_ID}), 202


@bp.post("/api/reports/rebuild")
@api_auth
@require_role("manager")
def rebuild() -> Any:
    """Recompute the retained window from the raw events (a job on the reports queue)."""
    job_id = reports.schedule_rebuild(resources().rq_connection)
    return jsonify({"queued": job_id is not None, "job_id": REBUILD_JOB_ID,
                    "detail": "queued" if job_id else "a rebuild is already pending or running"}), 202


@bp.post("/api/reports/erase")
@api_auth
@require_role("admin")
def erase() -> Any:
    """Erase one number from events and reports: JSON {number, reason}; audited under the caller's name."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _bad(ValueError('send a JSON object: {"number": "+14155550123", "reason": "request reference"}'))
    try:
        result = reports.erase_number(resources().store, str(body.get("number") or ""), by=principal_name(),
                                      reason=str(body.get("reason") or ""), settings=_settings(), rebuild_after=False)
    except ValueError as exc:
        return _bad(exc)
    reports.schedule_rebuild(resources().rq_connection)
    result["rebuild"] = {"queued": True, "job_id": REBUILD_JOB_ID}
    return jsonify(result), 200
