"""The month's ground truth: who calls which line when, who they are (customer or not), and what the agent
would do if the call reached one. Made from one seed, before any rule sees a call, so two policies are
judged on exactly the same month.

The callers (kinds):
- customer: ordinary callers; a few call often, most once or twice a month, some call back within
  minutes; a few withhold their number, a few call from abroad, and some share a switchboard range
  (the same exchange) with a harasser.
- harasser: one person with 1-3 numbers calling one line again and again, in sessions (Zipf-like: a few
  call far more than the rest).
- group: several people, one number each, calling one line together on a few evenings.
- campaign: one caller cycling through many numbers of one exchange (+1 NPA NXX xxxx), a call every
  10-60 seconds on one line.
- robocall: automated callers on a few spoofed numbers each, with failed or missing STIR/SHAKEN
  attestation and high or medium reputation scores from the add-ons (AddOns JSON: ivr/simulate/addons.py).

The behaviour is fixed in advance and does not react to the filter (a harasser does not change number
because a call was rejected): that keeps the comparison of two policies exact, and errs on the side of
the filter looking worse, not better.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from blocklist.numbers import WITHHELD
from ivr.simulate.addons import ICEHOOK, TRUESPAM, addons_payload
from ivr.simulate.callers import AREAS, CUSTOMER_CURVE, HARASSER_CURVE, LINE_WEIGHTS
from ivr.simulate.config import DEFAULT_LINES

DAY_MS = 86_400_000
MINUTE_MS = 60_000
BAD_KINDS = ("harasser", "group", "campaign", "robocall")
KINDS = ("customer", *BAD_KINDS)

FLAG_SHARE = 0.9  # a harassing call that reaches an agent is flagged this often ...
FLAG_AFTER = (10.0, 45.0)  # ... this many seconds into the call
UNFLAGGED_TALK = (20.0, 120.0)  # a bad call nobody flags: the agent ends it after this long
CUSTOMER_TALK_MEDIAN = 180.0  # seconds; lognormal around it
CUSTOMER_TALK_SIGMA = 0.6

# STIR/SHAKEN as Twilio reports it (StirVerstat), by kind of caller: (value, weight)
CUSTOMER_STIR = (("TN-Validation-Passed-A", 85), ("TN-Validation-Passed-B", 6), ("TN-Validation-Passed-C", 4),
                 ("No-TN-Validation", 4), ("TN-Validation-Failed-B", 1))
HARASSER_STIR = (("TN-Validation-Passed-A", 60), ("TN-Validation-Passed-B", 20), ("TN-Validation-Passed-C", 10),
                 ("No-TN-Validation", 10))
CAMPAIGN_STIR = (("TN-Validation-Passed-C", 50), ("No-TN-Validation", 30), ("TN-Validation-Failed-C", 20))
ROBOCALL_STIR = (("TN-Validation-Failed-A", 15), ("TN-Validation-Failed-B", 15), ("TN-Validation-Failed", 10),
                 ("No-TN-Validation", 30), ("TN-Validation-Passed-C", 20), ("TN-Validation-Passed-B", 10))
# Reputation score bands a caller's add-on answers fall in, by kind: (low, high, weight); None = no answer.
CUSTOMER_SCORES: tuple[tuple[int, int, int] | None, ...] = ((0, 30, 70), (60, 80, 1), None)
ROBOCALL_SCORES: tuple[tuple[int, int, int] | None, ...] = ((90, 100, 55), (60, 89, 25), None)
OTHER_SCORES: tuple[tuple[int, int, int] | None, ...] = ((0, 40, 60), (60, 85, 10), None)
# Abroad: country, fictional-style prefix, digits after it
ABROAD = (("GB", "+44207946", 4), ("ZA", "+2721555", 4), ("FI", "+35840555", 4))

# An add-on payload for (rng, score): the raw AddOns JSON Twilio would send, or None for no add-on answer.
AddOnsMaker = Callable[[random.Random, int | None], str | None]


def addons_json(rng: random.Random, score: int | None) -> str | None:
    """The AddOns JSON of a line with two add-ons installed (Icehook Scout and TrueSpam, both 0-100): one of
    them gives `score`, the other a lower one, and now and then the other fails. No score: either no AddOns
    parameter at all, or both add-ons failed (a failed add-on never decides a call)."""
    if score is None:
        return None if rng.random() < 0.5 else addons_payload({ICEHOOK: None, TRUESPAM: None})
    first, second = (ICEHOOK, TRUESPAM) if rng.random() < 0.5 else (TRUESPAM, ICEHOOK)
    other = None if rng.random() < 0.03 else rng.randint(0, score)
    return addons_payload({first: score, second: other})


@dataclass(frozen=True)
class Scale:
    """How big the month is. Bad callers scale with the days; customers with customers_per_day too."""

    days: int = 30
    customers_per_day: int = 400  # customer calls a day, on average
    lines: tuple[str, ...] = DEFAULT_LINES

    def __post_init__(self) -> None:
        if not 1 <= self.days <= 366:
            raise ValueError(f"--days must be from 1 to 366 (got {self.days})")
        if not 1 <= self.customers_per_day <= 100_000:
            raise ValueError(f"--customers-per-day must be from 1 to 100000 (got {self.customers_per_day})")
        if not self.lines:
            raise ValueError("the evaluation needs at least one line")


@dataclass(frozen=True)
class Call:
    """One call of the month, as the ground truth knows it."""

    at: int  # ms after the month's start
    kind: str  # customer | harasser | group | campaign | robocall
    actor: str  # who: one customer, one harassing person, one group, one campaign, one robocaller
    number: str  # E.164 or WITHHELD
    line: str
    stir: str = ""  # StirVerstat ('' when Twilio sends none)
    score: int | None = None  # the reputation add-ons would give (None: no add-on answers)
    addons: str | None = None  # the AddOns JSON Twilio would post, carrying `score` (None: no AddOns parameter)
    flag_after: float | None = None  # seconds into an answered call when the agent flags it (None: never)
    talk: float = 0.0  # seconds an answered call takes the agent when nobody flags it
    tag: str = ""  # customer detail: withheld | abroad | range (shares a harasser's exchange)

    @property
    def bad(self) -> bool:
        return self.kind != "customer"


@dataclass
class Population:
    """The month: every call in time order, and what is true of each caller."""

    seed: int
    scale: Scale
    calls: list[Call]
    campaigns: dict[str, tuple[str, str]] = field(default_factory=dict)  # actor -> (line, exchange)

    def summary(self) -> dict[str, Any]:
        """Counts a reader checks the month against: calls and callers of each kind."""
        calls = Counter(c.kind for c in self.calls)
        actors = {kind: len({c.actor for c in self.calls if c.kind == kind}) for kind in KINDS}
        numbers = {kind: len({c.number for c in self.calls if c.kind == kind and c.number != WITHHELD})
                   for kind in KINDS}
        tags = Counter(c.tag for c in self.calls if c.kind == "customer" and c.tag)
        return {"calls": {k: calls.get(k, 0) for k in KINDS}, "callers": actors, "numbers": numbers,
                "customer_calls_by_tag": {t: tags.get(t, 0) for t in ("withheld", "abroad", "range")},
                "total_calls": len(self.calls)}


def _pick(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _w in table], [w for _v, w in table])[0]


def _score(rng: random.Random, table: tuple[tuple[int, int, int] | None, ...]) -> int | None:
    """A score from the kind's bands; the last entry (None) takes the weight the bands leave of 100."""
    bands = [b for b in table if b is not None]
    rest = max(0, 100 - sum(b[2] for b in bands))
    choice = rng.choices([*bands, None], [*(b[2] for b in bands), rest])[0]
    return None if choice is None else rng.randint(choice[0], choice[1])


