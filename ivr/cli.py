"""The `ivr` command: serve (everything), web, worker, cron, and the operations groups."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from ivr.config import SETTINGS, Settings

URL_FILE = "redis.url"  # written by `ivr serve` so other `ivr` commands find the embedded Redis


def load_settings() -> Settings:
    """Settings from the environment, or a one-line error telling what to fix."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def resolve_redis_url(settings: Settings) -> str:
    """REDIS_URL, else the embedded server a running `ivr serve` announced."""
    if settings.redis_url:
        return settings.redis_url
    url_file = settings.data_dir / "redis" / URL_FILE
    if url_file.exists():
        return url_file.read_text().strip()
    raise click.ClickException("REDIS_URL is not set and no `ivr serve` is running here: start `ivr serve` "
                               "(it runs an embedded Redis), or set REDIS_URL=redis://host:6379/0")


def settings_with_redis() -> Settings:
    s = load_settings()
    url = resolve_redis_url(s)
    os.environ["REDIS_URL"] = url
    return Settings.from_env()


@click.group()
def main() -> None:
    """Telephony IVR harassment filter: webhooks, workers and operations."""


class Supervisor:
    """Runs the service's processes; restarts one that dies; stops them all on Ctrl-C / SIGTERM."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.specs: dict[str, list[str]] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: dict[str, list[float]] = {}
        self.stopping = False

    def add(self, name: str, argv: list[str]) -> None:
        self.specs[name] = argv

    def start(self, name: str) -> None:
        self.procs[name] = subprocess.Popen(self.specs[name], env=self.env)

    def run(self) -> int:
        def request_stop(*_: object) -> None:
            self.stopping = True

        # Installed explicitly: a shell's background job inherits SIGINT as ignored.
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        for name in self.specs:
            self.start(name)
        try:
            while not self.stopping:
                time.sleep(0.5)
                for name, proc in list(self.procs.items()):
                    code = proc.poll()
                    if code is None or self.stopping:
                        continue
                    recent = [t for t in self.restarts.get(name, []) if time.time() - t < 60]
                    if len(recent) >= 5:
                        click.echo(f"ivr serve: {name} keeps exiting (code {code}); stopping. See its log above.",
                                   err=True)
                        self._stop()
                        return 1
                    click.echo(f"ivr serve: {name} exited with code {code}; restarting it", err=True)
                    self.restarts[name] = [*recent, time.time()]
                    self.start(name)
        except KeyboardInterrupt:
            pass
        self._stop()
        return 0

    def _stop(self) -> None:
        self.stopping = True
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.time() + 25
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()


def web_workers(settings: Settings) -> int:
    return settings.web_workers or (2 * (os.cpu_count() or 1) + 1)


def gunicorn_argv(settings: Settings, bind: str) -> list[str]:
    """The production WSGI server with the service's settings (the same for serve, compose and bench)."""
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(web_workers(settings)),
            "--threads", "4", "--timeout", "20", "--graceful-timeout", "20", "--access-logfile", "-",
            "ivr:create_app()"]


@main.command()
@click.option("--bind", default=None, help="host:port (default IVR_BIND:IVR_PORT).")
def web(bind: str | None) -> None:
    """The web tier alone under gunicorn (2 x cores + 1 workers unless IVR_WEB_WORKERS)."""
    settings = settings_with_redis()
    argv = gunicorn_argv(settings, bind or f"{settings.bind}:{settings.port}")
    os.execv(argv[0], argv)


def twilio_urls(settings: Settings) -> str:
    b = settings.base_url
    return "\n".join([
        "Paste into the Twilio console (Phone Numbers > your number > Voice configuration):",
        f"  A call comes in (Webhook, HTTP POST):   {b}/voice/incoming",
        f"  Primary handler fails (HTTP POST):      {b}/voice/fallback",
        f"  Call status changes (HTTP POST):        {b}/voice/status",
        "Agents' phones / softphone TwiML App (Voice URL, HTTP POST):",
        f"  {b}/agent/connect        (supervisors: {b}/supervisor/connect)",
        f"The desk: {b}/desk/  (first admin: `./dev ivr users create-admin`)",
    ])


