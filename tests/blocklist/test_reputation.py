"""Reputation from the Marketplace add-ons: each add-on's documented answer (tests/blocklist/addons/, README there
says where each shape comes from) reads as one 0-100 score with the add-on named; an add-on that failed, a failed
envelope, no AddOns at all, and anything hostile (huge, deeply nested, wrong types, NaN) give no score and never
raise: the webhook reads this on every call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocklist.reputation import ADDONS_MAX, MAX_ADDONS, Reputation, reputation_from_addons

FIXTURES = Path(__file__).parent / "addons"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def read(envelope: Any) -> Reputation | None:
    return reputation_from_addons(json.dumps(envelope))


def answer(result: Any, status: str = "successful") -> dict[str, Any]:
    """One add-on's entry in `results`, as Twilio wraps it."""
    return {"request_sid": "XR" + "0" * 32, "status": status, "message": None, "code": None, "result": result}


def envelope(**results: Any) -> dict[str, Any]:
    return {"status": "successful", "message": None, "code": None, "results": results}


# ---- each add-on's documented answer ------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("nomorobo_spamscore.json", Reputation(100, "Nomorobo Spam Score", "score 1")),
    ("marchex_cleancall.json", Reputation(100, "Marchex Clean Call", "BLOCK: Testing")),
    ("icehook_scout_modelled.json", Reputation(94, "Icehook Scout", "risk level 94 (highly_likely)")),
    ("ekata_phone_valid.json", Reputation(100, "Ekata Phone Reputation", "reputation level 4")),
    ("whitepages_pro_phone_rep_legacy.json", Reputation(100, "Ekata Phone Reputation", "reputation level 4")),
    ("truecnam_truespam_modelled.json", Reputation(92, "TrueSpam", "spam score 92")),
    ("two_addons_one_failed.json", Reputation(0, "Marchex Clean Call", "PASS: CleanCall")),
])
def test_each_fixture_reads_as_its_score_and_provider(name: str, expected: Reputation) -> None:
    assert reputation_from_addons((FIXTURES / name).read_text(encoding="utf-8")) == expected


def test_nomorobo_score_0_is_clean() -> None:
    env = fixture("nomorobo_spamscore.json")
    env["results"]["nomorobo_spamscore"]["result"]["score"] = 0
    assert read(env) == Reputation(0, "Nomorobo Spam Score", "score 0")


def test_marchex_pass_is_clean_and_its_recommendation_is_read_in_any_case() -> None:
    env = fixture("marchex_cleancall.json")
    inner = env["results"]["marchex_cleancall"]["result"]["result"]
    inner.update(recommendation="PASS", reason="CleanCall")
    assert read(env) == Reputation(0, "Marchex Clean Call", "PASS: CleanCall")
    inner.update(recommendation="block", reason="")
    assert read(env) == Reputation(100, "Marchex Clean Call", "BLOCK")
    inner.update(recommendation="FLAG")  # not documented: no opinion
    assert read(env) is None


@pytest.mark.parametrize(("level", "score"), [(1, 0), (2, 33), (3, 67), (4, 100)])
def test_ekata_levels_1_to_4_spread_over_0_to_100(level: int, score: int) -> None:
    env = fixture("ekata_phone_valid.json")
    env["results"]["ekata_phone_valid"]["result"]["reputation_level"] = level
    assert read(env) == Reputation(score, "Ekata Phone Reputation", f"reputation level {level}")
    legacy = fixture("whitepages_pro_phone_rep_legacy.json")
    legacy["results"]["whitepages_pro_phone_rep"]["result"]["results"][0]["reputation"]["level"] = level
    assert read(legacy) == Reputation(score, "Ekata Phone Reputation", f"reputation level {level}")


@pytest.mark.parametrize("level", [0, 5, 2.5, -1, "4x", None, [4], {"level": 4}, True])
def test_ekata_levels_outside_1_to_4_are_no_opinion(level: Any) -> None:
    env = fixture("ekata_phone_valid.json")
    env["results"]["ekata_phone_valid"]["result"]["reputation_level"] = level
    assert read(env) is None


