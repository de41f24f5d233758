"""`ivr serve` (everything, supervised), `ivr web`, `ivr worker`, `ivr cron`, `ivr settings`, `ivr twilio`."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import click

from blocklist.settings import SETTINGS, Settings
from blocklist.store import connect
from ivr.cli import common
from ivr.cli.common import URL_FILE
from ivr.cli.embedded import EmbeddedRedis, die_with_parent
from ivr.logging_setup import configure_logging, rq_level
from workers.calls import enqueue_standing_queues
from workers.process import run_cron, run_worker
from workers.queues import ALL_QUEUES
from workers.twilio_rest import ensure_queues


def load_settings() -> Settings:
    """Settings from the environment, or a one-line error telling what to fix."""
    return common.settings()


def process_settings() -> Settings:
    return common.process_settings()


@dataclass
class Child:
    """One supervised process and its restart bookkeeping."""

    name: str
    argv: list[str]
    essential: bool = False  # its failing to start at all stops the service (the web tier: a port in use)
    stop_last: bool = False  # stopped after the others (the embedded Redis: the others flush into it)
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_exits: int = 0  # consecutive runs that ended within QUICK_EXIT_S
    ever_lived: bool = False  # ran past QUICK_EXIT_S once
    restart_at: float | None = None


class Supervisor:
    """Runs the service's processes and keeps every one of them running; stops them all on Ctrl-C / SIGTERM.

    Policy, per process: a process that exits is started again, after 1 s, doubling while it keeps
    exiting within 30 s of its start, up to 30 s; a process that ran for a minute starts over at 1 s. No
    process ever stops another: the web tier keeps answering Twilio whatever the worker or cron do (they
    wait for Redis by themselves instead of exiting). One exception: if the web tier never manages to
    start (5 quick exits in a row, e.g. its port is taken), the service stops with that error, since
    without it there is nothing to serve.
    Each child runs in its own process group, so a terminal's Ctrl-C reaches only this supervisor, which
    stops the web tier, the worker and the cron together, and the embedded Redis last.
    """

    QUICK_EXIT_S = 30.0
    MAX_DELAY_S = 30.0
    GIVE_UP_AFTER = 5
    STOP_TIMEOUT_S = 8.0

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.children: dict[str, Child] = {}
        self.stopping = False

    def add(self, name: str, argv: list[str], *, essential: bool = False, stop_last: bool = False) -> None:
        self.children[name] = Child(name, argv, essential=essential, stop_last=stop_last)

    def start(self, child: Child) -> None:
        child.proc = subprocess.Popen(child.argv, env=self.env, start_new_session=True,
                                      preexec_fn=die_with_parent)
        child.started_at = time.monotonic()
        child.restart_at = None

    def pid(self, name: str) -> int | None:
        child = self.children.get(name)
        return child.proc.pid if child and child.proc and child.proc.poll() is None else None

    def run(self) -> int:
        def request_stop(*_: object) -> None:
            self.stopping = True

        # Installed explicitly: a shell's background job inherits SIGINT as ignored.
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        for child in self.children.values():
            if child.proc is None:  # the embedded Redis is started (and waited for) before the others
                self.start(child)
        code = 0
        try:
            while not self.stopping:
                time.sleep(0.2)
                code = self.tend()
                if code:
                    break
        except KeyboardInterrupt:
            pass
        self.stop()
        return code

    def tend(self) -> int:
        """One look at every child: note exits, start the ones whose delay is over. Non-zero: give up."""
        now = time.monotonic()
        for child in self.children.values():
            if self.stopping:
                return 0
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.start(child)
                continue
            code = child.proc.poll() if child.proc else None
            if child.proc is not None and code is None:
                if not child.ever_lived and now - child.started_at >= self.QUICK_EXIT_S:
                    child.ever_lived = True
                if now - child.started_at >= 2 * self.QUICK_EXIT_S:
                    child.quick_exits = 0
                continue
            lived = now - child.started_at
            child.quick_exits = child.quick_exits + 1 if lived < self.QUICK_EXIT_S else 0
            if child.essential and not child.ever_lived and child.quick_exits >= self.GIVE_UP_AFTER:
                click.echo(f"ivr serve: {child.name} could not start ({self.GIVE_UP_AFTER} tries, last exit code "
                           f"{code}); stopping. Its error is above: fix it (a port in use? IVR_PORT), then start "
                           "again.", err=True)
                return 1
            delay = min(self.MAX_DELAY_S, 2.0 ** max(0, child.quick_exits - 1))
            click.echo(f"ivr serve: {child.name} exited with code {code}; starting it again in {delay:.0f} s",
                       err=True)
            child.restart_at = now + delay
        return 0

    def stop(self) -> None:
        self.stopping = True
        first = [c for c in self.children.values() if not c.stop_last]
        last = [c for c in self.children.values() if c.stop_last]
        for group in (first, last):
            running = [c.proc for c in group if c.proc is not None and c.proc.poll() is None]
            for proc in running:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.STOP_TIMEOUT_S
            for proc in running:
                try:
                    proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def web_workers(settings: Settings) -> int:
    return settings.web_workers or (2 * (os.cpu_count() or 1) + 1)


WEBHOOK_THREADS = 2  # threads per web process that desk and API requests never take (ivr.app._desk_share)


def gunicorn_argv(settings: Settings, bind: str) -> list[str]:
    """The production WSGI server with the service's settings (the same for serve, compose and bench)."""
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(web_workers(settings)),
            "--threads", str(settings.desk_concurrency + WEBHOOK_THREADS), "--timeout", "20", "--graceful-timeout", "20", "--access-logfile", "-",
            "--logger-class", "ivr.gunicorn_logging.MaskedLogger", "ivr:create_app()"]


