"""The door with Twilio's signals: the AddOns JSON and StirVerstat of a signed incoming call decide
in the same screen, and bad or hostile AddOns never change the answer a caller gets."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from blocklist import keys
from tests.support.constants import CUSTOMER, LINE
from tests.support.twilio_player import call_sid


def addons(score: int, status: str = "successful") -> str:
    """The AddOns envelope Twilio posts, with Nomorobo Spam Score's documented result."""
    return json.dumps({"status": "successful", "message": None, "code": None, "results": {
        "nomorobo_spamscore": {"request_sid": "XR" + "0" * 32, "status": status, "message": None, "code": None,
                               "result": {"status": "success", "message": "success", "score": score}}}})


def verbs(reply: Any) -> list[str]:
    return [child.tag for child in reply.root]


def last_call_event(r: redis.Redis) -> dict[str, str]:
    return next(f for _i, f in reversed(r.xrange(keys.EVENTS)) if f.get("type") == "call")


def test_a_spam_score_from_an_add_on_rejects_at_the_door(twilio: Any, redis_conn: redis.Redis) -> None:
    reply = twilio.incoming(call_sid(), CUSTOMER, LINE, AddOns=addons(1), StirVerstat="TN-Validation-Passed-A")
    assert reply.status == 200 and verbs(reply) == ["Reject"]
    ev = last_call_event(redis_conn)
    assert (ev["rule"], ev["rep"], ev["attest"]) == ("reputation", "100", "A")
    assert "Nomorobo" in ev["rep_by"] and ev["detail"].startswith("reputation 100")


def test_a_clean_score_and_a_failed_add_on_go_to_the_agents(twilio: Any, redis_conn: redis.Redis) -> None:
    assert verbs(twilio.incoming(call_sid(), CUSTOMER, LINE, AddOns=addons(0))) == ["Enqueue"]
    assert verbs(twilio.incoming(call_sid(), CUSTOMER, LINE, AddOns=addons(1, status="failed"))) == ["Enqueue"]
    assert "rep" not in last_call_event(redis_conn)  # a failed add-on is no score at all


HOSTILE = [
    "{not json", "null", "[]", '"text"', "1e999", '{"results": []}', '{"results": {"nomorobo_spamscore": 5}}',
    '{"status": "successful", "results": {"nomorobo_spamscore": {"status": "successful", "result": {"score": "x"}}}}',
    "[" * 8_000 + "]" * 8_000,  # deeper than json.loads can go (RecursionError), still under the body limit
    json.dumps({"status": "successful", "results": {f"addon{i}": {"status": "successful", "result": {"score": 1}}
                                                     for i in range(700)}}),  # 700 unknown add-ons, ~45 KB
]
# (A body over IVR_MAX_BODY_BYTES, 64 KiB, is refused with 413 before any of this; Twilio then asks the
# Voice Fallback URL, which queues the caller: tests/system/test_security_and_faults.py.)


@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_addons_change_nothing_and_never_error(twilio: Any, redis_conn: redis.Redis, payload: str) -> None:
    reply = twilio.incoming(call_sid(), CUSTOMER, LINE, AddOns=payload)
    assert reply.status == 200 and verbs(reply) == ["Enqueue"]
    ev = last_call_event(redis_conn)
    assert ev["rule"] == "none" and "rep" not in ev


def test_failed_verification_is_recorded_and_listed_for_review(twilio: Any, redis_conn: redis.Redis) -> None:
    reply = twilio.incoming(call_sid(), CUSTOMER, LINE, StirVerstat="TN-Validation-Failed-B")
    assert verbs(reply) == ["Enqueue"]  # the default: a manager looks, the caller is not stopped
    ev = last_call_event(redis_conn)
    assert (ev["attest"], ev["rule"]) == ("failed", "attestation")
    assert redis_conn.hexists(keys.REVIEW_INFO, f"*|{CUSTOMER}")
