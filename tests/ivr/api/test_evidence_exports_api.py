"""The evidence pack's exports over the API, as a manager's script downloads them: each file alone, with its
SHA-256 in the Repr-Digest header (RFC 9530) equal to its line in the pack's SHA256SUMS; problem+json errors."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from typing import Any

import pytest
import redis

from ivr.accounts import Users
from tests.support.events import DAY, LINES, T0, Events

CALLER = "+14155550123"
QUIET = "+14155550188"  # called once, nothing happened
ROUTES = {"ftc.csv": ("ftc_complaint.csv", "text/csv"), "traceback.csv": ("traceback_request.csv", "text/csv"),
          "letter.txt": ("warning_letter.txt", "text/plain")}


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_TIMEZONE": "Europe/Helsinki", "IVR_ORGANISATION_NAME": "Lakeside Support"}


@pytest.fixture
def world(app: Any, redis_conn: redis.Redis) -> Events:
    """A flagged call with a verified-A caller ID and a caller name, a call stopped at the door, a quiet caller."""
    ev = Events(redis_conn)
    ev.call(T0, CALLER, sid="CA1", StirVerstat="TN-Validation-Passed-A", CallerName="ACME LTD", attest="A")
    ev.add("flag", T0 + 20_000, call_sid="CA1", number=CALLER, line=LINES[0], via="desk", agent="client:alice",
           reason="", note="", category="robocall")
    ev.add("status", T0 + 60_000, call_sid="CA1", number="", line="", status="completed", duration="58")
    ev.call(T0 + DAY, CALLER, sid="CA2", decision="treat", rule="burst", treatment="isolation", attest="unsigned")
    ev.call(T0 + DAY, QUIET, sid="CA3")
    return ev


def digest_of(response: Any) -> str:
    """The hex SHA-256 a Repr-Digest header carries (sha-256=:<base64>:)."""
    value = response.headers["Repr-Digest"]
    assert value.startswith("sha-256=:") and value.endswith(":"), value
    return base64.b64decode(value[len("sha-256=:"):-1]).hex()


def test_each_export_alone_carries_the_digest_the_pack_lists(api: Any, world: Events,
                                                             redis_conn: redis.Redis) -> None:
    archive = zipfile.ZipFile(io.BytesIO(api.get(f"/api/reports/evidence/{CALLER}").get_data()))
    folder = archive.namelist()[0].split("/")[0]
    sums = dict(reversed(line.split("  ")) for line in archive.read(f"{folder}/SHA256SUMS").decode().splitlines())
    for route, (name, media) in ROUTES.items():
        response = api.get(f"/api/reports/evidence/{CALLER}/{route}")
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == media
        body = response.get_data()
        assert digest_of(response) == hashlib.sha256(body).hexdigest() == sums[name], route
        assert body == archive.read(f"{folder}/{name}")
        disposition = response.headers["Content-Disposition"]
        assert f'{name.rsplit(".", 1)[0]}-{CALLER.lstrip("+")}-' in disposition
    ftc = list(csv.DictReader(io.StringIO(api.get(f"/api/reports/evidence/{CALLER}/ftc.csv").get_data(as_text=True))))
    assert [(r["call_sid"], r["caller_name"], r["subject"], r["recorded_message_or_live_person"]) for r in ftc] == [
        ("CA1", "ACME LTD", "robocall", "recorded message"),
        ("CA2", "", "unwanted call (many calls in a short time)", "not answered (stopped by call screening)")]
    assert "date_of_call (Europe/Helsinki)" in ftc[0]
    assert ftc[0]["time_of_call (Europe/Helsinki)"] == "02:00"  # T0 is midnight UTC: 02:00 in Helsinki
    traceback = list(csv.DictReader(io.StringIO(
        api.get(f"/api/reports/evidence/{CALLER}/traceback.csv").get_data(as_text=True))))
    assert [(r["date_time_utc"], r["attestation"], r["duration_seconds"]) for r in traceback] == [
        ("2025-03-03T00:00:00Z", "A", "58"), ("2025-03-04T00:00:00Z", "unsigned", "")]
    letter = api.get(f"/api/reports/evidence/{CALLER}/letter.txt").get_data(as_text=True)
    assert letter.startswith("Lakeside Support\n") and "Monday 3 March 2025 at 02:00: robocall" in letter
    # Every download is audited: who took which file of which number.
    audit = [e for _i, e in redis_conn.xrange("ivr:audit") if e["action"] == "evidence_file"]
    assert [(e["by"], e["number"], e["subject"]) for e in audit][:3] == [
        ("api", CALLER, "ftc_complaint.csv"), ("api", CALLER, "traceback_request.csv"),
        ("api", CALLER, "warning_letter.txt")]


def test_bad_numbers_and_numbers_with_nothing_to_export_are_problems(api: Any, client: Any, world: Events,
                                                                     redis_conn: redis.Redis) -> None:
    for route in ROUTES:
        bad = api.get(f"/api/reports/evidence/12ab/{route}")
        assert bad.status_code == 400 and bad.mimetype == "application/problem+json"
        assert "+14155550123" in bad.get_json()["detail"]  # says how to write a number
        assert api.get(f"/api/reports/evidence/anonymous/{route}").status_code == 400
        quiet = api.get(f"/api/reports/evidence/{QUIET}/{route}")
        assert quiet.status_code == 404 and quiet.get_json()["error"] == "not_found"
        assert "none of the 1 stored call(s)" in quiet.get_json()["detail"]
        unknown = api.get(f"/api/reports/evidence/%2B14155550100/{route}")
        assert unknown.status_code == 404 and "no calls of +14155550100" in unknown.get_json()["detail"]
        assert client.get(f"/api/reports/evidence/{CALLER}/{route}").status_code == 401
    assert not [e for _i, e in redis_conn.xrange("ivr:audit") if e["action"] == "evidence_file"]  # nothing given


def test_an_agent_token_is_refused(client: Any, world: Events, redis_conn: redis.Redis) -> None:
    users = Users(redis_conn)
    users.create("agent1", "correct horse battery", "agent", by="test")
    _id, token = users.create_token("agent1", "script", by="agent1", by_role="agent")
    for route in ROUTES:
        refused = client.get(f"/api/reports/evidence/{CALLER}/{route}", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 403 and refused.get_json()["error"] == "forbidden"


def test_the_index_names_the_exports(api: Any) -> None:
    assert api.get("/api/reports").get_json()["exports"] == [
        f"/api/reports/evidence/<number>/{route}" for route in ROUTES]
