"""The evidence pack of one number: its calls, its block history and the audit trail about it, as CSV and
JSON, with a SHA-256 manifest."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from blocklist import abuse, keys
from blocklist import warnings as warnings_on_record
from blocklist.entries import with_expiries
from blocklist.events import action_words
from workers.reports.clock import Clock, _id, _int, _now_ms
from workers.reports.common import Store, write_atomic
from workers.reports.exports import export_files
from workers.reports.retention import _number, _sha256
from workers.reports.settings import ReportSettings
from workers.reports.streams import events_of, scan_stream
from workers.reports.tables import to_csv

EVIDENCE_COLUMNS = ("time", "call_sid", "duration", "line", "agent", "note", "treatment", "decision", "rule",
                    "rule_detail", "attestation", "reputation", "reputation_by", "campaign", "flag_via", "flag_reason", "category", "isolation", "isolation_seconds", "status", "stir", "city",
                    "state", "country")
# history.csv: every block, unblock, change, expiry and flag of the number (blocks a flag made on the
# sanction ladder included), from its history list, which is kept until an erasure.
HISTORY_COLUMNS = ("time", "action", "what", "by", "role", "via", "line", "until", "lasts", "step", "reason",
                   "note", "call_sid")
# audit.csv: what people did about the number (the desk, the API, the command line), from the audit log.
AUDIT_COLUMNS = ("time", "action", "what", "by", "role", "line", "subject", "until", "lasts", "reason")
# The events that belong to one call (a row of calls.csv); the difficult-caller moves are also listed as actions.
CALL_EVENTS = ("call", "flag", "isolation", "status")
MOVES = ("escalate", "warn", "callback")


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
        if etype not in CALL_EVENTS or not sid:
            actions.append({"time": clock.iso(ts), "ts": ts, "action": etype, "by": ev.get("by", ev.get("agent", "")),
                            "reason": ev.get("reason", ""), "until": ev.get("until", ""), "line": ev.get("line", "")})
            if etype not in MOVES or not sid:
                continue
        row = calls.setdefault(sid, {c: "" for c in EVIDENCE_COLUMNS} | {"call_sid": sid, "ts": ts, "caller_name": "",
                                                                          "categories": [], "moves": []})
        row["ts"] = min(row["ts"], ts)
        row["time"] = clock.iso(row["ts"])
        row["line"] = row["line"] or ev.get("line", "")
        for column, name in (("stir", "StirVerstat"), ("city", "FromCity"), ("state", "FromState"),
                             ("country", "FromCountry")):
            row[column] = row[column] or ev.get(name, "")
        row["caller_name"] = row["caller_name"] or ev.get("CallerName", "")  # Twilio's caller-name lookup, when on
        if etype in MOVES:  # a move's category is the agent's own choice (the phone keys give none)
            row["moves"].append(etype)
            row["note"] = row["note"] or ev.get("note", "")
            if ev.get("category"):
                row["categories"].append(abuse.category(ev["category"], default="other"))
        elif etype == "call":
            row.update(decision=ev.get("decision", ""), rule=ev.get("rule", ""), door_treatment=ev.get("treatment", ""),
                       rule_detail=ev.get("detail", ""), attestation=ev.get("attest", ""), reputation=ev.get("rep", ""),
                       reputation_by=ev.get("rep_by", ""), campaign=ev.get("campaign", ""))
        elif etype == "flag":
            row.update(agent=ev.get("agent", ""), note=ev.get("note", ""), flag_via=ev.get("via", ""),
                       flag_reason=ev.get("reason", ""))
            # flags older than the taxonomy have none: their reason may still name one (abuse.LEGACY), else "other"
            row["categories"].append(abuse.category(ev.get("category") or ev.get("reason"), default="other"))
            if ev.get("duration") and not row["duration"]:
                row.update(duration=ev["duration"], status=ev.get("call_status", ""))
        elif etype == "isolation":
            row.update(isolation=ev.get("outcome", ""), isolation_seconds=ev.get("seconds", ""))
        else:
            row.update(status=ev.get("status", ""), duration=ev.get("duration", ""))
    rows = sorted(calls.values(), key=lambda item: item["ts"])
    for row in rows:
        door = row.pop("door_treatment", "")
        row["category"] = "; ".join(dict.fromkeys(row.pop("categories")))
        row["treatment"] = (door if row["decision"] == "treat" and door else
                            "isolation" if row["isolation"] else "flagged" if row["flag_via"] else "answered")
    now = now_ms if now_ms is not None else _now_ms()
    try:  # the warnings on record (blocklist/warnings.py); a damaged count must not stop the pack
        warnings = warnings_on_record.count(r, number)
    except ValueError:
        warnings = 0
    return {"number": number, "generated_at": clock.iso(now), "timezone": rs.timezone, "calls": rows,
            "history": block_history(r, number, clock, now), "audit": audit_trail(r, number, clock),
            "actions": actions, "events": raw, "warnings": warnings,
            "organisation": rs.organisation_name, "appeal_contact": rs.appeal_contact,
            "note": f"Screened calls older than {rs.retention_days} days are no longer stored; flags, isolations, "
                    "blocklist actions, the number's block history and the audit trail are kept until an erasure. "
                    "Times are ISO 8601 with the offset of the report time zone."}


def _line(scope: str) -> str:
    return "all lines" if scope in ("", keys.GLOBAL) else scope


def _until(clock: Clock, until: Any) -> str:
    """A block's end as people read it: ISO 8601 with offset, or '' (no end given)."""
    ms = _int(until)
    return clock.iso(ms) if ms > 0 else ""


