"""Trust under hostile and concurrent use: the API applies the desk's rules per role, tokens end with the
password, logins are counted before they are checked, audits name who is authenticated, weak secrets
stop the service, and imports, exports and numbers hold up against odd and parallel input."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocklist import csvio, keys
from blocklist.keys import Desk as dk
from blocklist.rules import Blocklist
from blocklist.settings import Settings
from tests.support import callflow as cf
from tests.support.callflow import bridged_caller
from tests.support.constants import AGENT, AGENT2, API_TOKEN, LINE
from tests.support.desk import csrf_of, login, make_user, users_of
from tests.support.twilio_player import call_sid

CALLER = "+14155550123"


def token_for(app: Any, username: str) -> dict[str, str]:
    _tid, token = users_of(app).create_token(username, "test", by="test", by_role="admin")
    return {"Authorization": f"Bearer {token}"}


# ---- 1. an agent's API token acts only on the agent's own callers --------------------------------------
def test_an_agent_token_cannot_flag_or_read_someone_elses_caller(app: Any, client: Any, twilio: Any,
                                                                  redis_conn: redis.Redis) -> None:
    make_user(app, "ann", "agent", phones=AGENT)
    make_user(app, "bob", "agent", phones=AGENT2)
    ann, bob = token_for(app, "ann"), token_for(app, "bob")
    caller, _agent = bridged_caller(twilio, identity=AGENT)  # ann's caller
    before = redis_conn.dbsize()
    refused = client.post(f"/api/calls/{caller.sid}/flag", json={"reason": "x"}, headers=bob)
    assert refused.status_code == 403 and refused.get_json()["error"] == "not_your_caller"
    for move in ("escalate", "warn", "callback"):
        assert client.post(f"/api/calls/{caller.sid}/{move}", json={}, headers=bob).status_code == 403
    assert client.get(f"/api/calls/{caller.sid}", headers=bob).status_code == 403
    assert redis_conn.dbsize() == before and not redis_conn.exists(keys.block("*", CALLER))
    # a name in the body is never who acted
    named = client.post(f"/api/calls/{caller.sid}/flag", json={"agent": "bob"}, headers=ann)
    assert named.status_code == 400 and "agent" in named.get_json()["detail"]
    assert client.post(f"/api/calls/{caller.sid}/flag", json={"agent": "bob"},
                       headers={"Authorization": f"Bearer {API_TOKEN}"}).status_code == 400
    assert not redis_conn.exists(keys.block("*", CALLER))
    own = client.post(f"/api/calls/{caller.sid}/flag", json={"reason": "obscene"}, headers=ann)
    assert own.status_code == 202
    (flag,) = [f for _id, f in redis_conn.xrange(keys.EVENTS) if f.get("type") == "flag"]
    assert flag["agent"] == AGENT  # the token's owner, by the phone the call was bridged to


def test_a_manager_token_acts_on_any_call(app: Any, client: Any, twilio: Any) -> None:
    make_user(app, "mia", "manager")
    caller, _agent = bridged_caller(twilio, identity=AGENT)
    assert client.post(f"/api/calls/{caller.sid}/flag", json={}, headers=token_for(app, "mia")).status_code == 202


# ---- 2. tokens end with the password, the role and the account ------------------------------------------
@pytest.mark.parametrize("change", ["reset", "disable", "role"])
def test_tokens_are_revoked_by_reset_disable_and_role_change(app: Any, client: Any, change: str) -> None:
    users = users_of(app)
    make_user(app, "ann", "manager")
    headers = token_for(app, "ann")
    assert client.get("/api/blocklist", headers=headers).status_code == 200
    if change == "reset":
        users.set_password("ann", "another long passphrase", by="admin")
    elif change == "disable":
        users.set_disabled("ann", True, by="admin")
        users.set_disabled("ann", False, by="admin")  # enabled again: the old token stays dead
    else:
        users.set_role("ann", "agent", by="admin")
    assert client.get("/api/blocklist", headers=headers).status_code == 401
    assert users.tokens("ann") == []


def test_a_password_reset_from_the_cli_revokes_tokens(app: Any, client: Any, app_env: dict[str, str]) -> None:
    from ivr.cli import main
    make_user(app, "ann", "manager")
    headers = token_for(app, "ann")
    result = CliRunner().invoke(main, ["users", "reset-password", "ann", "--password-stdin"],
                                input="a new long passphrase\n", env=app_env)
    assert result.exit_code == 0, result.output
    assert client.get("/api/blocklist", headers=headers).status_code == 401


def test_a_token_minted_while_its_user_was_reset_is_dead_too(app: Any, client: Any,
                                                             redis_conn: redis.Redis) -> None:
    make_user(app, "ann", "manager")
    users = users_of(app)
    headers = token_for(app, "ann")
    # The token was minted after the reset listed the user's tokens: the list no longer shows it.
    redis_conn.delete(dk.user_tokens("ann"))
    users.set_password("ann", "another long passphrase", by="admin")
    assert client.get("/api/blocklist", headers=headers).status_code == 401
    assert client.get("/api/blocklist", headers=token_for(app, "ann")).status_code == 200  # a new one works


# ---- 3. parallel guesses are counted before they are checked ---------------------------------------------
@pytest.fixture
def many_desk_threads(app_env: dict[str, str]) -> dict[str, str]:
    app_env["IVR_DESK_CONCURRENCY"] = "16"  # as many desk requests at once as a 5-process web tier takes
    return app_env


def test_parallel_wrong_passwords_are_counted_before_any_is_checked(many_desk_threads: dict[str, str], app: Any,
                                                                    redis_conn: redis.Redis) -> None:
    make_user(app, "ann", "agent")
    clients = [app.test_client() for _ in range(12)]
    forms = [csrf_of(c.get("/desk/login").get_data(as_text=True)) for c in clients]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = [0] * len(clients)

    def guess(i: int) -> None:
        barrier.wait()
        statuses[i] = clients[i].post("/desk/login", data={"username": "ann", "password": f"wrong guess {i}",
                                                           "csrf_token": forms[i]}).status_code

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # IVR_LOGIN_ATTEMPTS (5) passwords checked, however many guesses arrive at once; the rest wait
    assert sorted(statuses) == [401] * 5 + [429] * 7, statuses
    assert int(redis_conn.get(dk.login_failures("user", "ann")) or 0) == len(clients)
    assert login(app.test_client(), "ann").status_code == 429  # the right password too, until the window ends


def test_ones_own_logins_buy_no_extra_guesses_at_other_accounts(app: Any) -> None:
    make_user(app, "eve", "agent")
    guesses = 0
    statuses = []
    for n in range(30):  # a guess at a different account each time (under every per-user limit), then own login
        attacker = app.test_client()
        page = csrf_of(attacker.get("/desk/login").get_data(as_text=True))
        status = attacker.post("/desk/login", data={"username": f"victim{n}", "password": "guess number one",
                                                    "csrf_token": page}).status_code
        statuses.append(status)
        if status == 429:
            break
        guesses += 1
        assert login(app.test_client(), "eve").status_code in (302, 429)
    # the address allows 4 x IVR_LOGIN_ATTEMPTS = 20 attempts a window; eve's logins give back one, once
    assert statuses[-1] == 429 and guesses <= 20, (guesses, statuses)


def test_an_office_logs_many_agents_in_from_one_address(app: Any) -> None:
    for n in range(30):
        make_user(app, f"agent{n}", "agent")
    codes = [login(app.test_client(), f"agent{n}").status_code for n in range(30)]
    assert codes == [302] * 30, codes


# ---- 4. the prompt audit names who is authenticated ----------------------------------------------------
def test_prompt_upload_audit_records_the_principal_not_the_query(app: Any, client: Any,
                                                                 redis_conn: redis.Redis) -> None:
    from tests.support.audio import pcm_wav

    make_user(app, "mia", "manager")
    resp = client.put("/api/prompts/en/goodbye?by=someone-else", data=pcm_wav(1.0),
                      headers={**token_for(app, "mia"), "Content-Type": "audio/wav"})
    assert resp.status_code == 201, resp.get_json()
    (audit,) = [a for _id, a in redis_conn.xrange(keys.AUDIT) if a.get("action") == "prompt_install"]
    assert audit["by"] == "mia" and audit["role"] == "manager"
    removed = client.delete("/api/prompts/en/goodbye?by=someone-else", headers=token_for(app, "mia"))
    assert removed.status_code == 200
    assert [a["by"] for _id, a in redis_conn.xrange(keys.AUDIT) if a.get("action") == "prompt_remove"] == ["mia"]


# ---- 5. weak secrets stop the service ------------------------------------------------------------------
@pytest.mark.parametrize(("name", "value", "says"), [
    ("IVR_API_TOKEN", "x", "1 characters"),
    ("IVR_API_TOKEN", "a" * 40, "predictable"),
    ("IVR_API_TOKEN", "abab" * 10, "predictable"),
    ("IVR_SECRET_KEY", " " * 48, "only blanks"),
    ("IVR_SECRET_KEY", "short-key", "characters"),
    ("IVR_SECRET_KEY", " " + "k3Y9-pQ2_zW8xR4tL6mN1vB5cJ7hF0dS", "blanks"),
])
def test_weak_secrets_are_refused_with_how_to_make_one(name: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as caught:
        Settings.from_env(environ={name: value})
    assert "secrets.token_urlsafe" in str(caught.value) and name in str(caught.value)


def test_a_random_secret_is_accepted() -> None:
    import secrets

    settings = Settings.from_env(environ={"IVR_API_TOKEN": secrets.token_urlsafe(32),
                                          "IVR_SECRET_KEY": secrets.token_hex(16)})
    assert settings.api_token and settings.secret_key


def test_ivr_serve_refuses_to_start_with_a_weak_token(tmp_path: Path) -> None:
    from ivr.cli import main
    result = CliRunner().invoke(main, ["serve"], env={"IVR_API_TOKEN": "1", "IVR_DATA_DIR": str(tmp_path)})
    assert result.exit_code != 0 and "error: IVR_API_TOKEN is 1 characters" in result.output
    assert not (tmp_path / "redis").exists()  # nothing was started


# ---- 6. nesting, parallel deletes and a CR/LF in `next` are clean answers ---------------------------------
JSON_ROUTES = [("POST", "/api/blocklist"), ("POST", "/api/allowlist"), ("POST", "/api/prefixes"),
               ("POST", "/api/dryrun"), ("PUT", f"/api/lines/{LINE}/settings"), ("POST", "/api/reports/erase"),
               ("POST", "/api/calls/CA" + "1" * 32 + "/flag"), ("POST", "/api/calls/CA" + "1" * 32 + "/warn")]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_deeply_nested_json_is_a_bad_request(api: Any, client: Any, method: str, path: str,
                                             redis_conn: redis.Redis) -> None:
    for body in ("[" * 20_000, '{"a":' * 6_000 + "1" + "}" * 6_000):  # under the body limit, past the parser's
        resp = client.open(path, method=method, data=body, content_type="application/json", headers=api.headers)
        assert resp.status_code == 400, (path, resp.status_code)
    assert redis_conn.dbsize() == 0


def test_parallel_removals_of_allowlist_entries_and_prefixes_never_fail(many_desk_threads: dict[str, str], app: Any,
                                                                        api: Any, redis_conn: redis.Redis) -> None:
    bl = app.extensions["ivr"].blocklist
    numbers = [f"+1415555{i:04d}" for i in range(120)]
    prefixes = [f"+1900{i:03d}" for i in range(120)]
    for n in numbers:
        bl.allow(n, by="t", reason="vip")
    for p in prefixes:
        bl.add_prefix(p, by="t", reason="range")
    statuses: list[int] = []
    barrier = threading.Barrier(12)

    def remove(worker: int) -> None:
        client = app.test_client()
        barrier.wait()
        for i in range(worker, 120, 6):  # two workers per item: one removes, the other finds it gone
            for path in (f"/api/allowlist/{numbers[i]}", f"/api/prefixes/{prefixes[i]}"):
                statuses.append(client.delete(path, json={"reason": "done"}, headers=api.headers).status_code)

    threads = [threading.Thread(target=remove, args=(w % 6,)) for w in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {200, 404} and statuses.count(200) == 240, sorted(set(statuses))
    assert not redis_conn.hlen(keys.ALLOW) and not redis_conn.hlen(keys.PREFIXES)
    removals = [a for _id, a in redis_conn.xrange(keys.AUDIT) if a["action"] in ("disallow", "remove_prefix")]
    assert len(removals) == 240  # each removal recorded exactly once


# Two items only: six threads then keep colliding on the same entry, the case that once gave a 500.
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(st.tuples(st.sampled_from(["allow", "disallow", "prefix", "unprefix"]), st.integers(0, 1)),
                    min_size=12, max_size=48))
def test_any_mix_of_parallel_list_changes_is_answered_cleanly(many_desk_threads: dict[str, str], app: Any,
                                                              api: Any, redis_conn: redis.Redis,
                                                              ops: list[tuple[str, int]]) -> None:
    """Random adds and removals of two allowlist entries and range rules, six threads at once: never a
    5xx, and what is left is what the last successful change of each item says."""
    redis_conn.flushdb()
    routes = {"allow": ("POST", "/api/allowlist", lambda i: {"number": f"+1415555{i:04d}", "reason": "r"}),
              "disallow": ("DELETE", "/api/allowlist/+1415555{i:04d}", lambda i: {"reason": "r"}),
              "prefix": ("POST", "/api/prefixes", lambda i: {"prefix": f"+1900{i}", "reason": "r"}),
              "unprefix": ("DELETE", "/api/prefixes/+1900{i}", lambda i: {"reason": "r"})}
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def worker(share: list[tuple[str, int]]) -> None:
        client = app.test_client()
        barrier.wait()
        for op, i in share:
            method, path, body = routes[op]
            statuses.append(client.open(path.format(i=i), method=method, json=body(i),
                                        headers=api.headers).status_code)

    threads = [threading.Thread(target=worker, args=(ops[w::6],)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(code < 500 for code in statuses), statuses
    assert set(statuses) <= {200, 201, 404}, statuses
    for i in range(6):  # the index of listings agrees with the entries themselves
        member = f"*|+1415555{i:04d}"
        assert redis_conn.hexists(keys.ALLOW, member) == (redis_conn.zscore(keys.ALLOW_INDEX, member) is not None)


def test_a_control_character_in_next_is_ignored_not_a_500(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    for evil in ("/desk/call\r\nSet-Cookie: x=1", "/desk/call\nLocation: //evil", "/desk/\x00x"):
        resp = login(client, "ann", next_url=evil)
        assert resp.status_code == 302 and "\n" not in resp.headers["Location"]
        assert resp.headers["Location"].endswith("/desk/call")
        client.post("/desk/logout", data={"csrf_token": csrf_of(client.get("/desk/account").get_data(as_text=True))})


# ---- 7. one import of a list at a time ------------------------------------------------------------------
def big_file(reason: str, count: int = 3000) -> bytes:
    rows = ["number,scope,treatment,reason,until,permanent"]
    rows += [f"+1415{i:07d},*,,{reason},,yes" for i in range(count)]
    return ("\n".join(rows) + "\n").encode()


def test_two_imports_at_once_never_mix(app: Any, api: Any, redis_conn: redis.Redis) -> None:
    files = {"a": big_file("file a"), "b": big_file("file b")}
    statuses: dict[str, int] = {}
    bodies: dict[str, dict[str, Any]] = {}
    barrier = threading.Barrier(2)

    def run(name: str) -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.post("/api/blocklist/import", data=files[name], content_type="text/csv", headers=api.headers)
        statuses[name], bodies[name] = resp.status_code, resp.get_json()

    threads = [threading.Thread(target=run, args=(n,)) for n in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses.values()) <= {200, 409} and 200 in statuses.values(), statuses
    reasons = {redis_conn.hget(keys.block("*", f"+1415{i:07d}"), "reason") for i in range(3000)}
    assert len(reasons) == 1  # every entry from one file: never a mix of both
    # No row claimed twice: one added per number in all, and a later import (if it ran) only changed them.
    done = [bodies[n] for n in files if statuses[n] == 200]
    assert sum(b["added"] for b in done) == 3000, bodies
    assert sum(b["changed"] for b in done) == 3000 * (len(done) - 1), bodies


def test_an_import_while_another_writes_is_refused_and_writes_nothing(app: Any, api: Any, client: Any,
                                                                      redis_conn: redis.Redis) -> None:
    lock = csvio._ImportLock(app.extensions["ivr"].blocklist, "blocklist", "mia")
    with lock:
        resp = client.post("/api/blocklist/import", data=big_file("late", 5), content_type="text/csv",
                           headers=api.headers)
        assert resp.status_code == 409 and "another import" in resp.get_json()["detail"]
        assert "mia" in resp.get_json()["detail"]
    assert not list(redis_conn.scan_iter(match="ivr:block:*"))
    after = client.post("/api/blocklist/import", data=big_file("later", 5), content_type="text/csv",
                        headers=api.headers)
    assert after.status_code == 200  # the lock is gone with the import that held it


# ---- 8. export then import is an exact round trip ---------------------------------------------------------
ODD_REASONS = ["plain", " leading space", "trailing space ", "=SUM(A1)", " =SUM(A1)", "+cmd", "-cmd", "@cmd",
               "\uff1dSUM(A1)", "'quoted", 'comma, and "quotes"', "ünïcödé ✓", "x" * 200, "-5", "+14155550123",
               "'=x", "'-cmd", "' =x", "''=x"]


def test_export_then_import_changes_nothing_for_every_kind_of_entry(redis_conn: redis.Redis) -> None:
    bl = Blocklist(redis_conn)
    n = 0
    for reason in ODD_REASONS:
        for kind in ("permanent", "temporary", "line", "flag"):
            number = f"+1415557{n:04d}"
            n += 1
            if kind == "permanent":
                bl.block(number, by="mia", reason=reason, treatment="isolation")
            elif kind == "temporary":
                bl.block(number, by="mia", reason=reason, duration=86400, treatment="linefault")
            elif kind == "line":
                bl.block(number, by="mia", reason=reason, scope=LINE, duration=3600)
            else:
                bl.flag(number, call_sid=call_sid(), line=LINE, via="key", agent=AGENT, reason=reason)
    bl.flag("+14155579999", call_sid=call_sid(), line=LINE, via="key", agent=AGENT)  # no reason at all
    bl.add_prefix("+1900", by="mia", reason=" =x", treatment="reject")
    bl.add_prefix("+4420794", by="mia", reason="", scope=LINE)
    first = io.StringIO()
    csvio.export_blocklist(bl, first)
    result = csvio.import_blocklist(bl, first.getvalue(), by="round-trip")
    assert (result.added, result.changed, result.errors) == (0, 0, []), result.summary()
    assert result.unchanged == result.rows == n + 3
    second = io.StringIO()
    csvio.export_blocklist(bl, second)
    core = [line.split(",")[:6] for line in first.getvalue().splitlines()]
    assert core == [line.split(",")[:6] for line in second.getvalue().splitlines()]
    again = csvio.import_blocklist(bl, second.getvalue(), by="round-trip")
    assert again.unchanged == again.rows


# ---- 9. one import limit, stated --------------------------------------------------------------------------
def test_the_api_imports_lists_far_larger_than_a_webhook_body(api: Any, client: Any,
                                                              redis_conn: redis.Redis) -> None:
    data = big_file("large", 12000)
    assert len(data) > 4 * 65536
    resp = client.post("/api/blocklist/import", data=data, content_type="text/csv", headers=api.headers)
    assert resp.status_code == 200 and resp.get_json()["added"] == 12000


def test_an_import_over_the_limit_says_the_limit_and_the_way_out(app_env: dict[str, str],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                redis_conn: redis.Redis) -> None:
    from ivr import create_app
    for name, value in {**app_env, "IVR_IMPORT_MAX_BYTES": str(1024 * 1024)}.items():
        monkeypatch.setenv(name, value)
    client = create_app().test_client()
    resp = client.post("/api/blocklist/import", data=big_file("x", 60000), content_type="text/csv",
                       headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert resp.status_code == 413
    detail = resp.get_json()["detail"]
    assert "1 MiB" in detail and "IVR_IMPORT_MAX_BYTES" in detail and "ivr blocklist import" in detail
    assert redis_conn.dbsize() == 0


# ---- 10. the access log masks numbers ---------------------------------------------------------------------
def test_the_access_log_masks_numbers_in_paths_queries_and_referers() -> None:
    from types import SimpleNamespace

    from gunicorn.config import Config

    from ivr.cli.serve import gunicorn_argv
    from ivr.gunicorn_logging import MaskedLogger
    assert "ivr.gunicorn_logging.MaskedLogger" in gunicorn_argv(Settings(), "127.0.0.1:1")
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/desk/numbers/%2B14155550123?line=%2B18005551212",
               "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/desk/numbers/+14155550123",
               "QUERY_STRING": "number=%2B14155550123&sid=CA12345678901234567890123456789012",
               "HTTP_REFERER": "https://desk.example/desk/numbers/%2B447911123456", "REMOTE_ADDR": "10.0.0.1"}
    resp = SimpleNamespace(status="200 OK", sent=10, headers=[])
    req = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = MaskedLogger(Config()).atoms(resp, req, environ, SimpleNamespace(seconds=0, microseconds=1))
    text = json.dumps(atoms)
    for full in ("14155550123", "18005551212", "447911123456"):
        assert full not in text
    assert "%2B1415555****" in atoms["r"] and "CA12345678901234567890123456789012" in atoms["q"]


# ---- 11. a prompt key is what the player asks for --------------------------------------------------------
@pytest.mark.parametrize("key", ["queue_position-\u0663", "queue_position-03", "queue_position-\uff13"])
def test_a_prompt_key_with_other_digits_is_refused(client: Any, api: Any, key: str) -> None:
    from tests.support.audio import pcm_wav

    resp = client.put(f"/api/prompts/en/{key}", data=pcm_wav(1.0), headers={**api.headers,
                                                                              "Content-Type": "audio/wav"})
    assert resp.status_code == 404 and resp.get_json()["error"] == "unknown_prompt"


# ---- 12. every command finds the embedded Redis --------------------------------------------------------------
def test_report_commands_find_the_embedded_redis_like_the_others(app: Any, app_env: dict[str, str],
                                                                 redis_url: str, tmp_path: Path) -> None:
    from ivr.cli import main
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "redis.url").write_text(redis_url + "\n")  # what `ivr serve` leaves for them
    env = {**app_env, "REDIS_URL": "", "IVR_DATA_DIR": str(tmp_path)}
    for argv in (["report", "summary"], ["blocklist", "list"], ["users", "list"]):
        result = CliRunner().invoke(main, argv, env=env)
        assert result.exit_code == 0, (argv, result.output)
    missing = CliRunner().invoke(main, ["report", "summary"], env={**env, "IVR_DATA_DIR": str(tmp_path / "none")})
    assert missing.exit_code == 2 and missing.output.startswith("error: REDIS_URL is not set")


def test_a_worker_or_web_started_alone_hands_the_embedded_redis_to_its_jobs(app_env: dict[str, str], redis_url: str,
                                                                           tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.cli.common import process_settings
    from workers import context

    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "redis.url").write_text(redis_url + "\n")
    for name, value in {**app_env, "IVR_DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_URL")
    assert process_settings().redis_url == redis_url
    # gunicorn's app factory and the RQ jobs read the environment of the process that started them
    assert context.settings().redis_url == redis_url


# ---- 13. SIP and tel caller IDs ---------------------------------------------------------------------------------
def test_sip_and_tel_caller_ids_are_screened_as_their_numbers(app: Any, twilio: Any, api: Any) -> None:
    assert api.post("/api/blocklist", json={"number": CALLER, "reason": "threats", "duration": "permanent"}).status_code == 201
    for raw in (f"sip:{CALLER}@pbx.example.com", f"sip:{CALLER}@pbx.example.com;user=phone",
                f"tel:{CALLER};ext=12", f'"Ann" <sip:{CALLER}@carrier.example>', "sips:14155550123@h"):
        assert cf.place_call(twilio, raw).reply.verbs() == ["Reject"], raw


def test_a_sip_address_without_a_number_gets_the_withheld_policy(app: Any, twilio: Any, client: Any, api: Any,
                                                                 redis_conn: redis.Redis) -> None:
    resp = client.put("/api/lines/*/settings", json={"withheld_policy": "reject"}, headers=api.headers)
    assert resp.status_code == 200, resp.get_json()
    caller = cf.place_call(twilio, "sip:alice@example.com")
    assert caller.reply.verbs() == ["Reject"]
    assert redis_conn.hget(keys.call(caller.sid), "number") == "anonymous"


# ---- 14. every export guards every formula form ----------------------------------------------------------
@pytest.mark.parametrize("text", [" =1+1", "\uff1d1+1", "\t=1+1", "\r=1+1", "  @SUM(A1)", "\uff0bcmd", "-2+3",
                                  "=HYPERLINK(\"http://x\")"])
def test_every_formula_form_is_guarded(text: str) -> None:
    from workers.reports import to_csv

    assert csvio.guard_cell(text).startswith("'")
    assert csvio.unguard_cell(csvio.guard_cell(text)) == text
    assert to_csv([{"reason": text}]).splitlines()[1].lstrip('"').startswith("'")


@pytest.mark.parametrize("text", ["+14155550123", "-5", "plain", "", "it's fine"])
def test_data_that_only_looks_like_a_sign_is_left_alone(text: str) -> None:
    assert csvio.guard_cell(text) == text
