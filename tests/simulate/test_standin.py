"""The Twilio REST stand-in refuses what Twilio refuses, and every answer it gives is one Twilio documents.

Requests go through twilio-python's real client (rebased the way workers/twilio_rest.py does it) and, for
what the SDK never sends, through raw `requests`. Every answer seen here is checked again, independently
of the stand-in's own check, against the trimmed OpenAPI description with openapi-core."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis
import requests
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from werkzeug.datastructures import Headers, ImmutableMultiDict

from ivr.simulate.standin import StandIn, StandInServer
from ivr.simulate.twilio_oai import SUBSET
from tests.support import callflow as cf
from tests.support.constants import ACCOUNT_SID, AUTH_TOKEN, BASE_URL, LINE
from workers.twilio_rest import RebasedHttpClient

CUSTOMER = "+14155550123"
OTHER_ACCOUNT = "AC" + "9" * 32
ERROR_KEYS = {"code", "message", "more_info", "status"}
SIMPLE_RESPONSES = 200, 201, 204


class _Req:
    host_url = "https://api.twilio.com"

    def __init__(self, prepared: requests.PreparedRequest) -> None:
        parts = urlsplit(prepared.url or "")
        self.method = (prepared.method or "GET").lower()
        self.path = parts.path
        body = prepared.body or b""
        self.body: bytes | None = body.encode() if isinstance(body, str) else bytes(body)  # type: ignore[arg-type]
        self.content_type: str = str(prepared.headers.get("Content-Type", "application/x-www-form-urlencoded"))
        query: ImmutableMultiDict[str, str] = ImmutableMultiDict(parse_qsl(parts.query))
        self.parameters = RequestParameters(query=query, header=Headers(dict(prepared.headers)),
                                            cookie=ImmutableMultiDict())


class _Resp:
    def __init__(self, resp: requests.Response) -> None:
        self.status_code = resp.status_code
        self.data = resp.content
        self.content_type = resp.headers.get("Content-Type", "").split(";")[0]
        self.headers = Headers()


class Answers:
    """Every answer the stand-in gave (to the SDK and to raw requests), checked against the document."""

    def __init__(self) -> None:
        self.seen: list[requests.Response] = []
        self.oai = OpenAPI.from_path(SUBSET, config=Config(additional_properties_default_policy="forbid",
                                                           response_properties_default_policy="required"))

    def hook(self, resp: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self.seen.append(resp)
        return resp

    def problems(self) -> list[str]:
        out = []
        for resp in self.seen:
            where = f"{resp.request.method} {urlsplit(resp.request.url or '').path} -> {resp.status_code}"
            if resp.status_code in SIMPLE_RESPONSES:
                result = self.oai.unmarshal_response(_Req(resp.request), _Resp(resp))
                out += [f"{where}: {e} {getattr(e.__cause__, 'schema_errors', '')}" for e in result.errors]
            else:
                body = resp.json()
                if set(body) != ERROR_KEYS or body["status"] != resp.status_code:
                    out.append(f"{where}: not Twilio's error shape: {body}")
        return out


@pytest.fixture
def answers() -> Iterator[Answers]:
    seen = Answers()
    yield seen
    assert seen.seen, "no answer was checked"
    assert seen.problems() == []


@pytest.fixture
def server() -> Iterator[StandInServer]:
    """A strict stand-in: unknown calls are unknown, as at Twilio."""
    srv = StandInServer(StandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, numbers=(LINE,)), quiet=True).start()
    yield srv
    srv.stop()  # raises if any answer broke the document


@pytest.fixture
def sdk(server: StandInServer, answers: Answers) -> Client:
    http = RebasedHttpClient(server.url)
    assert http.session is not None
    http.session.hooks["response"].append(answers.hook)
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)


@pytest.fixture
def raw(server: StandInServer, answers: Answers) -> Any:
    session = requests.Session()
    session.hooks["response"].append(answers.hook)

    def send(method: str, path: str, data: Any = None, auth: Any = (ACCOUNT_SID, AUTH_TOKEN),
             account: str = ACCOUNT_SID, **kw: Any) -> requests.Response:
        return session.request(method, f"{server.url}/2010-04-01/Accounts/{account}{path}", data=data, auth=auth,
                               timeout=10, **kw)

    return send


def live_call(server: StandInServer) -> str:
    sid = server.state.new_sid("CA")
    server.state.set_call(sid, status="in-progress", direction="inbound", to=LINE, **{"from": CUSTOMER})
    return sid


def refused(resp: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert set(body) == ERROR_KEYS and body["code"] == code and body["status"] == status, body
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    return body


CREATE = {"To": CUSTOMER, "From": LINE, "Url": BASE_URL + "/voice/callback/answer?cb=1"}


# ---- the SDK's own requests -----------------------------------------------------------------------------
def test_the_sdks_queue_and_call_requests_validate_and_are_answered_as_documented(
        sdk: Client, server: StandInServer) -> None:
    q = sdk.queues.create(friendly_name="agents", max_size=5000)
    assert q.max_size == 5000 and q.current_size == 0 and q.account_sid == ACCOUNT_SID
    assert sdk.queues(q.sid).fetch().friendly_name == "agents"
    assert sdk.queues(q.sid).update(max_size=10).max_size == 10
    for n in range(55):  # past one page of 50: the SDK follows next_page_uri
        sdk.queues.create(friendly_name=f"hold-{n}")
    assert len(sdk.queues.list()) == 56
    assert sdk.queues(q.sid).delete() is True
    sid = live_call(server)
    moved = sdk.calls(sid).update(url=BASE_URL + "/voice/isolation", method="POST")
    assert moved.status == "in-progress" and moved.sid == sid
    assert sdk.calls(sid).fetch().to == LINE
    assert sdk.calls(sid).update(status="completed").status == "completed"
    created = sdk.calls.create(to=CUSTOMER, from_=LINE, twiml="<Response><Hangup/></Response>",
                               status_callback_event=["initiated"])  # an array sent once: one string
    assert created.status == "queued" and created.direction == "outbound-api"


def test_wrong_or_missing_credentials_are_401_20003(sdk: Client, raw: Any, server: StandInServer) -> None:
    refused(raw("GET", "/Queues.json", auth=None), 401, 20003)
    refused(raw("GET", "/Queues.json", auth=(ACCOUNT_SID, "not-the-token")), 401, 20003)
    refused(raw("GET", "/Queues.json", auth=(OTHER_ACCOUNT, AUTH_TOKEN)), 401, 20003)
    assert raw("GET", "/Queues.json", auth=None).headers["WWW-Authenticate"].startswith("Basic")
    with pytest.raises(TwilioRestException) as err:
        Client(ACCOUNT_SID, "wrong", http_client=RebasedHttpClient(server.url)).queues.create(friendly_name="a")
    assert err.value.status == 401 and err.value.code == 20003


def test_another_accounts_path_is_401_and_a_malformed_one_404(raw: Any) -> None:
    refused(raw("GET", "/Queues.json", account=OTHER_ACCOUNT), 401, 20003)
    refused(raw("GET", "/Queues.json", account="ACnotasid"), 404, 20404)


def test_unknown_paths_methods_and_sids(raw: Any, server: StandInServer) -> None:
    refused(raw("GET", "/Messages.json"), 404, 20404)
    refused(raw("PUT", "/Queues.json"), 405, 20004)
    refused(raw("DELETE", f"/Calls/{live_call(server)}.json"), 405, 20004)  # not an operation the service uses
    refused(raw("GET", f"/Calls/CA{'0' * 32}.json"), 404, 20404)
    refused(raw("POST", f"/Calls/CA{'0' * 32}.json", {"Url": BASE_URL + "/x"}), 404, 20404)
    refused(raw("POST", "/Calls/CAbusy.json", {"Url": BASE_URL + "/x"}), 404, 20404)  # not a call SID
    refused(raw("GET", f"/Queues/QU{'0' * 32}.json"), 404, 20404)
    refused(raw("DELETE", f"/Queues/QU{'0' * 32}.json"), 404, 20404)


def test_call_update_refuses_bad_enums_fields_and_urls(raw: Any, server: StandInServer) -> None:
    sid = live_call(server)
    assert "canceled" in refused(raw("POST", f"/Calls/{sid}.json", {"Status": "busy"}), 400, 20001)["message"]
    refused(raw("POST", f"/Calls/{sid}.json", {"Url": BASE_URL + "/x", "Method": "PUT"}), 400, 20001)
    assert "Bogus" in refused(raw("POST", f"/Calls/{sid}.json", {"Url": BASE_URL + "/x", "Bogus": "1"}), 400,
                              20001)["message"]
    refused(raw("POST", f"/Calls/{sid}.json", {"Url": "/voice/isolation"}), 400, 21205)  # not absolute
    refused(raw("POST", f"/Calls/{sid}.json", {"TimeLimit": "soon"}), 400, 20001)
    assert server.state.calls[sid]["status"] == "in-progress"  # none of it touched the call


def test_updating_an_ended_call_is_21220(raw: Any, server: StandInServer, sdk: Client) -> None:
    sid = live_call(server)
    assert raw("POST", f"/Calls/{sid}.json", {"Status": "completed"}).status_code == 200
    refused(raw("POST", f"/Calls/{sid}.json", {"Url": BASE_URL + "/x"}), 400, 21220)
    other = live_call(server)
    server.state.end_call(other)  # the helper the simulator uses when a leg hangs up
    with pytest.raises(TwilioRestException) as err:
        sdk.calls(other).update(url=BASE_URL + "/x", method="POST")
    assert err.value.status == 400 and err.value.code == 21220


def test_calls_create_needs_to_a_number_of_the_account_and_one_instruction(raw: Any) -> None:
    refused(raw("POST", "/Calls.json", {k: v for k, v in CREATE.items() if k != "To"}), 400, 21201)
    refused(raw("POST", "/Calls.json", {k: v for k, v in CREATE.items() if k != "From"}), 400, 21213)
    refused(raw("POST", "/Calls.json", {**CREATE, "To": "4155550123"}), 400, 21211)
    body = refused(raw("POST", "/Calls.json", {**CREATE, "From": "+15005550006"}), 400, 21210)
    assert "is not yet verified for your account" in body["message"]
    refused(raw("POST", "/Calls.json", {"To": CUSTOMER, "From": LINE}), 400, 21205)
    refused(raw("POST", "/Calls.json", {**CREATE, "Twiml": "<Response/>"}), 400, 21205)
    refused(raw("POST", "/Calls.json", {"To": CUSTOMER, "From": LINE, "ApplicationSid": "AP" + "1" * 32}), 400, 21218)
    refused(raw("POST", "/Calls.json", {**CREATE, "Url": "not a url"}), 400, 21205)
    refused(raw("POST", "/Calls.json", {**CREATE, "Method": "PUT"}), 400, 21209)
    refused(raw("POST", "/Calls.json", {**CREATE, "Timeout": "thirty"}), 400, 20001)
    refused(raw("POST", "/Calls.json", {**CREATE, "MachineDetection": "Sometimes"}), 400, 20001)
    refused(raw("POST", "/Calls.json", {**CREATE, "Frm": LINE}), 400, 20001)
    refused(raw("POST", "/Calls.json", json.dumps(CREATE), headers={"Content-Type": "application/json"}), 400, 21201)
    assert raw("POST", "/Calls.json", CREATE).status_code == 201


def test_an_account_without_numbers_can_place_no_call(answers: Answers) -> None:
    srv = StandInServer(StandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN), quiet=True).start()
    try:
        http = RebasedHttpClient(srv.url)
        assert http.session is not None
        http.session.hooks["response"].append(answers.hook)
        with pytest.raises(TwilioRestException) as err:
            Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http).calls.create(to=CUSTOMER, from_=LINE, url=CREATE["Url"])
        assert err.value.status == 400 and err.value.code == 21210
    finally:
        srv.stop()


def test_queue_rules(raw: Any, server: StandInServer) -> None:
    refused(raw("POST", "/Queues.json", {"FriendlyName": "big", "MaxSize": "5001"}), 400, 20001)
    refused(raw("POST", "/Queues.json", {"FriendlyName": "none", "MaxSize": "0"}), 400, 20001)
    refused(raw("POST", "/Queues.json", {"FriendlyName": "odd", "MaxSize": "lots"}), 400, 20001)
    refused(raw("POST", "/Queues.json", {"MaxSize": "10"}), 400, 20001)
    refused(raw("POST", "/Queues.json", {"FriendlyName": "q" * 65}), 400, 20001)
    made = raw("POST", "/Queues.json", {"FriendlyName": "agents", "MaxSize": "5000"})
    assert made.status_code == 201 and made.json()["max_size"] == 5000
    refused(raw("POST", "/Queues.json", {"FriendlyName": "agents"}), 400, 22003)  # the name is taken
    sid = made.json()["sid"]
    refused(raw("POST", f"/Queues/{sid}.json", {"MaxSize": "5001"}), 400, 20001)
    server.state.queue_member("agents", +1)
    refused(raw("DELETE", f"/Queues/{sid}.json"), 400, 22001)  # not empty
    server.state.queue_member("agents", -1)
    assert raw("DELETE", f"/Queues/{sid}.json").status_code == 204
    refused(raw("GET", "/Queues.json", params={"PageSize": "5000"}), 400, 20001)


def test_scripted_faults_still_come_first(raw: Any, server: StandInServer) -> None:
    server.state.fail("/Queues.json", times=1, status=503)
    refused(raw("GET", "/Queues.json"), 503, 20500)
    assert raw("GET", "/Queues.json").status_code == 200


def test_an_answer_that_breaks_the_document_is_a_loud_stand_in_bug() -> None:
    srv = StandInServer(StandIn(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN), quiet=True).start()
    sid = srv.state.new_sid("CA")
    srv.state.set_call(sid, status="on-hold")  # not a status Twilio has
    resp = requests.get(f"{srv.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
                        auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
    refused(resp, 500, 20500)
    assert srv.state.answer_errors and "on-hold" in srv.state.answer_errors[0]
    with pytest.raises(AssertionError, match="stand-in bug"):
        srv.stop()


def test_a_listener_decides_which_calls_are_live(raw: Any, server: StandInServer) -> None:
    seen: list[tuple[str, dict[str, str]]] = []

    class Listener:
        def call_updated(self, sid: str, form: dict[str, str]) -> bool:
            seen.append((sid, form))
            return sid == live

        def call_created(self, call: dict[str, Any], form: dict[str, str]) -> None:
            seen.append((call["sid"], form))

    live = server.state.new_sid("CA")
    server.state.set_call(live, status="in-progress")
    server.state.listener = Listener()
    assert raw("POST", f"/Calls/{live}.json", {"Url": BASE_URL + "/x", "Method": "POST"}).status_code == 200
    refused(raw("POST", f"/Calls/{server.state.new_sid('CA')}.json", {"Url": BASE_URL + "/x"}), 404, 20404)
    created = raw("POST", "/Calls.json", CREATE)
    assert created.status_code == 201 and seen[-1][0] == created.json()["sid"]


# ---- requests the service really makes ------------------------------------------------------------------
@pytest.fixture
def app_env(app_env: dict[str, str]) -> dict[str, str]:
    """Call backs may ring at any hour here: the default hours (Mon-Sat 08:00-20:00) would reschedule the call
    back instead of placing it whenever the suite runs at night or on a Sunday."""
    return {**app_env, "IVR_CALLBACK_HOURS": ""}


def test_the_services_own_rest_requests_validate(app: Any, twilio: Any, api: Any, standin: StandInServer,
                                                 redis_conn: redis.Redis) -> None:
    from blocklist import keys
    from workers import calls as call_jobs
    from workers.callbacks import place_callback

    # queues: workers.twilio_rest.ensure_queues (list + create with max_size), then the hold clean-up
    assert "agents" in call_jobs.ensure_standing_queues()
    assert call_jobs.ensure_standing_queues() == []
    assert call_jobs.cleanup_hold_queues(min_age_seconds=0) == 0
    # a redirect: calls(sid).update(url=..., method="POST")
    caller = cf.place_call(twilio, CUSTOMER)
    standin.state.set_call(caller.sid, status="in-progress")
    assert call_jobs.redirect_call(caller.sid, BASE_URL + "/voice/isolation?lang=en") == "done"
    (moved,) = standin.state.matching("POST", f"/Calls/{caller.sid}.json")
    assert set(moved.form) == {"Url", "Method"}
    # a call back: calls.create exactly as workers/callbacks.py place_callback makes it
    assert api.post(f"/api/calls/{caller.sid}/callback", json={"delay_seconds": 0}).status_code == 202
    cb_id = f"cb-{caller.sid}"
    assert place_callback(cb_id) == "ringing"
    (created,) = standin.state.matching("POST", "/Calls.json")
    assert created.form["From"] == LINE and created.form["To"] == CUSTOMER
    outbound = redis_conn.hget(keys.callback(cb_id), "outbound_sid")
    assert outbound and standin.state.calls[outbound]["status"] == "queued"
    assert standin.state.answer_errors == []
