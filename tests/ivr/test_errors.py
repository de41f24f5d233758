"""Errors in the service's own voice: on the desk a page in the desk's layout (what went wrong, what to do, a
way back, the right status); on the API an RFC 9457 problem (application/problem+json) with the same words;
on Twilio's routes exactly what Twilio got before (a caller never hears an application error)."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from lxml import html as lxml_html
from werkzeug.http import HTTP_STATUS_CODES

from ivr.cli.embedded import EmbeddedRedis
from ivr.problems import PROBLEM_JSON, sentence
from tests.support.constants import API_TOKEN, AUTH_TOKEN, BASE_URL, LINE
from tests.support.desk import login, make_user, post_form, users_of
from tests.support.twilio_player import TwilioPlayer, call_sid

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
HERE = "http://localhost"  # the test client's origin


# ---- reading the answers ----------------------------------------------------------------------------------
class DeskPage:
    """An error page as a person sees it: the layout's landmarks, the words, the way back."""

    def __init__(self, resp: Any) -> None:
        assert resp.mimetype == "text/html", (resp.status_code, resp.mimetype, resp.get_data(as_text=True)[:300])
        self.status = resp.status_code
        self.text = resp.get_data(as_text=True)
        self.doc = lxml_html.fromstring(self.text)

    def one(self, xpath: str) -> Any:
        found = self.doc.xpath(xpath)
        assert len(found) == 1, (xpath, len(found))
        return found[0]

    @property
    def heading(self) -> str:
        return str(self.one("//main//h1").text_content()).strip()

    @property
    def detail(self) -> str:
        return str(self.one("//main//p[@class='error-detail']").text_content()).strip()

    @property
    def back(self) -> tuple[str, str]:
        link = self.one("//main//a[contains(@class, 'primary')]")
        return str(link.get("href")), str(link.text_content()).strip()

    @property
    def nav_links(self) -> list[str]:
        return [str(a.text_content()).strip() for a in self.doc.xpath("//header//nav//a")]

    def assert_layout(self, status: int) -> None:
        """The desk's layout around the words: language, landmarks, the brand link home, one heading."""
        assert self.status == status
        assert self.one("/html").get("lang") == "en"
        self.one("//header[contains(@class, 'top')]")
        self.one("//header//a[@class='brand']")
        self.one("//main")
        self.one("//main//section[@aria-labelledby='error-heading']")
        assert self.one("//main//h1").get("id") == "error-heading"
        assert f"Error {status}" in self.text
        assert self.heading in self.one("//title").text_content()
        assert "Traceback" not in self.text
        assert self.back[0].startswith("/")


