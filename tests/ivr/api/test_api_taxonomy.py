"""The abuse taxonomy over the API, as an integration uses it: a flag and a move take `category` (and the older
`reason` as an alias); an unknown category is a 400 problem that changes nothing; the call's view shows the
categories of earlier flags."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from blocklist import keys
from tests.support import callflow as cf
from tests.support.callflow import events
from tests.support.constants import HARASSER


@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    # several difficult calls of one agent: keep the exposure limits' wellbeing break out of this test's way
    return {**app_env, "IVR_EXPOSURE_SHIFT_LIMIT": "0", "IVR_EXPOSURE_WEEK_LIMIT": "0"}


def flags_in_history(r: redis.Redis, number: str = HARASSER) -> list[dict[str, Any]]:
    return [h for h in map(json.loads, r.lrange(keys.history(number), 0, -1)) if h["action"] == "flag"]


def test_a_flag_with_a_category_records_it_and_answers_it(api: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    caller, _agent = cf.bridged_caller(twilio)
    resp = api.post(f"/api/calls/{caller.sid}/flag", json={"category": "sexual", "note": "explicit remarks"})
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["category"] == "sexual"
    assert [f["category"] for f in flags_in_history(redis_conn)] == ["sexual"]
    assert events(redis_conn, "flag")[0]["category"] == "sexual"
    assert redis_conn.hget(keys.call(caller.sid), "category") == "sexual"
    again = api.post(f"/api/calls/{caller.sid}/flag", json={"category": "hate"})
    assert again.status_code == 200 and "category" not in again.get_json()  # a repeat records nothing
    assert redis_conn.hget(keys.call(caller.sid), "category") == "sexual"


@pytest.mark.parametrize(("body", "category"), [({"reason": "threat"}, "threats"), ({"reason": "obscene"}, "obscene"),
                                                ({"reason": "kept calling about the refund"}, "other"), ({}, "other"),
                                                ({"category": "Repeat complaint", "reason": "x"}, "repeat_complaint")])
def test_older_clients_reason_still_works(api: Any, twilio: Any, redis_conn: redis.Redis, body: dict[str, str],
                                          category: str) -> None:
    caller, _agent = cf.bridged_caller(twilio)
    resp = api.post(f"/api/calls/{caller.sid}/flag", json=body)
    assert resp.status_code == 202 and resp.get_json()["category"] == category
    (flag,) = flags_in_history(redis_conn)
    assert flag["category"] == category and flag["reason"] == body.get("reason", "")


def test_an_unknown_category_is_a_400_that_changes_nothing(api: Any, twilio: Any, redis_conn: redis.Redis) -> None:
    caller, _agent = cf.bridged_caller(twilio)
    before = redis_conn.hgetall(keys.call(caller.sid))
    resp = api.post(f"/api/calls/{caller.sid}/flag", json={"category": "rude", "reason": "threat"})
    assert resp.status_code == 400 and resp.mimetype == "application/problem+json"
    problem = resp.get_json()
    assert problem["error"] == "unknown_category" and "use one of obscene, threats" in problem["detail"]
    for move in ("escalate", "warn", "callback"):
        refused = api.post(f"/api/calls/{caller.sid}/{move}", json={"category": "angry"})
        assert refused.status_code == 400 and refused.get_json()["error"] == "unknown_category"
    assert not redis_conn.exists(keys.flag_once(caller.sid), keys.history(HARASSER), keys.WARNINGS)
    assert redis_conn.hgetall(keys.call(caller.sid)) == before
    assert not [e for e in events(redis_conn, "flag") + events(redis_conn, "warn") + events(redis_conn, "escalate")]


def test_moves_take_a_category_and_warnings_count_on_the_record(api: Any, twilio: Any, redis_conn: redis.Redis,
                                                               standin: Any) -> None:
    caller, _agent = cf.bridged_caller(twilio)
    warned = api.post(f"/api/calls/{caller.sid}/warn", json={"category": "hate", "note": "slurs"})
    assert warned.status_code == 202, warned.get_json()
    body = warned.get_json()
    assert body["category"] == "hate" and body["detail"]["on_record"] == 1
    (event,) = events(redis_conn, "warn")
    assert (event["category"], event["on_record"], event["via"]) == ("hate", "1", "desk")
    escalated = api.post(f"/api/calls/{caller.sid}/escalate", json={"reason": "prank"})  # the alias, as for flags
    assert escalated.status_code == 202 and escalated.get_json()["category"] == "nonsense"
    assert events(redis_conn, "escalate")[0]["category"] == "nonsense"
    second, _agent2 = cf.bridged_caller(twilio)  # the same number calls again
    plain = api.post(f"/api/calls/{second.sid}/warn", json={})
    assert plain.get_json()["category"] is None and plain.get_json()["detail"]["on_record"] == 2
    view = api.get(f"/api/calls/{second.sid}").get_json()
    assert view["warnings_on_record"] == 2
    facts = api.get(f"/api/blocklist/{HARASSER}/history").get_json()
    assert facts["warnings_on_record"] == 2 and facts["offer_restriction_or_block"] is False  # default 3
    assert [h.get("category") for h in facts["history"] if h["action"] == "warn"] == ["hate", None]


def test_the_call_view_shows_earlier_flags_categories(app: Any, api: Any, twilio: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    bl.flag(HARASSER, call_sid="CA" + "1" * 32, line="+18005551212", via="key", agent="a", category="threats")
    bl.flag(HARASSER, call_sid="CA" + "2" * 32, line="+18005551212", via="key", agent="a", reason="prank")
    bl.flag(HARASSER, call_sid="CA" + "3" * 32, line="+18005551212", via="key", agent="a", category="threats")
    caller, _agent = cf.bridged_caller(twilio)
    view = api.get(f"/api/calls/{caller.sid}").get_json()
    assert view["previous_flags"] == 3
    assert view["previous_categories"] == [{"category": "threats", "flags": 2}, {"category": "nonsense", "flags": 1}]
    assert view["category"] == ""
