"""STIR/SHAKEN attestation: every StirVerstat value Twilio documents ("Trusted Calling with SHAKEN/STIR") lands in
its class; anything else is 'unsigned', never an error and never harder on the caller than no value at all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocklist.attestation import ATTESTATION_CLASSES, attestation_class, describe_attestation

# Twilio's table, value by value, with the class the contract gives each.
DOCUMENTED = {
    "TN-Validation-Passed-A": "A",
    "TN-Validation-Passed-B": "B",
    "TN-Validation-Passed-C": "C",
    "TN-Validation-Failed-A": "failed",
    "TN-Validation-Failed-B": "failed",
    "TN-Validation-Failed-C": "failed",
    "No-TN-Validation": "unsigned",
    "TN-Validation-Failed": "failed",
    "NULL": "unsigned",
    "TN-Validation-Passed-A-Diverted": "A",
    "TN-Validation-Passed-B-Diverted": "B",
    "TN-Validation-Passed-C-Diverted": "C",
    "TN-Validation-Failed-A-Diverted": "failed",
    "TN-Validation-Failed-B-Diverted": "failed",
    "TN-Validation-Failed-C-Diverted": "failed",
    "TN-Validation-Passed-A-Passthrough": "A",
    "TN-Validation-Passed-B-Passthrough": "B",
    "TN-Validation-Passed-C-Passthrough": "C",
    "TN-Validation-Failed-A-Passthrough": "failed",
    "TN-Validation-Failed-B-Passthrough": "failed",
    "TN-Validation-Failed-C-Passthrough": "failed",
}


@pytest.mark.parametrize(("stir", "expected"), sorted(DOCUMENTED.items()))
def test_every_documented_value_has_its_class(stir: str, expected: str) -> None:
    assert attestation_class(stir) == expected


@pytest.mark.parametrize("stir", sorted(DOCUMENTED))
def test_case_and_spaces_do_not_matter(stir: str) -> None:
    for written in (stir.lower(), stir.upper(), f"  {stir}\t", stir.replace("-", " "), stir.replace("-", "_")):
        assert attestation_class(written) == DOCUMENTED[stir], written


@pytest.mark.parametrize("stir", [None, "", "   ", "null", "garbage", "TN-Validation-Passed", "TN-Validation-Passed-D",
                                  "TN-Validation-Passed-AB", "TN-Validation-Failed-D", "Passed-A", "A",
                                  "TN-Validation-Passed-A" * 4, "TN-Validation-Passed-A\x00", "TN-Validation-Passed-A-B"])
def test_absent_null_and_unknown_values_are_unsigned(stir: str | None) -> None:
    assert attestation_class(stir) == "unsigned"


def test_a_value_too_long_to_be_a_stirverstat_is_not_read() -> None:
    assert attestation_class(" " * 60 + "TN-Validation-Failed-A") == "unsigned"
    assert attestation_class(" " * 30 + "TN-Validation-Failed-A") == "failed"


@pytest.mark.parametrize(("stir", "words"), [
    ("TN-Validation-Passed-A", "caller ID verified by the carrier (A)"),
    ("TN-Validation-Passed-B", "caller known to the carrier, number not verified (B)"),
    ("TN-Validation-Passed-C", "call signed, caller not known to the carrier (C)"),
    ("TN-Validation-Passed-A-Diverted", "caller ID verified by the carrier (A), forwarded"),
    ("TN-Validation-Passed-C-Passthrough", "call signed, caller not known to the carrier (C), passed through"),
    ("TN-Validation-Failed-B", "caller ID verification failed (B)"),
    ("TN-Validation-Failed-C-Diverted", "caller ID verification failed (C), forwarded"),
    ("TN-Validation-Failed", "caller ID verification failed"),
    ("No-TN-Validation", "not signed (the carrier's signature could not be used)"),
    ("NULL", "not signed"),
    (None, "not signed"),
    ("nonsense", "not signed"),
])
def test_each_value_is_described_in_plain_words(stir: str | None, words: str) -> None:
    assert describe_attestation(stir) == words


@given(st.one_of(st.none(), st.text(max_size=80), st.sampled_from(sorted(DOCUMENTED))))
def test_no_input_raises_and_every_answer_is_a_class(stir: str | None) -> None:
    assert attestation_class(stir) in ATTESTATION_CLASSES
    assert describe_attestation(stir)


@given(st.one_of(st.integers(), st.binary(), st.lists(st.text()), st.floats()))
def test_values_that_are_not_text_are_unsigned(stir: object) -> None:
    assert attestation_class(stir) == "unsigned"  # type: ignore[arg-type]
    assert describe_attestation(stir) == "not signed"  # type: ignore[arg-type]
