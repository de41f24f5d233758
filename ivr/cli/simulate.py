"""`ivr simulate`: play Twilio against the running service, a compressed day of calls, then a summary.

It reads the same settings as the service (TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL, IVR_API_TOKEN,
IVR_AGENTS, ...), signs every webhook for PUBLIC_BASE_URL and sends it to --target. It starts the
REST stand-in the service's TWILIO_API_BASE_URL should point at, so desk flags and callbacks move the
simulated calls; the stand-in is as strict as Twilio (the service's TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN
over HTTP Basic, calls created From the simulated lines only, every request checked against Twilio's
OpenAPI description), and its queues exist only once created, as at Twilio. Exit codes: 0 clean run, 1 a webhook answered an error or invalid TwiML, 2 nothing
ran (settings, or the service cannot be reached).
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import click
import requests
from twilio.request_validator import RequestValidator

from blocklist.settings import Settings, read_settings_file, settings_file

STANDIN_PORT = 8899


class SetupError(click.ClickException):
    exit_code = 2


def setup_values(existing: dict[str, str], standin_port: int) -> dict[str, str]:
    """The settings the service and the simulator share: what is already set (in the environment or the
    settings file) is kept, the rest made up once (any token values will do without Twilio)."""
    fresh = {
        "TWILIO_AUTH_TOKEN": "sim-" + secrets.token_hex(16),
        "TWILIO_ACCOUNT_SID": "AC" + "5" * 32,
        "IVR_API_TOKEN": "sim-api-" + secrets.token_urlsafe(32),
        "IVR_AGENTS": "+15550001001,+15550001002,+15550001003,client:alice",
        "IVR_SUPERVISORS": "+15550002001",
        # the service's REST calls (desk-flag redirects, call backs, queue upkeep) go to the stand-in
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{standin_port}",
        # agreed call backs ring within the run, at any hour
        "IVR_CALLBACK_DELAY_SECONDS": "20",
        "IVR_CALLBACK_HOURS": "Mon-Sun 00:00-24:00",
        # each request may carry its simulated time, so the reports show the simulated day (demos only)
        "IVR_SIMULATION_CLOCK": "1",
    }
    return {name: existing.get(name) or value for name, value in fresh.items()}


def write_setup(standin_port: int) -> tuple[Path, list[str], list[str]]:
    """Write the shared settings into the settings file the service reads (0600: it holds tokens).
    Run again, it keeps every value already there: a second `--setup` never breaks the first."""
    path = settings_file(os.environ)
    if path is None:
        raise SetupError("IVR_SETTINGS_FILE is set empty (no settings file): unset it, or export the settings "
                         "the README lists in both terminals")
    try:
        in_file = read_settings_file(os.environ)
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    known = {**in_file, **{k: v for k, v in os.environ.items() if v}}
    values = setup_values(known, standin_port)
    added = [name for name in values if name not in in_file and not os.environ.get(name)]
    kept = [name for name in values if name not in added]
    if added:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as out:
            if not in_file:
                out.write("# Settings every `ivr` process here reads (the environment wins over this file).\n"
                          "# Written by `ivr simulate --setup`; edit or delete freely.\n")
            for name in added:
                out.write(f"{name}={shlex.quote(values[name])}\n")
        os.chmod(path, 0o600)
    return path, added, kept


def setup_text(path: Path, added: list[str], kept: list[str], target: str) -> str:
    """What --setup did, and what to run next."""
    did = f"wrote {', '.join(added)}" if added else "nothing new to write"
    also = f"; kept {', '.join(kept)} as they were" if kept else ""
    return f"""\
Settings for the simulator are in {path} ({did}{also}).
The service and the simulator both read that file, so no exports are needed:

  ./dev serve              # terminal 1 (restart it if it was running): embedded Redis, web, worker, cron
  ./dev ivr simulate       # terminal 2: a day of calls in a minute, then a summary