@main.command()
@click.option("--no-worker", is_flag=True, help="Do not start the RQ worker.")
@click.option("--no-cron", is_flag=True, help="Do not start the rq cron process.")
def serve(no_worker: bool, no_cron: bool) -> None:
    """Start everything: embedded Redis (if REDIS_URL is unset), gunicorn, one RQ worker, one rq cron."""
    settings = load_settings()
    embedded = None
    env = dict(os.environ)
    if not settings.redis_url:
        from ivr.embedded import EmbeddedRedis

        folder = settings.data_dir / "redis"
        port = int(os.environ.get("IVR_REDIS_PORT", "0") or 0)
        embedded = EmbeddedRedis(folder, port=port).start()
        (folder / URL_FILE).write_text(embedded.url + "\n")
        env["REDIS_URL"] = embedded.url
        click.echo(f"embedded Redis 6.2 on {embedded.url} (AOF everysec, data in {folder.resolve()})")
    env.setdefault("PYTHONUNBUFFERED", "1")
    sup = Supervisor(env)
    bind = f"{settings.bind}:{settings.port}"
    sup.add("web", gunicorn_argv(settings, bind))
    if not no_worker:
        sup.add("worker", [sys.executable, "-m", "ivr.cli", "worker"])
    if not no_cron:
        sup.add("cron", [sys.executable, "-m", "ivr.cli", "cron"])
    click.echo(f"web on http://{bind} ({web_workers(settings)} workers); public base {settings.base_url}")
    click.echo(twilio_urls(settings))
    click.echo("Try it without Twilio: `./dev ivr simulate --setup` prints how to play a day of calls against this "
               "service; `./dev ivr blocklist check +14155550123 --line +18005551212` asks the screen.")
    click.echo("Stop with Ctrl-C.")
    if settings.twilio_account_sid and settings.twilio_auth_token:
        _enqueue_startup_jobs(env["REDIS_URL"])
    else:
        click.echo("TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN unset: webhooks refuse every request (no token to check "
                   "signatures) and standing queues are not created. Set both to go live.", err=True)
    code = 1
    try:
        code = sup.run()
    finally:
        if embedded:
            embedded.stop()
            url_file = settings.data_dir / "redis" / URL_FILE
            if url_file.exists():
                url_file.unlink()
    sys.exit(code)


def _enqueue_startup_jobs(redis_url: str) -> None:
    from rq import Retry

    from blocklist.store import connect
    from workers.calls import ensure_standing_queues
    from workers.queues import CALLS, queue

    q = queue(CALLS, connect(redis_url, socket_timeout=10, decode=False))
    q.enqueue(ensure_standing_queues, job_id="ensure-standing-queues", retry=Retry(max=10, interval=[5, 15, 60]))


@main.command()
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
def worker(burst: bool) -> None:
    """One RQ worker (with rq's scheduler) on the calls, reports and maintenance queues."""
    from rq import Worker
    from rq.serializers import JSONSerializer

    from blocklist.store import connect
    from workers.queues import ALL_QUEUES

    settings = settings_with_redis()
    conn = connect(settings.redis_url, socket_timeout=None, decode=False)
    w = Worker(list(ALL_QUEUES), connection=conn, serializer=JSONSerializer)
    w.work(burst=burst, with_scheduler=True)


@main.command()
def cron() -> None:
    """The rq cron process (run exactly one): periodic folds, reports, queue cleanup."""
    from rq.cron import CronScheduler

    from blocklist.store import connect

    settings = settings_with_redis()
    scheduler = CronScheduler(connection=connect(settings.redis_url, socket_timeout=None, decode=False))
    scheduler.load_config_from_file("workers.cron")
    scheduler.start()


@main.command()
def settings() -> None:
    """Print every setting with its current value (secrets hidden)."""
    s = load_settings()
    for name, (attr, _default, help_text) in SETTINGS.items():
        value = getattr(s, attr)
        if name in ("TWILIO_AUTH_TOKEN", "IVR_API_TOKEN", "IVR_SECRET_KEY") and value:
            value = "(set)"
        click.echo(f"{name:26} {value!s:30} {help_text}")


@main.group()
def twilio() -> None:
    """Twilio account setup."""


@twilio.command("ensure-queues")
def ensure_queues_cmd() -> None:
    """Create the agents' and isolation queues in Twilio if they are missing."""
    from workers.twilio_rest import ensure_queues

    s = load_settings()
    try:
        created = ensure_queues(s, [s.agents_queue, s.isolation_queue])
    except Exception as exc:
        raise click.ClickException(f"Twilio refused or was unreachable: {exc}") from None
    click.echo(f"created: {', '.join(created)}" if created else "both queues exist already")


def _mount() -> None:
    from ivr import cli_blocklist, cli_prompts, cli_report, cli_simulate, cli_users

    for name, obj in vars(cli_blocklist).items():
        if isinstance(obj, click.Group) and name.endswith("_group"):
            main.add_command(obj, name[: -len("_group")])
    main.add_command(cli_report.group, "report")
    main.add_command(cli_prompts.group, "prompts")
    main.add_command(cli_users.group, "users")
    main.add_command(cli_simulate.command, "simulate")


_mount()

if __name__ == "__main__":
    main()
