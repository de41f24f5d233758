"""The published OpenAPI description: it covers every /api route, and the app keeps to it (schemathesis,
in-process against the WSGI app, with the service token)."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ivr.api import openapi
from ivr.webhooks.signature import TWILIO_ROUTE_ATTR
from prompts.wav import ulaw_wav
from tests.support import callflow as cf
from tests.support.constants import AGENT, API_TOKEN, LINE
from tests.support.desk import make_user, users_of

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
SEEDED_SID = "CA" + "0" * 32  # the spec's example CallSid: the examples phase reaches a real call
SEEDED_NUMBER = "+14155550123"  # the spec's example number: blocked, allowlisted, with history
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 25

# The document's custom string formats: numbers in the forms people type, lines (or all lines).
schemathesis.openapi.format("phone", st.one_of(
    st.from_regex(r"\A\+1[2-9][0-9]{2}[2-9][0-9]{6}\Z"),
    st.sampled_from([SEEDED_NUMBER, "(415) 555-0123", "+44 20 7946 0958", "004930123456", "anonymous", "12"])))
schemathesis.openapi.format("line", st.sampled_from(["", "*", LINE, "+18005550100", "(800) 555-1212"]))
# Bodies that are sometimes right: CSV with a header and rows, a recording a phone line can play.
CSV_ROWS = st.lists(st.tuples(st.from_regex(r"\A\+1[2-9][0-9]{2}[2-9][0-9]{6}\Z"),
                              st.text(alphabet="abcdefgh xyz", min_size=1, max_size=20)), max_size=4)
schemathesis.openapi.media_type("text/csv", st.one_of(
    CSV_ROWS.map(lambda rows: ("number,reason\n" + "".join(f"{n},{r}\n" for n, r in rows)).encode()),
    st.binary(max_size=300)))
TONE = ulaw_wav(int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(4000))
schemathesis.openapi.media_type("audio/wav", st.one_of(st.just(TONE), st.binary(max_size=300)))


@pytest.fixture
def app_env(app_env: dict[str, str], tmp_path: Any) -> dict[str, str]:
    """Prompt uploads write under IVR_DATA_DIR: keep them in the test's own folder."""
    return {**app_env, "IVR_DATA_DIR": str(tmp_path / "data")}


def spec_path(rule: str) -> str:
    """A werkzeug rule as an OpenAPI path: /api/calls/<sid>/flag -> /api/calls/{sid}/flag."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_spec_is_public_json(client: Any) -> None:
    resp = client.get("/api/openapi.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    doc = resp.get_json()
    assert doc["openapi"].startswith("3.")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    problem = doc["components"]["schemas"]["Problem"]  # RFC 9457, with the earlier format's `error` code kept
    assert {"type", "title", "status", "detail", "instance", "error"} <= set(problem["required"])


def test_spec_covers_every_api_route(app: Any, client: Any) -> None:
    doc = client.get("/api/openapi.json").get_json()
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    served = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, TWILIO_ROUTE_ATTR, False):
            continue
        if rule.rule.startswith("/api/") or rule.endpoint.startswith("reports."):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((spec_path(rule.rule), method))
    assert len(served) >= 40
    assert served - documented == set(), "routes without an OpenAPI description (add them to ivr/openapi.py)"
    assert documented - served == set(), "described in ivr/openapi.py but not served"
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), (method, path)
            if path != "/api/openapi.json":
                assert {"401", "403"} <= codes, (method, path)
            names = set(re.findall(r"{([^}]+)}", path))
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert names == declared, (method, path)


@pytest.fixture
def seeded(app: Any, twilio: Any, redis_conn: redis.Redis) -> tuple[Any, str]:
    """State under the spec's examples: a known call (flaggable), a blocked and allowlisted number, a rule."""
    res = app.extensions["ivr"]
    caller = cf.Caller(SEEDED_SID, SEEDED_NUMBER, twilio.incoming(SEEDED_SID, SEEDED_NUMBER, LINE))
    assert caller.reply.status == 200
    agent = cf.agent_connects(twilio)
    cf.bridge(twilio, agent, caller)
    res.blocklist.block(SEEDED_NUMBER, by="seed", reason="seeded for the API run", duration=7 * 86400)
    res.blocklist.allow("+14155550199", by="seed", reason="a known customer")
    res.blocklist.add_prefix("+1415", by="seed", reason="a range", scope=LINE)
    return app, agent.sid


