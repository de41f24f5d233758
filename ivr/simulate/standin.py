"""A local stand-in for the parts of Twilio's REST API this service uses, as strict as Twilio.

Point TWILIO_API_BASE_URL at it: it answers call updates, call creation, call fetches and queue
create/list/fetch/update/delete under the real paths, records every request, and can be told to fail or
stall, so tests and the simulator can see exactly what the app asked Twilio to do.

It refuses what Twilio refuses:
- HTTP Basic auth must carry the account SID and auth token it was given (else 401, 20003), and the
  account in the path must be that account;
- every request is validated against its operation in Twilio's own OpenAPI description
  (ivr/simulate/twilio_oai/twilio_api_v2010_subset.json, trimmed from twilio/twilio-oai): path parameters, form
  field names, types, enums, required fields; a bad one is answered 400 with Twilio's error body;
- beyond the schema: unknown CallSid 404/20404, updating an ended call 400/21220, calls.create needs
  To, a From that is one of the account's numbers, and exactly one of Url/Twiml/ApplicationSid, queue
  MaxSize 1..5000.
Every answer it gives is checked against the documented response schema (each documented property
present, none undocumented, types, patterns, RFC 2822 dates); an answer that fails is a bug in the
stand-in: it is logged at ERROR, kept in `StandIn.answer_errors`, replaced by a 500, and `StandInServer.stop()`
raises, so the test that provoked it fails.

Validation library: openapi-core (0.23) validates requests and responses against the OpenAPI 3.0
document itself, with two settings plain jsonschema would need by hand: response properties treated as
required, undocumented response properties forbidden. Its form-body deserializer drops fields the
schema does not name (so unknown names are checked here, against the same schema) and reads a
repeated field as an array (a field sent once for an array parameter is one string, the SDK's way).

A `listener` (the call simulator) learns of every call update and creation, so it can move its
simulated call legs the way Twilio would; it also keeps the queues' sizes here in step with the calls
it has parked in them, so the app's queue upkeep (list, delete empty) sees what Twilio would show.

Error codes (https://www.twilio.com/docs/api/errors/<code>); confirmed = read in Twilio's error pages
or in an answer Twilio gave that is quoted in a public issue:
  20003 Authenticate, 401: wrong/missing credentials, or another account's path (confirmed: its page lists
        "using subaccount credentials to access master account"; the message "Authenticate" is Twilio's)
  20404 Not Found, 404: unknown CallSid/QueueSid, malformed SID in the path, unknown path (confirmed)
  20004 Method not allowed, 405 (confirmed)
  21201 No 'To' number specified; 21213 'From' phone number is required (confirmed)
  21205 Invalid URL; with no Url/Twiml/ApplicationSid Twilio answered 21205 "Url parameter is required"
        (confirmed, twilio/twilio-node#275); giving more than one is refused with 21205 too: NOT confirmed
        (in 2017 Twilio accepted Url together with ApplicationSid, twilio/twilio-python#297; the document's
        x-twilio.conditional lists them as alternatives)
  21209 Invalid Method on calls.create (confirmed)
  21210 'From' phone number not verified (confirmed); 21211 Invalid 'To' Phone Number (confirmed);
  21218 Invalid ApplicationSid (confirmed; this account has no TwiML applications)
  21220 Invalid call state: update of a call that has ended (confirmed)
  20001 every other bad parameter: NOT confirmed for this use. Twilio documents 20001 as a warning,
        "Unknown parameters ... were ignored": Twilio drops a misspelt name silently, the stand-in refuses
        it (on purpose: a misspelt parameter is a bug Twilio would hide). Wrong types and enum values,
        MaxSize over 5000 (the documents say "the maximum is 5000" but name no code; 22206 could not be
        found), FriendlyName over 64 characters and a bad MachineDetection also answer 20001.
  22001 (queue not empty) and 22003 (queue name taken) are kept from the earlier stand-in: NOT confirmed.
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask import Flask, Response, g, jsonify, request
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.exceptions import ParameterValidationError
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler, make_server

from ivr.simulate.twilio_oai import SUBSET

log = logging.getLogger("ivr.twilio_standin")
API = "/2010-04-01/Accounts/<account>"
TWILIO_BASE = "https://api.twilio.com"  # the document's server: requests are matched as if sent there
DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
ACCOUNT_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)(?:/|\.json$|$)")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
ENDED = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
MAX_QUEUE_SIZE = 5000  # "The maximum is 5000" (Queue resource, MaxSize)
MAX_QUEUE_NAME = 64  # "It can be up to 64 characters long" (Queue resource, FriendlyName)
MACHINE_DETECTION = ("Enable", "DetectMessageEnd")  # the values the Call resource documents
CALL_INSTRUCTIONS = ("Url", "Twiml", "ApplicationSid")  # x-twilio.conditional of CreateCall
NOT_FOUND = "The requested resource {} was not found"


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, str]
    at: float


@dataclass
class Fault:
    match: str  # substring of "METHOD path"
    remaining: int
    status: int = 500
    code: int = 20500
    delay: float = 0.0


class CallListener(Protocol):
    """Told of the app's REST requests about calls (called on the stand-in's request threads)."""

    def call_updated(self, sid: str, form: dict[str, str]) -> bool:
        """A call update (Url/Method, Twiml, Status); False when no such live call exists."""
        ...

    def call_created(self, call: dict[str, Any], form: dict[str, str]) -> None:
        """A new outbound call (To, From, Url, StatusCallback, MachineDetection...)."""
        ...


@dataclass
class StandIn:
    """State of the stand-in: its account, recorded requests, queues, calls, scripted faults.

    `account_sid`/`auth_token`: the only credentials it accepts (an empty token accepts none).
    `numbers`: the account's own phone numbers, the only From a created call may have (none by default:
    every calls.create then fails with 21210, as for an account that owns no number).
    `adopt_unknown_calls`: take a CallSid never reported (by `set_call`, a listener or calls.create) as a
    live in-progress call instead of answering 404 as Twilio does; for test rigs whose Twilio player does
    not tell the stand-in of the calls it plays."""

    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = ""
    numbers: tuple[str, ...] = ()
    adopt_unknown_calls: bool = False
    requests: list[Recorded] = field(default_factory=list)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    ended_calls: set[str] = field(default_factory=set)
    answer_errors: list[str] = field(default_factory=list)  # answers that broke Twilio's schema: stand-in bugs
    lock: threading.Lock = field(default_factory=threading.Lock)
    listener: CallListener | None = None
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))

    def fail(self, match: str, times: int = 1, status: int = 500, code: int = 20500, delay: float = 0.0) -> None:
        """The next `times` requests whose 'METHOD path' contains `match` fail with `status`."""
        with self.lock:
            self.faults.append(Fault(match, times, status, code, delay))

    def end_call(self, sid: str) -> None:
        """Mark a call completed: updates to it then fail as Twilio does (21220)."""
        with self.lock:
            self.ended_calls.add(sid)

    def matching(self, method: str, fragment: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == method and fragment in r.path]

    def queue_by_name(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((q for q in self.queues.values() if q["friendly_name"] == name), None)

    def queue_member(self, name: str, delta: int) -> dict[str, Any]:
        """A call entered (+1) or left (-1) the queue `name`; the first Enqueue creates it, as in Twilio."""
        with self.lock:
            q = next((q for q in self.queues.values() if q["friendly_name"] == name), None)
            if q is None:
                q = self._new_queue(name, 1000)
            q["current_size"] = max(0, int(q["current_size"]) + delta)
            return dict(q)

    def set_call(self, sid: str, **info: Any) -> None:
        """Record a call's state as Twilio would report it (the simulator's legs)."""
        with self.lock:
            self.calls.setdefault(sid, {"sid": sid, "date_created": _stamp()}).update(info)

    def check_answers(self) -> None:
        """AssertionError naming every answer that broke Twilio's documented schema."""
        if self.answer_errors:
            raise AssertionError("the Twilio stand-in gave answers Twilio's OpenAPI description does not allow "
                                 "(a stand-in bug):\n" + "\n".join(self.answer_errors))

    def _new_queue(self, name: str, max_size: int) -> dict[str, Any]:
        sid = self.new_sid("QU")
        stamp = _stamp()
        q = {"sid": sid, "friendly_name": name, "current_size": 0, "max_size": max_size, "average_wait_time": 0,
             "date_created": stamp, "date_updated": stamp}
        self.queues[sid] = q
        return q

    def new_sid(self, prefix: str) -> str:
        """prefix + 32 hex digits, the last ones a sequence number (unique, and sortable by eye)."""
        n = str(next(self._seq))
        return prefix + secrets.token_hex(16)[: 32 - len(n)] + n


