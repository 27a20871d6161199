"""The MIME composer, checked by parsing its output back with the stdlib parser."""

from __future__ import annotations

import email
import email.policy
import re

import pytest

from email_testkit import PNG
from hub.models import Rendered
from plugins.email.message import InlinePhoto, compose, encode_header, format_address

TEXT = "Regel één.\n.begint met een punt\nFrom the start\nspaties aan het eind   \n" + "lang " * 60 + "\n"
HTML = "<p>Hé <b>daar</b></p>\n"


def rendered(subject="Burgernet buurtonderzoek (actie ABC123): Inbraak – Lange Nieuwstraat", **extra):
    return Rendered(subject=subject, text=TEXT, html=HTML, extra={
        "message_id": "<act-1.start.abc@burgernet.example.org>", "in_reply_to": None,
        "unsubscribe_url": "https://hub.example.org/v1/channels/email/unsubscribe/" + "x" * 180 + ".sig",
        "language": "nl", **extra})


def parse(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def content(part) -> str:
    """A text part's decoded content with CRLF line ends read back as ``\\n``."""
    return part.get_content().replace("\r\n", "\n")


def test_round_trip_with_every_header_and_both_parts():
    raw = compose(rendered(), from_header=format_address("Burgernet Utrecht", "noreply@burgernet.example.org"),
                  to="ann@example.net", reply_to="info@burgernet.example.org")
    assert raw.isascii() and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    msg = parse(raw)
    assert msg["Subject"] == "Burgernet buurtonderzoek (actie ABC123): Inbraak – Lange Nieuwstraat"
    assert msg["From"].addresses[0].display_name == "Burgernet Utrecht"
    assert msg["To"] == "ann@example.net" and msg["Reply-To"] == "info@burgernet.example.org"
    assert msg["List-Unsubscribe"] == "<https://hub.example.org/v1/channels/email/unsubscribe/" + "x" * 180 + ".sig>"
    assert msg["MIME-Version"] == "1.0" and msg["Date"].datetime is not None
    assert msg.get_content_type() == "multipart/alternative" and not msg.defects
    assert content(msg.get_body(("plain",))) == TEXT
    assert content(msg.get_body(("html",))) == HTML


def test_an_embedded_photo_is_a_related_part():
    photo = InlinePhoto.of(PNG, "image", "png", "photo.1@burgernet.example.org", "boy photo?.png")
    msg = parse(compose(rendered(), from_header="a@b.nl", to="c@d.nl", photo=photo))
    related = msg.get_body(("related",))
    html, image = related.iter_parts()
    assert content(html) == HTML and image.get_content() == PNG
    assert image["Content-ID"] == "<photo.1@burgernet.example.org>" and image.get_filename() == "boy_photo_.png"


def test_long_non_ascii_subjects_are_split_into_valid_encoded_words():
    subject = "Aanvulling: " + "één twee drie – " * 20
    value = encode_header(subject)
    assert all(len(word) <= 75 for word in value.split("\r\n "))
    msg = parse(compose(rendered(subject=subject), from_header="a@b.nl", to="c@d.nl"))
    assert msg["Subject"] == subject


def test_display_names_are_quoted_or_encoded():
    assert format_address("Burgernet", "a@b.nl") == "Burgernet <a@b.nl>"
    assert parse(f"From: {format_address('Politie, Utrecht', 'a@b.nl')}\r\n\r\n".encode())["From"].addresses[0].display_name == "Politie, Utrecht"
    assert parse(f"From: {format_address('Gemeente Súdwest', 'a@b.nl')}\r\n\r\n".encode())["From"].addresses[0].display_name == "Gemeente Súdwest"


@pytest.mark.parametrize("field", ["message_id", "unsubscribe_url"])
def test_header_injection_is_refused(field):
    with pytest.raises(ValueError):
        compose(rendered(**{field: "x\r\nBcc: victim@example.net"}), from_header="a@b.nl", to="c@d.nl")


def test_the_date_header_has_a_numeric_utc_zone():
    """RFC 5322 3.3: "+0000"; "GMT" is obsolete syntax (4.3) and "-0000" means "zone unknown"."""
    raw = compose(rendered(), from_header="noreply@burgernet.example.org", to="ann@example.net")
    (line,) = [line for line in raw.split(b"\r\n") if line.startswith(b"Date: ")]
    assert re.fullmatch(rb"Date: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000", line), line
    assert parse(raw)["Date"].datetime.utcoffset().total_seconds() == 0
