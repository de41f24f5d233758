"""Bench data: distinct realistic numbers, the blocklist and prefix rules loaded in the product's own key
format, and files of pre-signed requests that the load generator replays."""

from __future__ import annotations

import json
import math
import random
import secrets
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import phonenumbers
import redis
from twilio.request_validator import RequestValidator

from blocklist import keys
from blocklist.entries import Entry
from blocklist.numbers import describe
from blocklist.rules import Blocklist
from ivr.simulate.addons import ICEHOOK, NOMOROBO, addons_payload

LINE = "+18005551212"  # the toll-free line every bench call comes in on
ACCOUNT_SID = "AC" + "b" * 32
STATES = ("CA", "NY", "TX", "IL", "WA", "FL", "MA", "GA", "OH", "AZ")
CITIES = ("SAN FRANCISCO", "NEW YORK", "AUSTIN", "CHICAGO", "SEATTLE", "MIAMI", "BOSTON", "ATLANTA")


def us_area_codes() -> list[int]:
    """NANP area codes phonenumbers knows as US geographic (fixed or mobile) codes: a few hundred."""
    found = []
    geographic = phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
    for npa in range(201, 990):
        number = phonenumbers.parse(f"+1{npa}2345678", None)
        if (phonenumbers.region_code_for_number(number) == "US"
                and phonenumbers.number_type(number) == geographic):
            found.append(npa)
    return found