def _stamp(at: float | None = None) -> str:
    """RFC 2822 in GMT, as Twilio writes its dates."""
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(at))


# ---- Twilio's OpenAPI description ----------------------------------------------------------------------
def _absolute_url(value: Any) -> bool:
    """Twilio's `uri` request parameters are fetched by Twilio: absolute http(s) URLs only."""
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in value


def _rfc2822(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        return parsedate_to_datetime(value) is not None
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Operation:
    template: str  # the document's path, e.g. /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json
    method: str
    form_fields: frozenset[str]


class Spec:
    """The trimmed document, its operations, and openapi-core validators for requests and answers."""

    def __init__(self) -> None:

        self.doc: dict[str, Any] = json.loads(SUBSET.read_text(encoding="utf-8"))
        self.requests = OpenAPI.from_dict(self.doc, config=Config(extra_format_validators={"uri": _absolute_url}))
        # Answers: every documented property present (nullable ones as null), nothing undocumented.
        self.answers = OpenAPI.from_dict(self.doc, config=Config(
            additional_properties_default_policy="forbid", response_properties_default_policy="required",
            extra_format_validators={"date-time-rfc-2822": _rfc2822}))
        self.paths: list[tuple[re.Pattern[str], str, dict[str, Any]]] = [
            (re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template)) + "$"), template, item)
            for template, item in self.doc["paths"].items()]

    def find(self, path: str, method: str) -> tuple[str | None, Operation | None]:
        """(template, operation): (None, None) for an unknown path, (template, None) for a method it lacks."""
        for pattern, template, item in self.paths:
            if pattern.match(path):
                op = item.get(method.lower())
                if op is None:
                    return template, None
                body = op.get("requestBody", {}).get("content", {}).get("application/x-www-form-urlencoded", {})
                return template, Operation(template, method.lower(),
                                           frozenset(body.get("schema", {}).get("properties", {})))
        return None, None

    def properties(self, schema: str) -> list[str]:
        return list(self.doc["components"]["schemas"][schema]["properties"])


