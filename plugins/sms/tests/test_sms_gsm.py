"""GSM-7 / UCS-2 detection, segment counting and fitting, table-driven."""

from __future__ import annotations

import pytest

from plugins.sms import gsm

EXT = "^{}\\[~]|€\f"


@pytest.mark.parametrize(
    "text, encoding, units, segments",
    [
        ("", "GSM-7", 0, 1),
        ("Hallo", "GSM-7", 5, 1),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("a" * 459, "GSM-7", 459, 3),
        ("a" * 460, "GSM-7", 460, 4),
        # the extension table costs two septets per character
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("a" * 159 + "€", "GSM-7", 161, 2),
        ("a" * 158 + "[", "GSM-7", 160, 1),
        # an escape pair is never split: 152 + one pair = 154 > 153, so the pair moves on
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),
        ("a" * 151 + "€" + "a" * 153, "GSM-7", 306, 2),
        # the basic table includes these accented letters
        ("Çé èùìòÅåÄÖÑÜäöñüàØøÆæßÉ¿¡§¤£¥@$", "GSM-7", 32, 1),
        ("Δ_ΦΓΛΩΠΨΣΘΞ", "GSM-7", 11, 1),
        ("line\nbreak\r", "GSM-7", 11, 1),
        (EXT, "GSM-7", 20, 1),
        # anything outside GSM-7 makes the whole text UCS-2
        ("beëindigd", "UCS-2", 9, 1),
        ("ë" * 70, "UCS-2", 70, 1),
        ("ë" * 71, "UCS-2", 71, 2),
        ("ë" * 134, "UCS-2", 134, 2),
        ("ë" * 135, "UCS-2", 135, 3),
        ("a" * 100 + "ç", "UCS-2", 101, 2),
        ("“quoted”", "UCS-2", 8, 1),
        ("Ç ç", "UCS-2", 3, 1),
        # characters outside the BMP are surrogate pairs: two units, never split
        ("🚨", "UCS-2", 2, 1),
        ("🚨" * 35, "UCS-2", 70, 1),
        ("🚨" * 36, "UCS-2", 72, 2),
        ("a" + "🚨" * 34, "UCS-2", 69, 1),
        ("a" * 66 + "🚨" + "a" * 66, "UCS-2", 134, 3),
        ("a" * 65 + "🚨" + "a" * 67, "UCS-2", 134, 2),
    ],
)
def test_encoding_units_and_segments(text, encoding, units, segments):
    info = gsm.info(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)
    assert gsm.encoding(text) == encoding
    assert gsm.segments(text) == segments


def test_the_alphabet_tables_have_the_right_sizes():
    assert len(gsm.GSM7_BASIC) == 127  # 128 code points minus the escape
    assert len(gsm.GSM7_EXTENSION) == 10
    assert not gsm.GSM7_BASIC & gsm.GSM7_EXTENSION


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("‘quote’ “quote”", "'quote' \"quote\""),
        ("a – b — c", "a - b - c"),
        ("wacht…", "wacht..."),
        ("beëindigd, geïnteresseerd, ideeën", "beeindigd, geinteresseerd, ideeen"),
        ("1\u00a0km\u202fverder", "1 km verder"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("façade", "facade"),
        ("Zoë", "Zoe"),
        # letters GSM-7 already has are kept as they are
        ("café à Ñandù Ü", "café à Ñandù Ü"),
        # what has no look-alike stays, and the text stays UCS-2
        ("alarm 🚨", "alarm 🚨"),
    ],
)
def test_normalize_replaces_look_alikes(raw, expected):
    assert gsm.normalize(raw) == expected


def test_every_replacement_is_gsm7():
    for source, target in gsm.SMART_REPLACEMENTS.items():
        assert gsm.is_gsm7(target), source


FIXED_HEAD = "Burgernet AB12CD Vermissing: kijk uit naar "
FIXED_TAIL = " Gezien? Bel gratis 0800 0011."


def render(description: str) -> str:
    return f"{FIXED_HEAD}{description}{FIXED_TAIL}"


@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_fit_shortens_only_the_description(max_segments):
    description = " ".join(f"woord{i}" for i in range(200))
    fitted = gsm.fit(render, description, max_segments)
    assert fitted.shortened and fitted.fits
    assert fitted.info.segments <= max_segments
    assert fitted.text.startswith(FIXED_HEAD)
    assert fitted.text.endswith(FIXED_TAIL)
    assert fitted.description.endswith("...")
    kept = fitted.description[: -len("...")]
    assert description.startswith(kept) and description[len(kept)] == " "  # cut at a word boundary
    # one more word would not have fitted
    longer = description[: description.index(" ", len(kept) + 1)] + "..."
    assert gsm.segments(render(longer)) > max_segments


def test_fit_keeps_a_text_that_fits():
    fitted = gsm.fit(render, "rode   jas,\n blauwe broek", 1)
    assert not fitted.shortened
    assert fitted.text == render("rode jas, blauwe broek")


def test_fit_cuts_inside_a_single_long_word():
    fitted = gsm.fit(render, "x" * 500, 1)
    assert fitted.fits and fitted.info.segments == 1
    assert fitted.text.endswith(FIXED_TAIL) and "x..." in fitted.text


def test_fit_switches_to_gsm7_when_the_ucs2_character_is_cut_off():
    description = "a " * 60 + "🚨 alarm"
    fitted = gsm.fit(render, description, 1)
    assert fitted.info.encoding == "GSM-7"
    assert fitted.fits


def test_fit_reports_when_the_fixed_parts_alone_are_too_long():
    def fixed_too_long(description: str) -> str:
        return "x" * 200 + description

    fitted = gsm.fit(fixed_too_long, "some description", 1)
    assert not fitted.fits
    assert fitted.text == "x" * 200  # the description is gone, the fixed text is never cut
