"""Words true to the network: crisis messages lead with safety advice, results fit the action's type,
and every closing says where to go next, in every channel and in Dutch and English."""

from __future__ import annotations

import pytest

from hub.errors import ValidationError
from hub.models import RESULTS_BY_TYPE, ActionType, MessageKind, Recipient, Result, SubjectKind, Urgency
from hub.schemas import validate
from hub.templates import MessageTemplates
from hub.testing import RecordingPlugin, make_context, make_notice

from conftest import DISPATCHER, start_payload

ADVICE = "Houd ramen en deuren gesloten en zet de ventilatie uit"
FIRE = "Grote brand bij het bedrijventerrein Lage Weide, veel rook richting Zuilen."
CRISIS = dict(type=ActionType.CRISIS, description=FIRE, safety_advice=ADVICE, subject=SubjectKind.NONE,
              title="Grote brand Lage Weide")
PAGE = "https://www.burgernet.example/public/actions/act-01HZX0TEST7Q2K"


def channel_classes():
    from plugins.app.channel import AppChannel
    from plugins.email.channel import EmailChannel
    from plugins.matrix_boards.channel import MatrixBoardsChannel
    from plugins.messenger.channel import MessengerChannel
    from plugins.sms.channel import SmsChannel
    from plugins.twitter.channel import TwitterChannel

    return {"sms": (SmsChannel, "+31612345678"), "app": (AppChannel, "install-1"),
            "twitter": (TwitterChannel, "utrecht"), "email": (EmailChannel, "ann@example.net"),
            "messenger": (MessengerChannel, "4001"), "matrix_boards": (MatrixBoardsChannel, "utrecht")}


def rendered_text(name: str, notice, language: str) -> str:
    cls, address = channel_classes()[name]
    channel = cls(make_context(name, {}, sandbox=True, channel_cls=cls))
    out = channel.render(notice, Recipient(address=address, participant_id="p-1", language=language))
    return " ".join(out.text.split())


def test_a_crisis_needs_safety_advice_from_the_dispatcher():
    body = start_payload(type="crisis", description=FIRE)
    with pytest.raises(ValidationError) as e:
        validate("action.start", body)
    assert e.value.field == "safety_advice"
    validate("action.start", {**body, "safety_advice": ADVICE, "nl_alert": True})


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("variant", ["short", "long"])
def test_the_core_crisis_text_says_what_to_do_first_and_asks_nobody_to_look_out(language, variant):
    text = MessageTemplates().text(make_notice(**CRISIS, nl_alert=True), language, variant=variant)
    assert text.index(ADVICE) < text.index(FIRE)
    assert "NL-Alert" in text
    for look_out in ("kijk uit", "uitkijken", "look out", "Gezien?", "Seen?", "0800 0011"):
        assert look_out not in text, (look_out, text)


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("name", ["sms", "app", "twitter", "email", "messenger", "matrix_boards"])
def test_every_channel_puts_the_safety_advice_first(name, language):
    text = rendered_text(name, make_notice(**CRISIS), language)
    what = CRISIS["title"] if name == "matrix_boards" else FIRE[:40]  # a sign's screen shows the title
    assert ADVICE[:20] in text and what in text, text
    assert text.index(ADVICE[:20]) < text.index(what)
    assert "0800 0011" not in text and "look out" not in text.lower() and "kijk uit" not in text.lower()


def test_safety_advice_on_any_action_comes_before_the_description():
    notice = make_notice(type=ActionType.ROBBERY, safety_advice="Benader de verdachte niet: hij is gewapend")
    text = MessageTemplates().text(notice, "nl", variant="short")
    assert text.index("Benader de verdachte niet") < text.index("kijk uit naar")


@pytest.mark.parametrize("action_type", list(ActionType))
@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_result_that_fits_a_type_has_a_closing_that_fits_it(action_type, language):
    person = ("vermiste persoon", "missing person")
    for result in RESULTS_BY_TYPE[action_type]:
        notice = make_notice(MessageKind.END, type=action_type, result=result)
        text = MessageTemplates().text(notice, language)
        if action_type is not ActionType.MISSING_PERSON:
            assert not any(p in text for p in person), (action_type, result, text)
        assert "Thank you" in text or "dank" in text.lower()


@pytest.mark.parametrize(("action_type", "result", "nl", "en"), [
    ("suspicious_vehicle", "vehicle_found", "Het gezochte voertuig is gevonden.", "The vehicle has been found."),
    ("suspicious_vehicle", "ended_without_result", "Het voertuig is niet gevonden", "The vehicle has not been found"),
    ("missing_person", "found", "De vermiste persoon is gevonden.", "The missing person has been found."),
    ("missing_person", "ended_without_result", "nog niet gevonden", "not been found yet"),
    ("robbery", "arrested", "De verdachte is aangehouden.", "The suspect has been arrested."),
    ("neighbourhood_inquiry", "useful_information", "nuttige informatie", "useful information"),
    ("crisis", "all_clear", "Het gevaar is voorbij.", "The danger is over."),
])
@pytest.mark.parametrize("name", ["sms", "app", "twitter", "email", "messenger"])
def test_closing_words_per_type_in_every_channel(name, action_type, result, nl, en):
    notice = make_notice(MessageKind.END, type=action_type, result=Result(result))
    assert nl in rendered_text(name, notice, "nl")
    assert en in rendered_text(name, notice, "en")


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("name", ["sms", "app", "email", "messenger"])
def test_the_closing_says_where_to_go_next_and_links_the_public_page_only_where_one_exists(name, language):
    without = rendered_text(name, make_notice(MessageKind.END), language)
    assert "112" in without and "0900 8844" in without
    assert "/public/actions/" not in without
    assert PAGE in rendered_text(name, make_notice(MessageKind.END, page_url=PAGE), language)


def test_the_province_account_links_the_page_and_tells_people_to_call_112():
    end = rendered_text("twitter", make_notice(MessageKind.END, page_url=PAGE), "nl")
    assert PAGE in end
    start = rendered_text("twitter", make_notice(), "nl")
    assert start.endswith("Gezien? Bel 112.")


async def test_results_that_do_not_fit_the_type_are_refused_naming_the_field(make_hub, routes_to_recording):
    config = {"hub": {"routes": routes_to_recording,
                      "action_page_url": "https://www.burgernet.example/public/actions/"},
              "channels": {"recording": {"token": "x"}}}
    async with make_hub(plugins=[RecordingPlugin()], config=config) as hub:
        action = await hub.actions.start(start_payload(type="suspicious_vehicle"), DISPATCHER)
        assert action["page_url"] == f"https://www.burgernet.example/public/actions/{action['id']}"
        with pytest.raises(ValidationError) as e:
            await hub.actions.end(action["id"], {"result": "found"}, DISPATCHER)
        assert e.value.field == "result" and "vehicle_found" in e.value.reason
        ended = await hub.actions.end(action["id"], {"result": "vehicle_found"}, DISPATCHER)
        assert ended["result"] == "vehicle_found"


async def test_without_a_page_setting_no_link_is_made(make_hub, routes_to_recording):
    config = {"hub": {"routes": routes_to_recording}, "channels": {"recording": {"token": "x"}}}
    async with make_hub(plugins=[RecordingPlugin()], config=config) as hub:
        action = await hub.actions.start(start_payload(urgency=Urgency.NON_URGENT.value), DISPATCHER)
        assert action["page_url"] is None