Then see the simulated day on the dashboard: {target}/desk/dashboard (first time:
`./dev ivr users create-admin`), or `./dev ivr report sources` and `frequency`.
Running --setup again keeps these values. Options: `./dev ivr simulate --help`."""


def _env_settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise SetupError(f"{exc} (the simulator reads the service's settings)") from None


def _check_target(target: str, public_base: str, auth_token: str, account_sid: str) -> None:
    """The service answers, and accepts our signatures: else say what to fix and stop (exit 2)."""
    try:
        requests.get(target.rstrip("/") + "/healthz", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        raise SetupError(f"cannot reach the service at {target} ({type(exc).__name__}). Start it first "
                         "(`./dev serve`; once, before it: `./dev ivr simulate --setup`), or give --target") from None
    url = public_base.rstrip("/") + "/voice/status"
    params = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": account_sid, "CallStatus": "ringing"}
    sig = RequestValidator(auth_token).compute_signature(url, params)
    resp = requests.post(target.rstrip("/") + "/voice/status", data=params, headers={"X-Twilio-Signature": sig},
                         timeout=10)
    if resp.status_code == 403:
        raise SetupError("the service refused the simulator's signature: TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL here "
                         f"must be the service's own (PUBLIC_BASE_URL here: {public_base}). If you ran --setup after "
                         "starting the service, restart it: it reads the settings file when it starts")


def _printer(quiet: bool) -> Any:
    if quiet:
        return None
    tty = sys.stderr.isatty()
    state = {"last": 0.0}

    def show(line: str) -> None:

        if tty:
            click.echo(f"\r{line:<110}", nl=False, err=True)
        elif time.monotonic() - state["last"] >= 5:  # logs and CI: a line every 5 s
            state["last"] = time.monotonic()
            click.echo(line, err=True)

    return show


@click.command("simulate", context_settings={"max_content_width": 110})
@click.option("--target", default=None,
              help="Where the service listens [default: http://127.0.0.1:IVR_PORT]. Webhooks are signed for "
                   "PUBLIC_BASE_URL and sent here.")
@click.option("--calls", type=int, default=400, show_default=True, help="Inbound calls to place over the span.")
@click.option("--duration", "duration", default="1d", show_default=True,
              help="Simulated span of traffic (1d, 8h, 90m); calls follow the day curve across it.")
@click.option("--compress", default="1d/60s", show_default=True,
              help="Time compression SIMULATED/REAL (1d/60s: a day in a minute) or a factor (1 = real time).")
@click.option("--agents", type=int, default=None, help="Agents taking calls [default: every identity in IVR_AGENTS].")
@click.option("--supervisors", type=int, default=None,
              help="Supervisors taking escalations [default: every identity in IVR_SUPERVISORS].")
@click.option("--flag-share", type=float, default=0.3, show_default=True,
              help="Share of calls from harassers; agents flag each one they answer.")
@click.option("--desk-share", type=float, default=0.5, show_default=True,
              help="Share of flags made with the desk API (the rest with * 9 on the phone).")
@click.option("--moves-share", type=float, default=0.05, show_default=True,
              help="Share of customer calls where the agent escalates, warns or agrees a call back (* 1/2/3).")
@click.option("--agent-hangup-share", type=float, default=0.3, show_default=True,
              help="Share of the calls nobody flags or moves that end with the agent hanging up (else the caller).")
@click.option("--seed", type=int, default=None, help="Same seed, same callers, schedule and choices.")
@click.option("--start-hour", type=float, default=0.0, show_default=True, help="Simulated clock at the start.")
@click.option("--standin-port", type=int, default=STANDIN_PORT, show_default=True,
              help="Port of the REST stand-in for the service's TWILIO_API_BASE_URL; 0: do not start one.")
@click.option("--concurrency", type=int, default=32, show_default=True, help="Requests in flight at most.")
@click.option("--poll-floor", type=float, default=0.2, show_default=True,
              help="Real seconds between two polls of one URL by one call (bounds the load of queue loops).")
@click.option("--drain", type=float, default=None, help="Real seconds to let calls finish after the last arrival.")
@click.option("--setup", "show_setup", is_flag=True, help="Print how to run the service for the simulator, then exit.")
@click.option("--trace", "trace_file", type=click.File("w"), default=None,
              help="Write every request and its TwiML verbs to this file (- for stdout), for debugging a flow.")
@click.option("--quiet", is_flag=True, help="No progress line.")
def command(calls: int, duration: str, compress: str, agents: int | None, supervisors: int | None,
            flag_share: float, desk_share: float, moves_share: float, agent_hangup_share: float, seed: int | None,
            start_hour: float, standin_port: int, concurrency: int, poll_floor: float, drain: float | None,
            show_setup: bool, trace_file: Any, quiet: bool, target: str | None = None) -> None:
    """Play Twilio against the running service: a compressed day of calls, agents, flags, then a summary."""
    # Imported here: the simulator (and openapi-core) load only for `ivr simulate`, so every other
    # command and every process `ivr serve` starts stays quick to start.
    from ivr.simulate import SimConfig, Simulator, parse_compress, parse_span, standin_for
    if show_setup:
        path, added, kept = write_setup(standin_port or STANDIN_PORT)
        click.echo(setup_text(path, added, kept, target or _env_settings().base_url))
        return
    settings = _env_settings()
    target = (target or f"http://127.0.0.1:{settings.port}").rstrip("/")
    identities = settings.agents[:agents] if agents is not None else settings.agents
    if agents is not None and agents > len(settings.agents):
        raise SetupError(f"--agents {agents}: IVR_AGENTS names only {len(settings.agents)}; add identities there "
                         "(and restart the service) to simulate more")
    chiefs = settings.supervisors[:supervisors] if supervisors is not None else settings.supervisors
    try:
        cfg = SimConfig(
            public_base_url=settings.public_base_url, auth_token=settings.twilio_auth_token, target=target,
            account_sid=settings.twilio_account_sid or "AC" + "5" * 32, api_token=settings.api_token,
            agents=tuple(identities), supervisors=tuple(chiefs), calls=calls, span=parse_span(duration),
            factor=parse_compress(compress), flag_share=flag_share, desk_share=desk_share, moves_share=moves_share,
            agent_hangup_share=agent_hangup_share, seed=seed, start_hour=start_hour % 24, agents_queue=settings.agents_queue,
            isolation_queue=settings.isolation_queue, hold_prefix=settings.hold_queue_prefix,
            poll_floor=poll_floor, concurrency=concurrency, drain=drain,
        )
        cfg.validate()
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    _check_target(target, cfg.public_base_url, cfg.auth_token, cfg.account_sid)
    server = None
    if standin_port:
        from ivr.simulate.standin import StandInServer  # imported here: see above
        try:
            # as strict as Twilio: the service's own account and token, calls From the simulated lines only
            server = StandInServer(standin_for(cfg), port=standin_port, quiet=True).start()
        except OSError as exc:
            raise SetupError(f"cannot start the REST stand-in on port {standin_port} ({exc.strerror}): another "
                             "simulator may be running; stop it, or pick --standin-port (and TWILIO_API_BASE_URL)") \
                from None
        click.echo(f"REST stand-in on {server.url}: the service must run with TWILIO_API_BASE_URL={server.url}",
                   err=True)
    click.echo("Ctrl-C stops placing calls, hangs up the live ones and prints the summary (twice: at once).",
               err=True)
    real = cfg.span / cfg.factor
    click.echo(f"{cfg.calls} calls over {duration} simulated in about {real:.0f} s, {len(cfg.agents)} agents, "
               f"against {target} (signed for {cfg.public_base_url})", err=True)
    try:
        trace = (lambda line: print(line, file=trace_file)) if trace_file is not None else None
        sim = Simulator(cfg, standin=server.state if server else None, progress=_printer(quiet), trace=trace)
        report = sim.run_blocking(handle_signals=True)
    except KeyboardInterrupt:
        raise SetupError("stopped without a summary") from None
    finally:
        if server is not None:
            server.stop()
    if not quiet:
        click.echo("", err=True)
    click.echo(report.table())
    c = report.counts
    if server is not None and c.flagged_desk and not server.state.matching("POST", "/Calls/"):
        click.echo("note: desk flags moved nobody: is the service's worker running (`ivr serve` starts one), and is "
                   f"its TWILIO_API_BASE_URL {server.url}?", err=True)
    if server is not None and c.missing_queue_dials and not server.state.matching("POST", "/Queues.json"):
        click.echo("note: agents dialled queues that did not exist and the service never created them through REST: "
                   f"is its worker running, with TWILIO_API_BASE_URL {server.url} and the same TWILIO_ACCOUNT_SID and "
                   "TWILIO_AUTH_TOKEN (the stand-in refuses other credentials, as Twilio does)?", err=True)
    sys.exit(report.exit_code)


__all__ = ["command", "setup_text"]