def problem_of(resp: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with every member this API promises."""
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.mimetype == PROBLEM_JSON, resp.mimetype
    body = resp.get_json()
    assert body["type"] == "about:blank"
    assert body["title"] == HTTP_STATUS_CODES[status]  # RFC 9457 4.2.1: about:blank's title is the status phrase
    assert body["status"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["error"], str) and body["error"]
    assert body["instance"] == resp.request.path
    assert b"Traceback" not in resp.get_data()
    return dict(body)


@pytest.fixture
def manager(app: Any, client: Any) -> Any:
    make_user(app, "max", "manager")
    assert login(client, "max").status_code == 302
    return client


# ---- 400 --------------------------------------------------------------------------------------------------
def test_a_number_that_is_not_one_is_a_desk_page_with_the_way_back(manager: Any) -> None:
    """The reported case: /desk/numbers/notanumber was a bare text page."""
    resp = manager.get("/desk/numbers/notanumber", headers={"Referer": f"{HERE}/desk/blocklist?q=%2B1415"})
    page = DeskPage(resp)
    page.assert_layout(400)
    assert page.heading == "Something in that request is not right"
    assert page.detail == "'notanumber' is not a phone number: write it like +14155550123."
    assert "Correct what the message above names" in page.text
    assert page.back == ("/desk/blocklist?q=%2B1415", "Back to the page you came from")
    assert "Blocklist" in page.nav_links and "Dashboard" in page.nav_links  # logged in: the navigation shows
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self'")


def test_a_bad_number_on_the_api_is_a_problem(api: Any) -> None:
    problem = problem_of(api.get("/api/blocklist/notanumber"), 400)
    assert problem["error"] == "bad_request"
    assert "notanumber" in problem["detail"]


def test_bad_csv_rows_keep_their_row_report_beside_the_problem(client: Any) -> None:
    resp = client.post("/api/blocklist/import", data=b"number,reason\nnot-a-number,x\n",
                           headers={**AUTH, "Content-Type": "text/csv"})
    problem = problem_of(resp, 400)
    assert problem["error"] == "bad_rows"
    assert problem["errors"] and problem["errors"][0]["line"] == 2  # the extension members clients use
    assert problem["written"] is False


# ---- 401, 403 ---------------------------------------------------------------------------------------------
def test_an_agent_on_a_manager_page_gets_the_layout_and_the_words(app: Any, client: Any) -> None:
    make_user(app, "ann", "agent")
    login(client, "ann")
    page = DeskPage(client.get("/desk/audit", headers={"Referer": f"{HERE}/desk/call"}))
    page.assert_layout(403)
    assert page.heading == "This page is for managers"
    assert page.detail == "This needs the manager role; ann is agent. Ask an admin to change the role if you need this."
    assert page.back == ("/desk/call", "Back to the page you came from")
    assert "My call" in page.nav_links and "Audit" not in page.nav_links


def test_a_stale_form_says_so_in_the_layout(manager: Any) -> None:
    resp = manager.post("/desk/blocklist/add", data={"number": "+14155550123", "reason": "x", "csrf_token": "stale"},
                        headers={"Referer": f"{BASE_URL}/desk/blocklist"})  # the public origin counts as ours too
    page = DeskPage(resp)
    page.assert_layout(403)
    assert page.heading == "That form has expired"
    assert "(CSRF)" in page.detail and "reload the page" in page.text
    assert page.back == ("/desk/blocklist", "Back to the page you came from")


def test_api_refusals_are_problems(app: Any, client: Any) -> None:
    assert problem_of(client.get("/api/blocklist"), 401)["error"] == "unauthorized"
    assert problem_of(client.get("/api/blocklist", headers={"Authorization": "Bearer wrong"}), 401)["detail"] \
        .startswith("the bearer token is not valid")
    make_user(app, "ann", "agent")
    token = users_of(app).create_token("ann", "t", by="ann", by_role="agent")[1]
    refused = problem_of(client.get("/api/reports", headers={"Authorization": f"Bearer {token}"}), 403)
    assert refused["error"] == "forbidden"
    assert refused["detail"] == "this needs the manager role; ann is agent. Ask an admin to change the role if you need this"
    login(client, "ann")  # a desk session on the API must send its CSRF token
    assert problem_of(client.post(f"/api/calls/{call_sid()}/flag", json={}), 403)["error"] == "csrf"


# ---- 404 --------------------------------------------------------------------------------------------------
def test_a_missing_desk_page_is_a_desk_page_for_a_logged_in_user(manager: Any, api: Any) -> None:
    page = DeskPage(manager.get("/desk/nowhere"))  # no Referer: the way back is the desk's home
    page.assert_layout(404)
    assert page.heading == "We could not find that"
    assert page.detail == "There is nothing at /desk/nowhere: check the address."
    assert page.back == ("/desk/", "Back to the desk")
    assert "Dashboard" in page.nav_links
    problem = problem_of(api.get("/api/nowhere"), 404)
    assert problem["error"] == "not_found"
    assert sentence(problem["detail"].replace("/api/nowhere", "/desk/nowhere")) == page.detail  # the same words


def test_a_missing_page_for_a_visitor_shows_the_layout_without_navigation(client: Any) -> None:
    resp = client.get("/nowhere/at-all", headers={"Referer": "https://evil.example/desk/blocklist"})
    page = DeskPage(resp)
    page.assert_layout(404)
    assert page.nav_links == [] and "Log out" not in page.text
    assert page.back == ("/desk/", "Back to the desk")  # another site's page is never the way back
    # outside /desk too, the page runs under the desk's CSP (its stylesheet and script load, nothing else)
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self'")


@pytest.mark.parametrize("referrer", [
    "https://evil.example/desk/blocklist",  # another origin
    "http://localhost:8080/desk/blocklist",  # another port is another origin
    f"{HERE}//evil.example/desk",  # a path that a browser would read as another host
    f"{HERE}/desk/nowhere",  # the failing page itself: going "back" would fail again
    f"{HERE}/api/blocklist",  # not a page
    "not a url at all",
])
def test_the_way_back_is_the_desk_home_unless_the_referrer_is_a_safe_page_of_ours(manager: Any,
                                                                                   referrer: str) -> None:
    page = DeskPage(manager.get("/desk/nowhere", headers={"Referer": referrer}))
    assert page.back == ("/desk/", "Back to the desk")


# ---- 405 --------------------------------------------------------------------------------------------------
def test_the_wrong_method_is_a_desk_page_and_a_problem(manager: Any, api: Any) -> None:
    resp = manager.get("/desk/logout", headers={"Referer": f"{HERE}/desk/dashboard"})
    page = DeskPage(resp)
    page.assert_layout(405)
    assert "POST" in resp.headers["Allow"]
    assert page.heading == "That address does not work that way"
    assert page.detail == "/desk/logout does not take GET requests; it takes POST."
    assert page.back == ("/desk/dashboard", "Back to the page you came from")
    problem_resp = manager.put("/api/blocklist", headers=AUTH)
    problem = problem_of(problem_resp, 405)
    assert problem["error"] == "method_not_allowed"
    assert problem["detail"] == "/api/blocklist does not take PUT requests; it takes GET or POST"
    assert "POST" in problem_resp.headers["Allow"]


# ---- 413 --------------------------------------------------------------------------------------------------
def test_a_body_too_large_is_a_desk_page_and_a_problem(app: Any, manager: Any, api: Any) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    resp = post_form(manager, "/desk/blocklist/add", {"number": "+14155550123", "reason": "x" * (limit + 10)},
                     headers={"Referer": f"{HERE}/desk/blocklist"})
    page = DeskPage(resp)
    page.assert_layout(413)
    assert page.heading == "That is too big to send"
    assert page.detail == f"The body is larger than {limit} bytes (IVR_MAX_BODY_BYTES); nothing was changed."
    assert page.back == ("/desk/blocklist", "Back to the page you came from")
    problem = problem_of(api.post("/api/blocklist", json={"number": "+14155550123", "reason": "x" * (limit + 10)}),
                         413)
    assert problem["error"] == "too_large"
    assert sentence(problem["detail"]) == page.detail


# ---- 500 --------------------------------------------------------------------------------------------------
@pytest.fixture
def broken(app: Any) -> Any:
    """Two routes that fail as a bug would (added before the app serves its first request)."""

    def fail() -> Any:
        raise RuntimeError("a bug nobody expected")

    app.add_url_rule("/desk/test-broken", "test_broken_page", fail)
    app.add_url_rule("/api/test-broken", "test_broken_api", fail)
    return app


def test_an_unexpected_error_on_the_desk_says_what_to_do_and_never_shows_a_traceback(
        broken: Any, manager: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="ivr.app"):
        resp = manager.get("/desk/test-broken", headers={"Referer": f"{HERE}/desk/review"})
    page = DeskPage(resp)
    page.assert_layout(500)
    assert page.heading == "Something went wrong on our side"
    assert "a bug nobody expected" not in page.text and "RuntimeError" not in page.text
    assert "Try again in a moment" in page.text and "tell your admin" in page.text
    request_id = resp.headers["X-Request-ID"]
    assert f"Request id: {request_id}" in page.one("//main").text_content()
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the log has the traceback, under the id the page shows
    assert page.back == ("/desk/review", "Back to the page you came from")
    assert "Dashboard" in page.nav_links


def test_an_unexpected_error_on_the_api_is_a_problem_with_the_proxys_request_id(broken: Any, client: Any,
                                                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="ivr.app"):
        resp = client.get("/api/test-broken", headers={"X-Request-ID": "req-0f3a9c2e71"})
    problem = problem_of(resp, 500)
    assert problem["error"] == "internal"
    assert problem["request_id"] == "req-0f3a9c2e71" == resp.headers["X-Request-ID"]
    assert "req-0f3a9c2e71" in caplog.text
    resp = client.get("/desk/test-broken", headers={"X-Request-ID": "not an id; <b>"})
    page = DeskPage(resp)
    assert sentence(problem["detail"]) == page.detail  # the same words on both
    assert "not an id" not in page.text  # a header that is no id is not repeated: a new one is made
    assert len(resp.headers["X-Request-ID"]) == 32 and resp.headers["X-Request-ID"] in page.text


# ---- 503 --------------------------------------------------------------------------------------------------
@pytest.fixture
def own_redis() -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, so the test can take it down."""
    server = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="ivr-errors-"))).start()
    yield server
    server.stop()


