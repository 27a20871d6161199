"""An action as CAP 1.2: one message per version, Dutch and English ``info``, the area as circle or polygon.

An action's life is a chain of CAP messages: version 1 is the ``Alert``, every update an ``Update``,
the end a ``Cancel`` (its result in the parameter ``burgerhub:result``). Each message references every
earlier one (``sender,identifier,sent``). A version that came in as CAP keeps that message's sender,
identifier and sent time, so a partner recognises its own messages; the others are burgerhub's own:
identifier ``<action id>.<version>``, sender ``[hub] cap_sender`` (default :func:`hub_sender`).

What is written is public by nature: the alert's texts, the area, the callback number, the
organisation's name, and a link to the public page. Never participants, tips, photos or who at the
organisation started it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import urlsplit

from lxml import etree

from ..models import ActionType
from .inbound import RESULT_CODE, TYPE_CODE, Reference
from .xml import NS

#: CAP category per action type
CATEGORIES = {
    ActionType.MISSING_PERSON: "Rescue",
    ActionType.CRISIS: "Safety",
    ActionType.PREVENTION: "Safety",
}
URGENCY = {"time_critical": "Immediate", "non_urgent": "Expected"}

EVENT = {
    "nl": {
        "missing_person": "Vermissing", "burglary": "Inbraak", "robbery": "Overval", "hit_and_run": "Doorrijden na ongeval",
        "shoplifting": "Winkeldiefstal", "suspicious_vehicle": "Verdacht voertuig", "crisis": "Crisisbericht",
        "neighbourhood_inquiry": "Buurtonderzoek", "prevention": "Preventiebericht",
    },
    "en": {
        "missing_person": "Missing person", "burglary": "Burglary", "robbery": "Robbery", "hit_and_run": "Hit and run",
        "shoplifting": "Shoplifting", "suspicious_vehicle": "Suspicious vehicle", "crisis": "Crisis message",
        "neighbourhood_inquiry": "Neighbourhood inquiry", "prevention": "Prevention notice",
    },
}
INSTRUCTION = {
    "nl": "Ziet u iets dat past bij deze beschrijving? Bel dan gratis {number}.",
    "en": "If you see anything that matches this description, call {number} free of charge.",
}
ENDED = {"nl": "Deze actie is beëindigd.", "en": "This action has ended."}
LANGUAGES = (("nl", "nl-NL"), ("en", "en-GB"))


@dataclass(frozen=True, slots=True)
class Message:
    """One CAP message of an action's chain."""

    version: int
    msg_type: str
    sender: str
    identifier: str
    sent: str

    @property
    def reference(self) -> Reference:
        return Reference(self.sender, self.identifier, self.sent)


def cap_time(value: str | datetime) -> str:
    """A time as CAP wants it: seconds, and an explicit offset (never ``Z``)."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def hub_sender(public_url: str) -> str:
    """The CAP ``sender`` of burgerhub's own messages: ``burgerhub@<host of the public URL>``."""
    return f"burgerhub@{urlsplit(public_url).hostname or 'localhost'}"


def messages(action: Mapping[str, Any], received: Sequence[Mapping[str, Any]], sender: str) -> list[Message]:
    """The chain of CAP messages of ``action``; ``received`` are the CAP messages that made versions of it."""
    by_version = {r["version"]: r for r in received}
    steps: list[tuple[int, str, str]] = [(1, "Alert", action["started_at"])]
    for entry in action.get("history", ()):
        steps.append((entry["version"], "Update", entry["at"]))
    if action.get("status") == "ended" and action.get("ended_at"):
        steps.append((action["version"], "Cancel", action["ended_at"]))
    out = []
    for version, msg_type, at in steps:
        got = by_version.get(version)
        if got:
            out.append(Message(version, msg_type, got["sender"], got["identifier"], got["sent"]))
        else:
            out.append(Message(version, msg_type, sender, f"{action['id']}.{version}", cap_time(at)))
    return out


