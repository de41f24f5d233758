"""Every webhook's form is parsed by ivr/forms.py and its signature computed by signature.twilio_signature,
both faster than the libraries they replace. They must give exactly the libraries' answers: werkzeug's
form parser (through urllib's parse_qsl) and twilio-python's RequestValidator.compute_signature, for any
body and any fields, well-formed or not."""

from __future__ import annotations

import io
import random
import urllib.parse
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from twilio.request_validator import HMAC_SHA1, HMAC_SHA256, RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import FormDataParser

from ivr.forms import URLENCODED, FastFormParser, parse_urlencoded, unquote_plus
from ivr.simulate.addons import ICEHOOK, NOMOROBO, addons_payload
from ivr.webhooks.signature import twilio_signature

# Bodies built from the characters that matter to a form parser, plus anything else.
form_chars = st.one_of(st.sampled_from(list("%&=+\\aZ09-_.~ ") + ["%7B", "%22", "%zz", "%f", "%FF", "%e2%82%ac",
                                                                  "%E2%82", "%C3%A9", "%00", "\u00e9", "\u20ac"]),
                       st.characters(blacklist_categories=("Cs",)))
bodies = st.lists(form_chars, max_size=60).map("".join)


def werkzeug_form(body: bytes) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    _stream, form, files = FormDataParser().parse(io.BytesIO(body), URLENCODED, len(body), {})
    return list(form.items(multi=True)), list(files.items(multi=True))


def fast_form(body: bytes) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    _stream, form, files = FastFormParser().parse(io.BytesIO(body), URLENCODED, len(body), {})
    return list(form.items(multi=True)), list(files.items(multi=True))


@settings(max_examples=600, deadline=None)
@given(bodies)
@example("a=%zz&b=%4&c=%%41&d=\\x41&e=%5Cx41&f=+%2B+&=x&g&&h=1=2")
@example("AddOns=%7B%22status%22%3A%22successful%22%7D&From=%2B14155550100")
@example("x=%ff%fe&y=%C3&z=%E2%82%AC")
def test_a_form_parses_as_parse_qsl_does(body: str) -> None:
    assert parse_urlencoded(body) == urllib.parse.parse_qsl(body, keep_blank_values=True,
                                                            errors="werkzeug.url_quote")


@settings(max_examples=300, deadline=None)
@given(st.one_of(bodies.map(lambda b: b.encode("utf-8")), st.binary(max_size=80)))
@example(b"a=\xff\xfe&b=1")  # not UTF-8: both give empty forms
def test_the_request_form_is_werkzeugs(body: bytes) -> None:
    assert fast_form(body) == werkzeug_form(body)


def test_other_bodies_are_werkzeugs_own() -> None:
    body = b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--xyz--\r\n'
    _s, form, _f = FastFormParser().parse(io.BytesIO(body), "multipart/form-data", len(body), {"boundary": "xyz"})
    assert form.to_dict() == {"a": "b"}
    _s, form, _f = FastFormParser().parse(io.BytesIO(b"{}"), "application/json", 2, {})
    assert not form


@pytest.mark.parametrize("text", ["%41%42", "a%2Bb+c", "%E2%82%AC", "%zz%41", "\u00e9%41", "a\\x41%41", "%"])
def test_unquote_plus_is_urllibs(text: str) -> None:
    assert unquote_plus(text) == urllib.parse.unquote_plus(text, errors="werkzeug.url_quote")


field_names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
field_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
multi_forms = st.lists(st.tuples(field_names, field_values), max_size=12)


@settings(max_examples=400, deadline=None)
@given(multi_forms, st.text(max_size=30), st.sampled_from([HMAC_SHA1, HMAC_SHA256, "hmac_sha256"]))
def test_the_signature_is_the_librarys(fields: list[tuple[str, str]], path: str, algorithm: str) -> None:
    url = "https://ivr.example.com/voice/" + path
    secret = "0123456789abcdef0123456789abcdef"
    library = RequestValidator(secret)
    form = MultiDict(fields)
    assert twilio_signature(secret, url, form, algorithm) == library.compute_signature(url, form, algorithm)
    plain = dict(fields)
    assert twilio_signature(secret, url, plain, algorithm) == library.compute_signature(url, plain, algorithm)


def test_an_unknown_algorithm_is_refused_as_the_library_refuses_it() -> None:
    with pytest.raises(ValueError):
        RequestValidator("x").compute_signature("https://a.example", {}, "HMAC_MD5")
    with pytest.raises(ValueError, match="unsupported"):
        twilio_signature("x", "https://a.example", {}, "HMAC_MD5")


def test_a_real_webhook_is_parsed_and_signed_alike() -> None:
    rng = random.Random(5)
    params = {"AccountSid": "AC" + "b" * 32, "CallSid": "CA" + "1" * 32, "From": "+14155550123", "To": "+18005551212",
              "CallerName": "Jos\u00e9 M\u00fcller & Co", "FromCity": "SAN FRANCISCO", "ToCity": "",
              "StirVerstat": "TN-Validation-Passed-A", "AddOns": addons_payload({NOMOROBO: 1, ICEHOOK: 97}),
              "CallToken": "%7B%22parentCallInfoToken%22%3A%22" + rng.randbytes(96).hex() + "%22%7D"}
    body = urllib.parse.urlencode(params).encode()
    assert fast_form(body) == werkzeug_form(body)
    form = MultiDict(fast_form(body)[0])
    assert form["AddOns"] == params["AddOns"]
    url = "https://ivr.example.com/voice/incoming"
    assert twilio_signature("t" * 32, url, form) == RequestValidator("t" * 32).compute_signature(url, params)
