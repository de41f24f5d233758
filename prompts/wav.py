"""WAV files for prompts: read the RIFF header, check a recording is fit for a phone line, write mu-law.

Stdlib only (the `wave` module reads PCM but not the G.711 mu-law Twilio plays natively, and `audioop`
is gone from Python 3.13), so the app, the CLI and the tests share one reader.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 8000
MIN_SECONDS = 0.3
MAX_SECONDS = 60.0
# 60 s of 16-bit PCM at 8 kHz is 960 kB; leave room for headers and metadata chunks.
MAX_BYTES = 2_000_000
# Loudest sample below this (about -50 dBFS) means an empty or muted recording.
SILENCE_PEAK = 100

FORMAT_PCM = 0x0001
FORMAT_ALAW = 0x0006
FORMAT_MULAW = 0x0007
FORMAT_EXTENSIBLE = 0xFFFE
_FORMAT_NAMES = {FORMAT_PCM: "PCM", FORMAT_ALAW: "A-law", FORMAT_MULAW: "mu-law", 0x0003: "32-bit float",
                 0x0002: "ADPCM", 0x0011: "IMA ADPCM", 0x0055: "MP3"}
CONVERT_HINT = "convert it with: sox INPUT -r 8000 -c 1 -e u-law OUTPUT.wav"

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


@dataclass(frozen=True)
class WavInfo:
    """What a WAV header says, and where its samples are."""

    format_tag: int
    channels: int
    sample_rate: int
    bits: int
    block_align: int
    data_offset: int
    data_size: int

    @property
    def encoding(self) -> str:
        if self.format_tag == FORMAT_PCM:
            return f"{self.bits}-bit PCM"
        return _FORMAT_NAMES.get(self.format_tag, f"format 0x{self.format_tag:04x}")

    @property
    def frames(self) -> int:
        return self.data_size // self.block_align if self.block_align else 0

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    def describe(self) -> str:
        layout = "mono" if self.channels == 1 else f"{self.channels} channels"
        return f"{self.encoding}, {self.sample_rate} Hz, {layout}, {self.seconds:.2f} s"


def parse(data: bytes) -> WavInfo:
    """Read the RIFF/WAVE header; ValueError says what is wrong with the file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        kind = _sniff(data)
        raise ValueError(f"not a WAV file ({kind}); {CONVERT_HINT}")
    fmt: tuple[int, int, int, int, int] | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise ValueError("the WAV format chunk is too short: the file is damaged; export it again")
            tag, channels, rate, _byte_rate, align, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == FORMAT_EXTENSIBLE and size >= 26 and body + 26 <= len(data):
                tag = struct.unpack_from("<H", data, body + 24)[0]  # first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, align, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError("the WAV data comes before its format chunk: the file is damaged; export it again")
            # Streaming writers leave the size at 0 or 0xFFFFFFFF; the samples run to the end of the file.
            available = len(data) - body
            data_size = available if size in (0, 0xFFFFFFFF) else min(size, available)
            tag, channels, rate, align, bits = fmt
            return WavInfo(tag, channels, rate, bits, align, body, data_size)
        pos = body + size + (size & 1)
    if fmt is None:
        raise ValueError("the WAV file has no format chunk: the file is damaged; export it again")
    raise ValueError("the WAV file has no audio data chunk: the file is damaged or empty; export it again")


def _sniff(data: bytes) -> str:
    if not data:
        return "the file is empty"
    if data[:3] == b"ID3" or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "it looks like MP3"
    if data[:4] == b"OggS":
        return "it looks like Ogg"
    if data[4:8] == b"ftyp":
        return "it looks like MP4/M4A"
    if data[:4] == b"fLaC":
        return "it looks like FLAC"
    return "no RIFF/WAVE header"


