"""Reports as tables, formula-safe CSV and the files of a daily or weekly report."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from blocklist.csvio import guard_cell
from workers.reports.common import REPORTS, WEEKDAYS, Store, write_atomic
from workers.reports.printable import render_html
from workers.reports.queries import Query, summary

# The words people read for each report and each of its tables (the names stay in URLs and file names).
REPORT_TITLES = {
    "frequency": "How often", "sources": "Where from", "offenders": "Repeat callers", "deterrence": "Deterrence",
    "agents": "Agents and shifts", "withheld": "Withheld numbers", "difficult": "Difficult callers",
    "signals": "Signals at the door",
}
TABLE_TITLES = {
    ("frequency", "daily"): "per day", ("frequency", "heatmap"): "by weekday and hour",
    ("frequency", "lines"): "per line", ("frequency", "door"): "calls treated on arrival, by rule and treatment",
    ("frequency", "categories"): "flags and moves by kind of abuse",
    ("sources", "numbers"): "top numbers", ("sources", "prefixes"): "top number ranges",
    ("sources", "dimensions"): "by region, line type, carrier and caller-ID attestation",
    ("sources", "withheld"): "withheld numbers", ("offenders", "repeat"): "repeat callers",
    ("offenders", "blocked"): "blocked numbers", ("deterrence", "deterrence"): "did they call again",
    ("agents", "agents"): "per agent", ("agents", "shifts"): "per shift", ("withheld", "calls"): "calls",
    ("withheld", "lines"): "per line", ("difficult", "totals"): "totals", ("difficult", "agents"): "per agent",
    ("difficult", "hours"): "by hour", ("difficult", "overflow"): "callers let go by the line",
    ("signals", "totals"): "totals", ("signals", "attestation"): "calls by caller-ID attestation (STIR/SHAKEN)",
    ("signals", "reputation"): "calls by reputation tier", ("signals", "providers"): "by reputation tier and add-on",
    ("signals", "campaigns"): "campaigns detected", ("signals", "daily"): "campaigns per day",
    ("signals", "lines"): "per line",
}


def table_title(report: str, table: str) -> str:
    return TABLE_TITLES.get((report, table), table.replace("_", " "))


def tables(name: str, data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A report's data as flat tables (CSV files, terminal output)."""
    if name == "frequency":
        heat = [{"metric": metric, "weekday": WEEKDAYS[wd], **{f"h{h:02d}": row[h] for h in range(24)}}
                for metric, matrix in data["heatmap"].items() for wd, row in enumerate(matrix)]
        door = [{"by": "rule", "value": k, "calls": v} for k, v in data["door"]["by_rule"].items()]
        door += [{"by": "treatment", "value": k, "calls": v} for k, v in data["door"]["by_treatment"].items()]
        door += [{"by": "feed", "value": k, "calls": v} for k, v in data["door"].get("by_feed", {}).items()]
        categories = [{"kind of abuse": row["words"], "category": row["category"], "flags": row["flags"],
                       "escalations": row["escalate"], "warnings": row["warn"], "callbacks": row["callback"]}
                      for row in data.get("by_category", [])]
        return {"daily": data["daily"], "heatmap": heat, "lines": data["lines"], "door": door,
                "categories": categories}
    if name == "sources":
        dims = [{"dimension": dim, **row} for dim, rows in data["dimensions"].items() for row in rows]
        return {"numbers": data["top_numbers"], "prefixes": data["top_prefixes"], "dimensions": dims,
                "withheld": [data["withheld"]]}
    if name == "offenders":
        return {"repeat": data["repeat"], "blocked": data["blocked"]}
    if name == "deterrence":
        return {"deterrence": data["kinds"]}
    if name == "agents":
        rows = [{"agent": row["agent"], "flags": row["flags"], **{f"shift_{k}": v for k, v in row["shifts"].items()}}
                for row in data["agents"]]
        return {"agents": rows, "shifts": [{"shift": k, "hours": data["shift_hours"].get(k, ""), "flags": v}
                                           for k, v in data["shifts"].items()]}
    if name == "withheld":
        return {"calls": data["calls"], "lines": data["per_line"]}
    if name == "difficult":
        hours = [{"move": move, **{f"h{h:02d}": row[h] for h in range(24)}} for move, row in data["by_hour"].items()]
        return {"totals": [data["totals"]], "agents": data["agents"], "hours": hours,
                "overflow": [{"reason": k, "callers": v} for k, v in data["overflow"].items()]}
    if name == "signals":
        return {"totals": [data["totals"]], "attestation": data["attestation"], "reputation": data["reputation"],
                "providers": data["providers"], "campaigns": data["campaigns"], "daily": data["daily"],
                "lines": data["lines"]}
    raise ValueError(f"unknown report {name!r}: one of {', '.join(REPORTS)}")


def _cell(value: Any) -> Any:
    """Spreadsheets run cells that start like a formula; prefix those with a quote (numbers stay): the one
    guard every export uses (blocklist.csvio.guard_cell)."""
    if value is None:
        return ""
    return guard_cell(value) if isinstance(value, str) else value


def to_csv(rows: list[dict[str, Any]], columns: Iterable[str] | None = None) -> str:
    """Rows as CSV text with a header; every row's keys (or `columns`) in order."""
    cols = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(cols)
    for row in rows:
        writer.writerow([_cell(row.get(c, "")) for c in cols])
    return buffer.getvalue()


def write_report_files(r: Store, q: Query, out_dir: Path) -> list[Path]:
    """report.json, one CSV per table (`<report>-<table>.csv`) and the printable report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = summary(r, q)
    written = [write_atomic(out / "report.json", (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode())]
    for name in REPORTS:
        for table, rows in tables(name, data[name]).items():
            written.append(write_atomic(out / f"{name}-{table}.csv", to_csv(rows).encode()))
    written.append(write_atomic(out / "report.html", render_html(data).encode()))
    return written
