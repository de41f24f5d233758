"""Desk login/logout, the landing redirect, one's own account (password, API tokens), and desk users."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _

from blocklist.text import clean_text
from ivr.accounts import MAX_PASSWORD, RANK, ROLES, User, check_password
from ivr.auth import csrf_ok, csrf_token, current_principal, require_role, users
from ivr.auth import desk_user as _me
from ivr.desk.web import DESK_LANGUAGES, LANGUAGE_NAMES
from ivr.resources import resources

bp = Blueprint("desk_auth", __name__, url_prefix="/desk")
log = logging.getLogger("ivr.desk.auth")


def home_for(role: str) -> str:
    return url_for("desk_manager.dashboard") if RANK.get(role, 0) >= RANK["manager"] else url_for("desk_agent.call")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this desk: never another host (open redirect), never a control character (a CR/LF
    would split the Location header), at most 500 characters."""
    if (target and target.startswith("/desk") and not target.startswith("//") and "\\" not in target
            and len(target) <= 500 and target.isprintable() and " " not in target):
        return target
    return None


def _client() -> str:
    return request.remote_addr or "unknown"


@bp.get("/")
def index() -> Any:
    p = current_principal()
    if p is None or p.kind != "session":
        return redirect(url_for("desk_auth.login"))
    return redirect(home_for(p.role))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Username and password; a new session id at every login; throttled per username and per address."""
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        p = current_principal()
        if p is not None and p.kind == "session":
            return redirect(next_url or home_for(p.role))
        return render_template("desk/login.html", next_url=next_url, username="")
    username = clean_text(request.form.get("username", ""), 64).strip().lower()
    password = request.form.get("password", "")[:MAX_PASSWORD + 1]
    if not csrf_ok():
        return _login_refused(_("The login form had expired. It is reloaded now: log in again."), username, next_url, 400)
    s = resources().settings
    store = users()
    attempts = max(1, s.login_attempts)
    window = max(1, s.login_window_minutes) * 60
    wait = store.login_attempt(username, _client(), attempts, attempts * 4, window)
    if wait:
        minutes = max(1, (wait + 59) // 60)
        return _login_refused(ngettext("Too many wrong passwords. Try again in %(num)d minute, or ask an admin to reset "
                                       "your password.", "Too many wrong passwords. Try again in %(num)d minutes, or "
                                       "ask an admin to reset your password.", minutes), username, next_url, 429)
    user = store.verify(username, password)
    if user is None:
        log.info("failed desk login for %r from %s", username[:32], _client())
        return _login_refused(_("Wrong username or password (or the user is disabled). Check them and try again."),
                              username, next_url, 401)
    store.login_succeeded(user.username, _client(), window)
    old = session.get("sid")
    if old:
        store.end_session(str(old))
    session.clear()  # a fresh cookie: nothing from before the login survives (no fixation)
    session.permanent = True
    session["sid"] = store.start_session(user, _client())
    session["u"] = user.username
    csrf_token()
    log.info("desk login: %s (%s)", user.username, user.role)
    return redirect(next_url or home_for(user.role))


def _login_refused(message: str, username: str, next_url: str | None, status: int) -> tuple[str, int]:
    return render_template("desk/login.html", error=message, username=username, next_url=next_url), status


@bp.post("/logout")
@require_role("agent")
def logout() -> Any:
    sid = session.get("sid")
    if sid:
        users().end_session(str(sid))
    session.clear()
    flash(_("You are logged out."))
    return redirect(url_for("desk_auth.login"))


# ---- one's own account ----------------------------------------------------------------------------------
@bp.route("/account", methods=["GET", "POST"])
@require_role("agent")
def account() -> Any:
    """Change one's password and the desk's language; make and revoke one's API tokens."""
    me = _me()
    store = users()
    new_token = None
    status = 200
    if request.method == "POST":
        action = request.form.get("action", "")
        try:
            if action == "password":
                if store.verify(me.username, request.form.get("current", "")) is None:
                    raise ValueError("the current password is wrong: type it again")
                new = request.form.get("new", "")
                if new != request.form.get("confirm", ""):
                    raise ValueError("the new password and its confirmation differ: type both again")
                user = store.set_password(me.username, new, by=me.username, by_role=me.role)
                # Keep this browser logged in; every other session of the user ended with the reset.
                session.clear()
                session.permanent = True
                session["sid"] = store.start_session(user, _client())
                session["u"] = user.username
                csrf_token()
                flash(_("Password changed. Your other sessions were logged out."))
                return redirect(url_for("desk_auth.account"))
            if action == "language":
                user = store.set_language(me.username, request.form.get("language", ""), by=me.username,
                                          by_role=me.role)
                with force_locale(user.language or request.accept_languages.best_match(DESK_LANGUAGES) or "en"):
                    flash(_("Language saved."))  # in the language chosen: the next page speaks it
                return redirect(url_for("desk_auth.account"))
            if action == "token":
                token_id, new_token = store.create_token(me.username, request.form.get("name", ""), by=me.username,
                                                         by_role=me.role)
                flash(_("Token %(id)s made. Copy it now: it is not shown again.", id=token_id))
            elif action == "revoke":
                if not store.revoke_token(me.username, request.form.get("token_id", ""), by=me.username,
                                          by_role=me.role):
                    raise ValueError("no such token of yours: it may be revoked already")
                flash(_("Token revoked: it no longer works."))
                return redirect(url_for("desk_auth.account"))
            else:
                raise ValueError("unknown action: use the buttons on this page")
        except ValueError as exc:
            flash(_("Not done: %(problem)s.", problem=exc), "error")
            status = 400
    return render_template("desk/account.html", user=store.get(me.username) or me, tokens=store.tokens(me.username),
                           new_token=new_token, settings=resources().settings, languages=DESK_LANGUAGES,
                           language_names=LANGUAGE_NAMES), status


