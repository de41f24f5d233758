"""Who calls, and when: caller pools (repeat harassers, a switchboard range, withheld callers,
customers) on a day curve, and each call's plan."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ivr.simulate.config import SimConfig

# Relative call volume by hour of day. Customers call in business hours with a noon peak; harassment
# peaks at night and around noon (the field pattern the spec describes).
CUSTOMER_CURVE = (0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.45, 0.9, 1.5, 1.9, 2.0, 2.3,
                  2.7, 2.4, 1.9, 1.8, 1.7, 1.5, 1.1, 0.8, 0.6, 0.45, 0.3, 0.2)


HARASSER_CURVE = (2.6, 2.3, 1.6, 0.9, 0.4, 0.25, 0.25, 0.35, 0.5, 0.6, 0.8, 1.6,
                  2.4, 1.8, 0.8, 0.6, 0.6, 0.7, 0.9, 1.1, 1.4, 1.9, 2.4, 2.7)




LINE_WEIGHTS = (6, 3, 1)


# (area code, city, state, zip, weight) for US callers; numbers use the fictional 555-01xx block.
AREAS = (
    ("212", "NEW YORK", "NY", "10001", 9), ("415", "SAN FRANCISCO", "CA", "94105", 5),
    ("312", "CHICAGO", "IL", "60601", 6), ("713", "HOUSTON", "TX", "77002", 6), ("602", "PHOENIX", "AZ", "85004", 4),
    ("215", "PHILADELPHIA", "PA", "19103", 4), ("206", "SEATTLE", "WA", "98101", 3), ("305", "MIAMI", "FL", "33130", 4),
    ("404", "ATLANTA", "GA", "30303", 4), ("617", "BOSTON", "MA", "02108", 3), ("303", "DENVER", "CO", "80202", 3),
    ("503", "PORTLAND", "OR", "97204", 2),
)


ABROAD = (("GB", "+4420794601", 3), ("ZA", "+2721555012", 2), ("FI", "+3584055501", 1))


WITHHELD_FORMS = (("anonymous", 6), ("Restricted", 1), ("+266696687", 1), ("", 1), ("UNAVAILABLE", 1))


@dataclass(frozen=True)
class Caller:
    """Who calls: the From as Twilio sends it, Twilio's geography fields, and intent."""

    kind: str  # repeat | switchboard | withheld-harasser | customer | withheld-customer | abroad
    number: str
    harasses: bool
    withheld: bool = False
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""
    stir: str = ""


@dataclass
class Plan:
    """What happens once an agent answers: the caller talks `talk` seconds, the agent acts after `act_after`."""

    talk: float
    action: str | None = None  # key (* 9) | desk (API) | resume (* then back) | move (* then 1/2/3)
    act_after: float = 0.0
    patience: float = 300.0  # seconds the caller waits in a queue before hanging up
    digit: str = ""
    agent_ends: bool = False  # the agent hangs up after `talk` (else the caller does)


@dataclass(frozen=True)
class Arrival:
    at: float  # simulated seconds after the start
    caller: Caller
    line: str
    plan: Plan


