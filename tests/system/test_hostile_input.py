"""Hostile and malformed input, property-based: every Twilio webhook and every JSON API route of the app
(enumerated from its url_map) gets random, missing, duplicated, oversized and non-UTF-8 parameters.

Twilio requests are signed correctly over whatever werkzeug parses, so the handlers really run. The
properties: never a 500 and never a stack trace; a webhook answers TwiML (<Response>) or a 4xx; an API
error is JSON {error, detail}; and nothing stored is garbage (every key is one the product names, every
caller is E.164 or "anonymous", every stored text is printable and bounded).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from blocklist import keys
from ivr.api import openapi
from ivr.moves import difficult as routing
from ivr.webhooks.signature import TWILIO_ROUTE_ATTR
from tests.support import callflow as cf
from tests.support.constants import AGENT, API_TOKEN, BASE_URL, LINE
from tests.support.twilio_player import TwilioPlayer

# Failing examples carry bodies of up to 70 kB; hypothesis warns when it prints them.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
MAX_EXAMPLES = 60  # per route and property; the whole file stays under two minutes
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])

KNOWN_SID = "CA" + "1" * 32  # a caller the screen has seen, bridged to AGENT_SID
AGENT_SID = "CA" + "2" * 32
KNOWN_NUMBER = "+14155550123"

# ---- what may be stored --------------------------------------------------------------------------
E164 = r"\+[1-9][0-9]{1,14}"
SID = r"CA[0-9a-fA-F]{32}"
SCOPE = rf"(?:\*|{E164})"
LINE_OR_UNKNOWN = rf"(?:{E164}|unknown)"  # an unparseable To is recorded as line "unknown"
CALLER = rf"(?:{E164}|anonymous)"
KEY_PATTERNS = [re.compile(rf"\A{p}\Z") for p in (
    r"ivr:(?:allow|allow:index|prefix|prefix:lengths|block:index|settings|review|review:info|strikes|events|audit|counters"
    r"|agents:online|escalations|callbacks|failopen)",
    rf"ivr:block:{SCOPE}:{E164}",
    rf"ivr:hist:{E164}",
    rf"ivr:line:{E164}",
    rf"ivr:burst:(?:\*|{LINE_OR_UNKNOWN}):{CALLER}",
    rf"ivr:campaign:(?:seen:)?{LINE_OR_UNKNOWN}:\+[1-9][0-9]{{1,14}}",
    rf"ivr:(?:call|agentleg|escalation|flagged|decision):{SID}",
    rf"ivr:agent:(?:{E164}|client:[A-Za-z0-9_.@\-]{{1,64}}):leg",
    rf"ivr:callback:cb-{SID}",
    rf"ivr:restrict:(?:info|index|n:{E164}|calls:{E164})",
    r"ivr:warnings",
    r"ivr:team:[a-z0-9][a-z0-9_\-]{0,29}:waiting",  # callers a contact restriction sent to one team (IVR_TEAMS)
    # an agent's exposure and wellbeing break, keyed by the agent's phone or desk user (never by a caller)
    rf"ivr:exposure:(?:{E164}|client:[A-Za-z0-9_.@\-]{{1,64}})",
    rf"ivr:wellbeing:agent:(?:{E164}|client:[A-Za-z0-9_.@\-]{{1,64}}|user:[a-z0-9_.\-]{{1,64}}|[a-z0-9_.\-]{{1,64}})",
    r"ivr:wellbeing:(?:checkins|checkin:[A-Za-z0-9_\-]{1,64}|unreported:[^\s]+)",
    r"ivr:agg:[^\s]+",
    r"ivr:events:kept",
    r"ivr:desk:[^\s]+",
    r"rq:[^\s]+",
)]
NUMBER_FIELD = re.compile(rf"\A{CALLER}\Z")
LINE_FIELD = re.compile(rf"\A{LINE_OR_UNKNOWN}\Z")
MAX_STORED_TEXT = 2000  # the longest text field (a note); every caller-controlled field is cut to 200
# Counters that mean something broke inside (Redis errors, crashes) while Redis was fine.
BROKEN_COUNTERS = ("unexpected_error", "store_unavailable", "fail_open", "state_lost", "pairing_lost",
                   "agent_state_lost", "status_lost", "isolation_event_lost", "callback_lost",
                   "language_lookup_failed")


def garbage(conn: redis.Redis) -> list[str]:
    """Everything stored that the product would not have stored from good input."""
    found = []
    for key in conn.scan_iter(count=1000):
        if not any(p.match(key) for p in KEY_PATTERNS):
            found.append(f"unknown key {key!r}")
            continue
        kind = conn.type(key)
        if key.startswith(("ivr:call:", "ivr:callback:", "ivr:agentleg:", "ivr:escalation:")) and kind == "hash":
            values = conn.hgetall(key)
            if "number" in values and not NUMBER_FIELD.match(values["number"]):
                found.append(f"{key} number={values['number'][:40]!r}")
            if key.startswith("ivr:call:") and values.get("line") and not LINE_FIELD.match(values["line"]):
                found.append(f"{key} line={values['line'][:40]!r}")
            found += [f"{key} {name}={value[:40]!r}" for name, value in values.items() if bad_text(value)]
        elif key in (keys.EVENTS, keys.AUDIT) and kind == "stream":
            for _id, fields in conn.xrange(key):
                if fields.get("number") and not (NUMBER_FIELD.match(fields["number"]) or key == keys.AUDIT):
                    found.append(f"{key} event number={fields['number'][:40]!r}")
                found += [f"{key} {name}={value[:40]!r}" for name, value in fields.items() if bad_text(value)]
    return found


def bad_text(value: str) -> bool:
    return len(value) > MAX_STORED_TEXT or not value.isprintable()


def broken_counters(app: Any) -> dict[str, int]:
    counters = app.extensions["ivr"].counters
    return {name: counters[name] for name in BROKEN_COUNTERS if counters.get(name)}


# ---- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def app_env(app_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    """Prompt uploads write under IVR_DATA_DIR: keep them in the test's own folder."""
    return {**app_env, "IVR_DATA_DIR": str(tmp_path / "data")}


