"""The reports over HTTP as a manager uses them: JSON, CSV, the printable report, evidence zips, auth."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from typing import Any

import pytest
import redis

from ivr.accounts import Users
from tests.support.constants import API_TOKEN
from tests.support.events import DAY, LINES, T0, Events
from workers import reports

RANGE = "from=2025-03-01&to=2025-03-31"
CALLER = "+14155550123"
ROUTES_GET = ["/api/reports", "/api/reports/summary", "/api/reports/frequency", "/api/reports/sources.csv",
              "/reports/print", f"/api/reports/evidence/{CALLER}"]
ROUTES_POST = ["/api/reports/fold", "/api/reports/rebuild", "/api/reports/erase"]


@pytest.fixture
def world(app: Any, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Events:
    """A few calls and flags in March 2025, folded."""
    monkeypatch.setenv("IVR_TIMEZONE", "UTC")
    ev = Events(redis_conn)
    ev.call(T0, CALLER, sid="CA1", FromState="<script>alert(1)</script>", FromCountry="US")
    ev.flag(T0 + 20_000, CALLER, "CA1", agent="=HYPERLINK(\"http://x\")", FromState="<script>alert(1)</script>")
    ev.add("isolation", T0 + 30_000, call_sid="CA1", number=CALLER, line=LINES[0], outcome="complete", seconds="31")
    ev.add("status", T0 + 60_000, call_sid="CA1", number="", line="", status="completed", duration="58")
    ev.call(T0 + DAY, CALLER, sid="CA2", decision="treat", rule="number", treatment="reject")
    ev.call(T0 + DAY + 1000, "+14155550999", line=LINES[1], sid="CA3")
    ev.flag(T0 + DAY + 2000, "+14155550999", "CA3", line=LINES[1], agent="client:alice")
    ev.call(T0 + 2 * DAY, "anonymous", sid="CA4")
    ev.flag(T0 + 2 * DAY + 5000, "anonymous", "CA4", agent="client:bob")
    reports.fold(redis_conn)
    return ev


def test_every_route_needs_a_manager(client: Any, world: Events, redis_conn: redis.Redis) -> None:
    for path in ROUTES_GET:
        assert client.get(path).status_code == 401, path
        assert client.get(f"{path}{'&' if '?' in path else '?'}token={API_TOKEN}").status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401, path
    for path in ROUTES_POST:
        assert client.post(path, json={}).status_code == 401, path
    users = Users(redis_conn)
    users.create("agent1", "correct horse battery", "agent", by="test")
    users.create("boss", "correct horse battery", "manager", by="test")
    _id, agent_token = users.create_token("agent1", "script", by="test", by_role="admin")
    _id, manager_token = users.create_token("boss", "script", by="test", by_role="admin")
    as_agent = {"Authorization": f"Bearer {agent_token}"}
    as_manager = {"Authorization": f"Bearer {manager_token}"}
    assert client.get(f"/api/reports/frequency?{RANGE}", headers=as_agent).status_code == 403
    assert client.get(f"/api/reports/frequency?{RANGE}", headers=as_manager).status_code == 200
    refused = client.post("/api/reports/erase", headers=as_manager, json={"number": CALLER, "reason": "x"})
    assert refused.status_code == 403 and "admin" in refused.get_json()["detail"]
    assert redis_conn.xlen("ivr:events") == len(world.written)


def test_json_reports_with_filters(api: Any, world: Events) -> None:
    body = api.get(f"/api/reports/frequency?{RANGE}").get_json()
    assert body["meta"]["from"] == "2025-03-01" and body["meta"]["line"] == "all lines"
    totals = body["frequency"]["totals"]
    assert (totals["calls"], totals["flags"], totals["treated"], totals["withheld"]) == (4, 3, 1, 1)
    assert body["frequency"]["heatmap"]["flags"][0][0] == 1  # Monday 00:00 UTC
    one_line = api.get(f"/api/reports/frequency?{RANGE}&line={LINES[1]}").get_json()
    assert one_line["frequency"]["totals"]["flags"] == 1 and one_line["meta"]["line"] == LINES[1]
    sources = api.get(f"/api/reports/sources?{RANGE}").get_json()["sources"]
    assert sources["top_numbers"][0] == {"number": CALLER, "flags": 1, "treated": 1, "total": 2}
    masked = api.get(f"/api/reports/sources?{RANGE}&mask=1").get_json()["sources"]
    assert masked["top_numbers"][0]["number"] == "+1415555****"
    withheld = api.get(f"/api/reports/withheld?{RANGE}").get_json()["withheld"]
    assert [(c["line"], c["call_sid"], c["agent"]) for c in withheld["calls"]] == [(LINES[0], "CA4", "client:bob")]
    summary = api.get(f"/api/reports/summary?{RANGE}").get_json()
    assert set(summary) == {"meta", *reports.REPORTS}
    assert api.get("/api/reports").get_json()["reports"] == list(reports.REPORTS)


@pytest.mark.parametrize("query, message", [
    ("from=yesterday", "YYYY-MM-DD"), ("from=2025-03-05&to=2025-03-01", "after"), ("line=not-a-line", "characters"),
    ("line=anonymous", "line must be"),
])
def test_bad_parameters_are_400_with_a_reason(api: Any, world: Events, query: str, message: str) -> None:
    response = api.get(f"/api/reports/frequency?{query}")
    assert response.status_code == 400 and message in response.get_json()["detail"]


def test_unknown_reports_and_tables(api: Any, world: Events) -> None:
    assert "one of frequency" in api.get("/api/reports/nope").get_json()["detail"]
    assert api.get("/api/reports/nope.csv").status_code == 400
    response = api.get(f"/api/reports/sources.csv?{RANGE}&table=nope")
    assert response.status_code == 400 and "numbers" in response.get_json()["detail"]


def test_csv_download(api: Any, world: Events) -> None:
    response = api.get(f"/api/reports/sources.csv?{RANGE}&table=numbers")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="sources-numbers-2025-03-01-2025-03-31.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows == [{"number": CALLER, "flags": "1", "treated": "1", "total": "2"},
                    {"number": "+14155550999", "flags": "1", "treated": "0", "total": "1"}]
    agents = api.get(f"/api/reports/agents.csv?{RANGE}").get_data(as_text=True)
    assert "'=HYPERLINK" in agents and "\n=HYPERLINK" not in agents  # no formula reaches a spreadsheet
    daily = list(csv.DictReader(io.StringIO(api.get(f"/api/reports/frequency.csv?{RANGE}").get_data(as_text=True))))
    assert len(daily) == 31 and daily[2] == {"day": "2025-03-03", "calls": "1", "treated": "0", "flags": "1",
                                             "withheld": "0", "isolations": "1", "blocked_attempts": "0"}


def test_printable_report(api: Any, world: Events) -> None:
    response = api.get(f"/reports/print?{RANGE}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert html.count("<svg") >= 6 and "@media print" in html
    assert "Flagged harassment calls by hour and weekday" in html and "Daily trend" in html
    assert "<script>" not in html and "&lt;script&gt;" in html  # caller-supplied text is escaped
    assert CALLER in html and "client:bob" in html


def test_evidence_zip(api: Any, world: Events) -> None:
    response = api.get(f"/api/reports/evidence/{CALLER}")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = sorted(archive.namelist())
    folder = names[0].split("/")[0]
    assert names == [f"{folder}/{n}" for n in ("SHA256SUMS", "audit.csv", "calls.csv", "calls.json",
                                                "ftc_complaint.csv", "history.csv", "traceback_request.csv",
                                                "traceback_request.txt", "warning_letter.txt")]
    for line in archive.read(f"{folder}/SHA256SUMS").decode().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256(archive.read(f"{folder}/{name}")).hexdigest() == digest
    rows = list(csv.DictReader(io.StringIO(archive.read(f"{folder}/calls.csv").decode())))
    assert [(r["call_sid"], r["duration"], r["treatment"], r["line"]) for r in rows] == [
        ("CA1", "58", "isolation", LINES[0]), ("CA2", "", "reject", LINES[0])]
    assert rows[0]["agent"] == "'=HYPERLINK(\"http://x\")" and rows[0]["note"] == "swore at agent"
    pack = json.loads(archive.read(f"{folder}/calls.json"))
    assert pack["number"] == CALLER and len(pack["events"]) == 5
    for bad in ("anonymous", "12ab"):
        assert api.get(f"/api/reports/evidence/{bad}").status_code == 400


def test_fold_rebuild_and_erase_routes(api: Any, world: Events, redis_conn: redis.Redis, run_jobs: Any) -> None:
    world.flag(T0 + 3 * DAY, CALLER, "CA9")
    response = api.post("/api/reports/fold")
    assert response.status_code == 202 and response.get_json()["job_id"] == "ivr-reports-fold"
    run_jobs()
    assert api.get(f"/api/reports/offenders?{RANGE}").get_json()["offenders"]["repeat"] == [
        {"number": CALLER, "flags": 2}]
    assert api.post("/api/reports/rebuild").status_code == 202
    run_jobs()
    assert api.post("/api/reports/erase", json={"number": CALLER}).status_code == 400  # no reason
    erased = api.post("/api/reports/erase", json={"number": CALLER, "reason": "request 12"})
    assert erased.status_code == 200 and erased.get_json()["events_deleted"] == 6
    sources = api.get(f"/api/reports/sources?{RANGE}").get_json()["sources"]
    assert [row["number"] for row in sources["top_numbers"]] == ["+14155550999"]  # at once, before the rebuild
    run_jobs()  # the rebuild corrects the anonymous counts of the retained window
    totals = api.get(f"/api/reports/frequency?{RANGE}").get_json()["frequency"]["totals"]
    assert (totals["calls"], totals["flags"], totals["treated"]) == (2, 2, 0)
    assert redis_conn.hget("ivr:agg:state", "rebuild_needed") == "0"
    audit = [e for _i, e in redis_conn.xrange("ivr:audit") if e["action"] == "erase"]
    assert audit[0]["by"] == "api" and audit[0]["reason"] == "request 12"


def test_masking_setting_cannot_be_lifted_by_a_query(app: Any, api: Any, world: Events,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_REPORT_MASK_NUMBERS", "1")
    body = api.get(f"/api/reports/offenders?{RANGE}&mask=0").get_json()
    assert body["meta"]["masked"] is True
    top = api.get(f"/api/reports/sources?{RANGE}").get_json()["sources"]["top_numbers"]
    assert all(row["number"].endswith("****") for row in top)
