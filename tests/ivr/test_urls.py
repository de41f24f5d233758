"""The absolute URLs handed to Twilio (ivr/urls.py) are kept once built: a kept URL must be exactly the one
url_for would build now, under whatever prefix the service is mounted, and the store of them stays bounded."""

from __future__ import annotations

from typing import Any

import pytest
from flask import url_for

from ivr import urls

CASES = [
    ("voice.hold", {"lang": "en"}),
    ("voice.hold", {"lang": "pt"}),
    ("voice.queue_exit", {"lang": "fi", "q": "supervisors"}),
    ("voice.queue_exit", {"q": "supervisors", "lang": "fi", "again": 1}),
    ("voice.isolation", {"lang": "zh"}),
    ("voice.voicemail_recorded", {}),
    ("agent.after_dial", {}),
    ("voice.bridge", {"team": "billing & co"}),
]


@pytest.mark.parametrize("prefix", ["", "/ivr"])
def test_a_kept_url_is_the_one_url_for_builds(app: Any, prefix: str) -> None:
    base = app.config["SETTINGS"].base_url
    for _round in range(2):  # built, then kept
        with app.test_request_context("/voice/incoming", base_url="http://127.0.0.1" + prefix):
            for endpoint, values in CASES:
                got = urls.external(endpoint, **values)
                assert got == base + url_for(endpoint, **values)
                assert got.startswith(base + prefix + "/")
    assert len(app.extensions["ivr_urls"]) == len(CASES)  # each built once


def test_the_same_url_under_two_prefixes_is_kept_apart(app: Any) -> None:
    base = app.config["SETTINGS"].base_url
    with app.test_request_context("/voice/incoming", base_url="http://127.0.0.1/a"):
        assert urls.external("voice.hold", lang="en") == base + "/a/voice/hold?lang=en"
    with app.test_request_context("/voice/incoming"):
        assert urls.external("voice.hold", lang="en") == base + "/voice/hold?lang=en"


def test_urls_depend_on_nothing_but_the_endpoint_and_values(app: Any) -> None:
    # What keeping them rests on: no hook adds or reads values while URLs are built.
    assert not any(app.url_default_functions.values())
    assert not any(app.url_value_preprocessors.values())


def test_the_store_of_urls_is_bounded_and_odd_values_still_work(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urls, "CACHE_LIMIT", 3)
    base = app.config["SETTINGS"].base_url
    with app.test_request_context("/voice/incoming"):
        for n in range(10):
            assert urls.external("voice.hold", lang="en", n=n) == base + f"/voice/hold?lang=en&n={n}"
        assert len(app.extensions["ivr_urls"]) == 3
        assert urls.external("voice.hold", lang=["en", "pt"]) == base + url_for("voice.hold", lang=["en", "pt"])
    assert len(app.extensions["ivr_urls"]) == 3


def test_the_agents_queue_twiml_is_kept_per_mount_prefix(app: Any) -> None:
    from ivr.webhooks.incoming import agents_queue_twiml

    base = app.config["SETTINGS"].base_url
    for _round in range(2):  # built, then kept
        for prefix in ("", "/ivr"):
            with app.test_request_context("/voice/incoming", base_url="http://127.0.0.1" + prefix):
                twiml = agents_queue_twiml("fi")
                assert f'waitUrl="{base}{prefix}/voice/hold?lang=fi"' in twiml
                assert f'action="{base}{prefix}/voice/queue-exit?lang=fi"' in twiml
