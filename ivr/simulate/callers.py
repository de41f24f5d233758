"""Who calls, and when: caller pools (repeat harassers, a switchboard range, withheld callers, robocall
campaigns, customers) on a day curve, and each call's plan, with what Twilio says of the caller besides the
number (STIR/SHAKEN attestation, the Marketplace add-ons' answers)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ivr.simulate.addons import EKATA, ICEHOOK, MARCHEX, NOMOROBO, TRUESPAM, addons_payload
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


# Customers' calls as the carriers sign them: mostly vouched for (A, or B from a company's PBX), some PASSporTs
# Twilio cannot use, some calls from networks that sign nothing; never a failed verification.
CUSTOMER_STIR = (("TN-Validation-Passed-A", 70), ("TN-Validation-Passed-B", 18), ("No-TN-Validation", 7), ("", 5))


# Robocall campaigns: an autodialer rotating caller IDs within one exchange (NPA-NXX, none a customer's) calls a
# line again and again within minutes. Carriers did not vouch for the spoofed numbers; the add-ons know them.
ROBO_EXCHANGES = (("786", "MIAMI", "FL", "33130"), ("469", "DALLAS", "TX", "75201"), ("689", "ORLANDO", "FL", "32801"))
ROBO_STIR = (("TN-Validation-Failed-A", 1), ("TN-Validation-Failed-B", 2), ("TN-Validation-Failed-C", 2),
             ("TN-Validation-Failed", 1), ("No-TN-Validation", 2), ("", 2))
ROBOCALL_SHARE = 0.04  # of each step that may bring a harassing call: the chance a robocall campaign starts too
ROBOCALL_CALLS = (4, 10)  # calls in one campaign, each from another number of the exchange
ROBOCALL_GAP = (20.0, 150.0)  # seconds between them
ROBO_ADDONS_SHARE = 0.85  # robocalls whose AddOns carry an answer (the rest: no add-on ran)
CUSTOMER_ADDONS_SHARE = 0.05  # customers' calls with add-on answers (low scores)
FAILED_ADDON_SHARE = 0.1  # of those answers, one add-on that timed out


@dataclass(frozen=True)
class Caller:
    """Who calls: the From as Twilio sends it, Twilio's geography fields, and intent."""

    kind: str  # repeat | switchboard | withheld-harasser | robocaller | customer | withheld-customer | abroad
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
    addons: str = ""  # the AddOns JSON Twilio sends with this call ('' when no add-on answered)


class Pools:
    """The callers of a simulated line. Repeat harassers call from a few numbers again and again."""

    def __init__(self, rng: random.Random, signals: random.Random | None = None) -> None:
        self.rng = rng
        # Attestation, add-on answers and robocall campaigns draw from a generator of their own, so what `rng`
        # draws (who calls, when, what happens next) is the same, seed for seed, as before these signals existed.
        self.signals = signals if signals is not None else random.Random(repr(rng.getstate()[1][:4]))
        self.robocallers: dict[str, Caller] = {}
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
                                         stir=self._pick(CUSTOMER_STIR)))
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
        return next((c for c in (*self.customers, *self.abroad, *self.repeat, *self.switchboard,
                                 *self.robocallers.values()) if c.number == number), None)

    def _pick(self, weighted: tuple[tuple[str, int], ...]) -> str:
        return self.signals.choices([v for v, _w in weighted], [w for _v, w in weighted])[0]

    def robocall_campaign(self) -> list[Caller]:
        """One campaign's callers, in calling order: distinct numbers of one exchange, failed or no attestation."""
        npa, city, state, zip_code = self.signals.choice(ROBO_EXCHANGES)
        out = []
        for last in self.signals.sample(range(100), self.signals.randint(*ROBOCALL_CALLS)):
            number = f"+1{npa}55501{last:02d}"
            if number not in self.robocallers:  # a number seen in an earlier campaign keeps its attestation
                self.robocallers[number] = Caller("robocaller", number, True, city=city, state=state, zip=zip_code,
                                                  country="US", stir=self._pick(ROBO_STIR))
            out.append(self.robocallers[number])
        return out

    def addons_for(self, caller: Caller) -> str:
        """The AddOns JSON of one call: robocalls mostly get high scores (now and then medium ones), a small share
        of customers' calls low ones; other calls none (nobody's add-on knows them)."""
        sig = self.signals
        if caller.kind == "robocaller" and sig.random() < ROBO_ADDONS_SHARE:
            high = sig.random() < 0.75
            answers = {NOMOROBO: 1, MARCHEX: "BLOCK", ICEHOOK: sig.randint(90, 99) if high else sig.randint(60, 89),
                       EKATA: 4 if high else 3, TRUESPAM: sig.randint(90, 100) if high else sig.randint(60, 89)}
            if not high:
                answers = {name: answers[name] for name in (ICEHOOK, EKATA, TRUESPAM)}
        elif caller.kind == "customer" and sig.random() < CUSTOMER_ADDONS_SHARE:
            answers = {NOMOROBO: 0, MARCHEX: "PASS", ICEHOOK: sig.randint(0, 45), EKATA: sig.choice((1, 1, 2)),
                       TRUESPAM: sig.randint(0, 39)}
        else:
            return ""
        chosen = sig.sample(sorted(answers), min(len(answers), sig.choice((1, 2))))
        scores: dict[str, object] = {name: answers[name] for name in chosen}
        if sig.random() < FAILED_ADDON_SHARE:
            scores[sig.choice(sorted(set(answers) - set(chosen)))] = None  # it timed out
        return addons_payload(scores)


# What agents pick on the desk's flag form (blocklist/abuse.py's categories), by share: a caller abuses in one way,
# every time; a robocall is a robocall.
DESK_CATEGORIES = (("obscene", 30), ("nonsense", 20), ("sexual", 15), ("threats", 10), ("silent", 10), ("hate", 5),
                   ("repeat_complaint", 5), ("other", 5))


def desk_category(caller: Caller | None, seed: int | None) -> str:
    """The abuse category an agent picks on the desk for this caller: the same for every call of theirs."""
    if caller is None:
        return "other"
    if caller.kind == "robocaller":
        return "robocall"
    names, weights = zip(*DESK_CATEGORIES, strict=True)
    return random.Random(f"category:{seed}:{caller.number}").choices(names, weights)[0]


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

    def moment(kind: str, r: random.Random = rng) -> float:
        hours = bins[kind]
        start, length, _w = r.choices(hours, [w for _s, _l, w in hours])[0]
        return start + r.uniform(0, length)

    def line(r: random.Random = rng) -> str:
        weights = LINE_WEIGHTS[: len(cfg.lines)] if len(cfg.lines) <= len(LINE_WEIGHTS) else None
        return r.choices(cfg.lines, weights)[0]

    sig = pools.signals  # robocall campaigns come from it: the arrivals `rng` draws stay as they were
    out: list[Arrival] = []
    while len(out) < cfg.calls:
        if sig.random() < cfg.flag_share * ROBOCALL_SHARE:
            at, to = moment("customer", sig), line(sig)  # autodialers work office hours, when people answer
            for robocaller in pools.robocall_campaign():
                out.append(Arrival(min(cfg.span * 0.9999, at), robocaller, to, plan_for(robocaller, cfg, sig),
                                   pools.addons_for(robocaller)))
                at += sig.uniform(*ROBOCALL_GAP)
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
            out.append(Arrival(moment("customer"), caller, line(), plan_for(caller, cfg, rng), pools.addons_for(caller)))
    out = out[: cfg.calls]
    out.sort(key=lambda a: a.at)
    return out