def test_icehook_risk_level_is_the_score_as_it_is() -> None:
    env = fixture("icehook_scout_modelled.json")
    result = env["results"]["icehook_scout"]["result"]
    result.update(risk_level=12, risk_rating="unlikely")
    assert read(env) == Reputation(12, "Icehook Scout", "risk level 12 (unlikely)")
    result.update(risk_level=87.6)
    del result["risk_rating"]
    assert read(env) == Reputation(88, "Icehook Scout", "risk level 87.6")


def test_truespam_without_a_match_says_nothing() -> None:
    env = fixture("truecnam_truespam_modelled.json")
    result = env["results"]["truecnam_truespam"]["result"]
    result["spam_score_match"] = 0
    assert read(env) is None
    del result["spam_score_match"]
    assert read(env) == Reputation(92, "TrueSpam", "spam score 92")


def test_the_highest_score_among_the_addons_that_answered_wins() -> None:
    clean = fixture("two_addons_one_failed.json")["results"]["marchex_cleancall"]
    scout = fixture("icehook_scout_modelled.json")["results"]["icehook_scout"]
    spam = fixture("truecnam_truespam_modelled.json")["results"]["truecnam_truespam"]
    assert read(envelope(marchex_cleancall=clean, icehook_scout=scout, truecnam_truespam=spam)) == \
        Reputation(94, "Icehook Scout", "risk level 94 (highly_likely)")
    assert read(envelope(truecnam_truespam=spam, marchex_cleancall=clean)) == Reputation(92, "TrueSpam",
                                                                                         "spam score 92")


def test_unique_names_are_recognised_by_their_start_and_unknown_addons_are_ignored() -> None:
    spam = fixture("nomorobo_spamscore.json")["results"]["nomorobo_spamscore"]
    # Twilio lets an account change only the end of an add-on's unique name
    assert read(envelope(nomorobo_spamscore_lines=spam)) == Reputation(100, "Nomorobo Spam Score", "score 1")
    assert read(envelope(Nomorobo_SpamScore=spam)) == Reputation(100, "Nomorobo Spam Score", "score 1")
    assert read(envelope(acme_spam_meter=answer({"score": 1}), twilio_caller_name=answer({"caller_name": "X"}))) \
        is None


def test_a_strings_of_digits_is_read_as_its_number() -> None:
    assert read(envelope(nomorobo_spamscore=answer({"score": "1"}))) == Reputation(100, "Nomorobo Spam Score",
                                                                                    "score 1")
    assert read(envelope(truecnam_truespam=answer({"spam_score": " 85 "}))) == Reputation(85, "TrueSpam",
                                                                                           "spam score 85")


# ---- no opinion: failures, absence ----------------------------------------------------------------------------

def test_an_addon_that_failed_gives_no_score() -> None:
    assert reputation_from_addons((FIXTURES / "failed_addon_nomorobo.json").read_text(encoding="utf-8")) is None


def test_a_failed_addon_beside_a_spam_answer_does_not_hide_it() -> None:
    env = fixture("failed_addon_nomorobo.json")
    env["results"]["marchex_cleancall"] = fixture("marchex_cleancall.json")["results"]["marchex_cleancall"]
    assert read(env) == Reputation(100, "Marchex Clean Call", "BLOCK: Testing")


def test_a_failed_addon_is_not_read_even_with_a_result() -> None:
    env = fixture("nomorobo_spamscore.json")
    env["results"]["nomorobo_spamscore"]["status"] = "failed"  # result still says score 1
    assert read(env) is None


def test_a_failed_envelope_gives_no_score_whatever_it_holds() -> None:
    """Modelled: no documented example of a failed envelope was found (tests/blocklist/addons/README.md)."""
    assert reputation_from_addons((FIXTURES / "failed_envelope_modelled.json").read_text(encoding="utf-8")) is None
    env = fixture("nomorobo_spamscore.json")
    for status in ("failed", None, 1, "", ["successful"]):
        env["status"] = status
        assert read(env) is None, status


@pytest.mark.parametrize("raw", [None, "", b"", "{}", '{"status": "successful"}', '{"status": "successful", '
                                 '"results": {}}', '{"status": "successful", "results": []}'])