class _Month:
    """The month's clock and the random choices every kind of caller shares."""

    def __init__(self, rng: random.Random, scale: Scale, addons: AddOnsMaker | None) -> None:
        self.rng = rng
        self.scale = scale
        self.span = scale.days * DAY_MS
        self.addons = addons
        self.taken: set[str] = set()
        self.calls: list[Call] = []

    # ---- time ----------------------------------------------------------------------------------
    def moment(self, curve: tuple[float, ...], start: int = 0, end: int | None = None) -> int:
        """A time in [start, end) drawn with the day curve's hourly weights (hour 0 = midnight, UTC)."""
        end = self.span if end is None else end
        first, last = start // 3_600_000, max(start // 3_600_000, (end - 1) // 3_600_000)
        hours = range(first, last + 1)
        weights = [curve[h % 24] for h in hours]
        hour = self.rng.choices(hours, weights)[0]
        lo, hi = max(start, hour * 3_600_000), min(end, (hour + 1) * 3_600_000)
        return self.rng.randrange(lo, max(lo + 1, hi))

    def line(self) -> str:
        lines = self.scale.lines
        weights = LINE_WEIGHTS[: len(lines)] if len(lines) <= len(LINE_WEIGHTS) else None
        return self.rng.choices(lines, weights)[0]

    # ---- numbers -------------------------------------------------------------------------------
    def area(self) -> str:
        return self.rng.choices([a[0] for a in AREAS], [a[4] for a in AREAS])[0]

    def exchange(self, area: str | None = None) -> str:
        """'+1' + area code + an exchange (NXX, never N11 or 555)."""
        while True:
            nxx = f"{self.rng.randint(2, 9)}{self.rng.randint(0, 9)}{self.rng.randint(0, 9)}"
            if nxx[1:] != "11" and nxx != "555":
                return f"+1{area or self.area()}{nxx}"

    def fresh(self, prefix: str, digits: int = 4) -> str:
        """A number under `prefix` nobody else in the month has."""
        for _ in range(10_000):
            number = f"{prefix}{self.rng.randrange(10 ** digits):0{digits}d}"
            if number not in self.taken:
                self.taken.add(number)
                return number
        raise RuntimeError(f"no free number left under {prefix}")

    # ---- a call --------------------------------------------------------------------------------
    def add(self, at: int, kind: str, actor: str, number: str, line: str, stir: str, score: int | None,
            tag: str = "") -> None:
        if not 0 <= at < self.span:
            return
        rng = self.rng
        if kind == "customer":
            flag_after = None
            talk = min(1800.0, max(20.0, rng.lognormvariate(math.log(CUSTOMER_TALK_MEDIAN), CUSTOMER_TALK_SIGMA)))
        else:
            flag_after = rng.uniform(*FLAG_AFTER) if rng.random() < FLAG_SHARE else None
            talk = rng.uniform(*UNFLAGGED_TALK)
        addons = self.addons(rng, score) if self.addons is not None else None
        self.calls.append(Call(at, kind, actor, number, line, stir, score, addons, flag_after, round(talk, 1), tag))


