"""A flag: idempotent per CallSid, the number blocked on the sanction ladder, in one script.

Two ways to run it: `FlagMixin.flag` (the script alone, one acknowledged round trip), and `FlagTransaction`,
which first reads what deciding who acts needs, then hands the script what must follow a new flag (the
caller's move, jobs) to run after it, so a desk flag costs two round trips in all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any

import redis
from redis.client import Pipeline
from redis.commands.core import Script

from blocklist import abuse, keys, scripts
from blocklist.base import BlocklistBase
from blocklist.calls import legs_script_call, parse_legs, text
from blocklist.clock import now_ms
from blocklist.entries import FlagResult
from blocklist.numbers import describe
from blocklist.policy import ladder_text
from blocklist.store import AckPipeline, ack_pipeline, aof_written_before_reply, parse_aof_info
from blocklist.text import clean_text

FLAG_ONCE_TTL_S = 30 * 86400


def flag_category(category: str, reason: str = "") -> str:
    """The abuse category a flag records: `category` checked against the taxonomy (ValueError naming the choices),
    or when none is given the category an older client's `reason` meant (abuse.LEGACY), else "other"."""
    if category:
        return abuse.category(category)
    return abuse.category(reason, default="other")


def _result(reply: Sequence[Any], via: str, call_sid: str) -> FlagResult:
    """flag.lua's answer {status, blocked or the first flag's via, until, step[, errors of what followed]} as a
    FlagResult; redis.ResponseError when some of what was to follow the flag failed (the flag itself is saved)."""
    status, blocked, until, step = (text(v) for v in reply[:4])
    if len(reply) > 4:
        failed = "; ".join(text(v) for v in reply[4:])
        raise redis.ResponseError(f"call {call_sid} is flagged, but {len(reply) - 4} of the writes that follow a "
                                  f"flag failed ({failed}): check Redis's log; the caller may need moving by hand")
    if status == "duplicate":
        return FlagResult("duplicate", False, None, 0, via=blocked)
    return FlagResult(status, blocked == "1", int(until) if until else None, int(step), via=via)


class FlagMixin(BlocklistBase):
    """Flags of calls by agents."""

    @cached_property
    def _agent_legs(self) -> Script:
        return scripts.register(self.r, "agent_legs")

    @cached_property
    def _flag_callbacks(self) -> Any:
        """The client's reply parsers, with INFO read as FlagTransaction needs it (parse_aof_info)."""
        callbacks = self.r.response_callbacks
        mine = type(callbacks)(callbacks)  # redis-py's CaseInsensitiveDict (or a plain dict): a copy
        mine["INFO"] = parse_aof_info
        return mine

    def _flag_call(self, number: str, *, call_sid: str, line: str, via: str, agent: str, reason: str, note: str,
                   extra: dict[str, str] | None, at: int | None, category: str = "",
                   follow: Sequence[Sequence[Any]] = ()) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of flag.lua for one flag (ValueError for a number, CallSid or category it must not take);
        `follow`: commands the script runs after a new flag, and only then."""
        self._inside(number)
        if not call_sid:
            raise ValueError("a flag names the call it is about: pass its CallSid")
        abuse_kind = flag_category(category, reason)
        ladder = ladder_text(self.policy.ladder)
        region, kind, carrier_name = describe(number)
        fields = {"region": region, "line_type": kind, "carrier": carrier_name, **(extra or {})}
        args: list[Any] = [
            number, at or now_ms(), via, clean_text(agent), clean_text(reason), clean_text(note, 2000),
            call_sid, ladder, line, FLAG_ONCE_TTL_S, abuse_kind, 2 * len(fields),
        ]
        for name, value in fields.items():
            args.extend((name, clean_text(value)))
        for command in follow:
            args.append(len(command))
            args.extend(command)
        script_keys = [keys.flag_once(call_sid), keys.block(keys.GLOBAL, number), keys.history(number), keys.STRIKES,
                       keys.EVENTS, keys.call(call_sid), keys.BLOCK_INDEX, keys.SETTINGS]
        return script_keys, args

    def flag(self, number: str, *, call_sid: str, line: str, via: str, agent: str, reason: str = "",
             note: str = "", extra: dict[str, str] | None = None, at: int | None = None,
             category: str = "") -> FlagResult:
        """Flag one call: idempotent per CallSid; blocks the number on the sanction ladder. `category`: the abuse
        category (blocklist/abuse.py; empty: read from a legacy `reason`, else "other")."""
        script_keys, args = self._flag_call(number, call_sid=call_sid, line=line, via=via, agent=agent,
                                            reason=reason, note=note, extra=extra, at=at, category=category)
        pipe = ack_pipeline(self.r, self.wait_replicas, self.wait_timeout_ms, transaction=False)
        self._flag(keys=script_keys, args=args, client=pipe)
        reply = pipe.execute()[0]
        self._acked(pipe)
        return _result(reply, via, call_sid)


@dataclass(frozen=True)
class FlagSight:
    """What the first round trip of a FlagTransaction read."""

    call: dict[str, str]  # empty: no such call
    flagged_via: str | None  # how the call was flagged already (key, desk); None: not flagged yet
    legs: list[tuple[str, dict[str, str]]]  # the latest leg of each phone identity asked for
    extra: list[Any]  # the replies of the caller's own read commands, in order


class _FlagPipeline(AckPipeline):
    """The flag's second round trip: the script, then INFO persistence, which may settle the AOF check."""

    def _execute_pipeline(self, connection: Any, commands: Any, raise_on_error: bool) -> list[Any]:
        data: list[Any] = super()._execute_pipeline(connection, commands, raise_on_error)
        if commands and commands[-1][0][:2] == ("INFO", "persistence") and isinstance(data[-1], dict):
            self.aof_in_batch = aof_written_before_reply(data[-1])
        return data


