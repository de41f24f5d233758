"""`ivr blocklist` and `ivr allowlist` through click's CliRunner against a real Redis."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from blocklist.rules import Blocklist, Policy
from ivr.cli.blocklist import allowlist_group, blocklist_group
from tests.support.store import snapshot
from tests.support.twilio_player import call_sid

LINE = "+18005551212"
CALLER = "+14155550123"


@pytest.fixture
def run(redis_url: str, redis_conn: redis.Redis) -> Any:
    """Run a command of `ivr blocklist` (or another group) with REDIS_URL set."""

    def invoke(*args: str, group: Any = blocklist_group, env: dict[str, str | None] | None = None,
               stdin: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(group, list(args), env={"REDIS_URL": redis_url, **(env or {})}, input=stdin,
                             catch_exceptions=False)

    return invoke


def one_error_line(result: Result, words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and words in result.stderr, result.stderr
    assert result.stderr.count("error: ") == 1 and "Traceback" not in result.output


def test_without_redis_url_it_says_what_to_do(run: Any, tmp_path: Any) -> None:
    # a data folder of its own: an `ivr serve` running in this checkout meanwhile must not answer for it
    result = run("list", env={"REDIS_URL": None, "IVR_DATA_DIR": str(tmp_path), "IVR_SETTINGS_FILE": ""})
    one_error_line(result, "REDIS_URL is not set and no `ivr serve` is running here")


def test_unreachable_redis_is_one_error_line(run: Any) -> None:
    result = run("show", CALLER, env={"REDIS_URL": "redis://127.0.0.1:1/0"})
    one_error_line(result, "cannot reach Redis")


def test_add_show_check_edit_history_remove(run: Any, redis_conn: redis.Redis) -> None:
    result = run("add", "(415) 555-0123", "--reason", "obscene calls", "--treatment", "isolation", "--for", "7d",
                 "--by", "mia")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"blocked: {CALLER}  all lines  isolation  until ")

    shown = run("show", CALLER)
    assert "1 active block(s), ladder step 0" in shown.stdout and "by mia" in shown.stdout

    check = run("check", "415-555-0123", "--line", LINE)
    assert check.exit_code == 0
    assert check.stdout.splitlines()[0] == f"{CALLER} -> {LINE}: isolation: number rule (all lines)"
    assert "obscene calls" in check.stdout
    assert "no --line given" in run("check", CALLER).stdout

    assert run("permanent", CALLER, "-r", "police report", "--by", "mia").stdout.startswith("now permanent:")
    assert "until" in run("temporary", CALLER, "24h", "-r", "case closed", "--by", "tom").stdout
    assert "threats" in run("reason", CALLER, "threats", "--by", "tom").stdout

    removed = run("remove", CALLER, "--reason", "appeal granted", "--forgive", "--by", "mia")
    assert removed.exit_code == 0 and removed.stdout.strip() == f"unblocked {CALLER} on all lines"
    again = run("remove", CALLER, "--reason", "again")
    one_error_line(again, "is not blocked")

    history = run("history", CALLER).stdout.splitlines()  # '3 Dec 2026, 10:00 UTC  block     by mia ...'
    assert [line.split("  ", 1)[1].split()[0] for line in history] == ["block", "permanent", "temporary", "edit",
                                                                        "unblock"]
    assert "by mia (manager)" in history[0] and "appeal granted" in history[-1]
    listed = run("list")
    assert listed.stdout == "" and "0 block(s)" in listed.stderr


def test_flag_history_shows_callsid_and_agent(run: Any, redis_conn: redis.Redis) -> None:
    sid = call_sid()
    Blocklist(redis_conn, Policy()).flag(CALLER, call_sid=sid, line=LINE, via="key", agent="+15550001111",
                                         reason="laughter, nonsense")
    out = run("history", CALLER).stdout
    assert sid in out and "by +15550001111 (agent)" in out and "laughter, nonsense" in out
    data = run("history", CALLER, "--json").stdout
    assert '"call_sid": "' + sid in data


@pytest.mark.parametrize(("args", "words"), [
    (("add", "hello", "-r", "x", "--permanent"), "phone number"),
    (("add", "anonymous", "-r", "x", "--permanent"), "withheld"),
    (("add", CALLER, "-r", "x", "--for", "soon"), "duration"),
    (("add", CALLER, "-r", "x", "--for", "1d", "--until", "2030-01-01T00:00:00Z"), "only one of"),
    (("add", CALLER, "-r", "x", "--for", "1d", "--permanent"), "only one of"),
    (("add", CALLER, "-r", "x", "--until", "2030-01-01 10:00"), "time zone"),
    (("add", CALLER, "-r", "x", "--line", "reception", "--permanent"), "phone number"),
    (("add", CALLER, "-r", "  ", "--permanent"), "--reason is empty"),
    (("reason", CALLER, "new"), "not blocked"),
    (("check", "+1"), "phone number"),
    (("prefix", "add", "1415", "-r", "x"), "prefix"),
    (("line-setting", LINE, "withheld_policy", "shout"), "withheld_policy"),
    (("line-setting", LINE, "withheld_policy"), "give a value"),
    (("dryrun", "--days", "3"), "try one rule"),
    (("dryrun", "--burst", "5"), "CALLS/MINUTES"),
    (("import", "/nonexistent/file.csv"), "No such file"),
])
def test_bad_input_is_one_error_line_and_changes_nothing(run: Any, redis_conn: redis.Redis, args: tuple[str, ...],
                                                         words: str) -> None:
    before = snapshot(redis_conn)
    one_error_line(run(*args), words)
    assert snapshot(redis_conn) == before


def test_import_all_or_nothing_partial_and_idempotent(run: Any, redis_conn: redis.Redis, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("number,reason\n+14155550123,abuse\nnonsense,bad\n+14155550124,abuse\n")
    before = snapshot(redis_conn)
    refused = run("import", str(path), "--by", "mia")
    assert refused.exit_code == 2
    assert "line 3: number:" in refused.stderr and "nothing imported" in refused.stderr
    assert snapshot(redis_conn) == before
    checked = run("import", str(path), "--check-only")
    assert checked.exit_code == 2 and "checked only" in checked.stderr and snapshot(redis_conn) == before

    partial = run("import", str(path), "--partial", "--by", "mia")
    assert partial.exit_code == 0 and "line 3:" in partial.stderr
    assert "3 row(s): 2 added, 0 changed, 0 unchanged, 1 bad row(s) not imported" in partial.stdout
    path.write_text("number,reason\n+14155550123,abuse\n+14155550124,abuse\n")
    after = snapshot(redis_conn)
    again = run("import", str(path))
    assert again.exit_code == 0 and "2 row(s): 0 added, 0 changed, 2 unchanged" in again.stdout
    assert snapshot(redis_conn) == after


def test_export_round_trips_through_import(run: Any, redis_conn: redis.Redis, tmp_path: Path) -> None:
    assert run("add", CALLER, "-r", "abuse, repeated", "--line", LINE, "--for", "2d").exit_code == 0
    assert run("prefix", "add", "+1900", "-r", "premium", "--treatment", "hangup").exit_code == 0
    out = tmp_path / "export.csv"
    written = run("export", str(out))
    assert written.exit_code == 0 and "2 row(s) written" in written.stderr
    stdout_copy = run("export").stdout
    assert stdout_copy == out.read_text()
    rows = list(csv.DictReader(io.StringIO(stdout_copy)))
    assert [(r["number"], r["scope"]) for r in rows] == [(CALLER, LINE), ("+1900*", "*")]
    redis_conn.flushdb()
    restored = run("import", "-", stdin=stdout_copy)
    assert restored.exit_code == 0 and "2 added" in restored.stdout
    assert "isolation" not in run("check", CALLER, "--line", LINE).stdout
    assert "number rule" in run("check", CALLER, "--line", LINE).stdout
    assert "hangup: prefix rule" in run("check", "+19005550100").stdout


def test_long_imports_show_progress(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("number,reason\n" + "".join(f"+1415555{i:04d},bulk\n" for i in range(1500)))
    result = run("import", str(path))
    assert result.exit_code == 0 and "1500 added" in result.stdout
    assert "checking" in result.stderr and "writing" in result.stderr


def test_prefix_commands(run: Any) -> None:
    assert "range rule +4420794* on all lines" in run("prefix", "add", "+44 20 794", "-r", "switchboard").stdout
    assert run("prefix", "list").stdout.startswith("+4420794*  all lines  (line default)")
    assert run("prefix", "remove", "+4420794", "-r", "resolved").exit_code == 0
    one_error_line(run("prefix", "remove", "+4420794", "-r", "resolved"), "no range rule")


def test_review_list_and_dismiss(run: Any, redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy(burst_calls=1, burst_minutes=10))
    for _ in range(2):
        bl.screen(CALLER, LINE, call_sid())
    listed = run("review")
    assert f"{CALLER} on line {LINE}: 2 calls in 10 min" in listed.stdout
    assert run("review", "--dismiss", CALLER).exit_code == 0
    assert "0 on the review list" in run("review").stderr
    one_error_line(run("review", "--dismiss", "anonymous"), "per line")


def test_dryrun_reports_what_a_rule_would_have_done(run: Any, redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    for number in (CALLER, CALLER, "+14155550124", "anonymous"):
        bl.screen(number, LINE, call_sid())
    before = snapshot(redis_conn)
    out = run("dryrun", "--prefix", "+1415", "--days", "1").stdout
    assert "over 4 recorded call(s)" in out
    assert "3 call(s) from 2 number(s) would be treated: the line's default treatment" in out
    assert f"line {LINE}: 3 call(s), 2 number(s), 3 newly affected" in out
    withheld = run("dryrun", "--withheld", "linefault", "--json").stdout
    assert '"calls": 1' in withheld
    assert "1 call(s) from 1 number(s) would be put on the review list" in run("dryrun", "--burst", "1/10").stdout
    assert snapshot(redis_conn) == before


def test_line_setting_show_set_clear(run: Any) -> None:
    shown = run("line-setting", LINE).stdout
    assert "withheld_policy = allow (inherited)" in shown
    assert "withheld_policy = reject (override)" in run("line-setting", LINE, "withheld_policy", "reject").stdout
    assert "reject: withheld rule" in run("check", "anonymous", "--line", LINE).stdout
    assert "withheld_policy = allow (inherited)" in run("line-setting", LINE, "withheld_policy", "").stdout
    assert "burst_calls = 9 (override)" in run("line-setting", "*", "burst_calls", "9").stdout


def test_allowlist_verbs(run: Any, redis_conn: redis.Redis, tmp_path: Path) -> None:
    assert run("add", CALLER, "-r", "abuse", "--permanent").exit_code == 0
    added = run("add", CALLER, "--reason", "VIP customer", "--by", "mia", group=allowlist_group)
    assert added.exit_code == 0 and added.stdout.strip() == f"allowlisted {CALLER} on all lines"
    assert "allow: on the allowlist" in run("check", CALLER, "--line", LINE, group=allowlist_group).stdout
    assert "VIP customer" in run("show", CALLER, group=allowlist_group).stdout
    assert CALLER in run("list", group=allowlist_group).stdout
    assert "allowlisted on all lines" in run("show", CALLER).stdout  # the blocklist's view says so too
    out = tmp_path / "allow.csv"
    assert run("export", str(out), group=allowlist_group).exit_code == 0
    assert run("remove", CALLER, "-r", "contract ended", group=allowlist_group).exit_code == 0
    one_error_line(run("remove", CALLER, "-r", "again", group=allowlist_group), "not on the allowlist")
    assert "number rule" in run("check", CALLER, "--line", LINE, group=allowlist_group).stdout
    restored = run("import", str(out), group=allowlist_group)
    assert restored.exit_code == 0 and "1 added" in restored.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("number,reason\n+1415*,range\n")
    refused = run("import", str(bad), group=allowlist_group)
    assert refused.exit_code == 2 and "line 2: the allowlist takes whole numbers" in refused.stderr


def test_groups_mount_as_ivr_blocklist_and_ivr_allowlist() -> None:
    from ivr.cli import main
    assert main.commands["blocklist"] is blocklist_group and main.commands["allowlist"] is allowlist_group
    assert "prefix" not in main.commands and "prefix" in blocklist_group.commands
