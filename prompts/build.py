"""Rebuild the committed prompt recordings from the texts: `ivr prompts build` or `python -m prompts.build`.

Speech comes from espeak-ng (offline, deterministic), converted by sox to 8 kHz mono mu-law, Twilio's
native format. The signal tone is computed here from its frequencies. Each recording's inputs (text,
voice settings, pipeline) are hashed into manifest.json; a recording whose inputs did not change and
whose file still matches is skipped, so a text edit rebuilds only that prompt.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prompts import (
    AUDIO_DIR,
    LANGUAGES,
    MANIFEST,
    TONE_ID,
    Voice,
    all_recording_keys,
    check_language,
    split_key,
    text,
    voice,
)
from prompts.wav import SAMPLE_RATE, check_prompt, parse, ulaw_wav

# Bump when anything below changes how a recording sounds: every recording is then rebuilt.
BUILDER_VERSION = 1
# Shipped prompts stay well under the 60 s a manager's recording may last.
SHIPPED_MAX_SECONDS = 20.0
# Trim espeak's silences, band-limit to the telephone band, resample with sox's best filter,
# normalise to -3 dBFS, then leave a short lead-in and tail so nothing sounds clipped on a phone.
SOX_EFFECTS = (
    "silence", "1", "0.01", "0.1%", "reverse", "silence", "1", "0.01", "0.1%", "reverse",
    "highpass", "100", "lowpass", "3400", "rate", "-v", str(SAMPLE_RATE), "gain", "-n", "-3",
    "pad", "0.1", "0.2",
)
INSTALL_HINT = "install them with `apt-get install espeak-ng sox` (Debian/Ubuntu) or `brew install espeak-ng sox`"

# The three-segment special information tone (ITU-T E.180 / Telcordia SIT frequencies).
TONE_FREQUENCIES = (913.8, 1370.6, 1776.7)
TONE_SEGMENT_SECONDS = 0.330
TONE_AMPLITUDE = 0.25  # about -12 dBFS: clearly heard, never harsh
TONE_RAMP_SECONDS = 0.005  # raised-cosine edges: no clicks between segments
TONE_LEAD_SECONDS = 0.10
TONE_TAIL_SECONDS = 0.50

Progress = Callable[[str], None]


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def tone_samples(sample_rate: int = SAMPLE_RATE) -> list[int]:
    """The signal tone as 16-bit samples: lead silence, three SIT segments, tail silence."""
    out = [0] * round(TONE_LEAD_SECONDS * sample_rate)
    n = round(TONE_SEGMENT_SECONDS * sample_rate)
    ramp = max(1, round(TONE_RAMP_SECONDS * sample_rate))
    peak = TONE_AMPLITUDE * 32767
    for freq in TONE_FREQUENCIES:
        for i in range(n):
            edge = min(i, n - 1 - i)
            envelope = 0.5 - 0.5 * math.cos(math.pi * edge / ramp) if edge < ramp else 1.0
            out.append(round(peak * envelope * math.sin(2 * math.pi * freq * i / sample_rate)))
    out += [0] * round(TONE_TAIL_SECONDS * sample_rate)
    return out


def tone_wav() -> bytes:
    return ulaw_wav(tone_samples())


def inputs_digest(lang: str, key: str) -> str:
    """Hash of everything a recording is made from; a change means the recording must be rebuilt."""
    if key == TONE_ID:
        recipe: dict[str, Any] = {
            "builder": BUILDER_VERSION, "tone": TONE_FREQUENCIES, "segment": TONE_SEGMENT_SECONDS,
            "amplitude": TONE_AMPLITUDE, "ramp": TONE_RAMP_SECONDS, "lead": TONE_LEAD_SECONDS,
            "tail": TONE_TAIL_SECONDS, "rate": SAMPLE_RATE,
        }
    else:
        v = voice(lang)
        recipe = {
            "builder": BUILDER_VERSION, "text": spoken_text(lang, key), "espeak_voice": v.espeak_voice,
            "speed": v.speed, "pitch": v.pitch, "sox": SOX_EFFECTS,
        }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def spoken_text(lang: str, key: str) -> str:
    prompt_id, fmt = split_key(key)
    return text(prompt_id, lang, **fmt)


def tool_versions() -> dict[str, str]:
    """espeak-ng and sox versions, recorded in the manifest (they may differ between machines)."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"{' and '.join(missing)} not found on PATH: {INSTALL_HINT}")
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    sox = subprocess.run(["sox", "--version"], capture_output=True, text=True, check=True).stdout
    return {"espeak-ng": espeak.split("text-to-speech:")[-1].split()[0], "sox": sox.strip().split()[-1].lstrip("v")}


def synthesise(text_: str, v: Voice) -> bytes:
    """Speak a text with espeak-ng and convert it with sox to 8 kHz mono mu-law WAV bytes."""
    with tempfile.TemporaryDirectory(prefix="ivr-prompt-") as tmp:
        folder = Path(tmp)
        (folder / "text.txt").write_text(text_, encoding="utf-8")
        raw, out = folder / "raw.wav", folder / "out.wav"
        _run(["espeak-ng", "-v", v.espeak_voice, "-s", str(v.speed), "-p", str(v.pitch),
              "-f", str(folder / "text.txt"), "-w", str(raw)])
        # -D: no dither, so the same input always gives the same bytes.
        _run(["sox", "-D", str(raw), "-e", "u-law", "-b", "8", "-c", "1", str(out), *SOX_EFFECTS])
        return out.read_bytes()


