"""The screen: the webhook's one round trip (allowlist, blocks, contact restrictions, range rules, withheld policy,
burst, language), and the same decision asked without recording it."""

from __future__ import annotations

from typing import Any

from blocklist import keys
from blocklist.base import BlocklistBase
from blocklist.clock import now_ms
from blocklist.entries import Decision
from blocklist.numbers import WITHHELD, describe
from blocklist.policy import SIGNAL_DEFAULTS
from blocklist.restrictions import RestrictionsMixin
from blocklist.signals import NO_SIGNALS, Signals, campaign_prefix
from blocklist.text import clean_text

CALL_TTL_MS = 30 * 86400 * 1000
SIGNAL_VALUES = tuple(SIGNAL_DEFAULTS.values())  # screen.lua reads them by position (policy.SIGNAL_SETTINGS order)


class ScreenMixin(RestrictionsMixin, BlocklistBase):
    """The screen's decision for one call."""

    def _screen_args(self, number: str, line: str, call_sid: str, at: int, write: bool,
                     facts: tuple[str, str, str], extra: dict[str, str],
                     languages: tuple[str, str, str] = ("", "", ""),
                     signals: Signals = NO_SIGNALS) -> tuple[list[str], list[Any]]:
        withheld = number == WITHHELD
        burst_scope = line if withheld else keys.GLOBAL
        exchange = campaign_prefix(number, self.policy.campaign_digits)
        script_keys = [
            keys.ALLOW,
            keys.block(keys.GLOBAL, number),
            keys.block(line, number),
            keys.PREFIXES,
            keys.SETTINGS,
            keys.line(line),
            keys.burst(burst_scope, number),
            keys.EVENTS,
            keys.call(call_sid or "-"),
            keys.REVIEW,
            keys.REVIEW_INFO,
            keys.PREFIX_LENGTHS,
            keys.campaign(line, exchange or "-"),
            keys.campaign_seen(line, exchange or "-"),
            keys.FEEDS_LIVE,
            keys.restriction(number),
            keys.restriction_calls(number),
        ]
        p = self.policy
        args: list[Any] = [
            number, line, at, call_sid, "1" if write else "0", p.blocked_treatment, p.withheld_policy,
            p.burst_calls, p.burst_minutes, p.burst_action, CALL_TTL_MS, *languages, *facts,
            *signals.script_args(), exchange, *SIGNAL_VALUES, *self.screen_clock(at),
        ]
        for name, value in extra.items():
            args.extend((name, clean_text(value)))
        args.extend(signals.record_args())
        return script_keys, args

    def screen(self, number: str, line: str, call_sid: str, extra: dict[str, str] | None = None,
               at: int | None = None, write: bool = True, languages: tuple[str, str, str] = ("", "", ""),
               facts: tuple[str, str, str] | None = None, signals: Signals = NO_SIGNALS) -> Decision:
        """Decide for one call (number already normalised) and record it with its event.

        `languages` = (configured line language, caller-country language, default): the script
        picks the call's prompt language with the managers' overrides in the same round trip.
        `facts` = describe(number) when the caller already has it (numbers.identify()).
        `signals` = what Twilio said of the caller besides the number (attestation, add-ons' reputation).
        """
        self._inside(number)
        script_keys, args = self._screen_args(number, line, call_sid, at or now_ms(), write, facts or describe(number),
                                              extra or {}, languages, signals)
        d, rule, treatment, detail, origin, lang = self._screen(keys=script_keys, args=args)
        return Decision(d, rule, treatment, detail, replay=origin == "replay", language=lang)

    def check(self, raw_number: str, line: str, signals: Signals = NO_SIGNALS) -> Decision:
        """The decision the screen would take for a call now (with these signals), without recording anything."""
        number = self.number(raw_number)
        line_number = self._scope(line, self.default_region)
        return self.screen(number, line_number, "", write=False, signals=signals)
