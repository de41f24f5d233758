"""The JSON API's lengths of time carry their unit: `duration` and `temporary` refuse a bare number,
JSON's or text's, and an empty text; the answer and the audit record say how long the block lasts; the
published description says so."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis

from blocklist import keys
from blocklist.clock import format_time
from ivr.api import openapi
from tests.support.constants import API_TOKEN, LINE
from tests.support.store import snapshot

CALLER = "+14155550123"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.mark.parametrize(("duration", "words"), [
    (3, "duration: '3' has no unit"), ("3", "duration: '3' has no unit"), ("3600", "no unit"),
    ("", "duration is empty"), ("  ", "duration is empty"), ("1:30", "more than one way"),
])
def test_a_block_without_a_unit_is_refused_and_changes_nothing(api: Any, redis_conn: redis.Redis, duration: Any,
                                                                words: str) -> None:
    before = snapshot(redis_conn)
    resp = api.post("/api/blocklist", {"number": CALLER, "reason": "threats", "duration": duration})
    assert resp.status_code == 400, resp.get_json()
    assert words in resp.get_json()["detail"] and "7d" in resp.get_json()["detail"]
    assert snapshot(redis_conn) == before


def test_a_block_with_a_unit_says_how_long_in_the_answer_and_the_audit(api: Any, redis_conn: redis.Redis) -> None:
    resp = api.post("/api/blocklist", {"number": CALLER, "reason": "threats", "duration": "1h30m", "by": "mia"})
    assert resp.status_code == 201, resp.get_json()
    block = resp.get_json()["block"]
    assert block["until_ms"] - block["at"] == 5400 * 1000
    assert resp.get_json()["explain"] == f"{CALLER} blocked on all lines for 1h30m, until {block['until']}"
    (audit,) = [f for _id, f in redis_conn.xrange(keys.AUDIT) if f["action"] == "block"]
    assert (audit["lasts"], audit["until"]) == ("1h30m", str(block["until_ms"]))


def test_permanent_is_said_by_name(api: Any, redis_conn: redis.Redis) -> None:
    resp = api.post("/api/blocklist", {"number": CALLER, "reason": "threats", "duration": "permanent", "line": LINE})
    assert resp.status_code == 201 and resp.get_json()["block"]["permanent"] is True
    assert resp.get_json()["explain"] == f"{CALLER} blocked on line {LINE} permanently"
    (audit,) = [f for _id, f in redis_conn.xrange(keys.AUDIT) if f["action"] == "block"]
    assert (audit["lasts"], audit["until"]) == ("permanent", "")


def test_temporary_needs_a_unit(api: Any, client: Any, redis_conn: redis.Redis) -> None:
    assert api.post("/api/blocklist", {"number": CALLER, "reason": "threats", "permanent": True}).status_code == 201
    before = snapshot(redis_conn)
    for temporary, words in ((24, "temporary: '24' has no unit"), ("", "temporary is empty")):
        resp = client.patch(f"/api/blocklist/{CALLER}", headers=AUTH, json={"temporary": temporary, "why": "w"})
        assert resp.status_code == 400 and words in resp.get_json()["detail"], resp.get_json()
    assert snapshot(redis_conn) == before
    resp = client.patch(f"/api/blocklist/{CALLER}", headers=AUTH, json={"temporary": "24h", "why": "case closed"})
    assert resp.status_code == 200, resp.get_json()
    until_ms = resp.get_json()["block"]["until_ms"]
    (audit,) = [f for _id, f in redis_conn.xrange(keys.AUDIT) if f["action"] == "temporary"]
    assert (audit["lasts"], audit["until"]) == ("1d", str(until_ms))
    assert resp.get_json()["block"]["until"] == format_time(until_ms)


def test_the_description_asks_for_the_unit() -> None:
    body = openapi.document()["paths"]["/api/blocklist"]["post"]["requestBody"]["content"]["application/json"]
    duration = body["schema"]["properties"]["duration"]
    assert "with its unit" in duration["description"] and "bare number" in duration["description"]
    change = openapi.document()["paths"]["/api/blocklist/{number}"]["patch"]["requestBody"]["content"]
    temporary = change["application/json"]["schema"]["properties"]["temporary"]
    assert "with its unit" in temporary["description"]
    for schema in (duration, temporary):  # the pattern a client may check before sending
        assert re.search(schema["pattern"], "7d") and re.search(schema["pattern"], "1h30m")
        assert not re.search(schema["pattern"], "3") and not re.search(schema["pattern"], "3600")
    assert re.search(duration["pattern"], "permanent") and not re.search(temporary["pattern"], "permanent")


@pytest.mark.parametrize("body", [{}, {"until": ""}, {"permanent": None}])
def test_a_block_with_no_length_is_a_problem_and_blocks_nothing(api: Any, redis_conn: redis.Redis,
                                                                  body: dict[str, Any]) -> None:
    """Permanent is asked for by name: with no length at all the API says what to send, writes nothing."""
    before = snapshot(redis_conn)
    resp = api.post("/api/blocklist", {"number": CALLER, "reason": "threats", **body})
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json", resp.get_json()
    detail = resp.get_json()["detail"]
    assert detail.startswith("say how long the block lasts") and "'permanent'" in detail, detail
    assert all(word in detail for word in ("duration", "until", "7d", "2030-01-31T18:00:00Z")), detail
    assert snapshot(redis_conn) == before


def test_permanent_by_either_name_and_never_with_a_length(api: Any, redis_conn: redis.Redis) -> None:
    both = api.post("/api/blocklist", {"number": CALLER, "reason": "threats", "duration": "permanent",
                                       "permanent": True})
    assert both.status_code == 201 and both.get_json()["block"]["permanent"] is True  # the same choice twice
    before = snapshot(redis_conn)
    clash = api.post("/api/blocklist", {"number": CALLER, "reason": "x", "duration": "permanent",
                                        "until": "2030-01-31T18:00:00Z"})
    assert clash.status_code == 400 and "one of" in clash.get_json()["detail"]
    assert snapshot(redis_conn) == before


def test_the_description_says_a_length_is_required() -> None:
    body = openapi.document()["paths"]["/api/blocklist"]["post"]["requestBody"]["content"]["application/json"]
    schema = body["schema"]
    assert {"required": ["duration"]} in schema["anyOf"] and {"required": ["permanent"]} in schema["anyOf"]
    assert "asked for by name" in schema["description"] and "none of them" not in schema["description"]
