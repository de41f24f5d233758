"""The desk in a real headless Chromium (Debian's, driven by Playwright): one person's browser context, with
its console errors and dialogs recorded, and screenshots under test-output/screenshots/."""

from __future__ import annotations

import os
import shutil
from typing import Any

from tests.support.constants import ROOT
from tests.support.desk import PASSWORD

SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
WAIT_MS = 10_000


def chromium_path() -> str | None:
    """Debian's chromium (CI installs it); IVR_CHROMIUM overrides."""
    for candidate in (os.environ.get("IVR_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.exists(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class Desk:
    """One browser context (one person) on the live desk; records console errors and dialogs."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int] = DESKTOP) -> None:
        self.base = base
        self.context = browser.new_context(viewport=viewport, base_url=base)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def login(self, name: str, password: str = PASSWORD) -> None:
        self.page.goto("/desk/login")
        self.page.fill("input[name=username]", name)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        assert not self.dialogs, f"a script ran in the page: {self.dialogs}"
        assert not self.errors, f"console errors (CSP violations show up here): {self.errors}"
        self.context.close()