class FlagTransaction:
    """One flag of a live call in two round trips on one connection.

    1. `read`: what deciding needs: the call, whether it was flagged already, the latest legs of the acting
       user's phones, the caller's own reads, and whether the flag script is loaded.
    2. `commit`: the flag script, handed what only a new flag does (`also(pipe)`: the caller's move, RQ jobs,
       recorded on a pipeline that is never sent), which it runs after the flag and only if the flag is new;
       then INFO persistence. A flag of the same call made in between (the phone key and the desk at once)
       makes the script answer "duplicate" and write nothing.

    The connection goes back to the pool when the transaction closes (a `with` block).
    """

    def __init__(self, bl: FlagMixin, call_sid: str) -> None:
        self.bl = bl
        self.call_sid = call_sid
        self.pipe = _FlagPipeline(bl.r.connection_pool, bl._flag_callbacks, False, None)
        self.pipe.replicas, self.pipe.timeout_ms = bl.wait_replicas, bl.wait_timeout_ms

    def __enter__(self) -> FlagTransaction:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Give the connection back."""
        self.pipe.reset()

    def _send(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send `commands` in one write on the pipeline's own connection (kept for the commit: one checkout of
        the pool per flag); a reply that is an error comes back as the exception, in its place."""
        pipe = self.pipe
        if pipe.connection is None:
            pipe.connection = pipe.connection_pool.get_connection()
        conn = pipe.connection
        names = [" ".join(str(part) for part in command[:2]) if command[0] == "SCRIPT" else str(command[0])
                 for command in commands]
        replies: list[Any] = []
        callbacks = pipe.response_callbacks
        try:
            conn.send_packed_command(conn.pack_commands(commands))
            for name in names:
                try:
                    reply = conn.read_response()
                    parse = callbacks.get(name)
                    replies.append(parse(reply) if parse is not None else reply)
                except redis.ResponseError as exc:
                    replies.append(exc)
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()  # the pool makes a new one
            raise
        return replies

    def read(self, identities: Iterable[str] = (), extra: Sequence[tuple[Any, ...]] = ()) -> FlagSight:
        """Round trip 1: the call, its flag-once key, the phones' legs and `extra` reads."""
        once = keys.flag_once(self.call_sid)
        flag_sha, legs_sha = self.bl._flag.sha, self.bl._agent_legs.sha
        commands: list[tuple[Any, ...]] = [("HGETALL", keys.call(self.call_sid)), ("GET", once),
                                           ("SCRIPT", "EXISTS", flag_sha, legs_sha)]
        pointers, legs_args = legs_script_call(identities)
        if pointers:
            commands.append(("EVALSHA", legs_sha, len(pointers), *pointers, *legs_args))
        commands.extend(extra)
        replies = self._send(commands)
        loaded = replies[2]
        if isinstance(loaded, Exception):
            raise loaded
        if not all(loaded):  # Redis restarted or its scripts were flushed: load them, read again
            for script, present in zip((self.bl._flag, self.bl._agent_legs), loaded, strict=True):
                if not present:
                    self._send([("SCRIPT", "LOAD", script.script)])
            return self.read(identities, extra)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        call, flagged = replies[0], replies[1]
        rest = replies[3:]
        legs = parse_legs(rest.pop(0)) if pointers else []
        return FlagSight(dict(call), text(flagged) if flagged is not None else None, legs, rest)

    def commit(self, number: str, *, line: str, via: str, agent: str, reason: str = "", note: str = "",
               extra: dict[str, str] | None = None, also: Callable[[Pipeline], None] | None = None,
               at: int | None = None, category: str = "") -> FlagResult:
        """Round trip 2: the flag, and `also`'s commands after it when the flag is new (status "duplicate":
        the call was flagged meanwhile, and nothing was written). redis.ResponseError: the flag is saved, but
        some of `also`'s commands failed."""
        follow: list[tuple[Any, ...]] = []
        if also is not None:
            recorder = self.bl.r.pipeline(transaction=False)  # only records: never sent
            recorder.multi()  # as RQ wants a pipeline it is handed (it calls multi() on one that is not)
            also(recorder)
            follow = [tuple(command) for command, _options in recorder.command_stack]
            recorder.reset()
        script_keys, args = self.bl._flag_call(number, call_sid=self.call_sid, line=line, via=via, agent=agent,
                                               reason=reason, note=note, extra=extra, at=at, category=category,
                                               follow=follow)
        pipe = self.pipe
        # EVALSHA itself, not the Script object: that would cost a SCRIPT EXISTS round trip (read checked it).
        pipe.execute_command("EVALSHA", self.bl._flag.sha, len(script_keys), *script_keys, *args)
        pipe.execute_command("INFO", "persistence")
        replies = pipe.execute()
        self.bl._acked(pipe)
        return _result(replies[0], via, self.call_sid)
