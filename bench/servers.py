"""Processes the bench starts on loopback: embedded Redis servers and gunicorn, set up like `ivr serve`."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from blocklist.settings import Settings
from ivr.cli.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parent.parent


def web_workers() -> int:
    """The worker count `ivr serve` uses on this machine (IVR_WEB_WORKERS, else 2 x cores + 1)."""
    from ivr.cli.serve import web_workers as serve_workers
    return serve_workers(Settings.from_env())


def gunicorn_command(bind: str, workers: int, app: str) -> list[str]:
    """`ivr serve`'s own gunicorn command (ivr.cli.serve.gunicorn_argv: threads, timeouts, log level, the access
    logger), with `workers` and `app` in place of its own. The baseline writes the same access log lines through
    the same logger, with numbers left unmasked (BASELINE_ENV): masking them is the product's work, not a
    webhook's least, but how cheaply a line is made is the server's, and the baseline is served like the product.
    (Runs before 2026-12-07 06:00 gave the baseline gunicorn's stock logger, which then cost the same as the
    product's less its masking.)"""
    from ivr.cli.serve import PRODUCT_APP, gunicorn_argv
    argv = gunicorn_argv(Settings.from_env(), bind)
    argv[argv.index("--workers") + 1] = str(workers)
    argv[argv.index(PRODUCT_APP)] = app
    return argv


BASELINE_ENV = {"IVR_LOG_NUMBERS": "full"}  # the baseline's access log: the product's logger, nothing masked


class Web:
    """One gunicorn server; its output goes to a log file in the run folder."""

    def __init__(self, name: str, app: str, env: dict[str, str], folder: Path, workers: int,
                 port: int = 0) -> None:
        self.name = name
        self.port = port or free_port()
        self.log = folder / f"{name}.log"
        self.command = gunicorn_command(f"127.0.0.1:{self.port}", workers, app)
        self.env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Web:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited at start; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200 and len(self.worker_pids()) >= 1:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name}: no answer on {self.url}/healthz within {timeout}s; see {self.log}")

    def worker_pids(self) -> list[int]:
        if not self.process:
            return []
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []

    def worker_memory(self) -> dict[str, int]:
        """Median RSS and PSS (bytes) of the worker processes."""
        rss, pss = [], []
        for pid in self.worker_pids():
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            fields = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in text.splitlines()[1:]
                      if line.split()[-1] == "kB"}
            rss.append(fields.get("Rss", 0))
            pss.append(fields.get("Pss", 0))
        rss.sort()
        pss.sort()
        return {"rss": rss[len(rss) // 2] if rss else 0, "pss": pss[len(pss) // 2] if pss else 0,
                "workers": len(rss)}

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(25)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(folder: Path) -> EmbeddedRedis:
    """An embedded redis-server 6.2 with AOF everysec, as `ivr serve` runs it."""
    return EmbeddedRedis(folder).start()
