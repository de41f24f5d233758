"""Regulator- and carrier-ready exports of one number's evidence pack: an FTC-complaint-style CSV, a carrier
traceback request (CSV and a cover text) and a warning letter to the caller.

We prepare these; we never send them. A person files the complaint on the FTC's site (donotcall.gov for Do Not
Call and robocall complaints, ReportFraud.ftc.gov for fraud), sends the traceback request to the carrier that
delivers the centre's calls (which may pass it to the Industry Traceback Group), and posts the letter.

Every export is made from the pack alone (workers/reports/evidence.py), so the same pack gives the same bytes:
a file downloaded alone has the digest its line in the pack's SHA256SUMS names, as long as no call came in
meanwhile and it is the same day (the letter and the cover text carry the day they were made).

Which calls: those worth a complaint, a traceback or a letter. A call an agent flagged, one the door treated (a
block, a restriction, a signal), one isolated, or one a difficult-caller move gave an abuse category to. A key-2
warning without a category is no such call (a limit set for an angry customer is not abuse), but it counts in
the letter's warnings on record.
"""

from __future__ import annotations

import base64
import hashlib
import textwrap
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from blocklist import abuse
from blocklist.attestation import attestation_class
from blocklist.text import clean_text
from workers.reports.tables import to_csv

FTC_FILE = "ftc_complaint.csv"
TRACEBACK_FILE = "traceback_request.csv"
TRACEBACK_COVER_FILE = "traceback_request.txt"
LETTER_FILE = "warning_letter.txt"
# `ivr report export KIND`, the API's and the desk's downloads: the kind, its file in the pack, its media type
KINDS: dict[str, tuple[str, str]] = {
    "ftc": (FTC_FILE, "text/csv"),
    "traceback": (TRACEBACK_FILE, "text/csv"),
    "letter": (LETTER_FILE, "text/plain"),
}
DEFAULT_ORGANISATION = "our call centre"
LETTER_CALLS_LISTED = 30  # a letter lists this many calls, the latest ones; the rest as a count
LETTER_WIDTH = 100  # the letter's lines wrap here (plain text, for a letter template or an email)

# The FTC complaint forms ask, per call: date and time, the number that called, the caller's or company's name,
# what the call was about (the subject), the consumer's own number that was called, whether it was a recorded
# message or a live person, and comments. Our words for each, in the form's order; the date and time columns
# carry the report zone in their header (see ftc_columns()).
FTC_TAIL = ("phone_number_that_called", "caller_name", "subject", "phone_number_called",
            "recorded_message_or_live_person", "notes", "call_sid")
# The Industry Traceback Group's "incident data": originating and called telephone number, date and time of the
# call; carriers also ask for the STIR/SHAKEN attestation and their own call reference.
TRACEBACK_COLUMNS = ("date_time_utc", "originating_telephone_number", "called_telephone_number", "attestation",
                     "stir_verstat", "call_sid", "duration_seconds", "reason_suspicious")

# What the door did, in words a regulator or a carrier reads (the rules of blocklist/lua/screen.lua).
DOOR_RULES = {
    "number": "the number is blocked",
    "restriction": "outside the contact restriction set for the number",
    "feed": "the number is on a nuisance-call list",
    "prefix": "the number's range is blocked",
    "withheld": "caller ID withheld",
    "burst": "many calls in a short time",
    "campaign": "part of a calling campaign from one exchange",
    "reputation": "the caller's reputation score",
    "attestation": "caller ID not verified (STIR/SHAKEN)",
    "line_type": "the kind of line calling",
}
TREATMENTS = {
    "reject": "refused as busy",
    "isolation": "held in isolation",
    "linefault": "played a line-fault message",
    "hangup": "hung up",
    "restricted": "told of the contact restriction",
    "voicemail": "offered voicemail only",
}
MOVES = {"escalate": "passed to a supervisor", "warn": "warned to keep the call respectful",
         "callback": "offered a call back"}
