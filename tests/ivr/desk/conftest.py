"""The desk's fixtures: Debian's Chromium, the app served on 127.0.0.1, one Desk per person, a logged-in manager."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.support.browser import CHROMIUM_ARGS, DESKTOP, Desk, chromium_path
from tests.support.desk import logged_in


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found at /usr/bin/chromium (or IVR_CHROMIUM): install Debian's chromium "
                    "(`apt-get install -y chromium`; ./dev test does it when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: run `pip install -e '.[test]'` (it is in the test extras)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live(app: Any) -> Iterator[str]:
    """The app served by werkzeug on 127.0.0.1 in a thread (the same app the Twilio player drives)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="desk-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def open_desk(browser: Any, live: str) -> Iterator[Any]:
    desks: list[Desk] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Desk:
        desk = Desk(browser, live, viewport)
        desks.append(desk)
        return desk

    yield make
    for desk in desks:
        desk.close()




@pytest.fixture
def mgr(app: Any) -> Any:
    """A test client logged in through the real form as the manager "max"."""
    return logged_in(app)
