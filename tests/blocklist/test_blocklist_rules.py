"""The screening rules on a real Redis: every rule, its precedence, the sanction ladder with real expiry,
appeal, history, and garbage that never reaches Redis."""

from __future__ import annotations

import gc
import json
import threading
import time
from typing import Any

import pytest
import redis

from blocklist import csvio, keys
from blocklist.clock import now_ms
from blocklist.rules import Blocklist, Policy
from tests.support.store import ServerLog, snapshot
from tests.support.twilio_player import call_sid

LINE = "+18005551212"
LINE2 = "+18005550000"
CALLER = "+14155550123"
OTHER = "+14155550199"


def screen(bl: Blocklist, number: str, line: str = LINE) -> Any:
    return bl.screen(number, line, call_sid())


# ---- precedence -----------------------------------------------------------------------------------------
def test_no_rule_lets_the_call_through_and_records_it(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    sid = call_sid()
    d = bl.screen(CALLER, LINE, sid)
    assert (d.decision, d.rule, d.blocked) == ("allow", "none", False)
    events = redis_conn.xrange(keys.EVENTS)
    assert events[-1][1]["type"] == "call" and events[-1][1]["call_sid"] == sid
    assert events[-1][1]["decision"] == "allow"
    assert redis_conn.hget(keys.call(sid), "decision") == "allow"


def test_allowlist_beats_an_exact_block_and_a_prefix(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="abuse")
    bl.add_prefix("+1415", by="m", reason="range")
    assert screen(bl, CALLER).rule == "number"
    bl.allow(CALLER, by="m", reason="VIP customer")
    d = screen(bl, CALLER)
    assert (d.decision, d.rule) == ("allow", "allowlist")
    assert "allowlist" in d.explain()
    assert screen(bl, OTHER).rule == "prefix"  # only the listed number is spared


def test_line_scoped_allowlist_applies_on_that_line_only(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="abuse")
    bl.allow(CALLER, by="m", reason="own branch office", scope=LINE2)
    assert screen(bl, CALLER, LINE2).rule == "allowlist"
    assert screen(bl, CALLER, LINE).blocked


def test_exact_number_beats_prefix(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.add_prefix("+1415555", by="m", reason="range", treatment="isolation")
    bl.block(CALLER, by="m", reason="abuse", treatment="hangup")
    d = screen(bl, CALLER)
    assert (d.rule, d.treatment) == ("number", "hangup")
    d = screen(bl, OTHER)
    assert (d.rule, d.treatment) == ("prefix", "isolation")


def test_line_scoped_block_beats_global_block(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="everywhere", treatment="reject")
    bl.block(CALLER, by="m", reason="this line", treatment="isolation", scope=LINE)
    d = screen(bl, CALLER, LINE)
    assert (d.treatment, d.detail) == ("isolation", f"line {LINE}")
    d = screen(bl, CALLER, LINE2)
    assert (d.treatment, d.detail) == ("reject", "all lines")


def test_line_scoped_block_does_not_touch_other_lines(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="this line only", scope=LINE)
    assert screen(bl, CALLER, LINE).blocked
    assert not screen(bl, CALLER, LINE2).blocked


def test_longest_prefix_wins(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.add_prefix("+1", by="m", reason="country", treatment="hangup")
    bl.add_prefix("+1415", by="m", reason="area", treatment="reject")
    bl.add_prefix("+1415555", by="m", reason="exchange", treatment="isolation")
    d = screen(bl, CALLER)
    assert (d.rule, d.treatment) == ("prefix", "isolation") and "+1415555" in d.detail
    d = screen(bl, "+14152220000")
    assert (d.treatment, d.detail) == ("reject", "+1415 (all lines)")
    assert screen(bl, "+12125550100").treatment == "hangup"
    assert not screen(bl, "+442079460958").blocked


def test_line_scoped_prefix_beats_global_prefix_of_the_same_length(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.add_prefix("+1415", by="m", reason="global", treatment="reject")
    bl.add_prefix("+1415", by="m", reason="line", treatment="linefault", scope=LINE)
    assert screen(bl, CALLER, LINE).treatment == "linefault"
    assert screen(bl, CALLER, LINE2).treatment == "reject"


def test_entry_treatment_overrides_line_default_which_overrides_policy(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(blocked_treatment="reject"))
    bl.block(CALLER, by="m", reason="own treatment", treatment="isolation")
    bl.block(OTHER, by="m", reason="default treatment")
    assert screen(bl, CALLER).treatment == "isolation"
    assert screen(bl, OTHER).treatment == "reject"
    bl.set_line_setting(LINE, "blocked_treatment", "linefault", by="m")
    assert screen(bl, OTHER, LINE).treatment == "linefault"
    assert screen(bl, OTHER, LINE2).treatment == "reject"
    assert screen(bl, CALLER, LINE).treatment == "isolation"
    bl.set_line_setting("*", "blocked_treatment", "hangup", by="m")
    assert screen(bl, OTHER, LINE2).treatment == "hangup"  # global override beats the policy default
    assert screen(bl, OTHER, LINE).treatment == "linefault"  # the line's own still wins


def test_withheld_policy_default_and_per_line(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(withheld_policy="allow"))
    assert screen(bl, "anonymous").decision == "allow"
    bl.set_line_setting(LINE, "withheld_policy", "linefault", by="m")
    d = screen(bl, "anonymous", LINE)
    assert (d.decision, d.rule, d.treatment) == ("treat", "withheld", "linefault")
    assert screen(bl, "anonymous", LINE2).decision == "allow"
    strict = Blocklist(redis_conn, Policy(withheld_policy="reject"))
    assert screen(strict, "anonymous", LINE2).treatment == "reject"
    assert screen(strict, "anonymous", LINE).treatment == "linefault"


def test_withheld_id_is_never_an_identity(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    before = snapshot(redis_conn)
    for raw in ("anonymous", "Restricted", "+266696687", "", "private"):
        with pytest.raises(ValueError, match="withheld"):
            bl.block(raw, by="m", reason="x")
        with pytest.raises(ValueError, match="withheld"):
            bl.allow(raw, by="m", reason="x")
    assert snapshot(redis_conn) == before


def test_burst_puts_caller_on_review_list_by_default(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(burst_calls=2, burst_minutes=10))
    assert screen(bl, CALLER).rule == "none"
    assert screen(bl, CALLER, LINE2).rule == "none"  # a number's window spans every line
    sid = call_sid()
    d = bl.screen(CALLER, LINE, sid)
    assert (d.decision, d.rule, d.treatment) == ("allow", "burst", "")
    assert "review" in d.explain() and "3 calls in 10 min" in d.detail
    review = bl.review_list()
    assert len(review) == 1 and review[0]["number"] == CALLER and review[0]["call_sid"] == sid
    assert bl.dismiss_review(CALLER)
    assert bl.review_list() == []


def test_burst_with_a_treatment_per_line(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(burst_calls=2, burst_minutes=10))
    bl.set_line_setting(LINE, "burst_action", "hangup", by="m")
    for _ in range(2):
        assert not screen(bl, CALLER).blocked
    d = screen(bl, CALLER)
    assert (d.decision, d.rule, d.treatment) == ("treat", "burst", "hangup")
    assert bl.review_list() == []


def test_burst_of_withheld_calls_counts_per_line(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(burst_calls=2, burst_minutes=10, burst_action="isolation"))
    for _ in range(2):
        assert not screen(bl, "anonymous", LINE).blocked
    assert not screen(bl, "anonymous", LINE2).blocked  # another line, another window
    d = screen(bl, "anonymous", LINE)
    assert (d.rule, d.treatment) == ("burst", "isolation")


def test_burst_ignores_calls_outside_the_window_and_allowlisted_callers(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(burst_calls=1, burst_minutes=1, burst_action="reject"))
    old = now_ms() - 2 * 60_000
    bl.screen(CALLER, LINE, call_sid(), at=old)
    assert not screen(bl, CALLER).blocked  # the old call fell out of the 1-minute window
    assert screen(bl, CALLER).blocked
    bl.allow(OTHER, by="m", reason="VIP")
    for _ in range(3):
        assert screen(bl, OTHER).rule == "allowlist"


def test_burst_can_be_turned_off_per_line(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(burst_calls=1, burst_minutes=10, burst_action="reject"))
    bl.set_line_setting(LINE, "burst_calls", "0", by="m")
    for _ in range(3):
        assert not screen(bl, CALLER, LINE).blocked


def test_screen_replays_a_callsid_without_counting_it_twice(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(burst_calls=1, burst_minutes=10, burst_action="reject"))
    sid = call_sid()
    first = bl.screen(CALLER, LINE, sid)
    again = bl.screen(CALLER, LINE, sid)
    assert not first.replay and again.replay and again.decision == first.decision == "allow"
    assert redis_conn.zcard(keys.burst(keys.GLOBAL, CALLER)) == 1
    assert redis_conn.xlen(keys.EVENTS) == 1


def test_check_explains_and_writes_nothing(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="abuse", treatment="isolation", scope=LINE)
    before = snapshot(redis_conn)
    d = bl.check("(415) 555-0123", LINE)
    assert (d.rule, d.treatment) == ("number", "isolation")
    assert d.explain() == f"isolation: number rule (line {LINE})"
    assert bl.check("415-555-0123", LINE2).decision == "allow"
    assert snapshot(redis_conn) == before


def test_screen_is_one_round_trip_with_ten_thousand_prefix_rules(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    rows = "number,treatment,reason\n" + "".join(f"+1{212 + i // 1000}{i % 1000:03d}*,hangup,range {i}\n"
                                                for i in range(10_000))
    result = csvio.import_blocklist(bl, rows, by="m")
    assert result.added == 10_000 and redis_conn.hlen(keys.PREFIXES) == 10_000
    bl.add_prefix("+1215", by="m", reason="short", treatment="reject")
    screen(bl, "+12155550100")  # loads the script once
    with ServerLog(redis_conn) as log:  # what the Redis server saw: its MONITOR and its count of reads
        d = screen(bl, "+12150420123")
    assert [command.split(" ", 1)[0].upper() for command in log.sent] == ["EVALSHA"], log.sent
    assert log.reads == 1  # one command, in one read: one round trip
    assert (d.rule, d.treatment, d.detail) == ("prefix", "hangup", "+1215042 (all lines)")


def held_client_id(connection: redis.connection.Connection) -> int:
    connection.send_command("CLIENT", "ID")
    return int(connection.read_response())


def test_screen_recovers_from_a_lost_script_and_a_dropped_connection(redis_url: str,
                                                                     redis_conn: redis.Redis) -> None:
    """The screen runs EVALSHA on a connection its thread keeps (blocklist.store.FastScript): a Redis that lost
    its scripts (restart, failover) gets the script again; a connection Redis closed is replaced before the call;
    a hung Redis fails fast on the webhook client (no silent retry: the caller is let through) and its late reply
    is dropped."""
    from blocklist.store import connect

    redis_conn.hset(keys.block(keys.GLOBAL, CALLER), mapping={"treatment": "hangup"})
    webhook_client = connect(redis_url, socket_timeout=0.5)  # as ivr/extensions.py builds the fast client
    bl = Blocklist(webhook_client, Policy())
    assert screen(bl, CALLER).treatment == "hangup"

    redis_conn.script_flush()
    assert redis_conn.script_exists(bl._screen.script.sha) == [False]
    assert screen(bl, CALLER).treatment == "hangup"  # loaded again, and run
    assert redis_conn.script_exists(bl._screen.script.sha) == [True]

    held = bl._screen._connection()  # the connection this thread screens on (kept between calls)
    before = held_client_id(held)
    assert redis_conn.client_kill_filter(_type="normal", skipme=True) >= 1  # every client but ours, as a restart
    assert screen(bl, CALLER).treatment == "hangup"  # the closed socket is seen before the call, and replaced
    assert held_client_id(held) != before

    redis_conn.client_pause(1200)  # Redis hangs: the webhook client gives up after its 0.5 s, no retry
    with pytest.raises(redis.TimeoutError):
        screen(bl, CALLER)
    time.sleep(0.8)
    assert screen(bl, OTHER).decision == "allow"  # the late reply to the timed-out call is never read as this one

    recorded = [fields["number"] for _, fields in redis_conn.xrange(keys.EVENTS)]
    assert recorded[:3] == [CALLER, CALLER, CALLER] and recorded[-1] == OTHER
    webhook_client.close()


def test_each_thread_keeps_one_connection_and_gives_it_back_when_it_ends(redis_url: str) -> None:
    """The screen's threads keep a connection each between calls (no pool checkout per call): two threads
    screening at once use two, a thread's later calls reuse its own, and a thread that ends gives its
    connection back to the pool. A stray reply on a kept connection is never read as the next call's."""
    from blocklist.store import connect

    webhook_client = connect(redis_url, socket_timeout=0.5)
    bl = Blocklist(webhook_client, Policy())
    pool = webhook_client.connection_pool
    seen: dict[str, list[int]] = {}
    both_in = threading.Barrier(2)

    def screen_twice(name: str) -> None:
        ids = seen.setdefault(name, [])
        for _ in range(2):
            assert screen(bl, CALLER).decision == "allow"
            ids.append(held_client_id(bl._screen._connection()))
            both_in.wait(5)  # both threads hold theirs at once

    workers = [threading.Thread(target=screen_twice, args=(name,)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert len(set(seen["a"])) == 1 and len(set(seen["b"])) == 1 and seen["a"][0] != seen["b"][0]
    gc.collect()  # the threads' storage is gone with them: their connections are back in the pool
    assert len(pool._in_use_connections) == 0 and len(pool._available_connections) == 2

    conn = bl._screen._connection()
    conn.send_command("PING")  # a reply nobody reads, as a crash between send and read would leave
    time.sleep(0.05)
    assert screen(bl, OTHER).decision == "allow"  # its own reply, not the stray PONG
    webhook_client.close()


# ---- the sanction ladder with real expiry --------------------------------------------------------------
def wait_for_expiry(conn: redis.Redis, key: str) -> None:
    """Sleep exactly as long as the key has left to live, then prove Redis removed it."""
    left = conn.pttl(key)
    assert left > 0
    time.sleep(left / 1000 + 0.02)
    assert not conn.exists(key)


def test_ladder_first_second_third_with_real_expiry(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(ladder=(1, 2, None)))
    key = keys.block(keys.GLOBAL, CALLER)
    sid1 = call_sid()
    first = bl.flag(CALLER, call_sid=sid1, line=LINE, via="key", agent="+15550001111", reason="obscene")
    assert (first.status, first.blocked, first.step) == ("flagged", True, 1)
    assert first.until_ms is not None and 0 < redis_conn.pttl(key) <= 1000
    assert screen(bl, CALLER).rule == "number"
    wait_for_expiry(redis_conn, key)  # Redis lifts the block by itself: no job, no cron
    assert bl.check(CALLER, LINE).decision == "allow"

    second = bl.flag(CALLER, call_sid=call_sid(), line=LINE, via="desk", agent="alice", reason="again")
    assert second.step == 2 and second.until_ms is not None and 1000 < redis_conn.pttl(key) <= 2000
    assert bl.check(CALLER, LINE).blocked
    wait_for_expiry(redis_conn, key)
    assert bl.check(CALLER, LINE).decision == "allow"

    third = bl.flag(CALLER, call_sid=call_sid(), line=LINE, via="key", agent="+15550001111", reason="third")
    assert (third.step, third.until_ms) == (3, None)
    assert redis_conn.pttl(key) == -1 and bl.entry(CALLER).until_ms is None  # type: ignore[union-attr]
    assert bl.strikes(CALLER) == 3

    actions = [(h["action"], h["by"]) for h in bl.history(CALLER)]
    assert actions == [("flag", "+15550001111"), ("block", "+15550001111"), ("expire", "system"),
                       ("flag", "alice"), ("block", "alice"), ("expire", "system"),
                       ("flag", "+15550001111"), ("block", "+15550001111")]
    expiries = [h for h in bl.history(CALLER) if h["action"] == "expire"]
    assert [e["at"] for e in expiries] == [first.until_ms, second.until_ms]


def test_flag_while_blocked_does_not_climb_the_ladder(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(ladder=(3600, 86400, None)))
    first = bl.flag(CALLER, call_sid=call_sid(), line=LINE, via="key", agent="a1", reason="group call 1")
    parallel = bl.flag(CALLER, call_sid=call_sid(), line=LINE2, via="key", agent="a2", reason="group call 2")
    assert (parallel.blocked, parallel.step, parallel.until_ms) == (True, 1, first.until_ms)
    assert bl.strikes(CALLER) == 1
    last = bl.history(CALLER)[-1]
    assert last["action"] == "flag" and last["by"] == "a2" and "already blocked" in last["outcome"]


def test_flag_is_once_per_call(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    sid = call_sid()
    assert bl.flag(CALLER, call_sid=sid, line=LINE, via="key", agent="a").status == "flagged"
    again = bl.flag(CALLER, call_sid=sid, line=LINE, via="desk", agent="a")
    assert (again.status, again.via) == ("duplicate", "key")
    assert bl.strikes(CALLER) == 1


def test_flag_of_a_withheld_caller_records_but_blocks_nothing(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    result = bl.flag("anonymous", call_sid=call_sid(), line=LINE, via="key", agent="a", reason="obscene")
    assert (result.status, result.blocked) == ("flagged", False)
    assert not list(redis_conn.scan_iter(match="ivr:block:*"))
    assert redis_conn.xrange(keys.EVENTS)[-1][1]["type"] == "flag"


def test_flag_keeps_a_permanent_manual_block_permanent(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(ladder=(60, None)))
    bl.block(CALLER, by="manager", reason="police case", treatment="isolation")
    result = bl.flag(CALLER, call_sid=call_sid(), line=LINE, via="desk", agent="a")
    assert result.until_ms is None and redis_conn.pttl(keys.block(keys.GLOBAL, CALLER)) == -1
    assert bl.entry(CALLER).treatment == "isolation"  # type: ignore[union-attr]


# ---- managers: appeal, edits, history ------------------------------------------------------------------
def test_appeal_unblocks_and_history_survives(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    sid = call_sid()
    bl.flag(CALLER, call_sid=sid, line=LINE, via="key", agent="+15550001111", reason="nonsense, laughter")
    assert bl.unblock(CALLER, by="manager mia", reason="customer proved it was a pocket dial", forgive=True)
    assert bl.check(CALLER, LINE).decision == "allow"
    assert bl.strikes(CALLER) == 0
    history = bl.history(CALLER)
    assert [h["action"] for h in history] == ["flag", "block", "unblock"]
    flag, block, unblock = history
    assert flag["call_sid"] == sid and flag["role"] == "agent" and flag["reason"] == "nonsense, laughter"
    assert block["call_sid"] == sid and block["step"] == 1
    assert unblock["by"] == "manager mia" and unblock["role"] == "manager" and unblock["forgive"] is True
    assert "pocket dial" in unblock["reason"] and isinstance(unblock["at"], int)
    # An unblock of a number that is not blocked changes nothing, not even its history.
    before = snapshot(redis_conn)
    assert bl.unblock(CALLER, by="mia", reason="again") is False
    assert snapshot(redis_conn) == before
    # Re-blocking appends; nothing earlier is lost.
    bl.block(CALLER, by="mia", reason="back at it", duration=3600)
    assert [h["action"] for h in bl.history(CALLER)] == ["flag", "block", "unblock", "block"]


def test_unblock_needs_a_reason_and_writes_nothing_without_one(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="abuse")
    before = snapshot(redis_conn)
    with pytest.raises(ValueError, match="say why"):
        bl.unblock(CALLER, by="m", reason="  ")
    assert snapshot(redis_conn) == before


def test_edit_reason_permanent_temporary(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    key = keys.block(keys.GLOBAL, CALLER)
    bl.block(CALLER, by="m", reason="first words", duration=600)
    edited = bl.edit_reason(CALLER, reason="threatened an agent", by="mia")
    assert edited.reason == "threatened an agent" and edited.until_ms is not None
    assert 0 < redis_conn.pttl(key) <= 600_000  # an edit keeps the block's end
    assert bl.make_permanent(CALLER, by="mia", reason="police report filed").until_ms is None
    assert redis_conn.pttl(key) == -1
    temp = bl.make_temporary(CALLER, seconds=60, by="mia", reason="police closed the case")
    assert temp.until_ms is not None and 0 < redis_conn.pttl(key) <= 60_000
    assert bl.entry(CALLER).reason == "threatened an agent"  # type: ignore[union-attr]
    actions = [(h["action"], h["by"]) for h in bl.history(CALLER)]
    assert actions == [("block", "m"), ("edit", "mia"), ("permanent", "mia"), ("temporary", "mia")]


def test_edits_on_a_block_that_is_gone_raise_and_write_nothing(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="short", duration=1)
    redis_conn.pexpire(keys.block(keys.GLOBAL, CALLER), 1)
    time.sleep(0.02)
    before = snapshot(redis_conn)
    for change in (lambda: bl.edit_reason(CALLER, reason="x", by="m"),
                   lambda: bl.make_permanent(CALLER, by="m", reason="x"),
                   lambda: bl.make_temporary(CALLER, seconds=5, by="m", reason="x")):
        with pytest.raises(LookupError, match="not blocked"):
            change()
    assert snapshot(redis_conn) == before


def test_history_synthesises_the_expiry_of_a_manual_block(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    at = now_ms() - 5000
    bl.block(CALLER, by="mia", reason="cooling off", until_ms=at + 3000, at=at - 1)
    history = bl.history(CALLER)
    assert [h["action"] for h in history] == ["block", "expire"]
    assert history[1] == {"at": at + 3000, "action": "expire", "by": "system", "role": "system",
                          "reason": "block period ended", "scope": "*"}
    assert bl.entries(CALLER) == [] and bl.list_blocks() == []


def test_list_and_index_skip_expired_blocks(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="m", reason="gone soon", duration=1)
    bl.block(OTHER, by="m", reason="stays", scope=LINE)
    redis_conn.pexpire(keys.block(keys.GLOBAL, CALLER), 1)
    time.sleep(0.02)
    assert [e.number for e in bl.list_blocks()] == [OTHER]
    assert [e.number for e in bl.iter_blocks()] == [OTHER]
    assert bl.prune_index() == 1


def test_allowlist_add_show_remove(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.allow("(415) 555-0123", by="mia", reason="VIP")
    bl.allow(CALLER, by="mia", reason="branch", scope=LINE)
    assert [a["scope"] for a in bl.allow_entries(CALLER)] == ["*", LINE]
    assert bl.disallow(CALLER, by="mia", reason="no longer VIP")
    before = snapshot(redis_conn)
    assert bl.disallow(CALLER, by="mia", reason="again") is False
    assert snapshot(redis_conn) == before
    assert [h["action"] for h in bl.history(CALLER)] == ["allow", "allow", "disallow"]


def test_effective_settings_line_then_global_then_policy(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(withheld_policy="allow", burst_calls=5))
    bl.set_line_setting("*", "burst_calls", "9", by="m")
    bl.set_line_setting(LINE, "withheld_policy", "isolation", by="m")
    eff = bl.effective_settings(LINE)
    assert (eff["withheld_policy"], eff["burst_calls"], eff["blocked_treatment"]) == ("isolation", "9", "reject")
    assert bl.effective_settings(LINE2)["withheld_policy"] == "allow"
    bl.set_line_setting(LINE, "withheld_policy", "", by="m")
    assert bl.line_settings(LINE) == {}


# ---- garbage never reaches Redis --------------------------------------------------------------------------
GARBAGE = ["hello", "+1", "12345678901234567890123", "=cmd|' /C calc'!A0", "+1 415 555 0123; DROP", "0" * 80,
           "+999 123", "☎ 415 555 0123"]


@pytest.mark.parametrize("raw", GARBAGE)
def test_garbage_numbers_are_refused_with_a_reason_and_nothing_is_written(redis_conn: redis.Redis, raw: str) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(OTHER, by="m", reason="existing")
    before = snapshot(redis_conn)
    operations = [
        lambda: bl.block(raw, by="m", reason="x"),
        lambda: bl.allow(raw, by="m", reason="x"),
        lambda: bl.unblock(raw, by="m", reason="x"),
        lambda: bl.disallow(raw, by="m", reason="x"),
        lambda: bl.check(raw, LINE),
        lambda: bl.screen(raw, LINE, call_sid()),
        lambda: bl.flag(raw, call_sid=call_sid(), line=LINE, via="key", agent="a"),
        lambda: bl.block(OTHER, by="m", reason="x", scope=raw),
        lambda: bl.history(raw),
    ]
    for operation in operations:
        with pytest.raises(ValueError) as info:
            operation()
        assert len(str(info.value)) > 15  # a sentence a person can act on, not a bare code
    assert snapshot(redis_conn) == before


@pytest.mark.parametrize("raw", ["hello", "1415", "+0123", "+1234567890123456", "+14a5", "", "*"])
def test_garbage_prefixes_are_refused_and_nothing_is_written(redis_conn: redis.Redis, raw: str) -> None:
    bl = Blocklist(redis_conn, Policy())
    before = snapshot(redis_conn)
    with pytest.raises(ValueError, match="prefix"):
        bl.add_prefix(raw, by="m", reason="x")
    assert snapshot(redis_conn) == before


def test_bad_settings_and_treatments_are_refused_and_nothing_is_written(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    before = snapshot(redis_conn)
    bad = [
        (lambda: bl.block(CALLER, by="m", reason="x", treatment="shout"), "treatment"),
        (lambda: bl.block(CALLER, by="m", reason="x", duration=-5), "positive"),
        (lambda: bl.block(CALLER, by="m", reason="x", until_ms=now_ms() - 1000), "past"),
        (lambda: bl.add_prefix("+1415", by="m", reason="x", treatment="shout"), "treatment"),
        (lambda: bl.set_line_setting(LINE, "withheld_policy", "shout", by="m"), "withheld_policy"),
        (lambda: bl.set_line_setting(LINE, "burst_calls", "many", by="m"), "whole number"),
        (lambda: bl.set_line_setting(LINE, "colour", "red", by="m"), "unknown line setting"),
        (lambda: bl.set_line_setting("anonymous", "burst_calls", "3", by="m"), "line"),
        (lambda: bl.flag(CALLER, call_sid="", line=LINE, via="key", agent="a"), "CallSid"),
    ]
    for operation, words in bad:
        with pytest.raises(ValueError, match=words):
            operation()
    assert snapshot(redis_conn) == before


def test_history_entries_are_json_with_who_when_why(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    bl.block(CALLER, by="mia", reason="abuse\x00\x07 with control characters")
    raw = redis_conn.lrange(keys.history(CALLER), 0, -1)
    entry = json.loads(raw[0])
    assert entry["by"] == "mia" and entry["role"] == "manager" and entry["reason"] == "abuse with control characters"
    assert abs(entry["at"] - now_ms()) < 5000


def test_prefix_rules_are_found_whether_or_not_their_lengths_are_indexed(redis_conn: redis.Redis) -> None:
    """The screen looks up only the lengths in the index once it is complete; rules written before the index
    existed (no 'indexed' member) are still found at every length, and indexing them changes no decision."""
    bl = Blocklist(redis_conn, Policy())
    pipe = redis_conn.pipeline()
    for prefix, treatment in (("+1415", "reject"), ("+1212555", "hangup"), ("+44", "linefault")):
        bl._prefix_ops(pipe, prefix, keys.GLOBAL, treatment=treatment, by="m", reason="older", role="manager", at=1)
    pipe.execute()
    redis_conn.delete(keys.PREFIX_LENGTHS)  # as a version without the index left them
    callers = {CALLER: "reject", "+12125550100": "hangup", "+442079460958": "linefault", "+13125550100": ""}
    before = {number: screen(bl, number).treatment for number in callers}
    assert before == callers
    bl.ensure_prefix_index()
    assert redis_conn.smembers(keys.PREFIX_LENGTHS) == {"indexed", "3", "5", "8"}
    assert {number: screen(bl, number).treatment for number in callers} == callers
    bl.add_prefix("+1312", by="m", reason="new length? no: 5 again", treatment="isolation")
    bl.add_prefix("+131255", by="m", reason="a new length", treatment="hangup", scope=LINE)
    assert redis_conn.smembers(keys.PREFIX_LENGTHS) == {"indexed", "3", "5", "7", "8"}
    assert screen(bl, "+13125550100", LINE).detail == "+131255 on line " + LINE
    assert screen(bl, "+13125550100", LINE2).treatment == "isolation"
    assert bl.remove_prefix("+1212555", by="m", reason="appeal")
    assert not screen(bl, "+12125550100").blocked  # its length stays indexed: a lookup more, never a miss
    assert screen(bl, "+12125550100", LINE).treatment == ""
    assert screen(bl, "+14155550000").treatment == "reject"


def test_app_start_indexes_older_range_rules(app_env: dict[str, str], redis_conn: redis.Redis,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr import create_app
    redis_conn.hset(keys.PREFIXES, "*|+1415", json.dumps({"treatment": "reject"}))
    for name, value in app_env.items():
        monkeypatch.setenv(name, value)
    create_app()
    assert redis_conn.smembers(keys.PREFIX_LENGTHS) == {"indexed", "5"}


def test_the_screens_languages_are_the_prompts_languages() -> None:
    """screen.lua keeps its own table of the languages it may choose: it must be prompts.LANGUAGES."""
    import re

    import prompts
    from blocklist import scripts

    body = re.search(r"local function first_known\(\.\.\.\)(.*?)\nend\n", scripts.source("screen"), re.S).group(1)  # type: ignore[union-attr]
    assert set(re.findall(r"c == '(\w+)'", body)) == set(prompts.LANGUAGES)


def test_burst_window_counts_only_recent_calls_and_stays_bounded(redis_conn: redis.Redis) -> None:
    """The window is trimmed only when its raw count passes the limit: stale calls never count, and what
    stays in the key is at most the limit plus the calls within the window."""
    bl = Blocklist(redis_conn, Policy(burst_calls=3, burst_minutes=1, burst_action="reject"))
    start = now_ms() - 60 * 60_000
    for i in range(12):  # one call every 2 minutes: never more than one within a minute
        assert not bl.screen(CALLER, LINE, call_sid(), at=start + i * 120_000).blocked
        assert redis_conn.zcard(keys.burst(keys.GLOBAL, CALLER)) <= 4
    at = start + 12 * 120_000
    decisions = [bl.screen(CALLER, LINE, call_sid(), at=at + i).blocked for i in range(4)]
    assert decisions == [False, False, False, True]  # the 4th call within the minute passes the limit of 3
    assert redis_conn.zcard(keys.burst(keys.GLOBAL, CALLER)) == 4  # the stale ones were trimmed
