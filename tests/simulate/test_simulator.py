"""The call simulator, run against the app served on loopback: what it reports is what the app stored.

The REST stand-in here is the strict one `ivr simulate` starts (standin_for): the app's account and token,
calls From the simulated lines only, no CallSid it was not told of. The app makes its standing queues at
Twilio the way `ivr worker` does when it starts (a job on the maintenance queue)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from blocklist import abuse, keys
from ivr.simulate import Report, SimConfig, Simulator, parse_compress, wav_seconds
from ivr.simulate.callers import DESK_CATEGORIES, Caller, desk_category
from ivr.simulate.standin import StandInServer
from tests.support.constants import ACCOUNT_SID, API_TOKEN, AUTH_TOKEN, BASE_URL
from tests.support.simulation import AGENTS, config, make_standing_queues, run_with_worker


def events(r: redis.Redis, kind: str) -> list[dict[str, str]]:
    return [fields for _id, fields in r.xrange(keys.EVENTS) if fields.get("type") == kind]


def test_a_short_run_reports_what_the_app_stored(served: str, app: Any, standin: StandInServer,
                                                 redis_conn: redis.Redis) -> None:
    sim = Simulator(config(served), standin=standin.state)
    report = run_with_worker(sim, app)
    c = report.counts
    assert c.errors == 0, report.table()
    assert report.exit_code == 0
    calls = [e for e in events(redis_conn, "call") if not e.get("callback")]  # callbacks are screened too
    assert c.placed == len(calls) == 40
    assert c.door == len([e for e in calls if e["decision"] == "treat"])
    assert c.door > 0  # repeat harassers come back after their first flag
    flags = events(redis_conn, "flag")
    assert c.flagged == len(flags) and c.flagged_key > 0 and c.flagged_desk > 0, report.table()
    assert c.flagged_key == len([f for f in flags if f.get("via") == "key"])
    picked = {f["category"] for f in flags if f.get("via") == "desk"}  # the agents pick the kind of abuse
    assert len(picked) > 1 and picked <= set(abuse.KEYS), picked
    blocks = {k.rsplit(":", 1)[1] for k in redis_conn.scan_iter(match=keys.block("*", "*"))}
    assert blocks == report.blocked
    assert c.status_callbacks == len(events(redis_conn, "status")) == c.placed
    isolations = events(redis_conn, "isolation")
    assert c.isolation_complete == len([e for e in isolations if e["outcome"] == "complete"])
    assert c.isolation_abandoned == len([e for e in isolations if e["outcome"] == "abandoned"])
    for move in ("escalate", "warn", "callback"):
        assert c.moves[move] == len(events(redis_conn, move)), (move, report.table())
    # desk flags of callers still on the line became REST redirects through the worker, which moved them
    moved = [sid for sid in report.flagged_calls if redis_conn.hget(keys.call(sid), "redirect") == "done"]
    assert c.redirects == len(moved) > 0, report.table()
    assert c.answered >= c.flagged - c.door and c.queued >= c.answered
    assert "calls placed" in report.table()


def test_an_agent_picks_one_kind_of_abuse_for_a_caller_and_robocall_for_a_robocaller() -> None:
    one = Caller("repeat", "+13125550150", harasses=True)
    assert desk_category(one, 11) == desk_category(one, 11)  # the same caller, every time
    robot = Caller("robocaller", "+14695550193", harasses=True)
    assert desk_category(robot, 11) == "robocall"
    picked = Counter(desk_category(Caller("repeat", f"+1312555{n:04d}", harasses=True), 11) for n in range(2000))
    assert set(picked) == {name for name, _share in DESK_CATEGORIES}
    assert picked.most_common(1)[0][0] == "obscene" and set(picked) <= set(abuse.KEYS)


def test_the_stand_in_follows_queues_and_refuses_updates_of_ended_calls(served: str, app: Any,
                                                                         standin: StandInServer) -> None:
    sim = Simulator(config(served, calls=12, flag_share=0.5, desk_share=0.0, span=1800), standin=standin.state)
    report = run_with_worker(sim, app)
    assert report.counts.errors == 0, report.table()
    queues = {q["friendly_name"]: q for q in standin.state.queues.values()}
    assert "agents" in queues and queues["agents"]["current_size"] == 0
    assert any(name.startswith("hold-") for name in queues)  # created by the first Enqueue, as in Twilio
    ended = next(iter(standin.state.ended_calls))
    assert standin.state.calls[ended]["status"] in ("completed", "busy", "no-answer")


def test_calls_the_app_creates_through_rest_are_played(served: str, app: Any, standin: StandInServer) -> None:
    """A call created through the REST API (a callback) becomes an outbound leg that runs the app's TwiML."""
    from workers.twilio_rest import client

    # Agents hang up every call: this one is not one the app screened (its Url is the fallback, not a callback's
    # answer URL), so its record is made at the bridge, and it must be let go, never parked (an error here).
    sim = Simulator(config(served, calls=4, flag_share=0.0, moves_share=0.0, span=1200, no_answer_share=0.0,
                           agent_hangup_share=1.0), standin=standin.state)
    make_standing_queues(app)
    out: dict[str, Report] = {}
    thread = threading.Thread(target=lambda: out.setdefault("report", sim.run_blocking()), daemon=True)
    thread.start()
    while sim.loop is None:
        thread.join(0.01)
    call = client(app.config["SETTINGS"]).calls.create(
        to="+12125550142", from_="+18005551212", url=f"{BASE_URL}/voice/fallback", method="POST",
        status_callback=f"{BASE_URL}/voice/status", status_callback_method="POST")
    thread.join(30)
    report = out["report"]
    assert report.counts.errors == 0, report.table()
    assert report.counts.callbacks == 1
    assert app.extensions["ivr"].counters.get("fallback") == 1  # its Url was requested, signed
    assert standin.state.calls[call.sid]["status"] == "completed"
    assert call.sid in standin.state.ended_calls


