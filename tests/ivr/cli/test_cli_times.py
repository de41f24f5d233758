"""The command line writes times and lengths as people read them: one format, in the service's time
zone (IVR_TIMEZONE) with the zone named, an end with how far off it is; `--json` keeps ISO 8601 with an offset;
the sanction ladder is shown as it is written; and a block's length is always said, `--permanent` included."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from click.testing import CliRunner, Result

from blocklist import keys
from blocklist.clock import format_time, human_time
from blocklist.rules import Blocklist, Policy
from ivr.cli.blocklist import blocklist_group
from tests.support.store import snapshot

CALLER = "+14155550123"
ZONE = "Europe/Helsinki"  # not the machine's zone, and the zone's name (EET/EEST) differs from the IANA name
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
def run(redis_url: str, redis_conn: redis.Redis) -> Any:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(blocklist_group, list(args), env={"REDIS_URL": redis_url, "IVR_TIMEZONE": ZONE},
                                  catch_exceptions=False)

    return invoke


def refused(result: Result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("error: ") == 1, result.stderr
    assert all(word in result.stderr for word in words), result.stderr


def test_times_are_in_the_services_zone_with_the_zone_named_and_no_iso(run: Any, redis_conn: redis.Redis) -> None:
    added = run("add", CALLER, "-r", "threats", "--for", "7d", "--by", "mia")
    assert added.exit_code == 0, added.output
    entry = Blocklist(redis_conn, Policy()).entries(CALLER)[0]
    assert entry.until_ms is not None
    end, at = human_time(entry.until_ms, ZoneInfo(ZONE)), human_time(entry.at, ZoneInfo(ZONE))
    assert end.endswith((" EET", " EEST")), end  # the format the desk shows, the zone named
    assert f"until {end} (in 7 days)" in added.stdout and f"at {at}" in added.stdout
    assert f"lasts 7d, until {end}" in added.stdout
    assert f"until {end} (in 7 days)" in run("show", CALLER).stdout
    assert f"until {end} (in 7 days)" in run("list").stdout
    history = run("history", CALLER).stdout
    assert history.startswith(f"{at}  block") and f"until {end}" in history
    changed = run("temporary", CALLER, "36h", "-r", "case closed").stdout
    new_end = Blocklist(redis_conn, Policy()).entries(CALLER)[0].until_ms
    assert f"lasts 1d12h, until {human_time(new_end, ZoneInfo(ZONE))}" in changed
    dry = run("dryrun", "--number", CALLER).stdout
    assert re.match(r"over 0 recorded call\(s\) from \d+ \w+ \d{4}, \d\d:\d\d EES?T to ", dry), dry
    for output in (added.stdout, run("show", CALLER).stdout, run("list").stdout, history, changed, dry):
        assert not ISO.search(output), output


def test_json_keeps_iso_8601_with_an_offset(run: Any, redis_conn: redis.Redis) -> None:
    assert run("add", CALLER, "-r", "threats", "--for", "7d").exit_code == 0
    entry = Blocklist(redis_conn, Policy()).entries(CALLER)[0]
    (block,) = json.loads(run("show", CALLER, "--json").stdout)["blocks"]
    assert (block["until"], block["blocked_at"]) == (format_time(entry.until_ms), format_time(entry.at))
    assert datetime.fromisoformat(block["until"]).utcoffset() is not None  # an offset, not a local time
    assert block["until_ms"] == entry.until_ms  # the milliseconds stay for scripts that used them
    (listed,) = json.loads(run("list", "--json").stdout)
    assert listed["until"] == block["until"]
    (item,) = json.loads(run("history", CALLER, "--json").stdout)
    assert item["when"] == format_time(int(item["at"]))


def test_no_length_is_refused_and_permanent_is_said_by_name(run: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    refused(run("add", CALLER, "-r", "threats"), "say how long", "--for", "--until", "--permanent", "7d")
    refused(run("add", CALLER, "-r", "threats", "--until", ""), "--until is empty")
    refused(run("add", CALLER, "-r", "threats", "--permanent", "--for", "7d"), "only one of")
    refused(run("add", CALLER, "-r", "threats", "--permanent", "--until", "2030-01-31T18:00:00Z"), "only one of")
    assert snapshot(redis_conn) == before  # nothing written
    result = run("add", CALLER, "-r", "threats", "--permanent")
    assert result.exit_code == 0, result.output
    assert "  permanent  " in result.stdout and "lasts permanent" in result.stdout
    assert Blocklist(redis_conn, Policy()).entries(CALLER)[0].until_ms is None
    shown = " ".join(run("add", "--help").stdout.split())
    assert "--permanent" in shown and "one of them, always said" in shown


def test_line_setting_shows_the_ladder_as_people_write_it(run: Any, redis_conn: redis.Redis) -> None:
    shown = run("line-setting", "*").stdout
    assert "sanction_ladder = 1d, 7d, permanent (inherited)" in shown and "86400" not in shown
    changed = run("line-setting", "*", "sanction_ladder", "36h,2w,permanent").stdout
    assert "sanction_ladder = 1d12h, 14d, permanent (override)" in changed
    assert redis_conn.hget(keys.SETTINGS, "sanction_ladder") == "129600,1209600,p"  # flag.lua's form, unchanged
    (audit,) = [f for _id, f in redis_conn.xrange(keys.AUDIT) if f["action"] == "setting"]
    assert audit["reason"] == "sanction_ladder=1d12h, 14d, permanent"