# What the letter says the door did (only rules the caller can act on; the others stay unnamed).
LETTER_DOOR = {
    "number": "calls from your number are blocked",
    "restriction": "it was outside the contact restriction set for your number",
    "burst": "many calls came from your number in a short time",
}
BLOCK_ACTIONS = ("block", "permanent", "temporary", "edit")
RESTRICT_ACTIONS = ("restrict", "restrict_kept")


# ---- which calls, and what happened on each ---------------------------------------------------------------
def categories(row: dict[str, Any]) -> list[str]:
    """The abuse categories of one evidence call (keys, in the order recorded; old records: "other")."""
    found = [abuse.category(part, default="other") for part in str(row.get("category", "")).split(";")
             if part.strip()]
    return list(dict.fromkeys(found))


def is_reported(row: dict[str, Any]) -> bool:
    """A call worth exporting: flagged, treated at the door, isolated, or given an abuse category by a move."""
    return bool(row.get("flag_via") or row.get("decision") == "treat" or row.get("isolation")
                or categories(row))


def reported_calls(pack: dict[str, Any]) -> list[dict[str, Any]]:
    """The pack's calls that the exports list, oldest first."""
    return [row for row in pack.get("calls", []) if is_reported(row)]


def _door(row: dict[str, Any]) -> str:
    if row.get("decision") != "treat":
        return ""
    rule = str(row.get("rule", ""))
    words = DOOR_RULES.get(rule, "call screening")
    treatment = TREATMENTS.get(str(row.get("treatment", "")), "")
    return f"stopped at the door: {words}" + (f" ({treatment})" if treatment else "")


def subject(row: dict[str, Any]) -> str:
    """What the call was about: its abuse categories in words, else why the door stopped it."""
    words = [abuse.WORDS.get(key, key) for key in categories(row)]
    if words:
        return "; ".join(words)
    if row.get("decision") == "treat":
        return f"unwanted call ({DOOR_RULES.get(str(row.get('rule', '')), 'stopped by call screening')})"
    return "unwanted call"


def who_spoke(row: dict[str, Any]) -> str:
    """The FTC's question: a recorded message or a live person (what our agent met, when one answered)."""
    kinds = categories(row)
    if "robocall" in kinds:
        return "recorded message"
    if "silent" in kinds:
        return "no one spoke (silent call)"
    if row.get("flag_via") or row.get("moves") or row.get("agent"):
        return "live person"
    if row.get("decision") == "treat":
        return "not answered (stopped by call screening)"
    return "unknown"


def notes(row: dict[str, Any]) -> str:
    """What happened on the call, in a few plain phrases (never the agent's name)."""
    parts = []
    if row.get("flag_via"):
        parts.append("flagged by our agent")
    parts += [MOVES.get(move, move) for move in dict.fromkeys(row.get("moves") or [])]
    door = _door(row)
    if door:
        parts.append(door)
    if row.get("isolation"):
        seconds = f", {row['isolation_seconds']} s" if row.get("isolation_seconds") else ""
        parts.append(f"held in isolation ({row['isolation']}{seconds})")
    if row.get("duration"):
        parts.append(f"the call lasted {row['duration']} s")
    if row.get("note"):
        parts.append(f"agent's note: {clean_text(str(row['note']), 500)}")
    return "; ".join(parts)


# ---- times ----------------------------------------------------------------------------------------------
def _zone(pack: dict[str, Any]) -> ZoneInfo:
    return ZoneInfo(str(pack.get("timezone") or "UTC"))


def _local(ts_ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, zone)