def _customers(m: _Month, ranges: list[str]) -> None:
    """Ordinary callers: repeat customers (heavy-tailed), call-backs within minutes, withheld, abroad, and
    customers whose numbers share a harasser's switchboard range."""
    rng, scale = m.rng, m.scale
    total = scale.days * scale.customers_per_day
    people: list[tuple[str, str, str]] = []  # (actor, number, tag)
    for i in range(max(1, int(total * 0.5))):
        roll = rng.random()
        if roll < 0.03:
            people.append((f"customer-{i}", WITHHELD, "withheld"))
        elif roll < 0.06:
            _country, prefix, digits = rng.choice(ABROAD)
            people.append((f"customer-{i}", m.fresh(prefix, digits), "abroad"))
        else:
            people.append((f"customer-{i}", m.fresh(m.exchange()), ""))
    for r, exchange in enumerate(ranges):  # 3-8 customers in each harasser's range, calling a little more
        for j in range(rng.randint(3, 8)):
            people.append((f"customer-range{r}-{j}", m.fresh(exchange), "range"))
    weights = list(itertools.accumulate(rng.lognormvariate(0, 1.2) * (4 if tag == "range" else 1)
                                        for _a, _n, tag in people))
    stir_of = {actor: ("" if tag in ("abroad", "withheld") else _pick(rng, CUSTOMER_STIR)) for actor, _n, tag in people}
    score_of = {actor: _score(rng, CUSTOMER_SCORES) for actor, _n, _t in people}
    made = 0
    while made < total:
        actor, number, tag = rng.choices(people, cum_weights=weights)[0]
        at, line = m.moment(CUSTOMER_CURVE), m.line()
        m.add(at, "customer", actor, number, line, stir_of[actor], score_of[actor], tag)
        made += 1
        if rng.random() < 0.04:  # cut off, or forgot something: calls back within minutes
            m.add(at + rng.randint(1, 10) * MINUTE_MS, "customer", actor, number, line, stir_of[actor],
                  score_of[actor], tag)
            made += 1


