"""What callers and agents hear: prompt ids, their texts per language, and where the recordings live.

No Flask here: the app (`ivr.webhooks.media`), the CLI and the build script all read this package.
Texts are in `texts/<lang>.json` (one reviewed file per language), voice settings per language in
`languages.json`, recordings in `audio/<lang>/<key>.wav`, and `manifest.json` records what each
recording was built from. `signal_tone` is a generated tone; its text is spoken only if the tone
recording is missing, so the caller never hears silence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
TEXTS_DIR = PACKAGE_DIR / "texts"
AUDIO_DIR = PACKAGE_DIR / "audio"
MANIFEST = PACKAGE_DIR / "manifest.json"
LANGUAGES_FILE = PACKAGE_DIR / "languages.json"

LANGUAGES: tuple[str, ...] = ("en", "af", "zh", "pt", "vi", "fi")
DEFAULT_LANGUAGE = "en"

PROMPT_IDS: tuple[str, ...] = (
    # callers: isolation queue, line fault, waiting
    "analysis_start",
    "signal_tone",
    "analysis_complete",
    "line_fault",
    "hold_agents",
    "hold_private",
    "queue_position",
    "connecting",
    # agents
    "agent_flag_menu",
    "agent_flag_confirmed",
    "agent_caller_gone_flagged",
    "agent_resume",
    "agent_breather",
    "agent_refused",
    "agent_waiting",
    "agent_escalated",
    "agent_callback_scheduled",
    "agent_callback_refused",
    # routing moves and overflow
    "supervisor_connecting",
    "limit_warning",
    "limit_goodbye",
    "callback_confirm",
    "callback_intro",
    "overflow_long_wait",
    "overflow_closed",
    "overflow_no_agent",
    "goodbye",
    "busy_goodbye",
    "service_unavailable",
    # contact restrictions (blocklist/restrictions.py): the polite notice outside them, and voicemail-only
    "restricted",
    "voicemail_intro",
)

TONE_ID = "signal_tone"
# A recording cannot carry a live number, so queue_position is recorded whole for the positions a
# caller usually hears (same voice, right word order in every language); larger ones use <Say>.
RECORDED_POSITIONS = range(1, 6)


@dataclass(frozen=True)
class Voice:
    """How one language is spoken: offline TTS for the recordings, Twilio <Say> for the fallback."""

    lang: str
    name: str
    espeak_voice: str
    speed: int
    pitch: int
    say_language: str
    say_voice: str


def recording_keys(prompt_id: str) -> tuple[str, ...]:
    """File names (without .wav) that make up one prompt: the id itself, or one per recorded position."""
    if prompt_id not in PROMPT_IDS:
        raise ValueError(f"unknown prompt {prompt_id!r}: use one of {', '.join(PROMPT_IDS)}")
    if prompt_id == "queue_position":
        return tuple(position_key(n) for n in RECORDED_POSITIONS)
    return (prompt_id,)


def position_key(position: int) -> str:
    return f"queue_position-{position}"


def all_recording_keys() -> tuple[str, ...]:
    """Every recording a language must have."""
    return tuple(key for prompt_id in PROMPT_IDS for key in recording_keys(prompt_id))


def split_key(key: str) -> tuple[str, dict[str, Any]]:
    """The prompt id and format values a recording key stands for ('queue_position-3' -> position=3)."""
    if key in PROMPT_IDS and key != "queue_position":
        return key, {}
    base, _, number = key.partition("-")
    # Only the exact name the player asks for: ASCII digits, no leading zero ('queue_position-٣' would
    # install and never play).
    if (base == "queue_position" and number.isascii() and number.isdigit()
            and int(number) in RECORDED_POSITIONS and key == position_key(int(number))):
        return base, {"position": int(number)}
    keys = ", ".join(all_recording_keys())
    raise ValueError(f"unknown prompt recording {key!r}: use one of {keys}")


def check_language(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    return lang


@cache
def texts(lang: str) -> dict[str, str]:
    """All prompt texts of one language, checked to be complete."""
    check_language(lang)
    path = TEXTS_DIR / f"{lang}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    missing = [p for p in PROMPT_IDS if not str(data.get(p, "")).strip()]
    if missing:
        raise ValueError(f"{path}: no text for {', '.join(missing)}; add them before building")
    unknown = sorted(set(data) - set(PROMPT_IDS))
    if unknown:
        raise ValueError(f"{path}: unknown prompt ids {', '.join(unknown)}; see PROMPT_IDS in prompts/__init__.py")
    if "{position}" not in data["queue_position"]:
        raise ValueError(f"{path}: queue_position must contain {{position}} where the number goes")
    return {p: str(data[p]) for p in PROMPT_IDS}


def text(prompt_id: str, lang: str, **fmt: Any) -> str:
    """The text of a prompt in a language, with its placeholders filled."""
    recording_keys(prompt_id)  # raises on an unknown id
    template = texts(lang)[prompt_id]
    try:
        return template.format(**fmt)
    except (KeyError, IndexError):
        raise ValueError(f"prompt {prompt_id!r} needs {template!r} filled: pass e.g. position=3") from None


@cache
def voices() -> dict[str, Voice]:
    """Voice settings of every language, from languages.json."""
    raw = json.loads(LANGUAGES_FILE.read_text(encoding="utf-8"))
    out = {lang: Voice(lang=lang, **raw[lang]) for lang in LANGUAGES if lang in raw}
    missing = [lang for lang in LANGUAGES if lang not in out]
    if missing:
        raise ValueError(f"{LANGUAGES_FILE}: no voice settings for {', '.join(missing)}")
    return out


def voice(lang: str) -> Voice:
    return voices()[check_language(lang)]