def samples(data: bytes, info: WavInfo) -> array:
    """The samples of a mono 16-bit PCM or mu-law file as signed 16-bit integers."""
    raw = data[info.data_offset: info.data_offset + info.data_size]
    if info.format_tag == FORMAT_MULAW and info.bits == 8:
        table = ULAW_TO_LINEAR
        return array("h", (table[b] for b in raw))
    if info.format_tag == FORMAT_PCM and info.bits == 16:
        out = array("h")
        out.frombytes(raw[: len(raw) - len(raw) % 2])
        if sys.byteorder == "big":
            out.byteswap()
        return out
    raise ValueError(f"cannot decode {info.encoding}: use 16-bit PCM or mu-law; {CONVERT_HINT}")


def check_prompt(data: bytes, *, max_seconds: float = MAX_SECONDS) -> WavInfo:
    """Accept a recording Twilio can play on a phone line, or raise ValueError with the reason and the fix."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"the file is {len(data) / 1e6:.1f} MB; a prompt may be at most {MAX_BYTES / 1e6:.0f} MB "
                         f"({max_seconds:.0f} s of 8 kHz audio)")
    info = parse(data)
    if not (info.format_tag == FORMAT_MULAW and info.bits == 8) and not (info.format_tag == FORMAT_PCM
                                                                         and info.bits == 16):
        raise ValueError(f"the audio is {info.encoding}; use 8-bit mu-law or 16-bit PCM: {CONVERT_HINT}")
    if info.channels != 1:
        raise ValueError(f"the audio has {info.channels} channels; a phone line is mono: {CONVERT_HINT}")
    if info.sample_rate != SAMPLE_RATE:
        raise ValueError(f"the sample rate is {info.sample_rate} Hz; phone audio is {SAMPLE_RATE} Hz: {CONVERT_HINT}")
    if info.block_align != info.bits // 8:
        raise ValueError(f"the WAV header is inconsistent (block align {info.block_align} for {info.encoding}); "
                         f"export it again: {CONVERT_HINT}")
    if info.seconds < MIN_SECONDS:
        raise ValueError(f"the recording lasts {info.seconds:.2f} s; a prompt must last at least {MIN_SECONDS} s")
    if info.seconds > max_seconds:
        raise ValueError(f"the recording lasts {info.seconds:.1f} s; a prompt may last at most {max_seconds:.0f} s: "
                         "trim it (e.g. sox IN.wav OUT.wav trim 0 60)")
    peak = max((abs(s) for s in samples(data, info)), default=0)
    if peak < SILENCE_PEAK:
        level = 20 * math.log10(peak / 32768) if peak else -math.inf
        raise ValueError(f"the recording is silent (loudest sample {level:.0f} dBFS); record it again louder")
    return info


def linear_to_ulaw(sample: int) -> int:
    """One signed 16-bit sample as a G.711 mu-law byte."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, _ULAW_CLIP) + _ULAW_BIAS
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_to_linear(byte: int) -> int:
    u = ~byte & 0xFF
    magnitude = (((u & 0x0F) << 3) + _ULAW_BIAS) << ((u >> 4) & 0x07)
    magnitude -= _ULAW_BIAS
    return -magnitude if u & 0x80 else magnitude


ULAW_TO_LINEAR: tuple[int, ...] = tuple(_ulaw_to_linear(b) for b in range(256))


def ulaw_wav(pcm: Iterable[int], sample_rate: int = SAMPLE_RATE) -> bytes:
    """A mono mu-law WAV file (fmt, fact and data chunks, as sox writes it) from 16-bit samples."""
    body = bytes(linear_to_ulaw(int(s)) for s in pcm)
    fmt = struct.pack("<HHIIHHH", FORMAT_MULAW, 1, sample_rate, sample_rate, 1, 8, 0)
    chunks = (
        b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"fact" + struct.pack("<II", 4, len(body))
        + b"data" + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")
    )
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def read(path: Path) -> tuple[WavInfo, bytes]:
    data = path.read_bytes()
    return parse(data), data