CONFIG = {
    "headers": AUTH,
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}
# The operations, read from the document itself (no app needed): one test per operation.
OPERATIONS = [(op.path, op.method) for op in (r.ok() for r in schemathesis.openapi.from_dict(  # type: ignore[union-attr]
    openapi.document(), config=SchemathesisConfig.from_dict(CONFIG)).get_all_operations())]
SEEDED_PATH = {"sid": SEEDED_SID, "agent_sid": "", "number": SEEDED_NUMBER, "line": LINE, "prefix": "+1415",
               "move": "escalate", "lang": "en", "key": "goodbye", "name": "frequency",
               "rid": "abcdef"}  # a restriction id the seeded number does not have


def strategy(operation: Any, agent_sid: str) -> Any:
    """Valid inputs, invalid inputs, and valid inputs aimed at the seeded call, number and line."""
    seeded = {**SEEDED_PATH, "agent_sid": agent_sid}
    names = {p.name for p in operation.path_parameters}
    aimed = {name: seeded[name] for name in names if name in seeded}
    options = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    if aimed:
        options.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=aimed))
    return st.one_of(options)


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_api_keeps_to_its_description(seeded: Any, path: str, method: str) -> None:
    app, agent_sid = seeded
    api_schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app,
                                                config=SchemathesisConfig.from_dict(CONFIG))
    operation = api_schema[path][method]
    statuses: Counter[int] = Counter()

    @given(case=strategy(operation, agent_sid))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def run(case: Any) -> None:
        response = case.call(headers=AUTH)
        case.validate_response(response, checks=CHECKS, headers=AUTH, transport_kwargs={"app": app})
        statuses[response.status_code] += 1
        assert b"Traceback" not in response.content
        if response.status_code >= 400:
            body = response.json()
            assert isinstance(body.get("error"), str) and isinstance(body.get("detail"), str), body

    run()
    assert sum(statuses.values()) >= 1


def test_roles_in_the_description_are_the_roles_enforced(seeded: tuple[Any, str], client: Any) -> None:
    """x-role on each operation: a token one role lower is refused (403), a token of that role is let in."""
    app, agent_sid = seeded
    users = users_of(app)
    tokens = {"admin": API_TOKEN}  # the service token counts as admin
    for name, role in (("ann", "agent"), ("max", "manager")):
        # ann's phone is the one the seeded caller is bridged to: an agent acts on her own callers only
        make_user(app, name, role, phones=AGENT if role == "agent" else "")
        tokens[role] = users.create_token(name, "openapi-test", by=name, by_role=role)[1]
    lower = {"manager": "agent", "admin": "manager"}
    values = {**SEEDED_PATH, "agent_sid": agent_sid, "name": "frequency"}
    doc = client.get("/api/openapi.json").get_json()
    checked: Counter[str] = Counter()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            role = operation.get("x-role")
            if role is None:
                assert operation.get("security") == [], (method, path)  # only the public document has none
                continue
            url = re.sub(r"{([^}]+)}", lambda m: str(values[m.group(1)]), path)
            if role in lower:
                refused = client.open(url, method=method.upper(), json={},
                                      headers={"Authorization": f"Bearer {tokens[lower[role]]}"})
                assert refused.status_code == 403, (method, path, refused.status_code)
                assert refused.get_json()["error"] == "forbidden"
            allowed = client.open(url, method=method.upper(), json={},
                                  headers={"Authorization": f"Bearer {tokens[role]}"})
            assert allowed.status_code not in (401, 403), (method, path, allowed.status_code, allowed.get_data()[:200])
            checked[role] += 1
    assert checked["agent"] >= 10 and checked["manager"] >= 20 and checked["admin"] >= 1, checked


def test_description_without_the_token_is_refused_by_the_routes(client: Any, app: Any) -> None:
    """The document is public; the routes it lists are not (spot check: one per blueprint)."""
    for method, path in (("get", "/api/blocklist"), ("post", f"/api/calls/{SEEDED_SID}/flag"),
                         ("get", "/api/prompts"), ("get", "/api/reports"), ("get", "/reports/print")):
        resp = getattr(client, method)(path)
        assert resp.status_code == 401, (method, path)
        assert resp.get_json()["error"] == "unauthorized"
