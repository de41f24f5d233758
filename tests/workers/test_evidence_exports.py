"""The evidence pack's regulator and carrier exports, made from calls placed the way Twilio places them.

A harasser calls three times: the first call carries a verified-B caller ID and Twilio's caller name, and the
manager warns it from the API with a category (a warning on record); the second carries a failed attestation
and the agent flags it with `*` 9 (the line's category: threats), which blocks the number; the third is stopped
at the door. The FTC CSV, the traceback request and the warning letter must list exactly those three calls,
with times in the centre's zone (the traceback in UTC), and every export must be in SHA256SUMS with the digest
of the same bytes one gets alone.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from blocklist import keys
from tests.support import callflow as cf
from tests.support.constants import AGENT, CUSTOMER, HARASSER, LINE
from tests.support.events import T0, Events
from workers.reports import exports
from workers.reports.evidence import evidence, evidence_files
from workers.reports.settings import ReportSettings

ZONE = "America/New_York"
EXPORT_FILES = {"ftc_complaint.csv", "traceback_request.csv", "traceback_request.txt", "warning_letter.txt"}


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_TIMEZONE": ZONE, "IVR_FLAG_CATEGORY": "threats",
            "IVR_ORGANISATION_NAME": "Harbour Helpline", "IVR_APPEAL_CONTACT": "appeals@harbour.example"}


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def call_ts(r: redis.Redis, sid: str) -> int:
    (event,) = [e for e in cf.events(r, "call") if e["call_sid"] == sid]
    return int(event["ts"])


@pytest.fixture
def harassed(app: Any, twilio: Any, api: Any, redis_conn: redis.Redis) -> dict[str, Any]:
    """Three calls of the harasser (warned with a category, flagged, stopped at the door) and one customer call."""
    first = cf.place_call(twilio, HARASSER, StirVerstat="TN-Validation-Passed-B", CallerName="J SMITH")
    agent = cf.agent_connects(twilio, AGENT)
    cf.bridge(twilio, agent, first)
    warned = api.post(f"/api/calls/{first.sid}/warn", {"category": "sexual", "note": "remarks about my voice"})
    assert warned.status_code == 202, warned.get_data(as_text=True)
    twilio.post("/voice/status", {"CallSid": first.sid, "CallStatus": "completed", "CallDuration": "95",
                                  "AccountSid": twilio.account_sid})

    second = cf.place_call(twilio, HARASSER, StirVerstat="TN-Validation-Failed-A")
    agent = cf.agent_connects(twilio, AGENT)
    cf.bridge(twilio, agent, second)
    after = cf.bridge_ends(twilio, agent, second)
    cf.held_poll(twilio, second)
    cf.press(twilio, agent, after, "9")
    assert redis_conn.exists(keys.block(keys.GLOBAL, HARASSER))

    third = cf.place_call(twilio, HARASSER)  # blocked now: refused at the door
    assert third.reply.verbs() == ["Reject"]

    customer = cf.place_call(twilio, CUSTOMER)  # an ordinary call: nothing to export
    return {"sids": [first.sid, second.sid, third.sid], "customer": customer.sid}


def test_the_three_exports_list_the_flagged_warned_and_treated_calls(harassed: dict[str, Any],
                                                                     redis_conn: redis.Redis) -> None:
    pack = evidence(redis_conn, HARASSER)
    zone = ZoneInfo(ZONE)
    sids = harassed["sids"]
    times = [call_ts(redis_conn, sid) for sid in sids]

    ftc = rows_of(exports.ftc_csv(pack))
    day_col, time_col = f"date_of_call ({ZONE})", f"time_of_call ({ZONE})"
    assert list(ftc[0])[:2] == [day_col, time_col]  # the zone is in the header
    assert [row["call_sid"] for row in ftc] == sids
    for row, ts in zip(ftc, times, strict=True):
        local = datetime.fromtimestamp(ts / 1000, zone)
        assert (row[day_col], row[time_col]) == (local.strftime("%Y-%m-%d"), local.strftime("%H:%M"))
        assert (row["phone_number_that_called"], row["phone_number_called"]) == (HARASSER, LINE)
    warned, flagged, treated = ftc
    assert warned["caller_name"] == "J SMITH" and flagged["caller_name"] == ""
    assert (warned["subject"], flagged["subject"]) == ("sexual harassment", "threats")
    assert treated["subject"] == "unwanted call (the number is blocked)"
    assert [row["recorded_message_or_live_person"] for row in ftc] == [
        "live person", "live person", "not answered (stopped by call screening)"]
    assert "warned to keep the call respectful" in warned["notes"] and "lasted 95 s" in warned["notes"]
    assert "agent's note: remarks about my voice" in warned["notes"]
    assert "flagged by our agent" in flagged["notes"] and AGENT not in flagged["notes"]  # never the agent
    assert treated["notes"] == "stopped at the door: the number is blocked (refused as busy)"

    traceback = rows_of(exports.traceback_csv(pack))
    assert list(traceback[0]) == list(exports.TRACEBACK_COLUMNS)
    assert [row["call_sid"] for row in traceback] == sids
    for row, ts in zip(traceback, times, strict=True):
        assert row["date_time_utc"].endswith("Z")
        assert datetime.strptime(row["date_time_utc"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) == \
            datetime.fromtimestamp(ts // 1000, UTC)
        assert (row["originating_telephone_number"], row["called_telephone_number"]) == (HARASSER, LINE)
    assert [(row["attestation"], row["stir_verstat"]) for row in traceback] == [
        ("B", "TN-Validation-Passed-B"), ("failed", "TN-Validation-Failed-A"), ("unsigned", "")]
    assert traceback[0]["duration_seconds"] == "95"

    text = exports.warning_letter(pack).decode()
    assert text.startswith("Harbour Helpline\n") and max(len(line) for line in text.splitlines()) <= 100
    letter = " ".join(text.split())  # its phrases, whatever the line breaks
    assert f"telephone number {HARASSER}" in letter
    for ts in times:
        local = datetime.fromtimestamp(ts / 1000, zone)
        assert f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}" in letter
    assert "sexual harassment (recorded by our staff)" in letter and "threats (recorded by our staff)" in letter
    assert "not put through to our staff: calls from your number are blocked" in letter
    assert "asked you once to keep your calls respectful" in letter  # the warning on record
    assert "calls from your number to our lines were blocked until" in letter  # the ladder's block
    assert "contact us: appeals@harbour.example." in letter
    assert f"Reference: {HARASSER.lstrip('+')}-" in letter
    assert "J SMITH" not in letter and "remarks about my voice" not in letter  # the caller reads it: no notes


def test_the_pack_lists_every_export_in_its_manifest_with_the_bytes_one_gets_alone(
        harassed: dict[str, Any], redis_conn: redis.Redis) -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    files = evidence_files(evidence(redis_conn, HARASSER, now_ms=now))
    assert set(files) >= EXPORT_FILES
    sums = dict(reversed(line.split("  ")) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    # The cover text names the CSV it goes with by its digest; it says the times are UTC and nothing was sent.
    cover = files["traceback_request.txt"].decode()
    assert sums["traceback_request.csv"] in cover and "UTC" in cover and "Nothing has been sent" in cover
    assert "Prepared by Harbour Helpline" in cover
    # Each export alone is the same bytes as in the pack (same pack, same day).
    for kind in exports.KINDS:
        name, data = exports.export_file(evidence(redis_conn, HARASSER, now_ms=now), kind)
        assert sums[name] == hashlib.sha256(data).hexdigest(), kind


def test_no_calls_or_a_garbage_number_is_a_clear_error(harassed: dict[str, Any], redis_conn: redis.Redis) -> None:
    customer = evidence(redis_conn, CUSTOMER)
    assert len(customer["calls"]) == 1 and exports.export_files(customer) == {}
    assert set(evidence_files(customer)) == {"calls.csv", "history.csv", "audit.csv", "calls.json", "SHA256SUMS"}
    with pytest.raises(LookupError, match="none of the 1 stored call"):
        exports.export_file(customer, "letter")
    with pytest.raises(LookupError, match="no calls of \\+14155550100 are stored"):
        exports.export_file(evidence(redis_conn, "+14155550100"), "ftc")
    with pytest.raises(ValueError, match="use one of ftc, traceback, letter"):
        exports.export_file(evidence(redis_conn, HARASSER), "fax")
    with pytest.raises(ValueError):
        evidence(redis_conn, "12ab")


def test_old_flags_without_a_category_and_a_damaged_warning_count_still_export(redis_conn: redis.Redis) -> None:
    """Records older than the taxonomy: a legacy reason still names its category, anything else is "other"; a
    warning count that is not a number is read as none rather than stopping the pack."""
    ev = Events(redis_conn)
    ev.call(T0, HARASSER, sid="CA1")
    ev.add("flag", T0 + 1000, call_sid="CA1", number=HARASSER, line=LINE, via="key", agent=AGENT, reason="threat")
    ev.call(T0 + 60_000, HARASSER, sid="CA2")
    ev.add("flag", T0 + 61_000, call_sid="CA2", number=HARASSER, line=LINE, via="desk", agent=AGENT,
           reason="swore a lot")
    redis_conn.hset(keys.WARNINGS, HARASSER, "many")
    pack = evidence(redis_conn, HARASSER, settings=ReportSettings(timezone="UTC"))
    assert pack["warnings"] == 0
    assert [row["subject"] for row in rows_of(exports.ftc_csv(pack))] == ["threats", "other"]
    letter = exports.warning_letter(pack).decode()
    assert "respectful" not in letter.split("Our staff are here")[0]  # no warnings claimed
    assert letter.startswith("Our call centre\n") and "reply to us in writing" in " ".join(letter.split())
