"""Settings: every environment variable the service reads, with its default, in one place.

Nothing here runs at import time; `Settings.from_env()` is called by the app factory and the CLI.
The README's settings table mirrors `SETTINGS` below.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from blocklist.hours import Hours, parse_hours

TREATMENTS = ("reject", "isolation", "linefault", "hangup")
WITHHELD_POLICIES = ("allow", "linefault", "isolation", "reject")
BURST_ACTIONS = ("review", *TREATMENTS)
LANGUAGES = ("en", "af", "zh", "pt", "vi", "fi")
LOG_LEVELS = ("debug", "info", "warning", "error")

# name -> (attribute, default, help). Secrets have no default.
SETTINGS: dict[str, tuple[str, str, str]] = {
    "REDIS_URL": ("redis_url", "", "Redis URL. Unset: `ivr serve` starts an embedded redis-server under IVR_DATA_DIR."),
    "REDIS_SENTINELS": ("redis_sentinels", "", "Sentinels host:port,host:port; with it the primary is discovered (REDIS_URL unused)."),
    "REDIS_SENTINEL_SERVICE": ("redis_sentinel_service", "mymaster", "The primary's name the Sentinels monitor."),
    "IVR_WAIT_REPLICAS": ("wait_replicas", "auto", "Flag and blocklist writes wait for this many replicas (WAIT); auto = 1 with Sentinels, else 0."),
    "IVR_WAIT_TIMEOUT_MS": ("wait_timeout_ms", "500", "Longest wait for that replica acknowledgement."),
    "TWILIO_ACCOUNT_SID": ("twilio_account_sid", "", "Account SID for the REST API (queue setup, redirects)."),
    "TWILIO_AUTH_TOKEN": ("twilio_auth_token", "", "Auth token: signs webhooks and authenticates REST calls."),
    "IVR_TWILIO_SECONDARY_AUTH_TOKEN": ("twilio_secondary_auth_token", "", "While rotating the auth token: the other token, also accepted on webhook signatures (remove it once the new one is primary)."),
    "IVR_WEBHOOK_SHARED_KEY": ("webhook_shared_key", "", "Secret of a Twilio Webhooks Setting (SharedKey): webhooks that carry X-Twilio-Webhooks-Signature-Settings are checked with it (HMAC-SHA256 or SHA1, as the header says)."),
    "PUBLIC_BASE_URL": ("public_base_url", "http://127.0.0.1:8000", "Base URL Twilio calls; signatures are checked against it."),
    "TWILIO_API_BASE_URL": ("twilio_api_base_url", "https://api.twilio.com", "Where REST requests go (a local stand-in in tests)."),
    "IVR_API_TOKEN": ("api_token", "", "Bearer token for the JSON API. Empty: the API refuses every request."),
    "IVR_AGENTS": ("agents", "", "Comma-separated agent identities (E.164 numbers or client:NAME)."),
    "IVR_DATA_DIR": ("data_dir", "var", "Folder for the embedded Redis data (AOF) and logs."),
    "IVR_DEFAULT_REGION": ("default_region", "US", "Region for numbers written without a country code."),
    "IVR_BLOCKED_TREATMENT": ("blocked_treatment", "reject", "Default treatment of a blocked caller: reject|isolation|linefault|hangup."),
    "IVR_WITHHELD_POLICY": ("withheld_policy", "allow", "Withheld caller ID: allow|linefault|isolation|reject."),
    "IVR_BURST_CALLS": ("burst_calls", "5", "Burst rule: more than this many calls ..."),
    "IVR_BURST_MINUTES": ("burst_minutes", "10", "... within this many minutes ..."),
    "IVR_BURST_ACTION": ("burst_action", "review", "... gets this: review (manager's list) or a treatment."),
    "IVR_SANCTION_LADDER": ("sanction_ladder", "24h,7d,permanent", "Block length for the 1st, 2nd, 3rd... flag."),
    "IVR_FLAG_WINDOW_SECONDS": ("flag_window_seconds", "5", "How long the agent has to press a key after `*` or a call."),
    "IVR_BREATHER_SECONDS": ("breather_seconds", "20", "Pause an agent gets after flagging, before the next caller."),
    "IVR_MAX_WAIT_SECONDS": ("max_wait_seconds", "900", "Longest wait in the agents' queue before the caller is let go."),
    "IVR_NO_AGENT_SECONDS": ("no_agent_seconds", "30", "A caller waiting this long while no agent is connected is offered a call back."),
    "IVR_AGENT_IDLE_SECONDS": ("agent_idle_seconds", "3600", "An agent leg waiting this long with no caller is ended."),
    "IVR_DIAL_TIMEOUT": ("dial_timeout", "60", "Seconds an agent's Dial waits on an empty queue."),
    "IVR_AGENTS_QUEUE": ("agents_queue", "agents", "Twilio queue name callers wait in."),
    "IVR_ISOLATION_QUEUE": ("isolation_queue", "isolation", "Twilio queue name no agent serves."),
    "IVR_HOLD_QUEUE_PREFIX": ("hold_queue_prefix", "hold-", "Prefix of the private per-call hold queues."),
    "IVR_LINEFAULT_REPEATS": ("linefault_repeats", "3", "How often the line-fault message plays before hanging up."),
    "IVR_DEFAULT_LANGUAGE": ("default_language", "en", "Prompt language when a line has none: en|af|zh|pt|vi|fi."),
    "IVR_LINE_LANGUAGES": ("line_languages", "", "Per-line prompt language, e.g. +27215550100=af,+358955501=fi."),
    "IVR_COUNTRY_LANGUAGES": ("country_languages", "", "Prompt language by caller country (FromCountry) on lines with none, e.g. ZA=af,FI=fi."),
    "IVR_SUPERVISORS": ("supervisors", "", "Comma-separated supervisor identities (E.164 or client:NAME)."),
    "IVR_SUPERVISORS_QUEUE": ("supervisors_queue", "supervisors", "Twilio queue escalated callers wait in."),
    "IVR_SECOND_WARNING_ENDS": ("second_warning_ends", "1", "1: a second warning (key 2) on one call ends it politely."),
    "IVR_CALLBACK_DELAY_SECONDS": ("callback_delay_seconds", "1800", "Call back this long after key 3 (the API may say when)."),
    "IVR_CALLBACK_ATTEMPTS": ("callback_attempts", "3", "Attempts of a callback nobody answers before it is marked failed."),
    "IVR_CALLBACK_RETRY_SECONDS": ("callback_retry_seconds", "600", "Wait between callback attempts."),
    "IVR_CALLBACK_HOURS": ("callback_hours", "Mon-Sat 08:00-20:00", "When callbacks may ring, e.g. Mon-Fri 08:00-18:00|Sat 09:00-13:00."),
    "IVR_LINE_CALLBACK_HOURS": ("line_callback_hours", "", "Per line, e.g. +18005551212=Mon-Fri 09:00-17:00."),
    "IVR_OPEN_HOURS": ("open_hours", "", "When lines take calls (empty: always); outside them callers get the closed message."),
    "IVR_LINE_OPEN_HOURS": ("line_open_hours", "", "Per line opening hours, e.g. +18005551212=Mon-Fri 08:00-18:00."),
    "IVR_TIMEZONE": ("timezone", "UTC", "Time zone of all hours settings and the reports' hours (IANA name)."),
    "IVR_EVENT_RETENTION_DAYS": ("event_retention_days", "90", "Days screened calls stay in the event stream; older days' report totals are frozen."),
    "IVR_REPORT_MASK_NUMBERS": ("report_mask_numbers", "0", "1: reports hide the last 4 digits of caller numbers (no request can lift it)."),
    "IVR_REPORT_SHIFTS": ("report_shifts", "night=22-06,day=06-14,evening=14-22", "Agent shifts in local hours (IVR_TIMEZONE) for the agents report."),
    "IVR_TRUSTED_PROXIES": ("trusted_proxies", "0", "Reverse proxies in front of the web tier: their X-Forwarded-For gives the client address (login limits, logs)."),
    "IVR_SIMULATION_CLOCK": ("simulation_clock", "0", "1 for demos only: `ivr simulate` may set each request's clock (X-Ivr-Sim-Time) so a compressed day fills the reports. Never in production."),
    "IVR_REDIS_TIMEOUT": ("redis_timeout", "0.5", "Socket timeout (s) on the webhook path; beyond it calls fail open."),
    "IVR_MAX_BODY_BYTES": ("max_body_bytes", "65536", "Largest request body accepted (webhooks and API)."),
    "IVR_IMPORT_MAX_BYTES": ("import_max_bytes", "67108864", "Largest CSV file the desk and the API import (64 MiB, about 1.5 million rows); `ivr blocklist import` has no limit."),
    "IVR_REDIRECT_RETRIES": ("redirect_retries", "5", "Retries of a REST redirect after a transient Twilio failure."),
    "IVR_REDIRECT_BACKOFF": ("redirect_backoff", "1,2,4,8,16", "Seconds between those retries."),
    "IVR_LOG_NUMBERS": ("log_numbers", "masked", "Phone numbers in logs: masked|full."),
    "IVR_LOG_LEVEL": ("log_level", "info", "Log level: debug|info|warning|error. rq's per-job lines show at debug only."),
    "IVR_WEB_WORKERS": ("web_workers", "0", "gunicorn workers for `ivr serve`; 0 = 2 x cores + 1."),
    "IVR_DESK_CONCURRENCY": ("desk_concurrency", "2", "Desk and API requests one web process serves at once; it runs this many threads plus 2 kept for Twilio's webhooks, and a desk request beyond it gets 503 at once."),
    "IVR_PORT": ("port", "8000", "Port `ivr serve` listens on."),
    "IVR_BIND": ("bind", "127.0.0.1", "Address `ivr serve` binds to."),
    "IVR_SECRET_KEY": ("secret_key", "", "Signs desk session cookies. Empty: one is generated once and kept in IVR_DATA_DIR/secret_key (0600)."),
    "IVR_SESSION_HOURS": ("session_hours", "12", "A desk login ends after this many hours without a request."),
    "IVR_LOGIN_ATTEMPTS": ("login_attempts", "5", "Wrong passwords per username (4x per client address) before logins pause ..."),
    "IVR_LOGIN_WINDOW_MINUTES": ("login_window_minutes", "15", "... for this many minutes."),
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


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def parse_duration(text: str) -> int | None:
    """Seconds for '90s', '15m', '24h', '7d', '2w' or a bare number; None for 'permanent'."""
    text = text.strip().lower()
    if text in ("permanent", "forever", "inf"):
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    number, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    try:
        seconds = int(float(number) * unit)
    except (ValueError, OverflowError):  # OverflowError: '1e400' is infinite
        raise ValueError(f"{text!r} is not a duration: write e.g. 30s, 15m, 24h, 7d or permanent") from None
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero seconds")
    return seconds


@dataclass(frozen=True)
class Settings:
    """The service's settings, validated."""

    redis_url: str = ""
    redis_sentinels: str = ""
    redis_sentinel_service: str = "mymaster"
    wait_replicas: int = 0
    wait_timeout_ms: int = 500
    trusted_proxies: int = 0
    simulation_clock: bool = False
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_secondary_auth_token: str = ""
    webhook_shared_key: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    twilio_api_base_url: str = "https://api.twilio.com"
    api_token: str = ""
    agents: tuple[str, ...] = ()
    data_dir: Path = Path("var")
    default_region: str = "US"
    blocked_treatment: str = "reject"
    withheld_policy: str = "allow"
    burst_calls: int = 5
    burst_minutes: int = 10
    burst_action: str = "review"
    sanction_ladder: tuple[int | None, ...] = (86400, 604800, None)
    flag_window_seconds: int = 5
    breather_seconds: int = 20
    max_wait_seconds: int = 900
    no_agent_seconds: int = 30
    agent_idle_seconds: int = 3600
    dial_timeout: int = 60
    agents_queue: str = "agents"
    isolation_queue: str = "isolation"
    hold_queue_prefix: str = "hold-"
    linefault_repeats: int = 3
    default_language: str = "en"
    line_languages: dict[str, str] = field(default_factory=dict)
    supervisors: tuple[str, ...] = ()
    supervisors_queue: str = "supervisors"
    second_warning_ends: bool = True
    callback_delay_seconds: int = 1800
    callback_attempts: int = 3
    callback_retry_seconds: int = 600
    callback_hours: str = "Mon-Sat 08:00-20:00"
    line_callback_hours: dict[str, str] = field(default_factory=dict)
    open_hours: str = ""
    line_open_hours: dict[str, str] = field(default_factory=dict)
    timezone: str = "UTC"
    event_retention_days: int = 90
    report_mask_numbers: bool = False
    report_shifts: str = "night=22-06,day=06-14,evening=14-22"
    country_languages: dict[str, str] = field(default_factory=dict)
    redis_timeout: float = 0.5
    max_body_bytes: int = 65536
    import_max_bytes: int = 64 * 1024 * 1024
    redirect_retries: int = 5
    redirect_backoff: tuple[int, ...] = (1, 2, 4, 8, 16)
    log_numbers: str = "masked"
    log_level: str = "info"
    web_workers: int = 0
    desk_concurrency: int = 2
    port: int = 8000
    bind: str = "127.0.0.1"
    secret_key: str = ""
    session_hours: int = 12
    login_attempts: int = 5
    login_window_minutes: int = 15

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment; `overrides` (by env name or attribute) win."""
        env = dict(os.environ if environ is None else environ)
        raw: dict[str, Any] = {}
        for name, (attr, default, _help) in SETTINGS.items():
            raw[attr] = env.get(name, default)
        for key, value in (overrides or {}).items():
            attr = SETTINGS[key][0] if key in SETTINGS else key
            if attr not in {f.name for f in fields(cls)}:
                raise ValueError(f"unknown setting {key!r}: see the settings table in README.md")
            raw[attr] = value
        return cls._coerce(raw)

    @classmethod
    def _coerce(cls, raw: dict[str, Any]) -> Settings:
        raw = dict(raw)
        if raw.get("redis_sentinels"):
            from blocklist.store import sentinel_url

            try:
                raw["redis_url"] = sentinel_url(str(raw["redis_sentinels"]), str(raw.get("redis_sentinel_service") or ""))
            except ValueError as exc:
                raise ValueError(f"setting REDIS_SENTINELS: {exc}") from None
        if str(raw.get("wait_replicas", "auto")) == "auto":
            raw["wait_replicas"] = 1 if raw.get("redis_sentinels") else 0
        out: dict[str, Any] = {}
        for f in fields(cls):
            value = raw.get(f.name, f.default)
            name = next((n for n, spec in SETTINGS.items() if spec[0] == f.name), f.name)
            try:
                out[f.name] = _convert(f.name, value)
            except ValueError as exc:
                raise ValueError(f"setting {name}: {exc}") from None
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
        if self.default_language not in LANGUAGES:
            raise ValueError(f"IVR_DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        for name, mapping in (("IVR_LINE_LANGUAGES", self.line_languages),
                              ("IVR_COUNTRY_LANGUAGES", self.country_languages)):
            bad = sorted(set(mapping.values()) - set(LANGUAGES))
            if bad:
                raise ValueError(f"{name}: unknown language {', '.join(bad)}; use one of {', '.join(LANGUAGES)}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"IVR_TIMEZONE {self.timezone!r} is not a time zone: use an IANA name like Africa/Johannesburg") from None
        if self.event_retention_days < 1:
            raise ValueError("IVR_EVENT_RETENTION_DAYS must be at least 1 (days of screened calls to keep)")
        from workers.reports import parse_shifts

        parse_shifts(self.report_shifts)
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

    def language_for_line(self, line: str) -> str:
        """Prompt language configured for a line (the To number)."""
        return self.line_languages.get(line, self.default_language)


def _convert(attr: str, value: Any) -> Any:
    if attr in ("second_warning_ends", "report_mask_numbers", "simulation_clock"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise ValueError(f"{value!r} is not on or off: write 1 or 0")
        return text in ("1", "true", "yes", "on")
    if attr in ("line_callback_hours", "line_open_hours"):
        if isinstance(value, dict):
            return dict(value)
        mapping = {}
        for item in _split(str(value)):
            line, sep, hours = item.partition("=")
            if not sep:
                raise ValueError(f"{item!r}: write LINE=HOURS, e.g. +18005551212=Mon-Fri 08:00-18:00")
            parse_hours(hours)
            mapping[line.strip()] = hours.strip()
        return mapping
    if attr in ("callback_hours", "open_hours"):
        parse_hours(str(value))
        return str(value)
    if attr in ("agents", "supervisors"):
        return value if isinstance(value, tuple) else _split(str(value)) if not isinstance(value, list) else tuple(value)
    if attr == "data_dir":
        return Path(value)
    if attr == "sanction_ladder":
        if isinstance(value, (tuple, list)):
            return tuple(value)
        return tuple(parse_duration(step) for step in _split(str(value)))
    if attr == "redirect_backoff":
        if isinstance(value, (tuple, list)):
            return tuple(int(v) for v in value)
        try:
            return tuple(int(v) for v in _split(str(value)))
        except ValueError:
            raise ValueError("write whole seconds separated by commas, e.g. 1,2,4,8") from None
    if attr == "country_languages":
        if isinstance(value, dict):
            return {str(k).upper(): str(v) for k, v in value.items()}
        countries = {}
        for item in _split(str(value)):
            country, sep, lang = item.partition("=")
            if not sep or len(country.strip()) != 2:
                raise ValueError(f"{item!r}: write COUNTRY=LANG with a two-letter country code, e.g. ZA=af")
            countries[country.strip().upper()] = lang.strip()
        return countries
    if attr == "line_languages":
        if isinstance(value, dict):
            return dict(value)
        pairs = {}
        for item in _split(str(value)):
            line, sep, lang = item.partition("=")
            if not sep:
                raise ValueError(f"{item!r}: write LINE=LANG, e.g. +27215550100=af")
            pairs[line.strip()] = lang.strip()
        return pairs
    if attr == "log_level":
        return str(value).strip().lower()
    if attr in ("redis_timeout",):
        return float(value)
    if attr in (
        "burst_calls", "burst_minutes", "flag_window_seconds", "no_agent_seconds", "breather_seconds", "max_wait_seconds",
        "agent_idle_seconds", "dial_timeout", "linefault_repeats", "max_body_bytes", "import_max_bytes", "redirect_retries",
        "web_workers", "desk_concurrency", "port", "trusted_proxies", "event_retention_days", "wait_replicas", "wait_timeout_ms", "session_hours", "login_attempts", "login_window_minutes", "callback_delay_seconds", "callback_attempts", "callback_retry_seconds",
    ):
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a whole number") from None
        if number < 0:
            raise ValueError(f"{value!r} must not be negative")
        return number
    return str(value)