@lru_cache(maxsize=1)
def spec() -> Spec:
    return Spec()


class OaiRequest:
    """A request as openapi-core reads it (the werkzeug adapter's shape, matched against api.twilio.com)."""

    host_url = TWILIO_BASE

    def __init__(self, method: str, path: str, body: bytes, content_type: str | None,
                 args: Any, headers: Headers) -> None:

        self.method = method.lower()
        self.path = path
        self.body = body
        self.content_type = content_type or "application/x-www-form-urlencoded"
        self.parameters = RequestParameters(query=args, header=headers, cookie=ImmutableMultiDict())


class OaiResponse:
    def __init__(self, status: int, data: bytes, content_type: str) -> None:
        self.status_code = status
        self.data = data
        self.content_type = content_type
        self.headers = Headers()


def _schema_messages(exc: BaseException) -> list[Any]:
    cause = exc.__cause__
    return list(getattr(cause, "schema_errors", None) or [])


def request_problem(op: Operation, errors: list[Exception], form: dict[str, str]) -> tuple[int, int, str]:
    """(HTTP status, Twilio code, message) for openapi-core's first complaint about a request."""

    creating = op.template.endswith("/Calls.json")
    for exc in errors:
        if isinstance(exc, ParameterValidationError):
            if exc.location == "path":  # a malformed SID names no resource
                return 404, 20404, NOT_FOUND.format(request.path)
            return 400, 20001, f"Invalid {exc.location} parameter {exc.name}"
        for err in _schema_messages(exc):
            where = list(err.path)
            name = str(where[0]) if where else ""
            if err.validator == "required":
                missing = next((m for m in err.validator_value if m not in form), "")
                if creating and missing == "To":
                    return 400, 21201, "No 'To' number is specified"
                if creating and missing == "From":
                    return 400, 21213, "No 'From' number is specified"
                return 400, 20001, f"Missing required parameter {missing} in the post body"
            if err.validator == "enum" and creating and name == "Method":
                return 400, 21209, f"Method is not valid: {err.instance}"
            if err.validator == "format" and name == "Url":
                return 400, 21205, f"Url is not a valid URL: {err.instance}"
            return 400, 20001, f"{name or 'A parameter'} is not valid: {err.message}"
        cause = exc.__cause__
        if cause is not None and hasattr(cause, "value") and hasattr(cause, "type"):  # CastError
            bad = next((k for k, v in form.items() if v == cause.value), "A parameter")
            return 400, 20001, f"{bad} is not valid: {cause.value!r} is not a {cause.type}"
        return 400, 20001, str(exc)
    return 400, 20001, "Invalid request"


