"""The screen's caller signals on a real Redis: add-on reputation tiers, STIR/SHAKEN attestation,
line types and campaigns of rotating numbers; each in the one screen round trip, each explaining itself, none
ever beating a list, and the managers' settings per line."""

from __future__ import annotations

import json

import pytest
import redis

from blocklist import keys
from blocklist.clock import now_ms
from blocklist.reputation import Reputation
from blocklist.rules import Blocklist, Policy
from blocklist.signals import Signals, campaign_prefix, signals_to_try
from tests.support.twilio_player import call_sid

LINE = "+18005551212"
LINE2 = "+18005550000"
CALLER = "+14155550123"
VOIP = "+445612345678"  # phonenumbers' example GB VoIP number
SPAM = Signals("TN-Validation-Passed-A", Reputation(100, "Nomorobo Spam Score", "score 1"))
GREY = Signals("TN-Validation-Passed-B", Reputation(70, "Icehook Scout", "risk level 70"))
FAILED = Signals("TN-Validation-Failed-B")
MINUTE = 60_000


def last_event(r: redis.Redis, kind: str = "call") -> dict[str, str]:
    for _id, fields in reversed(r.xrange(keys.EVENTS)):
        if fields.get("type") == kind:
            return fields
    raise AssertionError(f"no {kind} event")


def review_items(r: redis.Redis) -> dict[str, dict[str, object]]:
    return {k: json.loads(v) for k, v in r.hgetall(keys.REVIEW_INFO).items()}


