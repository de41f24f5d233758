"""Shared steps of the desk tests: make desk users, log in through the real form, post forms with CSRF."""

from __future__ import annotations

import re
from typing import Any

from ivr.accounts import User, Users

PASSWORD = "correct horse battery"


def users_of(app: Any) -> Users:
    res = app.extensions["ivr"]
    return Users(res.store, res.settings.default_region)


def make_user(app: Any, name: str, role: str = "agent", phones: str = "", password: str = PASSWORD) -> User:
    return users_of(app).create(name, password, role, identities=phones, by="test")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(client: Any, name: str, password: str = PASSWORD, next_url: str | None = None) -> Any:
    """Log in through the login form, as a browser does (GET for the CSRF token, then POST)."""
    page = client.get("/desk/login")
    data = {"username": name, "password": password, "csrf_token": csrf_of(page.get_data(as_text=True))}
    if next_url:
        data["next"] = next_url
    return client.post("/desk/login", data=data)


def session_csrf(client: Any) -> str:
    with client.session_transaction() as sess:
        return str(sess["csrf"])


def post_form(client: Any, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """A desk form post carrying the session's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": session_csrf(client)}, **kw)


def logged_in(app: Any, name: str = "max", role: str = "manager") -> Any:
    """A test client logged in through the real form as a new desk user of `role`."""
    make_user(app, name, role)
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client
