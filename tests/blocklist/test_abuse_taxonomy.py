"""The abuse taxonomy on a flag (blocklist/flags.py + flag.lua), the IVR_FLAG_CATEGORY setting, and the warnings
on record (blocklist/warnings.py); on a real Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from blocklist import abuse, keys, warnings
from blocklist.flags import flag_category
from blocklist.rules import Blocklist
from blocklist.settings import Settings

LINE = "+18005551212"
CALLER = "+14155550123"
OTHER = "+14155550124"


def sid(n: int) -> str:
    return f"CA{n:032x}"


@pytest.fixture
def bl(redis_conn: redis.Redis) -> Blocklist:
    return Blocklist(redis_conn, default_region="US")


def history(r: redis.Redis, number: str) -> list[dict[str, object]]:
    return [json.loads(h) for h in r.lrange(keys.history(number), 0, -1)]


def flag_events(r: redis.Redis) -> list[dict[str, str]]:
    return [f for _id, f in r.xrange(keys.EVENTS) if f.get("type") == "flag"]


def test_a_flag_records_its_category_in_the_history_the_event_and_the_call(bl: Blocklist,
                                                                         redis_conn: redis.Redis) -> None:
    result = bl.flag(CALLER, call_sid=sid(1), line=LINE, via="desk", agent="client:ann", reason="said he knows "
                     "where I live", note="calm voice", category="threats")
    assert result.status == "flagged" and result.blocked
    flag, block = history(redis_conn, CALLER)
    assert (flag["action"], flag["category"], flag["reason"]) == ("flag", "threats", "said he knows where I live")
    assert block["action"] == "block"  # the block keeps its own shape
    (event,) = flag_events(redis_conn)
    assert event["category"] == "threats" and event["call_sid"] == sid(1)
    assert redis_conn.hget(keys.call(sid(1)), "category") == "threats"
    # the geography after the category still lands in the event (ARGV shifted by one)
    bl.flag(OTHER, call_sid=sid(2), line=LINE, via="key", agent="client:ann", category="silent",
            extra={"FromCity": "SAN FRANCISCO"})
    second = flag_events(redis_conn)[-1]
    assert second["category"] == "silent" and second["FromCity"] == "SAN FRANCISCO" and second["region"] == "US"


def test_a_flag_while_blocked_records_its_category_too(bl: Blocklist, redis_conn: redis.Redis) -> None:
    bl.flag(CALLER, call_sid=sid(1), line=LINE, via="key", agent="a", category="obscene")
    bl.flag(CALLER, call_sid=sid(2), line=LINE, via="desk", agent="a", category="hate")
    later = [h for h in history(redis_conn, CALLER) if h["action"] == "flag"][-1]
    assert later["category"] == "hate" and "already blocked" in str(later["outcome"])


@pytest.mark.parametrize(("reason", "expected"), [("threat", "threats"), ("prank", "nonsense"), ("obscene", "obscene"),
                                                  ("he laughed", "other"), ("", "other")])
def test_an_older_client_s_reason_means_its_category(bl: Blocklist, redis_conn: redis.Redis, reason: str,
                                                     expected: str) -> None:
    assert flag_category("", reason) == expected
    bl.flag(CALLER, call_sid=sid(1), line=LINE, via="desk", agent="a", reason=reason)
    assert flag_events(redis_conn)[0]["category"] == expected
    assert flag_events(redis_conn)[0]["reason"] == reason  # the reason stays as sent


def test_an_unknown_category_is_refused_and_changes_nothing(bl: Blocklist, redis_conn: redis.Redis) -> None:
    with pytest.raises(ValueError, match="use one of obscene, threats"):
        bl.flag(CALLER, call_sid=sid(1), line=LINE, via="desk", agent="a", category="rude")
    assert not redis_conn.exists(keys.history(CALLER), keys.flag_once(sid(1)), keys.call(sid(1)), keys.EVENTS)
    assert bl.strikes(CALLER) == 0


def test_the_phone_s_default_category_is_a_validated_setting(tmp_path: Path) -> None:
    def settings(**env: str) -> Settings:
        return Settings.from_env(environ={"IVR_DATA_DIR": str(tmp_path), **env})

    assert settings().flag_category == abuse.DEFAULT
    assert settings(IVR_FLAG_CATEGORY="threats").flag_category == "threats"
    assert settings(IVR_FLAG_CATEGORY="prank").flag_category == "nonsense"  # a legacy word
    with pytest.raises(ValueError, match="IVR_FLAG_CATEGORY.*use one of obscene"):
        settings(IVR_FLAG_CATEGORY="rude")
    assert settings().warnings_before_offer == 3


def test_warnings_on_record_counts_offers_and_erasure(bl: Blocklist, redis_conn: redis.Redis) -> None:
    redis_conn.hset(keys.WARNINGS, mapping={CALLER: 3, OTHER: 1})
    assert warnings.count(redis_conn, CALLER) == 3 and warnings.count(redis_conn, "anonymous") == 0
    assert warnings.counts(redis_conn, [CALLER, OTHER, "+14155550999", "anonymous"]) == {CALLER: 3, OTHER: 1}
    assert [warnings.offer_due(n, 3) for n in (2, 3, 4)] == [False, True, True]
    assert not warnings.offer_due(9, 0)  # 0 turns the offer off
    assert warnings.due(redis_conn, 3) == [(CALLER, 3)] and warnings.due(redis_conn, 1) == [(CALLER, 3), (OTHER, 1)]
    bl.block(OTHER, by="max", reason="enough")  # dealt with: blocked on every line
    assert warnings.due(redis_conn, 1) == [(CALLER, 3)]
    bl.erase(CALLER)  # the blocklist half of the audited erasure
    assert warnings.count(redis_conn, CALLER) == 0 and warnings.due(redis_conn, 1) == []
