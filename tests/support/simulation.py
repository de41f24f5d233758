"""The simulator in tests: its configuration against the test service, a real RQ worker beside it."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler

from ivr.simulate import Report, SimConfig, Simulator, parse_compress
from tests.support.constants import ACCOUNT_SID, API_TOKEN, AUTH_TOKEN, BASE_URL

AGENTS = ("+15550001001", "+15550001002", "+15550001003", "client:desk4")


SUPERVISOR = "+15550002001"


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def config(target: str, **kw: Any) -> SimConfig:
    base: dict[str, Any] = dict(
        public_base_url=BASE_URL, auth_token=AUTH_TOKEN, target=target, account_sid=ACCOUNT_SID, api_token=API_TOKEN,
        agents=AGENTS, supervisors=(SUPERVISOR,), calls=40, span=2 * 3600, factor=parse_compress("2h/4s"),
        flag_share=0.4, desk_share=0.5, moves_share=0.1, seed=11, start_hour=11, poll_floor=0.1, drain=15.0,
    )
    base.update(kw)
    return SimConfig(**base)


def make_standing_queues(app: Any) -> None:
    """What the job `ivr worker` queues as it starts does (workers.calls.ensure_standing_queues), run here at
    once: the agents', supervisors' and isolation queues at Twilio (the stand-in). Twilio fails an agent's Dial
    into a queue nobody created."""
    from workers.calls import ensure_standing_queues

    ensure_standing_queues()


def worker(app: Any, queues: list[str]) -> Any:
    """A real RQ SimpleWorker without its command channel: rq 3.0's pub/sub thread (sleep_time=60) can hold
    the worker's teardown for up to a minute, and nothing sends it commands here."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    class NoCommands(SimpleWorker):
        def subscribe(self) -> None:
            pass

    return NoCommands(queues, connection=app.extensions["ivr"].rq_connection, serializer=JSONSerializer)


def run_with_worker(sim: Simulator, app: Any, standing_queues: bool = True) -> Report:
    """The simulator on its own thread; a real RQ worker in the main thread (signals) moves desk-flagged callers
    and makes the standing queues again when an agent's Dial finds one missing."""
    from workers.queues import CALLS, MAINTENANCE

    if standing_queues:
        make_standing_queues(app)
    out: dict[str, Report] = {}
    thread = threading.Thread(target=lambda: out.setdefault("report", sim.run_blocking()), daemon=True)
    thread.start()
    while thread.is_alive():  # blocks for jobs (as `ivr worker` does), quits after a second without one
        worker(app, [CALLS, MAINTENANCE]).work(max_idle_time=1)
    return out["report"]
