"""Sign text: the safe character set and the lines x width grid."""

from __future__ import annotations

import pytest

from hub.models import MessageKind, Notice, Recipient
from hub.testing import make_action, make_context
from plugins.matrix_boards import MatrixBoardsChannel
from plugins.matrix_boards.layout import fit, is_sign_safe, paginate, sign_safe, ticker, wrap


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("Zoë", "Zoe"),
        ("beëindigd", "beeindigd"),
        ("Ĳsselmonde, Súdwest-Fryslân", "IJsselmonde, Sudwest-Fryslan"),
        ("Straße", "Strasse"),
        ("Søren Łukasz Æsop", "Soren Lukasz AEsop"),
        ("‘rode’ jas — “blauw” … 1½", "'rode' jas - \"blauw\" ... 11/2"),
        ("€ 50\u00a0beloning", "EUR 50 beloning"),
        ("regel\ttwee\nregel", "regel twee regel"),
        ("kind 🙂 vermist", "kind vermist"),
        ("日本", ""),
        ("  veel    ruimte  ", "veel ruimte"),
    ],
)
def test_sign_safe_transliterates_to_printable_ascii(text, safe):
    assert sign_safe(text) == safe
    assert is_sign_safe(sign_safe(text))


def test_sign_safe_uppercase():
    assert sign_safe("Zoë is gevonden", uppercase=True) == "ZOE IS GEVONDEN"


def test_wrap_keeps_phone_numbers_together():
    assert wrap("Gezien? Bel 0800 0011", 16) == ["Gezien? Bel", "0800 0011"]
    assert wrap("Bel 0800 0011 nu", 8) == ["Bel 0800", "0011 nu"]  # a group too long for a line may break


HEAD, BODY, CALL = "BURGERNET: VERMISSING", "Zoe (7) vermist in Dulmen", "Gezien? Bel 0800 0011"


@pytest.mark.parametrize(
    ("lines", "width", "expected"),
    [
        (3, 28, [HEAD, BODY, CALL]),  # everything fits
        (2, 28, [BODY, CALL]),  # the headline goes first
        (3, 16, ["Zoe (7)...", "Gezien? Bel", "0800 0011"]),  # then the body is cut, the number stays whole
        (2, 16, ["Zoe (7) vermist", "in Dulmen"]),  # the smallest signs: the body alone
        (1, 16, ["Zoe (7)..."]),
        (1, 8, ["Zoe..."]),
    ],
)
def test_fit_gives_way_in_a_fixed_order(lines, width, expected):
    out = fit([HEAD, BODY, CALL], lines, width)
    assert out == expected
    assert len(out) <= lines and all(len(line) <= width for line in out)


@pytest.mark.parametrize("lines", range(1, 6))
@pytest.mark.parametrize("width", [8, 12, 20, 28, 40])
def test_fit_and_paginate_never_overflow(lines, width):
    paragraphs = [HEAD, "Een heel lang woord: Kinderdagverblijfmedewerkster", BODY * 3, CALL]
    short = fit(paragraphs, lines, width)
    assert 1 <= len(short) <= lines and all(len(line) <= width for line in short)
    pages = paginate(paragraphs, lines, width)
    assert all(1 <= len(page) <= lines and all(len(line) <= width for line in page) for page in pages)
    assert " ".join(" ".join(p) for p in pages).replace(" ", "") == "".join(paragraphs).replace(" ", "")


def test_ticker_joins_and_cuts():
    assert ticker(["A", "", "B"], 100) == "A - B"
    cut = ticker(["x" * 50, "y" * 50], 60)
    assert len(cut) == 60 and cut.endswith("...")


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("kind", list(MessageKind))
def test_rendered_text_is_sign_safe_in_every_language(language, kind):
    channel = MatrixBoardsChannel(make_context("matrix_boards", {"lines": 4, "width": 20}, sandbox=True,
                                               channel_cls=MatrixBoardsChannel))
    action = make_action(title="Zoë (7) vermist — ‘rode’ jas", description="Blond haar, bril, 1,20 m – ‘Ĳs’ op trui.",
                         **({"result": "found", "result_text": "Zij is ongedeerd bij oma aangetroffen."}
                            if kind is MessageKind.END else {}))
    rendered = channel.render(Notice(action=action, kind=kind), Recipient(address="utrecht", language=language))
    lines = rendered.text.splitlines()
    assert 1 <= len(lines) <= 4 and all(len(line) <= 20 and is_sign_safe(line) for line in lines)
    assert is_sign_safe(rendered.extra["ticker"])
    assert ("Thank you" in rendered.extra["ticker"]) == (kind is MessageKind.END and language == "en")
    if kind is MessageKind.END:
        assert "ongedeerd" in rendered.extra["ticker"]
