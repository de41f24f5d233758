"""The simulator plays Twilio's unkind parts, so a service that gets them wrong fails `ivr simulate`:
agents who hang up, a Dial into a queue nobody created, a waitUrl that fails, verbs Twilio refuses in
wait and <Queue url> TwiML; and an account's queue count stays bounded over a simulated day.

Each "unkind" test breaks the app the way an earlier version was broken (monkeypatched for this test
only) and checks that the simulator reports it as an error; the same run against the real app is clean.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from twilio.twiml.voice_response import VoiceResponse

from ivr.simulate import Simulator
from ivr.simulate.standin import StandInServer
from ivr.webhooks import queue, twiml
from tests.support.simulation import AGENTS, config, run_with_worker


def errors_of(report: Any) -> str:
    return report.table()


def test_agents_who_hang_up_are_played_and_the_app_lets_their_callers_go(served: str, app: Any,
                                                                        standin: StandInServer) -> None:
    sim = Simulator(config(served, calls=20, flag_share=0.0, moves_share=0.0, agent_hangup_share=1.0, seed=5),
                    standin=standin.state)
    report = run_with_worker(sim, app)
    assert report.counts.agent_hangups > 0, report.table()
    assert report.counts.errors == 0, report.table()


def test_an_app_that_parks_a_caller_whose_agent_hung_up_fails_the_run(served: str, app: Any, standin: StandInServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def old_after_bridge(sid: str, lang: str, checks: int) -> Any:  # what the app did before: always hold
        r = VoiceResponse()
        twiml.park_in_private_hold(r, sid, lang)
        return twiml.twiml(r)

    monkeypatch.setattr(queue, "after_bridge", old_after_bridge)
    sim = Simulator(config(served, calls=20, flag_share=0.0, moves_share=0.0, agent_hangup_share=1.0, seed=5),
                    standin=standin.state)
    report = run_with_worker(sim, app)
    assert report.exit_code == 1
    assert "caller parked after the agent hung up" in report.table()


def test_a_missing_queue_fails_each_dial_and_the_app_backs_off(served: str, app: Any,
                                                              standin: StandInServer) -> None:
    # Nobody created the standing queues: every agent's Dial fails at once, as at Twilio; the app asks a
    # worker to create them and backs off meanwhile, so no leg loops.
    sim = Simulator(config(served, calls=10, flag_share=0.0, moves_share=0.0, seed=7), standin=standin.state)
    report = run_with_worker(sim, app, standing_queues=False)
    assert report.counts.missing_queue_dials > 0, report.table()
    assert "tight loop" not in report.table()
    assert standin.state.queue_by_name("agents") is not None  # made by the app's job, through REST


def test_an_app_that_redials_a_missing_queue_at_once_is_a_tight_loop(served: str, app: Any, standin: StandInServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.webhooks import agent

    def no_backoff(r: VoiceResponse, agent_sid: str, role: str) -> Any:  # the old answer: wait 2 s, dial again
        agent.next_caller(r, pause=2, role=role)
        return agent.twiml(r)

    monkeypatch.setattr(agent, "dial_failed", no_backoff)
    monkeypatch.setattr("workers.calls.ensure_standing_queues", lambda: [])  # the queues never come
    sim = Simulator(config(served, calls=6, flag_share=0.0, moves_share=0.0, seed=7), standin=standin.state)
    report = run_with_worker(sim, app, standing_queues=False)
    assert report.exit_code == 1 and "tight loop" in report.table(), report.table()


def test_a_wait_url_with_a_verb_twilio_refuses_is_an_error(served: str, app: Any, standin: StandInServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    original = twiml.media.play

    def dial_in_hold(target: Any, prompt_id: str, lang: str, **fmt: Any) -> None:
        original(target, prompt_id, lang, **fmt)
        if prompt_id == "hold_agents":
            target.dial("+15550009999")  # <Dial> is not allowed in waitUrl TwiML

    monkeypatch.setattr(twiml.media, "play", dial_in_hold)
    # one agent for a burst of callers: they wait, and their waitUrl is played
    sim = Simulator(config(served, calls=12, span=600, agents=AGENTS[:1], flag_share=0.0, moves_share=0.0, seed=3),
                    standin=standin.state)
    report = run_with_worker(sim, app)
    assert report.exit_code == 1 and "in waitUrl TwiML" in report.table(), report.table()


def test_hold_queues_stay_bounded_over_a_simulated_day(served: str, app: Any, standin: StandInServer) -> None:
    """A day of calls with many `*` presses (each makes a `hold-<CallSid>` queue at Twilio on its first
    <Enqueue>), while the app's cleanup job runs as the cron runs it (every 5 minutes; here every 0.5 s of
    real time, the day being compressed, with a minimum age of 1 s): the account's queues never pile up."""
    from workers.calls import cleanup_hold_queues

    state = standin.state
    counts: list[tuple[int, int]] = []  # (queues at Twilio, of them occupied hold queues)
    stop = threading.Event()

    def upkeep() -> None:
        while not stop.is_set():
            with app.app_context():
                cleanup_hold_queues(min_age_seconds=1)
            with state.lock:
                queues = list(state.queues.values())
            busy = sum(1 for q in queues if q["friendly_name"].startswith("hold-") and int(q["current_size"]))
            counts.append((len(queues), busy))
            time.sleep(0.5)

    thread = threading.Thread(target=upkeep, daemon=True)
    thread.start()
    try:
        sim = Simulator(config(served, calls=120, span=24 * 3600, factor=24 * 3600 / 30, start_hour=0,
                               flag_share=0.5, moves_share=0.3, seed=21, drain=20.0), standin=standin.state)
        report = run_with_worker(sim, app)
    finally:
        stop.set()
        thread.join(5)
    with app.app_context():
        cleanup_hold_queues(min_age_seconds=0)
    assert report.counts.errors == 0, report.table()
    made = len([r for r in state.requests if r.method == "DELETE" and "/Queues/" in r.path])
    print(f"\nhold queues deleted {made}; queues at Twilio at most {max(t for t, _ in counts)}, "
          f"idle at most {max(t - b for t, b in counts)}; {report.counts.requests} requests, {report.counts.errors} errors")
    assert made > 0  # holds were made and deleted
    standing = 3
    # at any moment: the standing queues, the holds in use, and the few made in the last second or two
    assert max(total - busy for total, busy in counts) <= standing + 10, counts
    left = [q["friendly_name"] for q in state.queues.values()]
    assert sorted(name for name in left if not name.startswith("hold-")) == ["agents", "isolation", "supervisors"]
    assert all(int(q["current_size"]) for q in state.queues.values() if q["friendly_name"].startswith("hold-"))
