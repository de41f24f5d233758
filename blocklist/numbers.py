"""Phone numbers at the boundary: everything inside is E.164 or the WITHHELD marker."""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
    carrier,
    phonenumberutil,
)

# number_type() without working the region out a second time (a test pins it to number_type()); a
# phonenumbers without the helper gets the public, slower way.
_number_type_helper: Any = getattr(phonenumberutil, "_number_type_helper", None)

WITHHELD = "anonymous"
# Per-process caches of recent numbers (normalised form, phonenumbers facts): repeat callers cost
# nothing; about 650 bytes per number, so at most ~10 MiB per process.
NUMBER_CACHE = 16384

# Forms carriers use for a withheld caller ID (Twilio normalises most to "anonymous").
_WITHHELD_WORDS = {
    "", "anonymous", "restricted", "unknown", "private", "unavailable", "blocked", "withheld",
    "anonymous caller", "private number", "unknown caller", "no caller id", "null",
}
_WITHHELD_DIGITS = {"+266696687", "+7378742833", "+2562533", "+8656696", "+86282452253",
                    "266696687", "7378742833", "2562533", "8656696", "86282452253"}
_ALLOWED_CHARS = re.compile(r"^[0-9+()\-.\s/]*(?:(?:ext|x)\.?\s*[0-9]+)?$", re.IGNORECASE)
_MAX_INPUT = 64
_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


def is_withheld(raw: str | None) -> bool:
    """True when the caller ID is one of the withheld forms (never an identity)."""
    if raw is None:
        return True
    text = raw.strip().lower()
    if text.startswith(("client:", "sip:", "sips:", "tel:")) or "<" in text:
        return False  # a softphone identity, or a URI (whose user part _parse looks at)
    return text in _WITHHELD_WORDS or text.replace(" ", "") in _WITHHELD_DIGITS


_URI = re.compile(r"^(?:.*<)?(sips?|tel):([^>]*)>?$", re.IGNORECASE)


def uri_user(text: str) -> str | None:
    """The number-like user part of a SIP or tel URI ('sip:+14155550123@host;user=phone',
    '"Ann" <tel:+14155550123;ext=2>'), '' when the URI names no number; None when `text` is no URI."""
    match = _URI.match(text.strip())
    if match is None:
        return None
    scheme, rest = match.group(1).lower(), match.group(2)
    user = rest if scheme == "tel" else rest.split("@", 1)[0] if "@" in rest else ""
    user = user.split(";", 1)[0].strip()
    digits = user.replace("-", "").replace(".", "").replace("(", "").replace(")", "").replace(" ", "")
    return user if re.fullmatch(r"\+?[0-9]{3,16}", digits, re.ASCII) else ""


def _parse(raw: str | None, default_region: str) -> phonenumbers.PhoneNumber | None:
    """The parsed number, None for a withheld ID; ValueError saying why otherwise."""
    if is_withheld(raw):
        return None
    assert raw is not None
    text = raw.strip()
    if len(text) > 4 * _MAX_INPUT:
        raise ValueError(f"caller ID is {len(text)} characters long; a phone number has at most 15 digits")
    user = uri_user(text) if ":" in text else None
    if user is not None:
        if not user or is_withheld(user):
            return None  # a SIP address without a number (sip:alice@host) is no number: the withheld policy
        text = user
    if len(text) > _MAX_INPUT:
        raise ValueError(f"number is {len(text)} characters long; a phone number has at most 15 digits")
    if not _ALLOWED_CHARS.match(text):
        raise ValueError(f"{text[:32]!r} has characters a phone number cannot have; write it like +14155550123")
    if text.startswith("00"):
        text = "+" + text[2:]
    parsed = _parse_e164(text) if _E164.fullmatch(text) else None  # the form Twilio sends
    if parsed is None:
        try:
            parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"{text!r} is not a phone number ({exc._msg}); write it like +14155550123") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"{text!r} has the wrong number of digits for its country; check the country code")
    return parsed


