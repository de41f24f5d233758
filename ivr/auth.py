"""Who is asking on the API and the desk: the service token IVR_API_TOKEN (integrations; counts as
admin), a desk user's own API token, or a desk user's session (cookie; unsafe methods need the session's
CSRF token). Roles rank agent < manager < admin; `require_role` guards API routes and pages."""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, g, redirect, request, session, url_for

from blocklist.text import clean_text
from ivr.accounts import RANK, User, Users
from ivr.problems import desk_page, problem
from ivr.resources import resources

log = logging.getLogger("ivr.security")


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


CSRF_FIELD = "csrf_token"


CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Principal:
    """Who makes this request."""

    name: str  # username, or "api" for the service token
    role: str  # agent | manager | admin
    kind: str  # service | token | session
    user: User | None = None

    def at_least(self, role: str) -> bool:
        return RANK.get(self.role, 0) >= RANK[role]


SERVICE = Principal("api", "admin", "service")


def users() -> Users:
    """The desk's user store on the app's normal Redis client."""
    res = resources()
    return Users(res.store, res.settings.default_region, session_seconds=max(1, res.settings.session_hours) * 3600)


def api_token_ok() -> bool:
    token = resources().settings.api_token
    header = request.headers.get("Authorization", "")
    scheme, _, supplied = header.partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip(), token)


def _bearer_principal() -> Principal | None:
    header = request.headers.get("Authorization", "")
    scheme, _, supplied = header.partition(" ")
    supplied = supplied.strip()
    if scheme.lower() != "bearer" or not supplied:
        return None
    token = resources().settings.api_token
    if token and hmac.compare_digest(supplied.encode(), token.encode()):
        return SERVICE
    user = users().user_for_token(supplied)
    return Principal(user.username, user.role, "token", user) if user else None


def _session_principal() -> Principal | None:
    sid, name = session.get("sid"), session.get("u")
    if not sid or not name:
        return None
    user = users().session_user(str(sid), str(name))
    if user is None:
        session.clear()
        return None
    return Principal(user.username, user.role, "session", user)


def current_principal() -> Principal | None:
    """The request's principal (resolved once per request): a bearer token wins over the session cookie."""
    if "ivr_principal" not in g:
        if request.headers.get("Authorization"):
            g.ivr_principal = _bearer_principal()
        else:
            g.ivr_principal = _session_principal()
    principal: Principal | None = g.ivr_principal
    return principal


def desk_user() -> User:
    """The logged-in desk user of this request; 403 when the request is not a desk user's (the service token)."""
    p = current_principal()
    if p is None or p.user is None:
        abort(403, description="this page is for logged-in desk users")
    return p.user


def principal_name() -> str:
    """Who to write into history and audit records for this request."""
    p = current_principal()
    return p.name if p else "anonymous"


def acting_name(named: str = "") -> str:
    """Who did it, for history and audit: a desk user (session or own token) by their name, whatever the
    request says; only the service token, which stands for an integration, may name the person behind
    it (`named`, from the request), else it is "api"."""
    p = current_principal()
    if p is not None and p.kind != "service":
        return p.name
    return clean_text(named, 80) or "api"


def csrf_token() -> str:
    """This browser session's CSRF token (made on first use; a login makes a new one)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def csrf_ok() -> bool:
    expected = session.get("csrf")
    supplied = request.headers.get(CSRF_HEADER) or ""
    if not supplied and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        supplied = request.form.get(CSRF_FIELD, "")
    return bool(expected) and bool(supplied) and hmac.compare_digest(str(supplied).encode(), str(expected).encode())


def _is_page() -> bool:
    return request.path.startswith("/desk")


def _unauthorized() -> Any:
    if _is_page():
        target = request.full_path if request.method == "GET" else request.path
        return redirect(url_for("desk_auth.login", next=target.rstrip("?")))
    if request.headers.get("Authorization"):
        detail = ("the bearer token is not valid: send Authorization: Bearer <IVR_API_TOKEN> or a desk user's "
                  "API token (the desk's Tokens page makes one)")
    else:
        detail = "send Authorization: Bearer <IVR_API_TOKEN> (or a desk user's API token), or log in on the desk"
    return problem(401, "unauthorized", detail)


def _csrf_refused() -> Any:
    detail = ("the form's security token is missing or stale (CSRF): reload the page and submit again"
              if _is_page() else
              f"a logged-in session must send its CSRF token in the {CSRF_HEADER} header; scripts should use an "
              "API token instead")
    if _is_page():
        return desk_page(403, detail, heading="That form has expired",
                         todo="Go back, reload the page, and send the form again.")
    return problem(403, "csrf", detail)


def _forbidden(p: Principal, role: str) -> Any:
    detail = (f"this needs the {role} role; {p.name} is {p.role}. Ask an admin to change the role if you "
              "need this")
    if _is_page():
        return desk_page(403, detail, heading=f"This page is for {role}s",
                         todo="Go back, or open one of your own pages from the navigation above.")
    return problem(403, "forbidden", detail)


def _check(role: str) -> Any:
    """None when the request may go on; otherwise the response refusing it."""
    p = current_principal()
    if p is None:
        return _unauthorized()
    if p.kind == "session" and request.method not in SAFE_METHODS and not csrf_ok():
        return _csrf_refused()
    if not p.at_least(role):
        return _forbidden(p, role)
    return None


def require_role(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Guard an API route or a desk page: authenticated (token or session + CSRF) and at least `role`."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(RANK)}")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = _check(role)
            if refused is not None:
                return refused
            return view(*args, **kwargs)

        return wrapper

    return decorate


def api_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """JSON API routes: any authenticated principal (service token, user token, or desk session + CSRF).

    Stack `@require_role("manager")` under it for routes agents must not use.
    """
    return require_role("agent")(view)
