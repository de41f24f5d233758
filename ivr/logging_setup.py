"""Logging: one format, numbers masked unless IVR_LOG_NUMBERS=full."""

from __future__ import annotations

import logging
import re

from blocklist.numbers import mask
from blocklist.settings import Settings

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class MaskNumbers(logging.Filter):
    """Replace E.164 numbers in log records with their masked form."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _E164.sub(lambda m: mask(m.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def rq_level(settings: Settings) -> str:
    """rq's own loggers: its per-job and maintenance lines only at debug, else its warnings and errors."""
    return {"debug": "INFO", "error": "ERROR"}.get(settings.log_level, "WARNING")


def configure_logging(settings: Settings) -> None:
    logger = logging.getLogger("ivr")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(settings.log_level.upper())
    for f in list(logger.filters):
        if isinstance(f, MaskNumbers):
            logger.removeFilter(f)
    for h in logger.handlers:
        for f in list(h.filters):
            if isinstance(f, MaskNumbers):
                h.removeFilter(f)
        if settings.log_numbers == "masked":
            h.addFilter(MaskNumbers())