def _harassers(m: _Month, ranges: list[str]) -> None:
    """Repeat harassers: Zipf-like volumes, 1-3 numbers each, sessions of calls minutes apart on one line.
    The first len(ranges) of them call from a switchboard range that customers share."""
    rng, scale = m.rng, m.scale
    count = max(2, round(scale.days * 0.8))
    total = scale.days * 25
    harmonic = sum(1 / (r + 1) for r in range(count))
    for rank in range(count):
        actor = f"harasser-{rank}"
        n_numbers = rng.choices((1, 2, 3), (6, 3, 1))[0]
        if rank < len(ranges):
            numbers = [m.fresh(ranges[rank]) for _ in range(n_numbers)]
        else:
            numbers = [m.fresh(m.exchange()) for _ in range(n_numbers)]
        stir = {n: _pick(rng, HARASSER_STIR) for n in numbers}
        score = {n: _score(rng, OTHER_SCORES) for n in numbers}
        line = m.line()
        calls = max(2, round(total / (rank + 1) / harmonic))
        start = rng.randrange(0, max(1, int(m.span * 0.6)))
        made = 0
        while made < calls:
            at = m.moment(HARASSER_CURVE, start)
            for _ in range(min(calls - made, rng.randint(1, 4))):
                number = numbers[0] if rng.random() < 0.7 else rng.choice(numbers)
                m.add(at, "harasser", actor, number, line, stir[number], score[number])
                made += 1
                at += rng.randint(1, 15) * MINUTE_MS + rng.randrange(MINUTE_MS)


def _groups(m: _Month) -> None:
    """Groups: 3-6 people (one number each) calling one line together on a few evenings."""
    rng, scale = m.rng, m.scale
    for g in range(max(1, round(scale.days / 10))):
        actor = f"group-{g}"
        area = m.area()
        members = [m.fresh(m.exchange(area)) for _ in range(rng.randint(3, 6))]
        stir = {n: _pick(rng, HARASSER_STIR) for n in members}
        score = {n: _score(rng, OTHER_SCORES) for n in members}
        line = m.line()
        nights = sorted(rng.sample(range(scale.days), min(scale.days, max(2, round(scale.days / 5)))))
        for day in nights:
            start = day * DAY_MS + rng.randint(18, 22) * 3_600_000 + rng.randrange(3_600_000)
            length = rng.randint(60, 180) * MINUTE_MS
            for number in members:
                for _ in range(1 + min(8, int(rng.expovariate(1 / 3)))):
                    m.add(start + rng.randrange(length), "group", actor, number, line, stir[number], score[number])


def _campaigns(m: _Month) -> list[tuple[str, str, str]]:
    """Rotating campaigns: many numbers of one exchange, one call every 10-60 s, on one line."""
    rng, scale = m.rng, m.scale
    out = []
    for c in range(max(1, round(scale.days / 4))):
        actor = f"campaign-{c}"
        exchange, line = m.exchange(), m.line()
        at = m.moment(CUSTOMER_CURVE)
        for _ in range(rng.randint(12, 60)):
            number = m.fresh(exchange)
            m.add(at, "campaign", actor, number, line, _pick(rng, CAMPAIGN_STIR), _score(rng, OTHER_SCORES))
            at += rng.randint(10, 60) * 1000
        out.append((actor, line, exchange))
    return out


def _robocallers(m: _Month) -> None:
    """Robocallers: 1-5 spoofed numbers each, bad attestation, high or medium scores, daytime calls."""
    rng, scale = m.rng, m.scale
    count = max(1, round(scale.days / 3))
    for r in range(count):
        actor = f"robocall-{r}"
        numbers = [m.fresh(m.exchange()) for _ in range(rng.randint(1, 5))]
        stir = {n: _pick(rng, ROBOCALL_STIR) for n in numbers}
        score = {n: _score(rng, ROBOCALL_SCORES) for n in numbers}
        for _ in range(max(1, round(scale.days * 10 / count * rng.uniform(0.5, 1.5)))):
            number = rng.choice(numbers)
            m.add(m.moment(CUSTOMER_CURVE), "robocall", actor, number, m.line(), stir[number], score[number])


def build(seed: int, scale: Scale | None = None, addons: AddOnsMaker | None = addons_json) -> Population:
    """The month for `seed`: the same seed and scale always give the same calls."""
    scale = scale or Scale()
    m = _Month(random.Random(seed), scale, addons)
    ranges = [m.exchange("312") for _ in range(max(1, round(scale.days / 15)))]
    _harassers(m, ranges)
    _groups(m)
    campaigns = _campaigns(m)
    _robocallers(m)
    _customers(m, ranges)
    m.calls.sort(key=lambda c: (c.at, c.actor, c.number))
    return Population(seed, scale, m.calls, {actor: (line, exchange) for actor, line, exchange in campaigns})