def seed(app: Any, twilio: TwilioPlayer) -> None:
    """A caller (KNOWN_SID) bridged to an agent leg (AGENT_SID), a call back agreed with it; the caller's number
    blocked since, another allowlisted, a range rule."""
    caller = cf.Caller(KNOWN_SID, KNOWN_NUMBER, twilio.incoming(KNOWN_SID, KNOWN_NUMBER, LINE))
    assert caller.reply.status == 200
    connect = twilio.post("/agent/connect", {"CallSid": AGENT_SID, "From": AGENT, "To": "+15557770000"})
    assert connect.status == 200
    cf.bridge(twilio, cf.AgentLeg(AGENT_SID, AGENT, connect, connect.root.find("Dial")), caller)
    res = app.extensions["ivr"]
    with app.app_context():
        routing.schedule_callback(res, KNOWN_SID, agent=AGENT, via="key")
    res.blocklist.block(KNOWN_NUMBER, by="seed", reason="seeded", duration=86400)
    res.blocklist.allow("+14155550125", by="seed", reason="a customer")
    res.blocklist.add_prefix("+1416", by="seed", reason="a range", treatment="isolation")


class Lab:
    """Each example starts from the seeded state and ends with nothing garbage stored and nothing broken."""

    def __init__(self, app: Any, twilio: TwilioPlayer, conn: redis.Redis) -> None:
        self.app, self.twilio, self.conn = app, twilio, conn

    def start(self) -> None:
        self.conn.flushdb()
        self.app.extensions["ivr"].counters.clear()
        seed(self.app, self.twilio)

    def check(self) -> None:
        assert garbage(self.conn) == []
        assert broken_counters(self.app) == {}


@pytest.fixture
def lab(app: Any, twilio: TwilioPlayer, redis_conn: redis.Redis) -> Lab:
    return Lab(app, twilio, redis_conn)


def twilio_rules(app: Any) -> list[Any]:
    rules = [r for r in app.url_map.iter_rules() if getattr(app.view_functions[r.endpoint], TWILIO_ROUTE_ATTR, False)]
    assert len(rules) >= 19
    return sorted(rules, key=lambda r: r.rule)


