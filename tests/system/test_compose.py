"""docker-compose.yml says what the service does: nothing waits for Redis to be healthy, everything
restarts, and each health check tests its own process (its commands run here for real)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from tests.support.constants import ROOT
from workers.process import alive_path, touch_alive


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_every_service_restarts_and_none_waits_for_redis_health() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", "web", "worker", "cron"}
    for name, spec in services.items():
        assert spec.get("restart") == "unless-stopped", name
        assert "healthcheck" in spec, name
        depends = spec.get("depends_on", {})
        for dep in depends.values() if isinstance(depends, dict) else []:
            assert dep.get("condition") != "service_healthy", f"{name} would not start while Redis is unhealthy"
    assert services["redis"]["command"][-4:] == ["--appendfsync", "everysec", "--save", "900 1"]
    assert "--appendonly" in services["redis"]["command"]


def test_web_health_is_the_process_not_redis() -> None:
    test = compose()["services"]["web"]["healthcheck"]["test"]
    assert "/healthz" in test[-1] and "/readyz" not in test[-1]


def run_check(role: str, tmp: Path) -> int:
    command = compose()["services"][role]["healthcheck"]["test"]
    assert command[:2] == ["CMD", "python"]
    return subprocess.run([sys.executable, *command[2:]], timeout=20, env={**os.environ, "TMPDIR": str(tmp)}).returncode


def test_worker_and_cron_health_checks_read_their_own_loop(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # not the machine's /tmp, where a service may run
    for role in ("worker", "cron"):
        path = alive_path(role)
        touch_alive(role)
        assert run_check(role, tmp_path) == 0, role
        stale = time.time() - 120
        os.utime(path, (stale, stale))  # the loop stopped turning two minutes ago
        assert run_check(role, tmp_path) == 1, role
        path.unlink()
        assert run_check(role, tmp_path) == 1, role
