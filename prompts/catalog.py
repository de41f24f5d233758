"""Which recording plays for a prompt: a manager's override if valid, else the shipped one; with its hash.

Hashes are computed once per file version and cached; the override folder is looked at again at most
every `recheck_seconds`, so a dropped-in file is picked up without a restart and without touching
the disk on every webhook.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prompts import check_language, split_key
from prompts.wav import WavInfo, check_prompt, parse

log = logging.getLogger("prompts.catalog")
DIGEST_CHARS = 16  # 64 bits of sha256: plenty to tell versions of one prompt apart in a URL


@dataclass(frozen=True)
class Recording:
    """One playable file and the hash its URL carries."""

    lang: str
    key: str
    path: Path
    digest: str
    source: str  # "override" or "shipped"
    data: bytes | None = None  # an override's validated bytes: what we hashed is what we serve
    seconds: float = 0.0  # how long it plays (a held caller's deadline counts the agent's prompt)


@dataclass
class _Entry:
    checked_at: float
    override_stamp: tuple[int, int] | None
    recording: Recording | None


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:DIGEST_CHARS]


class Catalog:
    """Resolves (language, recording key) to a Recording, caching hashes and override checks."""

    def __init__(self, shipped_dir: Path, override_dir: Path | None, recheck_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.shipped_dir = shipped_dir
        self.override_dir = override_dir
        self.recheck_seconds = recheck_seconds
        self.clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._shipped: dict[tuple[str, str], Recording | None] = {}
        self._refused: dict[Path, tuple[int, int]] = {}

    def override_path(self, lang: str, key: str) -> Path | None:
        return self.override_dir / lang / f"{key}.wav" if self.override_dir is not None else None

    def recording(self, lang: str, key: str) -> Recording | None:
        """The recording to play, or None when there is none (the caller then gets <Say>)."""
        now = self.clock()
        entry = self._entries.get((lang, key))
        if entry is not None and now - entry.checked_at < self.recheck_seconds:
            return entry.recording
        stamp = _stamp(self.override_path(lang, key))
        if entry is not None and entry.override_stamp == stamp:
            entry.checked_at = now
            return entry.recording
        found = self._override(lang, key, stamp) or self._shipped_recording(lang, key)
        # Races between threads only repeat this work; the result is the same.
        self._entries[(lang, key)] = _Entry(now, stamp, found)
        return found

    def read(self, recording: Recording) -> bytes:
        return recording.data if recording.data is not None else recording.path.read_bytes()

    def invalidate(self) -> None:
        """Forget every cached lookup (after installing or removing an override in this process)."""
        self._entries.clear()
        self._refused.clear()

    def _override(self, lang: str, key: str, stamp: tuple[int, int] | None) -> Recording | None:
        path = self.override_path(lang, key)
        if path is None or stamp is None:
            return None
        try:
            data = path.read_bytes()
            info = check_prompt(data)
        except (OSError, ValueError) as exc:
            if self._refused.get(path) != stamp:  # say it once per file version, not on every call
                self._refused[path] = stamp
                log.warning("ignoring the manager recording %s (%s); playing the shipped one instead", path, exc)
            return None
        return Recording(lang, key, path, digest_of(data), "override", data, info.seconds)

    def _shipped_recording(self, lang: str, key: str) -> Recording | None:
        # Shipped files change only with a new release, so each is hashed once per process.
        if (lang, key) not in self._shipped:
            path = self.shipped_dir / lang / f"{key}.wav"
            try:
                data = path.read_bytes()
            except OSError:
                log.warning("no shipped recording %s: prompts/audio is incomplete; run `ivr prompts build`", path)
                self._shipped[(lang, key)] = None
            else:
                try:
                    seconds = parse(data).seconds
                except ValueError:  # played all the same; only its length is unknown
                    seconds = 0.0
                self._shipped[(lang, key)] = Recording(lang, key, path, digest_of(data), "shipped", seconds=seconds)
        return self._shipped[(lang, key)]


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def install(override_dir: Path, lang: str, key: str, data: bytes) -> tuple[Path, WavInfo, str]:
    """Check a manager's recording and put it in the override folder (atomically); returns path, info, digest."""
    check_language(lang)
    split_key(key)
    info = check_prompt(data)
    dest = override_dir / lang / f"{key}.wav"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    # A running service never sees a half-written file: the rename is atomic.
    os.replace(tmp, dest)
    return dest, info, digest_of(data)


def remove(override_dir: Path, lang: str, key: str) -> bool:
    """Delete a manager's recording, so the shipped one plays again; False if there was none."""
    check_language(lang)
    split_key(key)
    try:
        (override_dir / lang / f"{key}.wav").unlink()
    except FileNotFoundError:
        return False
    return True
