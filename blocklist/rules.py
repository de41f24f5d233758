"""The blocklist, allowlist, prefix rules and the screen, on Redis.

Screening and flagging are read-decide-write, so each runs as one Lua script (one round trip);
every other multi-key write is one MULTI/EXEC pipeline. History is append-only.

`Blocklist` is the whole, made of one part per family of data (each in its own module, all on the
shared state of blocklist/base.py), so its callers see one object, as before the split.
"""

from __future__ import annotations

from typing import Any

import redis

from blocklist.allowlist import AllowlistMixin
from blocklist.blocks import BlockMixin
from blocklist.feeds import FeedsMixin
from blocklist.flags import FlagMixin
from blocklist.line_settings import LineSettingsMixin
from blocklist.policy import Policy
from blocklist.prefixes import PrefixMixin
from blocklist.restrictions import RestrictionsMixin
from blocklist.screen import ScreenMixin


class Blocklist(ScreenMixin, FlagMixin, BlockMixin, AllowlistMixin, PrefixMixin, LineSettingsMixin, FeedsMixin,
                RestrictionsMixin):
    """All screening data of one Redis database."""


def for_settings(connection: redis.Redis, settings: Any) -> Blocklist:
    """A Blocklist configured from the service's Settings (policy, region, replica acknowledgement)."""
    return Blocklist(connection, Policy.from_settings(settings), settings.default_region,
                     wait_replicas=settings.wait_replicas, wait_timeout_ms=settings.wait_timeout_ms)
