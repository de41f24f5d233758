"""The recordings callers and agents hear: <Play> of a hashed URL (or <Say> in the language), their
length, and the route that serves them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Response, current_app, request
from flask.typing import ResponseReturnValue

import prompts
from ivr.resources import resources
from ivr.urls import external
from ivr.webhooks.blueprints import media_bp
from prompts.catalog import Catalog, Recording

log = logging.getLogger("ivr.media")


LANGUAGES: tuple[str, ...] = prompts.LANGUAGES


PROMPT_IDS: tuple[str, ...] = prompts.PROMPT_IDS


# Read when an app first needs its catalog, so tests can point it at another folder.
SHIPPED_DIR: Path = prompts.AUDIO_DIR


OVERRIDE_RECHECK_SECONDS = 5.0


ISOLATION_PAUSE_SECONDS = 2


# The URL carries the content hash, so a cached copy can never be stale.
IMMUTABLE = "public, max-age=31536000, immutable"


_EXTENSION = "ivr.media.catalog"


def override_dir() -> Path:
    """Where managers' own recordings go: IVR_DATA_DIR/prompts/<lang>/<id>.wav."""
    return Path(resources().settings.data_dir) / "prompts"


def catalog() -> Catalog:
    """This app's catalog of recordings (built on first use, then cached with the app)."""
    found = current_app.extensions.get(_EXTENSION)
    if found is None:
        found = Catalog(SHIPPED_DIR, override_dir(), OVERRIDE_RECHECK_SECONDS)
        current_app.extensions[_EXTENSION] = found
    return found  # type: ignore[no-any-return]


def _language(lang: str) -> str:
    return lang if lang in LANGUAGES else prompts.DEFAULT_LANGUAGE


def _recording_key(prompt_id: str, fmt: dict[str, Any]) -> str | None:
    """Which recording stands for this prompt with these values; None when only <Say> can speak it."""
    if prompt_id not in PROMPT_IDS:
        raise ValueError(f"unknown prompt {prompt_id!r}: use one of {', '.join(PROMPT_IDS)}")
    if prompt_id != "queue_position":
        if fmt:
            raise ValueError(f"prompt {prompt_id!r} takes no values, got {', '.join(sorted(fmt))}")
        return prompt_id
    if set(fmt) != {"position"}:
        raise ValueError("queue_position needs exactly position=N (the caller's place in the queue, from 1)")
    try:
        position = int(fmt["position"])
    except (TypeError, ValueError):
        raise ValueError(f"position must be a whole number, got {fmt['position']!r}") from None
    if position < 1:
        raise ValueError(f"position must be 1 or more, got {position}")
    fmt["position"] = position
    return prompts.position_key(position) if position in prompts.RECORDED_POSITIONS else None


def play(target: Any, prompt_id: str, lang: str, **fmt: Any) -> None:
    """Append the prompt to a VoiceResponse/Gather: <Play> of its hashed URL, else <Say> in the language."""
    lang = _language(lang)
    key = _recording_key(prompt_id, fmt)
    found = catalog().recording(lang, key) if key else None
    if found is not None:
        target.play(url=prompt_url(found))
        return
    voice = prompts.voice(lang)
    target.say(prompts.text(prompt_id, lang, **fmt), voice=voice.say_voice, language=voice.say_language)


SAY_CHARS_PER_SECOND = 12  # a <Say> voice's pace, for prompts with no recording (a generous guess)


def seconds(prompt_id: str, lang: str) -> float:
    """How long the prompt plays: its recording's length (a manager's own included), else a <Say> estimate."""
    lang = _language(lang)
    found = catalog().recording(lang, prompt_id)
    if found is not None and found.seconds:
        return found.seconds
    return len(prompts.text(prompt_id, lang)) / SAY_CHARS_PER_SECOND


def prompt_url(found: Recording) -> str:
    """Absolute URL of a recording under PUBLIC_BASE_URL; a new recording gets a new URL."""
    return external("media.prompt", lang=found.lang, prompt_id=found.key, digest=found.digest)


def isolation_sequence(target: Any, lang: str) -> None:
    """The isolation queue's treatment: analysis start, a pause, the signal tone, analysis complete."""
    play(target, "analysis_start", lang)
    target.pause(length=ISOLATION_PAUSE_SECONDS)
    play(target, "signal_tone", lang)
    play(target, "analysis_complete", lang)


def _not_found(message: str) -> Response:
    return Response(message + "\n", status=404, mimetype="text/plain")


@media_bp.get("/media/<lang>/<prompt_id>.<digest>.wav")
def prompt(lang: str, prompt_id: str, digest: str) -> ResponseReturnValue:
    """A recording, by content hash; public, because Twilio fetches media without signing."""
    if lang not in LANGUAGES:
        return _not_found(f"No prompts in language {lang!r}: languages are {', '.join(LANGUAGES)}.")
    try:
        prompts.split_key(prompt_id)
    except ValueError:
        return _not_found(f"No prompt {prompt_id!r}: prompt ids are {', '.join(PROMPT_IDS)}.")
    found = catalog().recording(lang, prompt_id)
    if found is None:
        return _not_found(f"No recording of {lang}/{prompt_id}: calls speak it with <Say>; "
                          "run `ivr prompts build` or install one with `ivr prompts install`.")
    if found.digest != digest:
        return _not_found(f"{lang}/{prompt_id} has no version {digest!r} (it was replaced); the current one is "
                          f"{prompt_url(found)}")
    resp = Response(catalog().read(found), mimetype="audio/wav")
    resp.headers["Cache-Control"] = IMMUTABLE
    resp.set_etag(found.digest)
    return resp.make_conditional(request)