def _number(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def area_text(area: Mapping[str, Any]) -> tuple[str, str]:
    """``("circle", "lat,lon km")`` or ``("polygon", "lat,lon ... lat,lon")`` (the ring closed)."""
    if area["type"] == "circle":
        return "circle", f"{_number(area['lat'], 6)},{_number(area['lon'], 6)} {_number(area['radius_m'] / 1000, 6)}"
    points = [tuple(p) for p in area["points"]]
    if points[0] != points[-1]:
        points.append(points[0])
    return "polygon", " ".join(f"{_number(lat, 6)},{_number(lon, 6)}" for lat, lon in points)


def write(
    action: Mapping[str, Any],
    chain: Sequence[Message],
    *,
    organisation_name: str,
    public_url: str,
    network_name: str = "Burgernet",
    index: int = -1,
) -> bytes:
    """The CAP document of message ``chain[index]`` (default: the latest) for ``action``, as UTF-8 XML."""
    message = chain[index]
    position = chain.index(message)
    E = _Builder()
    alert = E.el("alert")
    E.sub(alert, "identifier", message.identifier)
    E.sub(alert, "sender", message.sender)
    E.sub(alert, "sent", message.sent)
    E.sub(alert, "status", "Actual")
    E.sub(alert, "msgType", message.msg_type)
    E.sub(alert, "source", network_name)
    E.sub(alert, "scope", "Public")
    if message.msg_type == "Cancel" and action.get("result_text"):
        E.sub(alert, "note", action["result_text"])
    if position:
        E.sub(alert, "references", " ".join(m.reference.text() for m in chain[:position]))
    E.sub(alert, "incidents", action["id"])
    translations = action.get("translations") or {}
    for lang, code in LANGUAGES:
        texts = {"title": action.get("title") or "", "description": action["description"]}
        if lang != "nl" and lang in translations:
            texts = {"title": translations[lang].get("title", ""), "description": translations[lang]["description"]}
        _info(E, alert, action, lang, code, texts, organisation_name, public_url, message)
    return etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _info(E, alert, action, lang, code, texts, organisation_name, public_url, message) -> None:
    kind = action["type"]
    info = E.sub(alert, "info")
    E.sub(info, "language", code)
    E.sub(info, "category", CATEGORIES.get(ActionType(kind), "Security"))
    E.sub(info, "event", EVENT[lang][kind])
    E.sub(info, "responseType", "AllClear" if message.msg_type == "Cancel" else "Monitor")
    E.sub(info, "urgency", "Past" if message.msg_type == "Cancel" else URGENCY[action["urgency"]])
    E.sub(info, "severity", "Unknown")
    E.sub(info, "certainty", "Unknown")
    code_el = E.sub(info, "eventCode")
    E.sub(code_el, "valueName", TYPE_CODE)
    E.sub(code_el, "value", kind)
    E.sub(info, "effective", cap_time(action["started_at"]))
    if action.get("expires_at") and message.msg_type != "Cancel":
        E.sub(info, "expires", cap_time(action["expires_at"]))
    E.sub(info, "senderName", organisation_name)
    E.sub(info, "headline", texts["title"] or EVENT[lang][kind])
    description = texts["description"]
    if message.msg_type == "Cancel":
        description = f"{ENDED[lang]} {description}"
    E.sub(info, "description", description)
    if message.msg_type != "Cancel" and lang == "nl" and action.get("safety_advice"):
        E.sub(info, "instruction", action["safety_advice"])
    elif message.msg_type != "Cancel" and action.get("callback_number"):
        E.sub(info, "instruction", INSTRUCTION[lang].format(number=action["callback_number"]))
    E.sub(info, "web", public_url.rstrip("/") + f"/public/actions/{action['id']}")
    if action.get("callback_number"):
        E.sub(info, "contact", action["callback_number"])
    if message.msg_type == "Cancel" and action.get("result"):
        param = E.sub(info, "parameter")
        E.sub(param, "valueName", RESULT_CODE)
        E.sub(param, "value", action["result"])
    area = E.sub(info, "area")
    shape, text = area_text(action["area"])
    E.sub(area, "areaDesc", EVENT[lang][kind] + (" (" + action["region"] + ")" if action.get("region") else ""))
    E.sub(area, shape, text)


class _Builder:
    def el(self, name: str) -> etree._Element:
        return etree.Element(f"{{{NS}}}{name}", nsmap={None: NS})

    def sub(self, parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
        child = etree.SubElement(parent, f"{{{NS}}}{name}")
        if text is not None:
            child.text = text
        return child
