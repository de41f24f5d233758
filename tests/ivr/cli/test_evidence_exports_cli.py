"""`ivr report export ftc|traceback|letter NUMBER [--out FILE]`: one export alone, with its SHA-256 line; the
same bytes as in `ivr report evidence`'s pack; bad input is one error line and writes nothing."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from ivr.cli.report import group
from tests.support.events import DAY, T0, Events

CALLER = "+14155550123"
QUIET = "+14155550188"


@pytest.fixture
def cli(redis_url: str, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("IVR_TIMEZONE", "UTC")
    monkeypatch.setenv("IVR_ORGANISATION_NAME", "Harbour Helpline")
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(group, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return run


@pytest.fixture
def world(redis_conn: redis.Redis) -> Events:
    ev = Events(redis_conn)
    ev.call(T0, CALLER, sid="CA1", StirVerstat="TN-Validation-Passed-C", attest="C")
    ev.flag(T0 + 20_000, CALLER, "CA1", agent="client:alice", category="threats")
    ev.call(T0 + DAY, CALLER, sid="CA2", decision="treat", rule="number", treatment="reject")
    ev.call(T0 + DAY, QUIET, sid="CA3")
    return ev


def test_each_export_alone_matches_the_pack(cli: Any, world: Events, tmp_path: Path) -> None:
    cli("evidence", CALLER, "--out", str(tmp_path / "pack"))
    folder = next((tmp_path / "pack").iterdir())
    sums = dict(reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines())
    for kind, name in (("ftc", "ftc_complaint.csv"), ("traceback", "traceback_request.csv"),
                       ("letter", "warning_letter.txt")):
        out = tmp_path / "alone" / f"{kind}.out"
        said = cli("export", kind, CALLER, "--out", str(out)).output
        data = out.read_bytes()
        assert data == (folder / name).read_bytes() and hashlib.sha256(data).hexdigest() == sums[name]
        assert sums[name] in said and name in said
        # The sidecar manifest checks with the standard tool.
        assert (out.parent / f"{kind}.out.sha256").read_text() == f"{sums[name]}  {kind}.out\n"
        check = subprocess.run(["sha256sum", "-c", f"{kind}.out.sha256"], cwd=out.parent, capture_output=True,
                               text=True, check=False)
        assert check.returncode == 0 and "OK" in check.stdout
    printed = cli("export", "traceback", CALLER)  # no --out: the file on stdout
    assert printed.stdout.startswith("date_time_utc,originating_telephone_number,called_telephone_number")
    assert "2025-03-03T00:00:00Z,+14155550123,+18005551212,C,TN-Validation-Passed-C,CA1" in printed.stdout
    assert printed.stderr.endswith("  traceback_request.csv\n")
    letter = cli("export", "letter", CALLER).stdout
    assert letter.startswith("Harbour Helpline\n") and "threats (recorded by our staff)" in letter


def test_bad_input_is_one_error_line_and_nothing_is_written(cli: Any, world: Events, tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    assert "+14155550123" in cli("export", "ftc", "12ab", "--out", str(out), code=2).output
    assert "withheld" in cli("export", "ftc", "anonymous", "--out", str(out), code=2).output
    assert "none of the 1 stored call(s)" in cli("export", "letter", QUIET, "--out", str(out), code=2).output
    assert "no calls of +14155550100" in cli("export", "traceback", "+14155550100", "--out", str(out), code=2).output
    assert "'fax' is not one of" in cli("export", "fax", CALLER, "--out", str(out), code=2).output
    assert list(tmp_path.iterdir()) == []