def test_no_addons_at_all_gives_no_score(raw: str | bytes | None) -> None:
    assert reputation_from_addons(raw) is None


# ---- hostile input: bounded, never raises --------------------------------------------------------------------

def spam_json() -> str:
    return (FIXTURES / "nomorobo_spamscore.json").read_text(encoding="utf-8")


def test_a_body_over_the_limit_is_refused_before_it_is_parsed() -> None:
    env = fixture("nomorobo_spamscore.json")
    env["padding"] = "x" * ADDONS_MAX  # valid JSON with a score 1 in it, only too big
    raw = json.dumps(env)
    assert reputation_from_addons(raw) is None
    assert reputation_from_addons(raw.encode()) is None
    env["padding"] = "x" * (ADDONS_MAX - len(spam_json()) - 100)
    assert reputation_from_addons(json.dumps(env)) == Reputation(100, "Nomorobo Spam Score", "score 1")


@pytest.mark.parametrize("raw", [
    "[" * 100_000 + "]" * 100_000,  # 100k deep: refused by its size
    "[" * 30_000 + "]" * 30_000,  # under the size limit, deeper than json's recursion limit
    '{"status": "successful", "results": ' + '{"a": ' * 9_000 + "1" + "}" * 9_001,
    '{"status": "successful", "results": {"nomorobo_spamscore": ' + "[" * 25_000 + "]" * 25_000 + "}}",
])
def test_deep_nesting_gives_no_score(raw: str) -> None:
    assert reputation_from_addons(raw) is None


@pytest.mark.parametrize("raw", [
    "not json", "{", '{"status": "successful", "results": {"nomorobo_spamscore": }}', "null", "1", '"text"',
    "[1, 2, 3]", "9" * 5000,  # past Python's int-from-text digit limit: json raises ValueError
    '{"status": "successful", "results": {"nomorobo_spamscore": {"status": "successful", "result": {"score": '
    + "1" * 5000 + "}}}}",
    "\x00\x01\x02", "\ud800",
])
def test_what_is_not_an_addons_object_gives_no_score(raw: str) -> None:
    assert reputation_from_addons(raw) is None


def test_bytes_are_read_as_utf8_and_bad_bytes_give_no_score() -> None:
    assert reputation_from_addons(spam_json().encode()) == Reputation(100, "Nomorobo Spam Score", "score 1")
    assert reputation_from_addons(bytearray(spam_json().encode())) == Reputation(100, "Nomorobo Spam Score",
                                                                                 "score 1")
    assert reputation_from_addons(b"\xff\xfe" + spam_json().encode()) is None
    assert reputation_from_addons("\ufeff" + spam_json()) == Reputation(100, "Nomorobo Spam Score", "score 1")


@pytest.mark.parametrize("score", ["NaN", "Infinity", "-Infinity", "-1", "1e308", "2", "1.5", "true", "[1]",
                                   '{"value": 1}', '"one"', '"1e3"', '"-1"', "null"])
def test_wrong_types_and_numbers_out_of_range_give_no_score(score: str) -> None:
    assert '"score": 1' in spam_json()
    assert reputation_from_addons(spam_json().replace('"score": 1', f'"score": {score}')) is None


@pytest.mark.parametrize("field, value", [
    ("results", []), ("results", "nomorobo_spamscore"), ("results", None),
    ("results.nomorobo_spamscore", []), ("results.nomorobo_spamscore", "successful"),
    ("results.nomorobo_spamscore.result", [1]), ("results.nomorobo_spamscore.result", "score 1"),
    ("results.nomorobo_spamscore.result", None), ("results.nomorobo_spamscore.status", ["successful"]),
])
def test_wrong_types_anywhere_in_the_envelope_give_no_score(field: str, value: Any) -> None:
    env = fixture("nomorobo_spamscore.json")
    *path, last = field.split(".")
    node = env
    for key in path:
        node = node[key]
    node[last] = value
    assert read(env) is None


@pytest.mark.parametrize("raw", [["not", "a", "string"], 1, 1.5, {"status": "successful"}, object()])
def test_an_argument_that_is_not_text_gives_no_score(raw: Any) -> None:
    assert reputation_from_addons(raw) is None


