"""Prompts: every recording exists per language and is phone audio, the tone is a real SIT, the app serves
recordings by content hash, falls back to <Say>, plays the isolation sequence in order, and managers'
own recordings are checked before they replace the shipped ones."""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from click.testing import CliRunner
from lxml import etree
from twilio.twiml.voice_response import Gather, VoiceResponse

import prompts
from blocklist import keys
from ivr.cli.prompts import group as prompts_cli
from ivr.webhooks import media
from prompts import build as prompt_build
from prompts.wav import check_prompt, linear_to_ulaw, ulaw_wav
from tests.support.audio import pcm_wav
from tests.support.constants import API_TOKEN, BASE_URL, LINE

AUDIO = prompts.AUDIO_DIR
SIT = (913.8, 1370.6, 1776.7)
SAY_LANGUAGES = {"en": "en-US", "af": "af-ZA", "zh": "cmn-CN", "pt": "pt-BR", "vi": "vi-VN", "fi": "fi-FI"}
URL_RE = re.compile(r"^https://ivr\.example\.test/media/(?P<lang>[a-z]{2})/(?P<key>[a-z_0-9-]+)\.(?P<digest>[0-9a-f]{16})\.wav$")
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
def app_env(app_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Managers' recordings go to a folder of this test, never into the working tree."""
    return {**app_env, "IVR_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def overrides(app: Any) -> Path:
    return Path(app.config["SETTINGS"].data_dir) / "prompts"


# ---- test data, made at run time ---------------------------------------------------------------


def read_riff(data: bytes) -> tuple[dict[str, int], bytes]:
    """A minimal RIFF reader of our own, so the committed files are not judged by the code that wrote them."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", "no RIFF/WAVE header"
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8, "RIFF size does not match the file"
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid, size = struct.unpack_from("<4sI", data, pos)
        if cid == b"fmt ":
            tag, ch, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", data, pos + 8)
            fmt = {"tag": tag, "channels": ch, "rate": rate, "byte_rate": byte_rate, "align": align, "bits": bits}
        if cid == b"data":
            assert fmt is not None
            assert pos + 8 + size <= len(data), "data chunk runs past the end of the file"
            return fmt, data[pos + 8: pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def ulaw_decode(raw: bytes) -> np.ndarray:
    """G.711 mu-law to linear, from the standard's formula."""
    u = ~np.frombuffer(raw, dtype=np.uint8) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    magnitude -= 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.float64)


def twiml(response: Any) -> Any:
    return etree.fromstring(str(response).encode())


def url_parts(url: str) -> dict[str, str]:
    """lang, key and digest of a prompt URL; fails unless it is absolute under PUBLIC_BASE_URL and hashed."""
    m = URL_RE.match(url)
    assert m, f"{url} is not an absolute, hashed prompt URL"
    return m.groupdict()


def play_url(root: Any) -> str:
    plays = root.findall(".//Play")
    assert len(plays) == 1, etree.tostring(root)
    return str(plays[0].text)


# ---- the committed recordings --------------------------------------------------------------------

@pytest.mark.parametrize("lang", prompts.LANGUAGES)
def test_every_prompt_is_recorded_as_8khz_mono_mulaw_of_sane_length(lang: str) -> None:
    keys_ = prompts.all_recording_keys()
    assert set(prompts.PROMPT_IDS) - {"queue_position"} <= set(keys_)
    assert {f"queue_position-{n}" for n in prompts.RECORDED_POSITIONS} <= set(keys_)
    for key in keys_:
        path = AUDIO / lang / f"{key}.wav"
        assert path.exists(), f"{path} missing: run `ivr prompts build`"
        fmt, raw = read_riff(path.read_bytes())
        assert (fmt["tag"], fmt["bits"], fmt["channels"], fmt["rate"]) == (7, 8, 1, 8000), (path, fmt)
        assert fmt["byte_rate"] == 8000 and fmt["align"] == 1
        seconds = len(raw) / 8000
        assert 0.3 <= seconds <= 20, f"{path}: {seconds:.2f} s"
        samples = ulaw_decode(raw)
        assert np.abs(samples).max() > 3000, f"{path} is (nearly) silent"
        if key != prompts.TONE_ID:
            # Speech fills most of the file; a broken TTS run gives a click and silence.
            assert np.mean(np.abs(samples) > 500) > 0.2, f"{path} hardly contains speech"


def test_no_stray_recordings_and_total_size_is_small() -> None:
    expected = {f"{lang}/{key}.wav" for lang in prompts.LANGUAGES for key in prompts.all_recording_keys()}
    found = {str(p.relative_to(AUDIO)) for p in AUDIO.rglob("*") if p.is_file()}
    assert found == expected
    # 32 prompts in six languages at 8 KB a second: about 8.4 MB with the contact restrictions' notice and voicemail
    assert sum((AUDIO / name).stat().st_size for name in found) < 10_000_000


def test_manifest_matches_texts_and_files() -> None:
    """A text edited without `ivr prompts build` (or a hand-replaced file) fails here."""
    assert prompt_build.verify() == []
    manifest = json.loads(prompts.MANIFEST.read_text(encoding="utf-8"))
    entry = manifest["recordings"]["fi"]["analysis_start"]
    assert entry["sha256"] == hashlib.sha256((AUDIO / "fi" / "analysis_start.wav").read_bytes()).hexdigest()


def test_texts_are_complete_and_translated() -> None:
    english = prompts.texts("en")
    assert english["analysis_start"].startswith("You have entered the automatic caller analysis system")
    for lang in prompts.LANGUAGES:
        texts = prompts.texts(lang)
        assert set(texts) == set(prompts.PROMPT_IDS)
        assert "{position}" in texts["queue_position"]
        assert prompts.text("queue_position", lang, position=4).count("4") == 1
        if lang != "en":
            same = [p for p in prompts.PROMPT_IDS if texts[p] == english[p]]
            assert not same, f"{lang} still has English text for {same}"
        for prompt_id in ("overflow_long_wait", "overflow_closed", "overflow_no_agent"):
            assert "1" in texts[prompt_id], f"{lang}/{prompt_id} must name key 1"
        assert all(d in texts["agent_flag_menu"] for d in "9123"), lang


@pytest.mark.parametrize("lang", prompts.LANGUAGES)
def test_signal_tone_is_the_three_sit_frequencies_in_order(lang: str) -> None:
    fmt, raw = read_riff((AUDIO / lang / "signal_tone.wav").read_bytes())
    x = ulaw_decode(raw)
    rate = fmt["rate"]
    # Whole file: the three strongest spectral peaks are the SIT frequencies.
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    peaks = []
    for _ in range(3):
        i = int(np.argmax(spectrum))
        peaks.append(freqs[i])
        spectrum[max(0, i - 40): i + 40] = 0
    assert sorted(peaks) == pytest.approx(sorted(SIT), abs=4.0)
    # Segment by segment: each tone burst is one frequency, in the standard order.
    loud = np.abs(x) > 1000
    starts = np.flatnonzero(loud)
    first, last = starts[0], starts[-1]
    assert (last - first) / rate == pytest.approx(0.99, abs=0.05)
    seg = (last - first) // 3
    for k, expected in enumerate(SIT):
        part = x[first + k * seg + seg // 10: first + (k + 1) * seg - seg // 10]
        spec = np.abs(np.fft.rfft(part * np.hanning(len(part)), n=8 * len(part)))
        peak = np.fft.rfftfreq(8 * len(part), 1 / rate)[int(np.argmax(spec))]
        assert peak == pytest.approx(expected, abs=3.0), f"segment {k + 1}"


def test_mulaw_encoder_round_trips_within_quantisation_error() -> None:
    for sample in (0, 1, -1, 100, -100, 1000, -5000, 20000, -32768, 32767):
        decoded = int(ulaw_decode(bytes([linear_to_ulaw(sample)]))[0])
        assert abs(decoded - max(-32124, min(32124, sample))) <= max(8, abs(sample) // 16), sample


# ---- <Play>, <Say> and the serving route ----------------------------------------------------------

@pytest.mark.parametrize("lang", prompts.LANGUAGES)
def test_isolation_sequence_plays_start_pause_tone_complete(app: Any, lang: str) -> None:
    with app.test_request_context():
        r = VoiceResponse()
        media.isolation_sequence(r, lang)
    root = twiml(r)
    assert [child.tag for child in root] == ["Play", "Pause", "Play", "Play"]
    assert root[1].get("length") == "2"
    found = [url_parts(str(child.text)) for child in root if child.tag == "Play"]
    assert [(m["lang"], m["key"]) for m in found] == [
        (lang, "analysis_start"), (lang, "signal_tone"), (lang, "analysis_complete")]


def test_play_url_is_absolute_hashed_and_served_with_cache_headers(app: Any, client: Any) -> None:
    with app.test_request_context():
        r = VoiceResponse()
        media.play(r, "analysis_start", "fi")
    url = play_url(twiml(r))
    m = url_parts(url)
    assert m["lang"] == "fi" and m["key"] == "analysis_start"
    body = (AUDIO / "fi" / "analysis_start.wav").read_bytes()
    assert m["digest"] == hashlib.sha256(body).hexdigest()[:16]

    path = url[len(BASE_URL):]
    resp = client.get(path)  # no signature: Twilio fetches media unsigned
    assert resp.status_code == 200
    assert resp.mimetype == "audio/wav"
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.headers["ETag"] == f'"{m["digest"]}"'
    assert resp.data == body
    assert int(resp.headers["Content-Length"]) == len(body)
    again = client.get(path, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    head = client.head(path)
    assert head.status_code == 200 and not head.data


def test_serving_route_refuses_wrong_hash_language_and_prompt(client: Any) -> None:
    good = hashlib.sha256((AUDIO / "en" / "goodbye.wav").read_bytes()).hexdigest()[:16]
    assert client.get(f"/media/en/goodbye.{good}.wav").status_code == 200
    stale = client.get("/media/en/goodbye.0123456789abcdef.wav")
    assert stale.status_code == 404
    assert "replaced" in stale.get_data(as_text=True) and good in stale.get_data(as_text=True)
    wrong_lang = client.get(f"/media/xx/goodbye.{good}.wav")
    assert wrong_lang.status_code == 404 and "en, af, zh, pt, vi, fi" in wrong_lang.get_data(as_text=True)
    wrong_prompt = client.get(f"/media/en/nonsense.{good}.wav")
    assert wrong_prompt.status_code == 404 and "No prompt 'nonsense'" in wrong_prompt.get_data(as_text=True)


def test_play_fits_gather_and_falls_back_to_english_for_unknown_language(app: Any) -> None:
    with app.test_request_context():
        r = VoiceResponse()
        g = Gather(num_digits=1)
        media.play(g, "agent_flag_menu", "vi")
        r.append(g)
        media.play(r, "goodbye", "xx")
    root = twiml(r)
    assert url_parts(root.find("Gather/Play").text)["key"] == "agent_flag_menu"
    assert url_parts(root.find("Play").text)["lang"] == "en"


def test_play_refuses_unknown_prompt_and_bad_values(app: Any) -> None:
    with app.test_request_context():
        r = VoiceResponse()
        with pytest.raises(ValueError, match="unknown prompt 'nope'"):
            media.play(r, "nope", "en")
        with pytest.raises(ValueError, match="position=N"):
            media.play(r, "queue_position", "en")
        with pytest.raises(ValueError, match="1 or more"):
            media.play(r, "queue_position", "en", position=0)
        with pytest.raises(ValueError, match="takes no values"):
            media.play(r, "goodbye", "en", position=2)
    assert len(r.verbs) == 0


@pytest.mark.parametrize("lang", prompts.LANGUAGES)
def test_queue_position_recorded_for_small_numbers_spoken_beyond(app: Any, lang: str) -> None:
    with app.test_request_context():
        r = VoiceResponse()
        media.play(r, "queue_position", lang, position=3)
        media.play(r, "queue_position", lang, position=27)
    root = twiml(r)
    assert [c.tag for c in root] == ["Play", "Say"]
    assert url_parts(root[0].text)["key"] == "queue_position-3"
    assert root[1].text == prompts.text("queue_position", lang, position=27)
    assert root[1].get("language") == SAY_LANGUAGES[lang]
    assert root[1].get("voice") == prompts.voice(lang).say_voice


@pytest.mark.parametrize("lang", prompts.LANGUAGES)
def test_missing_recordings_fall_back_to_say_with_a_voice_of_the_language(
        app: Any, lang: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "SHIPPED_DIR", tmp_path / "empty")
    with app.test_request_context():
        r = VoiceResponse()
        media.isolation_sequence(r, lang)
        media.play(r, "line_fault", lang)
    root = twiml(r)
    assert [c.tag for c in root] == ["Say", "Pause", "Say", "Say", "Say"]
    says = [c for c in root if c.tag == "Say"]
    assert [s.text for s in says] == [prompts.text(p, lang) for p in
                                      ("analysis_start", "signal_tone", "analysis_complete", "line_fault")]
    for say in says:
        assert say.get("language") == SAY_LANGUAGES[lang]
        voice = say.get("voice")
        # A voice Twilio lists for that language: Google.<locale>-... or a Polly voice of the locale.
        assert voice.startswith((f"Google.{SAY_LANGUAGES[lang]}-", "Polly.")), voice
        assert all(say.text.strip() for say in says)


# ---- the line's language ---------------------------------------------------------------------------

def _screened_language(twilio: Any, line: str, country: str) -> str:
    """The language the screen chose for a call, as the caller's next URLs carry it."""
    from urllib.parse import parse_qs, urlsplit

    from tests.support.twilio_player import call_sid

    reply = twilio.incoming(call_sid(), "+14155550123", line, FromCountry=country)
    return parse_qs(urlsplit(reply.first("Enqueue").get("waitUrl")).query)["lang"][0]


def test_the_screen_picks_line_override_setting_country_then_default(app: Any, twilio: Any,
                                                                      redis_conn: redis.Redis) -> None:
    from tests.support.app import change_settings

    change_settings(app, line_languages={"+27215550100": "af"}, country_languages={"FI": "fi", "VN": "vi"})
    assert _screened_language(twilio, LINE, "US") == "en"
    assert _screened_language(twilio, LINE, "FI") == "fi"  # caller country, when the line names no language
    assert _screened_language(twilio, "+27215550100", "FI") == "af"  # the line's own language wins
    redis_conn.hset(keys.SETTINGS, "language", "pt")  # a manager's global default
    assert _screened_language(twilio, LINE, "US") == "pt"
    redis_conn.hset(keys.line("+27215550100"), "language", "zh")  # a manager's line override
    assert _screened_language(twilio, "+27215550100", "VN") == "zh"
    redis_conn.hset(keys.line(LINE), "language", "klingon")  # garbage is skipped, not played
    assert _screened_language(twilio, LINE, "VN") == "vi"


def test_with_redis_down_the_door_picks_the_language_from_the_settings(app_env: dict[str, str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr import create_app
    from ivr.cli.embedded import free_port
    from tests.support.constants import AUTH_TOKEN
    from tests.support.twilio_player import TwilioPlayer

    env = {**app_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "IVR_LINE_LANGUAGES": f"{LINE}=vi"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    twilio = TwilioPlayer(create_app().test_client(), AUTH_TOKEN, BASE_URL, env["TWILIO_ACCOUNT_SID"])
    assert _screened_language(twilio, LINE, "FI") == "vi"  # let through unscreened, in the line's language


# ---- managers' own recordings ----------------------------------------------------------------------

@pytest.mark.parametrize(("data", "reason"), [
    (pcm_wav(rate=16000), "sample rate is 16000 Hz; phone audio is 8000 Hz"),
    (pcm_wav(rate=44100), "sample rate is 44100 Hz"),
    (pcm_wav(channels=2), "2 channels; a phone line is mono"),
    (pcm_wav(seconds=61), "lasts 61.0 s; a prompt may last at most 60 s"),
    (pcm_wav(seconds=0.1), "lasts 0.10 s; a prompt must last at least 0.3 s"),
    (pcm_wav(amplitude=0.0), "silent"),
    (pcm_wav(width=1), "8-bit PCM; use 8-bit mu-law or 16-bit PCM"),
    (b"Hello, this is a text file, not audio at all.", "not a WAV file (no RIFF/WAVE header)"),
    (b"ID3\x03\x00\x00\x00" + bytes(200), "not a WAV file (it looks like MP3)"),
    (b"", "the file is empty"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt \x04\x00\x00\x00abcd", "format chunk is too short"),
    (pcm_wav()[:44 - 8] + b"LIST" + struct.pack("<I", 4) + b"INFO", "no audio data chunk"),
    (bytes(2_100_000), "at most 2 MB"),
])
def test_unusable_manager_recordings_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError) as exc:
        check_prompt(data)
    assert reason in str(exc.value)


def test_usable_manager_recordings_pass_in_both_formats() -> None:
    assert check_prompt(pcm_wav(seconds=2)).describe() == "16-bit PCM, 8000 Hz, mono, 2.00 s"
    tone = [int(8000 * math.sin(2 * math.pi * 500 * i / 8000)) for i in range(8000)]
    assert check_prompt(ulaw_wav(tone)).describe() == "mu-law, 8000 Hz, mono, 1.00 s"


def test_installed_recording_takes_precedence_and_gets_a_new_url(app: Any, client: Any, overrides: Path) -> None:
    from prompts import catalog as catalog_mod

    with app.test_request_context():
        r = VoiceResponse()
        media.play(r, "analysis_complete", "af")
        old = play_url(twiml(r))
        mine = pcm_wav(seconds=1.5, freq=600)
        dest, _info, digest = catalog_mod.install(overrides, "af", "analysis_complete", mine)
        media.catalog().invalidate()
        r = VoiceResponse()
        media.play(r, "analysis_complete", "af")
        new = play_url(twiml(r))
    assert dest == overrides / "af" / "analysis_complete.wav"
    assert old != new and url_parts(new)["digest"] == digest == hashlib.sha256(mine).hexdigest()[:16]
    assert client.get(new[len(BASE_URL):]).data == mine
    assert client.get(old[len(BASE_URL):]).status_code == 404  # Twilio's cached copy of the old URL stays valid


def test_file_dropped_in_the_folder_is_picked_up_and_a_bad_one_ignored(
        app: Any, overrides: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(media, "OVERRIDE_RECHECK_SECONDS", 0.0)
    folder = overrides / "pt"
    folder.mkdir(parents=True)

    def url() -> str:
        with app.test_request_context():
            r = VoiceResponse()
            media.play(r, "hold_agents", "pt")
        return play_url(twiml(r))

    shipped = url()
    (folder / "hold_agents.wav").write_bytes(pcm_wav(rate=22050))  # wrong rate: ignored, logged once
    assert url() == shipped
    assert url() == shipped
    assert sum("sample rate is 22050 Hz" in rec.getMessage() for rec in caplog.records) == 1
    good = pcm_wav(seconds=3, freq=350)
    (folder / "hold_agents.wav").write_bytes(good)
    assert url_parts(url())["digest"] == hashlib.sha256(good).hexdigest()[:16]
    (folder / "hold_agents.wav").unlink()
    assert url() == shipped


def test_cli_check_install_remove(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "data"))
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    good.write_bytes(pcm_wav(seconds=2))
    bad.write_bytes(pcm_wav(rate=48000))
    runner = CliRunner()

    ok = runner.invoke(prompts_cli, ["check", str(good)])
    assert ok.exit_code == 0 and "usable (16-bit PCM, 8000 Hz, mono, 2.00 s)" in ok.output
    refused = runner.invoke(prompts_cli, ["check", str(bad)])
    assert refused.exit_code == 1 and "sample rate is 48000 Hz" in refused.output and "sox" in refused.output

    not_installed = runner.invoke(prompts_cli, ["install", "goodbye", "fi", str(bad)])
    assert not_installed.exit_code == 1 and "was not installed" in not_installed.output
    assert not (tmp_path / "data" / "prompts" / "fi" / "goodbye.wav").exists()
    unknown = runner.invoke(prompts_cli, ["install", "welcome", "fi", str(good)])
    assert unknown.exit_code == 1 and "unknown prompt recording 'welcome'" in unknown.output
    wrong_lang = runner.invoke(prompts_cli, ["install", "goodbye", "de", str(good)])
    assert wrong_lang.exit_code == 1 and "unknown language 'de'" in wrong_lang.output

    installed = runner.invoke(prompts_cli, ["install", "goodbye", "fi", str(good)])
    assert installed.exit_code == 0, installed.output
    assert (tmp_path / "data" / "prompts" / "fi" / "goodbye.wav").read_bytes() == good.read_bytes()
    listed = runner.invoke(prompts_cli, ["list"])
    assert re.search(r"^fi\s+goodbye\s+override ", listed.output, re.M)
    assert re.search(r"^fi\s+line_fault\s+shipped ", listed.output, re.M)

    removed = runner.invoke(prompts_cli, ["remove", "goodbye", "fi"])
    assert removed.exit_code == 0 and not (tmp_path / "data" / "prompts" / "fi" / "goodbye.wav").exists()
    again = runner.invoke(prompts_cli, ["remove", "goodbye", "fi"])
    assert again.exit_code == 1 and "no manager recording" in again.output


def test_api_upload_replaces_a_prompt_and_delete_restores_it(app: Any, client: Any, redis_conn: redis.Redis) -> None:
    mine = pcm_wav(seconds=20, freq=500)  # 320 kB: far above the webhook body limit
    assert client.put("/api/prompts/zh/goodbye", data=mine).status_code == 401
    bad = client.put("/api/prompts/zh/goodbye", data=pcm_wav(channels=2), headers=AUTH)
    assert bad.status_code == 400 and "mono" in bad.get_json()["detail"]
    assert client.put("/api/prompts/zh/welcome", data=mine, headers=AUTH).status_code == 404

    up = client.put("/api/prompts/zh/goodbye?by=manager-ann", data=mine, headers=AUTH,
                    content_type="audio/wav")
    assert up.status_code == 201, up.get_json()
    body = up.get_json()
    assert body["source"] == "override" and body["format"] == "16-bit PCM, 8000 Hz, mono, 20.00 s"
    assert url_parts(body["url"])["digest"] == hashlib.sha256(mine).hexdigest()[:16]
    assert client.get(body["url"][len(BASE_URL):]).data == mine
    audit: Any = redis_conn.xrange(keys.AUDIT)
    assert audit[-1][1]["action"] == "prompt_install" and audit[-1][1]["by"] == "manager-ann"

    form = client.put("/api/prompts/zh/connecting", headers=AUTH,
                      data={"file": (io.BytesIO(pcm_wav(seconds=1)), "connecting.wav")})
    assert form.status_code == 201 and form.get_json()["source"] == "override"

    listing = {(p["lang"], p["prompt"]): p for p in client.get("/api/prompts", headers=AUTH).get_json()["prompts"]}
    assert listing[("zh", "goodbye")]["source"] == "override"
    assert listing[("zh", "line_fault")]["source"] == "shipped"

    gone = client.delete("/api/prompts/zh/goodbye", headers=AUTH)
    assert gone.status_code == 200 and gone.get_json()["source"] == "shipped"
    assert client.delete("/api/prompts/zh/goodbye", headers=AUTH).status_code == 404


def test_build_skips_unchanged_and_rebuilds_a_changed_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs without espeak-ng: an unchanged set needs no tools; a changed text asks for exactly that prompt."""
    audio, manifest = tmp_path / "audio", tmp_path / "manifest.json"
    for lang in ("en",):
        (audio / lang).mkdir(parents=True)
        for key in prompts.all_recording_keys():
            (audio / lang / f"{key}.wav").write_bytes((AUDIO / lang / f"{key}.wav").read_bytes())
    original = json.loads(prompts.MANIFEST.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({"recordings": {"en": original["recordings"]["en"]}}), encoding="utf-8")
    lines: list[str] = []
    report = prompt_build.build(["en"], progress=lines.append, audio_dir=audio, manifest_path=manifest)
    assert report.built == [] and len(report.unchanged) == len(prompts.all_recording_keys())
    assert lines[-1].startswith("0 built")

    asked: list[str] = []
    monkeypatch.setattr(prompt_build, "tool_versions", lambda: {"espeak-ng": "test", "sox": "test"})

    def fake_synthesise(text: str, voice: Any) -> bytes:
        asked.append(text)
        return ulaw_wav([int(9000 * math.sin(i / 3)) for i in range(16000)])

    monkeypatch.setattr(prompt_build, "synthesise", fake_synthesise)
    changed = {**prompts.texts("en"), "goodbye": "Thank you. Goodbye."}
    monkeypatch.setattr(prompts, "texts", lambda lang: changed)
    (audio / "en" / "obsolete_prompt.wav").write_bytes(b"old")
    report = prompt_build.build(["en"], progress=lines.append, audio_dir=audio, manifest_path=manifest)
    assert report.built == ["en/goodbye"] and asked == ["Thank you. Goodbye."]
    assert report.removed == ["en/obsolete_prompt"]
    entry = json.loads(manifest.read_text(encoding="utf-8"))["recordings"]["en"]["goodbye"]
    assert entry["sha256"] == hashlib.sha256((audio / "en" / "goodbye.wav").read_bytes()).hexdigest()
    assert any("en/goodbye: built (2.00 s" in line for line in lines)