def test_a_broken_target_reports_errors_and_a_nonzero_exit(served: str, app: Any, standin: StandInServer) -> None:
    wrong_token = Simulator(config(served, auth_token="not-the-token", calls=5, flag_share=0.0, span=600),
                            standin=standin.state)
    report = wrong_token.run_blocking()
    assert report.exit_code == 1 and report.counts.errors > 0
    assert any("HTTP 403" in kind and "TWILIO_AUTH_TOKEN" in kind for kind in report.errors)
    nothing = Simulator(config("http://127.0.0.1:9", calls=3, flag_share=0.0, span=600, drain=2.0))
    report = nothing.run_blocking()
    assert report.exit_code == 1 and any("cannot connect" in kind for kind in report.errors)
    assert "errors" in report.table()


def test_invalid_twiml_and_fail_safe_answers_count_as_errors(served: str, app: Any) -> None:
    """A webhook that answers the app's fail-safe TwiML (an unexpected error inside) fails the run."""
    from flask import request

    from ivr.webhooks.twiml import fail_safe
    @app.before_request
    def break_the_bridge() -> Any:
        if request.path == "/voice/bridge":
            return fail_safe()
        return None

    report = Simulator(config(served, calls=6, flag_share=0.0, moves_share=0.0, span=900)).run_blocking()
    assert report.exit_code == 1
    assert any(kind.startswith("POST /voice/bridge: the app's fail-safe TwiML") for kind in report.errors)


def test_cli_prints_setup_and_refuses_an_unreachable_service(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from ivr.cli.simulate import command
    runner = CliRunner()
    setup = runner.invoke(command, ["--setup"], env={"TWILIO_AUTH_TOKEN": "", "IVR_AGENTS": "",
                                                     "IVR_SETTINGS_FILE": None, "IVR_DATA_DIR": str(tmp_path)})
    assert setup.exit_code == 0, setup.output
    assert "./dev serve" in setup.output
    assert "TWILIO_API_BASE_URL=http://127.0.0.1:8899" in (tmp_path / "ivr.env").read_text()
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "IVR_AGENTS": ",".join(AGENTS), "IVR_API_TOKEN": API_TOKEN,
           "PUBLIC_BASE_URL": "http://127.0.0.1:9"}
    down = runner.invoke(command, ["--target", "http://127.0.0.1:9", "--standin-port", "0"], env=env)
    assert down.exit_code == 2
    assert "cannot reach" in down.output and "./dev serve" in down.output


