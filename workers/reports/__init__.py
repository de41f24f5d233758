"""Harassment reports: fold the event stream into aggregates exactly once, rebuild, retain, erase, query.

Exactly once under at-least-once delivery: a fold reads the events after the cursor stored in
`ivr:agg:state`, computes every increment of the batch in Python, and applies them together with the
new cursor in one MULTI/EXEC guarded by WATCH on that state hash. Every other writer of aggregates
(rebuild, erasure, retention) changes the state hash in its own transaction, so a concurrent or
replayed fold aborts and starts again from the cursor it then reads: no event is counted twice or lost.

Reports read only the pre-folded buckets (per day, month and year), never the raw stream.

The package re-exports every public name, so `workers.reports.fold_job` and the other job paths that
RQ stored with jobs already queued keep importing (as rq/worker/__init__.py does after its split).
"""
from __future__ import annotations

from workers.reports.charts import Chart, report_charts
from workers.reports.clock import Clock, prefix_of
from workers.reports.common import (
    DAY_MS,
    DEFAULT_BATCH,
    DIMENSIONS,
    EXPIRING,
    EXPOSURES,
    MAX_WATCH_RETRIES,
    MOVE_TYPES,
    PAUSE_MS,
    REPORTS,
    RETURN_DAYS,
    SHORT_STATE_TTL_S,
    TRIM_MARGIN_MS,
    WEEKDAYS,
    Store,
    write_atomic,
)
from workers.reports.evidence import (
    EVIDENCE_COLUMNS,
    evidence,
    evidence_files,
    evidence_folder_name,
    evidence_zip,
    write_evidence,
)
from workers.reports.fold import APPLY_LUA, Folder, FoldResult, fold
from workers.reports.jobs import (
    build_daily_report,
    build_weekly_report,
    fold_job,
    rebuild_job,
    retention_job,
    schedule_fold,
    schedule_rebuild,
)
from workers.reports.printable import render_html
from workers.reports.queries import (
    HEADLINE,
    REPORT_DAYS,
    REPORT_FUNCS,
    Query,
    agents,
    count_totals,
    deterrence,
    difficult,
    frequency,
    headline,
    meta,
    offenders,
    report,
    signals,
    sources,
    split_range,
    summary,
    withheld,
)
from workers.reports.rebuild import rebuild
from workers.reports.retention import apply_retention, erase_number
from workers.reports.settings import ReportSettings
from workers.reports.streams import events_of, merged_events, scan_stream
from workers.reports.tables import (
    REPORT_TITLES,
    TABLE_TITLES,
    table_title,
    tables,
    to_csv,
    write_report_files,
)

__all__ = [
    "REPORT_TITLES",
    "TABLE_TITLES",
    "table_title",
    "APPLY_LUA",
    "Chart",
    "Clock",
    "DAY_MS",
    "DEFAULT_BATCH",
    "DIMENSIONS",
    "EVIDENCE_COLUMNS",
    "EXPIRING",
    "EXPOSURES",
    "FoldResult",
    "HEADLINE",
    "Folder",
    "MAX_WATCH_RETRIES",
    "MOVE_TYPES",
    "PAUSE_MS",
    "Query",
    "REPORTS",
    "REPORT_DAYS",
    "REPORT_FUNCS",
    "RETURN_DAYS",
    "ReportSettings",
    "SHORT_STATE_TTL_S",
    "Store",
    "TRIM_MARGIN_MS",
    "WEEKDAYS",
    "agents",
    "apply_retention",
    "build_daily_report",
    "build_weekly_report",
    "count_totals",
    "deterrence",
    "difficult",
    "erase_number",
    "events_of",
    "evidence",
    "evidence_files",
    "evidence_folder_name",
    "evidence_zip",
    "fold",
    "fold_job",
    "frequency",
    "headline",
    "merged_events",
    "meta",
    "offenders",
    "prefix_of",
    "rebuild",
    "rebuild_job",
    "render_html",
    "report",
    "report_charts",
    "retention_job",
    "scan_stream",
    "schedule_fold",
    "schedule_rebuild",
    "signals",
    "sources",
    "split_range",
    "summary",
    "tables",
    "to_csv",
    "withheld",
    "write_atomic",
    "write_evidence",
    "write_report_files",
]
