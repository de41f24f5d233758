"""The evidence pack of one number: its calls as CSV and JSON, with a SHA-256 manifest."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from workers.reports.clock import Clock, _id, _int, _now_ms
from workers.reports.common import Store, write_atomic
from workers.reports.retention import _number, _sha256
from workers.reports.settings import ReportSettings
from workers.reports.streams import events_of
from workers.reports.tables import to_csv

EVIDENCE_COLUMNS = ("time", "call_sid", "duration", "line", "agent", "note", "treatment", "decision", "rule",
                    "flag_via", "flag_reason", "isolation", "isolation_seconds", "status", "stir", "city",
                    "state", "country")


def evidence(r: Store, raw_number: str, *, settings: ReportSettings | None = None,
             now_ms: int | None = None) -> dict[str, Any]:
    """Every stored call of one number (long-term events + retained calls), for the carrier or the police."""
    rs = settings or ReportSettings.from_env()
    number = _number(raw_number, rs)
    clock = Clock(rs.tz)
    calls: dict[str, dict[str, Any]] = {}
    actions: list[dict[str, Any]] = []
    raw: list[dict[str, str]] = []
    for event_id, ev in events_of(r, number):
        raw.append({"id": event_id, **ev})
        ts = _int(ev.get("ts")) or _id(event_id)[0]
        etype, sid = ev.get("type", ""), ev.get("call_sid", "")
        if etype not in ("call", "flag", "isolation", "status") or not sid:
            actions.append({"time": clock.iso(ts), "ts": ts, "action": etype, "by": ev.get("by", ev.get("agent", "")),
                            "reason": ev.get("reason", ""), "until": ev.get("until", ""), "line": ev.get("line", "")})
            continue
        row = calls.setdefault(sid, {c: "" for c in EVIDENCE_COLUMNS} | {"call_sid": sid, "ts": ts})
        row["ts"] = min(row["ts"], ts)
        row["time"] = clock.iso(row["ts"])
        row["line"] = row["line"] or ev.get("line", "")
        for column, name in (("stir", "StirVerstat"), ("city", "FromCity"), ("state", "FromState"),
                             ("country", "FromCountry")):
            row[column] = row[column] or ev.get(name, "")
        if etype == "call":
            row.update(decision=ev.get("decision", ""), rule=ev.get("rule", ""), door_treatment=ev.get("treatment", ""))
        elif etype == "flag":
            row.update(agent=ev.get("agent", ""), note=ev.get("note", ""), flag_via=ev.get("via", ""),
                       flag_reason=ev.get("reason", ""))
            if ev.get("duration") and not row["duration"]:
                row.update(duration=ev["duration"], status=ev.get("call_status", ""))
        elif etype == "isolation":
            row.update(isolation=ev.get("outcome", ""), isolation_seconds=ev.get("seconds", ""))
        else:
            row.update(status=ev.get("status", ""), duration=ev.get("duration", ""))
    rows = sorted(calls.values(), key=lambda item: item["ts"])
    for row in rows:
        door = row.pop("door_treatment", "")
        row["treatment"] = (door if row["decision"] == "treat" and door else
                            "isolation" if row["isolation"] else "flagged" if row["flag_via"] else "answered")
    return {"number": number, "generated_at": clock.iso(now_ms if now_ms is not None else _now_ms()),
            "timezone": rs.timezone, "calls": rows, "actions": actions, "events": raw,
            "note": f"Screened calls older than {rs.retention_days} days are no longer stored; flags, isolations "
                    "and blocklist actions are kept until an erasure."}


def evidence_files(pack: dict[str, Any]) -> dict[str, bytes]:
    """calls.csv, calls.json and a SHA256SUMS manifest (check with `sha256sum -c SHA256SUMS`)."""
    files = {
        "calls.csv": to_csv([{c: row.get(c, "") for c in EVIDENCE_COLUMNS} for row in pack["calls"]],
                            EVIDENCE_COLUMNS).encode(),
        "calls.json": (json.dumps(pack, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
    }
    files["SHA256SUMS"] = "".join(f"{_sha256(data)}  {name}\n" for name, data in files.items()).encode()
    return files


def evidence_folder_name(pack: dict[str, Any]) -> str:
    return f"evidence-{pack['number'].lstrip('+')}-{pack['generated_at'][:10]}"


def evidence_zip(pack: dict[str, Any]) -> bytes:
    """The evidence pack as one zip (a folder with the three files)."""
    buffer = io.BytesIO()
    folder = evidence_folder_name(pack)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in evidence_files(pack).items():
            zf.writestr(f"{folder}/{name}", data)
    return buffer.getvalue()


def write_evidence(pack: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write the evidence pack's files into out_dir/<evidence-folder>/."""
    folder = Path(out_dir) / evidence_folder_name(pack)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_atomic(folder / name, data) for name, data in evidence_files(pack).items()]


