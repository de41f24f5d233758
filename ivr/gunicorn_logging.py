"""gunicorn's access log with phone numbers masked (IVR_LOG_NUMBERS=masked): paths, query strings and
referers carry numbers (`/desk/numbers/%2B14155550123`, `/api/check?number=%2B1415...`)."""

from __future__ import annotations

import os
import re
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


class MaskedLogger(Logger):
    """gunicorn's logger; with IVR_LOG_NUMBERS=masked (the default) the access log masks numbers."""

    masked = ({**read_settings_file(os.environ), **os.environ}.get("IVR_LOG_NUMBERS") or "masked").strip().lower() != "full"

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        if self.masked:
            for name in _MASKED_ATOMS:
                value = atoms.get(name)
                if isinstance(value, str):
                    atoms[name] = mask_numbers(value)
        return atoms