def spec_path(rule: str) -> str:
    """A werkzeug rule as an OpenAPI path: /api/calls/<sid>/flag -> /api/calls/{sid}/flag."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def api_rules(app: Any) -> list[Any]:
    rules = [r for r in app.url_map.iter_rules()
             if r.rule.startswith("/api/") or (r.endpoint.startswith("reports.") and r.rule.startswith("/reports/"))]
    assert len(rules) >= 40
    return sorted(rules, key=lambda r: (r.rule, sorted(r.methods)))


# ---- strategies ----------------------------------------------------------------------------------
ANY_TEXT = st.text(max_size=40)  # any unicode, control characters included (no surrogates: not encodable)
NASTY = st.sampled_from(["", " ", "\x00", "\r\n", "\u202e", "'; DROP TABLE", "<Say>hi</Say>", "%FF%FE", "😀",
                         "CA" + "g" * 32, "ca" + "1" * 32, "CA" + "1" * 33, "-1", "1e400", "NaN", "9" * 30])
UNPRINTABLE = st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs"]), min_size=1, max_size=10)
TEXT = st.one_of(ANY_TEXT, NASTY, UNPRINTABLE)
VALID_SID = st.from_regex(r"\ACA[0-9a-f]{32}\Z")
SIDS = st.one_of(st.sampled_from([KNOWN_SID, AGENT_SID]), VALID_SID, VALID_SID, TEXT)
WITHHELD_FORMS = ["anonymous", "Anonymous", "+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253",
                  "restricted", "unknown", "private", "unavailable", "blocked", "", " "]
NUMBERS = st.one_of(st.sampled_from([KNOWN_NUMBER, AGENT, "client:alice", "client:bad name", "+1", "+999",
                                     "(415) 555-0123", "004930123456", "sip:x@example.com", LINE]),
                    st.sampled_from(WITHHELD_FORMS), st.from_regex(r"\A\+[1-9][0-9]{1,16}\Z"), TEXT)
LONG = st.integers(min_value=200, max_value=70_000).map(lambda n: "x" * n)  # up to past IVR_MAX_BODY_BYTES
VALUES = st.one_of(TEXT, LONG)
FIELD_VALUES: dict[str, Any] = {
    "CallSid": SIDS, "DequeingCallSid": SIDS, "From": NUMBERS, "To": NUMBERS, "Caller": NUMBERS,
    "Digits": st.one_of(st.sampled_from(["1", "2", "3", "9", "*", "#", "99", "timeout"]), TEXT),
    "QueueResult": st.one_of(st.sampled_from(["bridged", "hangup", "leave", "redirected", "redirected-from-bridged",
                                              "queue-full", "error", "system-error"]), TEXT),
    "QueueTime": st.one_of(st.integers(-10, 10**6).map(str), TEXT),
    "QueuePosition": st.one_of(st.integers(-10, 10**6).map(str), TEXT),
    "CallStatus": st.one_of(st.sampled_from(["completed", "busy", "failed", "no-answer", "canceled", "ringing"]), TEXT),
    "CallDuration": st.one_of(st.integers(-10, 10**9).map(str), TEXT),
    "AnsweredBy": st.one_of(st.sampled_from(["human", "machine_start", "fax", "unknown"]), VALUES),
    "FromCountry": st.one_of(st.sampled_from(["US", "FI", "ZA", "BR", "cn"]), TEXT),
    "FromCity": VALUES, "StirVerstat": TEXT, "ErrorCode": TEXT,
}
QUERY_VALUES: dict[str, Any] = {
    "lang": st.one_of(st.sampled_from(["en", "fi", "zh", "xx", ""]), TEXT),
    "caller": SIDS, "n": st.one_of(st.integers(-5, 20).map(str), TEXT),
    "cb": st.one_of(st.just(f"cb-{KNOWN_SID}"), st.just(f"cb-{KNOWN_SID}"), VALID_SID.map(lambda s: f"cb-{s}"), TEXT),
    "reason": st.one_of(st.sampled_from(["long_wait", "closed", "no_agent"]), TEXT),
}


@st.composite
def form_pairs(draw: Any) -> list[tuple[str, str]]:
    """A webhook's parameters: Twilio's own (each maybe missing, maybe twice), and unknown ones."""
    pairs: list[tuple[str, str]] = []
    for name, values in FIELD_VALUES.items():
        for _ in range(draw(st.sampled_from([0, 1, 1, 1, 1, 1, 2]))):
            pairs.append((name, draw(values)))
    pairs += draw(st.lists(st.tuples(TEXT, VALUES), max_size=4))
    if draw(st.integers(0, 9)) == 0:  # many parts (werkzeug caps multipart at MAX_FORM_PARTS)
        pairs += [(f"p{i}", "v") for i in range(draw(st.integers(150, 300)))]
    return pairs


@st.composite
def query_pairs(draw: Any) -> list[tuple[str, str]]:
    return [(name, draw(values)) for name, values in QUERY_VALUES.items()
            if draw(st.sampled_from([True, True, True, False]))]


def parsed_form(body: bytes, content_type: str) -> MultiDict[str, str]:
    """What werkzeug will parse from this body: what a correct signature covers."""
    environ = EnvironBuilder(method="POST", data=body, content_type=content_type).get_environ()
    try:
        return Request(environ).form
    except Exception:  # werkzeug refuses it: sign over nothing
        return MultiDict()


def sign(twilio: TwilioPlayer, path: str, query: str, params: MultiDict[str, str]) -> str:
    return str(twilio.validator.compute_signature(BASE_URL + path + (f"?{query}" if query else ""), params))


def check_webhook_reply(resp: Any, limit: int, sent: int) -> None:
    """TwiML or a 4xx; never a 500, never a traceback."""
    body = resp.get_data()
    assert b"Traceback" not in body
    assert resp.status_code < 500, (resp.status_code, body[:300])
    if sent > limit:
        assert resp.status_code == 413
    if 200 <= resp.status_code < 300:
        assert resp.mimetype == "text/xml", resp.mimetype
        root = etree.fromstring(body)
        assert root.tag == "Response"
    else:
        assert 400 <= resp.status_code < 500, resp.status_code


# ---- the webhooks --------------------------------------------------------------------------------
def test_webhooks_survive_random_signed_parameters(app: Any, client: Any, twilio: TwilioPlayer,
                                                   lab: Lab) -> None:
    limit = app.config["SETTINGS"].max_body_bytes
    statuses: Counter[int] = Counter()

    def check_route(rule: Any) -> None:
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        # Oversized bodies in both encodings on every route, whatever the random draws bring.
        big = [("CallSid", KNOWN_SID), ("From", KNOWN_NUMBER), ("FromCity", "x" * (limit + 1))]

        @SETTINGS
        @example(pairs=big, query=[], method=methods[0], move="escalate", encoding="urlencoded")
        @example(pairs=big, query=[], method=methods[0], move="escalate", encoding="multipart")
        @given(pairs=form_pairs(), query=query_pairs(), method=st.sampled_from(methods * 3 + ["GET"]),
               move=st.one_of(st.sampled_from(["escalate", "warn", "end", "callback"]),
                              st.text(string.ascii_letters + "-_", min_size=1, max_size=20)),
               encoding=st.sampled_from(["urlencoded", "urlencoded", "multipart"]))
        def run(pairs: list[tuple[str, str]], query: list[tuple[str, str]], method: str, move: str,
                encoding: str) -> None:
            lab.start()
            path = rule.rule.replace("<move>", move)
            if method == "GET":  # a number set to GET: Twilio's fields ride in the signed query string
                query, pairs, encoding = query + pairs, [], "urlencoded"
            qs = urlencode(query)
            form = MultiDict(pairs)
            if encoding == "multipart":
                environ = EnvironBuilder(method="POST", data=form).get_environ()
                body, content_type = environ["wsgi.input"].read(), environ["CONTENT_TYPE"]
            else:
                body = urlencode(pairs).encode()
                content_type = "application/x-www-form-urlencoded"
            signature = sign(twilio, path, qs, parsed_form(body, content_type) if len(body) <= limit else form)
            resp = client.open(path + (f"?{qs}" if qs else ""), method=method, data=body, content_type=content_type,
                               headers={"X-Twilio-Signature": signature})
            statuses[resp.status_code] += 1
            if method not in rule.methods:
                assert resp.status_code == 405
            else:
                check_webhook_reply(resp, limit, len(body))
            lab.check()

        run()

    for rule in twilio_rules(app):
        check_route(rule)
    rules = twilio_rules(app)
    assert sum(statuses.values()) >= len(rules) * MAX_EXAMPLES // 2, statuses  # hypothesis really ran them
    assert statuses[200] > 0 and statuses[413] > 0 and statuses[400] > 0, statuses


ODD_TYPES = ["application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
             "multipart/form-data", "multipart/form-data; boundary=xyz", "application/json", "text/xml",
             "text/plain; charset=utf-16", "", "garbage/\x7f", "application/octet-stream"]


@st.composite
def raw_bodies(draw: Any) -> bytes:
    """Non-UTF-8 and broken bodies, often carrying a real CallSid so the parser's output reaches the handler."""
    head = draw(st.sampled_from([b"", f"CallSid={KNOWN_SID}&".encode(), f"CallSid={AGENT_SID}&From=%FF%FE&".encode(),
                                 b"--xyz\r\nContent-Disposition: form-data; name=\"CallSid\"\r\n\r\n"]))
    tail = draw(st.one_of(st.binary(max_size=300),
                          st.text(max_size=60).map(lambda t: t.encode("utf-16")),
                          st.text(max_size=60).map(lambda t: t.encode("latin-1", "replace")),
                          st.just(b"From=%C0%AF&To=%ED%A0%80&Digits=%00%01%02&Digits=9&=&&=x&%")))
    return head + tail


