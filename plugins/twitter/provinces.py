"""The twelve Dutch provinces, each with its own account, and how an action's region names one."""

from __future__ import annotations

import unicodedata
from typing import Iterable, Mapping

PROVINCES: tuple[str, ...] = (
    "groningen",
    "friesland",
    "drenthe",
    "overijssel",
    "flevoland",
    "gelderland",
    "utrecht",
    "noord_holland",
    "zuid_holland",
    "zeeland",
    "noord_brabant",
    "limburg",
)

#: other spellings of a province name seen in region fields (after normalisation)
ALIASES: Mapping[str, str] = {
    "fryslan": "friesland",
    "north_holland": "noord_holland",
    "south_holland": "zuid_holland",
    "north_brabant": "noord_brabant",
    "brabant": "noord_brabant",
    "nh": "noord_holland",
    "zh": "zuid_holland",
    "nb": "noord_brabant",
}


def normalise(name: str) -> str:
    """``"Noord-Holland"``, ``"noord holland"`` and ``"Fryslân"`` become ``noord_holland`` and ``fryslan``."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "_".join(text.lower().replace("-", " ").replace("_", " ").split())


def province_of(region: str | None, known: Iterable[str], aliases: Mapping[str, str] | None = None) -> str | None:
    """The province id a region names, if it is one of ``known``; else ``None``.

    A region may be more precise than a province (``utrecht/amersfoort``, ``noord-holland:haarlem``):
    its first part decides.
    """
    if not region:
        return None
    known = set(known)
    table = {**ALIASES, **(aliases or {})}
    for candidate in (region, region.replace(":", "/").split("/")[0]):
        key = normalise(candidate)
        key = table.get(key, key)
        if key in known:
            return key
    return None
