"""Composing the MIME message of one mail as bytes, ready for SMTP DATA.

The structure is ``multipart/alternative`` (text, HTML); with an embedded photo the HTML half becomes
``multipart/related`` (HTML, image referenced as ``cid:``). Bodies are quoted-printable (UTF-8) and the
image base64, so the message is 7-bit clean and no server needs 8BITMIME; lines end in CRLF.

The stdlib's ``EmailMessage`` does the same at ~400 messages/s on this machine class, most of it
parsing and re-folding headers that are already known to be well-formed; composing here is an order of
magnitude faster, and it also keeps the long ``List-Unsubscribe`` URL on one line (up to 998 octets,
RFC 5322 2.1.1) where 78-column folding would RFC 2047-encode it and providers would not find the link.
The tests parse every composed message back with the stdlib parser.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime

from hub.models import Rendered

#: a mailbox we are willing to put on an SMTP command line and in a To header
ADDRESS = re.compile(r"^[^@\s<>()\[\]\\,;:\"]+@[^@\s<>()\[\]\\,;:\"]+\.[^@\s<>()\[\]\\,;:\"]+$")
_MAX_LINE = 998
_WORD_BYTES = 45  # 45 bytes -> 60 base64 characters: "=?utf-8?b?" + 60 + "?=" stays within 75 (RFC 2047 2)


@dataclass(frozen=True, slots=True)
class InlinePhoto:
    """An action photo fetched once and embedded in every mail of a notice as a related part."""

    data: bytes
    maintype: str
    subtype: str
    cid: str  # without angle brackets
    filename: str
    encoded: bytes = field(default=b"", repr=False)

    @classmethod
    def of(cls, data: bytes, maintype: str, subtype: str, cid: str, filename: str) -> "InlinePhoto":
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        return cls(data, maintype, subtype, cid, filename, encoded)


def encode_header(value: str) -> str:
    """A header value as is when it is ASCII, else as RFC 2047 base64 encoded words, folded."""
    if value.isascii():
        return value
    raw = value.encode("utf-8")
    words, start = [], 0
    while start < len(raw):
        end = min(start + _WORD_BYTES, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # never split a UTF-8 sequence
            end -= 1
        words.append("=?utf-8?b?" + base64.b64encode(raw[start:end]).decode("ascii") + "?=")
        start = end
    return "\r\n ".join(words)


def format_address(name: str, address: str) -> str:
    """``Name <address>`` with the display name quoted or encoded as needed."""
    if not name:
        return address
    if name.isascii():
        if re.search(r'[()<>\[\]:;@\\,."]', name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{address}>"
    return f"{encode_header(name)} <{address}>"


def _qp(text: str) -> bytes:
    body = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), quotetabs=False, istext=True)
    return body.replace(b"\n", b"\r\n")


def _text_part(subtype: str, text: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    ).encode("ascii") + _qp(text)


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    boundary = f"=_bh_{secrets.token_hex(12)}"
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode("ascii")]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode("ascii"))
        out.append(part)
        # the CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1), not to the part
        out.append(b"\r\n")
    out.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


def compose(
    rendered: Rendered,
    *,
    from_header: str,
    to: str,
    reply_to: str | None = None,
    photo: InlinePhoto | None = None,
) -> bytes:
    """The whole message; header values come from ``rendered.extra`` (see ``EmailChannel.render``)."""
    extra = rendered.extra
    headers = [
        ("From", from_header),
        ("To", to),
        ("Subject", encode_header(rendered.subject or "")),
        # RFC 5322 3.3: a numeric zone; "GMT" is obsolete syntax (4.3), "-0000" would mean "unknown"
        ("Date", format_datetime(datetime.now(timezone.utc))),
        ("Message-ID", extra["message_id"]),
    ]
    if reply_to:
        headers.append(("Reply-To", reply_to))
    if extra.get("in_reply_to"):
        headers += [("In-Reply-To", extra["in_reply_to"]), ("References", extra["in_reply_to"])]
    if extra.get("unsubscribe_url"):
        # RFC 2369 + RFC 8058: an HTTPS URI that accepts a POST of "List-Unsubscribe=One-Click"
        headers += [("List-Unsubscribe", f"<{extra['unsubscribe_url']}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    # RFC 3834: tells auto-responders (out-of-office) not to answer
    headers += [("Auto-Submitted", "auto-generated"), ("Content-Language", extra.get("language", "nl")),
                ("MIME-Version", "1.0")]
    lines = []
    for name, value in headers:
        unfolded = value.replace("\r\n ", "")
        if "\r" in unfolded or "\n" in unfolded:
            raise ValueError(f"line break in the {name} header")
        line = f"{name}: {value}\r\n"
        if not line.isascii() or any(len(part) > _MAX_LINE for part in line.split("\r\n")):
            raise ValueError(f"the {name} header cannot be sent as is")
        lines.append(line)
    head = "".join(lines).encode("ascii")

    text = _text_part("plain", rendered.text)
    if not rendered.html:
        return head + text
    html = _text_part("html", rendered.html)
    if photo is not None:
        image = (
            f"Content-Type: {photo.maintype}/{photo.subtype}\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-ID: <{photo.cid}>\r\n"
            f'Content-Disposition: inline; filename="{_safe_filename(photo.filename)}"\r\n\r\n'
        ).encode("ascii") + photo.encoded
        html = _multipart("related", [html, image])
    return head + _multipart("alternative", [text, html])


def _safe_filename(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
    return cleaned or "photo"
