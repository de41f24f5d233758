"""`ivr restrict ...`: a manager restricts a number from the command line, reads it back (and in `ivr blocklist
check` and `history`), keeps it after its review, removes it; bad input is one `error:` line, exit 2, nothing
written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from ivr.cli import main
from tests.support.store import snapshot

CALLER = "+14155550123"
LINE = "+18005551212"


def later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


@pytest.fixture
def run(redis_url: str, redis_conn: redis.Redis) -> Any:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(main, list(args), env={"REDIS_URL": redis_url, "IVR_TIMEZONE": "UTC"},
                                  catch_exceptions=False)

    return invoke


def test_add_show_check_keep_history_and_remove(run: Any) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%a")
    added = run("restrict", "add", CALLER, "--kind", "hours", "--hours", f"{tomorrow} 00:00-24:00", "--review",
                later(30), "-r", "abusive calls", "--by", "mgr")
    assert added.exit_code == 0, added.output
    assert added.output.startswith(f"restricted: {CALLER}  hours {tomorrow} 00:00-24:00 on all lines  (in force; ")
    shown = json.loads(run("restrict", "show", CALLER, "--json").output)
    assert [(r["kind"], r["hours"], r["by"]) for r in shown] == [("hours", f"{tomorrow} 00:00-24:00", "mgr")]
    check = run("blocklist", "check", CALLER, "--line", LINE).output
    assert f"restricted: contact restriction (outside the agreed hours {tomorrow} 00:00-24:00)" in check
    assert f"contact restriction: hours {tomorrow} 00:00-24:00 on all lines (id {shown[0]['id']}" in check
    kept = run("restrict", "keep", CALLER, "--id", shown[0]["id"], "--review", later(60), "-r", "still needed")
    assert kept.exit_code == 0 and kept.output.startswith("kept: ")
    assert run("restrict", "list").output.count(CALLER) == 1
    removed = run("restrict", "remove", CALLER, "-r", "apologised")
    assert removed.output == f"removed: hours {tomorrow} 00:00-24:00 on all lines (id {shown[0]['id']})\n"
    history = run("blocklist", "history", CALLER).output
    assert [line.split()[5] for line in history.splitlines()] == ["restrict", "restrict_kept", "unrestrict"]
    assert f"restriction hours {tomorrow} 00:00-24:00" in history and "review " in history


@pytest.mark.parametrize(("args", "words"), [
    (("--kind", "voicemail", "--review", "2020-01-01"), "is not in the future"),
    (("--kind", "hours", "--hours", "Mon 09:00-12:00|Mon 11:00-12:30", "--review", later(9)), "overlap on Mon"),
    (("--kind", "max_calls", "--max-calls", "3", "--review", later(9)), "--per day or --per week"),
    (("--kind", "route", "--route", "boss", "--review", later(9)), "route 'boss' unknown"),
])
def test_bad_input_is_one_error_line_and_changes_nothing(run: Any, redis_conn: redis.Redis, args: tuple[str, ...],
                                                         words: str) -> None:
    before = snapshot(redis_conn)
    result = run("restrict", "add", CALLER, "-r", "why", *args)
    assert result.exit_code == 2 and result.stderr.startswith("error: ") and words in result.stderr, result.stderr
    assert snapshot(redis_conn) == before
    nothing = run("restrict", "remove", CALLER, "-r", "x")
    assert nothing.exit_code == 2 and "has no contact restriction" in nothing.stderr
