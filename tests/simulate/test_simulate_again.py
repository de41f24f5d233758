"""`ivr simulate` run again on the same data plays the same past day again (simulate.config.simulated_start_ms), so
the service's clock (IVR_SIMULATION_CLOCK) goes back to hours it has already seen. What the first run left later in
that day (an agent's shift, difficult calls and wellbeing break) has not happened yet for the second run: its agents
take callers as the first run's did, instead of sitting out a break that starts hours later."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from blocklist import keys
from ivr.simulate import Simulator
from ivr.simulate.standin import StandInServer
from tests.support.simulation import config, run_with_worker


@pytest.fixture
def sim_env(sim_env: dict[str, str]) -> dict[str, str]:
    sim_env.update({"IVR_SIMULATION_CLOCK": "1", "IVR_EXPOSURE_SHIFT_LIMIT": "2", "IVR_WELLBEING_BREAK_SECONDS": "120"})
    return sim_env


def test_a_second_run_of_the_same_day_answers_callers_as_the_first(served: str, app: Any, standin: StandInServer,
                                                                    redis_conn: redis.Redis) -> None:
    first = run_with_worker(Simulator(config(served, flag_share=0.5, seed=11), standin=standin.state), app)
    assert first.counts.errors == 0, first.table()
    breaks = [f for _id, f in redis_conn.xrange(keys.EVENTS) if f.get("type") == "wellbeing_break"]
    assert breaks, first.table()  # agents crossed their limit: the state the second run finds
    second = run_with_worker(Simulator(config(served, flag_share=0.5, seed=12), standin=standin.state), app)
    assert second.counts.errors == 0, second.table()
    # The first run answered all but a caller or two. Each agent's latest break of the first run used to hold from
    # the second run's first minute until that break's end, late in the day: about half of the callers hung up
    # waiting.
    assert second.counts.answered >= 0.8 * second.counts.queued, (first.table(), second.table())