def test_cli_runs_a_short_day_and_exits_zero(served: str, app: Any, standin: StandInServer,
                                             redis_conn: redis.Redis) -> None:
    from ivr.cli.simulate import command
    env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "IVR_AGENTS": ",".join(AGENTS), "IVR_API_TOKEN": API_TOKEN,
           "PUBLIC_BASE_URL": BASE_URL, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "IVR_SUPERVISORS": ""}
    result = CliRunner().invoke(command, ["--target", served, "--calls", "15", "--duration", "1h", "--compress",
                                          "1h/2s", "--flag-share", "0.3", "--desk-share", "0", "--seed", "3",
                                          "--standin-port", "0"], env=env)
    assert result.exit_code == 0, result.output
    assert "calls placed" in result.output and "errors" in result.output
    assert len(events(redis_conn, "call")) == 15


def test_schedule_follows_the_day_curve_and_the_seed() -> None:
    cfg = SimConfig(public_base_url=BASE_URL, auth_token="t", api_token="a", agents=AGENTS, calls=3000, seed=5,
                    flag_share=0.3)
    a = Simulator(cfg).schedule
    b = Simulator(cfg).schedule
    assert [(x.at, x.caller.number) for x in a] == [(x.at, x.caller.number) for x in b]
    by_hour = [0] * 24
    harassing = [0] * 24
    for arrival in a:
        hour = int(arrival.at // 3600)
        by_hour[hour] += 1
        harassing[hour] += arrival.caller.harasses
    assert by_hour[12] > 3 * by_hour[4]  # noon peak, quiet early morning
    assert harassing[23] + harassing[0] > 3 * (harassing[5] + harassing[6])  # night peak of harassment
    withheld = [x for x in a if x.caller.withheld]
    assert withheld and all(x.caller.city == "" for x in withheld)
    assert {x.caller.kind for x in a} >= {"repeat", "switchboard", "withheld-harasser", "customer"}


def test_config_errors_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="IVR_AGENTS"):
        SimConfig(public_base_url=BASE_URL, auth_token="t").validate()
    with pytest.raises(ValueError, match="IVR_API_TOKEN"):
        SimConfig(public_base_url=BASE_URL, auth_token="t", agents=AGENTS).validate()
    with pytest.raises(ValueError, match="1d/60s"):
        parse_compress("fast")
    assert parse_compress("1d/60s") == 1440
    assert wav_seconds(b"not a wav") is None


@pytest.fixture
def clock_env(sim_env: dict[str, str]) -> dict[str, str]:
    sim_env["IVR_SIMULATION_CLOCK"] = "1"
    return sim_env


def test_with_the_simulation_clock_the_events_carry_the_simulated_hours(clock_env: dict[str, str], served: str,
                                                                        app: Any, standin: StandInServer,
                                                                        redis_conn: redis.Redis) -> None:
    sim = Simulator(config(served, span=12 * 3600, factor=parse_compress("12h/6s"), start_hour=6),
                    standin=standin.state)
    report = run_with_worker(sim, app)
    assert report.counts.errors == 0, report.table()
    stamps = [int(e["ts"]) for e in events(redis_conn, "call") if not e.get("callback")]
    hours = {time.gmtime(ts / 1000).tm_hour for ts in stamps}
    assert len(hours) >= 6  # spread over the simulated half day, not the few real seconds it took
    assert max(stamps) <= time.time() * 1000  # the simulated span lies in the past
    assert max(stamps) - min(stamps) > 6 * 3600 * 1000


def test_without_the_setting_the_clock_header_is_ignored(twilio: Any, redis_conn: redis.Redis) -> None:
    from tests.support.twilio_player import call_sid

    params = twilio.incoming_params(call_sid(), "+14155550123", "+18005551212")
    twilio.post("/voice/incoming", params, headers={"X-Ivr-Sim-Time": "1500000000000"})
    (event,) = events(redis_conn, "call")
    assert abs(int(event["ts"]) - time.time() * 1000) < 60_000
