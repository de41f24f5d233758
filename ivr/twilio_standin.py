"""A local stand-in for the parts of Twilio's REST API this service uses.

Point TWILIO_API_BASE_URL at it: it answers call updates, call creation and queue create/list/delete
under the real paths, records every request, and can be told to fail or stall, so tests and the
simulator can see exactly what the app asked Twilio to do.

A `listener` (the call simulator) learns of every call update and creation, so it can move its
simulated call legs the way Twilio would; it also keeps the queues' sizes here in step with the calls
it has parked in them, so the app's queue upkeep (list, delete empty) sees what Twilio would show.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

API = "/2010-04-01/Accounts/<account>"


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
    """State of the stand-in: recorded requests, queues, calls, scripted faults."""

    requests: list[Recorded] = field(default_factory=list)
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    ended_calls: set[str] = field(default_factory=set)
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
            self.calls.setdefault(sid, {"sid": sid}).update(info)

    def _new_queue(self, name: str, max_size: int) -> dict[str, Any]:
        sid = self.new_sid("QU")
        q = {"sid": sid, "friendly_name": name, "current_size": 0, "max_size": max_size, "average_wait_time": 0,
             "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())}
        self.queues[sid] = q
        return q

    def new_sid(self, prefix: str) -> str:
        return prefix + secrets.token_hex(16)[: 32 - len(str(next(self._seq)))] + str(next(self._seq))


def _error(status: int, code: int, message: str) -> Any:
    return jsonify({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}), status


def create_standin_app(state: StandIn) -> Flask:
    app = Flask("twilio-standin")

    @app.before_request
    def record_and_fault() -> Any:
        entry = Recorded(request.method, request.path, {k: v for k, v in request.form.items()}, time.time())
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
        return None

    def queue_json(account: str, q: dict[str, Any]) -> dict[str, Any]:
        return {**q, "account_sid": account, "uri": f"/2010-04-01/Accounts/{account}/Queues/{q['sid']}.json"}

    @app.post(f"{API}/Calls/<sid>.json")
    def update_call(account: str, sid: str) -> Any:
        if sid in state.ended_calls:
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        listener = state.listener
        if listener is not None and not listener.call_updated(sid, dict(request.form.items())):
            return _error(404, 20404, "The requested resource was not found")
        with state.lock:
            call = state.calls.setdefault(sid, {"sid": sid, "status": "in-progress"})
            call.update({"url": request.form.get("Url"), "method": request.form.get("Method", "POST")})
            if request.form.get("Status"):
                call["status"] = request.form["Status"]
        return jsonify({**call, "account_sid": account})

    @app.post(f"{API}/Calls.json")
    def create_call(account: str) -> Any:
        sid = state.new_sid("CA")
        form = dict(request.form.items())
        call = {"sid": sid, "status": "queued", "to": form.get("To"), "from": form.get("From"),
                "url": form.get("Url"), "method": form.get("Method", "POST"), "direction": "outbound-api",
                "status_callback": form.get("StatusCallback"), "account_sid": account}
        with state.lock:
            state.calls[sid] = call
        listener = state.listener
        if listener is not None:
            listener.call_created(dict(call), form)
        return jsonify(call), 201

    @app.get(f"{API}/Calls/<sid>.json")
    def fetch_call(account: str, sid: str) -> Any:
        call = state.calls.get(sid)
        if not call:
            return _error(404, 20404, "The requested resource was not found")
        return jsonify({**call, "account_sid": account})

    @app.get(f"{API}/Queues.json")
    def list_queues(account: str) -> Any:
        with state.lock:
            items = [queue_json(account, q) for q in state.queues.values()]
        return jsonify({"queues": items, "page": 0, "page_size": 1000, "next_page_uri": None,
                        "uri": f"/2010-04-01/Accounts/{account}/Queues.json", "first_page_uri": None,
                        "previous_page_uri": None, "start": 0, "end": len(items)})

    @app.post(f"{API}/Queues.json")
    def create_queue(account: str) -> Any:
        name = request.form.get("FriendlyName", "")
        if not name:
            return _error(400, 20001, "FriendlyName is required")
        with state.lock:
            if any(q["friendly_name"] == name for q in state.queues.values()):
                return _error(400, 22003, "A queue with this friendly name already exists")
            q = state._new_queue(name, int(request.form.get("MaxSize", 1000)))
        return jsonify(queue_json(account, q)), 201

    @app.get(f"{API}/Queues/<sid>.json")
    def fetch_queue(account: str, sid: str) -> Any:
        q = state.queues.get(sid)
        return jsonify(queue_json(account, q)) if q else _error(404, 20404, "The requested resource was not found")

    @app.delete(f"{API}/Queues/<sid>.json")
    def delete_queue(account: str, sid: str) -> Any:
        with state.lock:
            q = state.queues.get(sid)
            if not q:
                return _error(404, 20404, "The requested resource was not found")
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
        self.server.shutdown()
