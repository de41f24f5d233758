"""`adopt_imported` (`ivr feeds adopt`) on a store written by today's code: blocks a real CSV import wrote, next to a
flagged block, hand-made and hand-edited ones, move into a feed that screens them the same (to the second of their
end), people's decisions stay, histories keep everything, and a run cut short is finished by the next."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from blocklist import csvio, feed_adopt, keys
from blocklist.clock import format_time, now_ms
from blocklist.feed_adopt import adopt_imported
from blocklist.rules import Blocklist, Policy
from tests.support.store import snapshot
from tests.support.twilio_player import call_sid
from workers.reports.evidence import evidence

LINE = "+18005551212"
REASON = "Carrier X robocall list (Nov 2025)"
META = {"source": "Carrier X robocall list", "licence": "contract 2025-17", "by": "mgr"}
DAY = 86_400_000
FLAGGED, HAND, EDITED, PINNED = "+14155559001", "+14155559002", "+14155559003", "+14155559004"
OTHER_REASON, ISOLATED, ON_LINE = "+14155559005", "+14155559006", "+14155559007"
PEOPLES = (FLAGGED, HAND, EDITED, PINNED, OTHER_REASON, ISOLATED, ON_LINE)


def listed(n: int, start: int = 0) -> list[str]:
    return [f"+1312555{i:04d}" for i in range(start, start + n)]


def build(bl: Blocklist, at: int) -> tuple[list[str], dict[str, int]]:
    """Today's store: 300 numbers from one CSV import (150 permanent, 150 ending on whole seconds days apart), and
    around them what people did: a flag, a block by hand, an edit, a block made permanent by hand, and imported
    blocks with another reason, another treatment or on one line. Returns the permanent ones and the ends."""
    permanent, ending = listed(150), listed(150, 150)
    base = (at // 1000 + 3600) * 1000
    ends = {number: base + (i % 40 + 1) * DAY + i * 1000 for i, number in enumerate(ending)}
    rows = ["number,scope,treatment,reason,until,permanent"]
    rows += [f"{n},,,{REASON},,yes" for n in permanent]
    rows += [f"{n},*,,{REASON},{format_time(ends[n])},no" for n in ending]
    rows += [f"{n},,,{REASON},,yes" for n in (FLAGGED, EDITED)]
    rows += [f"{PINNED},,,{REASON},{format_time(base + DAY)},no"]
    rows += [f"{OTHER_REASON},,,complaint by a customer,,yes", f"{ISOLATED},,isolation,{REASON},,yes",
             f"{ON_LINE},{LINE},,{REASON},,yes"]
    result = csvio.import_blocklist(bl, "\n".join(rows) + "\n", by="importer", at=at)
    assert result.written and result.added == len(rows) - 1, result.summary()
    # at fixed times and with one CallSid, so that two builds are the same store
    bl.flag(FLAGGED, call_sid="CA" + "f" * 32, line=LINE, via="key", agent="+15550001111", reason="laughter",
            at=at + 1000)
    bl.block(HAND, by="mia", reason="obscene, three nights running", at=at + 2000)
    bl.edit_reason(EDITED, reason="confirmed by the carrier's trace", by="mia", at=at + 3000)
    bl.make_permanent(PINNED, reason="police case 2025-311", by="mia", at=at + 4000)
    return permanent, ends


def screen(bl: Blocklist, number: str, at: int | None = None, line: str = LINE) -> tuple[str, str]:
    d = bl.screen(number, line, call_sid(), at=at, write=False)  # unrecorded: 300 calls of one exchange are no campaign
    return d.rule, d.treatment


def peoples_keys(conn: redis.Redis) -> dict[str, Any]:
    """Everything of the blocks people made or touched: their hashes, histories and index members."""
    everything = snapshot(conn)
    mine = {k: v for k, v in everything.items() if any(k.endswith(n) for n in PEOPLES)}
    index = conn.zrange(keys.BLOCK_INDEX, 0, -1, withscores=True)
    return {**mine, "index": [(m, s) for m, s in index if m.rsplit("|", 1)[1] in PEOPLES]}


def test_imported_blocks_move_into_a_feed_and_screen_the_same_to_the_second(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    at = now_ms() - DAY
    permanent, ends = build(bl, at)
    before = {n: screen(bl, n) for n in [*permanent, *ends]}
    assert set(before.values()) == {("number", "reject")}
    histories = {n: bl.history(n) for n in [*permanent, *ends]}
    people = peoples_keys(redis_conn)
    used = int(redis_conn.info("memory")["used_memory"])

    kept = adopt_imported(bl, "carrier-x", **META, reason=REASON, treatment="", age_out_days=0)
    assert (kept.adopted, kept.entries, kept.written) == (150, 150, True)
    assert kept.left == {"flagged": 1, "by_hand": 1, "edited": 1, "end_changed": 1, "other_reason": 1,
                         "other_treatment": 1, "has_end": 150}
    assert kept.summary().startswith("adopted 150 block(s) into feed carrier-x (150 numbers in it now); left 156 "
                                     "block(s) as they were: 1 flagged by an agent, 1 edited by hand, 1 made "
                                     "permanent or temporary by hand, 1 blocked by hand, 1 with another reason, "
                                     "1 with another treatment, 150 with an end time")
    ending = adopt_imported(bl, "carrier-x-ending", **META, reason=REASON, treatment="", age_out_days=30)
    # the 150 permanent ones are in the first feed now, no longer blocks; the permanent block with another
    # treatment cannot go into a feed that ages out
    assert (ending.adopted, ending.entries) == (150, 150)
    assert ending.left == {"flagged": 1, "by_hand": 1, "edited": 1, "end_changed": 1, "other_reason": 1,
                           "permanent": 1}

    for number in [*permanent, *ends]:
        assert screen(bl, number) == ("feed", before[number][1])  # same treatment, now by the feed
        assert bl.entry(number) is None and redis_conn.zscore(keys.BLOCK_INDEX, f"*|{number}") is None
        history = bl.history(number)
        assert history[:-1] == histories[number]  # everything before stays
        assert (history[-1]["action"], history[-1]["feed"], history[-1]["reason"], history[-1]["by"]) == \
            ("feed_adopt", "carrier-x" if number in permanent else "carrier-x-ending",
             f"moved into feed {'carrier-x' if number in permanent else 'carrier-x-ending'}", "mgr")
    for number in permanent:
        [entry] = bl.feed_entries(number)
        assert (entry.feed, entry.until_ms, entry.seen_ms) == ("carrier-x", None, at // 1000 * 1000)
    for number, until in ends.items():
        [entry] = bl.feed_entries(number)
        assert (entry.feed, entry.until_ms) == ("carrier-x-ending", until)
        assert screen(bl, number, at=until - 1000) == ("feed", "reject")
        assert screen(bl, number, at=until) == ("none", "")  # absent at the second the block would have ended
    assert peoples_keys(redis_conn) == people
    assert screen(bl, ISOLATED) == ("number", "isolation") and screen(bl, ON_LINE) == ("number", "reject")

    audit = [a for _id, a in redis_conn.xrange(keys.AUDIT) if a["action"] == "feed_adopt"]
    assert [(a["subject"], a["adopted"], a["left"], a["entries"], a["scope"], a["by"]) for a in audit] == [
        ("carrier-x", "150", "156", "150", "*", "mgr"), ("carrier-x-ending", "150", "6", "150", "*", "mgr")]
    assert "1 flagged by an agent" in audit[0]["reason"] and REASON in audit[0]["reason"]
    assert not [e for _id, e in redis_conn.xrange(keys.EVENTS) if e["type"] == "unblock"]  # not appeals
    assert int(redis_conn.info("memory")["used_memory"]) < used
    assert kept.freed_bytes is not None and ending.freed_bytes is not None and ending.freed_bytes > 0

    store = snapshot(redis_conn)
    again = adopt_imported(bl, "carrier-x-ending", **META, reason=REASON, treatment="")
    assert (again.adopted, again.written, again.entries) == (0, False, 150)
    assert again.summary().startswith("nothing to adopt into feed carrier-x-ending: no block on all lines that a "
                                      "CSV import wrote and that fits it; left 6 block(s) as they were: 1 flagged")
    assert snapshot(redis_conn) == store  # a second run changes nothing


def test_check_only_counts_the_same_and_writes_nothing(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    build(bl, now_ms() - DAY)
    store = snapshot(redis_conn)
    checked = adopt_imported(bl, "carrier-x", **META, reason=None, treatment="", age_out_days=30, write=False)
    assert snapshot(redis_conn) == store
    assert checked.summary().startswith("would adopt 150 block(s) into feed carrier-x (150 numbers in it then); "
                                        "would leave ")
    assert checked.summary().endswith("nothing written (checked only)")
    done = adopt_imported(bl, "carrier-x", **META, reason=None, treatment="", age_out_days=30)
    # every reason: the imported block with another reason counts too, but it is permanent
    assert (checked.adopted, checked.left, checked.entries) == (done.adopted, done.left, done.entries)
    assert done.left["permanent"] == 152 and "other_reason" not in done.left


def test_several_treatments_are_adopted_one_at_a_time(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    build(bl, now_ms() - DAY)
    store = snapshot(redis_conn)
    with pytest.raises(ValueError, match=r"2 treatments \(150 line, 1 isolation\).*--treatment"):
        adopt_imported(bl, "carrier-x", **META, reason=REASON)
    assert snapshot(redis_conn) == store
    isolated = adopt_imported(bl, "carrier-x-isolation", **META, reason=REASON, treatment="isolation")
    assert (isolated.adopted, isolated.treatment, isolated.left["other_treatment"]) == (1, "isolation", 150)
    assert screen(bl, ISOLATED) == ("feed", "isolation")
    # an existing feed keeps its treatment, line and age-out: the blocks must fit it
    with pytest.raises(ValueError, match="treats callers with isolation"):
        adopt_imported(bl, "carrier-x-isolation", **META, reason=REASON, treatment="")
    with pytest.raises(ValueError, match="applies to all lines"):
        adopt_imported(bl, "carrier-x-isolation", **META, reason=REASON, scope=LINE)
    with pytest.raises(ValueError, match="ages entries out after 0 day"):
        adopt_imported(bl, "carrier-x-isolation", **META, reason=REASON, age_out_days=30)
    with pytest.raises(ValueError, match="--source"):
        adopt_imported(bl, "carrier-y", **{**META, "source": " "}, reason=REASON)
    line = adopt_imported(bl, "line-list", **META, reason=REASON, scope=LINE)
    assert (line.adopted, line.left) == (1, {})
    assert screen(bl, ON_LINE) == ("feed", "reject") and screen(bl, ON_LINE, line="+18005550000") == ("none", "")


def test_an_adoption_into_a_feed_in_force_keeps_its_entries(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    permanent, _ends = build(bl, now_ms() - DAY)
    carrier = f"{permanent[0]},7,2025-01-01\n+14155550123,2,2025-06-01\n"
    bl.import_feed("carrier-x", lambda: carrier.splitlines(keepends=True), **META)
    result = adopt_imported(bl, "carrier-x", **META, reason=REASON)
    assert (result.adopted, result.listed_already, result.entries) == (150, 1, 151)
    [kept] = bl.feed_entries(permanent[0])
    assert kept.evidence == 7 and kept.seen_ms > 1_735_689_600_000  # its reports stay; seen when imported
    assert bl.feed_entries("+14155550123")[0].evidence == 2


def normalised(conn: redis.Redis, bl: Blocklist) -> dict[str, Any]:
    """The state an adoption leaves, without what differs between runs (the feed's version, the time it ran)."""
    feeds = {}
    for feed in bl.feeds():
        entries = sorted((e.number, e.evidence, e.seen_ms, e.until_ms) for e in bl.iter_feed(feed.name))
        card = {k: v for k, v in feed.to_dict().items() if k not in ("version", "imported_at", "buckets")}
        feeds[feed.name] = (card, entries)
    histories = {}
    for key in conn.scan_iter(match="ivr:hist:*"):
        items = [json.loads(item) for item in conn.lrange(key, 0, -1)]
        histories[key] = [{k: v for k, v in item.items() if (k, item["action"]) != ("at", "feed_adopt")} for item in items]
    blocks = {key: conn.hgetall(key) for key in conn.scan_iter(match="ivr:block:*") if conn.type(key) == "hash"}
    index = {member for member, _ in conn.zscan_iter(keys.BLOCK_INDEX)}
    return {"feeds": feeds, "histories": histories, "blocks": blocks, "index": index,
            "feed_keys": len(list(conn.scan_iter(match="ivr:feed:*")))}


def test_a_run_cut_short_is_finished_by_the_next_and_ends_as_one_clean_run(redis_conn: redis.Redis,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bl = Blocklist(redis_conn, Policy())
    at = now_ms() - DAY
    build(bl, at)
    monkeypatch.setattr(feed_adopt, "REMOVE_BATCH", 40)
    move_batch = feed_adopt._move_batch
    calls = []

    def killed_after_one_batch(*args: Any) -> list[int]:
        if calls:
            raise KeyboardInterrupt  # as if the operator pressed Ctrl-C (or the process was killed) here
        calls.append(1)
        return move_batch(*args)

    monkeypatch.setattr(feed_adopt, "_move_batch", killed_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        adopt_imported(bl, "carrier-x", **META, reason=REASON, treatment="", age_out_days=30)
    # the feed is in force with every number; 40 blocks moved, the rest are still blocks: no number unscreened
    assert bl.feed("carrier-x").entries == 150  # type: ignore[union-attr]
    assert sum(1 for m in redis_conn.zrange(keys.BLOCK_INDEX, 0, -1) if m.startswith("*|+1312555")) == 260
    assert all(bl.check(n, LINE).blocked for n in listed(300))
    assert redis_conn.get(keys.import_lock("feed-adopt")) is None  # a stopped run frees the next one
    monkeypatch.setattr(feed_adopt, "_move_batch", move_batch)
    version = bl.feed("carrier-x").version  # type: ignore[union-attr]
    second = adopt_imported(bl, "carrier-x", **META, reason=REASON, treatment="", age_out_days=30)
    assert (second.adopted, second.listed_already, second.written) == (110, 110, False)
    assert bl.feed("carrier-x").version == version  # type: ignore[union-attr]  # its entries were right already
    cut_short = normalised(redis_conn, bl)

    redis_conn.flushdb()
    build(bl, at)
    clean = adopt_imported(bl, "carrier-x", **META, reason=REASON, treatment="", age_out_days=30)
    assert clean.adopted == 150
    once = normalised(redis_conn, bl)
    assert cut_short == once


def test_a_block_changed_during_the_adoption_stays_a_block_and_leaves_the_feed(redis_conn: redis.Redis,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    bl = Blocklist(redis_conn, Policy())
    permanent, _ends = build(bl, now_ms() - DAY)
    late, appealed = permanent[0], permanent[1]
    move_batch = feed_adopt._move_batch

    def a_flag_arrives_first(*args: Any) -> list[int]:
        bl.flag(late, call_sid=call_sid(), line=LINE, via="desk", agent="alice", reason="again, tonight")
        bl.edit_reason(appealed, reason="kept: carrier confirmed", by="mia")
        return move_batch(*args)

    monkeypatch.setattr(feed_adopt, "_move_batch", a_flag_arrives_first)
    result = adopt_imported(bl, "carrier-x", **META, reason=REASON, treatment="")
    assert (result.adopted, result.left["changed"], result.entries) == (148, 2, 148)
    assert bl.feed("carrier-x").listed == 148  # type: ignore[union-attr]
    for number in (late, appealed):
        assert bl.entry(number) is not None and bl.feed_entries(number) == []
        assert bl.history(number)[-1]["action"] != "feed_adopt"
    assert bl.unblock(appealed, by="mia", reason="appeal upheld")
    assert screen(bl, appealed) == ("none", "")  # the feed does not block it behind the appeal's back


def test_a_block_that_ends_a_fraction_of_a_second_past_a_whole_one_ends_at_the_next_second(
        redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    until = (now_ms() // 1000 + 10 * 86400) * 1000 + 500
    csvio.import_blocklist(bl, f"number,until\n+14155550123,{format_time(until)}\n", by="importer")
    adopt_imported(bl, "carrier-x", **META, reason=None, age_out_days=1)
    assert screen(bl, "+14155550123", at=until) == ("feed", "reject")  # never ends earlier than the block did
    assert screen(bl, "+14155550123", at=until + 499) == ("feed", "reject")
    assert screen(bl, "+14155550123", at=until + 500) == ("none", "")
    assert bl.history("+14155550123")[-1]["action"] == "feed_adopt"
    assert [h["action"] for h in bl.history("+14155550123", at=until + DAY)] == ["block", "feed_adopt"]


def test_one_adoption_at_a_time(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    build(bl, now_ms() - DAY)
    redis_conn.set(keys.import_lock("feed-adopt"), f"x|{now_ms()}")
    store = snapshot(redis_conn)
    with pytest.raises(RuntimeError, match="another adoption is running"):
        adopt_imported(bl, "carrier-x", **META, reason=REASON, treatment="")
    assert snapshot(redis_conn) == store


def test_the_evidence_pack_keeps_the_block_and_says_where_it_went(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    at = now_ms() - DAY
    _permanent, ends = build(bl, at)
    number, until = next(iter(ends.items()))
    adopt_imported(bl, "carrier-x", **META, reason=REASON, treatment="", age_out_days=7)
    pack = evidence(redis_conn, number, now_ms=until + DAY)  # read after the old end: no expiry is made up
    assert [(h["action"], h["what"]) for h in pack["history"]] == [
        ("block", "blocked (CSV import)"), ("feed_adopt", "moved into a feed")]
    assert pack["history"][0]["by"] == "importer" and pack["history"][0]["reason"] == REASON
    assert pack["history"][1]["reason"] == "moved into feed carrier-x"
    assert [a["action"] for a in pack["audit"]] == ["block"]  # the import's audit record of the number stays
