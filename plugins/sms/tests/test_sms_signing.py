"""Twilio request signatures (checked against Twilio's published test vectors) and CM URL tokens."""

from __future__ import annotations

import pytest

from plugins.sms import signing

# the example from Twilio's request-validation docs and its official helper libraries' tests
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_signature_matches_twilios_test_vector():
    assert signing.twilio_signature(TOKEN, URL, PARAMS.items()) == EXPECTED


def test_repeated_parameters_are_sorted_by_value():
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert signing.twilio_signature(TOKEN, URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


@pytest.mark.parametrize(
    "url, signature, valid",
    [
        (URL, EXPECTED, True),
        # Twilio may have signed the URL with or without the default port
        (URL.replace(".com", ".com:443"), EXPECTED, True),
        (URL, "kvajT1Ptam85bY51eRf/AJRuM3w=", True),
        (URL.replace("https", "http"), "0ZXoZLH/DfblKGATFgpif+LLRf4=", True),
        (URL.replace(".com", ".com:1234").replace("https", "http"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", True),
        (URL, EXPECTED[:-2] + "A=", False),
        (URL + "&baz=3", EXPECTED, False),
        (URL, "", False),
        (URL, None, False),
    ],
)
def test_verify(url, signature, valid):
    assert signing.verify_twilio(TOKEN, url, PARAMS.items(), signature) is valid


def test_verify_needs_a_token():
    assert not signing.verify_twilio("", URL, PARAMS.items(), signing.twilio_signature("", URL, PARAMS.items()))


def test_url_tokens_depend_on_secret_and_route():
    a = signing.url_token(b"secret-a", "status")
    assert a == signing.url_token(b"secret-a", "status")
    assert a != signing.url_token(b"secret-b", "status")
    assert a != signing.url_token(b"secret-a", "inbound")
    assert signing.verify_url_token(b"secret-a", "status", a)
    assert not signing.verify_url_token(b"secret-a", "inbound", a)
    assert not signing.verify_url_token(b"secret-a", "status", None)
    assert a.replace("-", "").replace("_", "").isalnum()
