"""The blocklist JSON API: bearer token, every route, 400 and 404 that change nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import redis

from blocklist import keys
from tests.support.constants import API_TOKEN, LINE
from tests.support.store import snapshot
from tests.support.twilio_player import call_sid

CALLER = "+14155550123"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def bl(app: Any) -> Any:
    return app.extensions["ivr"].blocklist


def patch(client: Any, path: str, body: Any) -> Any:
    return client.patch(path, headers=AUTH, json=body)


def put(client: Any, path: str, body: Any) -> Any:
    return client.put(path, headers=AUTH, json=body)


AUTH_ROUTES = [
    ("get", "/api/blocklist"), ("post", "/api/blocklist"), ("get", f"/api/blocklist/{CALLER}"),
    ("delete", f"/api/blocklist/{CALLER}"), ("patch", f"/api/blocklist/{CALLER}"),
    ("get", f"/api/blocklist/{CALLER}/history"), ("get", f"/api/check?number={CALLER}"),
    ("post", "/api/blocklist/import"), ("get", "/api/blocklist/export"), ("get", "/api/allowlist"),
    ("post", "/api/allowlist"), ("delete", f"/api/allowlist/{CALLER}"), ("post", "/api/allowlist/import"),
    ("get", "/api/allowlist/export"), ("get", "/api/prefixes"), ("post", "/api/prefixes"),
    ("delete", "/api/prefixes/+1415"), ("get", "/api/review"), ("delete", f"/api/review/{CALLER}"),
    ("post", "/api/dryrun"), ("get", f"/api/lines/{LINE}/settings"), ("put", f"/api/lines/{LINE}/settings"),
]


def test_every_route_wants_the_bearer_token(client: Any, app: Any, redis_conn: redis.Redis) -> None:
    bl(app).block(CALLER, by="m", reason="existing")
    before = snapshot(redis_conn)
    body = {"number": CALLER, "reason": "x", "prefix": "+1415", "withheld_policy": "reject"}
    for method, path in AUTH_ROUTES:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}):
            resp = getattr(client, method)(path, headers=headers, json=body)
            assert resp.status_code == 401, (method, path, headers)
            assert resp.get_json()["error"] == "unauthorized"
    assert snapshot(redis_conn) == before


def test_block_show_edit_history_unblock(api: Any, client: Any, app: Any) -> None:
    resp = api.post("/api/blocklist", {"number": "(415) 555-0123", "reason": "obscene calls", "treatment": "isolation",
                                       "duration": "7d", "by": "mia"})
    assert resp.status_code == 201, resp.get_json()
    block = resp.get_json()["block"]
    assert (block["number"], block["scope"], block["treatment"], block["by"]) == (CALLER, "*", "isolation", "mia")
    assert block["until"].endswith("Z") and not block["permanent"]

    shown = api.get(f"/api/blocklist/{CALLER}").get_json()
    assert [b["reason"] for b in shown["blocks"]] == ["obscene calls"] and shown["strikes"] == 0
    assert [b["number"] for b in api.get("/api/blocklist").get_json()["blocks"]] == [CALLER]

    resp = patch(client, f"/api/blocklist/{CALLER}", {"permanent": True, "why": "police report", "by": "mia"})
    assert resp.status_code == 200 and resp.get_json()["block"]["permanent"] is True
    resp = patch(client, f"/api/blocklist/{CALLER}", {"temporary": "24h", "reason": "threats", "by": "tom"})
    changed = resp.get_json()["block"]
    assert resp.status_code == 200 and changed["reason"] == "threats" and not changed["permanent"]

    resp = api.delete(f"/api/blocklist/{CALLER}", {"reason": "appeal granted", "by": "mia"})
    assert resp.status_code == 200 and resp.get_json()["unblocked"] is True
    history = api.get(f"/api/blocklist/{CALLER}/history").get_json()["history"]
    assert [(h["action"], h["by"]) for h in history] == [
        ("block", "mia"), ("permanent", "mia"), ("temporary", "tom"), ("edit", "tom"), ("unblock", "mia")]
    assert all(h["when"].endswith("Z") for h in history)


def test_check_explains_the_rule(api: Any, app: Any) -> None:
    bl(app).block(CALLER, by="m", reason="abuse", treatment="hangup", scope=LINE)
    for query in ("number=%2B14155550123&line=%2B18005551212", "number=+14155550123&line=+18005551212"):
        data = api.get(f"/api/check?{query}").get_json()
        assert (data["decision"], data["rule"], data["treatment"]) == ("treat", "number", "hangup")
        assert data["explain"] == f"hangup: number rule (line {LINE})"
    assert api.get("/api/check?number=4155550123&line=8005550000").get_json()["decision"] == "allow"


def test_check_with_a_call_s_signals(api: Any) -> None:
    data = api.get("/api/check?number=%2B14155550124&line=%2B18005551212&score=95").get_json()
    assert (data["decision"], data["rule"], data["treatment"]) == ("treat", "reputation", "reject")
    assert data["detail"] == "reputation 95 (score given) >= 90"
    data = api.get("/api/check?number=%2B14155550124&line=%2B18005551212&stir=TN-Validation-Failed").get_json()
    assert (data["decision"], data["rule"]) == ("allow", "attestation")
    resp = api.get("/api/check?number=%2B14155550124&line=%2B18005551212&score=lots")
    assert resp.status_code == 400 and "0 to 100" in resp.get_data(as_text=True)


BAD_INPUT = [
    ("post", "/api/blocklist", {"number": "hello", "reason": "x", "duration": "permanent"}, "phone number"),
    ("post", "/api/blocklist", {"number": CALLER}, "reason"),
    ("post", "/api/blocklist", {"number": CALLER, "reason": "x", "treatment": "shout", "duration": "1d"}, "treatment"),
    ("post", "/api/blocklist", {"number": CALLER, "reason": "x", "duration": "1d", "permanent": True}, "one of"),
    ("post", "/api/blocklist", {"number": CALLER, "reason": "x", "duration": "soon"}, "duration"),
    ("post", "/api/blocklist", {"number": CALLER, "reason": "x", "permanent": False}, "how long"),
    ("post", "/api/blocklist", {"number": CALLER, "reason": "x", "until": "2030-01-01 10:00"}, "time zone"),
    ("post", "/api/blocklist", {"number": CALLER, "reason": "x", "line": "anonymous", "permanent": True}, "line"),
    ("post", "/api/blocklist", {"number": "anonymous", "reason": "x", "permanent": True}, "withheld"),
    ("post", "/api/blocklist", {"number": ["+14155550123"], "reason": "x", "duration": "1d"}, "text"),
    ("post", "/api/blocklist", "just a string", "JSON object"),
    ("delete", f"/api/blocklist/{CALLER}", {}, "reason"),
    ("patch", f"/api/blocklist/{CALLER}", {}, "nothing to change"),
    ("patch", f"/api/blocklist/{CALLER}", {"permanent": True, "temporary": "1d", "why": "x"}, "either"),
    ("patch", f"/api/blocklist/{CALLER}", {"permanent": True}, "why"),
    ("get", "/api/blocklist/not-a-number", None, "phone number"),
    ("get", "/api/check?number=", None, "number"),
    ("get", "/api/check?number=%2B1", None, "not a phone number"),
    ("get", "/api/blocklist?count=many", None, "count"),
    ("post", "/api/allowlist", {"number": "12", "reason": "x"}, "digits"),
    ("post", "/api/prefixes", {"prefix": "1415", "reason": "x"}, "prefix"),
    ("post", "/api/dryrun", {"kind": "everything"}, "kind"),
    ("post", "/api/dryrun", {"kind": "prefix", "prefix": "+1415", "days": 0}, "days"),
    ("put", f"/api/lines/{LINE}/settings", {"withheld_policy": "reject", "burst_calls": "lots"}, "burst_calls"),
    ("put", f"/api/lines/{LINE}/settings", {"colour": "red"}, "unknown line setting"),
    ("get", "/api/lines/nowhere/settings", None, "phone number"),
]


def test_bad_input_is_400_and_changes_nothing(client: Any, app: Any, redis_conn: redis.Redis) -> None:
    bl(app).block(CALLER, by="m", reason="existing", duration=3600)
    before = snapshot(redis_conn)
    for method, path, body, words in BAD_INPUT:
        resp = getattr(client, method)(path, headers=AUTH, json=body)
        assert resp.status_code == 400, (method, path, body, resp.get_data(as_text=True))
        data = resp.get_json()
        assert data["error"] == "bad_request" and words in data["detail"], (method, path, body, data)
        assert snapshot(redis_conn) == before, (method, path, body)


NOT_FOUND = [
    ("get", "/api/blocklist/+14155550199", None),
    ("get", "/api/blocklist/+14155550199/history", None),
    ("delete", "/api/blocklist/+14155550199", {"reason": "appeal"}),
    ("delete", f"/api/blocklist/{CALLER}?line={LINE}", {"reason": "appeal"}),
    ("patch", "/api/blocklist/+14155550199", {"reason": "new"}),
    ("get", "/api/allowlist/+14155550199", None),
    ("delete", "/api/allowlist/+14155550199", {"reason": "x"}),
    ("get", "/api/prefixes/+1415", None),
    ("delete", "/api/prefixes/+1415", {"reason": "x"}),
    ("delete", "/api/review/+14155550199", None),
]


def test_unknown_is_404_and_changes_nothing(client: Any, app: Any, redis_conn: redis.Redis) -> None:
    bl(app).block(CALLER, by="m", reason="existing")
    before = snapshot(redis_conn)
    for method, path, body in NOT_FOUND:
        resp = getattr(client, method)(path, headers=AUTH, json=body)
        assert resp.status_code == 404, (method, path, resp.get_data(as_text=True))
        assert resp.get_json()["error"] == "not_found" and resp.get_json()["detail"]
        assert snapshot(redis_conn) == before, (method, path)


def test_import_export_round_trip_over_the_api(api: Any, client: Any, app: Any, redis_conn: redis.Redis) -> None:
    text = "number,scope,treatment,reason,until,permanent\n+14155550123,*,isolation,abuse,,yes\n" \
           f"+14155550124,{LINE},,threats,2099-01-01T00:00:00.000Z,no\n+1900*,*,reject,premium,,\n"
    resp = client.post("/api/blocklist/import?by=mia", headers={**AUTH, "Content-Type": "text/csv"}, data=text)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["added"] == 3
    exported = api.get("/api/blocklist/export")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert sorted(r["number"] for r in rows) == ["+14155550123", "+14155550124", "+1900*"]
    assert {r["by"] for r in rows} == {"mia"}

    before = snapshot(redis_conn)
    upload = {"file": (io.BytesIO(exported.get_data()), "blocklist.csv")}
    again = client.post("/api/blocklist/import", headers=AUTH, data=upload, content_type="multipart/form-data")
    assert again.status_code == 200 and again.get_json()["unchanged"] == 3
    assert snapshot(redis_conn) == before


def test_import_with_bad_rows_is_400_unless_partial(client: Any, app: Any, redis_conn: redis.Redis) -> None:
    text = "number,reason\n+14155550123,ok\nnonsense,bad\n+14155550124,ok\n+1 415,short\n"
    headers = {**AUTH, "Content-Type": "text/csv"}
    before = snapshot(redis_conn)
    resp = client.post("/api/blocklist/import", headers=headers, data=text)
    assert resp.status_code == 400
    data = resp.get_json()
    assert data["error"] == "bad_rows" and "nothing imported" in data["detail"]
    assert [e["line"] for e in data["errors"]] == [3, 5]
    assert snapshot(redis_conn) == before
    resp = client.post("/api/blocklist/import?partial=1", headers=headers, data=text)
    assert resp.status_code == 200 and resp.get_json()["added"] == 2 and len(resp.get_json()["errors"]) == 2
    empty = client.post("/api/blocklist/import", headers=headers, data="")
    assert empty.status_code == 400 and "empty" in empty.get_json()["detail"]


def test_allowlist_routes(api: Any, app: Any, redis_conn: redis.Redis) -> None:
    bl(app).block(CALLER, by="m", reason="abuse")
    resp = api.post("/api/allowlist", {"number": CALLER, "reason": "VIP", "line": LINE, "by": "mia"})
    assert resp.status_code == 201 and resp.get_json()["scope"] == LINE
    assert api.get("/api/check?number=%2B14155550123&line=%2B18005551212").get_json()["rule"] == "allowlist"
    assert [a["scope"] for a in api.get(f"/api/allowlist/{CALLER}").get_json()["allowlist"]] == [LINE]
    assert [a["number"] for a in api.get("/api/allowlist").get_json()["allowlist"]] == [CALLER]
    exported = api.get("/api/allowlist/export").get_data(as_text=True)
    assert exported.splitlines()[1].startswith(f"{CALLER},{LINE},VIP,mia,")
    assert api.delete(f"/api/allowlist/{CALLER}", {"reason": "x"}).status_code == 404  # all-lines entry: none
    assert api.delete(f"/api/allowlist/{CALLER}", {"reason": "contract ended", "line": LINE}).status_code == 200
    assert api.get("/api/check?number=%2B14155550123&line=%2B18005551212").get_json()["rule"] == "number"


def test_prefix_routes(api: Any, app: Any) -> None:
    resp = api.post("/api/prefixes", {"prefix": "+44 20 794", "reason": "switchboard", "treatment": "linefault"})
    assert resp.status_code == 201 and resp.get_json()["prefix"]["prefix"] == "+4420794"
    assert api.get("/api/prefixes").get_json()["prefixes"][0]["treatment"] == "linefault"
    assert api.get("/api/prefixes/+4420794").status_code == 200
    assert api.get("/api/check?number=%2B442079460958&line=%2B18005551212").get_json()["rule"] == "prefix"
    assert api.delete("/api/prefixes/+4420794", {"reason": "resolved"}).status_code == 200
    assert api.get("/api/prefixes").get_json()["prefixes"] == []


def test_review_list_and_dismiss(api: Any, client: Any, app: Any) -> None:
    assert put(client, f"/api/lines/{LINE}/settings", {"burst_calls": 1, "by": "mia"}).status_code == 200
    for _ in range(2):
        bl(app).screen(CALLER, LINE, call_sid())
    review = api.get("/api/review").get_json()["review"]
    assert [(r["number"], r["line"], r["calls"]) for r in review] == [(CALLER, LINE, 2)]
    assert api.delete(f"/api/review/{CALLER}").status_code == 200
    assert api.get("/api/review").get_json()["review"] == []
    resp = api.delete("/api/review/anonymous")
    assert resp.status_code == 400 and "per line" in resp.get_json()["detail"]


def test_line_settings(client: Any, api: Any) -> None:
    data = api.get(f"/api/lines/{LINE}/settings").get_json()
    assert data["overrides"] == {} and data["effective"]["withheld_policy"] == "allow"
    resp = put(client, f"/api/lines/{LINE}/settings", {"withheld_policy": "linefault", "burst_action": "hangup"})
    assert resp.status_code == 200
    assert resp.get_json()["overrides"] == {"withheld_policy": "linefault", "burst_action": "hangup"}
    assert api.get("/api/check?number=anonymous&line=%2B18005551212").get_json()["treatment"] == "linefault"
    cleared = put(client, f"/api/lines/{LINE}/settings", {"withheld_policy": None}).get_json()
    assert cleared["overrides"] == {"burst_action": "hangup"}
    glob = put(client, "/api/lines/*/settings", {"blocked_treatment": "isolation"}).get_json()
    assert glob["line"] == "*" and glob["effective"]["blocked_treatment"] == "isolation"


def test_dry_run_over_recorded_calls_changes_nothing(api: Any, twilio: Any, app: Any, redis_conn: redis.Redis) -> None:
    bl(app).allow("+14155550100", by="m", reason="VIP")
    for number in ("+14155550123", "+14155550123", "+14155550124", "+14155550100", "+12125550100"):
        assert twilio.incoming(call_sid(), number, LINE).status == 200
    twilio.incoming(call_sid(), "+14155550125", "+18005550000")
    before = snapshot(redis_conn)
    resp = api.post("/api/dryrun", {"kind": "prefix", "prefix": "+1415", "days": 1})
    assert resp.status_code == 200, resp.get_json()
    data = resp.get_json()
    assert (data["calls_seen"], data["calls"], data["numbers"], data["spared_by_allowlist"]) == (6, 4, 3, 1)
    assert data["newly_affected_calls"] == 4
    assert [(r["line"], r["calls"]) for r in data["per_line"]] == [(LINE, 3), ("+18005550000", 1)]
    assert data["top_numbers"][0] == {"number": "+14155550123", "calls": 2}
    scoped = api.post("/api/dryrun", {"kind": "number", "number": "415 555 0123", "line": LINE}).get_json()
    assert (scoped["calls"], scoped["numbers"]) == (2, 1)
    burst = api.post("/api/dryrun", {"kind": "burst", "calls": 1, "minutes": 5}).get_json()
    assert (burst["calls"], burst["effect"]) == (1, "put on the review list")
    assert snapshot(redis_conn) == before
    assert redis_conn.xlen(keys.EVENTS) >= 6
