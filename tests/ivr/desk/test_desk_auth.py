"""Desk logins, sessions, CSRF, login throttling, roles, API tokens, and the `ivr users` command."""

from __future__ import annotations

import os
import stat
from typing import Any

import pytest
from click.testing import CliRunner

from blocklist.keys import Desk as dk
from ivr.accounts import identity_registered, normalize_identity
from tests.support.constants import API_TOKEN, LINE
from tests.support.desk import PASSWORD, csrf_of, login, make_user, post_form, session_csrf, users_of

PAGES_FOR_MANAGERS = ("/desk/dashboard", "/desk/blocklist", "/desk/review", "/desk/dryrun", "/desk/reports",
                      "/desk/withheld", "/desk/settings", "/desk/audit", "/desk/users")


def cookie(client: Any, name: str = "ivr_desk") -> Any:
    return client.get_cookie(name)


def test_login_lands_agents_on_their_call_and_managers_on_the_dashboard(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    make_user(app, "max", "manager")
    resp = login(client, "ann")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/desk/call")
    assert client.get("/desk/call").status_code == 200
    other = app.test_client()
    resp = login(other, "max")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/desk/dashboard")


def test_wrong_password_says_what_to_do_and_sets_no_session(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    resp = login(client, "ann", "wrong password!!")
    assert resp.status_code == 401
    assert "Wrong username or password" in resp.get_data(as_text=True)
    assert client.get("/desk/call").status_code == 302
    with client.session_transaction() as sess:
        assert "sid" not in sess


def test_session_cookie_is_httponly_lax_and_secure_behind_https(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    resp = login(client, "ann")
    header = resp.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header  # PUBLIC_BASE_URL is https


def test_login_makes_a_new_session_id_so_a_planted_one_is_useless(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    with client.session_transaction() as sess:
        sess["sid"] = "planted-by-attacker"
        sess["u"] = "ann"
    login(client, "ann")
    with client.session_transaction() as sess:
        assert sess["sid"] != "planted-by-attacker"
    assert not app.extensions["ivr"].store.exists(dk.session("planted-by-attacker"))


def test_logout_ends_the_session_on_the_server(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    login(client, "ann")
    stolen = cookie(client).value
    assert post_form(client, "/desk/logout").status_code == 302
    replay = app.test_client()
    replay.set_cookie("ivr_desk", stolen, domain="localhost")
    resp = replay.get("/desk/call")
    assert resp.status_code == 302 and "/desk/login" in resp.headers["Location"]


def test_logout_is_a_post_with_csrf(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    login(client, "ann")
    assert client.get("/desk/logout").status_code == 405
    assert client.post("/desk/logout").status_code == 403  # no token
    assert client.get("/desk/call").status_code == 200  # still logged in


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(app: Any, client: Any) -> None:
    make_user(app, "max", "manager")
    login(client, "max")
    resp = client.post("/desk/blocklist/add", data={"number": "+14155550123", "reason": "x", "duration": "7d"})
    assert resp.status_code == 403 and "CSRF" in resp.get_data(as_text=True)
    resp = client.post("/desk/blocklist/add", data={"number": "+14155550123", "reason": "x", "duration": "7d",
                                                    "csrf_token": "forged"})
    assert resp.status_code == 403
    assert app.extensions["ivr"].blocklist.entries("+14155550123") == []
    assert post_form(client, "/desk/blocklist/add", {"number": "+14155550123", "reason": "x",
                                                     "duration": "7d"}).status_code == 302
    assert len(app.extensions["ivr"].blocklist.entries("+14155550123")) == 1


def test_login_form_needs_its_csrf_token(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    resp = client.post("/desk/login", data={"username": "ann", "password": PASSWORD})
    assert resp.status_code == 400 and "expired" in resp.get_data(as_text=True)


def test_logins_pause_after_five_wrong_passwords_even_for_the_right_one(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    for _ in range(5):
        assert login(client, "ann", "not the password").status_code == 401
    resp = login(client, "ann")
    assert resp.status_code == 429
    assert "Try again in 15 minutes" in resp.get_data(as_text=True)
    assert client.get("/desk/call").status_code == 302
    ttl = app.extensions["ivr"].store.ttl(dk.login_failures("user", "ann"))
    assert 0 < ttl <= 15 * 60


def test_one_address_is_throttled_across_usernames(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    for i in range(20):  # 4 x IVR_LOGIN_ATTEMPTS from one address
        login(client, f"nobody{i}", "not the password")
    assert login(client, "ann").status_code == 429


def test_next_stays_on_the_desk(app: Any, client: Any) -> None:
    make_user(app, "max", "manager")
    resp = client.get("/desk/blocklist?q=%2B1415")
    assert resp.status_code == 302 and "/desk/login" in resp.headers["Location"]
    assert login(client, "max", next_url="/desk/blocklist?q=%2B1415").headers["Location"].endswith(
        "/desk/blocklist?q=%2B1415")
    other = app.test_client()
    assert login(other, "max", next_url="https://evil.example/").headers["Location"].endswith("/desk/dashboard")


def test_every_desk_route_refuses_anonymous_visitors(app: Any) -> None:
    client = app.test_client()
    open_endpoints = {"desk_auth.login", "desk_auth.index"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/desk") or rule.endpoint in open_endpoints:
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", {"sid": "CA" + "0" * 32, "move": "escalate"}.get(arg, "+14155550123"))
        path = path.replace("<path:", "<")
        method = "GET" if "GET" in (rule.methods or ()) else "POST"
        resp = client.open(path, method=method)
        assert resp.status_code == 302 and "/desk/login" in resp.headers["Location"], (rule.rule, resp.status_code)
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("path", PAGES_FOR_MANAGERS)
def test_agents_are_refused_manager_pages(app: Any, client: Any, path: str) -> None:
    make_user(app, "ann", "agent")
    login(client, "ann")
    resp = client.get(path)
    assert resp.status_code == 403
    assert "This page is for managers" in resp.get_data(as_text=True)


def test_an_agent_cannot_unblock_export_evidence_or_change_settings(app: Any, client: Any, api: Any) -> None:
    bl = app.extensions["ivr"].blocklist
    bl.block("+14155550123", by="test", reason="abuse", duration=86400)
    make_user(app, "ann", "agent")
    login(client, "ann")
    # desk pages
    assert post_form(client, "/desk/numbers/+14155550123/unblock", {"reason": "appeal"}).status_code == 403
    assert client.get("/desk/numbers/+14155550123/evidence.zip").status_code == 403
    assert post_form(client, "/desk/settings", {"line": "*", "withheld_policy": "reject"}).status_code == 403
    # the JSON API with the agent's session ...
    h = {"X-CSRF-Token": session_csrf(client)}
    assert client.delete("/api/blocklist/+14155550123", json={"reason": "appeal"}, headers=h).status_code == 403
    assert client.get("/api/reports/evidence/+14155550123").status_code == 403
    assert client.put("/api/lines/*/settings", json={"withheld_policy": "reject"}, headers=h).status_code == 403
    # ... and with the agent's own API token
    _tid, token = users_of(app).create_token("ann", "script", by="ann", by_role="agent")
    t = {"Authorization": f"Bearer {token}"}
    resp = client.delete("/api/blocklist/+14155550123", json={"reason": "appeal"}, headers=t)
    assert resp.status_code == 403 and "manager" in resp.get_json()["detail"]
    assert client.get("/api/reports/evidence/+14155550123", headers=t).status_code == 403
    assert client.put("/api/lines/*/settings", json={"withheld_policy": "reject"}, headers=t).status_code == 403
    # nothing changed
    assert len(bl.entries("+14155550123")) == 1
    assert bl.line_settings("*").get("withheld_policy") is None
    # a manager may
    make_user(app, "max", "manager")
    mgr = app.test_client()
    login(mgr, "max")
    assert mgr.get("/desk/numbers/+14155550123/evidence.zip").status_code == 200
    assert post_form(mgr, "/desk/numbers/+14155550123/unblock", {"reason": "appeal upheld"}).status_code == 302
    assert bl.entries("+14155550123") == []


def test_the_api_takes_a_session_with_csrf_for_changes(app: Any, client: Any) -> None:
    make_user(app, "max", "manager")
    login(client, "max")
    assert client.get("/api/blocklist").status_code == 200
    body = {"number": "+14155550123", "reason": "abuse", "duration": "7d"}
    resp = client.post("/api/blocklist", json=body)
    assert resp.status_code == 403 and resp.get_json()["error"] == "csrf"
    resp = client.post("/api/blocklist", json=body, headers={"X-CSRF-Token": session_csrf(client)})
    assert resp.status_code == 201


def test_service_token_still_works_and_counts_as_admin(client: Any) -> None:
    resp = client.get("/api/blocklist", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 200
    resp = client.put("/api/lines/*/settings", json={"withheld_policy": "linefault"},
                      headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 200


def test_api_tokens_are_made_and_revoked_on_the_desk(app: Any, client: Any) -> None:
    make_user(app, "max", "manager")
    login(client, "max")
    page = post_form(client, "/desk/account", {"action": "token", "name": "crm-sync"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    token = html.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert token.startswith("ivr_")
    other = app.test_client()
    assert other.get("/api/blocklist", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    # the token is stored only as its hash
    assert not app.extensions["ivr"].store.exists(dk.token(token))
    token_id = users_of(app).tokens("max")[0]["id"]
    assert post_form(client, "/desk/account", {"action": "revoke", "token_id": token_id}).status_code == 302
    resp = other.get("/api/blocklist", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and "not valid" in resp.get_json()["detail"]


def test_role_change_and_disable_apply_to_open_sessions(app: Any, client: Any) -> None:
    make_user(app, "max", "manager")
    make_user(app, "root", "admin")
    login(client, "max")
    assert client.get("/desk/dashboard").status_code == 200
    admin = app.test_client()
    login(admin, "root")
    assert post_form(admin, "/desk/users/max", {"action": "role", "role": "agent"}).status_code == 302
    assert client.get("/desk/dashboard").status_code == 403
    assert post_form(admin, "/desk/users/max", {"action": "disable"}).status_code == 302
    resp = client.get("/desk/call")
    assert resp.status_code == 302 and "/desk/login" in resp.headers["Location"]
    assert login(client, "max").status_code == 401


def test_password_reset_ends_sessions(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    login(client, "ann")
    users_of(app).set_password("ann", "another long password", by="test")
    assert client.get("/desk/call").status_code == 302
    assert login(client, "ann", "another long password").status_code == 302


def test_own_password_change_keeps_this_browser_logged_in(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    login(client, "ann")
    other = app.test_client()
    login(other, "ann")
    resp = post_form(client, "/desk/account", {"action": "password", "current": PASSWORD,
                                                "new": "a brand new passphrase", "confirm": "a brand new passphrase"})
    assert resp.status_code == 302
    assert client.get("/desk/call").status_code == 200
    assert other.get("/desk/call").status_code == 302
    bad = post_form(client, "/desk/account", {"action": "password", "current": "wrong one here",
                                              "new": "x" * 12, "confirm": "x" * 12})
    assert bad.status_code == 400 and "current password is wrong" in bad.get_data(as_text=True)


def test_managers_add_agents_with_phones_but_not_admins(app: Any, client: Any) -> None:
    make_user(app, "max", "manager")
    login(client, "max")
    resp = post_form(client, "/desk/users", {"username": "bea", "role": "agent", "password": "bea's long password",
                                             "identities": "+1 415 555 0100, client:bea"})
    assert resp.status_code == 302
    bea = users_of(app).get("bea")
    assert bea is not None and bea.identities == ("+14155550100", "client:bea")
    assert identity_registered("client:bea", app.extensions["ivr"].store)
    resp = post_form(client, "/desk/users", {"username": "eve", "role": "admin", "password": "eve's long password"})
    assert resp.status_code == 400 and "agents only" in resp.get_data(as_text=True)
    assert users_of(app).get("eve") is None
    # one phone, one user
    resp = post_form(client, "/desk/users", {"username": "cal", "role": "agent", "password": "cal's long password",
                                             "identities": "client:bea"})
    assert resp.status_code == 400 and "already belongs to desk user" in resp.get_data(as_text=True)
    assert users_of(app).get("cal") is None


def test_disabled_agents_phones_are_no_longer_registered(app: Any) -> None:
    make_user(app, "bea", "agent", phones="client:bea")
    store = app.extensions["ivr"].store
    assert identity_registered("client:bea", store)
    users_of(app).set_disabled("bea", True, by="test")
    assert not identity_registered("client:bea", store)
    users_of(app).set_disabled("bea", False, by="test")
    assert identity_registered("client:bea", store)


def test_identity_rules_match_the_call_flow(app: Any) -> None:
    from ivr.webhooks.agent import identity_of
    for raw in ("+14155550100", "(415) 555-0100", "client:alice", "client:a.b@c-d"):
        assert normalize_identity(raw) == identity_of(raw, "US")
    for raw in ("client:", "client:bad name", "anonymous", "hello"):
        assert identity_of(raw, "US") is None
        with pytest.raises(ValueError):
            normalize_identity(raw)


def test_the_last_admin_cannot_be_demoted_or_disabled(app: Any) -> None:
    make_user(app, "root", "admin")
    with pytest.raises(ValueError, match="last admin"):
        users_of(app).set_role("root", "manager", by="test")
    with pytest.raises(ValueError, match="last admin"):
        users_of(app).set_disabled("root", True, by="test")


def test_user_changes_are_audited(app: Any) -> None:
    make_user(app, "bea", "agent", phones="client:bea")
    users_of(app).set_role("bea", "manager", by="root", by_role="admin")
    actions = [f["action"] for _i, f in app.extensions["ivr"].store.xrange("ivr:audit")]
    assert actions == ["user_create", "user_role"]


def test_security_headers_on_desk_pages(client: Any) -> None:
    resp = client.get("/desk/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert "<script" not in resp.get_data(as_text=True).replace('<script src="/static/desk/desk.js" defer>', "")


def test_html_outside_the_desk_cannot_be_framed_either(client: Any) -> None:
    """A page a browser shows outside /desk (an error page here) gets the framing and referrer headers too."""
    resp = client.get("/no-such-page")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_webhook_answers_set_no_cookie_and_keep_nosniff(client: Any, twilio: Any) -> None:
    """Twilio sends no cookie: its answers open no session, set none, vary on none, and stay nosniff."""
    params = twilio.incoming_params("CA" + "7" * 32, "+14155550177", LINE)
    resp = client.post("/voice/incoming", data=params,
                       headers={"X-Twilio-Signature": twilio.sign("/voice/incoming", params)})
    assert resp.status_code == 200 and resp.mimetype == "text/xml" and "<Enqueue" in resp.get_data(as_text=True)
    assert "Set-Cookie" not in resp.headers and "Vary" not in resp.headers
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in resp.headers  # a document header; TwiML is no document


def test_session_key_is_generated_once_and_kept_private(app_env: dict[str, str], redis_conn: Any,
                                                       tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr import create_app
    for name, value in {**app_env, "IVR_DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("IVR_SECRET_KEY", raising=False)
    first = create_app()
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    second = create_app()
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text().strip()
    monkeypatch.setenv("IVR_SECRET_KEY", "short")
    with pytest.raises(ValueError, match="IVR_SECRET_KEY"):
        create_app()


# ---- the `ivr users` command ---------------------------------------------------------------------------
def run_cli(args: list[str], stdin: str = "") -> Any:
    from ivr.cli.users import group
    return CliRunner().invoke(group, args, input=stdin)


def test_create_admin_prompts_for_the_password_twice(app: Any, client: Any) -> None:
    result = run_cli(["create-admin"], stdin="a long admin password\na long admin password\n")
    assert result.exit_code == 0, result.output
    assert "admin admin created" in result.output
    assert "a long admin password" not in result.output.replace("Password: \n", "")  # hidden input
    assert login(client, "admin", "a long admin password").status_code == 302
    assert client.get("/desk/users").status_code == 200


def test_create_admin_refuses_a_short_or_mismatched_password(app: Any) -> None:
    result = run_cli(["create-admin"], stdin="short\nshort\n")
    assert result.exit_code == 2 and "at least 10 characters" in result.output
    result = run_cli(["create-admin", "--username", "root"], stdin="one long password\nanother long one\n"
                                                                   "one long password\none long password\n")
    assert result.exit_code == 0  # click asks again after a mismatch
    assert users_of(app).get("root") is not None


def test_users_cli_manages_agents(app: Any) -> None:
    assert run_cli(["create", "bea", "--phones", "client:bea", "--password-stdin"],
                   stdin="bea's long password\n").exit_code == 0
    out = run_cli(["list"]).output
    assert "bea" in out and "client:bea" in out and "agent" in out
    assert run_cli(["set-role", "bea", "manager"]).exit_code == 0
    assert users_of(app).get("bea").role == "manager"  # type: ignore[union-attr]
    assert run_cli(["set-phones", "bea", "+14155550100"]).exit_code == 0
    assert users_of(app).get("bea").identities == ("+14155550100",)  # type: ignore[union-attr]
    assert run_cli(["disable", "bea"]).exit_code == 0
    assert users_of(app).verify("bea", "bea's long password") is None
    assert run_cli(["enable", "bea"]).exit_code == 0
    result = run_cli(["reset-password", "bea", "--password-stdin"], stdin="bea's new long password\n")
    assert result.exit_code == 0
    assert users_of(app).verify("bea", "bea's new long password") is not None
    result = run_cli(["set-role", "nobody", "agent"])
    assert result.exit_code == 2 and "no desk user 'nobody'" in result.output


def test_csrf_helper_reads_the_form(client: Any) -> None:
    assert len(csrf_of(client.get("/desk/login").get_data(as_text=True))) > 20