# ---- desk users (managers: agents; admins: everyone) -------------------------------------------------------
def _may_manage(actor: User, role: str) -> bool:
    return actor.role == "admin" or (actor.role == "manager" and role == "agent")


@bp.route("/users", methods=["GET", "POST"])
@require_role("manager")
def users_page() -> Any:
    """Desk users and their phones; managers add and edit agents, admins everyone."""
    me = _me()
    store = users()
    status = 200
    form: dict[str, str] = {}
    if request.method == "POST":
        form = {k: clean_text(request.form.get(k, ""), 300) for k in ("username", "role", "identities")}
        try:
            role = form["role"] or "agent"
            if not _may_manage(me, role):
                raise ValueError(f"a {me.role} may add agents only; ask an admin to add a {role}")
            password = request.form.get("password", "")
            check_password(password)
            user = store.create(form["username"], password, role, identities=form["identities"], by=me.username,
                                by_role=me.role)
            flash(_("User %(user)s (%(role)s) added. Give them the password in person; they can change it under "
                    "Account.", user=user.username, role=user.role))
            return redirect(url_for("desk_auth.users_page"))
        except (ValueError, RuntimeError) as exc:
            flash(_("Not added: %(problem)s.", problem=exc), "error")
            status = 400
    return render_template("desk/users.html", users=store.all(), roles=ROLES, form=form,
                           may_manage=lambda u: _may_manage(me, u.role) and u.username != me.username,
                           env_agents=resources().settings.agents), status


@bp.post("/users/<username>")
@require_role("manager")
def user_action(username: str) -> Any:
    """Phones, role, password reset, disable/enable of one user."""
    me = _me()
    store = users()
    target = store.get(username)
    if target is None:
        abort(404, description=f"no desk user {clean_text(username, 40)!r}")
    action = request.form.get("action", "")
    try:
        if target.username == me.username and action in ("role", "disable"):
            raise ValueError("you cannot change your own role or disable yourself; ask another admin")
        if not _may_manage(me, target.role):
            raise ValueError(f"a {me.role} may change agents only")
        if action == "phones":
            user = store.set_identities(target.username, request.form.get("identities", ""), by=me.username,
                                        by_role=me.role)
            flash(_("%(user)s now takes calls from: %(phones)s.", user=user.username,
                    phones=", ".join(user.identities) or _("no phone")))
        elif action == "role":
            role = request.form.get("role", "")
            if not _may_manage(me, role):
                raise ValueError(f"a {me.role} cannot make anyone {role}")
            user = store.set_role(target.username, role, by=me.username, by_role=me.role)
            flash(_("%(user)s is now %(role)s; it applies at their next click.", user=user.username, role=user.role))
        elif action == "password":
            store.set_password(target.username, request.form.get("password", ""), by=me.username, by_role=me.role)
            flash(_("Password of %(user)s reset; their sessions ended.", user=target.username))
        elif action in ("disable", "enable"):
            user = store.set_disabled(target.username, action == "disable", by=me.username, by_role=me.role)
            flash(_("%(user)s is disabled.", user=user.username) if user.disabled
                  else _("%(user)s is enabled.", user=user.username))
        else:
            raise ValueError("unknown action: use the buttons on the users page")
    except (ValueError, LookupError, RuntimeError, redis.WatchError) as exc:
        flash(_("Not changed: %(problem)s.", problem=exc), "error")
    return redirect(url_for("desk_auth.users_page"))