def _parse_e164(text: str) -> phonenumbers.PhoneNumber | None:
    """What phonenumbers.parse() gives for a plain E.164 string, in a fraction of its time; None where parse()
    would do more than split off the country code (a national prefix or leading zero after it, an unknown code).

    parse() spends most of its ~9 µs on forms a caller ID from Twilio never has (RFC 3966, extensions,
    letters, punctuation, unicode digits); a test checks this against parse() on every region's numbers.
    """
    digits = text[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if national[0] == "0":  # Italian-style leading zeros, or a national prefix: parse() decides
        return None
    metadata = _metadata_for_code(code)
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix and _compiled(prefix).match(national):  # parse() might strip it: let parse() decide
        return None
    return PhoneNumber(country_code=code, national_number=int(national))


@cache
def _metadata_for_code(code: int) -> Any:
    """The metadata parse() uses for a country code (its main region's, or the non-geographic entity's)."""
    return PhoneMetadata.metadata_for_region_or_calling_code(code, phonenumbers.region_code_for_country_code(code))


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _e164(parsed: phonenumbers.PhoneNumber | None) -> str:
    return WITHHELD if parsed is None else phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=NUMBER_CACHE)
def normalize(raw: str | None, default_region: str = "US") -> str:
    """E.164 for a real number, WITHHELD for a withheld ID; ValueError saying why otherwise."""
    return _e164(_parse(raw, default_region))


@lru_cache(maxsize=NUMBER_CACHE)
def identify(raw: str | None, default_region: str = "US") -> tuple[str, tuple[str, str, str]]:
    """normalize() and describe() from one parse: what the screen needs of a caller ID."""
    parsed = _parse(raw, default_region)
    return _e164(parsed), _facts(parsed)


def normalize_prefix(raw: str) -> str:
    """A range rule's prefix: '+' and 1 to 15 digits (a country code, an area, a PBX block)."""
    text = re.sub(r"[\s\-().]", "", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not re.fullmatch(r"\+[1-9][0-9]{0,14}", text):
        raise ValueError(f"{raw[:32]!r} is not a prefix: write '+' then the leading digits, e.g. +4420794")
    return text


_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}


# Number types a carrier name exists for (phonenumbers.carrier looks carriers up for these only).
_CARRIER_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.PAGER}


@lru_cache(maxsize=NUMBER_CACHE)
def describe(number: str) -> tuple[str, str, str]:
    """(region, line type, carrier) as phonenumbers knows them; empty strings when unknown."""
    if number == WITHHELD or not number.startswith("+"):
        return ("", "", "")
    try:
        fast = _parse_e164(number) if _E164.fullmatch(number) else None
        return _facts(fast or phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return ("", "", "")


def _facts(parsed: phonenumbers.PhoneNumber | None) -> tuple[str, str, str]:
    if parsed is None:
        return ("", "", "")
    region, ntype = _region_and_type(parsed)
    # carrier.name_for_number() would work the type out a second time; this is its own test.
    name = carrier.name_for_valid_number(parsed, "en") if ntype in _CARRIER_TYPES else ""
    return (region or "", _TYPE_NAMES.get(ntype, "unknown"), name or "")


def _region_and_type(parsed: phonenumbers.PhoneNumber) -> tuple[str | None, Any]:
    """region_code_for_number() and number_type() in one pass (a test pins both to phonenumbers' answers).

    Both functions walk the country code's regions, matching the number against each region's types until
    one fits: +1 has ~25 regions. Done once, the region's match is also the number's type.
    """
    if _number_type_helper is None:
        return phonenumbers.region_code_for_number(parsed), phonenumbers.number_type(parsed)
    regions = COUNTRY_CODE_TO_REGION_CODE.get(parsed.country_code or 0)
    if not regions:
        return None, PhoneNumberType.UNKNOWN
    national = phonenumbers.national_significant_number(parsed)
    region = regions[0] if len(regions) == 1 else None
    if region is None:
        for code in regions:
            metadata = PhoneMetadata.metadata_for_region(code.upper(), None)
            if metadata is None:
                continue
            if metadata.leading_digits is not None:
                if _compiled(metadata.leading_digits).match(national):
                    region = code
                    break
            else:
                ntype = _number_type_helper(national, metadata)
                if ntype != PhoneNumberType.UNKNOWN:
                    return code, ntype
    lookup: Any = PhoneMetadata.metadata_for_region_or_calling_code  # takes None, as number_type() passes
    metadata = lookup(parsed.country_code, region)
    return region, (PhoneNumberType.UNKNOWN if metadata is None else _number_type_helper(national, metadata))


def mask(number: str, keep: int = 4) -> str:
    """'+1415555****' style masking for logs and reports."""
    if number == WITHHELD or len(number) <= keep + 1:
        return number
    return number[: len(number) - keep] + "*" * keep