def test_webhooks_survive_raw_bodies_and_odd_content_types(app: Any, client: Any, twilio: TwilioPlayer,
                                                           lab: Lab) -> None:
    limit = app.config["SETTINGS"].max_body_bytes
    statuses: Counter[int] = Counter()

    def check_route(path: str) -> None:
        @SETTINGS
        @given(body=raw_bodies(), content_type=st.sampled_from(ODD_TYPES))
        def run(body: bytes, content_type: str) -> None:
            lab.start()
            signature = sign(twilio, path, "", parsed_form(body, content_type))
            resp = client.post(path, data=body, content_type=content_type, headers={"X-Twilio-Signature": signature})
            statuses[resp.status_code] += 1
            check_webhook_reply(resp, limit, len(body))
            lab.check()

        run()

    for rule in twilio_rules(app):
        check_route(rule.rule.replace("<move>", "escalate"))
    assert sum(statuses.values()) >= len(twilio_rules(app)) * MAX_EXAMPLES // 2, statuses
    assert statuses[200] > 0, statuses


def test_oversize_webhook_bodies_are_refused_and_change_nothing(app: Any, client: Any, twilio: TwilioPlayer,
                                                                redis_conn: redis.Redis) -> None:
    limit = app.config["SETTINGS"].max_body_bytes

    def check_route(path: str) -> None:
        @settings(max_examples=5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(extra=st.integers(min_value=1, max_value=200_000), content_type=st.sampled_from(ODD_TYPES[:5]))
        def run(extra: int, content_type: str) -> None:
            params = {"CallSid": KNOWN_SID, "From": KNOWN_NUMBER, "To": LINE, "Junk": "x" * (limit + extra)}
            body = urlencode(params).encode()
            resp = client.post(path, data=body, content_type=content_type,
                               headers={"X-Twilio-Signature": twilio.sign(path, params)})
            assert resp.status_code == 413, (path, resp.status_code)
            assert redis_conn.dbsize() == 0

        run()

    for rule in twilio_rules(app):
        check_route(rule.rule.replace("<move>", "escalate"))


# ---- the JSON API --------------------------------------------------------------------------------
HOSTILE_SCALARS = ["", " ", "1e400", "1e400d", "-5d", "0", "99999999999999999999d", "999999999999w", "inf", "nan",
                   "2030-01-31T18:00:00", "0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59Z", "9999-12-31",
                   "0001-01-01", "1969-12-31", "\x00", "anonymous", "*"]
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=True, allow_infinity=True), TEXT, st.sampled_from(HOSTILE_SCALARS))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                  st.dictionaries(TEXT, inner, max_size=3)),
                           max_leaves=6)