# ---- the app ----------------------------------------------------------------------------------------------
def _error(status: int, code: int, message: str) -> Response:
    resp = jsonify({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status})
    resp.status_code = status
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return resp


def _same(given: str | None, expected: str) -> bool:
    return bool(expected) and given is not None and hmac.compare_digest(given.encode(), expected.encode())


def create_standin_app(state: StandIn) -> Flask:
    app = Flask("twilio-standin")
    oai = spec()
    call_props = oai.properties("api.v2010.account.call")
    queue_props = oai.properties("api.v2010.account.queue")

    def call_json(call: dict[str, Any]) -> dict[str, Any]:
        """The call as Twilio shows it: exactly the documented properties (the stand-in's own notes, such as
        url or twiml, are not part of Twilio's answer)."""
        sid = call["sid"]
        out = {name: call.get(name) for name in call_props}
        out.update(sid=sid, account_sid=state.account_sid, status=call.get("status") or "in-progress",
                   api_version="2010-04-01", price_unit=call.get("price_unit") or "USD",
                   date_created=call.get("date_created") or _stamp(),
                   date_updated=call.get("date_updated") or call.get("date_created") or _stamp(),
                   uri=f"/2010-04-01/Accounts/{state.account_sid}/Calls/{sid}.json",
                   # Twilio lists the sub-resources here; the document types it as an object of no named
                   # properties, which the strict answer check reads as "none": the stand-in says null.
                   subresource_uris=None)
        for name in ("duration", "price", "queue_time"):
            if out.get(name) is not None:
                out[name] = str(out[name])
        return out

    def queue_json(q: dict[str, Any]) -> dict[str, Any]:
        out = {name: q.get(name) for name in queue_props}
        out.update(account_sid=state.account_sid, current_size=int(q.get("current_size") or 0),
                   max_size=int(q.get("max_size") or 0), average_wait_time=int(q.get("average_wait_time") or 0),
                   date_updated=q.get("date_updated") or q.get("date_created"),
                   uri=f"/2010-04-01/Accounts/{state.account_sid}/Queues/{q['sid']}.json")
        return out

    def queue_name_problem(name: str, sid: str | None) -> Response | None:
        if not name:
            return _error(400, 20001, "FriendlyName is required")
        if len(name) > MAX_QUEUE_NAME:
            return _error(400, 20001, f"FriendlyName must be at most {MAX_QUEUE_NAME} characters")
        if any(q["friendly_name"] == name and q["sid"] != sid for q in state.queues.values()):
            return _error(400, 22003, "A queue with this friendly name already exists")
        return None

    def max_size_problem(form: Any) -> Response | None:
        if "MaxSize" in form and not 1 <= int(form["MaxSize"]) <= MAX_QUEUE_SIZE:
            return _error(400, 20001, f"MaxSize must be between 1 and {MAX_QUEUE_SIZE}: {form['MaxSize']}")
        return None

    def known_call(sid: str) -> dict[str, Any] | None:
        """The call, or None when Twilio would not know it (adopted as live when so configured)."""
        with state.lock:
            call = state.calls.get(sid)
            if call is None and state.adopt_unknown_calls:
                call = state.calls[sid] = {"sid": sid, "status": "in-progress", "date_created": _stamp()}
            return call

    @app.before_request
    def gate() -> Response | None:
        body = request.get_data(cache=True)  # before .form: openapi-core reads the raw body too
        form = request.form
        entry = Recorded(request.method, request.path, {k: v for k, v in form.items()}, time.time())
        with state.lock:
            state.requests.append(entry)
            key = f"{request.method} {request.path}"
            fault = next((f for f in state.faults if f.remaining > 0 and f.match in key), None)
            if fault:
                fault.remaining -= 1
        if fault:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return _error(fault.status, fault.code, "stand-in: scripted failure")
        auth = request.authorization
        if auth is None or auth.type != "basic" or not _same(auth.username, state.account_sid) \
                or not _same(auth.password, state.auth_token):
            return _error(401, 20003, "Authenticate")
        in_path = ACCOUNT_PATH.match(request.path)
        if in_path and in_path.group(1) != state.account_sid:
            # Another account's resources with this account's credentials: Twilio's 20003 page names that
            # case ("subaccount credentials to access master account"); a path segment that is no account
            # SID at all names no resource.
            if ACCOUNT_SID.match(in_path.group(1)):
                return _error(401, 20003, "Authenticate")
            return _error(404, 20404, NOT_FOUND.format(request.path))
        template, op = oai.find(request.path, request.method)
        if template is None:
            return _error(404, 20404, NOT_FOUND.format(request.path))
        if op is None:
            return _error(405, 20004, "Method not allowed")
        unknown = sorted(set(form) - op.form_fields)
        if unknown:
            return _error(400, 20001, f"Unknown parameters: {', '.join(unknown)}")
        if request.mimetype != "application/x-www-form-urlencoded":
            body = b""  # Twilio reads only form fields: a JSON body reads as no parameters at all (21201...)
        req = OaiRequest(request.method, request.path, body, "application/x-www-form-urlencoded", request.args,
                         Headers(request.headers))
        result = oai.requests.unmarshal_request(req)
        if result.errors:
            status, code, message = request_problem(op, list(result.errors), dict(form.items()))
            return _error(status, code, message)
        g.oai_request = req
        return None

    @app.after_request
    def check_answer(resp: Response) -> Response:
        problem = ""
        if 200 <= resp.status_code < 300:
            req = g.get("oai_request")
            if req is None:
                problem = "a success answer to a request that was never validated"
            else:
                result = oai.answers.unmarshal_response(
                    req, OaiResponse(resp.status_code, resp.get_data(), resp.mimetype or ""))
                problem = "; ".join(f"{e} {_schema_messages(e) or ''}".strip() for e in result.errors)
        else:
            body = resp.get_json(silent=True)
            if not (isinstance(body, dict) and set(body) == {"code", "message", "more_info", "status"}
                    and body["status"] == resp.status_code and isinstance(body["code"], int)):
                problem = f"an error answer not shaped as Twilio's: {resp.get_data(as_text=True)[:200]!r}"
        if not problem:
            return resp
        text = f"{request.method} {request.path} -> {resp.status_code}: {problem}"
        log.error("Twilio stand-in answer breaks Twilio's documented schema (a stand-in bug): %s", text)
        with state.lock:
            state.answer_errors.append(text)
        return _error(500, 20500, f"stand-in bug: its answer broke Twilio's schema: {problem[:300]}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        return _error(status, {404: 20404, 405: 20004}.get(status, 20001 if status < 500 else 20500),
                      exc.description or exc.name)

    @app.errorhandler(Exception)
    def crash(exc: Exception) -> Response:
        log.exception("Twilio stand-in crashed on %s %s", request.method, request.path)
        with state.lock:
            state.answer_errors.append(f"{request.method} {request.path}: crashed: {exc!r}")
        return _error(500, 20500, f"stand-in crashed: {exc!r}")

    @app.post(f"{API}/Calls/<sid>.json")
    def update_call(account: str, sid: str) -> Any:
        form = request.form
        with state.lock:
            current = state.calls.get(sid, {}).get("status")
            ended = sid in state.ended_calls or current in ENDED
        if ended:
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        listener = state.listener
        if listener is not None:
            if not listener.call_updated(sid, dict(form.items())):
                return _error(404, 20404, NOT_FOUND.format(request.path))
        elif known_call(sid) is None:
            return _error(404, 20404, NOT_FOUND.format(request.path))
        with state.lock:
            call = state.calls.setdefault(sid, {"sid": sid, "status": "in-progress", "date_created": _stamp()})
            if form.get("Url"):
                call.update(url=form["Url"], method=form.get("Method", "POST"))
            if form.get("Twiml"):
                call["twiml"] = form["Twiml"]
            status = form.get("Status")
            # completed hangs up a live call; canceled only stops one still queued or ringing (Twilio
            # leaves an in-progress call alone on canceled).
            if status == "completed" or (status == "canceled" and call.get("status") in ("queued", "ringing")):
                call["status"] = status
                call["end_time"] = _stamp()
            call["date_updated"] = _stamp()
            body = call_json(call)
        return jsonify(body)

    @app.post(f"{API}/Calls.json")
    def create_call(account: str) -> Any:
        form = dict(request.form.items())
        to, from_ = form.get("To", ""), form.get("From", "")
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _error(400, 21213, "No 'From' number is specified")
        if not (E164.match(to) or to.startswith(("client:", "sip:"))):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ not in state.numbers:
            return _error(400, 21210, f"The source phone number provided, {from_}, is not yet verified for your "
                                      "account. You may only make calls from phone numbers that you've verified "
                                      "or purchased from Twilio.")
        given = [name for name in CALL_INSTRUCTIONS if form.get(name)]
        if not given:
            return _error(400, 21205, "Url parameter is required. For more information, see "
                                      "http://www.twilio.com/docs/api/twiml")
        if len(given) > 1:
            return _error(400, 21205, f"Only one of Url, Twiml or ApplicationSid may be given, not {' and '.join(given)}")
        if given == ["ApplicationSid"]:
            return _error(400, 21218, "Invalid ApplicationSid")
        if form.get("MachineDetection") and form["MachineDetection"] not in MACHINE_DETECTION:
            return _error(400, 20001, f"MachineDetection must be one of {', '.join(MACHINE_DETECTION)}")
        sid = state.new_sid("CA")
        call = {"sid": sid, "status": "queued", "to": to, "from": from_, "url": form.get("Url"),
                "twiml": form.get("Twiml"), "method": form.get("Method", "POST"), "direction": "outbound-api",
                "status_callback": form.get("StatusCallback"), "account_sid": state.account_sid,
                "date_created": _stamp()}
        with state.lock:
            state.calls[sid] = call
            body = call_json(call)
        listener = state.listener
        if listener is not None:
            listener.call_created(dict(call), form)
        return jsonify(body), 201

    @app.get(f"{API}/Calls/<sid>.json")
    def fetch_call(account: str, sid: str) -> Any:
        call = known_call(sid)
        if call is None:
            return _error(404, 20404, NOT_FOUND.format(request.path))
        with state.lock:
            body = call_json(call)
        return jsonify(body)

    @app.get(f"{API}/Queues.json")
    def list_queues(account: str) -> Any:
        size = int(request.args.get("PageSize", 50))
        page = int(request.args.get("Page", 0))
        base = f"/2010-04-01/Accounts/{state.account_sid}/Queues.json"
        with state.lock:
            everything = list(state.queues.values())
            items = [queue_json(q) for q in everything[page * size:(page + 1) * size]]
        more = len(everything) > (page + 1) * size
        start = page * size
        return jsonify({"queues": items, "page": page, "page_size": size, "start": start,
                        "end": max(start, start + len(items) - 1), "uri": f"{base}?PageSize={size}&Page={page}",
                        "first_page_uri": f"{base}?PageSize={size}&Page=0",
                        "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}" if more else None,
                        "previous_page_uri": f"{base}?PageSize={size}&Page={page - 1}" if page else None})

    @app.post(f"{API}/Queues.json")
    def create_queue(account: str) -> Any:
        name = request.form.get("FriendlyName", "")
        problem = max_size_problem(request.form)
        if problem is not None:
            return problem
        with state.lock:
            problem = queue_name_problem(name, None)
            if problem is not None:
                return problem
            q = state._new_queue(name, int(request.form.get("MaxSize", 1000)))
            body = queue_json(q)
        return jsonify(body), 201

    @app.get(f"{API}/Queues/<sid>.json")
    def fetch_queue(account: str, sid: str) -> Any:
        with state.lock:
            q = state.queues.get(sid)
            body = queue_json(q) if q else None
        return jsonify(body) if body else _error(404, 20404, NOT_FOUND.format(request.path))

    @app.post(f"{API}/Queues/<sid>.json")
    def update_queue(account: str, sid: str) -> Any:
        problem = max_size_problem(request.form)
        if problem is not None:
            return problem
        with state.lock:
            q = state.queues.get(sid)
            if not q:
                return _error(404, 20404, NOT_FOUND.format(request.path))
            if "FriendlyName" in request.form:
                problem = queue_name_problem(request.form["FriendlyName"], sid)
                if problem is not None:
                    return problem
                q["friendly_name"] = request.form["FriendlyName"]
            if "MaxSize" in request.form:
                q["max_size"] = int(request.form["MaxSize"])
            q["date_updated"] = _stamp()
            body = queue_json(q)
        return jsonify(body)

    @app.delete(f"{API}/Queues/<sid>.json")
    def delete_queue(account: str, sid: str) -> Any:
        with state.lock:
            q = state.queues.get(sid)
            if not q:
                return _error(404, 20404, NOT_FOUND.format(request.path))
            if q["current_size"]:
                return _error(400, 22001, "Queue is not empty")
            del state.queues[sid]
        return "", 204

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """No access log: the simulator's progress line owns the terminal."""


class StandInServer:
    """The stand-in on 127.0.0.1 in a background thread (OSError when the port is taken)."""

    def __init__(self, state: StandIn | None = None, port: int = 0, quiet: bool = False) -> None:
        self.state = state or StandIn()
        handler = _QuietHandler if quiet else WSGIRequestHandler
        self.server = make_server("127.0.0.1", port, create_standin_app(self.state), threaded=True,
                                  request_handler=handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> StandInServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Shut down; AssertionError if any answer broke Twilio's documented schema (a stand-in bug)."""
        self.server.shutdown()
        self.state.check_answers()
