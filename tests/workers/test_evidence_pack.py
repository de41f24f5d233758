"""The evidence pack holds the number's block history and the audit trail about it, besides its calls.

A manager blocks a harasser from the desk for an hour while an agent talks to it; the agent then flags the
call (`*` 9), so the sanction ladder blocks the number for a day. The pack downloaded from the desk must
show both blocks, each with its end (ISO 8601 with the report zone's offset), who made it and why, the
flag, and the desk's audit record; every file must be in the SHA256SUMS manifest with its right digest."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import datetime
from typing import Any

import pytest
import redis

from blocklist import keys
from blocklist.reputation import Reputation
from blocklist.rules import Blocklist, Policy
from blocklist.signals import Signals
from tests.support import callflow as cf
from tests.support.constants import AGENT, HARASSER
from tests.support.desk import logged_in, post_form
from tests.support.twilio_player import call_sid
from workers.reports.evidence import evidence

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
# The FTC complaint, traceback request and warning letter come with a flagged call (workers/reports/exports.py).
PACK_FILES = ["SHA256SUMS", "audit.csv", "calls.csv", "calls.json", "ftc_complaint.csv", "history.csv",
              "traceback_request.csv", "traceback_request.txt", "warning_letter.txt"]


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    # A zone with an offset, so a time written without one (or in UTC) shows up.
    return {**app_env, "IVR_TIMEZONE": "America/New_York"}


@pytest.fixture
def manager(app: Any) -> Any:
    return logged_in(app)


def ms_of(iso: str) -> int:
    assert ISO_WITH_OFFSET.match(iso), f"{iso!r} is not ISO 8601 with an offset"
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_the_pack_holds_a_desk_block_and_a_flag_made_block_with_their_ends(
        twilio: Any, manager: Any, redis_conn: redis.Redis) -> None:
    caller = cf.place_call(twilio, HARASSER)
    agent = cf.agent_connects(twilio, AGENT)
    cf.bridge(twilio, agent, caller)
    # The manager blocks the number from the desk for an hour, during the call.
    added = post_form(manager, "/desk/blocklist/add", {"number": HARASSER, "line": "", "treatment": "",
                                                      "duration": "1h", "duration_custom": "",
                                                      "reason": "threats, called 12 times today"})
    assert added.status_code == 302, added.get_data(as_text=True)
    desk_until = int(redis_conn.hget(keys.block(keys.GLOBAL, HARASSER), "until"))
    # The agent flags the call: the sanction ladder's first step (24h) outlasts the desk's hour.
    after = cf.bridge_ends(twilio, agent, caller)
    cf.held_poll(twilio, caller)
    cf.press(twilio, agent, after, "9")
    ladder_until = int(redis_conn.hget(keys.block(keys.GLOBAL, HARASSER), "until"))
    assert ladder_until > desk_until

    resp = manager.get(f"/desk/numbers/{HARASSER}/evidence.zip")
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(resp.get_data()))
    folder = archive.namelist()[0].split("/")[0]
    files = {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}
    assert sorted(files) == PACK_FILES

    # The manifest names every other file once, with its digest.
    sums = dict(reversed(line.split("  ")) for line in files["SHA256SUMS"].decode().splitlines())
    assert sorted(sums) == sorted(name for name in PACK_FILES if name != "SHA256SUMS")
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    assert folder.startswith("evidence-" + HARASSER.lstrip("+"))

    history = rows_of(files["history.csv"])
    assert [row["action"] for row in history] == ["block", "flag", "block"]
    desk_block, flag, ladder_block = history
    assert (desk_block["by"], desk_block["role"], desk_block["line"]) == ("max", "manager", "all lines")
    assert desk_block["what"] == "blocked" and desk_block["reason"] == "threats, called 12 times today"
    assert ms_of(desk_block["until"]) == desk_until // 1000 * 1000
    assert desk_block["until"].endswith(("-05:00", "-04:00"))  # the report zone's offset, not UTC
    assert (flag["by"], flag["via"], flag["call_sid"]) == (AGENT, "key", caller.sid)
    assert ladder_block["what"] == "blocked by a flag (sanction ladder step 1)"
    assert (ladder_block["by"], ladder_block["step"], ladder_block["call_sid"]) == (AGENT, "1", caller.sid)
    assert ms_of(ladder_block["until"]) == ladder_until // 1000 * 1000
    for row in history:
        assert ms_of(row["time"]) > 0

    audit = rows_of(files["audit.csv"])
    (desk_record,) = [row for row in audit if row["action"] == "block"]
    assert (desk_record["by"], desk_record["role"], desk_record["line"]) == ("max", "manager", "all lines")
    assert desk_record["reason"] == "threats, called 12 times today"
    assert ms_of(desk_record["until"]) == desk_until // 1000 * 1000 and ms_of(desk_record["time"]) > 0

    calls = rows_of(files["calls.csv"])
    assert [(row["call_sid"], row["flag_via"], row["agent"]) for row in calls] == [(caller.sid, "key", AGENT)]

    pack = json.loads(files["calls.json"])
    assert pack["number"] == HARASSER
    assert [row["what"] for row in pack["history"]] == [row["what"] for row in history]
    assert [row["action"] for row in pack["audit"]] == [row["action"] for row in audit]
    assert [row["call_sid"] for row in pack["calls"]] == [caller.sid]


def test_an_unblock_and_an_expiry_are_in_the_history_too(app: Any, manager: Any, redis_conn: redis.Redis) -> None:
    """A block that ran out (Redis expired it) and a manager's unblock are readable rows, not gaps."""
    bl = app.extensions["ivr"].blocklist
    start = 1_700_000_000_000  # 2023-11-14: long over
    bl.block(HARASSER, by="max", reason="first episode", duration=3600, at=start)
    bl.block(HARASSER, by="max", reason="second episode", role="manager")
    bl.unblock(HARASSER, by="max", reason="appeal upheld")
    resp = manager.get(f"/desk/numbers/{HARASSER}/evidence.zip")
    archive = zipfile.ZipFile(io.BytesIO(resp.get_data()))
    history = rows_of(next(archive.read(n) for n in archive.namelist() if n.endswith("/history.csv")))
    assert [row["action"] for row in history] == ["block", "expire", "block", "unblock"]
    assert ms_of(history[1]["time"]) == (start + 3_600_000) // 1000 * 1000  # when the first block ran out
    assert history[2]["until"] == "permanent" and history[3]["reason"] == "appeal upheld"
    audit = rows_of(next(archive.read(n) for n in archive.namelist() if n.endswith("/audit.csv")))
    assert [row["action"] for row in audit] == ["block", "block", "unblock"]


def test_the_pack_says_which_signal_decided_each_call(redis_conn: redis.Redis) -> None:
    """The carrier or the police see the attestation, the add-on score and the rule's own words."""
    sid = call_sid()
    Blocklist(redis_conn, Policy()).screen(HARASSER, "+18005551212", sid, signals=Signals(
        "TN-Validation-Failed-B", Reputation(100, "Nomorobo Spam Score", "score 1")))
    (row,) = [c for c in evidence(redis_conn, HARASSER)["calls"] if c["call_sid"] == sid]
    assert (row["rule"], row["attestation"], row["reputation"], row["reputation_by"]) == (
        "reputation", "failed", "100", "Nomorobo Spam Score")
    assert row["rule_detail"] == "reputation 100 (Nomorobo Spam Score: score 1) >= 90"
