"""A check-only CSV import says what the import would do (would add 3, change 1, leave 2 unchanged, skip 2
(lines 4, 9)), counted against the lists as they are, and writes nothing: not one key."""

from __future__ import annotations

import redis

from blocklist import csvio
from blocklist.rules import Blocklist, Policy
from tests.support.store import snapshot

HEADER = "number,scope,treatment,reason,until,permanent\n"


def blocklist(conn: redis.Redis) -> Blocklist:
    bl = Blocklist(conn, Policy())
    bl.block("+14155550106", by="max", reason="old reason")  # line 6 changes its reason
    bl.block("+14155550107", by="max", reason="pranks")  # lines 7 and 8 are as stored
    bl.allow("+14155550199", by="max", reason="our courier")
    bl.block("+14155550108", by="max", reason="pranks", scope="+18005551212")
    return bl


MIXED = (HEADER
         + "+14155550102,,,new caller,,yes\n"  # 2: add
         + "+14155550103,,,new caller,,\n"  # 3: add
         + "+14155550104,,,over,2001-01-01T00:00:00Z,\n"  # 4: ended long ago: skip
         + "+14155550105,,reject,new caller,,\n"  # 5: add
         + "+14155550106,,,new reason,,\n"  # 6: change
         + "+14155550107,,,pranks,,\n"  # 7: unchanged
         + "+14155550108,+18005551212,,pranks,,\n"  # 8: unchanged
         + "+14155550109,,,over,2002-02-02T00:00:00+02:00,\n")  # 9: ended: skip


def test_check_only_says_what_the_import_would_do_and_writes_nothing(redis_conn: redis.Redis) -> None:
    bl = blocklist(redis_conn)
    before = snapshot(redis_conn)
    checked = csvio.import_blocklist(bl, MIXED, by="mia", write=False)
    assert snapshot(redis_conn) == before  # not one key written, read or not
    assert checked.check_only and not checked.written
    assert checked.summary() == ("8 row(s) checked only, nothing written: would add 3, change 1, leave 2 unchanged, "
                                 "skip 2 (lines 4, 9)")
    assert checked.to_dict()["check_only"] is True
    # The import itself then does exactly what the check said.
    done = csvio.import_blocklist(bl, MIXED, by="mia")
    assert (done.added, done.changed, done.unchanged, len(done.skipped)) == (3, 1, 2, 2)
    assert (checked.added, checked.changed, checked.unchanged) == (done.added, done.changed, done.unchanged)
    assert done.summary() == "8 row(s): 3 added, 1 changed, 2 unchanged, 2 skipped"
    again = csvio.import_blocklist(bl, MIXED, by="mia", write=False)
    assert again.summary().endswith("would add 0, change 0, leave 6 unchanged, skip 2 (lines 4, 9)")


def test_three_new_numbers_checked_only(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    text = "number,reason\n+14155550123,a\n+14155550124,b\n+14155550125,c\n"
    result = csvio.import_blocklist(bl, text, by="mia", write=False)
    assert result.summary() == "3 row(s) checked only, nothing written: would add 3, change 0, leave 0 unchanged"
    assert redis_conn.dbsize() == 0


def test_bad_rows_are_said_first_with_what_the_good_rows_would_do(redis_conn: redis.Redis) -> None:
    bl = blocklist(redis_conn)
    text = MIXED + "not-a-number,,,x,,\n"  # line 10
    before = snapshot(redis_conn)
    whole = csvio.import_blocklist(bl, text, by="mia", write=False)
    assert whole.summary() == ("9 row(s) checked only, nothing written: 1 bad row (line 10) would stop the import; "
                               "fix it, or import the good rows with partial mode, which would add 3, change 1, "
                               "leave 2 unchanged, skip 2 (lines 4, 9)")
    partial = csvio.import_blocklist(bl, text, by="mia", partial=True, write=False)
    assert partial.summary() == ("9 row(s) checked only, nothing written: would add 3, change 1, leave 2 unchanged, "
                                 "skip 3 (lines 4, 9, 10)")
    assert snapshot(redis_conn) == before


def test_the_allowlist_is_checked_the_same_way(redis_conn: redis.Redis) -> None:
    bl = blocklist(redis_conn)
    before = snapshot(redis_conn)
    text = "number,reason\n+14155550199,our courier\n+14155550198,the plumber\n"
    result = csvio.import_allowlist(bl, text, by="mia", write=False)
    assert result.summary() == "2 row(s) checked only, nothing written: would add 1, change 0, leave 1 unchanged"
    assert snapshot(redis_conn) == before
