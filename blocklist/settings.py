"""Settings: every environment variable the service reads, declared once, with its default and help.

Each field of `Settings` names its environment variable, its default as a person writes it, the parser
that turns the text into the typed value, and the sentence the README's settings table shows (a test
keeps the two in step). Nothing here runs at import time: `Settings.from_env()` is called by the app
factory, the CLI and the workers' processes. This module sits in the bottom layer (no Flask, no RQ), so
the web tier, the jobs and the command line all read the same settings.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

import prompts
from blocklist import abuse, parse
from blocklist.hours import Hours, parse_hours
from blocklist.policy import BURST_ACTIONS, TREATMENTS, WITHHELD_POLICIES
from blocklist.store import sentinel_url

LOG_LEVELS = ("debug", "info", "warning", "error")
SECRET_SETTINGS = ("TWILIO_AUTH_TOKEN", "IVR_TWILIO_SECONDARY_AUTH_TOKEN", "IVR_WEBHOOK_SHARED_KEY", "IVR_API_TOKEN",
                   "IVR_SECRET_KEY")


def setting(env: str, default: str, help: str, parse: Callable[[Any], Any] = parse.text) -> Any:
    """One setting: its environment variable, its default as written, its help, and its parser."""
    value = parse(default)
    meta = {"env": env, "default": default, "help": help, "parse": parse}
    if isinstance(value, (dict, list)):
        return field(default_factory=lambda: parse(default), metadata=meta)
    return field(default=value, metadata=meta)


def _replicas(value: Any) -> int:
    """IVR_WAIT_REPLICAS: a count, or auto (resolved in from_env: 1 with Sentinels, else 0)."""
    return 0 if str(value).strip().lower() == "auto" else parse.whole(value)


@dataclass(frozen=True)
class Settings:
    """The service's settings, validated."""

    redis_url: str = setting('REDIS_URL', '', 'Redis URL. Unset: `ivr serve` starts an embedded redis-server under IVR_DATA_DIR.')
    redis_sentinels: str = setting('REDIS_SENTINELS', '', 'Sentinels host:port,host:port; with it the primary is discovered (REDIS_URL unused).')
    redis_sentinel_service: str = setting('REDIS_SENTINEL_SERVICE', 'mymaster', "The primary's name the Sentinels monitor.")
    wait_replicas: int = setting('IVR_WAIT_REPLICAS', 'auto', 'Flag and blocklist writes wait for this many replicas (WAIT); auto = 1 with Sentinels, else 0.', parse=_replicas)
    wait_timeout_ms: int = setting('IVR_WAIT_TIMEOUT_MS', '500', 'Longest wait for that replica acknowledgement.', parse=parse.whole)
    twilio_account_sid: str = setting('TWILIO_ACCOUNT_SID', '', 'Account SID for the REST API (queue setup, redirects).')
    twilio_auth_token: str = setting('TWILIO_AUTH_TOKEN', '', 'Auth token: signs webhooks and authenticates REST calls.')
    twilio_secondary_auth_token: str = setting('IVR_TWILIO_SECONDARY_AUTH_TOKEN', '', 'While rotating the auth token: the other token, also accepted on webhook signatures (remove it once the new one is primary).')
    webhook_shared_key: str = setting('IVR_WEBHOOK_SHARED_KEY', '', 'Secret of a Twilio Webhooks Setting (SharedKey): webhooks that carry X-Twilio-Webhooks-Signature-Settings are checked with it (HMAC-SHA256 or SHA1, as the header says).')
    public_base_url: str = setting('PUBLIC_BASE_URL', '', 'Base URL Twilio calls; signatures are checked against it. Empty: http://127.0.0.1:IVR_PORT (a local run).')
    twilio_api_base_url: str = setting('TWILIO_API_BASE_URL', 'https://api.twilio.com', 'Where REST requests go (a local stand-in in tests).')
    api_token: str = setting('IVR_API_TOKEN', '', 'Bearer token for the JSON API. Empty: the API refuses every request.')
    agents: tuple[str, ...] = setting('IVR_AGENTS', '', 'Comma-separated agent identities (E.164 numbers or client:NAME).', parse=parse.names)
    data_dir: Path = setting('IVR_DATA_DIR', 'var', 'Folder for the embedded Redis data (AOF) and logs.', parse=parse.path)
    default_region: str = setting('IVR_DEFAULT_REGION', 'US', 'Region for numbers written without a country code.')
    blocked_treatment: str = setting('IVR_BLOCKED_TREATMENT', 'reject', 'Default treatment of a blocked caller: reject|isolation|linefault|hangup.')
    withheld_policy: str = setting('IVR_WITHHELD_POLICY', 'allow', 'Withheld caller ID: allow|linefault|isolation|reject.')
    burst_calls: int = setting('IVR_BURST_CALLS', '5', 'Burst rule: more than this many calls ...', parse=parse.whole)
    burst_minutes: int = setting('IVR_BURST_MINUTES', '10', '... within this many minutes ...', parse=parse.whole)
    burst_action: str = setting('IVR_BURST_ACTION', 'review', "... gets this: review (manager's list) or a treatment.")
    campaign_prefix_digits: int = setting('IVR_CAMPAIGN_PREFIX_DIGITS', '7', 'Campaign detection counts different numbers sharing this many leading digits (after the +) on one line: 7 is +1 area code exchange (+1415555). 0 turns it off everywhere.', parse=parse.whole)
    sanction_ladder: tuple[int | None, ...] = setting('IVR_SANCTION_LADDER', '24h,7d,permanent', 'Block length for the 1st, 2nd, 3rd... flag, with units (90s, 15m, 24h, 7d, 2w) and permanent last; a bare number is read as seconds, for configurations written before units were required.', parse=parse.ladder)
    flag_window_seconds: int = setting('IVR_FLAG_WINDOW_SECONDS', '5', 'How long the agent has to press a key after `*` or a call.', parse=parse.whole)
    breather_seconds: int = setting('IVR_BREATHER_SECONDS', '20', 'Pause an agent gets after flagging, before the next caller.', parse=parse.whole)
    exposure_shift_limit: int = setting('IVR_EXPOSURE_SHIFT_LIMIT', '3', 'Difficult calls (flags and moves) in one shift that give the agent a wellbeing break and a supervisor check-in; 0 turns it off. Managers can change it on the desk.', parse=parse.whole)
    exposure_week_limit: int = setting('IVR_EXPOSURE_WEEK_LIMIT', '12', 'The same over the last 7 days; 0 turns it off. Managers can change it on the desk.', parse=parse.whole)
    wellbeing_break_seconds: int = setting('IVR_WELLBEING_BREAK_SECONDS', '900', 'The break an agent gets on crossing a limit: the queue offers them no caller meanwhile.', parse=parse.whole)
    shift_gap_hours: int = setting('IVR_SHIFT_GAP_HOURS', '8', "An agent's shift starts when they take calls again after at least this many hours away.", parse=parse.whole)
    short_call_seconds: int = setting('IVR_SHORT_CALL_SECONDS', '20', "Calls the agent ended within this many seconds count in the managers' unreported-abuse hint.", parse=parse.whole)
    max_wait_seconds: int = setting('IVR_MAX_WAIT_SECONDS', '900', "Longest wait in the agents' queue before the caller is let go.", parse=parse.whole)
    no_agent_seconds: int = setting('IVR_NO_AGENT_SECONDS', '30', 'A caller waiting this long while no agent is connected is offered a call back.', parse=parse.whole)
    agent_idle_seconds: int = setting('IVR_AGENT_IDLE_SECONDS', '3600', 'An agent leg waiting this long with no caller is ended.', parse=parse.whole)
    dial_timeout: int = setting('IVR_DIAL_TIMEOUT', '60', "Seconds an agent's Dial waits on an empty queue.", parse=parse.whole)
    agents_queue: str = setting('IVR_AGENTS_QUEUE', 'agents', 'Twilio queue name callers wait in.')
    isolation_queue: str = setting('IVR_ISOLATION_QUEUE', 'isolation', 'Twilio queue name no agent serves.')
    hold_queue_prefix: str = setting('IVR_HOLD_QUEUE_PREFIX', 'hold-', 'Prefix of the private per-call hold queues.')
    linefault_repeats: int = setting('IVR_LINEFAULT_REPEATS', '3', 'How often the line-fault message plays before hanging up.', parse=parse.whole)
    default_language: str = setting('IVR_DEFAULT_LANGUAGE', 'en', 'Prompt language when a line has none: en|af|zh|pt|vi|fi.')
    line_languages: dict[str, str] = setting('IVR_LINE_LANGUAGES', '', 'Per-line prompt language, e.g. +27215550100=af,+358955501=fi.', parse=parse.line_languages)
    country_languages: dict[str, str] = setting('IVR_COUNTRY_LANGUAGES', '', 'Prompt language by caller country (FromCountry) on lines with none, e.g. ZA=af,FI=fi.', parse=parse.country_languages)
    supervisors: tuple[str, ...] = setting('IVR_SUPERVISORS', '', 'Comma-separated supervisor identities (E.164 or client:NAME).', parse=parse.names)
    supervisors_queue: str = setting('IVR_SUPERVISORS_QUEUE', 'supervisors', 'Twilio queue escalated callers wait in.')
    teams: dict[str, tuple[str, ...]] = setting('IVR_TEAMS', '', "Named teams of agents, e.g. billing=+15550001111,client:anna; complaints=+15550003333: a contact restriction may send a number's calls to one team (its own Twilio queue, team-NAME).", parse=parse.teams)
    second_warning_ends: bool = setting('IVR_SECOND_WARNING_ENDS', '1', '1: a second warning (key 2) on one call ends it politely.', parse=parse.on_off)
    warnings_before_offer: int = setting('IVR_WARNINGS_BEFORE_OFFER', '3', "Limit-setting warnings (key 2, the desk's or the API's warn) on record for one number, across calls, after which the number's page and the review list offer the manager a restriction or a block; 0 turns the offer off.", parse=parse.whole)
    flag_category: str = setting('IVR_FLAG_CATEGORY', abuse.DEFAULT, 'The abuse category `*` then 9 on the phone records (the desk and the API pick one): obscene, threats, sexual, hate, nonsense, silent, robocall, repeat_complaint or other.', parse=abuse.category)
    callback_delay_seconds: int = setting('IVR_CALLBACK_DELAY_SECONDS', '1800', 'Call back this long after key 3 (the API may say when).', parse=parse.whole)
    callback_attempts: int = setting('IVR_CALLBACK_ATTEMPTS', '3', 'Attempts of a callback nobody answers before it is marked failed.', parse=parse.whole)
    callback_retry_seconds: int = setting('IVR_CALLBACK_RETRY_SECONDS', '600', 'Wait between callback attempts.', parse=parse.whole)
    callback_hours: str = setting('IVR_CALLBACK_HOURS', 'Mon-Sat 08:00-20:00', 'When callbacks may ring, e.g. Mon-Fri 08:00-18:00|Sat 09:00-13:00.', parse=parse.hours)
    line_callback_hours: dict[str, str] = setting('IVR_LINE_CALLBACK_HOURS', '', 'Per line, e.g. +18005551212=Mon-Fri 09:00-17:00.', parse=parse.line_hours)
    open_hours: str = setting('IVR_OPEN_HOURS', '', 'When lines take calls (empty: always); outside them callers get the closed message.', parse=parse.hours)
    line_open_hours: dict[str, str] = setting('IVR_LINE_OPEN_HOURS', '', 'Per line opening hours, e.g. +18005551212=Mon-Fri 08:00-18:00.', parse=parse.line_hours)
    timezone: str = setting('IVR_TIMEZONE', 'UTC', "Time zone of all hours settings and the reports' hours (IANA name).")
    event_retention_days: int = setting('IVR_EVENT_RETENTION_DAYS', '90', "Days screened calls stay in the event stream; older days' report totals are frozen.", parse=parse.whole)
    report_mask_numbers: bool = setting('IVR_REPORT_MASK_NUMBERS', '0', '1: reports hide the last 4 digits of caller numbers (no request can lift it).', parse=parse.on_off)
    report_shifts: str = setting('IVR_REPORT_SHIFTS', 'night=22-06,day=06-14,evening=14-22', 'Agent shifts in local hours (IVR_TIMEZONE) for the agents report.')
    organisation_name: str = setting('IVR_ORGANISATION_NAME', 'our call centre', "The centre's name as the warning letter and the carrier traceback request of the evidence pack print it.")
    appeal_contact: str = setting('IVR_APPEAL_CONTACT', '', 'Where a caller asks for a review of a warning, a restriction or a block (an address, email or phone), printed in the warning letter; empty: the letter asks for a reply in writing.')
    trusted_proxies: int = setting('IVR_TRUSTED_PROXIES', '0', 'Reverse proxies in front of the web tier: their X-Forwarded-For gives the client address (login limits, logs).', parse=parse.whole)
    simulation_clock: bool = setting('IVR_SIMULATION_CLOCK', '0', "1 for demos only: `ivr simulate` may set each request's clock (X-Ivr-Sim-Time) so a compressed day fills the reports. Never in production.", parse=parse.on_off)
    redis_timeout: float = setting('IVR_REDIS_TIMEOUT', '0.5', 'Socket timeout (s) on the webhook path; beyond it calls fail open.', parse=parse.seconds)
    max_body_bytes: int = setting('IVR_MAX_BODY_BYTES', '65536', 'Largest request body accepted (webhooks and API).', parse=parse.whole)
    import_max_bytes: int = setting('IVR_IMPORT_MAX_BYTES', '67108864', 'Largest CSV file the desk and the API import (64 MiB, about 1.5 million rows); `ivr blocklist import` has no limit.', parse=parse.whole)
    redirect_retries: int = setting('IVR_REDIRECT_RETRIES', '5', 'Retries of a REST redirect after a transient Twilio failure.', parse=parse.whole)
    redirect_backoff: tuple[int, ...] = setting('IVR_REDIRECT_BACKOFF', '1,2,4,8,16', 'Seconds between those retries.', parse=parse.backoff)
    log_numbers: str = setting('IVR_LOG_NUMBERS', 'masked', 'Phone numbers in logs: masked|full.')
    log_level: str = setting('IVR_LOG_LEVEL', 'info', "Log level: debug|info|warning|error. rq's per-job lines show at debug only.", parse=parse.lower_text)
    web_workers: int = setting('IVR_WEB_WORKERS', '0', 'gunicorn workers for `ivr serve`; 0 = 2 x cores + 1.', parse=parse.whole)
    desk_concurrency: int = setting('IVR_DESK_CONCURRENCY', '2', "Desk and API requests one web process serves at once; it runs this many threads plus 2 kept for Twilio's webhooks, and a desk request beyond it gets 503 at once.", parse=parse.whole)
    port: int = setting('IVR_PORT', '8000', 'Port `ivr serve` listens on.', parse=parse.whole)
    bind: str = setting('IVR_BIND', '127.0.0.1', 'Address `ivr serve` binds to.')
    secret_key: str = setting('IVR_SECRET_KEY', '', 'Signs desk session cookies. Empty: one is generated once and kept in IVR_DATA_DIR/secret_key (0600).')
    session_hours: int = setting('IVR_SESSION_HOURS', '12', 'A desk login ends after this many hours without a request.', parse=parse.whole)
    login_attempts: int = setting('IVR_LOGIN_ATTEMPTS', '5', 'Wrong passwords per username (4x per client address) before logins pause ...', parse=parse.whole)
    login_window_minutes: int = setting('IVR_LOGIN_WINDOW_MINUTES', '15', '... for this many minutes.', parse=parse.whole)

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment, then the settings file (see `settings_file`), then the
        defaults; `overrides` (by env name or attribute) win over all."""
        env = dict(os.environ if environ is None else environ)
        env = {**read_settings_file(env), **env}
        specs = {f.name: f for f in fields(cls)}
        raw: dict[str, Any] = {name: env.get(f.metadata["env"], f.metadata["default"]) for name, f in specs.items()}
        by_env = {f.metadata["env"]: name for name, f in specs.items()}
        for key, value in (overrides or {}).items():
            attr = by_env.get(key, key)
            if attr not in specs:
                raise ValueError(f"unknown setting {key!r}: see the settings table in README.md")
            raw[attr] = value
        if raw.get("redis_sentinels"):
            try:
                raw["redis_url"] = sentinel_url(str(raw["redis_sentinels"]), str(raw.get("redis_sentinel_service") or ""))
            except ValueError as exc:
                raise ValueError(f"setting REDIS_SENTINELS: {exc}") from None
        if str(raw.get("wait_replicas", "auto")).strip().lower() == "auto":
            raw["wait_replicas"] = 1 if raw.get("redis_sentinels") else 0
        out: dict[str, Any] = {}
        for name, f in specs.items():
            try:
                out[name] = f.metadata["parse"](raw[name])
            except ValueError as exc:
                raise ValueError(f"setting {f.metadata['env']}: {exc}") from None
        if not out["public_base_url"]:
            out["public_base_url"] = f"http://127.0.0.1:{out['port']}"
        settings = cls(**out)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ValueError naming the setting to fix."""
        if self.blocked_treatment not in TREATMENTS:
            raise ValueError(f"IVR_BLOCKED_TREATMENT must be one of {', '.join(TREATMENTS)}")
        if self.withheld_policy not in WITHHELD_POLICIES:
            raise ValueError(f"IVR_WITHHELD_POLICY must be one of {', '.join(WITHHELD_POLICIES)}")
        if self.burst_action not in BURST_ACTIONS:
            raise ValueError(f"IVR_BURST_ACTION must be one of {', '.join(BURST_ACTIONS)}")
        if not self.public_base_url.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_BASE_URL must start with https:// (or http:// for local runs)")
        if not self.sanction_ladder:
            raise ValueError("IVR_SANCTION_LADDER needs at least one step, e.g. 24h,7d,permanent")
        if self.default_language not in prompts.LANGUAGES:
            raise ValueError(f"IVR_DEFAULT_LANGUAGE must be one of {', '.join(prompts.LANGUAGES)}")
        for name, mapping in (("IVR_LINE_LANGUAGES", self.line_languages),
                              ("IVR_COUNTRY_LANGUAGES", self.country_languages)):
            bad = sorted(set(mapping.values()) - set(prompts.LANGUAGES))
            if bad:
                raise ValueError(f"{name}: unknown language {', '.join(bad)}; use one of {', '.join(prompts.LANGUAGES)}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"IVR_TIMEZONE {self.timezone!r} is not a time zone: use an IANA name like Africa/Johannesburg") from None
        if self.event_retention_days < 1:
            raise ValueError("IVR_EVENT_RETENTION_DAYS must be at least 1 (days of screened calls to keep)")
        parse.parse_shifts(self.report_shifts)
        make_one = "make one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        for name, value in (("IVR_API_TOKEN", self.api_token), ("IVR_SECRET_KEY", self.secret_key)):
            problem = secret_problem(value) if value else ""
            if problem:
                raise ValueError(f"{name} {problem}: it guards the whole service, so {make_one}"
                                 + (" (or unset it: the desk then keeps a generated key in IVR_DATA_DIR)"
                                    if name == "IVR_SECRET_KEY" else " (or unset it: the API then refuses every "
                                                                     "request)"))
        if not 1 <= self.desk_concurrency <= 64:
            raise ValueError("IVR_DESK_CONCURRENCY must be from 1 to 64 (desk and API requests per web process)")
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"IVR_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
        if self.log_numbers not in ("masked", "full"):
            raise ValueError("IVR_LOG_NUMBERS must be masked or full")

    @staticmethod
    def team_queue(name: str) -> str:
        """The Twilio queue of a team of IVR_TEAMS."""
        return f"team-{name}"

    def line_hours(self, line: str, kind: str) -> Hours:
        """Opening ('open') or callback ('callback') hours of a line."""
        if kind == "open":
            return parse_hours(self.line_open_hours.get(line, self.open_hours))
        return parse_hours(self.line_callback_hours.get(line, self.callback_hours))

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")


SETTINGS_FILE = "ivr.env"


def settings_file(env: Mapping[str, str]) -> Path | None:
    """The one settings file every `ivr` process reads: IVR_SETTINGS_FILE, else IVR_DATA_DIR/ivr.env
    (var/ivr.env by default); IVR_SETTINGS_FILE set empty turns it off. `ivr simulate --setup` writes
    it, so the service and the simulator agree without exports in two terminals."""
    if "IVR_SETTINGS_FILE" in env:
        return Path(env["IVR_SETTINGS_FILE"]) if env["IVR_SETTINGS_FILE"] else None
    return Path(env.get("IVR_DATA_DIR") or "var") / SETTINGS_FILE


def read_settings_file(env: Mapping[str, str]) -> dict[str, str]:
    """NAME=value lines of the settings file (dotenv syntax; comments and blank lines allowed), or {}."""
    path = settings_file(env)
    if path is None or not path.is_file():
        return {}
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the settings file {path} ({exc}): fix or delete it") from None
    unknown = sorted(set(values) - set(SETTINGS) - {"IVR_SETTINGS_FILE"})
    if unknown:
        raise ValueError(f"{path}: unknown setting {', '.join(unknown)}: see the settings table in README.md")
    return {k: v for k, v in values.items() if v is not None}


def _specs() -> list[Field[Any]]:
    return [f for f in fields(Settings) if f.default is not MISSING or f.default_factory is not MISSING]


# name -> (attribute, default as written, help): the README's settings table, `ivr settings`.
SETTINGS: dict[str, tuple[str, str, str]] = {
    f.metadata["env"]: (f.name, f.metadata["default"], f.metadata["help"]) for f in _specs()
}

MIN_SECRET_CHARS = 32
MIN_SECRET_BITS = 80.0  # per-character Shannon entropy times the length: 32 random hex digits give 92-125 (300,000 drawn)


def secret_problem(value: str) -> str:
    """Why `value` is too weak to guard the service ('' when it will do): short, blank or repetitive."""
    if not value.strip():
        return "is only blanks"
    if value != value.strip():
        return "starts or ends with blanks (a copy-and-paste slip?)"
    if len(value) < MIN_SECRET_CHARS:
        return f"is {len(value)} characters; use at least {MIN_SECRET_CHARS}"
    counts = {ch: value.count(ch) for ch in set(value)}
    bits = -sum(n * math.log2(n / len(value)) for n in counts.values())
    if bits < MIN_SECRET_BITS:
        return f"is too predictable (about {bits:.0f} bits; it repeats few characters)"
    return ""
