"""`ivr serve` (everything, supervised), `ivr web`, `ivr worker`, `ivr cron`, `ivr settings`, `ivr twilio`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import click

from blocklist.settings import SECRET_SETTINGS, SETTINGS, Settings, read_settings_file, settings_file
from blocklist.store import connect, describe_url
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

    def run(self, ready: Callable[[], bool] | None = None, announce: Callable[[], None] | None = None) -> int:
        """Start every child and tend them until Ctrl-C / SIGTERM; `announce` once `ready` says so."""
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
                if announce is not None and ready is not None and ready():
                    announce()
                    announce = None
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


PRODUCT_APP = "ivr:create_app()"  # gunicorn's name for the service's WSGI app
WEBHOOK_THREADS = 2  # threads per web process that desk and API requests never take (ivr.app._desk_share)


def gunicorn_argv(settings: Settings, bind: str) -> list[str]:
    """The production WSGI server with the service's settings (the same for serve, compose and bench)."""
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(web_workers(settings)),
            "--threads", str(settings.desk_concurrency + WEBHOOK_THREADS), "--timeout", "20",
            "--graceful-timeout", "5", "--access-logfile", "-", "--log-level", GUNICORN_LEVEL[settings.log_level],
            "--logger-class", "ivr.gunicorn_logging.MaskedLogger", PRODUCT_APP]


# gunicorn's own lines (booting workers, signals) one step quieter than ours: its start-up is the banner's job
GUNICORN_LEVEL = {"debug": "info", "info": "warning", "warning": "warning", "error": "error"}


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


def twilio_urls(settings: Settings) -> list[str]:
    """What to paste into the Twilio console: the number's three URLs, the agents' TwiML App."""
    b = settings.base_url
    return [
        "Twilio console, your number > Voice (all HTTP POST):",
        f"  A call comes in         {b}/voice/incoming",
        f"  Primary handler fails   {b}/voice/fallback",
        f"  Call status changes     {b}/voice/status",
        f"Agents' TwiML App: Voice URL {b}/agent/connect (supervisors: /supervisor/connect),",
        "  fallback and status callback URLs as for the number",
    ]


def banner(settings: Settings, store: str, processes: str) -> str:
    """What a person needs at start, in at most 15 lines: where the desk is, what to paste into Twilio,
    where the data lives, what to do first and next."""
    b = settings.base_url
    lines = [
        f"ivr serve: ready on http://{settings.bind}:{settings.port} ({processes})",
        f"Store: {store}",
        f"The desk: {b}/desk/   first user: ./dev ivr users create-admin",
        *twilio_urls(settings),
        "Next: ./dev ivr simulate --setup (a day of calls without Twilio), ./dev ivr settings (what is set)",
        f"Logs below: {settings.log_level} and above (IVR_LOG_LEVEL, or --verbose). Stop with Ctrl-C.",
    ]
    if not (settings.twilio_account_sid and settings.twilio_auth_token):
        lines.append("Warning: TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN unset: webhooks refuse every request "
                     "(no token to check signatures). Set both to go live.")
    return "\n".join(lines)


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


@click.command()
@click.option("--no-worker", is_flag=True, help="Do not start the RQ worker.")
@click.option("--no-cron", is_flag=True, help="Do not start the rq cron process.")
@click.option("--verbose", is_flag=True, help="Log at debug level (every job, every start-up line): IVR_LOG_LEVEL=debug.")
def serve(no_worker: bool, no_cron: bool, verbose: bool) -> None:
    """Start everything: embedded Redis (if REDIS_URL is unset), gunicorn, one RQ worker, one rq cron."""
    if verbose:
        os.environ["IVR_LOG_LEVEL"] = "debug"
    settings = load_settings()
    embedded = None
    env = dict(os.environ)
    sup = Supervisor(env)
    store = f"Redis at {describe_url(settings.redis_url)}"
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
        store = f"embedded Redis 6.2 (AOF every second), data in {folder.resolve()}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    bind = f"{settings.bind}:{settings.port}"
    sup.add("web", gunicorn_argv(settings, bind), essential=True)
    processes = [f"web {web_workers(settings)} processes"]
    if not no_worker:
        sup.add("worker", [sys.executable, "-m", "ivr.cli", "worker"])
        processes.append("worker")
    if not no_cron:
        sup.add("cron", [sys.executable, "-m", "ivr.cli", "cron"])
        processes.append("cron")
    click.echo(f"ivr serve: starting on http://{bind} ...")
    code = 1
    try:
        code = sup.run(ready=lambda: port_open(settings.bind if settings.bind not in ("0.0.0.0", "::") else
                                               "127.0.0.1", settings.port),
                       announce=lambda: click.echo(banner(settings, store, ", ".join(processes))))
    finally:
        sup.stop()
        if embedded:
            url_file = settings.data_dir / "redis" / URL_FILE
            if url_file.exists():
                url_file.unlink()
    if code == 0:
        click.echo("ivr serve: stopped.")
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


def settings_in_force() -> list[dict[str, str]]:
    """Every setting as a person writes it (the text, not Python's repr), where it came from, and its help;
    secrets show only whether they are set."""
    s = load_settings()  # refuses a bad value with the setting's name
    path = settings_file(os.environ)
    in_file = read_settings_file(os.environ)
    rows = []
    for name, (_attr, default, help_text) in SETTINGS.items():
        if name in os.environ:
            value, source = os.environ[name], "environment"
        elif name in in_file:
            value, source = in_file[name], str(path)
        else:
            value, source = default, "default"
        if name == "PUBLIC_BASE_URL" and not value:
            value, source = s.base_url, f"{source} (from IVR_PORT)"
        if name in SECRET_SETTINGS:
            value = "(set)" if value else "(not set)"
        rows.append({"name": name, "value": value, "source": source, "help": help_text})
    return rows


@click.command()
@click.option("--json", "as_json", is_flag=True, help="As JSON: name, value, source and help of each setting.")
@click.option("--changed", is_flag=True, help="Only the settings not at their default.")
def settings(as_json: bool, changed: bool) -> None:
    """Every setting with its value in force and where it came from (secrets hidden)."""
    rows = [r for r in settings_in_force() if not changed or r["source"] != "default"]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows) + 2
    vwidth = min(40, max(len(r["value"]) for r in rows) + 2)
    click.echo(f"{'SETTING':{width}}{'VALUE':{vwidth}}FROM")
    for r in rows:
        value = r["value"] if len(r["value"]) < vwidth else r["value"][:vwidth - 4] + "..."
        click.echo(f"{r['name']:{width}}{value or '(empty)':{vwidth}}{r['source']}")
    click.echo("\nWhat each one does: README.md, Settings; or `ivr settings --json` (with help).")


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