def utc_iso(ts_ms: int) -> str:
    """ISO 8601 in UTC with Z, to the second: 2025-03-03T14:05:09Z."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _long_day(moment: datetime) -> str:
    return f"{moment:%A} {moment.day} {moment:%B %Y}"


def _long_time(moment: datetime) -> str:
    return f"{_long_day(moment)} at {moment:%H:%M}"


# ---- the FTC complaint CSV ----------------------------------------------------------------------------------
def ftc_columns(pack: dict[str, Any]) -> tuple[str, ...]:
    """The FTC CSV's header: the date and time columns name the report zone (IVR_TIMEZONE)."""
    zone = str(pack.get("timezone") or "UTC")
    return (f"date_of_call ({zone})", f"time_of_call ({zone})", *FTC_TAIL)


def ftc_rows(pack: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per reported call, as the FTC's complaint form asks for it."""
    zone = _zone(pack)
    day_col, time_col = ftc_columns(pack)[:2]
    rows = []
    for row in reported_calls(pack):
        moment = _local(int(row["ts"]), zone)
        rows.append({day_col: moment.strftime("%Y-%m-%d"), time_col: moment.strftime("%H:%M"),
                     "phone_number_that_called": pack["number"], "caller_name": row.get("caller_name", ""),
                     "subject": subject(row), "phone_number_called": row.get("line", ""),
                     "recorded_message_or_live_person": who_spoke(row), "notes": notes(row),
                     "call_sid": row.get("call_sid", "")})
    return rows


def ftc_csv(pack: dict[str, Any]) -> bytes:
    return to_csv(ftc_rows(pack), ftc_columns(pack)).encode()


# ---- the carrier traceback request ------------------------------------------------------------------------
def _attestation(row: dict[str, Any]) -> str:
    """The call's attestation class as the screen stored it; from StirVerstat when only a flag kept that; ''
    when neither is left (the screened call's record is past retention)."""
    if row.get("attestation"):
        return str(row["attestation"])
    return attestation_class(str(row["stir"])) if row.get("stir") else ""


def traceback_rows(pack: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per reported call: UTC time, both numbers, attestation, the carrier's call id, duration."""
    return [{"date_time_utc": utc_iso(int(row["ts"])), "originating_telephone_number": pack["number"],
             "called_telephone_number": row.get("line", ""), "attestation": _attestation(row),
             "stir_verstat": row.get("stir", ""), "call_sid": row.get("call_sid", ""),
             "duration_seconds": row.get("duration", ""), "reason_suspicious": subject(row)}
            for row in reported_calls(pack)]


def traceback_csv(pack: dict[str, Any]) -> bytes:
    return to_csv(traceback_rows(pack), TRACEBACK_COLUMNS).encode()


def _organisation(pack: dict[str, Any]) -> str:
    return clean_text(str(pack.get("organisation") or ""), 120).strip() or DEFAULT_ORGANISATION


def traceback_cover(pack: dict[str, Any], csv_data: bytes) -> bytes:
    """The cover text that goes with traceback_request.csv: what is asked, of whom, and what each column holds."""
    rows = traceback_rows(pack)
    lines = sorted({row["called_telephone_number"] for row in rows if row["called_telephone_number"]})
    kinds: dict[str, int] = {}
    for row in rows:
        kinds[row["reason_suspicious"]] = kinds.get(row["reason_suspicious"], 0) + 1
    what = "; ".join(f"{name} ({count})" for name, count in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    text = f"""Traceback request: calls from {pack['number']}

Prepared by {_organisation(pack)} on {pack['generated_at'][:10]} from its call records. Nothing has been sent:
a person sends this request and traceback_request.csv to the carrier that delivers our calls, which can trace
the calls back hop by hop (or pass them to the Industry Traceback Group).

We ask that the {len(rows)} call(s) listed in traceback_request.csv be traced back to the provider that
originated them. They came from {pack['number']} to our number(s) {', '.join(lines) or '(not recorded)'}
between {rows[0]['date_time_utc']} and {rows[-1]['date_time_utc']} (UTC).
What happened: {what}.

Columns of traceback_request.csv (every time is UTC, ISO 8601 with Z):
  date_time_utc                 when the call reached us
  originating_telephone_number  the calling number as it was presented to us (caller ID; it may be spoofed)
  called_telephone_number       our number that was called
  attestation                   the STIR/SHAKEN attestation the call carried, as verified for us: A, B or C;
                                failed (verification failed); unsigned (no signature); empty when the call's
                                record has passed our retention period
  stir_verstat                  the verification result as our carrier reported it (Twilio's StirVerstat)
  call_sid                      our carrier's identifier of the call (Twilio CallSid), to find it in its records
  duration_seconds              how long the call lasted, when recorded
  reason_suspicious             what happened on the call

SHA-256 of traceback_request.csv: {hashlib.sha256(csv_data).hexdigest()}
The Industry Traceback Group gives priority to call examples less than ten days old.
"""
    return text.encode()


# ---- the warning letter -----------------------------------------------------------------------------------
def _call(row: dict[str, Any], zone: ZoneInfo) -> str:
    when = _long_time(_local(int(row["ts"]), zone))
    words = [abuse.WORDS.get(key, key) for key in categories(row)]
    if words:
        what = "; ".join(words) + " (recorded by our staff)"
    elif row.get("decision") == "treat":
        reason = LETTER_DOOR.get(str(row.get("rule", "")), "")
        what = "the call was not put through to our staff" + (f": {reason}" if reason else "")
    elif row.get("flag_via") or row.get("isolation"):
        what = "recorded by our staff as an abusive call"
    else:
        what = "recorded by our staff"
    return f"{when}: {what}"


def _step(row: dict[str, Any], zone: ZoneInfo) -> str:
    """One block or restriction on record, in the caller's words; '' for history that is not such a step."""
    action = str(row.get("action", ""))
    day = _long_day(_local(int(row.get("ts") or 0), zone))
    line = str(row.get("line", ""))
    where = "our lines" if line in ("", "all lines") else f"our line {line}"
    until = str(row.get("until", ""))
    if action in BLOCK_ACTIONS:
        if until == "permanent":
            return f"{day}: calls from your number to {where} were blocked, with no end date"
        end = f" until {_long_time(datetime.fromisoformat(until).astimezone(zone))}" if until else ""
        return f"{day}: calls from your number to {where} were blocked{end}"
    if action in ("unblock", "expire"):
        return f"{day}: the block on calls from your number ended"
    if action in RESTRICT_ACTIONS:
        kind = str(row.get("restriction", "")).strip()
        return f"{day}: contact from your number was restricted" + (f" ({kind})" if kind else "")
    if action in ("unrestrict", "restrict_end"):
        return f"{day}: the contact restriction on your number ended"
    return ""


def _paragraph(text: str) -> list[str]:
    return textwrap.wrap(text, LETTER_WIDTH, break_on_hyphens=False) + [""]


def _item(text: str) -> list[str]:
    return textwrap.wrap(text, LETTER_WIDTH, initial_indent="  - ", subsequent_indent="    ", break_on_hyphens=False)


def warning_letter(pack: dict[str, Any]) -> bytes:
    """A plain, firm, polite letter to the caller: the calls, the warnings and steps on record, what happens
    next and how to ask for a review. Dates in the report zone (IVR_TIMEZONE); no notes, no staff names."""
    zone = _zone(pack)
    organisation = _organisation(pack)
    signature = organisation[:1].upper() + organisation[1:]
    calls = reported_calls(pack)
    history = pack.get("history", [])
    warning_days = [_long_day(_local(int(row["ts"]), zone)) for row in history if row.get("action") == "warn"]
    warnings_on_record = max(int(pack.get("warnings") or 0), len(warning_days))
    steps = [step for step in (_step(row, zone) for row in history) if step]
    made = datetime.fromisoformat(pack["generated_at"]).astimezone(zone)
    reference = f"{pack['number'].lstrip('+')}-{made:%Y-%m-%d}"
    appeal = clean_text(str(pack.get("appeal_contact") or ""), 300).strip()
    out = [signature, _long_day(made), f"Reference: {reference}", "",
           f"To the person who uses the telephone number {pack['number']}", "", "Dear caller,", ""]
    out += _paragraph(f"This letter is from {organisation}. It is about calls from your number to our lines.")
    out.append(f"Our records show these calls from your number (times in {zone.key}):")
    listed = calls[-LETTER_CALLS_LISTED:]
    if len(calls) > len(listed):
        out += _item(f"{len(calls) - len(listed)} earlier call(s), and then:")
    for row in listed:
        out += _item(_call(row, zone))
    out.append("")
    if warnings_on_record:
        times = "once" if warnings_on_record == 1 else f"{warnings_on_record} times"
        on = f" (on {', '.join(dict.fromkeys(warning_days))})" if warning_days else ""
        out += _paragraph(f"Our staff have asked you {times} to keep your calls respectful{on}.")
    if steps:
        out.append("What we have done so far:")
        for step in steps:
            out += _item(step)
        out.append("")
    out += _paragraph("Our staff are here to help everyone who calls us, and they must be able to do their work "
                      "without abuse. We ask you to keep any future calls polite and to the point.")
    out += _paragraph("What happens next: if calls like these continue, we may limit how you can contact us (for "
                      "example to certain days and hours, to a set number of calls, to one team, or to voicemail "
                      "only), or block calls from your number to our lines.")
    out += _paragraph("If you think this letter is wrong, or you want us to review a warning, a restriction or a "
                      "block, " + (f"contact us: {appeal}." if appeal else "reply to us in writing.")
                      + " Please quote the reference above. A person, not an automatic system, will look at "
                      "your request.")
    out += ["Yours faithfully,", signature, ""]
    return "\n".join(out).encode()


# ---- the files, alone and in the pack --------------------------------------------------------------------
def export_files(pack: dict[str, Any]) -> dict[str, bytes]:
    """The exports of a pack (file name -> bytes), for its SHA256SUMS; none when no call is worth exporting."""
    if not reported_calls(pack):
        return {}
    traceback = traceback_csv(pack)
    return {FTC_FILE: ftc_csv(pack), TRACEBACK_FILE: traceback,
            TRACEBACK_COVER_FILE: traceback_cover(pack, traceback), LETTER_FILE: warning_letter(pack)}


def nothing_to_export(pack: dict[str, Any]) -> str:
    """Why a number has no exports, and what to do."""
    calls = pack.get("calls", [])
    if not calls:
        return (f"no calls of {pack['number']} are stored (screened calls leave after the retention period): "
                "there is nothing to export; check the number")
    return (f"none of the {len(calls)} stored call(s) of {pack['number']} was flagged, stopped at the door or "
            "given an abuse category: there is nothing to complain about, trace or warn about yet")


def export_file(pack: dict[str, Any], kind: str) -> tuple[str, bytes]:
    """One export alone: (its file name in the pack, its bytes). ValueError for an unknown kind, LookupError when
    the number has no call worth exporting."""
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind[:20]!r}: use one of {', '.join(KINDS)}")
    name = KINDS[kind][0]
    files = export_files(pack)
    if not files:
        raise LookupError(nothing_to_export(pack))
    return name, files[name]


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def repr_digest(data: bytes) -> str:
    """The RFC 9530 Repr-Digest field value of a whole download: sha-256=:<base64 of the digest>:."""
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def manifest_line(name: str, data: bytes) -> str:
    """One SHA256SUMS line (`sha256sum -c` reads it)."""
    return f"{sha256_hex(data)}  {name}\n"


def download_name(pack: dict[str, Any], kind: str) -> str:
    """The file name of an export downloaded alone: ftc_complaint-14155550123-2025-03-03.csv."""
    stem, _, ext = KINDS[kind][0].rpartition(".")
    return f"{stem}-{pack['number'].lstrip('+')}-{pack['generated_at'][:10]}.{ext}"