def field(good: tuple[Any, ...], hostile: tuple[Any, ...] = ()) -> Any:
    """A field's good values, its known-hostile ones, or anything JSON can carry (a third each)."""
    return st.one_of(st.sampled_from(good), st.sampled_from(hostile or good), JSON_VALUES)


PHONES = (KNOWN_NUMBER, "+14155550124", "(415) 555-0125", "004930123456")
BAD_PHONES = ("anonymous", "+1", "+999999999999999999", "4155550123\x00", "client:alice")
LINES = ("", "*", LINE, "+18005550100")
BAD_LINES = ("unknown", "anonymous", "+0", "x" * 70)
TOO_LONG = ("1e400d", "99999999999999999999d", "999999999999w", "1e300", "inf", "nan", "-1", "0")
FIELD_TABLE: dict[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = {  # name: (good values, hostile values)
    "number": (PHONES, BAD_PHONES), "reason": (("obscene", "appeal upheld"), (" ", "x" * 5000, "\x00")),
    "line": (LINES, BAD_LINES), "by": (("mia",), ("\x00", "\u202e", "x" * 5000)),
    "treatment": (("", "reject", "isolation", "linefault", "hangup"), ("REJECT", "bogus")),
    "duration": (("7d", "90s", "1h", "permanent"), (*TOO_LONG, 1e300, 10**25, "3600", 3600, "")),
    "until": (("2030-01-31T18:00:00Z",), ("2030-01-31T18:00:00", "9999-12-31T23:59:59Z", "2000-01-01T00:00:00Z",
                                          "0001-01-01T00:00:00+14:00")),
    "permanent": ((True, False), ("yes", "0", [1])), "forgive": ((True, False), ("no", 2)),
    "temporary": (("7d", "12h"), TOO_LONG), "why": (("w",), ("", "\x00")),
    "prefix": (("+1415", "+44"), ("+", "+0", "+1234567890123456", "1415")),
    "kind": (("number", "prefix", "withheld", "burst"), ("NUMBER", "")),
    "policy": (("allow", "linefault", "reject"), ("bogus",)), "action": (("review", "reject"), ("x",)),
    "calls": ((1, 5), (0, -1, 10**30, 1.5, "5")), "minutes": ((1, 10), (0, 10**30, -1)),
    "days": ((1, 7, 400), (401, 0, 10**30, "7")), "note": (("n",), ("x" * 2001, "\x00")),
    "agent": (("",), ("mia", "x" * 81, "\x00")), "delay_seconds": ((0, 60), (-1, 10**12, True, 1.5)),
    "at": (("2030-01-31T09:30:00+02:00",), ("2030-01-31T09:30", "9999-12-31T23:59:59+00:00", "x")),
    "blocked_treatment": (("reject",), ("bogus",)), "withheld_policy": (("linefault",), ("bogus",)),
    "burst_calls": (("5",), ("99999999999999999999999", "-1", "1e3")), "burst_minutes": (("10",), ("0",)),
    "burst_action": (("review", "hangup"), ("x",)), "language": (("en", "fi"), ("xx",)),
}
API_FIELDS: dict[str, Any] = {name: field(good, bad) for name, (good, bad) in FIELD_TABLE.items()}
# Wrong for any field: the wrong type, huge, and text that is not printable (controls, bidi, unassigned).
ANY_FIELD_HOSTILE: tuple[Any, ...] = (None, True, 1e300, -1, [], {}, "\u202e", "\x85", "\ud7fc", "\u200b", "x" * 3000)
# A valid body per route: a hostile input is mostly one or two bad fields in an otherwise good request.
BASELINES: dict[tuple[str, str], dict[str, Any]] = {
    ("/api/calls/{sid}/flag", "POST"): {"reason": "obscene", "note": "n"},
    ("/api/calls/{sid}/{move}", "POST"): {"note": "n", "delay_seconds": 60},
    ("/api/blocklist", "POST"): {"number": "+14155550124", "reason": "obscene", "duration": "7d"},
    ("/api/blocklist/{number}", "DELETE"): {"reason": "appeal upheld"},
    ("/api/blocklist/{number}", "PATCH"): {"temporary": "7d", "why": "w"},
    ("/api/allowlist", "POST"): {"number": "+14155550124", "reason": "a customer"},
    ("/api/allowlist/{number}", "DELETE"): {"reason": "r"},
    ("/api/prefixes", "POST"): {"prefix": "+1415", "reason": "r"},
    ("/api/prefixes/{prefix}", "DELETE"): {"reason": "r"},
    ("/api/review/{number}", "DELETE"): {"line": LINE},
    ("/api/dryrun", "POST"): {"kind": "burst", "calls": 5, "minutes": 10, "days": 7},
    ("/api/lines/{line}/settings", "PUT"): {"burst_calls": "5"},
    ("/api/reports/erase", "POST"): {"number": "+14155550124", "reason": "request 12"},
}
SPEC = openapi.document()


@st.composite
def json_objects(draw: Any, path: str, method: str) -> dict[str, Any]:
    """A route's good body with one or two fields made hostile (or dropped), else any object."""
    op = SPEC["paths"].get(path, {}).get(method.lower(), {})
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    base = BASELINES.get((path, method))
    names = sorted({*schema.get("properties", {}), *(base or {})})
    if base is None or draw(st.integers(0, 4)) == 0:
        return draw(st.dictionaries(st.one_of(st.sampled_from(sorted(API_FIELDS)), TEXT), JSON_VALUES, max_size=8))
    body = dict(base)
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(names))
        if draw(st.integers(0, 5)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(API_FIELDS.get(name, JSON_VALUES))
    return body


QUERY_TABLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # name: (good values, hostile values)
    "line": (LINES, BAD_LINES), "number": (PHONES, BAD_PHONES),
    "start": (("0", "10"), ("1000000000", "-1", "1e3", "9" * 30)), "count": (("0", "1000"), ("1001",)),
    "partial": (("1", "0"), ()), "by": (("mia",), ("\x00", "\u202e")),
    "from": (("2026-01-01",), ("9999-12-30", "0001-01-01", "1969-12-31", "2026-13-01")),
    "to": (("2026-01-31",), ("9999-12-31", "0001-01-02", "1970-01-01")), "mask": (("1", "0"), ()),
    "table": (("days", "hours"), ("x",)),
}
QUERY_FIELDS: dict[str, Any] = {name: field(good, bad) for name, (good, bad) in QUERY_TABLE.items()}
ANY_QUERY_HOSTILE = ("", "\x00", "\ud7fc", "-1", "9" * 30, "x" * 3000, "%FF")
PATH_VALUES = st.one_of(st.sampled_from([KNOWN_SID, AGENT_SID, KNOWN_NUMBER, "%2B14155550123", LINE, "*", "+1415",
                                         "anonymous", "en", "goodbye", "frequency", "escalate", "warn", "callback",
                                         "flag", "export", "import"]), VALID_SID, TEXT, LONG.map(lambda s: s[:5000]))