class Pools:
    """The callers of a simulated line. Repeat harassers call from a few numbers again and again."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        harass_areas = [a for a in AREAS if a[0] in ("713", "305", "602")]
        self.repeat = [Caller("repeat", f"+1{a[0]}55501{i:02d}", True, city=a[1], state=a[2], zip=a[3], country="US",
                              stir=rng.choice(("TN-Validation-Passed-C", "No-TN-Validation", "TN-Validation-Passed-B")))
                       for i in range(4) for a in harass_areas]
        rng.shuffle(self.repeat)
        self.repeat_weights = [1 / (rank + 1) for rank in range(len(self.repeat))]  # Zipf: a few call most
        self.switchboard = [Caller("switchboard", f"+131255501{50 + i:02d}", True, city="CHICAGO", state="IL",
                                   zip="60601", country="US", stir="TN-Validation-Passed-B") for i in range(20)]
        taken = {c.number for c in self.repeat + self.switchboard}
        self.customers: list[Caller] = []
        weights = [a[4] for a in AREAS]
        while len(self.customers) < 800:
            a = rng.choices(AREAS, weights)[0]
            number = f"+1{a[0]}55501{rng.randrange(100):02d}"
            if number in taken:
                continue
            taken.add(number)
            self.customers.append(Caller("customer", number, False, city=a[1], state=a[2], zip=a[3], country="US",
                                         stir="TN-Validation-Passed-A"))
        self.abroad = [Caller("abroad", f"{prefix}{i}", False, country=country)
                       for country, prefix, _w in ABROAD for i in range(10)]
        self.abroad_weights = [w for _c, _p, w in ABROAD for _i in range(10)]

    def withheld(self, harasses: bool) -> Caller:
        form = self.rng.choices([f for f, _w in WITHHELD_FORMS], [w for _f, w in WITHHELD_FORMS])[0]
        return Caller("withheld-harasser" if harasses else "withheld-customer", form, harasses, withheld=True)

    def harasser(self) -> Caller:
        kind = self.rng.choices(("repeat", "switchboard", "withheld"), (0.5, 0.25, 0.25))[0]
        if kind == "repeat":
            return self.rng.choices(self.repeat, self.repeat_weights)[0]
        if kind == "switchboard":
            return self.rng.choice(self.switchboard)
        return self.withheld(True)

    def customer(self) -> Caller:
        roll = self.rng.random()
        if roll < 0.08:
            return self.withheld(False)
        if roll < 0.11:
            return self.rng.choices(self.abroad, self.abroad_weights)[0]
        return self.rng.choice(self.customers)

    def by_number(self, number: str) -> Caller | None:
        return next((c for c in (*self.customers, *self.abroad, *self.repeat, *self.switchboard) if c.number == number),
                    None)


def plan_for(caller: Caller, cfg: SimConfig, rng: random.Random) -> Plan:
    """How this call goes once answered."""
    if caller.harasses:
        act_after = rng.uniform(8, 45)  # nonsense or drift; the agent recognises it
        # now and then the caller hangs up before the agent acts (flagged in the window after the call);
        # else the caller would go on wasting the agent's time long after the agent has seen enough
        talk = rng.uniform(3, act_after) if rng.random() < 0.15 else act_after + rng.uniform(45, 240)
        action = "desk" if rng.random() < cfg.desk_share else "key"
        return Plan(talk, action, act_after, patience=20 + rng.expovariate(1 / 150))
    talk = min(1200.0, max(20.0, rng.lognormvariate(math.log(150), 0.6)))
    patience = 30 + rng.expovariate(1 / 300)
    roll = rng.random()
    if roll < cfg.moves_share:
        digits = ["1", "2"] if caller.withheld else ["1", "2", "3"]  # no call back without a number
        return Plan(talk, "move", rng.uniform(0.2, 0.6) * talk, patience, digit=rng.choice(digits))
    if roll < cfg.moves_share + 0.04:
        return Plan(talk, "resume", rng.uniform(0.2, 0.7) * talk, patience)
    return Plan(talk, None, 0.0, patience, agent_ends=rng.random() < cfg.agent_hangup_share)


def _hour_weights(curve: tuple[float, ...], span: float, start_hour: float) -> list[tuple[float, float, float]]:
    """(start, length, weight) of each simulated hour in the span."""
    out = []
    t = 0.0
    while t < span:
        length = min(3600.0, span - t)
        hour = int((start_hour + t / 3600) % 24)
        out.append((t, length, curve[hour] * length / 3600))
        t += length
    return out


def build_schedule(cfg: SimConfig, rng: random.Random, pools: Pools) -> list[Arrival]:
    """`cfg.calls` arrivals over the span; harassers come in groups now and then."""
    bins = {name: _hour_weights(curve, cfg.span, cfg.start_hour)
            for name, curve in (("customer", CUSTOMER_CURVE), ("harasser", HARASSER_CURVE))}

    def moment(kind: str) -> float:
        hours = bins[kind]
        start, length, _w = rng.choices(hours, [w for _s, _l, w in hours])[0]
        return start + rng.uniform(0, length)

    def line() -> str:
        weights = LINE_WEIGHTS[: len(cfg.lines)] if len(cfg.lines) <= len(LINE_WEIGHTS) else None
        return rng.choices(cfg.lines, weights)[0]

    out: list[Arrival] = []
    while len(out) < cfg.calls:
        if rng.random() < cfg.flag_share:
            caller = pools.harasser()
            at = moment("harasser")
            to = line()
            out.append(Arrival(at, caller, to, plan_for(caller, cfg, rng)))
            if caller.kind in ("repeat", "switchboard") and rng.random() < 0.3:
                # a group calling together: the same number (or the next extension) again within minutes
                for _ in range(rng.randint(1, 3)):
                    again = caller if caller.kind == "repeat" else rng.choice(pools.switchboard)
                    out.append(Arrival(min(cfg.span * 0.9999, at + rng.uniform(60, 900)), again, to,
                                       plan_for(again, cfg, rng)))
        else:
            caller = pools.customer()
            out.append(Arrival(moment("customer"), caller, line(), plan_for(caller, cfg, rng)))
    out = out[: cfg.calls]
    out.sort(key=lambda a: a.at)
    return out