def _run(command: list[str]) -> None:
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[-500:]}")


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    if not path.exists():
        return {"builder": BUILDER_VERSION, "recordings": {}}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data.setdefault("recordings", {})
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _up_to_date(entry: dict[str, Any] | None, path: Path, inputs: str) -> bool:
    if not entry or entry.get("inputs") != inputs or not path.exists():
        return False
    return bool(hashlib.sha256(path.read_bytes()).hexdigest() == entry.get("sha256"))


def build(
    langs: Iterable[str] = LANGUAGES,
    *,
    force: bool = False,
    progress: Progress = print,
    audio_dir: Path = AUDIO_DIR,
    manifest_path: Path = MANIFEST,
) -> BuildReport:
    """Rebuild every recording whose inputs changed (all with force=True) and update the manifest."""
    langs = [check_language(lang) for lang in langs]
    manifest = load_manifest(manifest_path)
    recordings: dict[str, dict[str, Any]] = manifest["recordings"]
    keys = all_recording_keys()
    todo = [(lang, key) for lang in langs for key in keys]
    pending = [
        (lang, key) for lang, key in todo
        if force or not _up_to_date(recordings.get(lang, {}).get(key), audio_dir / lang / f"{key}.wav",
                                    inputs_digest(lang, key))
    ]
    tools = tool_versions() if any(key != TONE_ID for _, key in pending) else {}
    report = BuildReport()
    width = len(str(len(todo)))
    for i, (lang, key) in enumerate(todo, 1):
        label = f"[{i:>{width}}/{len(todo)}] {lang}/{key}"
        if (lang, key) not in pending:
            report.unchanged.append(f"{lang}/{key}")
            progress(f"{label}: unchanged")
            continue
        if key == TONE_ID:
            data, made_with = tone_wav(), "python tone generator"
        else:
            data = synthesise(spoken_text(lang, key), voice(lang))
            made_with = f"espeak-ng {tools['espeak-ng']}, sox {tools['sox']}"
        try:
            info = check_prompt(data, max_seconds=SHIPPED_MAX_SECONDS)
        except ValueError as exc:
            raise ValueError(f"{lang}/{key}: the built recording is unusable ({exc}); shorten the text in "
                             f"prompts/texts/{lang}.json") from None
        _write_atomic(audio_dir / lang / f"{key}.wav", data)
        recordings.setdefault(lang, {})[key] = {
            "inputs": inputs_digest(lang, key),
            "sha256": hashlib.sha256(data).hexdigest(),
            "seconds": round(info.seconds, 3),
            "bytes": len(data),
            "made_with": made_with,
        }
        report.built.append(f"{lang}/{key}")
        progress(f"{label}: built ({info.seconds:.2f} s, {len(data) // 1024} KiB)")
    for lang in langs:
        report.removed += _remove_stale(lang, set(keys), audio_dir, recordings, progress)
    manifest["builder"] = BUILDER_VERSION
    manifest["about"] = ("Recordings built by `ivr prompts build` from prompts/texts; inputs = hash of text and "
                         "voice settings, sha256 = hash of the committed file.")
    manifest["recordings"] = {lang: dict(sorted(recordings[lang].items())) for lang in sorted(recordings)}
    text_ = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    _write_atomic(manifest_path, text_.encode("utf-8"))
    progress(f"{len(report.built)} built, {len(report.unchanged)} unchanged, {len(report.removed)} removed; "
             f"manifest: {manifest_path}")
    return report


def _remove_stale(lang: str, keys: set[str], audio_dir: Path, recordings: dict[str, dict[str, Any]],
                  progress: Progress) -> list[str]:
    """Recordings of prompts that no longer exist: delete them so the package ships only what is used."""
    removed = []
    folder = audio_dir / lang
    for path in sorted(folder.glob("*.wav")) if folder.exists() else []:
        if path.stem not in keys:
            path.unlink()
            removed.append(f"{lang}/{path.stem}")
            progress(f"removed {lang}/{path.stem} (no such prompt any more)")
    for key in [k for k in recordings.get(lang, {}) if k not in keys]:
        del recordings[lang][key]
    return removed


def verify(audio_dir: Path = AUDIO_DIR, manifest_path: Path = MANIFEST) -> list[str]:
    """Problems with the committed recordings (missing, altered, or not matching their texts); empty if none."""
    problems = []
    recordings = load_manifest(manifest_path)["recordings"]
    for lang in LANGUAGES:
        for key in all_recording_keys():
            path = audio_dir / lang / f"{key}.wav"
            entry = recordings.get(lang, {}).get(key)
            if not path.exists():
                problems.append(f"{lang}/{key}: missing")
            elif not entry:
                problems.append(f"{lang}/{key}: not in the manifest")
            elif entry.get("sha256") != hashlib.sha256(path.read_bytes()).hexdigest():
                problems.append(f"{lang}/{key}: file differs from the manifest")
            elif entry.get("inputs") != inputs_digest(lang, key):
                problems.append(f"{lang}/{key}: text or voice changed since it was built")
            else:
                parse(path.read_bytes())
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prompts.build", description=__doc__.splitlines()[0])
    parser.add_argument("--lang", action="append", choices=LANGUAGES, help="only this language (repeatable)")
    parser.add_argument("--force", action="store_true", help="rebuild even recordings whose inputs did not change")
    args = parser.parse_args(argv)
    try:
        build(args.lang or LANGUAGES, force=args.force)
    except (RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
