"""`ivr blocklist check` with a call's signals, and the review list's signal and campaign entries, through
click's CliRunner against a real Redis: every decision explains itself with its value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from blocklist.clock import now_ms
from blocklist.rules import Blocklist, Policy
from ivr.cli.blocklist import blocklist_group
from tests.support.store import snapshot
from tests.support.twilio_player import call_sid

LINE = "+18005551212"
CALLER = "+14155550123"
NOMOROBO_SPAM = {"status": "successful", "message": None, "code": None, "results": {"nomorobo_spamscore": {
    "request_sid": "XR" + "1" * 32, "status": "successful", "message": None, "code": None,
    "result": {"status": "success", "message": "success", "score": 1}}}}


@pytest.fixture
def run(redis_url: str, redis_conn: redis.Redis) -> Any:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(blocklist_group, list(args), env={"REDIS_URL": redis_url}, catch_exceptions=False)

    return invoke


def test_check_with_an_add_on_answer_names_the_add_on_and_its_score(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "addons.json"
    path.write_text(json.dumps(NOMOROBO_SPAM))
    out = run("check", CALLER, "--line", LINE, "--addons", str(path)).stdout
    assert out.splitlines()[0] == (f"{CALLER} -> {LINE}: reject: caller reputation (add-on) "
                                   "(reputation 100 (Nomorobo Spam Score: score 1) >= 90)")
    data = json.loads(run("check", CALLER, "--line", LINE, "--addons", str(path), "--json").stdout)
    assert (data["rule"], data["signals"]["reputation"]["score"], data["signals"]["attestation"]) == (
        "reputation", 100, "unsigned")


def test_check_with_an_attestation_and_a_score(run: Any, redis_conn: redis.Redis) -> None:
    before = snapshot(redis_conn)
    out = run("check", CALLER, "--line", LINE, "--stir", "TN-Validation-Failed-C").stdout
    assert "allow, and put on the review list: caller ID attestation (STIR/SHAKEN), " \
           "STIR/SHAKEN TN-Validation-Failed-C (verification failed)" in out
    assert "reputation 65 (score given) >= 60" in run("check", CALLER, "--line", LINE, "--score", "65").stdout
    assert snapshot(redis_conn) == before  # a check records nothing, lists nobody


@pytest.mark.parametrize(("args", "words"), [
    (("--score", "150"), "0 to 100"),
    (("--stir", "x" * 80), "at most 64 characters"),
])
def test_check_refuses_signals_it_cannot_read(run: Any, args: tuple[str, ...], words: str) -> None:
    result = run("check", CALLER, "--line", LINE, *args)
    assert result.exit_code == 2 and words in result.stderr


def test_check_refuses_addons_that_give_no_score(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "failed.json"
    path.write_text('{"status": "failed", "message": "Add-on timed out", "results": {}}')
    result = run("check", CALLER, "--line", LINE, "--addons", str(path))
    assert result.exit_code == 2 and "gave no score" in result.stderr


def test_the_review_list_shows_why_and_a_campaign_exchange_is_dismissed_per_line(run: Any,
                                                                                  redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn, Policy())
    start = now_ms()
    for i in range(6):
        bl.screen(f"+1415555{3000 + i:04d}", LINE, call_sid(), at=start + i)
    out = run("review").stdout
    assert f"+1415555 on line {LINE}: campaign: 6 numbers from +1415555 in 10 min (limit 5)" in out
    refused = run("review", "--dismiss", "+1415555")
    assert refused.exit_code == 2 and "add --line" in refused.stderr
    assert run("review", "--dismiss", "+1415555", "--line", LINE).exit_code == 0
    assert "+1415555 on line" not in run("review").stdout
    garbage = run("review", "--dismiss", "hello")
    assert garbage.exit_code == 2 and "neither a number nor an exchange" in garbage.stderr