def _history_what(item: dict[str, Any]) -> str:
    """One history entry in words; a block a flag made says so, with its rung of the sanction ladder."""
    action = str(item.get("action", ""))
    what = action_words(action)
    step = _int(item.get("step"))
    if action == "block" and step > 0:
        what = f"blocked by a flag (sanction ladder step {step})"
    elif action == "block" and item.get("source") == "import":
        what = "blocked (CSV import)"
    if item.get("outcome"):
        what += f"; {item['outcome']}"
    if item.get("restriction"):  # a contact restriction made, kept, up for review, ended or removed
        what += f": {item['restriction']}"
    if item.get("recording"):  # a voicemail a restricted caller left
        what += f" ({item['recording']})"
    return what


def block_history(r: Store, number: str, clock: Clock, now_ms: int) -> list[dict[str, Any]]:
    """The number's history (blocks by hand and by flags, changes, unblocks, the expiries Redis carried out,
    flags), oldest first, one readable row each."""
    items = with_expiries([json.loads(raw) for raw in r.lrange(keys.history(number), 0, -1)], now_ms)
    rows = []
    for item in items:
        action = str(item.get("action", ""))
        block_like = action in ("block", "permanent", "temporary")
        permanent = block_like and (item.get("permanent") is True or action == "permanent" or
                                    (action == "block" and not item.get("until")))
        rows.append({
            "time": clock.iso(_int(item.get("at"))), "ts": _int(item.get("at")), "action": action,
            "what": _history_what(item), "by": str(item.get("by", "")), "role": str(item.get("role", "")),
            "via": str(item.get("via", "")), "line": _line(str(item.get("scope", item.get("line", "")) or "")),
            "until": "permanent" if permanent else _until(clock, item.get("until")),
            "lasts": str(item.get("lasts", "")) or ("permanent" if permanent else ""),
            "step": str(item.get("step", "")) if _int(item.get("step")) else "",
            "reason": str(item.get("reason", "")), "note": str(item.get("note", "")),
            "call_sid": str(item.get("call_sid", "")),
            "restriction": str(item.get("restriction", "")),  # its words, for the warning letter
        })
        if _int(item.get("review")):  # a contact restriction's review date
            rows[-1]["what"] = f"{rows[-1]['what']} (review {clock.iso(_int(item.get('review')))})"
    return rows


def audit_trail(r: Store, number: str, clock: Clock) -> list[dict[str, Any]]:
    """Every audit record about the number (who blocked, unblocked, changed, allowlisted or exported it),
    oldest first."""
    rows = []
    for entry_id, rec in scan_stream(r, keys.AUDIT):
        if rec.get("number") != number:
            continue
        ts = _int(rec.get("ts")) or _id(entry_id)[0]
        rows.append({"time": clock.iso(ts), "ts": ts, "action": rec.get("action", ""),
                     "what": action_words(rec.get("action", "")), "by": rec.get("by", ""), "role": rec.get("role", ""),
                     "line": _line(rec.get("scope", "")), "subject": rec.get("subject", ""),
                     "until": "permanent" if rec.get("lasts") == "permanent" else _until(clock, rec.get("until")),
                     "lasts": rec.get("lasts", ""), "reason": rec.get("reason", "")})
    return rows


def evidence_files(pack: dict[str, Any]) -> dict[str, bytes]:
    """calls.csv, history.csv, audit.csv, calls.json (the whole pack), the regulator and carrier exports when a
    call is worth one (workers/reports/exports.py) and a SHA256SUMS manifest of them all (check with
    `sha256sum -c SHA256SUMS`)."""
    files = {
        "calls.csv": to_csv([{c: row.get(c, "") for c in EVIDENCE_COLUMNS} for row in pack["calls"]],
                            EVIDENCE_COLUMNS).encode(),
        "history.csv": to_csv([{c: row.get(c, "") for c in HISTORY_COLUMNS} for row in pack.get("history", [])],
                              HISTORY_COLUMNS).encode(),
        "audit.csv": to_csv([{c: row.get(c, "") for c in AUDIT_COLUMNS} for row in pack.get("audit", [])],
                            AUDIT_COLUMNS).encode(),
        "calls.json": (json.dumps(pack, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode(),
    }
    files.update(export_files(pack))
    files["SHA256SUMS"] = "".join(f"{_sha256(data)}  {name}\n" for name, data in files.items()).encode()
    return files


def evidence_folder_name(pack: dict[str, Any]) -> str:
    return f"evidence-{pack['number'].lstrip('+')}-{pack['generated_at'][:10]}"


def evidence_zip(pack: dict[str, Any]) -> bytes:
    """The evidence pack as one zip (a folder with its files and their manifest)."""
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


