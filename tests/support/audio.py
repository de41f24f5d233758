"""Audio made at run time: WAV files written by the stdlib, independent of the code under test."""

from __future__ import annotations

import io
import wave

import numpy as np


def pcm_wav(seconds: float = 1.0, rate: int = 8000, channels: int = 1, freq: float = 440.0,
            amplitude: float = 0.3, width: int = 2) -> bytes:
    """A sine tone as a PCM WAV file, written by the stdlib (independent of the code under test)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    mono = amplitude * np.sin(2 * np.pi * freq * t)
    frames = (mono * 32767).astype("<i2") if width == 2 else (mono * 127 + 128).astype("u1")
    frames = np.repeat(frames, channels)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return buf.getvalue()
