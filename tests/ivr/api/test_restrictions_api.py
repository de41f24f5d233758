"""The contact restrictions' JSON API: a manager makes, reads and removes restrictions; bad input is a problem+json
400 that changes nothing; agents are refused; the screen (GET /api/check) applies what the API made."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from tests.support.constants import HARASSER, LINE
from tests.support.desk import make_user, users_of
from tests.support.store import snapshot


def later(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


def body(**kw: Any) -> dict[str, Any]:
    return {"number": HARASSER, "kind": "voicemail", "review": later(), "reason": "threats to staff", **kw}


def test_a_manager_makes_reads_and_removes_a_restriction(api: Any) -> None:
    made = api.post("/api/restrictions", json=body(kind="hours", hours="Mon-Fri 09:00-12:00", line=LINE))
    assert made.status_code == 201, made.get_json()
    r = made.get_json()["restriction"]
    assert (r["kind"], r["hours"], r["scope"], r["words"]) == ("hours", "Mon-Fri 09:00-12:00", LINE,
                                                                "hours Mon-Fri 09:00-12:00")
    assert r["review"].startswith(later()) and r["until"] == "" and r["by"] == "api"
    listed = api.get("/api/restrictions").get_json()["restrictions"]
    assert [x["id"] for x in listed] == [r["id"]]
    shown = api.get(f"/api/restrictions/{HARASSER}").get_json()
    assert shown["number"] == HARASSER and shown["restrictions"][0]["id"] == r["id"]
    history = api.get(f"/api/blocklist/{HARASSER}/history").get_json()
    assert any(h.get("action") == "restrict" for h in history["history"])
    gone = api.delete(f"/api/restrictions/{HARASSER}", json={"reason": "apologised", "id": r["id"]})
    assert gone.status_code == 200 and gone.get_json()["removed"][0]["id"] == r["id"]
    again = api.delete(f"/api/restrictions/{HARASSER}", json={"reason": "apologised"})
    assert again.status_code == 404 and again.mimetype == "application/problem+json"
    assert "has no contact restriction" in again.get_json()["detail"]


def test_the_screen_applies_a_restriction_made_through_the_api(api: Any) -> None:
    assert api.post("/api/restrictions", json=body(kind="max_calls", max_calls=1, per="day")).status_code == 201
    check = api.get("/api/check", query_string={"number": HARASSER, "line": LINE}).get_json()
    assert check["decision"] == "allow"  # the first call of the day
    api.post("/api/restrictions", json=body(number="+14155550177", kind="route", route="supervisor"))
    routed = api.get("/api/check", query_string={"number": "+14155550177", "line": LINE}).get_json()
    assert (routed["rule"], routed["treatment"]) == ("restriction", "route:supervisor")


def test_bad_input_is_a_problem_and_changes_nothing(api: Any, redis_conn: redis.Redis) -> None:
    api.post("/api/restrictions", json=body(kind="hours", hours="Mon-Fri 09:00-12:00"))
    before = snapshot(redis_conn)
    for bad, words in (
        (body(review="2020-01-01"), "is not in the future"),
        (body(kind="hours", hours="Mon 09:00-12:00|Mon 10:00-11:00", number="+14155550177"), "overlap on Mon"),
        (body(kind="hours", hours="Sat 09:00-12:00"), "overlaps this one"),
        (body(kind="sometimes"), "kind 'sometimes' unknown"),
        (body(reason=""), "say why"),
        (body(number="anonymous"), "withheld"),
        (body(color="red"), "unknown field color"),
    ):
        resp = api.post("/api/restrictions", json=bad)
        assert resp.status_code == 400 and resp.mimetype == "application/problem+json", bad
        assert words in resp.get_json()["detail"], (bad, resp.get_json())
    assert api.delete(f"/api/restrictions/{HARASSER}", json={}).status_code == 400  # no reason
    assert api.delete(f"/api/restrictions/{HARASSER}", json={"reason": "x", "id": "nothere"}).status_code == 400
    assert api.delete(f"/api/restrictions/{HARASSER}", json={"reason": "x", "id": "abcdef"}).status_code == 404
    assert snapshot(redis_conn) == before


def test_an_agent_may_not_restrict(app: Any, client: Any, redis_conn: redis.Redis) -> None:
    make_user(app, "ann", "agent")
    token = users_of(app).create_token("ann", "script", by="ann", by_role="agent")[1]
    resp = client.post("/api/restrictions", json=body(), headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403 and not redis_conn.hlen("ivr:restrict:info")
    assert client.get("/api/restrictions").status_code == 401


def test_the_evidence_pack_history_has_the_restriction_in_plain_words(api: Any) -> None:
    api.post("/api/restrictions", json=body(kind="max_calls", max_calls=3, per="week"))
    api.delete(f"/api/restrictions/{HARASSER}", json={"reason": "apologised in writing"})
    resp = api.get(f"/api/reports/evidence/{HARASSER}")
    assert resp.status_code == 200
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        name = next(n for n in zf.namelist() if n.endswith("history.csv"))
        rows = list(csv.DictReader(io.StringIO(zf.read(name).decode())))
    assert [r["action"] for r in rows] == ["restrict", "unrestrict"]
    assert rows[0]["what"].startswith("contact restricted: at most 3 calls a week (review ")
    assert rows[0]["reason"] == "threats to staff"
    assert rows[1]["what"] == "contact restriction removed: at most 3 calls a week"


def test_a_manager_keeps_a_restriction_after_its_review(api: Any, redis_conn: redis.Redis) -> None:
    made = api.post("/api/restrictions", json=body()).get_json()["restriction"]
    path = f"/api/restrictions/{HARASSER}/{made['id']}/keep"
    before = snapshot(redis_conn)
    for bad, status, words in (({"review": "2020-01-01", "reason": "still calling"}, 400, "is not in the future"),
                               ({"review": later(60)}, 400, "in 'reason'"),
                               ({"review": later(60), "reason": ["a"]}, 400, "reason must be text")):
        resp = api.post(path, json=bad)
        assert resp.status_code == status and words in resp.get_json()["detail"], resp.get_json()
    unknown = api.post(f"/api/restrictions/{HARASSER}/abcdef/keep", json={"review": later(60), "reason": "r"})
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"
    assert snapshot(redis_conn) == before  # nothing changed
    kept = api.post(path, json={"review": later(60), "reason": "still calling at night"})
    assert kept.status_code == 200, kept.get_json()
    assert kept.get_json()["restriction"]["review"].startswith(later(60))
    history = api.get(f"/api/blocklist/{HARASSER}/history").get_json()["history"]
    assert any(h.get("action") == "restrict_kept" and h.get("reason") == "still calling at night" for h in history)
