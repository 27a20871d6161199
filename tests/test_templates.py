"""The core's citizen-facing texts: Dutch by default, English too."""

from __future__ import annotations

import pytest

from hub.models import MessageKind, Result
from hub.templates import MessageTemplates
from hub.testing import make_notice


def notice(kind=MessageKind.START, **action):
    return make_notice(kind, **action)


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("variant", ["short", "long"])
def test_a_description_without_a_full_stop_still_ends_its_sentence(language, variant):
    text = MessageTemplates().text(notice(description="Man met rode pet,\n op een fiets"), language, variant=variant)
    assert "Man met rode pet, op een fiets. " in text


def test_the_dutch_long_start_reads_like_the_burgernet_call():
    text = MessageTemplates().text(notice(), "nl", variant="long")
    assert text.startswith("Hier volgt een oproep voor Burgernet. Vermissing. Wilt u uitkijken naar: Jongen van 5 jaar")
    assert "gratis terugbellen naar 0800 0011" in text and "Laatst gezien bij het station. En wilt u" in text


def test_network_and_callback_number_come_from_the_configuration():
    templates = MessageTemplates(defaults={"network": "Buurtalert"})
    text = templates.text(notice(callback_number="0900 8844"), "en", variant="short")
    assert text.startswith("Buurtalert ") and "0900 8844" in text


def test_the_closing_message_names_the_result():
    end = make_notice(MessageKind.END, result=Result.FOUND)
    assert "gevonden" in MessageTemplates().text(end, "nl", variant="long").lower()