@click.command()
@click.option("--bind", default=None, help="host:port (default IVR_BIND:IVR_PORT).")
def web(bind: str | None) -> None:
    """The web tier alone under gunicorn (2 x cores + 1 workers unless IVR_WEB_WORKERS)."""
    settings = process_settings()
    argv = gunicorn_argv(settings, bind or f"{settings.bind}:{settings.port}")
    try:
        _standing_queues()
    except Exception as exc:  # Redis not up yet: the worker and the cron ask again when they start
        click.echo(f"standing Twilio queues not requested yet ({type(exc).__name__}); the worker will", err=True)
    os.execv(argv[0], argv)


def twilio_urls(settings: Settings) -> str:
    b = settings.base_url
    return "\n".join([
        "Paste into the Twilio console (Phone Numbers > your number > Voice configuration):",
        f"  A call comes in (Webhook, HTTP POST):   {b}/voice/incoming",
        f"  Primary handler fails (HTTP POST):      {b}/voice/fallback",
        f"  Call status changes (HTTP POST):        {b}/voice/status",
        "Agents' phones / softphone TwiML App (Voice URL, HTTP POST):",
        f"  {b}/agent/connect        (supervisors: {b}/supervisor/connect); fallback URL: {b}/voice/fallback;",
        f"  status callback URL: {b}/voice/status",
        f"The desk: {b}/desk/  (first admin: `./dev ivr users create-admin`)",
    ])


