"""Post length and province names: pure functions, table-driven."""

from __future__ import annotations

import pytest

from hub.models import MessageKind, Result
from hub.testing import make_context, make_notice
from plugins.twitter import TwitterChannel
from plugins.twitter.provinces import PROVINCES, province_of
from plugins.twitter.text import shorten, weighted_length


@pytest.mark.parametrize(
    "text, weight",
    [
        ("Burgernet", 9),
        ("beëindigd – „ok”", 16),  # Latin-1, Latin Extended and general punctuation weigh 1
        ("警察", 4),  # CJK weighs 2
        ("🚓", 2),
        ("zie https://x.nl/a", 4 + 23),  # a URL counts 23
        ("zie https://example.org/" + "a" * 40, 4 + 60),  # ... or its own length if longer (conservative)
        ("bel burgernet.nl", 4 + 23),  # bare domains are linked too
    ],
)
def test_weighted_length(text, weight):
    assert weighted_length(text) == weight


def test_shorten_cuts_only_the_free_text():
    def compose(free):
        return f"Burgernet ST7Q2K: {free} Bel gratis 0800 0011."

    text = shorten("woord " * 100, compose)
    assert weighted_length(text) <= 280
    assert text.startswith("Burgernet ST7Q2K: woord") and text.endswith("… Bel gratis 0800 0011.")
    assert shorten("kort", compose) == compose("kort")
    # a single huge word is cut by characters
    text = shorten("x" * 500, compose)
    assert weighted_length(text) <= 280 and text.endswith("… Bel gratis 0800 0011.")
    # wide characters count double
    text = shorten("警" * 300, compose)
    assert weighted_length(text) <= 280 and "0800 0011" in text


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_post_fits(language, kind):
    channel = TwitterChannel(make_context("twitter", {}, sandbox=True, channel_cls=TwitterChannel))
    overrides = {"description": "Vrouw met 🐕 " * 80}
    if kind is MessageKind.END:
        overrides.update(result=Result.ARRESTED, result_text="De verdachte is na een tip aangehouden. " * 20)
    text = channel.compose(make_notice(kind, **overrides), language)
    assert weighted_length(text) <= 280
    assert "ST7Q2K" in text
    if kind is not MessageKind.END:
        # the province's account tells people to call 112, as the network does on X
        assert text.endswith(("Bel 112.", "Call 112."))


@pytest.mark.parametrize(
    "region, province",
    [
        ("utrecht", "utrecht"), ("Noord-Holland", "noord_holland"), ("zuid holland", "zuid_holland"),
        ("Fryslân", "friesland"), ("Noord-Brabant", "noord_brabant"), ("limburg/maastricht", "limburg"),
        ("gelderland:arnhem", "gelderland"), ("South Holland", "zuid_holland"), ("Bavaria", None), (None, None), ("", None),
    ],
)
def test_province_of(region, province):
    assert province_of(region, PROVINCES) == province


def test_operator_aliases_and_a_narrower_province_list():
    assert province_of("Stad", PROVINCES, {"stad": "groningen"}) == "groningen"
    assert province_of("utrecht", ("groningen",)) is None
