"""Bulk feeds on a real Redis: import (all or nothing, partial, check only), the screen's lookup with its
explanation, age-out exact to the second, the atomic swap of a new version, appeal, delete, the sweeper, and
what Redis keeps (ziplist buckets)."""

from __future__ import annotations

import random
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest
import redis

from blocklist import feeds, keys
from blocklist.clock import now_ms
from blocklist.feeds import bucket_count, bucket_of, read_rows, text_lines
from blocklist.numbers import normalize
from blocklist.rules import Blocklist, Policy
from tests.support.store import snapshot
from tests.support.twilio_player import call_sid

LINE = "+18005551212"
LINE2 = "+18005550000"
ROBO = "+14155550123"
OTHER = "+14155550199"
META = {"source": "FTC Do Not Call complaints", "licence": "public data", "by": "mgr"}


def import_text(bl: Blocklist, name: str, text: str, **kw: Any) -> feeds.FeedImport:
    return bl.import_feed(name, text_lines(text), **{**META, **kw})


def screen(bl: Blocklist, number: str, line: str = LINE, at: int | None = None) -> Any:
    return bl.screen(number, line, call_sid(), at=at)


def test_a_listed_number_is_treated_at_the_door_and_the_decision_names_the_feed(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    result = import_text(bl, "ftc-dnc", "number,reports,last_seen\n+14155550123,3,2026-11-30\n4155550124,,\n")
    assert result.written and result.entries == 2 and result.rows == 2 and result.ok
    sid = call_sid()
    d = bl.screen(ROBO, LINE, sid)
    assert (d.decision, d.rule, d.treatment) == ("treat", "feed", "reject")
    assert d.detail == "feed ftc-dnc (FTC Do Not Call complaints): 3 reports"
    assert d.explain() == "reject: bulk feed (feed ftc-dnc (FTC Do Not Call complaints): 3 reports)"
    assert redis_conn.hget(keys.call(sid), "feed") == "ftc-dnc"
    assert redis_conn.xrange(keys.EVENTS)[-1][1]["feed"] == "ftc-dnc"
    assert screen(bl, "+14155550124").rule == "feed"  # ten digits read as a North American number
    assert screen(bl, OTHER).rule == "none"


def test_manager_rules_come_first_and_allowlisted_callers_are_never_stopped_by_a_feed(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "carrier", f"{ROBO}\n{OTHER}\n", treatment="linefault")
    bl.block(ROBO, by="m", reason="flagged", duration=3600, treatment="isolation")
    assert (screen(bl, ROBO).rule, screen(bl, ROBO).treatment) == ("number", "isolation")
    bl.allow(OTHER, by="m", reason="customer, appeal upheld")
    assert screen(bl, OTHER).rule == "allowlist"


def test_a_feed_for_one_line_leaves_the_other_lines_alone(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "sales-line", f"{ROBO}\n", scope=LINE, treatment="hangup")
    assert (screen(bl, ROBO, LINE).rule, screen(bl, ROBO, LINE).treatment) == ("feed", "hangup")
    assert screen(bl, ROBO, LINE2).rule == "none"


def test_an_entry_ages_out_to_the_second_and_the_sweeper_gives_the_memory_back(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    seen_s = now_ms() // 1000 - 86400 * 5  # last reported five days ago
    import_text(bl, "complaints", f"number,count,seen\n{ROBO},2,{seen_s}\n{OTHER},1,{now_ms() // 1000}\n",
                age_out_days=30)
    ends = (seen_s + 30 * 86400) * 1000
    assert screen(bl, ROBO, at=ends - 1000).rule == "feed"
    assert "ages out in 1 h" in screen(bl, ROBO, at=ends - 1000).detail
    assert screen(bl, ROBO, at=ends).rule == "none"  # absent from the second it ages out, before any sweep
    [entry] = bl.feed_entries(ROBO)
    assert (entry.evidence, entry.until_ms, entry.active(ends - 1), entry.active(ends)) == (2, ends, True, False)
    assert bl.sweep_feeds(at=ends) == {"complaints": 1}
    assert bl.feed_entries(ROBO) == [] and len(bl.feed_entries(OTHER)) == 1
    assert bl.feed("complaints").swept == 1  # type: ignore[union-attr]


def test_one_bad_row_imports_nothing_and_leaves_the_version_in_force(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "ftc-dnc", f"{ROBO}\n")
    before = snapshot(redis_conn)
    result = import_text(bl, "ftc-dnc", f"{OTHER}\nnot a number\n+14155550100,x\n{OTHER},5,yesterday\n")
    assert not result.written and result.bad_rows == 3
    assert [e.line for e in result.errors] == [2, 3, 4]
    assert "nothing imported" in result.summary()
    assert "write how many reports" in str(result.errors[1])
    assert "ISO 8601" in str(result.errors[2])
    assert snapshot(redis_conn) == before  # the half-written version was deleted, nothing else moved
    assert screen(bl, ROBO).rule == "feed"


def test_a_file_with_no_good_number_never_replaces_the_version_in_force(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "ftc-dnc", f"{ROBO}\n")
    before = snapshot(redis_conn)
    for text in ("", "number,reports\n", "# fetched 2026-12-01\n\n"):
        with pytest.raises(ValueError, match="no numbers in it.*feed ftc-dnc is unchanged"):
            import_text(bl, "ftc-dnc", text)
    every_row_bad = import_text(bl, "ftc-dnc", "garbage\n+1415,x\n", partial=True)
    assert (every_row_bad.written, every_row_bad.entries, every_row_bad.bad_rows) == (False, 0, 2)
    assert "nothing imported" in every_row_bad.summary() and "partial" not in every_row_bad.summary()
    huge = f"{ROBO}\n" + '"' + "9" * (200 * 1024) + '"\n'  # a field past the CSV module's 128 KiB limit
    with pytest.raises(ValueError, match="line 2 cannot be read as CSV.*nothing was imported"):
        import_text(bl, "ftc-dnc", huge)
    assert snapshot(redis_conn) == before  # the lock, the half-written buckets: all gone
    assert screen(bl, ROBO).rule == "feed"


def test_an_import_cut_short_leaves_nothing_behind_once_swept_or_imported_again(
        redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed import process runs no clean-up: its half-written buckets stay. The next import of the feed,
    or the sweeper once the import's lock is gone, deletes them; the version in force is never touched."""
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "ftc-dnc", f"{ROBO}\n")
    before = set(redis_conn.scan_iter("ivr:feed:*"))  # the buckets of the version in force

    def killed(self: Blocklist, *_args: Any) -> int:
        raise SystemExit("killed")  # as if the process died here, after a batch was written

    written = Blocklist._write_feed_batch
    monkeypatch.setattr(Blocklist, "_write_feed_batch", lambda self, *a: (written(self, *a), killed(self))[0])
    monkeypatch.setattr(Blocklist, "_delete_version", lambda self, *a: None)  # a dead process deletes nothing
    for clean_up in ("sweep", "import"):
        with pytest.raises(SystemExit):
            import_text(bl, "ftc-dnc", f"{OTHER}\n+14155550100\n")
        pending = redis_conn.hget(keys.FEEDS_PENDING, "ftc-dnc")
        assert pending is None  # the finally clause ran in-process; a killed process leaves it: put it back
        monkeypatch.undo()
        orphan = [k for k in redis_conn.scan_iter("ivr:feed:ftc-dnc:*") if k not in before]
        assert orphan, "the cut-short import wrote buckets"
        version = orphan[0].split(":")[3]
        redis_conn.hset(keys.FEEDS_PENDING, "ftc-dnc", f"ftc-dnc|{version}|{feeds.bucket_count(3)}")
        assert screen(bl, OTHER).rule == "none" and screen(bl, ROBO).rule == "feed"
        if clean_up == "sweep":
            redis_conn.set(keys.import_lock("feed:ftc-dnc"), "x")
            bl.sweep_feeds()
            assert all(redis_conn.exists(k) for k in orphan), "an import still holding its lock is left alone"
            redis_conn.delete(keys.import_lock("feed:ftc-dnc"))
            bl.sweep_feeds()
            assert set(redis_conn.scan_iter("ivr:feed:*")) == before and redis_conn.hlen(keys.FEEDS_PENDING) == 0
            monkeypatch.setattr(Blocklist, "_write_feed_batch",
                                lambda self, *a: (written(self, *a), killed(self))[0])
            monkeypatch.setattr(Blocklist, "_delete_version", lambda self, *a: None)
        else:
            done = import_text(bl, "ftc-dnc", f"{ROBO}\n")
            assert done.written and not any(redis_conn.exists(k) for k in orphan)
            assert redis_conn.hlen(keys.FEEDS_PENDING) == 0


def test_partial_imports_the_good_rows_and_check_only_writes_nothing(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    checked = import_text(bl, "f", f"{ROBO}\n{ROBO},2\ngarbage\n", write=False)
    assert (checked.check_only, checked.written, checked.entries, checked.duplicates, checked.bad_rows) == \
        (True, False, 1, 1, 1)
    assert redis_conn.exists(keys.FEEDS) == 0
    done = import_text(bl, "f", f"{ROBO}\n{ROBO},2\ngarbage\n", partial=True)
    assert (done.written, done.entries, done.duplicates, done.bad_rows) == (True, 1, 1, 1)
    [entry] = bl.feed_entries(ROBO)
    assert entry.evidence == 3  # a number named twice: its reports add up


def test_a_number_repeated_across_the_file_adds_up_through_the_scratch_files(
        redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Numbers are set aside by group of buckets (in scratch files once a group's buffer fills) and each bucket is
    written whole: a number named far apart still adds up, every bucket is one HSET, and the scratch folder goes."""
    monkeypatch.setattr(feeds, "BUCKET_FILL", 4)  # 11 buckets for 43 rows
    monkeypatch.setattr(feeds, "GROUP_NUMBERS", 8)  # 6 groups of buckets
    monkeypatch.setattr(feeds, "SPOOL_BUFFER", 1)  # every number goes through a scratch file
    monkeypatch.setattr(feeds, "WRITE_BUCKETS", 2)  # several pipelined writes
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    others = [f"+1415555{i:04d}" for i in range(40)]
    text = "\n".join([f"{ROBO},1,2026-01-01", *others[:20], f"{ROBO},4,2026-03-01", *others[20:], f"{ROBO},2,2026-02-01"])
    bl = Blocklist(redis_conn, Policy())
    hsets = []
    written = Blocklist._write_feed_batch
    monkeypatch.setattr(Blocklist, "_write_feed_batch", lambda self, n, v, batch: (hsets.append(dict(batch)),
                                                                                   written(self, n, v, batch))[1])
    set_aside = feeds._Spool._set_aside
    files: list[Path] = []
    monkeypatch.setattr(feeds._Spool, "_set_aside", lambda self, part: (set_aside(self, part),
                                                                       files.append(self._file(part)))[0])
    result = import_text(bl, "f", text + "\n")
    assert len(set(files)) > 2 and all(f.parent.parent == tmp_path for f in files), "scratch files in TMPDIR"
    assert (result.entries, result.duplicates, result.written) == (41, 2, True)
    [entry] = bl.feed_entries(ROBO)
    assert entry.evidence == 7 and entry.seen_ms == feeds.parse_seen("2026-03-01", 0)
    buckets = [bucket for batch in hsets for bucket in batch]
    assert len(buckets) == len(set(buckets)), "each bucket is written once, whole"
    assert len(hsets) > 2 and all(len(batch) <= 2 for batch in hsets)
    assert list(tmp_path.iterdir()) == [], "the scratch folder is deleted"
    assert all(screen(bl, n).rule == "feed" for n in (ROBO, *others))


def test_a_full_disk_while_setting_numbers_aside_says_what_to_do_and_changes_nothing(
        redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "f", f"{ROBO}\n")
    before = snapshot(redis_conn)
    monkeypatch.setattr(feeds, "SPOOL_BUFFER", 1)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    real_open = Path.open

    def no_room(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self.suffix == ".bin" and "a" in mode:
            raise OSError(28, "No space left on device")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", no_room)
    with pytest.raises(OSError, match="No space left on device.*nothing was imported.*TMPDIR"):
        import_text(bl, "f", f"{OTHER}\n+14155550100\n")
    monkeypatch.undo()
    assert snapshot(redis_conn) == before
    assert list(tmp_path.iterdir()) == []


def test_a_new_version_replaces_the_old_one_whole(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "carrier", "\n".join(f"+1415555{i:04d}" for i in range(200)))
    old = bl.feed("carrier")
    assert old is not None
    result = import_text(bl, "carrier", f"{OTHER}\n")
    assert result.replaced == 200 and result.entries == 1
    assert screen(bl, "+14155550001").rule == "none" and screen(bl, OTHER).rule == "feed"
    leftovers = list(redis_conn.scan_iter(match=f"ivr:feed:carrier:{old.version}:*"))
    assert leftovers == []  # the old version's buckets are gone
    audit = [a[1] for a in redis_conn.xrange(keys.AUDIT) if a[1]["action"] == "feed_import"]
    assert [a["entries"] for a in audit] == ["200", "1"] and audit[1]["replaced"] == "200"


def test_the_screen_never_sees_a_half_swapped_feed(redis_conn: redis.Redis) -> None:
    """While versions are swapped again and again, every screen finds the number in one whole version."""
    bl = Blocklist(redis_conn, Policy())
    listed = "\n".join([ROBO] + [f"+1312555{i:04d}" for i in range(500)])
    import_text(bl, "carrier", listed)
    stop = threading.Event()

    def swap() -> None:
        other = Blocklist(redis.Redis(connection_pool=redis_conn.connection_pool), Policy())
        while not stop.is_set():
            import_text(other, "carrier", listed)

    worker = threading.Thread(target=swap)
    worker.start()
    try:
        rules = {screen(bl, ROBO).rule for _ in range(300)}
    finally:
        stop.set()
        worker.join()
    assert rules == {"feed"}


def test_appeal_takes_one_number_out_and_its_history_says_so(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "ftc-dnc", f"{ROBO}\n{OTHER}\n")
    with pytest.raises(ValueError, match="say why"):
        bl.remove_from_feed("ftc-dnc", ROBO, by="mgr", reason=" ")
    assert bl.remove_from_feed("ftc-dnc", ROBO, by="mgr", reason="customer proved ownership")
    assert not bl.remove_from_feed("ftc-dnc", ROBO, by="mgr", reason="again")
    assert screen(bl, ROBO).rule == "none" and screen(bl, OTHER).rule == "feed"
    [entry] = bl.history(ROBO)
    assert (entry["action"], entry["feed"], entry["reason"]) == ("feed_remove", "ftc-dnc", "customer proved ownership")
    assert bl.feed("ftc-dnc").removed == 1  # type: ignore[union-attr]


def test_deleting_a_feed_stops_it_at_once_and_frees_its_buckets(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    import_text(bl, "ftc-dnc", f"{ROBO}\n")
    with pytest.raises(ValueError, match="say why"):
        bl.delete_feed("ftc-dnc", by="mgr", reason="")
    assert bl.delete_feed("ftc-dnc", by="mgr", reason="licence ended") is not None
    assert bl.delete_feed("ftc-dnc", by="mgr", reason="again") is None
    assert screen(bl, ROBO).rule == "none" and bl.feeds() == []
    assert list(redis_conn.scan_iter(match="ivr:feed:ftc-dnc:*")) == []


def test_bad_names_and_settings_are_refused_before_anything_is_read(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    for kw, words in (({"source": ""}, "where the feed comes from"), ({"licence": " "}, "which terms"),
                      ({"age_out_days": -1}, "age-out"), ({"treatment": "explode"}, "unknown"),
                      ({"fetched_at": now_ms() + 3 * 86_400_000}, "future")):
        with pytest.raises(ValueError, match=words):
            import_text(bl, "ok", f"{ROBO}\n", **kw)
    with pytest.raises(ValueError, match="lower-case"):
        import_text(bl, "Bad Name!", f"{ROBO}\n")
    assert redis_conn.keys("ivr:*") == []


def test_buckets_stay_ziplists_and_spread_evenly(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    numbers = [f"+1{npa}555{i:04d}" for npa in (212, 415, 617) for i in range(0, 10000, 3)]
    import_text(bl, "big", "\n".join(numbers))
    feed = bl.feed("big")
    assert feed is not None and feed.entries == len(numbers) and feed.buckets == bucket_count(len(numbers))
    sizes = [redis_conn.hlen(keys.feed_bucket("big", feed.version, b)) for b in range(feed.buckets)]
    assert sum(sizes) == len(numbers) and max(sizes) < 128
    encodings = {redis_conn.object("encoding", keys.feed_bucket("big", feed.version, b)) for b in range(0, feed.buckets, 7)}
    assert encodings == {"ziplist"}
    assert all(redis_conn.hexists(keys.feed_bucket("big", feed.version, bucket_of(n, feed.buckets)), n[1:])
               for n in numbers[:50])


def test_feed_files_read_with_or_without_a_header() -> None:
    rows = list(read_rows(["# comment\n", "\n", "+14155550123,2,2026-11-30\n"]))
    assert [(r.line, r.number, r.evidence, r.seen) for r in rows] == [(3, "+14155550123", "2", "2026-11-30")]
    rows = list(read_rows(["Date,Phone,Complaints\n", "2026-11-30,4155550123,7\n"]))
    assert [(r.number, r.evidence, r.seen) for r in rows] == [("4155550123", "7", "2026-11-30")]


def test_the_short_path_for_north_american_numbers_agrees_with_normalize() -> None:
    rng = random.Random(7)
    samples = [f"+1{rng.randrange(2, 10)}{rng.randrange(10**8, 10**9)}" for _ in range(2000)]
    samples += ["+12125550123", "+18005551212", "+19999999999", "+12000000000"]
    for number in samples:
        assert feeds.feed_number(number, "US") == normalize(number, "US") == number
        assert feeds.feed_number(number[2:], "US") == number  # ten digits
        assert feeds.feed_number(number[1:], "US") == number  # eleven digits with the 1
    for raw in ("+11234567890", "+1212555012", "+447911123456"):  # not the short path's shape: normalize decides
        try:
            expected: str | None = normalize(raw, "US")
        except ValueError:
            expected = None
        if expected is None:
            with pytest.raises(ValueError):
                feeds.feed_number(raw, "US")
        else:
            assert feeds.feed_number(raw, "US") == expected


def test_the_usual_rows_and_the_unusual_ones_read_alike(redis_conn: redis.Redis) -> None:
    """The import's short path (E.164, reports 1-999 or empty, a date seen before) and its long path (anything
    else) store the same values."""
    bl = Blocklist(redis_conn, Policy())
    fetched = feeds.parse_seen("2026-11-30", 0)
    text = ("number,reports,last_seen\n"
            "+14155550120,3,2026-01-01\n"       # short path once the date is known
            "+14155550121,3,2026-01-01\n"
            "+14155550122,1000,2026-01-01\n"    # over the cap: 999
            "+14155550123,05,\n"                # a leading zero; no date: the feed's fetched-at
            " +14155550124 , 2 , 2026-01-01 \n"  # spaces around the cells
            "4155550125,,2026-01-01\n"          # ten digits: North American; no count: one report
            "+14155550121,4,2026-02-01\n")      # named again: the reports add up, the later date counts
    result = import_text(bl, "f", text, fetched_at=fetched, age_out_days=0)
    assert (result.written, result.entries, result.duplicates, result.bad_rows) == (True, 6, 1, 0)
    jan, feb = feeds.parse_seen("2026-01-01", 0), feeds.parse_seen("2026-02-01", 0)
    got = {n: (e.evidence, e.seen_ms) for n in (f"+1415555012{i}" for i in range(6)) for e in bl.feed_entries(n)}
    assert got == {"+14155550120": (3, jan), "+14155550121": (7, feb), "+14155550122": (999, jan),
                   "+14155550123": (5, fetched), "+14155550124": (2, jan), "+14155550125": (1, jan)}
    refused = import_text(bl, "f", "+14155550126,0,2026-01-01\n+14155550127,-2,\n")
    assert not refused.written and [e.line for e in refused.errors] == [1, 2]
    assert all("write how many reports" in str(e) for e in refused.errors)
