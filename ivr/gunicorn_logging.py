"""gunicorn's access log with phone numbers masked (IVR_LOG_NUMBERS=masked): paths, query strings and
referers carry numbers (`/desk/numbers/%2B14155550123`, `/api/check?number=%2B1415...`)."""

from __future__ import annotations

import os
import re
import time
import traceback
from collections.abc import Callable
from typing import Any

from gunicorn.glogging import Logger

from blocklist.numbers import mask
from blocklist.settings import read_settings_file

# '+' written plainly, percent-encoded, or (in a query string) as the space an unencoded '+' becomes;
# a CallSid's hex digits never follow one of these.
_NUMBER = re.compile(r"(\+|%2[Bb]|(?<=[=/])%20| (?=[1-9]))([1-9][0-9]{6,14})")
_MASKED_ATOMS = ("r", "U", "q", "f", "{raw_uri}e", "{path_info}e", "{query_string}e", "{http_referer}e",
                 "{referer}i")


def mask_numbers(text: str) -> str:
    """Every phone number in `text` masked like the application's own logs ('+1415555****')."""
    return _NUMBER.sub(lambda m: m.group(1) + mask("+" + m.group(2))[1:], text)


# The atoms of gunicorn's access log that are not a header or an environ entry ('{name}i/o/e'): a format naming
# no header or environ entry is written from just the atoms it names; any other goes through gunicorn's atoms().
_ATOM_NAMES = re.compile(r"%\(([^)]*)\)")


def _status(resp: Any, environ: Any, rt: Any) -> Any:
    status = resp.status
    return status.split(None, 1)[0] if isinstance(status, str) else status


def _sent(resp: Any) -> Any:
    return getattr(resp, "sent", None)


_LEAN: dict[str, Callable[[Any, Any, Any], Any]] = {
    "h": lambda resp, environ, rt: environ.get("REMOTE_ADDR", "-"),
    "l": lambda resp, environ, rt: "-",
    "r": lambda resp, environ, rt: f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}",
    "s": _status,
    "m": lambda resp, environ, rt: environ.get("REQUEST_METHOD"),
    "U": lambda resp, environ, rt: environ.get("PATH_INFO"),
    "q": lambda resp, environ, rt: environ.get("QUERY_STRING"),
    "H": lambda resp, environ, rt: environ.get("SERVER_PROTOCOL"),
    "b": lambda resp, environ, rt: str(_sent(resp)) if _sent(resp) is not None else "-",
    "B": lambda resp, environ, rt: _sent(resp),
    "f": lambda resp, environ, rt: environ.get("HTTP_REFERER", "-"),
    "a": lambda resp, environ, rt: environ.get("HTTP_USER_AGENT", "-"),
    "T": lambda resp, environ, rt: rt.seconds,
    "D": lambda resp, environ, rt: rt.seconds * 1000000 + rt.microseconds,
    "M": lambda resp, environ, rt: rt.seconds * 1000 + int(rt.microseconds / 1000),
    "L": lambda resp, environ, rt: f"{rt.seconds:d}.{rt.microseconds:06d}",
    "p": lambda resp, environ, rt: f"<{os.getpid()}>",
}  # and "u" and "t", which need the logger (_get_user, now)


class MaskedLogger(Logger):
    """gunicorn's logger; with IVR_LOG_NUMBERS=masked (the default) the access log masks numbers.

    Each access line is written from only the atoms its format names, where the format names none but the
    fixed ones (gunicorn's default does): gunicorn's own atoms() builds and escapes every header and environ
    entry of the request, about a tenth of a webhook's CPU, for a line that prints nine of them. The line is
    the same (tests/ivr/test_access_log.py holds it to gunicorn's own for every fixed atom).
    """

    masked = ({**read_settings_file(os.environ), **os.environ}.get("IVR_LOG_NUMBERS") or "masked").strip().lower() != "full"

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        names = _ATOM_NAMES.findall(cfg.access_log_format or "")
        # '{name}i/o/e' names a header or environ entry; any other name gunicorn does not make prints '-' either way
        lean = not any(name.startswith("{") for name in names) and hasattr(self, "access_log_enabled")
        self._lean_names: tuple[str, ...] | None = tuple(dict.fromkeys(names)) if lean else None
        self._clock: tuple[int, str] = (-1, "")

    def now(self) -> str:
        """The time as gunicorn writes it ('[07/Dec/2026:05:14:12 +0000]'), made once a second."""
        second = int(time.time())
        if second != self._clock[0]:
            self._clock = (second, time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second)))
        return self._clock[1]

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        names = self._lean_names
        if names is None:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        try:
            atoms: dict[str, Any] = {}
            for name in names:
                if name == "u":
                    atoms[name] = self._get_user(environ) or "-"
                elif name == "t":
                    atoms[name] = self.now()
                elif name in _LEAN:
                    atoms[name] = _LEAN[name](resp, environ, request_time)
            if self.masked:
                for name in names:
                    value = atoms.get(name)
                    if name in _MASKED_ATOMS and isinstance(value, str):
                        atoms[name] = mask_numbers(value)
            self.access_log.info(self.cfg.access_log_format, self.atoms_wrapper_class(atoms))
        except Exception:
            self.error(traceback.format_exc())

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        if self.masked:
            for name in _MASKED_ATOMS:
                value = atoms.get(name)
                if isinstance(value, str):
                    atoms[name] = mask_numbers(value)
        return atoms
