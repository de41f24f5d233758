"""The bulk feeds JSON API (ivr/api/feeds.py) through the test client on a real Redis: import (PUT with the CSV as
the body), list, show, replace, check only, partial, bad rows and bad metadata (400, nothing changed), a file over
the import limit (413), an import already running (409), delete, appeal, and roles (an agent is refused)."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

import pytest
import redis

from blocklist import keys
from blocklist.clock import now_ms
from tests.support.constants import API_TOKEN, LINE
from tests.support.desk import make_user, users_of
from tests.support.store import snapshot

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
CSV = {**AUTH, "Content-Type": "text/csv"}
ROBO = "+14155550123"
OTHER = "+14155550124"
THIRD = "+14155550125"
META = {"source": "FTC Do Not Call complaints", "licence": "public data"}
FEED_CSV = f"number,reports,last_seen\n{ROBO},3,2026-01-30\n{OTHER},1,2026-01-31\n"
IMPORT_LIMIT = 200_000  # above IVR_MAX_BODY_BYTES (65536): a feed file may be bigger than any webhook body


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    return {**app_env, "IVR_IMPORT_MAX_BYTES": str(IMPORT_LIMIT)}


def put_feed(client: Any, name: str, text: str | bytes, headers: dict[str, str] | None = None, **params: Any) -> Any:
    query = urlencode({**META, **params})
    return client.put(f"/api/feeds/{name}?{query}", headers=headers or CSV, data=text)


def check(client: Any, number: str, line: str = LINE) -> Any:
    return client.get("/api/check", headers=AUTH, query_string={"number": number, "line": line}).get_json()


def test_import_list_show_check_and_replace(client: Any, app: Any) -> None:
    resp = put_feed(client, "ftc-dnc", FEED_CSV, fetched_at="2026-02-01T08:00:00Z", age_out_days="0", by="mia")
    assert resp.status_code == 201, resp.get_json()
    done = resp.get_json()
    assert (done["name"], done["rows"], done["entries"], done["written"], done["replaced"]) == ("ftc-dnc", 2, 2, True,
                                                                                                None)
    assert done["detail"].startswith("feed ftc-dnc: 2 number(s) from 2 row(s)")
    [card] = client.get("/api/feeds", headers=AUTH).get_json()["feeds"]
    assert (card["name"], card["source"], card["licence"], card["entries"], card["by"]) == (
        "ftc-dnc", META["source"], "public data", 2, "mia")  # the service token may name the person behind it
    assert card["fetched"] == "2026-02-01T08:00:00.000Z" and card["imported"].endswith("Z")
    assert client.get("/api/feeds/ftc-dnc", headers=AUTH).get_json()["feed"] == card
    decision = check(client, ROBO)
    assert (decision["rule"], decision["treatment"]) == ("feed", "reject")
    assert "feed ftc-dnc (FTC Do Not Call complaints): 3 reports" in decision["detail"]
    listed = client.get(f"/api/numbers/{ROBO}/feeds", headers=AUTH).get_json()
    assert listed["number"] == ROBO
    [entry] = listed["feeds"]
    assert (entry["feed"], entry["evidence"], entry["active"], entry["until"], entry["source"]) == (
        "ftc-dnc", 3, True, "", META["source"])
    assert entry["seen"] == "2026-01-30T00:00:00.000Z"

    again = put_feed(client, "ftc-dnc", f"{OTHER}\n{THIRD}\n", treatment="linefault", age_out_days="30")
    assert again.status_code == 200 and again.get_json()["replaced"] == 2
    assert check(client, ROBO)["rule"] == "none"  # the new version does not list it: gone at once
    assert (check(client, THIRD)["rule"], check(client, THIRD)["treatment"]) == ("feed", "linefault")
    assert client.get(f"/api/numbers/{ROBO}/feeds", headers=AUTH).get_json()["feeds"] == []
    [card] = client.get("/api/feeds", headers=AUTH).get_json()["feeds"]
    assert (card["entries"], card["age_out_days"], card["treatment"]) == (2, 30, "linefault")


def test_a_multipart_upload_and_a_fetched_at_in_ms_work_too(client: Any) -> None:
    resp = client.put("/api/feeds/carrier?" + urlencode({**META, "fetched_at": "1790000000000", "line": LINE}),
                      headers=AUTH, data={"file": (io.BytesIO(f"{ROBO}\n".encode()), "carrier.csv")},
                      content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    card = client.get("/api/feeds/carrier", headers=AUTH).get_json()["feed"]
    assert (card["fetched_at"], card["scope"]) == (1790000000000, LINE)
    assert check(client, ROBO, LINE)["rule"] == "feed" and check(client, ROBO, "+18005550000")["rule"] == "none"


def test_check_only_counts_and_writes_nothing(client: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    resp = put_feed(client, "ftc-dnc", FEED_CSV + f"{ROBO},2,\n", check_only="1")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["check_only"], body["written"], body["rows"], body["entries"], body["duplicates"]) == (
        True, False, 3, 2, 1)
    assert body["detail"] == "3 row(s) checked: 2 number(s) would be in feed ftc-dnc (nothing written)"
    assert snapshot(redis_conn) == before
    bad = put_feed(client, "ftc-dnc", FEED_CSV + "call me\n", check_only="1")
    assert bad.status_code == 400 and [e["line"] for e in bad.get_json()["errors"]] == [4]
    assert "'call me'" in bad.get_json()["errors"][0]["reason"]
    assert snapshot(redis_conn) == before


def test_bad_rows_import_nothing_and_partial_imports_the_good_ones(client: Any, redis_conn: redis.Redis) -> None:
    assert put_feed(client, "ftc-dnc", f"{ROBO}\n").status_code == 201
    before = snapshot(redis_conn)
    text = f"number,reports\n{OTHER},2\nnot a number,1\n{THIRD},many\n"
    resp = put_feed(client, "ftc-dnc", text)
    assert resp.status_code == 400
    problem = resp.get_json()
    assert problem["error"] == "bad_rows" and problem["written"] is False and problem["bad_rows"] == 2
    assert [e["line"] for e in problem["errors"]] == [3, 4]
    assert "nothing imported, feed ftc-dnc unchanged" in problem["detail"]
    assert snapshot(redis_conn) == before  # the version in force, untouched; the half-written one, deleted
    assert check(client, ROBO)["rule"] == "feed"
    partial = put_feed(client, "ftc-dnc", text, partial="1")
    assert partial.status_code == 200 and partial.get_json()["entries"] == 1
    assert [e["line"] for e in partial.get_json()["errors"]] == [3, 4]
    assert check(client, OTHER)["rule"] == "feed" and check(client, ROBO)["rule"] == "none"


BAD_METADATA = [
    ({"source": ""}, FEED_CSV, "?source="),
    ({"licence": " "}, FEED_CSV, "?licence="),
    ({"fetched_at": "yesterday"}, FEED_CSV, "fetched_at 'yesterday' is not a time"),
    ({"fetched_at": "1790000000"}, FEED_CSV, "milliseconds since 1970"),
    ({"fetched_at": "2999-01-01"}, FEED_CSV, "in the future"),
    ({"age_out_days": "-1"}, FEED_CSV, "age_out_days"),
    ({"age_out_days": "9999"}, FEED_CSV, "3650"),
    ({"treatment": "shout"}, FEED_CSV, "treatment 'shout' unknown"),
    ({"line": "anonymous"}, FEED_CSV, "not a withheld ID"),
    ({}, "", "the file is empty"),
    ({}, "\n \n", "the file is empty"),
]


def test_bad_metadata_is_400_and_changes_nothing(client: Any, redis_conn: redis.Redis) -> None:
    assert put_feed(client, "ftc-dnc", f"{ROBO}\n").status_code == 201
    before = snapshot(redis_conn)
    for params, text, words in BAD_METADATA:
        resp = put_feed(client, "ftc-dnc", text, **params)
        assert resp.status_code == 400, (params, resp.get_json())
        assert resp.get_json()["error"] == "bad_request" and words in resp.get_json()["detail"], (params,
                                                                                                    resp.get_json())
        assert snapshot(redis_conn) == before, params
    for name in ("Bad Name!", "-dash-first", "x" * 41):
        resp = put_feed(client, name, FEED_CSV)
        assert resp.status_code == 400 and "1-40 lower-case letters" in resp.get_json()["detail"], name
    unreadable = put_feed(client, "ftc-dnc", '"' + "x" * 140_000 + '"\n')  # one field past the csv module's limit
    assert unreadable.status_code == 400 and "cannot be read as CSV" in unreadable.get_json()["detail"]
    assert snapshot(redis_conn) == before


def test_a_feed_bigger_than_a_webhook_body_is_taken_and_one_over_the_import_limit_is_413(
        app: Any, client: Any, redis_conn: redis.Redis) -> None:
    rows = "".join(f"+1415{i:07d},1,2026-01-30\n" for i in range(4000))
    assert app.config["MAX_CONTENT_LENGTH"] < len(rows) < IMPORT_LIMIT
    resp = put_feed(client, "big", rows)
    assert resp.status_code == 201 and resp.get_json()["entries"] == 4000
    before = snapshot(redis_conn)
    too_big = "".join(f"+1415{i:07d},1,2026-01-30\n" for i in range(IMPORT_LIMIT // 20))
    resp = put_feed(client, "big", too_big)
    assert resp.status_code == 413
    problem = resp.get_json()
    assert problem["error"] == "too_large" and "IVR_IMPORT_MAX_BYTES" in problem["detail"]
    assert "`ivr feeds import NAME FILE`" in problem["detail"]
    assert snapshot(redis_conn) == before


def test_an_import_of_the_same_feed_already_running_is_409(client: Any, redis_conn: redis.Redis) -> None:
    redis_conn.set(keys.import_lock("feed:ftc-dnc"), "other", ex=60)  # another import holds the feed
    before = snapshot(redis_conn)
    resp = put_feed(client, "ftc-dnc", FEED_CSV)
    assert resp.status_code == 409 and resp.get_json()["error"] == "import_running"
    assert "try again when it is done" in resp.get_json()["detail"]
    assert snapshot(redis_conn) == before
    assert put_feed(client, "other-feed", FEED_CSV).status_code == 201  # other feeds are not held up


def test_delete_a_feed_with_a_reason(client: Any, redis_conn: redis.Redis) -> None:
    assert put_feed(client, "ftc-dnc", FEED_CSV).status_code == 201
    before = snapshot(redis_conn)
    resp = client.delete("/api/feeds/ftc-dnc", headers=AUTH, json={})
    assert resp.status_code == 400 and "reason" in resp.get_json()["detail"]
    missing = client.delete("/api/feeds/nothing-here", headers=AUTH, json={"reason": "contract ended"})
    assert missing.status_code == 404 and "there is no feed nothing-here" in missing.get_json()["detail"]
    assert snapshot(redis_conn) == before
    resp = client.delete("/api/feeds/ftc-dnc", headers=AUTH, json={"reason": "contract ended", "by": "mia"})
    assert resp.status_code == 200 and resp.get_json()["feed"]["entries"] == 2
    assert client.get("/api/feeds", headers=AUTH).get_json()["feeds"] == []
    assert client.get("/api/feeds/ftc-dnc", headers=AUTH).status_code == 404
    assert check(client, ROBO)["rule"] == "none"
    audit = redis_conn.xrevrange(keys.AUDIT, count=1)[0][1]
    assert (audit["action"], audit["subject"], audit["reason"], audit["by"]) == (
        "feed_delete", "ftc-dnc", "contract ended", "mia")


def test_appeal_takes_one_number_out(client: Any, redis_conn: redis.Redis) -> None:
    assert put_feed(client, "ftc-dnc", FEED_CSV).status_code == 201
    path = f"/api/feeds/ftc-dnc/numbers/{ROBO}"
    before = snapshot(redis_conn)
    assert client.delete(path, headers=AUTH, json={}).status_code == 400
    assert client.delete(f"/api/feeds/nothing-here/numbers/{ROBO}", headers=AUTH,
                         json={"reason": "appeal upheld"}).status_code == 404
    unlisted = client.delete(f"/api/feeds/ftc-dnc/numbers/{THIRD}", headers=AUTH, json={"reason": "appeal upheld"})
    assert unlisted.status_code == 404 and f"does not list {THIRD}" in unlisted.get_json()["detail"]
    withheld = client.delete("/api/feeds/ftc-dnc/numbers/anonymous", headers=AUTH, json={"reason": "x"})
    assert withheld.status_code == 400
    assert snapshot(redis_conn) == before
    resp = client.delete(path.replace("+", "%2B"), headers=AUTH, json={"reason": "a customer, appeal upheld"})
    assert resp.status_code == 200 and resp.get_json() == {"removed": True, "feed": "ftc-dnc", "number": ROBO}
    assert check(client, ROBO)["rule"] == "none" and check(client, OTHER)["rule"] == "feed"
    assert client.get(f"/api/numbers/{ROBO}/feeds", headers=AUTH).get_json()["feeds"] == []
    assert client.get("/api/feeds/ftc-dnc", headers=AUTH).get_json()["feed"]["removed"] == 1
    history = client.get(f"/api/blocklist/{ROBO}/history", headers=AUTH).get_json()["history"]
    assert [(h["action"], h["feed"], h["reason"]) for h in history] == [
        ("feed_remove", "ftc-dnc", "a customer, appeal upheld")]
    assert client.delete(path, headers=AUTH, json={"reason": "again"}).status_code == 404


def test_an_aged_out_entry_is_listed_as_no_longer_active(client: Any) -> None:
    old_s = now_ms() // 1000 - 40 * 86400
    assert put_feed(client, "complaints", f"{ROBO},2,{old_s}\n{OTHER},1,\n", age_out_days="30").status_code == 201
    [aged] = client.get(f"/api/numbers/{ROBO}/feeds", headers=AUTH).get_json()["feeds"]
    assert aged["active"] is False and aged["until_ms"] == (old_s + 30 * 86400) * 1000
    [fresh] = client.get(f"/api/numbers/{OTHER}/feeds", headers=AUTH).get_json()["feeds"]
    assert fresh["active"] is True and fresh["until"].endswith("Z")
    assert client.get("/api/numbers/anonymous/feeds", headers=AUTH).status_code == 400


ROUTES = [("get", "/api/feeds"), ("get", "/api/feeds/ftc-dnc"), ("put", "/api/feeds/ftc-dnc"),
          ("delete", "/api/feeds/ftc-dnc"), ("delete", f"/api/feeds/ftc-dnc/numbers/{ROBO}"),
          ("get", f"/api/numbers/{ROBO}/feeds")]


def test_every_route_wants_a_token_and_a_manager(app: Any, client: Any, redis_conn: redis.Redis) -> None:
    assert put_feed(client, "ftc-dnc", FEED_CSV).status_code == 201
    make_user(app, "ann", "agent")
    make_user(app, "max", "manager")
    agent = users_of(app).create_token("ann", "script", by="ann", by_role="agent")[1]
    manager = users_of(app).create_token("max", "script", by="max", by_role="manager")[1]
    before = snapshot(redis_conn)
    body = {"reason": "x"}
    for method, path in ROUTES:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            resp = getattr(client, method)(path, headers=headers, json=body)
            assert resp.status_code == 401, (method, path)
        resp = getattr(client, method)(path, headers={"Authorization": f"Bearer {agent}"}, json=body)
        assert resp.status_code == 403 and resp.get_json()["error"] == "forbidden", (method, path)
    assert snapshot(redis_conn) == before
    mine = {"Authorization": f"Bearer {manager}"}
    resp = put_feed(client, "carrier", f"{THIRD}\n", headers={**mine, "Content-Type": "text/csv"}, by="someone else")
    assert resp.status_code == 201
    assert client.get("/api/feeds/carrier", headers=mine).get_json()["feed"]["by"] == "max"  # a user acts as itself
    resp = client.delete(f"/api/feeds/carrier/numbers/{THIRD}", headers=mine, json={"reason": "appeal", "by": "x"})
    assert resp.status_code == 200
    audit = redis_conn.xrevrange(keys.AUDIT, count=1)[0][1]
    assert (audit["action"], audit["by"], audit["role"], audit["number"]) == ("feed_remove", "max", "manager", THIRD)
