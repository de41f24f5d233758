"""`ivr feeds ...` through click's CliRunner against a real Redis: import with its progress bar, the check's
explanation, show, export that imports back the same, appeal, delete, sweep, and bad input that changes nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from blocklist.clock import now_ms
from ivr.cli import main
from tests.support.store import snapshot

LINE = "+18005551212"
ROBO = "+14155550123"
OTHER = "+14155550199"
META = ("--source", "Carrier robocall list", "--licence", "contract 2026-114")


@pytest.fixture
def run(redis_url: str, redis_conn: redis.Redis) -> Any:
    def invoke(*args: str, code: int = 0, stdin: str | None = None) -> Result:
        result = CliRunner().invoke(main, list(args), env={"REDIS_URL": redis_url}, input=stdin,
                                    catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def feed_file(tmp_path: Path, rows: list[str], name: str = "feed.csv") -> str:
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_import_then_check_show_and_list_say_it_is_a_feed(run: Any, tmp_path: Path) -> None:
    path = feed_file(tmp_path, ["number,reports,last_seen", f"{ROBO},4,2026-11-30", "4155550124,,"])
    out = run("feeds", "import", "carrier", path, *META, "--age-out-days", "3650").stdout
    assert out.startswith("feed carrier: 2 number(s) from 2 row(s)")
    check = run("blocklist", "check", ROBO, "--line", LINE).stdout
    assert check.splitlines()[0].startswith(
        f"{ROBO} -> {LINE}: reject: bulk feed (feed carrier (Carrier robocall list): 4 reports, ages out in ")
    assert "not by a manager" in check
    show = run("feeds", "show", ROBO).stdout
    assert show.startswith(f"{ROBO} in feed carrier: 4 report(s), last 30 Nov 2026")
    assert "in feed carrier (not a manager block): 4 report(s)" in run("blocklist", "show", ROBO).stdout
    listing = run("feeds", "list").stdout
    assert listing.startswith("carrier: 2 numbers from Carrier robocall list (licence: contract 2026-114)")
    cards = json.loads(run("feeds", "list", "--json").stdout)
    assert [(c["name"], c["entries"], c["age_out_days"]) for c in cards] == [("carrier", 2, 3650)]


def test_a_large_import_shows_progress_and_export_imports_back_the_same(run: Any, tmp_path: Path,
                                                                        redis_conn: redis.Redis) -> None:
    rows = [f"+1312555{i:04d},{i % 9 + 1},2026-10-{i % 28 + 1:02d}" for i in range(3000)]
    result = run("feeds", "import", "big", feed_file(tmp_path, rows), *META)
    assert "checking" in result.stderr and "writing" in result.stderr  # a bar per phase on a terminal; labels elsewhere
    exported = tmp_path / "out.csv"
    run("feeds", "export", "big", str(exported))
    back = list(csv.reader(io.StringIO(exported.read_text())))
    assert back[0] == ["number", "reports", "last_seen"] and len(back) == 3001
    assert sorted((r[0], r[1]) for r in back[1:]) == sorted((r.split(",")[0], r.split(",")[1]) for r in rows)
    first = json.loads(run("feeds", "list", "--json").stdout)[0]
    run("feeds", "import", "big", str(exported), *META)  # the export imports back: same numbers, same reports
    again = run("feeds", "export", "big").stdout
    assert sorted(again.splitlines()) == sorted(exported.read_text().splitlines())
    assert json.loads(run("feeds", "list", "--json").stdout)[0]["version"] != first["version"]


def test_a_bad_file_changes_nothing_and_says_what_to_fix(run: Any, tmp_path: Path, redis_conn: redis.Redis) -> None:
    run("feeds", "import", "carrier", feed_file(tmp_path, [ROBO]), *META)
    before = snapshot(redis_conn)
    bad = feed_file(tmp_path, [OTHER, "garbage", f"{OTHER},-3"], "bad.csv")
    result = run("feeds", "import", "carrier", bad, *META, code=2)
    assert "line 2:" in result.stderr and "line 3: evidence '-3'" in result.stderr
    assert "nothing imported, feed carrier unchanged" in result.stderr
    assert snapshot(redis_conn) == before
    assert "--source" in run("feeds", "import", "carrier", bad, "--licence", "x", code=2).stderr
    assert "lower-case" in run("feeds", "import", "Bad Name", bad, *META, code=2).stderr
    assert "--fetched-at" in run("feeds", "import", "carrier", bad, *META, "--fetched-at", "soon", code=2).stderr
    assert snapshot(redis_conn) == before
    out = run("feeds", "import", "carrier", bad, *META, "--partial").stdout
    assert "1 number(s) from 3 row(s)" in out and "2 bad row(s) left out" in out
    assert "replaced the previous version (1 number(s))" in out


def test_appeal_delete_and_sweep(run: Any, tmp_path: Path, redis_conn: redis.Redis) -> None:
    old = (now_ms() - 40 * 86_400_000) // 1000
    run("feeds", "import", "complaints",
        feed_file(tmp_path, [f"{ROBO},1,{old}", f"{OTHER},2,{now_ms() // 1000}"]), *META, "--age-out-days", "30")
    # last reported 40 days ago: aged out already, before any sweep
    assert run("blocklist", "check", ROBO).stdout.startswith(f"{ROBO} -> all lines: allow: no rule matches")
    assert run("feeds", "sweep").stdout == "complaints: 1 aged-out number(s) removed\n"
    assert "reason" in run("feeds", "remove", "complaints", OTHER, code=2).stderr.lower()
    assert run("feeds", "remove", "complaints", OTHER, "-r", "owner proved it").stdout == \
        f"{OTHER} taken out of feed complaints\n"
    assert "does not list" in run("feeds", "remove", "complaints", OTHER, "-r", "again", code=2).stderr
    assert "feed_remove" in run("blocklist", "history", OTHER).stdout
    assert run("feeds", "delete", "complaints", "-r", "licence ended").stdout == \
        "feed complaints deleted (0 numbers)\n"  # one aged out and was swept, one was taken out
    assert "no feed complaints" in run("feeds", "delete", "complaints", "-r", "again", code=2).stderr
    assert redis_conn.keys("ivr:feed:*") == []


def test_import_from_stdin(run: Any) -> None:
    out = run("feeds", "import", "piped", "-", *META, stdin=f"{ROBO}\n{OTHER}\n").stdout
    assert out.startswith("feed piped: 2 number(s) from 2 row(s)")


def blocks_file(tmp_path: Path, numbers: list[str], reason: str = "Carrier X list") -> str:
    rows = ["number,scope,treatment,reason,until,permanent", *(f"{n},,,{reason},,yes" for n in numbers)]
    return feed_file(tmp_path, rows, "blocks.csv")


def test_adopt_moves_imported_blocks_into_a_feed_and_says_what_it_left(run: Any, tmp_path: Path,
                                                                       redis_conn: redis.Redis) -> None:
    numbers = [f"+1312555{i:04d}" for i in range(1200)]
    run("blocklist", "import", blocks_file(tmp_path, numbers))
    run("blocklist", "add", OTHER, "-r", "obscene, by hand", "--permanent")
    run("blocklist", "reason", numbers[0], "confirmed by the carrier")
    store = snapshot(redis_conn)
    checked = run("feeds", "adopt", "carrier", *META, "--reason", "Carrier X list", "--check-only").stdout
    assert checked == ("would adopt 1199 block(s) into feed carrier (1,199 numbers in it then); would leave 2 "
                       "block(s) as they were: 1 edited by hand, 1 blocked by hand; nothing written (checked only)\n")
    assert snapshot(redis_conn) == store

    result = run("feeds", "adopt", "carrier", *META, "--reason", "Carrier X list")
    assert result.stdout.startswith("adopted 1199 block(s) into feed carrier (1,199 numbers in it now); left 2 "
                                    "block(s) as they were: 1 edited by hand, 1 blocked by hand; the store holds "
                                    "about ")
    assert result.stdout.rstrip().endswith(" less")
    assert "reading blocks" in result.stderr and "moving blocks into the feed" in result.stderr  # progress bars
    check = run("blocklist", "check", numbers[1]).stdout
    assert check.startswith(f"{numbers[1]} -> all lines: reject: bulk feed (feed carrier (Carrier robocall list): 1 report)")
    assert run("blocklist", "check", numbers[0]).stdout.startswith(f"{numbers[0]} -> all lines: reject: number rule")
    history = run("blocklist", "history", numbers[1]).stdout.splitlines()
    assert len(history) == 2 and "  block " in history[0] and "  feed_adopt by " in history[1], history
    assert history[1].endswith("moved into feed carrier")
    assert "feed_adopt" in [a["action"] for _id, a in redis_conn.xrange("ivr:audit")]

    store = snapshot(redis_conn)
    again = run("feeds", "adopt", "carrier", *META, "--all-imported", "--json").stdout
    assert (json.loads(again)["adopted"], json.loads(again)["left"]) == (0, {"edited": 1, "by_hand": 1})  # exit 0
    assert run("feeds", "adopt", "carrier", *META, "--all-imported").stdout == (
        "nothing to adopt into feed carrier: no block on all lines that a CSV import wrote and that fits it; left 2 "
        "block(s) as they were: 1 edited by hand, 1 blocked by hand; nothing changed\n")
    assert snapshot(redis_conn) == store


def test_adopt_refuses_what_it_cannot_do_and_changes_nothing(run: Any, tmp_path: Path,
                                                             redis_conn: redis.Redis) -> None:
    run("blocklist", "import", feed_file(tmp_path, ["number,treatment,reason", f"{ROBO},isolation,list",
                                                    f"{OTHER},,list"], "blocks.csv"))
    store = snapshot(redis_conn)
    assert "--source" in run("feeds", "adopt", "carrier", "--licence", "x", "--all-imported", code=2).stderr
    neither = run("feeds", "adopt", "carrier", *META, code=2).stderr
    assert neither.startswith("error: say which blocks to adopt: --reason TEXT") and "--all-imported" in neither
    assert "say which blocks" in run("feeds", "adopt", "carrier", *META, "--reason", "list", "--all-imported",
                                     code=2).stderr
    assert run("feeds", "adopt", "carrier", *META, "--all-imported", "--line", "nowhere", code=2).stderr.startswith(
        "error: --line: 'nowhere' has characters a phone number cannot have")
    several = run("feeds", "adopt", "carrier", *META, "--all-imported", code=2).stderr
    assert "2 treatments (1 isolation, 1 line)" in several or "2 treatments (1 line, 1 isolation)" in several
    assert "--treatment" in several
    assert snapshot(redis_conn) == store
    assert run("feeds", "adopt", "carrier", *META, "--all-imported", "--line", LINE).stdout == (
        "nothing to adopt into feed carrier: no block on line +18005551212 that a CSV import wrote and that fits it; "
        "nothing changed\n")
    out = run("feeds", "adopt", "carrier", *META, "--all-imported", "--treatment", "isolation").stdout
    assert out.startswith("adopted 1 block(s) into feed carrier (1 numbers in it now); left 1 block(s) as they "
                          "were: 1 with another treatment")
    assert "treats callers with isolation" in run("feeds", "adopt", "carrier", *META, "--all-imported",
                                                  "--treatment", "line", code=2).stderr
