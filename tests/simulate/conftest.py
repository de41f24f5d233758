"""What the simulator's tests share: the app served on loopback, the strict REST stand-in `ivr simulate`
starts, a run with a real RQ worker beside it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from ivr.simulate import standin_for
from ivr.simulate.standin import StandInServer
from tests.support.simulation import AGENTS, SUPERVISOR, QuietHandler, config


@pytest.fixture
def standin() -> Iterator[StandInServer]:
    """The strict stand-in `ivr simulate` runs (replaces conftest's, which adopts unknown calls)."""
    server = StandInServer(standin_for(config("http://127.0.0.1:9")), quiet=True).start()
    yield server
    server.stop()  # raises if any of its answers broke Twilio's documented schema


@pytest.fixture
def sim_env(app_env: dict[str, str]) -> dict[str, str]:
    """More agents than the default fixture, a supervisor, and a short breather (simulated seconds)."""
    app_env.update({"IVR_AGENTS": ",".join(AGENTS), "IVR_SUPERVISORS": SUPERVISOR, "IVR_BREATHER_SECONDS": "10"})
    return app_env


@pytest.fixture
def served(sim_env: dict[str, str], app: Any) -> Iterator[str]:
    """The app behind a real HTTP server on loopback (PUBLIC_BASE_URL stays the https test base)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


