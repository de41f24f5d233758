"""Caller IDs: the screen's shortcuts through phonenumbers give phonenumbers' own answers.

Every call parses its caller ID and works out region, line type and carrier for the reports (ivr/voice.py,
once per call). The product does this in under half the time of phonenumbers' public route; these tests
pin the shortcuts to the public functions on every region's example numbers and on random E.164 strings.
"""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import carrier

from blocklist import numbers
from blocklist.numbers import _TYPE_NAMES, describe, identify, normalize

KINDS = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE,
         phonenumbers.PhoneNumberType.TOLL_FREE, phonenumbers.PhoneNumberType.VOIP,
         phonenumbers.PhoneNumberType.PAGER, phonenumbers.PhoneNumberType.PREMIUM_RATE,
         phonenumbers.PhoneNumberType.SHARED_COST, phonenumbers.PhoneNumberType.UAN)


def example_numbers() -> list[phonenumbers.PhoneNumber]:
    """Every region's example number of every type, and the non-geographic entities' (+800, +882...)."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in KINDS:
            if (number := phonenumbers.example_number_for_type(region, kind)) is not None:
                found.append(number)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        if (number := phonenumbers.example_number_for_non_geo_entity(code)) is not None:
            found.append(number)
    return found


EXAMPLES = example_numbers()


def e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def public_facts(number: phonenumbers.PhoneNumber) -> tuple[str, str, str]:
    return (phonenumbers.region_code_for_number(number) or "",
            _TYPE_NAMES.get(phonenumbers.number_type(number), "unknown"),
            carrier.name_for_number(number, "en") or "")


def public_parse(text: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None


def test_number_facts_match_phonenumbers_public_answers() -> None:
    """describe()/identify() take shortcuts (one parse, the region worked out once); on every region's example
    numbers of every type they give what phonenumbers' public functions give."""
    assert len(EXAMPLES) > 900
    for number in EXAMPLES:
        text = e164(number)
        expected = public_facts(number)
        assert describe(text) == expected, text
        assert identify(text) == (normalize(text), expected), text
    assert identify("anonymous") == ("anonymous", ("", "", ""))


def test_e164_shortcut_parses_as_phonenumbers_does_on_every_region() -> None:
    """The E.164 shortcut answers for most numbers, and where it answers, it is parse()'s answer."""
    taken = 0
    for number in EXAMPLES:
        text = e164(number)
        fast = numbers._parse_e164(text)
        if fast is not None:
            assert fast == phonenumbers.parse(text, None), text
            taken += 1
    assert taken > len(EXAMPLES) * 0.8, f"the shortcut answered for only {taken} of {len(EXAMPLES)} examples"


@pytest.mark.parametrize("text", [
    "+4407911123456",   # a national prefix after the country code: parse() strips it
    "+390612345678",    # Italian leading zero: kept, and flagged on the number
    "+2250712345678",   # Côte d'Ivoire numbers start with 0
    "+99912345678",     # no such country code
    "+80012345678",     # a non-geographic entity (International Freephone)
    "+5491123456789",   # Argentina's mobile form, rewritten by parse()
    "+52112345678901",  # Mexico's old mobile prefix 1
    "+112015550123",    # NANP's national prefix 1 after the country code
    "+18005550100",
])
def test_e164_shortcut_defers_or_agrees_on_awkward_forms(text: str) -> None:
    fast = numbers._parse_e164(text)
    assert fast is None or fast == public_parse(text), text
    expected = public_parse(text)
    if expected is not None and phonenumbers.is_possible_number(expected):
        assert normalize(text) == e164(expected)
        assert identify(text)[1] == public_facts(expected)


@settings(max_examples=3000, deadline=None)
@given(st.from_regex(r"\A\+[1-9][0-9]{6,14}\Z", fullmatch=True))
@example("+12015550123")
@example("+4402079460000")
def test_e164_shortcut_agrees_with_parse_on_random_numbers(text: str) -> None:
    fast = numbers._parse_e164(text)
    expected = public_parse(text)
    if fast is not None:
        assert fast == expected, text
        assert numbers._facts(fast) == public_facts(fast), text
    if expected is not None:
        assert numbers._facts(expected) == public_facts(expected), text