# ---- reputation -------------------------------------------------------------------------------------------
def test_a_high_reputation_score_is_rejected_and_the_call_says_which_add_on(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    sid = call_sid()
    d = bl.screen(CALLER, LINE, sid, signals=SPAM)
    assert (d.decision, d.rule, d.treatment) == ("treat", "reputation", "reject")
    assert d.detail == "reputation 100 (Nomorobo Spam Score: score 1) >= 90"
    assert "caller reputation" in d.explain()
    ev = last_event(redis_conn)
    assert (ev["rule"], ev["rep"], ev["rep_by"], ev["attest"]) == ("reputation", "100", "Nomorobo Spam Score", "A")
    assert ev["detail"] == d.detail
    call = redis_conn.hgetall(keys.call(sid))
    assert (call["rep"], call["attest"], call["rule"]) == ("100", "A", "reputation")


def test_a_medium_score_lists_the_caller_for_review_and_lets_the_call_through(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    d = bl.screen(CALLER, LINE, call_sid(), signals=GREY)
    assert (d.decision, d.rule) == ("allow", "reputation")
    assert d.explain().startswith("allow, and put on the review list: caller reputation")
    item = review_items(redis_conn)[f"*|{CALLER}"]
    assert item["rule"] == "reputation" and "70" in str(item["detail"])


def test_a_low_score_or_a_failed_add_on_changes_nothing(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    low = Signals("TN-Validation-Passed-A", Reputation(10, "Icehook Scout", "risk level 10"))
    assert (bl.screen(CALLER, LINE, call_sid(), signals=low).rule) == "none"
    assert bl.screen(CALLER, LINE, call_sid(), signals=Signals.from_twilio("", "{not json")).rule == "none"
    assert redis_conn.hlen(keys.REVIEW_INFO) == 0


def test_the_tiers_and_their_actions_are_per_line(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.set_line_setting(LINE, "reputation_medium_action", "linefault", by="m")
    bl.set_line_setting("*", "reputation_high", "101", by="m")  # the high tier off everywhere
    d = bl.screen(CALLER, LINE, call_sid(), signals=SPAM)
    assert (d.decision, d.treatment) == ("treat", "linefault")  # 100 falls to the medium tier on this line
    d2 = bl.screen(CALLER, LINE2, call_sid(), signals=SPAM)
    assert (d2.decision, d2.rule) == ("allow", "reputation")  # reviewed on the other line


@pytest.mark.parametrize(("name", "value"), [
    ("reputation_high", "abc"), ("reputation_high", "500"), ("reputation_medium_action", "shout"),
    ("attest_failed", "block"), ("line_types", "voip,satellite"), ("campaign_numbers", "-1"),
])
def test_a_bad_signal_setting_is_refused_and_nothing_changes(redis_conn: redis.Redis, name: str, value: str) -> None:
    bl = Blocklist(redis_conn, Policy())
    before = redis_conn.xlen(keys.AUDIT) if redis_conn.exists(keys.AUDIT) else 0
    with pytest.raises(ValueError, match=name):
        bl.set_line_setting(LINE, name, value, by="m")
    assert bl.line_settings(LINE) == {}
    assert (redis_conn.xlen(keys.AUDIT) if redis_conn.exists(keys.AUDIT) else 0) == before


# ---- lists first -----------------------------------------------------------------------------------------
def test_an_a_attestation_and_a_clean_score_never_bypass_a_block(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="abuse")
    clean = Signals("TN-Validation-Passed-A", Reputation(0, "Marchex Clean Call", "PASS"))
    d = bl.screen(CALLER, LINE, call_sid(), signals=clean)
    assert (d.decision, d.rule) == ("treat", "number")


def test_the_allowlist_is_never_judged_by_a_signal(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.allow(CALLER, by="m", reason="our courier's switchboard")
    d = bl.screen(CALLER, LINE, call_sid(), signals=Signals("TN-Validation-Failed", SPAM.reputation))
    assert (d.decision, d.rule) == ("allow", "allowlist")
    assert redis_conn.hlen(keys.REVIEW_INFO) == 0


# ---- attestation -----------------------------------------------------------------------------------------
def test_failed_verification_is_listed_by_default_and_treated_where_a_line_says_so(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    d = bl.screen(CALLER, LINE, call_sid(), signals=FAILED)
    assert (d.decision, d.rule) == ("allow", "attestation")
    assert d.detail == "STIR/SHAKEN TN-Validation-Failed-B (verification failed)"
    bl.set_line_setting(LINE, "attest_failed", "linefault", by="m")
    d = bl.screen("+14155550124", LINE, call_sid(), signals=FAILED)
    assert (d.decision, d.rule, d.treatment) == ("treat", "attestation", "linefault")
    assert last_event(redis_conn)["attest"] == "failed"


def test_an_unsigned_call_is_allowed_and_counted(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    d = bl.screen(CALLER, LINE, call_sid(), signals=Signals(""))
    assert (d.decision, d.rule) == ("allow", "none")
    assert last_event(redis_conn)["attest"] == "unsigned"
    bl.set_line_setting(LINE, "attest_unsigned", "review", by="m")
    assert bl.screen(CALLER, LINE, call_sid(), signals=Signals("No-TN-Validation")).rule == "attestation"


# ---- line type -------------------------------------------------------------------------------------------
def test_a_line_can_treat_callers_on_chosen_line_types(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    assert bl.screen(VOIP, LINE, call_sid()).rule == "none"  # off unless a manager names types
    bl.set_line_setting(LINE, "line_types", "premium, voip", by="m")
    bl.set_line_setting(LINE, "line_types_action", "isolation", by="m")
    d = bl.screen(VOIP, LINE, call_sid())
    assert (d.decision, d.rule, d.treatment, d.detail) == ("treat", "line_type", "isolation", "line type voip")
    assert bl.screen(CALLER, LINE, call_sid()).rule == "none"  # a fixed-or-mobile US number
    assert bl.screen(VOIP, LINE2, call_sid()).rule == "none"  # only that line


# ---- campaigns -------------------------------------------------------------------------------------------
def rotating(i: int) -> str:
    return f"+1415555{2000 + i:04d}"


def test_a_caller_rotating_numbers_in_one_exchange_is_caught_at_the_sixth_number(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    start = now_ms()
    decisions = [bl.screen(rotating(i), LINE, call_sid(), at=start + i * 30_000) for i in range(8)]
    assert [d.rule for d in decisions[:5]] == ["none"] * 5  # five numbers: not yet more than the limit of 5
    assert decisions[5].rule == "campaign" and decisions[5].decision == "allow"
    assert decisions[5].detail == "campaign: 6 numbers from +1415555 in 10 min (limit 5)"
    campaigns = [f for _i, f in redis_conn.xrange(keys.EVENTS) if f["type"] == "campaign"]
    assert len(campaigns) == 1  # one event per campaign, not one per call
    c = campaigns[0]
    assert (c["line"], c["prefix"], c["numbers"], c["first"], c["action"]) == (LINE, "+1415555", "6", str(start),
                                                                                "review")
    item = review_items(redis_conn)[f"{LINE}|+1415555"]
    assert item["prefix"] == "+1415555" and item["rule"] == "campaign"
    assert last_event(redis_conn)["campaign"] == "+1415555"
    # the same numbers calling again are not new numbers
    assert bl.screen(rotating(0), LINE, call_sid(), at=start + 9 * 30_000).detail.startswith("campaign: 8 numbers")


def test_a_campaign_is_per_line_and_within_its_window(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    start = now_ms()
    for i in range(6):  # six numbers, but 3 minutes apart: never more than 4 in 10 minutes
        assert bl.screen(rotating(i), LINE, call_sid(), at=start + i * 3 * MINUTE).rule == "none"
    for i in range(5):
        bl.screen(rotating(10 + i), LINE, call_sid(), at=start + 20 * MINUTE + i)
    assert bl.screen(rotating(20), LINE2, call_sid(), at=start + 20 * MINUTE + 9).rule == "none"  # other line


def test_a_line_can_treat_a_campaign_and_repeat_customers_are_not_one(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.set_line_setting(LINE, "campaign_action", "linefault", by="m")
    start = now_ms()
    for n in range(10):  # one customer calling ten times is one number
        assert bl.screen(CALLER, LINE, call_sid(), at=start + n).rule in ("none", "burst")
    decisions = [bl.screen(rotating(i), LINE, call_sid(), at=start + MINUTE + i) for i in range(7)]
    # CALLER is of +1415555 too: one number however often it called, so the fifth new number is the sixth
    assert [d.decision for d in decisions] == ["allow"] * 4 + ["treat"] * 3
    assert decisions[4].rule == "campaign" and decisions[4].treatment == "linefault"


def test_a_check_asks_the_campaign_without_counting(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    start = now_ms()
    for i in range(5):
        bl.screen(rotating(i), LINE, call_sid(), at=start + i)
    assert bl.check(rotating(9), LINE).rule == "campaign"  # would be the sixth
    assert bl.check(rotating(0), LINE).rule == "none"  # already counted: still five
    assert redis_conn.zcard(keys.campaign(LINE, "+1415555")) == 5


def test_the_campaign_exchange_is_the_leading_digits() -> None:
    assert campaign_prefix("+14155550123", 7) == "+1415555"
    assert campaign_prefix("anonymous", 7) == ""
    assert campaign_prefix("+14155550123", 0) == ""
    assert campaign_prefix("+1415", 7) == ""


# ---- trying signals by hand -------------------------------------------------------------------------------
def test_signals_to_try_refuse_what_they_cannot_read() -> None:
    assert signals_to_try(score="95").reputation == Reputation(95, "score given", "")
    assert signals_to_try(stir="TN-Validation-Failed-A").attestation == "failed"
    for bad in ("101", "-3", "high"):
        with pytest.raises(ValueError, match="0 to 100"):
            signals_to_try(score=bad)
    with pytest.raises(ValueError, match="AddOns JSON gave no score"):
        signals_to_try(addons='{"status": "failed"}')