@dataclass(frozen=True)
class NumberPlan:
    """Disjoint pools of US numbers: blocked numbers, prefix-rule ranges, and callers who match nothing.

    The space is area code x exchange (200-999) x line (0000-9999). Prefix rules cover whole exchanges
    (`+1NPANXX`); callers come only from exchanges no rule covers and are never on the list, so a
    screen of them walks every rule and finds nothing (the most expensive, and the usual, path).
    """

    area_codes: tuple[int, ...]
    seed: int = 20240601

    @classmethod
    def build(cls, seed: int = 20240601) -> NumberPlan:
        return cls(tuple(us_area_codes()), seed)

    @property
    def exchanges(self) -> int:
        return len(self.area_codes) * 800

    def exchange(self, index: int) -> str:
        """'+1NPANXX' of exchange number `index`."""
        npa = self.area_codes[index // 800]
        return f"+1{npa}{200 + index % 800}"

    def prefix_exchanges(self, count: int) -> list[int]:
        """Exchanges that prefix rules cover (every other exchange is caller territory)."""
        rng = random.Random(self.seed + 1)
        return sorted(rng.sample(range(self.exchanges), count))

    def blocked_numbers(self, count: int, ruled: set[int]) -> Iterator[str]:
        """`count` distinct numbers, outside the prefix-ruled exchanges, spread over every area code."""
        rng = random.Random(self.seed + 2)
        produced = 0
        # Blocked numbers use even line numbers, callers odd ones: the pools never meet. random.sample
        # over a range is lazy in memory; ask for more than needed to skip the ruled exchanges.
        for value in rng.sample(range(self.exchanges * 5000), int(count * 1.1) + 1000):
            ex = value // 5000
            if ex in ruled:
                continue
            yield f"{self.exchange(ex)}{value % 5000 * 2:04d}"
            produced += 1
            if produced == count:
                return
        raise RuntimeError("number plan too small for the requested list")

    def feed_numbers(self, count: int, ruled: set[int]) -> Iterator[str]:
        """`count` distinct numbers for a bulk feed (even line numbers, so never a caller), outside the ruled
        exchanges: a fixed permutation of the number space, streamed (ten million without a set in memory).
        The first n of a longer run are the n of a shorter one, so a bigger version replaces a smaller one."""
        space = self.exchanges * 5000
        step = 1_000_003  # coprime with the space: i -> (i * step + offset) % space is one-to-one
        while math.gcd(step, space) != 1:
            step += 2
        offset = self.seed % space
        produced = 0
        for i in range(space):
            value = (i * step + offset) % space
            ex = value // 5000
            if ex in ruled:
                continue
            yield f"{self.exchange(ex)}{value % 5000 * 2:04d}"
            produced += 1
            if produced == count:
                return
        raise RuntimeError("number plan too small for the requested feed")

    def callers(self, count: int, ruled: set[int], salt: int) -> list[str]:
        """`count` distinct caller numbers that no blocklist entry or prefix rule matches."""
        rng = random.Random(self.seed + 1000 + salt)
        out: list[str] = []
        seen: set[int] = set()
        while len(out) < count:
            value = rng.randrange(self.exchanges * 5000)
            ex = value // 5000
            if ex in ruled or value in seen:
                continue
            seen.add(value)
            out.append(f"{self.exchange(ex)}{value % 5000 * 2 + 1:04d}")
        return out


def load_blocklist(r: redis.Redis, numbers: Iterable[str], *, batch: int = 5000) -> int:
    """Write blocks exactly as the CSV import does (hash, index, history, event, audit), pipelined."""
    bl = Blocklist(r)
    at = int(time.time() * 1000)
    written = 0
    pipe = r.pipeline(transaction=False)
    for number in numbers:
        entry = Entry(number, keys.GLOBAL, "", "bench load", "bench", at, None)
        bl._block_ops(pipe, entry, "manager", source="import")  # the import's own write set
        written += 1
        if written % batch == 0:
            pipe.execute()
    pipe.execute()
    return written


def write_feed_csv(path: Path, numbers: Iterable[str]) -> int:
    """A feed file as carriers send them: number, reports, last seen (dates over the last four weeks)."""
    written = 0
    with path.open("w") as out:
        out.write("number,reports,last_seen\n")
        for written, number in enumerate(numbers, 1):
            out.write(f"{number},{written % 7 + 1},2026-11-{written % 28 + 1:02d}\n")
    return written


def load_prefixes(r: redis.Redis, prefixes: Iterable[str], *, batch: int = 5000) -> int:
    """Write prefix rules exactly as Blocklist.add_prefix does, pipelined."""
    bl = Blocklist(r)
    at = int(time.time() * 1000)
    written = 0
    pipe = r.pipeline(transaction=False)
    for prefix in prefixes:
        bl._prefix_ops(pipe, prefix, keys.GLOBAL, treatment="", by="bench", reason="bench load", role="manager",
                       at=at)
        written += 1
        if written % batch == 0:
            pipe.execute()
    pipe.execute()
    return written


# Every caller signal is read and judged on every bench call: two add-ons answer (Nomorobo and Icehook, low
# scores, so the caller still goes to the agents and the correctness check holds), the attestation is read,
# the line checks line types, and the campaign counter of the caller's exchange is kept.
ADDONS = addons_payload({NOMOROBO: 0, ICEHOOK: 12})


def every_signal_on(r: redis.Redis) -> None:
    """The bench line judges line types too (off unless a manager names some)."""
    Blocklist(r).set_line_setting(LINE, "line_types", "premium,pager", by="bench")


def call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def incoming_params(sid: str, number: str, rng: random.Random) -> dict[str, str]:
    """What Twilio posts to the Voice URL for an inbound call (the documented parameter set)."""
    state, city = rng.choice(STATES), rng.choice(CITIES)
    zip_code = f"{rng.randrange(10000, 99999)}"
    return {
        "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": sid, "CallStatus": "ringing",
        "Direction": "inbound", "From": number, "Caller": number, "To": LINE, "Called": LINE,
        "FromCity": city, "FromState": state, "FromZip": zip_code, "FromCountry": "US",
        "CallerCity": city, "CallerState": state, "CallerZip": zip_code, "CallerCountry": "US",
        "ToCity": "", "ToState": "", "ToZip": "", "ToCountry": "US",
        "CalledCity": "", "CalledState": "", "CalledZip": "", "CalledCountry": "US",
        "StirVerstat": "TN-Validation-Passed-A",
        "AddOns": ADDONS,
        "CallToken": "%7B%22parentCallInfoToken%22%3A%22" + secrets.token_hex(96) + "%22%7D",
    }


@dataclass(frozen=True)
class RequestLine:
    """One replayable request: path, one auth header, content type, body."""

    path: str
    header: str
    value: str
    content_type: str
    body: str

    def render(self) -> str:
        for part in (self.path, self.header, self.value, self.content_type, self.body):
            if "\t" in part or "\n" in part:
                raise ValueError("request fields must not contain tabs or newlines")
        return "\t".join((self.path, self.header, self.value, self.content_type, self.body))


FORM = "application/x-www-form-urlencoded"


def signed(validator: RequestValidator, base_url: str, path: str, params: dict[str, str]) -> RequestLine:
    """A form POST signed the way Twilio signs it (full URL + sorted params)."""
    signature = validator.compute_signature(base_url + path, params)
    return RequestLine(path, "X-Twilio-Signature", signature, FORM, urllib.parse.urlencode(params))


def write_requests(path: Path, lines: Iterable[RequestLine]) -> int:
    count = 0
    with path.open("w") as out:
        for line in lines:
            out.write(line.render() + "\n")
            count += 1
    return count


@dataclass
class IncomingSet:
    """Signed /voice/incoming requests with fresh CallSids, and what a reset must delete to reuse them."""

    file: Path
    sids: list[str]
    numbers: list[str]

    def reset(self, r: redis.Redis) -> None:
        """Forget the calls this set made, so a replay screens again (the screen is idempotent by CallSid)."""
        pipe = r.pipeline(transaction=False)
        for i, (sid, number) in enumerate(zip(self.sids, self.numbers, strict=True)):
            pipe.delete(keys.call(sid), keys.burst(keys.GLOBAL, number))
            if i % 5000 == 4999:
                pipe.execute()
        pipe.delete(keys.EVENTS)
        pipe.execute()


def incoming_set(folder: Path, name: str, validator: RequestValidator, base_url: str, callers: list[str]) -> IncomingSet:
    rng = random.Random(name)
    sids = [call_sid() for _ in callers]
    lines = (signed(validator, base_url, "/voice/incoming", incoming_params(sid, number, rng))
             for sid, number in zip(sids, callers, strict=True))
    file = folder / f"{name}.req"
    write_requests(file, lines)
    return IncomingSet(file, sids, callers)


def isolation_wait_set(folder: Path, validator: RequestValidator, base_url: str, count: int = 2000) -> Path:
    """Wait-URL requests of the isolation queue, as Twilio polls them (stateless: a small set is enough)."""
    rng = random.Random("isolation")
    lines = []
    for _ in range(count):
        params = {
            "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call_sid(), "CallStatus": "in-progress",
            "Direction": "inbound", "From": "+14155550101", "To": LINE, "QueueSid": "QU" + "c" * 32,
            "QueueTime": str(rng.randrange(0, 30)), "QueuePosition": "1", "AvgQueueTime": "3", "CurrentQueueSize": "1",
        }
        lines.append(signed(validator, base_url, "/voice/isolation/wait?lang=en", params))
    file = folder / "isolation_wait.req"
    write_requests(file, lines)
    return file


def screened_calls(r: redis.Redis, callers: list[str], *, batch: int = 1000) -> list[str]:
    """Live calls as the screen records them (the product's own script), for the desk-flag bench."""
    bl = Blocklist(r)
    sids = [call_sid() for _ in callers]
    pipe = r.pipeline(transaction=False)
    at = int(time.time() * 1000)
    for i, (sid, number) in enumerate(zip(sids, callers, strict=True)):
        script_keys, args = bl._screen_args(number, LINE, sid, at, True, describe(number), {"FromCountry": "US"})
        bl._screen.script(keys=script_keys, args=args, client=pipe)
        if i % batch == batch - 1:
            pipe.execute()
    pipe.execute()
    return sids


def flag_set(folder: Path, name: str, api_token: str, sids: list[str]) -> Path:
    """Desk flags (POST /api/calls/<sid>/flag) of distinct live calls."""
    # no "agent": with the service token the call names its own agent (the API refuses one given)
    body = json.dumps({"reason": "obscene", "note": "laughter in the background"})
    lines = (RequestLine(f"/api/calls/{sid}/flag", "Authorization", f"Bearer {api_token}", "application/json", body)
             for sid in sids)
    file = folder / f"{name}.req"
    write_requests(file, lines)
    return file


def memory(r: redis.Redis) -> dict[str, Any]:
    info = r.info("memory")
    return {"used_memory": int(info["used_memory"]), "used_memory_rss": int(info["used_memory_rss"])}