def path_value(*good: str) -> Any:
    return st.one_of(st.sampled_from(good), st.sampled_from(good), PATH_VALUES)


PATH_FIELDS: dict[str, Any] = {
    "sid": path_value(KNOWN_SID, AGENT_SID, "CA" + "3" * 32), "agent_sid": path_value(AGENT_SID, KNOWN_SID),
    "number": path_value(KNOWN_NUMBER, "%2B14155550123", "+14155550124", "anonymous", "4155550123"),
    "line": path_value(LINE, "*", "%2B18005551212"), "prefix": path_value("+1415", "%2B1415", "+44"),
    "move": path_value("escalate", "warn", "callback"), "lang": path_value("en", "fi", "zh"),
    "key": path_value("goodbye", "queue_position-3", "line_fault"), "name": path_value("frequency", "offenders"),
}


@st.composite
def api_requests(draw: Any, path: str, method: str) -> dict[str, Any]:
    """Headers, query and a body of any kind: JSON object, other JSON, raw bytes, a form, huge, or none."""
    kind = draw(st.sampled_from(["object"] * 6 + ["none", "json", "raw", "form", "huge", "nested"]))
    odd_types = ["text/plain", "text/csv", "multipart/form-data", "application/x-www-form-urlencoded", "",
                 "application/json; charset=latin-1", "audio/wav"]
    json_kind = kind in ("object", "json", "huge", "nested")
    content_type = draw(st.sampled_from(["application/json"] * (21 if json_kind else 2) + odd_types))
    data: bytes | None = None
    if kind == "object":
        data = json.dumps(draw(json_objects(path, method))).encode()
    elif kind == "json":
        data = json.dumps(draw(JSON_VALUES)).encode()
    elif kind == "raw":
        data = draw(st.binary(max_size=400))
    elif kind == "form":
        data = urlencode(draw(st.lists(st.tuples(st.sampled_from([*API_FIELDS, "file"]), VALUES), max_size=5))).encode()
    elif kind == "nested":  # as deep as fits the body limit: past Python's parser's recursion limit
        depth = draw(st.integers(1, 20_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"reason":', "}"), ('[{"a":', "}]")]))
        data = (opener * depth + "1" + closer * draw(st.sampled_from([0, depth]))).encode()
    elif kind == "huge":
        data = json.dumps({"number": KNOWN_NUMBER, "reason": "x" * draw(st.integers(60_000, 200_000))}).encode()
    auth = draw(st.sampled_from([f"Bearer {API_TOKEN}"] * 20 + ["", "Bearer", "Bearer wrong", API_TOKEN,
                                                             "Basic dGVzdDp0ZXN0", "Bearer \x7f\u00e9"]))
    query = list(draw(st.fixed_dictionaries({}, optional=QUERY_FIELDS)).items())
    query += draw(st.lists(st.tuples(TEXT, TEXT), max_size=2))
    query = [(name, value if isinstance(value, str) else json.dumps(value)) for name, value in query]
    return {"data": data, "content_type": content_type, "auth": auth, "query": query}


def check_api_reply(resp: Any, method: str, path: str) -> None:
    """Never a 5xx or a traceback; an error is an RFC 9457 problem, with its `error` code and `detail`."""
    body = resp.get_data()
    assert b"Traceback" not in body
    assert resp.status_code < 500, (method, path, resp.status_code, body[:300])
    if resp.status_code >= 400:
        assert resp.mimetype == "application/problem+json", (method, path, resp.status_code, body[:200])
        error = resp.get_json()
        assert isinstance(error["error"], str) and isinstance(error["detail"], str), error


def test_api_routes_survive_random_requests(app: Any, client: Any, lab: Lab) -> None:
    statuses: Counter[int] = Counter()

    def check_route(rule: Any) -> None:
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})

        @SETTINGS
        @given(data=st.data(), method=st.sampled_from(methods),
               path_values=st.fixed_dictionaries({name: PATH_FIELDS.get(name, PATH_VALUES) for name in rule.arguments}))
        def run(data: Any, method: str, path_values: dict[str, str]) -> None:
            request = data.draw(api_requests(spec_path(rule.rule), method))
            lab.start()
            path = rule.rule
            for name, value in path_values.items():
                path = re.sub(rf"<(?:[^:<>]+:)?{name}>", quote(value, safe="%+*"), path)
            headers = {"Authorization": request["auth"]} if request["auth"] else {}
            resp = client.open(path, method=method, data=request["data"], content_type=request["content_type"],
                               query_string=urlencode(request["query"]), headers=headers)
            statuses[resp.status_code] += 1
            check_api_reply(resp, method, path)
            lab.check()

        run()

    for rule in api_rules(app):
        check_route(rule)
    assert sum(statuses.values()) >= len(api_rules(app)) * MAX_EXAMPLES // 2, statuses
    assert statuses[200] > 0 and statuses[400] > 0 and statuses[401] > 0 and statuses[404] > 0, statuses


SEEDED_PATH = {"sid": KNOWN_SID, "agent_sid": AGENT_SID, "number": KNOWN_NUMBER, "line": LINE, "prefix": "+1416",
               "move": "escalate", "rid": "abcdef"}  # rid: a restriction id nobody has


def test_api_one_bad_field_at_a_time(client: Any, lab: Lab) -> None:
    """Deterministic sweep next to the random one: each route's good body with exactly one field made bad."""
    statuses: Counter[int] = Counter()
    for (path, method), base in BASELINES.items():
        seeded = {**SEEDED_PATH, "number": "+14155550125"} if path.startswith("/api/allowlist") else SEEDED_PATH
        url = path.format(**seeded)
        lab.start()
        good = client.open(url, method=method, json=base, headers={"Authorization": f"Bearer {API_TOKEN}"})
        # the baseline really is good (the review list is empty in the seeded state)
        assert good.status_code < 300 or path.startswith("/api/review/"), (method, path, good.get_data()[:300])
        schema = SPEC["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
        for name in sorted({*schema["properties"], *base, *(("agent",) if "/api/calls/" in path else ())}):
            for value in (*FIELD_TABLE.get(name, ((), ()))[1], *ANY_FIELD_HOSTILE):
                lab.start()
                resp = client.open(url, method=method, json={**base, name: value},
                                   headers={"Authorization": f"Bearer {API_TOKEN}"})
                statuses[resp.status_code] += 1
                check_api_reply(resp, method, f"{path} {name}={str(value)[:30]!r}")
                lab.check()
    assert statuses[400] > 0, statuses


def test_api_one_bad_query_parameter_at_a_time(client: Any, lab: Lab) -> None:
    """Deterministic sweep: each documented query parameter of each route, made bad."""
    tried = 0
    for path, item in SPEC["paths"].items():
        seeded = {**SEEDED_PATH, "agent_sid": AGENT_SID, "lang": "en", "key": "goodbye", "name": "frequency"}
        url = path.format(**seeded)
        for method, operation in item.items():
            for param in (p["name"] for p in operation.get("parameters", []) if p["in"] == "query"):
                lab.start()
                for value in (*QUERY_TABLE.get(param, ((), ()))[1], *ANY_QUERY_HOSTILE):
                    resp = client.open(url, method=method.upper(), query_string={param: value},
                                       headers={"Authorization": f"Bearer {API_TOKEN}"})
                    tried += 1
                    check_api_reply(resp, method.upper(), f"{path}?{param}={value[:30]!r}")
                    lab.check()
    assert tried >= 200


GOOD_PARAMS = {"CallSid": KNOWN_SID, "From": KNOWN_NUMBER, "To": LINE, "DequeingCallSid": AGENT_SID, "Digits": "9",
               "QueueResult": "leave", "QueueTime": "3", "QueuePosition": "2", "CallStatus": "completed",
               "CallDuration": "40", "AnsweredBy": "human", "FromCountry": "US", "FromCity": "SAN FRANCISCO"}
GOOD_QUERY = {"lang": "en", "caller": KNOWN_SID, "n": "0", "cb": f"cb-{KNOWN_SID}", "reason": "long_wait"}
WEBHOOK_HOSTILE = ("", "\x00", "\u202e", "\ud7fc", "x" * 3000, "anonymous", "-1", "CA" + "g" * 32, "9" * 30)


def test_webhooks_one_bad_parameter_at_a_time(app: Any, client: Any, twilio: TwilioPlayer, lab: Lab) -> None:
    """Deterministic sweep: every webhook with good parameters but one, made bad (or left out)."""
    limit = app.config["SETTINGS"].max_body_bytes
    for rule in twilio_rules(app):
        path = rule.rule.replace("<move>", "escalate")
        for name in [*GOOD_PARAMS, *GOOD_QUERY]:
            lab.start()
            for value in (*WEBHOOK_HOSTILE, None):
                params, query = dict(GOOD_PARAMS), dict(GOOD_QUERY)
                target = params if name in params else query
                if value is None:
                    del target[name]
                else:
                    target[name] = value
                qs = urlencode(query)
                resp = client.post(f"{path}?{qs}", data=params,
                                   headers={"X-Twilio-Signature": sign(twilio, path, qs, MultiDict(params))})
                assert resp.status_code != 403, (path, name)  # signed right: the handler ran
                check_webhook_reply(resp, limit, 0)
                lab.check()