@click.command()
@click.option("--no-worker", is_flag=True, help="Do not start the RQ worker.")
@click.option("--no-cron", is_flag=True, help="Do not start the rq cron process.")
def serve(no_worker: bool, no_cron: bool) -> None:
    """Start everything: embedded Redis (if REDIS_URL is unset), gunicorn, one RQ worker, one rq cron."""
    settings = load_settings()
    embedded = None
    env = dict(os.environ)
    sup = Supervisor(env)
    if not settings.redis_url:
        folder = settings.data_dir / "redis"
        port = int(os.environ.get("IVR_REDIS_PORT", "0") or 0)
        try:
            embedded = EmbeddedRedis(folder, port=port).start(new_session=True)
        except RuntimeError as exc:
            raise click.ClickException(f"{exc}. Check that {folder} is writable, or set REDIS_URL") from None
        (folder / URL_FILE).write_text(embedded.url + "\n")
        env["REDIS_URL"] = embedded.url
        # Supervised like the rest: if it dies it is started again on the same port and data folder, and
        # replays its AOF; calls meanwhile are let through unscreened (fail-open).
        sup.add("redis", embedded.command(), stop_last=True)
        sup.children["redis"].proc = embedded.process
        sup.children["redis"].started_at = time.monotonic()
        click.echo(f"embedded Redis 6.2 on {embedded.url} (AOF everysec, data in {folder.resolve()})")
    env.setdefault("PYTHONUNBUFFERED", "1")
    bind = f"{settings.bind}:{settings.port}"
    sup.add("web", gunicorn_argv(settings, bind), essential=True)
    if not no_worker:
        sup.add("worker", [sys.executable, "-m", "ivr.cli", "worker"])
    if not no_cron:
        sup.add("cron", [sys.executable, "-m", "ivr.cli", "cron"])
    click.echo(f"web on http://{bind} ({web_workers(settings)} workers); public base {settings.base_url}")
    click.echo(twilio_urls(settings))
    click.echo("Try it without Twilio: `./dev ivr simulate --setup` prints how to play a day of calls against this "
               "service; `./dev ivr blocklist check +14155550123 --line +18005551212` asks the screen.")
    click.echo("Stop with Ctrl-C.")
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        click.echo("TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN unset: webhooks refuse every request (no token to check "
                   "signatures) and standing queues are not created. Set both to go live.", err=True)
    code = 1
    try:
        code = sup.run()
    finally:
        sup.stop()
        if embedded:
            url_file = settings.data_dir / "redis" / URL_FILE
            if url_file.exists():
                url_file.unlink()
    sys.exit(code)


def _standing_queues() -> None:
    """Ask a worker to make sure Twilio has every queue agents and supervisors dial (idempotent; needs
    the account). Every process of the service does this when it starts: under docker compose any of
    them may be the first one up."""

    settings = Settings.from_env()
    if settings.twilio_account_sid and settings.twilio_auth_token:
        enqueue_standing_queues(connect(settings.redis_url, socket_timeout=5, decode=False))


@click.command()
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
def worker(burst: bool) -> None:
    """One RQ worker (with rq's scheduler) on the calls, reports and maintenance queues; it waits out Redis
    outages instead of exiting."""

    settings = process_settings()
    configure_logging(settings)
    run_worker(settings.redis_url, list(ALL_QUEUES), burst=burst, on_start=None if burst else _standing_queues,
               rq_log_level=rq_level(settings))


@click.command()
def cron() -> None:
    """The rq cron process (run exactly one): periodic folds, reports, queue cleanup; it waits out Redis
    outages instead of exiting."""

    settings = process_settings()
    configure_logging(settings)
    run_cron(settings.redis_url, "workers.cron", on_start=_standing_queues, rq_log_level=rq_level(settings))


@click.command()
def settings() -> None:
    """Print every setting with its current value (secrets hidden)."""
    s = load_settings()
    for name, (attr, _default, help_text) in SETTINGS.items():
        value = getattr(s, attr)
        if name in ("TWILIO_AUTH_TOKEN", "IVR_API_TOKEN", "IVR_SECRET_KEY") and value:
            value = "(set)"
        click.echo(f"{name:26} {value!s:30} {help_text}")


@click.group()
def twilio() -> None:
    """Twilio account setup."""


@twilio.command("ensure-queues")
def ensure_queues_cmd() -> None:
    """Create the agents' and isolation queues in Twilio if they are missing."""

    s = load_settings()
    try:
        created = ensure_queues(s, [s.agents_queue, s.isolation_queue])
    except Exception as exc:
        raise click.ClickException(f"Twilio refused or was unreachable: {exc}") from None
    click.echo(f"created: {', '.join(created)}" if created else "both queues exist already")
