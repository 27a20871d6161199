"""A validated CAP 1.2 ``<alert>`` mapped onto what burgerhub does: start, update or end an action.

* ``msgType`` ``Alert`` starts an action, ``Update`` updates the action its ``references`` name,
  ``Cancel`` ends it (result ``cancelled`` unless a ``burgerhub:result`` parameter says otherwise; the
  ``note`` becomes the closing message's extra words).
* ``status`` ``Actual`` acts; ``Test`` and ``Exercise`` are dry runs (an Alert answers with the plan:
  channels and recipients, nothing sent); ``System`` and ``Draft`` are refused. ``scope`` must be
  ``Public``: burgerhub's alerts reach the public.
* The ``info`` block in Dutch (``nl``, ``nl-NL``, ...) is the action's text, else the first block; the
  others become translations by language (``en``). Its ``eventCode`` ``burgerhub:type`` names the
  action type; without it the ``category`` decides (see :data:`CATEGORY_TYPES`). ``urgency``
  ``Immediate`` is time-critical, ``Expected`` and ``Future`` non-urgent. ``headline`` is the title,
  ``description`` the description (in translations with ``instruction`` after it), ``instruction``
  the safety advice said first, ``expires`` the expiry.
* An Update may change the texts, the area, the translations and the expiry. An action's type and
  urgency are fixed when it starts (they decided its route and who was reached), as in the API: an
  Update whose ``urgency`` maps to another urgency, or whose ``eventCode`` ``burgerhub:type`` names
  another type, is refused naming the element (end the action and start a new one). A ``category``
  alone is coarse (most map to crisis), so it is held against the action only when the action's type
  is one a category maps to (crisis, missing person). ``Past`` and ``Unknown`` urgencies say nothing
  of the urgency and are not held against it.
* The info's ``area`` must hold exactly one ``circle`` ("lat,lon radius-km") or ``polygon`` (closed
  "lat,lon" ring): an action has one area. Geocodes alone are not mapped.

Anything that cannot be mapped is a :class:`~hub.errors.BadMessage` naming the element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from lxml import etree

from ..errors import BadMessage
from ..models import ActionType, Result
from .xml import NS, element_path

TYPE_CODE = "burgerhub:type"
RESULT_CODE = "burgerhub:result"

#: the action type for a CAP category when no ``burgerhub:type`` eventCode names one
CATEGORY_TYPES = {
    "Fire": ActionType.CRISIS,
    "Met": ActionType.CRISIS,
    "Geo": ActionType.CRISIS,
    "Env": ActionType.CRISIS,
    "CBRNE": ActionType.CRISIS,
    "Infra": ActionType.CRISIS,
    "Health": ActionType.CRISIS,
    "Transport": ActionType.CRISIS,
    "Safety": ActionType.CRISIS,
    "Rescue": ActionType.MISSING_PERSON,
}
URGENCIES = {"Immediate": "time_critical", "Expected": "non_urgent", "Future": "non_urgent"}
#: the action types a category alone maps to
CATEGORY_TYPED = frozenset(t.value for t in CATEGORY_TYPES.values())


@dataclass(frozen=True, slots=True)
class Reference:
    """One earlier message, as CAP's ``references`` names it: ``sender,identifier,sent``."""

    sender: str
    identifier: str
    sent: str

    def text(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


@dataclass(frozen=True, slots=True)
class FixedValue:
    """What an Update says of a field an action keeps from its start (``type``, ``urgency``): the value,
    the element that says it, and whether it is named outright (not read from a coarse category)."""

    field: str
    value: str
    element: str
    explicit: bool = True


@dataclass(frozen=True)
class InboundAlert:
    """What a CAP message asks for. ``payload`` is an action start (Alert), an update (Update) or an
    end (Cancel) in the API's JSON shape."""

    sender: str
    identifier: str
    sent: str
    status: str
    msg_type: str
    references: tuple[Reference, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)
    #: an Update's type and urgency, held against the action's (which cannot change)
    fixed: tuple[FixedValue, ...] = ()

    @property
    def dry_run(self) -> bool:
        return self.status in ("Test", "Exercise")

    def check_fixed(self, action: dict[str, Any]) -> None:
        """Refuse (naming the element) an Update that asks for another type or urgency than ``action``'s."""
        for fixed in self.fixed:
            current = action.get(fixed.field)
            if fixed.value == current:
                continue
            if not fixed.explicit and current not in CATEGORY_TYPED:
                continue
            raise BadMessage(fixed.element, f"asks for {fixed.field} {fixed.value!r} but the action is {current!r}:"
                                            f" an action's {fixed.field} is fixed when it starts (it decided where the"
                                            " action went); end the action and start a new one")


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _text(parent: etree._Element, name: str) -> str | None:
    el = parent.find(_q(name))
    return el.text.strip() if el is not None and el.text and el.text.strip() else None


def _language(info: etree._Element) -> str:
    return (_text(info, "language") or "en-US").lower()


def parse_references(el: etree._Element | None) -> tuple[Reference, ...]:
    if el is None or not (el.text or "").strip():
        return ()
    out = []
    for item in el.text.split():
        parts = item.split(",")
        if len(parts) != 3 or not all(parts):
            raise BadMessage("alert/references", f"{item!r} is not 'sender,identifier,sent'")
        out.append(Reference(*parts))
    return tuple(out)


def _parse_sent(value: str, where: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as e:
        raise BadMessage(where, f"{value!r} is not a date and time") from e


def _point(text: str, where: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError as e:
        raise BadMessage(where, f"{text!r} is not 'lat,lon'") from e
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadMessage(where, f"{text!r} lies outside the earth's coordinates")
    return lat, lon


def parse_circle(el: etree._Element) -> dict[str, Any]:
    where = element_path(el)
    parts = (el.text or "").split()
    if len(parts) != 2:
        raise BadMessage(where, "must be 'lat,lon radius' (radius in kilometres)")
    lat, lon = _point(parts[0], where)
    try:
        radius_km = float(parts[1])
    except ValueError as e:
        raise BadMessage(where, f"radius {parts[1]!r} is not a number") from e
    if not radius_km > 0:
        raise BadMessage(where, "the radius must be larger than 0 km: an action needs an area to alert")
    if radius_km > 100:
        raise BadMessage(where, "the radius may be at most 100 km")
    return {"type": "circle", "lat": lat, "lon": lon, "radius_m": round(radius_km * 1000, 3)}


def parse_polygon(el: etree._Element) -> dict[str, Any]:
    where = element_path(el)
    points = [_point(p, where) for p in (el.text or "").split()]
    if len(points) < 4:
        raise BadMessage(where, "a polygon needs at least four points, the first and last equal")
    if points[0] != points[-1]:
        raise BadMessage(where, "the polygon is not closed: its first and last points must be equal")
    return {"type": "polygon", "points": [list(p) for p in points[:-1]]}


def _area(info: etree._Element) -> dict[str, Any] | None:
    shapes = []
    areas = info.findall(_q("area"))
    for area in areas:
        shapes += [parse_circle(c) for c in area.findall(_q("circle"))]
        shapes += [parse_polygon(p) for p in area.findall(_q("polygon"))]
    if len(shapes) > 1:
        raise BadMessage(element_path(areas[0]), "holds more than one circle or polygon; an action has one area")
    if not shapes:
        if areas:
            raise BadMessage(element_path(areas[0]), "needs a circle or a polygon (geocodes are not mapped)")
        return None
    return shapes[0]


def _type(info: etree._Element) -> str:
    for code in info.findall(_q("eventCode")):
        if _text(code, "valueName") == TYPE_CODE:
            value = _text(code, "value") or ""
            if value not in set(ActionType):
                raise BadMessage(element_path(code.find(_q("value"))),
                                 f"{value!r} is not an action type ({', '.join(ActionType)})")
            return value
    categories = info.findall(_q("category"))
    for cat in categories:
        if cat.text in CATEGORY_TYPES:
            return CATEGORY_TYPES[cat.text].value
    raise BadMessage(
        element_path(categories[0]),
        f"category {categories[0].text!r} maps to no action type; name one with an eventCode {TYPE_CODE}",
    )


def _urgency(info: etree._Element) -> str:
    value = _text(info, "urgency") or ""
    if value not in URGENCIES:
        raise BadMessage(
            element_path(info.find(_q("urgency"))),
            f"{value!r} maps to no urgency (Immediate: time-critical; Expected, Future: non-urgent)",
        )
    return URGENCIES[value]


def _texts(info: etree._Element) -> dict[str, str]:
    out = {}
    headline = _text(info, "headline")
    if headline:
        out["title"] = headline
    description = _text(info, "description")
    instruction = _text(info, "instruction")
    if description or instruction:
        out["description"] = "\n\n".join(t for t in (description, instruction) if t)
    return out


def _expiry_minutes(info: etree._Element, now: datetime) -> int | None:
    value = _text(info, "expires")
    if not value:
        return None
    where = element_path(info.find(_q("expires")))
    minutes = (_parse_sent(value, where) - now).total_seconds() / 60
    if minutes <= 0:
        raise BadMessage(where, "lies in the past")
    return int(min(10080, max(5, minutes)))


def _infos(root: etree._Element) -> tuple[etree._Element | None, dict[str, etree._Element]]:
    """The main info block (Dutch, else the first) and the others by primary language subtag."""
    infos = root.findall(_q("info"))
    if not infos:
        return None, {}
    main = next((i for i in infos if _language(i).split("-")[0] == "nl"), infos[0])
    others = {}
    for info in infos:
        lang = _language(info).split("-")[0]
        if info is not main and lang not in others and lang != _language(main).split("-")[0]:
            others[lang] = info
    return main, others


def _translations(others: dict[str, etree._Element]) -> dict[str, dict[str, str]]:
    out = {}
    for lang, info in others.items():
        texts = _texts(info)
        if texts.get("description"):
            out[lang] = {k: v[:2000] for k, v in texts.items()}
    return out


def read(root: etree._Element, *, now: datetime | None = None) -> InboundAlert:
    """Map a schema-valid ``<alert>`` (see :func:`hub.cap.xml.read_alert`)."""
    now = now or datetime.now(timezone.utc)
    status, msg_type, scope = _text(root, "status"), _text(root, "msgType"), _text(root, "scope")
    if status in ("System", "Draft"):
        raise BadMessage("alert/status", f"{status!r} messages start nothing (Actual acts; Test, Exercise are dry runs)")
    if scope != "Public":
        raise BadMessage("alert/scope", f"{scope!r}: burgerhub's actions reach the public, so only Public is mapped")
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise BadMessage("alert/msgType", f"{msg_type!r} is not handled (Alert, Update and Cancel are)")
    references = parse_references(root.find(_q("references")))
    if msg_type != "Alert" and not references:
        raise BadMessage("alert/references", f"an {msg_type} must reference the message it {msg_type.lower()}s")
    main, others = _infos(root)
    base = dict(sender=_text(root, "sender") or "", identifier=_text(root, "identifier") or "",
                sent=_text(root, "sent") or "", status=status or "", msg_type=msg_type, references=references)
    for key in ("sender", "identifier"):
        if any(c in base[key] for c in " ,"):
            raise BadMessage(f"alert/{key}", "may not contain spaces or commas")
    if msg_type == "Cancel":
        return InboundAlert(**base, payload=_end(root, main))
    if main is None:
        raise BadMessage("alert/info", f"an {msg_type} needs an info block")
    texts = _texts(main)
    instruction = _text(main, "instruction")
    if instruction:
        # CAP's instruction is the recommended action: said first in every channel, as safety advice
        texts["description"] = _text(main, "description") or instruction
        texts["safety_advice"] = instruction[:300]
    translations = _translations(others)
    if msg_type == "Alert":
        action_type, urgency = _type(main), _urgency(main)
        if not texts.get("description"):
            raise BadMessage(element_path(main) + "/description", "is required to start an action")
        area = _area(main)
        if area is None:
            raise BadMessage(element_path(main) + "/area", "is required to start an action (a circle or polygon)")
        payload: dict[str, Any] = {"type": action_type, "urgency": urgency, "area": area, **texts}
        expiry = _expiry_minutes(main, now)
        if expiry:
            payload["expires_in_minutes"] = expiry
    else:
        payload = dict(texts)
        area = _area(main)
        if area is not None:
            payload["area"] = area
        if not payload and not translations:
            raise BadMessage(element_path(main), "changes nothing burgerhub maps (headline, description, area)")
        base["fixed"] = _fixed(main)
    if translations:
        payload["translations"] = translations
    return InboundAlert(**base, payload=payload)


def _fixed(info: etree._Element) -> tuple[FixedValue, ...]:
    """What an Update's info says of the type and urgency, to hold against the action's."""
    out = []
    urgency = info.find(_q("urgency"))
    if urgency is not None and (urgency.text or "").strip() in URGENCIES:
        out.append(FixedValue("urgency", URGENCIES[urgency.text.strip()], element_path(urgency)))
    for code in info.findall(_q("eventCode")):
        if _text(code, "valueName") == TYPE_CODE:
            out.append(FixedValue("type", _type(info), element_path(code.find(_q("value")))))
            return tuple(out)
    for cat in info.findall(_q("category")):
        if cat.text in CATEGORY_TYPES:
            out.append(FixedValue("type", CATEGORY_TYPES[cat.text].value, element_path(cat), explicit=False))
            break
    return tuple(out)


def _end(root: etree._Element, main: etree._Element | None) -> dict[str, Any]:
    result = "cancelled"
    if main is not None:
        for param in main.findall(_q("parameter")):
            if _text(param, "valueName") == RESULT_CODE:
                result = _text(param, "value") or ""
                if result not in set(Result):
                    raise BadMessage(element_path(param.find(_q("value"))),
                                     f"{result!r} is not a result ({', '.join(Result)})")
    payload: dict[str, Any] = {"result": result}
    note = _text(root, "note")
    if note:
        payload["text"] = note[:500]
    return payload
