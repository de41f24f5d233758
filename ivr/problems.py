"""Errors in the service's own words, said the same way to people and to programs.

The desk answers an error with a page in its own layout (what went wrong, what to do, a way back); the JSON
API answers an RFC 9457 problem (`application/problem+json`) carrying the same words as its `detail`. Twilio's
routes never come here: a caller must never hear an application error (see ivr.errors).

It imports only Flask and blocklist.text, so ivr.auth and the API blueprints can use it without an import cycle.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Response, current_app, g, render_template, request, url_for
from werkzeug.http import HTTP_STATUS_CODES

from blocklist.text import clean_text

PROBLEM_JSON = "application/problem+json"
# RFC 9457 4.2.1: "about:blank" says the problem means no more than its HTTP status; `title` is then the status
# phrase. The exact kind of problem is the `error` extension member (the code clients read before 9457).
BLANK_TYPE = "about:blank"
API_PREFIXES = ("/api/", "/reports/")
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"\A[A-Za-z0-9._:-]{8,64}\Z")
_BACK_LIMIT = 500


@dataclass(frozen=True)
class Words:
    """A desk error page's heading and its "what to do" line, for one HTTP status."""

    heading: str
    todo: str


DESK_WORDS: dict[int, Words] = {
    400: Words("Something in that request is not right",
               "Correct what the message above names, then try again."),
    403: Words("You cannot do that here",
               "If your work needs this, ask an admin to change your role."),
    404: Words("We could not find that",
               "Go back and follow a link on the desk, or start again from the desk's home."),
    405: Words("That address does not work that way",
               "Use the desk's own buttons and links rather than opening this address directly."),
    413: Words("That is too big to send",
               "Send less at once: a shorter text, or the file split into smaller ones."),
    500: Words("Something went wrong on our side",
               "Try again in a moment. If it happens again, tell your admin and give them the request id below: "
               "the service's log has the error under it."),
    503: Words("The desk is waiting for its data store",
               "Try again in a moment: the desk works again as soon as its store answers. If it lasts more than "
               "a few minutes, tell your admin."),
}
OTHER_WORDS = Words("That did not work", "Go back and try again.")


def is_api_request() -> bool:
    """The JSON API (and its printable report, whose errors are JSON too): programs, not people, read these."""
    return request.path.startswith(API_PREFIXES)


def request_id() -> str:
    """This request's id: the one a proxy in front sent (X-Request-ID), when it looks like an id, else a new one.

    Made once per request, so the log line and the answer name the same id.
    """
    if "ivr_request_id" not in g:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        g.ivr_request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
    found: str = g.ivr_request_id
    return found


def problem(status: int, code: str, detail: str, *, headers: Mapping[str, str] | None = None,
            **extra: Any) -> tuple[Response, int]:
    """An RFC 9457 problem: type, title, status, detail, instance, plus the `error` code and any `extra` members.

    The five standard members always win over an extra member of the same name, so a caller's data cannot
    make the problem lie about its status.
    """
    body: dict[str, Any] = {
        "type": BLANK_TYPE,
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.script_root + request.path,
        "error": code,
    }
    body.update({name: value for name, value in extra.items() if name not in body})
    response = Response(f"{current_app.json.dumps(body)}\n", status=status, mimetype=PROBLEM_JSON)
    if headers:
        response.headers.update(headers)
    return response, status


def sentence(text: str) -> str:
    """A detail as a sentence a page can show: starting with a capital, ending with a full stop."""
    text = text.strip()
    if not text:
        return text
    if text[0].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _origins() -> set[tuple[str, str]]:
    """Where a same-origin page can be: the URL this request came in on, and the configured public base URL."""
    origins = {(request.scheme, request.host.lower())}
    settings = current_app.config.get("SETTINGS")
    base = getattr(settings, "public_base_url", "") or ""
    if base:
        parts = urlsplit(base)
        origins.add((parts.scheme, parts.netloc.lower()))
    return origins


def _safe_path(target: str) -> bool:
    """A path on this host only: never another host (//evil), no backslash, no control character, bounded."""
    return (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and len(target) <= _BACK_LIMIT and target.isprintable() and " " not in target)


def back_target() -> str | None:
    """The page the visitor came from, when it is on this desk's own origin and is not this same address."""
    referrer = request.headers.get("Referer", "")
    if not referrer or len(referrer) > 2000:
        return None
    try:
        parts = urlsplit(referrer)
    except ValueError:
        return None
    if (parts.scheme, parts.netloc.lower()) not in _origins():
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    here = request.full_path.rstrip("?")
    if not _safe_path(target) or target in (here, request.path) or target.startswith(API_PREFIXES):
        return None
    return target


def desk_page(status: int, detail: str, *, heading: str | None = None, todo: str | None = None,
              headers: Mapping[str, str] | None = None, show_request_id: bool = False,
              context: Mapping[str, Any] | None = None) -> Response:
    """The desk's error page: its layout (navigation when logged in), a plain heading, the detail, what to do,
    and a way back (the page the visitor came from when that is safe, else the desk's home), with `status`."""
    words = DESK_WORDS.get(status, OTHER_WORDS)
    home = url_for("desk_auth.index")
    back = back_target()
    html = render_template(
        "desk/error.html", status=status, heading=heading or words.heading, detail=sentence(detail),
        todo=todo or words.todo, back=back or home, came_from=back is not None, home=home,
        request_id=request_id() if show_request_id else "", **(context or {}))
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    if headers:
        response.headers.update(headers)
    return response


def clean_path() -> str:
    """The path asked for, safe to repeat in words (no control characters, bounded)."""
    return clean_text(request.path, 200)
