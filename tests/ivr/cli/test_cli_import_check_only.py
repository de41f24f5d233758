"""`ivr blocklist import --check-only` says what the import would do, and writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from ivr.cli.blocklist import allowlist_group, blocklist_group
from tests.support.store import snapshot


@pytest.fixture
def run(redis_url: str, redis_conn: redis.Redis) -> Any:
    def invoke(*args: str, group: Any = blocklist_group) -> Result:
        return CliRunner().invoke(group, list(args), env={"REDIS_URL": redis_url}, catch_exceptions=False)

    return invoke


def test_check_only_of_three_new_numbers_says_it_would_add_three(run: Any, redis_conn: redis.Redis,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("number,reason\n+14155550123,pranks\n+14155550124,pranks\n+14155550125,pranks\n")
    before = snapshot(redis_conn)
    checked = run("import", str(path), "--check-only")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout.strip() == "3 row(s) checked only, nothing written: would add 3, change 0, leave 0 unchanged"
    assert snapshot(redis_conn) == before
    assert run("import", str(path), "--by", "mia").stdout.strip() == "3 row(s): 3 added, 0 changed, 0 unchanged"
    path.write_text("number,reason\n+14155550123,pranks\n+14155550124,threats\n+14155550126,pranks\n"
                    "+14155550127,over\n")
    after = snapshot(redis_conn)
    assert run("import", str(path), "--check-only").stdout.strip() == (
        "4 row(s) checked only, nothing written: would add 2, change 1, leave 1 unchanged")
    assert snapshot(redis_conn) == after


def test_check_only_with_a_bad_row_names_it_and_fails(run: Any, redis_conn: redis.Redis, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("number,until\n+14155550123,\n+14155550124,2001-01-01T00:00:00Z\nnonsense,\n")
    before = snapshot(redis_conn)
    checked = run("import", str(path), "--check-only")
    assert checked.exit_code == 2
    assert "line 4: number:" in checked.stderr  # the bad row, as the import would report it
    assert ("error: 3 row(s) checked only, nothing written: 1 bad row (line 4) would stop the import; fix it, or "
            "import the good rows with partial mode, which would add 1, change 0, leave 0 unchanged, skip 1 (line 3)"
            in checked.stderr)
    partial = run("import", str(path), "--check-only", "--partial")
    assert partial.exit_code == 0 and partial.stdout.strip().endswith("skip 2 (lines 3, 4)")
    assert snapshot(redis_conn) == before


def test_allowlist_check_only(run: Any, redis_conn: redis.Redis, tmp_path: Path) -> None:
    path = tmp_path / "allow.csv"
    path.write_text("number,reason\n+14155550123,courier\n")
    checked = run("import", str(path), "--check-only", group=allowlist_group)
    assert checked.exit_code == 0 and "would add 1, change 0, leave 0 unchanged" in checked.stdout
    assert redis_conn.dbsize() == 0