def build(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    from ivr import create_app
    for name, value in {**app_env, **env}.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    app.config["TESTING"] = True
    return app


def test_redis_down_is_a_desk_page_a_problem_and_still_twiml_for_callers(
        app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, own_redis: EmbeddedRedis) -> None:
    app = build(app_env, monkeypatch, REDIS_URL=own_redis.url)
    client = app.test_client()
    make_user(app, "max", "manager")
    login(client, "max")
    assert client.get("/desk/blocklist").status_code == 200
    own_redis.kill()
    resp = client.get("/desk/blocklist", headers={"Referer": f"{HERE}/desk/dashboard"})
    page = DeskPage(resp)
    page.assert_layout(503)
    assert resp.headers["Retry-After"] == "5"
    assert page.heading == "The desk is waiting for its data store"
    assert "Try again in a moment" in page.text
    assert page.detail.startswith("The data store (Redis) is unreachable; nothing was changed.")
    assert page.nav_links == []  # who is asking cannot be read from the store: the logged-out layout
    assert page.back == ("/desk/dashboard", "Back to the page you came from")
    problem = problem_of(client.get("/api/blocklist", headers=AUTH), 503)
    assert problem["error"] == "store_unavailable"
    assert sentence(problem["detail"]) == page.detail
    # a caller still gets TwiML (the fail-open answer), never the desk's page or a problem
    twilio = TwilioPlayer(app.test_client(), AUTH_TOKEN, BASE_URL, app_env["TWILIO_ACCOUNT_SID"])
    reply = twilio.incoming(call_sid(), "+14155550123", LINE)
    assert reply.status == 200 and reply.first("Enqueue") is not None


def test_a_busy_desk_is_a_desk_page_and_a_problem(app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                 redis_conn: redis.Redis) -> None:
    app = build(app_env, monkeypatch, IVR_DESK_CONCURRENCY="1")
    entered, release = threading.Event(), threading.Event()

    def hold() -> str:
        entered.set()
        release.wait(10)
        return "done"

    app.add_url_rule("/desk/test-hold", "test_hold", hold)
    holder = threading.Thread(target=lambda: app.test_client().get("/desk/test-hold"))
    holder.start()
    try:
        assert entered.wait(10)
        page = DeskPage(app.test_client().get("/desk/login"))
        page.assert_layout(503)
        assert page.heading == "The desk is busy right now"
        assert page.detail.startswith("The service is busy with other desk and API requests")
        problem = problem_of(app.test_client().get("/api/blocklist", headers=AUTH), 503)
        assert problem["error"] == "busy" and sentence(problem["detail"]) == page.detail
    finally:
        release.set()
        holder.join(10)


# ---- Twilio's routes keep their answers ------------------------------------------------------------------
def test_a_forged_signature_still_gets_the_plain_refusal_and_changes_nothing(client: Any, twilio: Any,
                                                                            redis_conn: redis.Redis) -> None:
    params = twilio.incoming_params(call_sid(), "+14155550123", LINE)
    resp = client.post("/voice/incoming", data=params, headers={"X-Twilio-Signature": "Zm9yZ2VkIHNpZ25hdHVyZQ=="})
    assert resp.status_code == 403 and resp.mimetype == "text/plain"
    assert resp.get_data(as_text=True) == ("Forbidden: X-Twilio-Signature missing or wrong. Check that "
                                           "TWILIO_AUTH_TOKEN and PUBLIC_BASE_URL match the number's configuration.\n")
    assert redis_conn.dbsize() == 0


def test_twilios_routes_and_the_probes_keep_their_plain_refusals(client: Any) -> None:
    for method, path, status in (("POST", "/voice/nowhere", 404), ("GET", "/voice/hold", 405),
                                 ("POST", "/healthz", 405), ("GET", "/media/en/nothing.wav", 404)):
        resp = client.open(path, method=method)
        assert resp.status_code == status, (path, resp.status_code)
        assert resp.mimetype == "text/plain", (path, resp.mimetype)
        assert not resp.get_data(as_text=True).lstrip().startswith(("<", "{")), path


# ---- the description says so ------------------------------------------------------------------------------
def test_the_openapi_description_names_problem_json_for_every_error(client: Any) -> None:
    doc = client.get("/api/openapi.json").get_json()
    schema = doc["components"]["schemas"]["Problem"]
    assert set(schema["required"]) == {"type", "title", "status", "detail", "instance", "error"}
    for name, response in doc["components"]["responses"].items():
        assert list(response["content"]) == [PROBLEM_JSON], name
        assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    assert response["$ref"].startswith("#/components/responses/"), (method, path, code)
            assert "500" in operation["responses"], (method, path)
