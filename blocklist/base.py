"""What every part of the Blocklist shares: the connection, the policy, the scripts, acknowledged writes,
the normalisation of numbers and scopes, and the two safe ways to change a shared key."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import redis

from blocklist import keys, scripts
from blocklist.numbers import WITHHELD, normalize
from blocklist.policy import TREATMENTS, Policy
from blocklist.store import AckPipeline, FastScript, ack_pipeline

log = logging.getLogger("ivr.blocklist")
WATCH_RETRIES = 5
# Inside, a caller is E.164 or WITHHELD: the last guard before anything is keyed on it.
_INSIDE_NUMBER = re.compile(r"^(?:\+[1-9][0-9]{1,14}|anonymous)$")


class BlocklistBase:
    """The state and helpers the Blocklist's parts (screen, flags, blocks, allowlist, ranges, line
    settings) build on; see blocklist/rules.py for the whole."""

    def __init__(self, connection: redis.Redis, policy: Policy | None = None, default_region: str = "US",
                 wait_replicas: int = 0, wait_timeout_ms: int = 500) -> None:
        self.r = connection
        self.policy = policy or Policy()
        self.default_region = default_region
        self._screen = FastScript(scripts.register(connection, "screen"))
        self._flag = scripts.register(connection, "flag")
        self._remove_member = scripts.register(connection, "remove_member")
        self._index_prefix_lengths = scripts.register(connection, "index_prefix_lengths")
        self._feed_sweep = scripts.register(connection, "feed_sweep")
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.last_acknowledged: int | None = None

    def _pipeline(self) -> AckPipeline:
        """A MULTI/EXEC pipeline whose writes wait for IVR_WAIT_REPLICAS replicas where there are replicas."""
        return ack_pipeline(self.r, self.wait_replicas, self.wait_timeout_ms)

    def _acked(self, pipe: AckPipeline) -> None:
        self.last_acknowledged = pipe.acknowledged
        if pipe.aof_ok is False:
            log.warning("Redis had not written its AOF within %ss of a flag: the flag is in memory and will be "
                        "in the AOF shortly, but a Redis crash right now could lose it", 3)
        if self.wait_replicas and (pipe.acknowledged or 0) < self.wait_replicas:
            log.warning("write acknowledged by %s of %s replicas within %s ms: it is on the primary (AOF) but "
                        "a failover now could lose it", pipe.acknowledged, self.wait_replicas, self.wait_timeout_ms)

    # ---- normalisation -------------------------------------------------------------------
    def number(self, raw: str) -> str:
        """E.164 or WITHHELD; ValueError with the reason for garbage."""
        return normalize(raw, self.default_region)

    def _identity(self, raw: str) -> str:
        number = self.number(raw)
        if number == WITHHELD:
            raise ValueError("a withheld caller ID is not an identity and cannot be listed; block it by policy instead")
        return number

    def line_scope(self, raw: str | None) -> str:
        """A scope as stored: '*' for all lines (empty or '*'), else the line's E.164; ValueError otherwise."""
        return self._scope(raw, self.default_region)

    @staticmethod
    def _inside(number: str) -> str:
        if not isinstance(number, str) or not _INSIDE_NUMBER.match(number):
            raise ValueError(f"{str(number)[:32]!r} is not a normalised number (E.164 or {WITHHELD!r}); "
                             "normalise it with blocklist.numbers.normalize first")
        return number

    @staticmethod
    def _scope(scope: str | None, region: str = "US") -> str:
        if not scope or scope == keys.GLOBAL:
            return keys.GLOBAL
        number = normalize(scope, region)
        if number == WITHHELD:
            raise ValueError("a line is a phone number (the To number), not a withheld ID")
        return number

    @staticmethod
    def _treatment(treatment: str | None) -> str:
        if not treatment:
            return ""
        if treatment not in TREATMENTS:
            raise ValueError(f"treatment {treatment!r} unknown: use one of {', '.join(TREATMENTS)}")
        return treatment

    def _watched(self, key: str, work: Any) -> Any:
        """Run read-then-MULTI `work(pipe)` under WATCH on `key`, retrying if a flag or expiry raced it."""
        for _attempt in range(WATCH_RETRIES):
            with self._pipeline() as pipe:
                try:
                    pipe.watch(key)
                    return work(pipe)
                except redis.WatchError:
                    continue
        raise RuntimeError(f"{key} kept changing while being updated; try again")

    def _remove(self, hash_key: str, member: str, audit: dict[str, Any], index: str = "",
                history: tuple[str, str] | None = None) -> bool:
        """Remove `member` from a shared hash and record it (see _REMOVE_MEMBER); False when it was not there."""
        script_keys = [hash_key, keys.AUDIT, *([index] if index else []), *([history[0]] if history else [])]
        if history and not index:
            raise ValueError("a history entry needs the index key before it")
        args: list[Any] = [member, history[1] if history else ""]
        for name, value in audit.items():
            args.extend((name, "" if value is None else str(value)))
        pipe = self._pipeline()
        self._remove_member(keys=script_keys, args=args, client=pipe)
        removed = bool(pipe.execute()[0])
        self._acked(pipe)
        return removed

    def _history_entry(self, pipe: Any, number: str, **entry: Any) -> None:
        pipe.rpush(keys.history(number), json.dumps(entry, sort_keys=True))
