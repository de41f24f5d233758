"""The Lua scripts of the data model, one file each under blocklist/lua/.

Lua only where a read decides a write in one round trip. Each is registered once per client (a SHA1
per script, not per call); the file text is exactly what earlier versions sent, so their SHAs are the
same. What each takes:

- screen.lua: the webhook's one round trip (allowlist, blocks, ranges, withheld policy, burst, language);
  its own header lists KEYS and ARGV.
- flag.lua: a flag, idempotent per CallSid, with the sanction ladder's block; header in the file.
- remove_member.lua: remove one member of a shared hash (allowlist, range rules) and record it, in one
  step (a WATCH on the shared hash would make parallel removals retry each other until they give up).
  KEYS hash, audit stream[, index zset[, history list]]; ARGV member, history entry ('' for none), audit
  field/value pairs. Returns 1 when it was there (and is recorded), 0 when nothing was written.
- index_prefix_lengths.lua: build the prefix-lengths index from every rule in one step (a WATCH would give
  up while parallel adds change the rules). KEYS rules hash, lengths set; ARGV the "complete" marker.
- call_update.lua: set fields on a call only if it is known (a forged CallSid creates no key).
  KEYS call; ARGV field/value pairs.
- call_ended.lua: a status callback marks the end once and logs a `status` event. KEYS call, events;
  ARGV at, status, duration, CallSid.
- isolation_done.lua: isolation played or abandoned, one `isolation` event per call. KEYS call, events;
  ARGV at, outcome, CallSid.
- agent_gone.lua: the agent leg a caller was last bridged to ended. KEYS call; ARGV at, the leg's CallSid.
- agent_legs.lua: the latest leg of each of a desk user's phones (pointer, then leg) in one round trip.
- feed_sweep.lua: remove a feed's aged-out numbers from some of its buckets; header in the file.
- feed_adopt.lua: move a batch of adopted manager blocks out of the blocklist once their feed is in force, each
  only if it is still the block that was read (blocklist/feed_adopt.py); header in the file.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import redis


@cache
def source(name: str) -> str:
    """The text of blocklist/lua/<name>.lua."""
    return resources.files("blocklist").joinpath("lua", f"{name}.lua").read_text()


def register(connection: redis.Redis, name: str) -> Any:
    """The script registered on `connection` (EVALSHA, loaded again by redis-py if Redis lost it)."""
    return connection.register_script(source(name))