def test_only_the_first_addons_are_looked_at() -> None:
    spam = fixture("nomorobo_spamscore.json")["results"]["nomorobo_spamscore"]
    results = {f"unknown_{i}": answer({}) for i in range(MAX_ADDONS)}
    assert read(envelope(**results, nomorobo_spamscore=spam)) is None
    del results["unknown_0"]
    assert read(envelope(**results, nomorobo_spamscore=spam)) == Reputation(100, "Nomorobo Spam Score", "score 1")


def test_the_addons_words_are_kept_short_and_printable() -> None:
    reason = "Robo\ncaller\x00 <script>" + "x" * 200
    rep = read(envelope(marchex_cleancall=answer({"result": {"recommendation": "BLOCK", "reason": reason}})))
    assert rep is not None and rep.score == 100
    assert rep.detail.startswith("BLOCK: Robo caller <script>") and len(rep.detail) <= len("BLOCK: ") + 40
    assert rep.detail.isprintable()
    scout = read(envelope(icehook_scout=answer({"risk_level": 50, "risk_rating": ["likely"]})))
    assert scout == Reputation(50, "Icehook Scout", "risk level 50")


@pytest.mark.parametrize("score", [-1, 101, True, 50.0, "50"])
def test_a_reputation_is_a_whole_number_from_0_to_100(score: Any) -> None:
    with pytest.raises(ValueError, match="whole number from 0 to 100"):
        Reputation(score, "x", "")


# ---- no input raises (hypothesis) --------------------------------------------------------------------------

JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                        st.sampled_from(["successful", "failed", "BLOCK", "PASS", "1", "NaN"]))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
NAMES = st.one_of(st.sampled_from(["nomorobo_spamscore", "marchex_cleancall", "icehook_scout", "ekata_phone_valid",
                                   "whitepages_pro_phone_rep", "truecnam_truespam", "ekata_reverse_phone"]),
                  st.text(max_size=20))
FIELDS = st.sampled_from(["score", "result", "recommendation", "reason", "risk_level", "risk_rating",
                          "reputation_level", "results", "reputation", "level", "spam_score", "spam_score_match"])
RESULTS = st.one_of(JSON_VALUES, st.dictionaries(FIELDS, JSON_VALUES, max_size=4))
ANSWERS = st.one_of(JSON_VALUES, st.fixed_dictionaries(
    {"status": st.one_of(st.just("successful"), JSON_LEAVES), "result": RESULTS}))
ENVELOPES = st.one_of(JSON_VALUES, st.fixed_dictionaries(
    {"status": st.one_of(st.just("successful"), JSON_LEAVES),
     "results": st.one_of(JSON_VALUES, st.dictionaries(NAMES, ANSWERS, max_size=5))}))


@settings(max_examples=400)
@given(ENVELOPES)
def test_no_envelope_raises_and_any_score_is_0_to_100(env: Any) -> None:
    rep = reputation_from_addons(json.dumps(env))
    assert rep is None or (0 <= rep.score <= 100 and rep.provider and len(rep.detail) <= 60)


@given(st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_no_text_or_bytes_raise(raw: str | bytes) -> None:
    rep = reputation_from_addons(raw)
    assert rep is None or 0 <= rep.score <= 100


@given(st.integers(min_value=0, max_value=len(spam_json())), st.text(max_size=5))
def test_a_damaged_answer_never_raises(cut: int, junk: str) -> None:
    raw = spam_json()
    rep = reputation_from_addons(raw[:cut] + junk + raw[cut:])
    assert rep is None or 0 <= rep.score <= 100


@given(st.one_of(st.text(max_size=120), st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120)))
def test_an_addons_words_come_out_as_printable_ascii_on_one_line_whatever_the_shortcut(text: str) -> None:
    """_words skips its regex for text already printable ASCII with single spaces; the result is always what the
    long way makes (control characters and non-ASCII to spaces, runs of spaces to one, trimmed, 40 at most)."""
    from blocklist.reputation import _PRINTABLE, DETAIL_CHARS, _words

    assert _words(text) == " ".join(_PRINTABLE.sub(" ", text[: DETAIL_CHARS * 2]).split())[:DETAIL_CHARS]
