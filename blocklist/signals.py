"""What Twilio tells us about a caller besides the number, ready for the screen: the STIR/SHAKEN
attestation class and the add-ons' reputation, plus the exchange a campaign is counted under."""

from __future__ import annotations

from dataclasses import dataclass

from blocklist.attestation import attestation_class
from blocklist.numbers import WITHHELD
from blocklist.reputation import Reputation, reputation_from_addons


@dataclass(frozen=True)
class Signals:
    """One call's signals. Empty (no attestation, no add-on answer) is the normal case for many calls."""

    stir: str = ""  # StirVerstat as Twilio sent it ('' when absent)
    reputation: Reputation | None = None

    @classmethod
    def from_twilio(cls, stir: str | None, addons: str | None) -> Signals:
        """From the voice webhook's StirVerstat and AddOns parameters; never raises (bad AddOns = no score)."""
        return cls((stir or "").strip()[:64], reputation_from_addons(addons) if addons else None)

    @property
    def attestation(self) -> str:
        return attestation_class(self.stir)

    def script_args(self) -> list[str]:
        """ARGV for screen.lua: attestation class, StirVerstat, score, provider, the add-on's own words."""
        rep = self.reputation
        if rep is None:
            return [self.attestation, self.stir, "", "", ""]
        return [self.attestation, self.stir, str(rep.score), rep.provider, rep.detail]

    def record_args(self) -> list[str]:
        """The name/value pairs the score leaves on the call and its event (screen.lua stores ARGV's tail as sent)."""
        rep = self.reputation
        return [] if rep is None else ["rep", str(rep.score), "rep_by", rep.provider]


NO_SIGNALS = Signals()


def campaign_prefix(number: str, digits: int) -> str:
    """The exchange a number's calls are counted under for campaign detection ('' for none: withheld, too short).

    `digits` counts the digits after the '+': 7 is +1 NPA NXX in North America (+1415555).
    """
    if digits <= 0 or number == WITHHELD or not number.startswith("+") or len(number) <= digits + 2:
        return ""
    return number[: digits + 1]


def signals_to_try(stir: str = "", addons: str = "", score: str = "") -> Signals:
    """Signals a manager writes to ask "what would the screen do?" (CLI check, API check); ValueError saying
    what to fix. `score` 0-100 stands for an add-on's answer without writing its JSON."""
    stir = stir.strip()
    if len(stir) > 64:
        raise ValueError("StirVerstat is at most 64 characters, e.g. TN-Validation-Failed-B")
    reputation = reputation_from_addons(addons) if addons.strip() else None
    if addons.strip() and reputation is None:
        raise ValueError("the AddOns JSON gave no score: write it as Twilio sends it (status successful, with "
                         "the add-on's result), or give the score alone")
    if score.strip():
        if not score.strip().isdigit() or int(score) > 100:
            raise ValueError(f"score {score[:10]!r}: write a whole number from 0 to 100")
        reputation = Reputation(int(score), "score given", "")
    return Signals(stir, reputation)
