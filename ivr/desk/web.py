"""Desk wiring for the app factory: the session cookie, its secret key, security headers, template helpers."""

from __future__ import annotations

import logging
import os
import secrets
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_babel import Babel, format_number, get_locale

from blocklist import events
from blocklist.clock import human_time, relative_time
from blocklist.settings import Settings
from ivr.auth import csrf_token, current_principal
from ivr.desk.abuse_words import category_words
from ivr.desk.restriction_words import restriction_words
from prompts import DEFAULT_LANGUAGE, LANGUAGES

log = logging.getLogger("ivr.desk")
SECRET_FILE = "secret_key"
# The desk's catalogs (pybabel compile writes the .mo files next to the .po files; both are committed).
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
# The desk speaks the languages the prompts speak: the people of a line and its callers share them.
DESK_LANGUAGES: tuple[str, ...] = LANGUAGES
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "af": "Afrikaans", "zh": "中文", "pt": "Português",
                                  "vi": "Tiếng Việt", "fi": "Suomi"}
# No inline script, no inline style and no eval: the dashboard's charts (vega-embed, static/desk/charts.js) run
# Vega's expressions with vega-interpreter and take their tooltip style from desk.css.
DESK_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# Other HTML (the printable report): no scripts at all; its inline <style> stays allowed.
OTHER_HTML_CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'none'; "
                  "frame-ancestors 'none'; base-uri 'none'")


def secret_key(settings: Settings) -> str:
    """IVR_SECRET_KEY, else the key kept in IVR_DATA_DIR/secret_key (made once, mode 0600)."""
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise ValueError("IVR_SECRET_KEY is shorter than 32 characters: make one with "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or unset it")
        return settings.secret_key
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        return _read_or_create(path)
    except OSError as exc:
        log.warning("cannot keep a session key in %s (%s): desk logins end when the service restarts; set "
                    "IVR_SECRET_KEY or make IVR_DATA_DIR writable", path, exc.strerror or exc)
        return secrets.token_urlsafe(48)


def _read_or_create(path: Path) -> str:
    if path.exists():
        key = path.read_text().strip()
        if len(key) >= 32:
            return key
        raise OSError(f"{path} holds no usable key; delete it to make a new one")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_urlsafe(48) + "\n")
    try:
        os.link(tmp, path)  # atomic create-if-absent: several web workers may start at once
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()


class CookieSessions(SecureCookieSessionInterface):
    """The signed-cookie session, opened only when the request carries a cookie and saved only when touched:
    Twilio's webhooks never send one, and the signing serializer and the cookie settings cost them CPU."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if "HTTP_COOKIE" not in request.environ or not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:  # type: ignore[override]
        if not session and not session.modified and not session.accessed:
            return  # nothing to set, delete or vary on
        super().save_session(app, session, response)


def configure(app: Flask, settings: Settings) -> None:
    """Session cookie and key, headers, and what every desk template may use."""
    app.session_interface = CookieSessions()
    app.config["SECRET_KEY"] = secret_key(settings)
    app.config["SESSION_COOKIE_NAME"] = "ivr_desk"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = settings.public_base_url.startswith("https://")
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=max(1, settings.session_hours))

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith("/desk"):
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Referrer-Policy", "same-origin")
            headers["Content-Security-Policy"] = DESK_CSP
            headers.setdefault("Cache-Control", "no-store")
        elif headers.get("Content-Type", "")[:9].lower() == "text/html":  # framing and referrers only concern
            # documents a browser shows (the header as set: response.mimetype would parse it on every webhook)
            headers.setdefault("X-Frame-Options", "DENY")
            headers.setdefault("Referrer-Policy", "same-origin")
            headers.setdefault("Content-Security-Policy", OTHER_HTML_CSP)
        return response

    @app.context_processor
    def desk_helpers() -> dict[str, Any]:
        if not request.path.startswith("/desk"):
            return {}
        return {"csrf_token": csrf_token, "me": current_principal()}

    Babel(app, locale_selector=desk_locale, default_translation_directories=str(TRANSLATIONS_DIR))
    zone = _zone(getattr(settings, "timezone", "UTC"))
    app.jinja_env.filters["ms_time"] = lambda ms, with_seconds=False: fmt_time(ms, with_seconds, zone, locale_code())
    app.jinja_env.filters["iso_time"] = lambda iso, with_seconds=False: fmt_time(iso_ms(iso), with_seconds, zone,
                                                                               locale_code())
    app.jinja_env.filters["action_words"] = events.action_words
    app.jinja_env.filters["category_words"] = category_words  # abuse categories in the reader's language
    app.jinja_env.filters["restriction_words"] = restriction_words  # a contact restriction, likewise
    app.jinja_env.filters["ms_relative"] = lambda ms: relative_time(ms, locale=locale_code())
    app.jinja_env.filters["count"] = count
    app.jinja_env.globals["locale_code"] = locale_code


def count(value: Any) -> Any:
    """A count as the reader writes numbers ('12,345' in English, '12 345' in Finnish); anything else as it is."""
    return format_number(value) if isinstance(value, int) and not isinstance(value, bool) else value


def desk_locale() -> str:
    """The language of this request's pages: the user's choice on the account page, else the best match of
    the browser's Accept-Language among the desk's languages, else English."""
    principal = current_principal() if request.path.startswith("/desk") else None
    chosen = getattr(getattr(principal, "user", None), "language", "")
    if chosen in DESK_LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(DESK_LANGUAGES) or DEFAULT_LANGUAGE


def locale_code() -> str:
    """The current locale as a code babel and <html lang> read ('fi'); English outside a request."""
    locale = get_locale()
    return str(locale) if locale is not None else DEFAULT_LANGUAGE


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def iso_ms(iso: Any) -> int | None:
    """Milliseconds of an ISO 8601 time with its offset (the reports' form, kept for their JSON and CSV), so a page
    shows it as every other time (ms_time); None for nothing or for text that is not such a time."""
    try:
        moment = datetime.fromisoformat(str(iso or ""))
    except ValueError:
        return None
    return int(moment.timestamp() * 1000) if moment.tzinfo is not None else None


def fmt_time(ms: Any, with_seconds: bool = False, zone: tzinfo = UTC, locale: str = DEFAULT_LANGUAGE) -> str:
    """Milliseconds since the epoch as people read them on the desk: '5 Dec 2026, 14:01 SAST' in the
    service's time zone ('' for nothing), the month in the reader's language; blocklist.clock.human_time is
    the one format."""
    return human_time(ms, zone, seconds=with_seconds, locale=locale)
