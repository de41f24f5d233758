"""The simulator's caller signals: robocall campaigns rotating numbers within one exchange, with failed or
no attestation and add-on answers that score high; customers signed as carriers sign them, now and then with low
add-on scores. The AddOns JSON the simulator builds is the documented envelope blocklist.reputation reads back."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from typing import Any

import pytest
import redis

from blocklist import keys
from blocklist.attestation import attestation_class
from blocklist.reputation import Reputation, reputation_from_addons
from ivr.simulate import SimConfig, Simulator
from ivr.simulate.addons import ADDONS, EKATA, ICEHOOK, MARCHEX, NOMOROBO, TRUESPAM, addons_payload
from ivr.simulate.callers import ROBO_EXCHANGES, ROBOCALL_CALLS, ROBOCALL_GAP, Arrival, Pools, build_schedule
from ivr.simulate.standin import StandInServer
from tests.support.constants import BASE_URL
from tests.support.simulation import AGENTS, config, run_with_worker

# ---- the AddOns JSON ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scores", "expected"), [
    ({NOMOROBO: 1}, Reputation(100, "Nomorobo Spam Score", "score 1")),
    ({NOMOROBO: 0}, Reputation(0, "Nomorobo Spam Score", "score 0")),
    ({MARCHEX: "BLOCK"}, Reputation(100, "Marchex Clean Call", "BLOCK: Robocall")),
    ({MARCHEX: ("PASS", "CleanCall")}, Reputation(0, "Marchex Clean Call", "PASS: CleanCall")),
    ({ICEHOOK: 77}, Reputation(77, "Icehook Scout", "risk level 77 (likely)")),
    ({EKATA: 3}, Reputation(67, "Ekata Phone Reputation", "reputation level 3")),
    ({TRUESPAM: 35}, Reputation(35, "TrueSpam", "spam score 35")),
    ({NOMOROBO: None, TRUESPAM: 95}, Reputation(95, "TrueSpam", "spam score 95")),
    ({NOMOROBO: 0, ICEHOOK: 12, EKATA: 2}, Reputation(33, "Ekata Phone Reputation", "reputation level 2")),
])
def test_the_payload_reads_back_as_the_answers_given(scores: dict[str, Any], expected: Reputation) -> None:
    assert reputation_from_addons(addons_payload(scores)) == expected


def test_the_payload_is_twilios_envelope() -> None:
    env = json.loads(addons_payload({NOMOROBO: None, MARCHEX: "PASS"}))
    assert (env["status"], env["message"], env["code"]) == ("successful", None, None)
    assert env["results"][NOMOROBO]["status"] == "failed" and env["results"][NOMOROBO]["code"] == 61002
    marchex = env["results"][MARCHEX]
    assert marchex["status"] == "successful" and marchex["request_sid"].startswith("XR")
    assert len(marchex["request_sid"]) == 34 and marchex["result"] == {"result": {"recommendation": "PASS",
                                                                                  "reason": "CleanCall"}}


def test_a_failed_envelope_and_failed_addons_score_nothing() -> None:
    assert reputation_from_addons(addons_payload({NOMOROBO: 1}, envelope_failed=True)) is None
    assert reputation_from_addons(addons_payload({name: None for name in ADDONS})) is None


def test_an_addon_the_simulator_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="nomorobo_spamscore"):
        addons_payload({"acme_spam": 1})


# ---- who calls ----------------------------------------------------------------------------------------------

def schedule(seed: int = 5, calls: int = 3000, signals_seed: str | None = None) -> list[Arrival]:
    cfg = SimConfig(public_base_url=BASE_URL, auth_token="t", api_token="a", agents=AGENTS, calls=calls, seed=seed,
                    flag_share=0.3)
    rng = random.Random(seed)
    pools = Pools(rng, random.Random(signals_seed if signals_seed is not None else f"signals:{seed}"))
    return build_schedule(cfg, rng, pools)


def exchange(number: str) -> str:
    return number[:8]  # +1 NPA NXX


def test_robocalls_come_in_campaigns_rotating_numbers_within_one_exchange() -> None:
    arrivals = schedule()
    robocalls = [a for a in arrivals if a.caller.kind == "robocaller"]
    assert 0.02 * len(arrivals) < len(robocalls) < 0.15 * len(arrivals)
    assert {exchange(a.caller.number) for a in robocalls} <= {f"+1{npa}555" for npa, *_ in ROBO_EXCHANGES}
    assert not {exchange(a.caller.number) for a in arrivals if a.caller.kind != "robocaller"} & \
        {exchange(a.caller.number) for a in robocalls}  # an exchange of their own: no customer shares it
    # a campaign: calls to one line from one exchange, each within ROBOCALL_GAP of the one before
    campaigns: list[list[Arrival]] = []
    last: dict[tuple[str, str], Arrival] = {}
    for a in robocalls:
        key = (a.line, exchange(a.caller.number))
        if key in last and a.at - last[key].at <= ROBOCALL_GAP[1]:
            next(c for c in reversed(campaigns) if c[-1] is last[key]).append(a)
        else:
            campaigns.append([a])
        last[key] = a
    full = [c for c in campaigns if len(c) >= ROBOCALL_CALLS[0]]
    assert len(full) >= 0.8 * len(campaigns) and len(full) >= 5
    for campaign in full:  # rotating: a new number for every call
        assert len({a.caller.number for a in campaign}) == len(campaign)
        assert campaign[-1].at - campaign[0].at <= ROBOCALL_CALLS[1] * ROBOCALL_GAP[1]


def test_robocallers_have_failed_or_no_attestation_and_high_scores() -> None:
    robocalls = [a for a in schedule() if a.caller.kind == "robocaller"]
    assert {attestation_class(a.caller.stir or None) for a in robocalls} == {"failed", "unsigned"}
    assert all(a.caller.harasses for a in robocalls)
    scores = [reputation_from_addons(a.addons) for a in robocalls if a.addons]
    assert 0.7 * len(robocalls) < len(scores) < len(robocalls)  # most carry an answer, some none
    assert all(rep is not None and rep.score >= 60 for rep in scores)
    assert sum(rep is not None and rep.score >= 90 for rep in scores) > 0.6 * len(scores)


def test_customers_are_signed_as_carriers_sign_them_and_score_low_now_and_then() -> None:
    customers = [a for a in schedule() if a.caller.kind == "customer"]
    classes = [attestation_class(a.caller.stir or None) for a in customers]
    assert "failed" not in classes
    assert classes.count("A") + classes.count("B") > 0.8 * len(classes)
    assert "No-TN-Validation" in {a.caller.stir for a in customers} and "B" in classes
    with_addons = [a for a in customers if a.addons]
    assert 0.01 * len(customers) < len(with_addons) < 0.1 * len(customers)
    scores = [reputation_from_addons(a.addons) for a in with_addons]
    assert all(rep is not None and rep.score < 60 for rep in scores)
    assert not any(a.addons for a in schedule() if a.caller.kind not in ("customer", "robocaller"))


def test_robocalls_leave_the_rest_of_the_schedule_as_the_seed_drew_it() -> None:
    """Signals draw from their own generator: other signals (more or fewer campaigns) change no other call."""
    keys_of = [{(a.at, a.caller.number, a.line) for a in schedule(signals_seed=s) if a.caller.kind != "robocaller"}
               for s in ("one", "two")]
    small, large = sorted(keys_of, key=len)
    assert len(small) > 2500 and small <= large
    again = schedule()
    assert [(a.at, a.caller.number, a.addons) for a in again] == [(a.at, a.caller.number, a.addons) for a in schedule()]


def test_only_the_incoming_request_carries_the_addons() -> None:
    cfg = SimConfig(public_base_url=BASE_URL, auth_token="t", api_token="a", agents=AGENTS, calls=3000, seed=5)
    sim = Simulator(cfg)
    arrival = next(a for a in sim.schedule if a.addons)
    first = sim._first_request(arrival)
    assert first["AddOns"] == arrival.addons and first["CallToken"]
    assert "AddOns" not in sim._incoming_params("CA" + "0" * 32, arrival.caller, arrival.line)
    plain = next(a for a in sim.schedule if not a.addons)
    assert "AddOns" not in sim._first_request(plain)


# ---- against the app ------------------------------------------------------------------------------------------

ROBO_SEED = 4  # a seed whose 40 calls include a robocall campaign (checked below)


def test_robocalls_reach_the_app_with_their_signals(served: str, app: Any, standin: StandInServer,
                                                     redis_conn: redis.Redis) -> None:
    sim = Simulator(config(served, seed=ROBO_SEED), standin=standin.state)
    robocalls = [a for a in sim.schedule if a.caller.kind == "robocaller"]
    assert len(robocalls) >= ROBOCALL_CALLS[0] and any(a.addons for a in robocalls)
    report = run_with_worker(sim, app)
    assert report.counts.errors == 0, report.table()
    calls = defaultdict(list)
    for _id, ev in redis_conn.xrange(keys.EVENTS):
        if ev.get("type") == "call" and not ev.get("callback"):
            calls[ev["number"]].append(ev)
    for arrival in robocalls:
        (event, *_more) = calls[arrival.caller.number]
        assert event["attest"] == attestation_class(arrival.caller.stir or None) in ("failed", "unsigned")
    scored = [a for a in robocalls if a.addons]
    for arrival in scored:
        rep = reputation_from_addons(arrival.addons)
        assert rep is not None
        assert any(e.get("rep") == str(rep.score) and e.get("rep_by") == rep.provider
                   for e in calls[arrival.caller.number])
