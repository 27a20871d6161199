"""The console's offline base map: an approximate outline of the Netherlands and its neighbours.

The console must work in a control room without internet access, so it ships its own map: coastlines
and borders drawn by hand at low resolution (a few kilometres), a few hundred points in all, plus the
larger towns for orientation. It is **approximate**: good for seeing where an action is and what its
circle covers, not for navigation or for deciding who lives inside an area (the hub decides that from
participants' coordinates, never from this outline). A tile server can be configured for detail.

Borders are written once and shared by the countries on both sides, so neighbours always meet.
Coordinates here are ``(lat, lon)`` like everywhere in burgerhub; the GeoJSON file has ``[lon, lat]``.

``python -m hub.console.outline`` rewrites ``static/data/outline.geojson`` from these lists; a test
checks that the committed file matches them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

Point = tuple[float, float]
TARGET = Path(__file__).parent / "static" / "data" / "outline.geojson"

# -- shared borders ------------------------------------------------------------------------------
NL_BE_WEST: list[Point] = [  # Zeeuws-Vlaanderen, from the coast at Cadzand to the Scheldt
    (51.37, 3.37), (51.28, 3.38), (51.30, 3.60), (51.21, 3.80), (51.23, 4.00), (51.28, 4.21), (51.36, 4.23),
]
NL_BE_EAST: list[Point] = [  # from the Scheldt at Zandvliet east to the tripoint at Vaals
    (51.37, 4.25), (51.36, 4.40), (51.49, 4.52), (51.44, 4.67), (51.41, 4.77), (51.45, 4.93), (51.49, 5.05),
    (51.42, 5.13), (51.31, 5.24), (51.26, 5.42), (51.26, 5.52), (51.18, 5.64), (51.16, 5.84), (51.05, 5.77),
    (50.95, 5.73), (50.85, 5.64), (50.76, 5.70), (50.75, 5.90), (50.755, 6.02),
]
NL_DE: list[Point] = [  # from Vaals north to the Dollard
    (50.755, 6.02), (50.80, 6.07), (50.87, 6.09), (50.96, 6.02), (51.03, 5.90), (51.06, 5.87), (51.13, 6.09),
    (51.18, 6.17), (51.25, 6.08), (51.37, 6.22), (51.50, 6.20), (51.64, 6.10), (51.73, 5.97), (51.83, 5.96),
    (51.87, 6.15), (51.89, 6.40), (51.86, 6.50), (51.92, 6.74), (52.00, 6.83), (52.12, 6.76), (52.22, 7.05),
    (52.38, 7.07), (52.45, 6.96), (52.47, 6.72), (52.56, 6.73), (52.65, 6.78), (52.66, 7.05), (52.85, 7.08),
    (53.00, 7.20), (53.18, 7.21), (53.25, 7.20),
]
BE_DE: list[Point] = [(50.755, 6.02), (50.70, 6.12), (50.62, 6.27), (50.50, 6.35), (50.33, 6.40), (50.13, 6.14)]
BE_LU: list[Point] = [(50.13, 6.14), (50.05, 5.82), (49.87, 5.74), (49.70, 5.86), (49.55, 5.82)]
LU_DE: list[Point] = [(50.13, 6.14), (49.98, 6.25), (49.80, 6.50), (49.71, 6.51), (49.46, 6.37)]
LU_FR: list[Point] = [(49.55, 5.82), (49.47, 5.98), (49.46, 6.37)]
FR_DE: list[Point] = [
    (49.46, 6.37), (49.40, 6.58), (49.17, 6.73), (49.12, 7.05), (49.18, 7.38), (49.05, 7.63), (48.97, 8.23),
]
BE_FR: list[Point] = [  # from Athus west to the coast at De Panne
    (49.55, 5.82), (49.52, 5.47), (49.70, 5.20), (49.80, 4.86), (50.14, 4.87), (49.98, 4.70), (49.96, 4.23),
    (50.25, 4.15), (50.33, 3.70), (50.50, 3.29), (50.72, 3.23), (50.79, 3.10), (50.70, 2.90), (50.82, 2.63),
    (51.09, 2.55),
]

# -- coasts --------------------------------------------------------------------------------------
NL_WEST: list[Point] = [  # Den Helder south along the North Sea, round the delta, to Bath
    (52.96, 4.76), (52.80, 4.64), (52.62, 4.61), (52.46, 4.55), (52.37, 4.53), (52.23, 4.42), (52.10, 4.27),
    (51.98, 4.12), (51.96, 4.01), (51.90, 4.04), (51.86, 4.07), (51.82, 4.17), (51.78, 4.35), (51.73, 4.55),
    (51.70, 4.64), (51.69, 4.44), (51.63, 4.37), (51.58, 4.30), (51.50, 4.28), (51.45, 4.22), (51.51, 4.05),
    (51.53, 3.90), (51.55, 3.67), (51.57, 3.50), (51.53, 3.44), (51.44, 3.57), (51.45, 3.73), (51.43, 4.00),
    (51.40, 4.21),
]
NL_NORTH: list[Point] = [  # the Wadden coast from the Dollard west, then round the IJsselmeer to Den Oever
    (53.31, 7.04), (53.33, 6.93), (53.45, 6.83), (53.44, 6.60), (53.41, 6.20), (53.39, 5.90), (53.30, 5.66),
    (53.17, 5.41), (53.08, 5.37), (53.05, 5.40), (52.94, 5.40), (52.88, 5.36), (52.84, 5.71), (52.75, 5.60),
    (52.66, 5.60), (52.61, 5.70), (52.60, 5.80), (52.56, 5.90), (52.45, 5.83), (52.35, 5.62), (52.27, 5.45),
    (52.26, 5.37), (52.30, 5.25), (52.33, 5.07), (52.38, 4.98), (52.45, 5.09), (52.50, 5.07), (52.64, 5.06),
    (52.70, 5.29), (52.77, 5.11), (52.93, 5.04),
]
NL_ISLANDS: dict[str, list[Point]] = {
    "Zeeuws-Vlaanderen": [
        (51.37, 3.37), (51.40, 3.52), (51.42, 3.60), (51.38, 3.72), (51.35, 3.83), (51.40, 3.97), (51.36, 4.10),
        *reversed(NL_BE_WEST[1:]),
    ],
    "Flevoland": [
        (52.42, 5.13), (52.35, 5.20), (52.29, 5.40), (52.32, 5.58), (52.44, 5.75), (52.53, 5.79), (52.57, 5.72),
        (52.56, 5.55), (52.52, 5.42), (52.47, 5.30),
    ],
    "Schouwen-Duiveland": [
        (51.70, 3.70), (51.74, 3.85), (51.71, 4.02), (51.66, 4.08), (51.63, 3.98), (51.645, 3.80), (51.67, 3.69),
    ],
    "Goeree-Overflakkee": [
        (51.81, 3.87), (51.83, 4.00), (51.77, 4.20), (51.72, 4.38), (51.66, 4.36), (51.69, 4.20), (51.73, 4.00),
        (51.77, 3.87),
    ],
    "Noord-Beveland": [(51.575, 3.70), (51.61, 3.78), (51.605, 3.93), (51.575, 3.95), (51.565, 3.80)],
    "Tholen": [(51.52, 4.05), (51.58, 4.03), (51.63, 4.13), (51.61, 4.23), (51.52, 4.22)],
    "Texel": [(53.00, 4.72), (53.06, 4.70), (53.13, 4.73), (53.18, 4.85), (53.12, 4.90), (53.03, 4.88), (52.99, 4.78)],
    "Vlieland": [(53.24, 4.92), (53.30, 5.08), (53.30, 5.12), (53.26, 5.05), (53.23, 4.95)],
    "Terschelling": [(53.36, 5.15), (53.41, 5.30), (53.46, 5.55), (53.44, 5.60), (53.39, 5.40), (53.34, 5.20)],
    "Ameland": [(53.44, 5.63), (53.47, 5.75), (53.47, 5.92), (53.44, 5.92), (53.43, 5.75)],
    "Schiermonnikoog": [(53.48, 6.07), (53.50, 6.20), (53.51, 6.33), (53.48, 6.30), (53.46, 6.12)],
}
BE_COAST: list[Point] = [(51.09, 2.55), (51.23, 2.92), (51.37, 3.37)]
DE_COAST: list[Point] = [  # from the Dollard along East Frisia to the Elbe
    (53.25, 7.20), (53.36, 7.22), (53.45, 7.03), (53.50, 7.10), (53.62, 7.15), (53.71, 7.80), (53.68, 8.05),
    (53.52, 8.15), (53.40, 8.20), (53.55, 8.30), (53.55, 8.50), (53.87, 8.70), (53.80, 9.50),
]
DE_NORTH_OF_ELBE: list[Point] = [
    (53.90, 9.50), (53.92, 9.00), (54.13, 8.85), (54.32, 8.60), (54.45, 8.90), (54.80, 8.65), (54.90, 9.50),
]
FR_COAST: list[Point] = [  # from De Panne west and south to Dieppe
    (51.09, 2.55), (50.95, 1.85), (50.73, 1.60), (50.40, 1.57), (50.20, 1.60), (50.06, 1.38), (49.93, 1.08),
]
GB_SOUTH_EAST: list[Point] = [
    (50.75, -1.00), (50.77, 0.30), (50.95, 0.95), (51.15, 1.40), (51.38, 1.42), (51.45, 0.90), (51.52, 0.70),
    (51.78, 0.95), (51.95, 1.30), (52.10, 1.60), (52.47, 1.75), (52.75, 1.70), (52.95, 1.30), (52.97, 0.50),
    (52.82, 0.30), (53.05, 0.35), (53.20, 0.35), (53.50, 0.10), (53.62, -0.10), (53.62, -1.00),
]
DAMS: dict[str, list[Point]] = {
    "Afsluitdijk": [(52.93, 5.04), (53.08, 5.37)],
    "Houtribdijk": [(52.53, 5.43), (52.70, 5.28)],
}
SOUTH_CUT, EAST_CUT = 48.80, 9.50

# -- places: (name in Dutch, name in English, lat, lon, rank) --------------------------------------
PLACES: list[tuple[str, str, float, float, int]] = [
    ("Amsterdam", "Amsterdam", 52.3728, 4.8936, 1),
    ("Rotterdam", "Rotterdam", 51.9225, 4.4792, 1),
    ("Den Haag", "The Hague", 52.0705, 4.3007, 1),
    ("Utrecht", "Utrecht", 52.0907, 5.1214, 1),
    ("Eindhoven", "Eindhoven", 51.4416, 5.4697, 1),
    ("Groningen", "Groningen", 53.2194, 6.5665, 1),
    ("Zwolle", "Zwolle", 52.5168, 6.0830, 1),
    ("Arnhem", "Arnhem", 51.9851, 5.8987, 1),
    ("Maastricht", "Maastricht", 50.8514, 5.6910, 1),
    ("Leeuwarden", "Leeuwarden", 53.2012, 5.7999, 1),
    ("Enschede", "Enschede", 52.2215, 6.8937, 1),
    ("Breda", "Breda", 51.5719, 4.7683, 1),
    ("'s-Hertogenbosch", "'s-Hertogenbosch", 51.6978, 5.3037, 1),
    ("Middelburg", "Middelburg", 51.4988, 3.6136, 1),
    ("Lelystad", "Lelystad", 52.5185, 5.4714, 2),
    ("Assen", "Assen", 52.9925, 6.5649, 1),
    ("Haarlem", "Haarlem", 52.3874, 4.6462, 2),
    ("Nijmegen", "Nijmegen", 51.8126, 5.8372, 1),
    ("Tilburg", "Tilburg", 51.5555, 5.0913, 2),
    ("Almere", "Almere", 52.3508, 5.2647, 2),
    ("Leiden", "Leiden", 52.1601, 4.4970, 2),
    ("Dordrecht", "Dordrecht", 51.8133, 4.6901, 2),
    ("Amersfoort", "Amersfoort", 52.1561, 5.3878, 2),
    ("Apeldoorn", "Apeldoorn", 52.2112, 5.9699, 2),
    ("Venlo", "Venlo", 51.3704, 6.1724, 2),
    ("Deventer", "Deventer", 52.2661, 6.1552, 2),
    ("Alkmaar", "Alkmaar", 52.6324, 4.7534, 2),
    ("Den Helder", "Den Helder", 52.9563, 4.7601, 2),
    ("Emmen", "Emmen", 52.7792, 6.9069, 2),
    ("Heerlen", "Heerlen", 50.8882, 5.9795, 2),
    ("Roermond", "Roermond", 51.1942, 5.9870, 2),
    ("Vlissingen", "Vlissingen", 51.4426, 3.5736, 2),
    ("Hilversum", "Hilversum", 52.2292, 5.1669, 2),
    ("Gouda", "Gouda", 52.0116, 4.7105, 2),
    ("Delft", "Delft", 52.0116, 4.3571, 2),
    ("Hoorn", "Hoorn", 52.6424, 5.0597, 2),
    ("Antwerpen", "Antwerp", 51.2194, 4.4025, 1),
    ("Brussel", "Brussels", 50.8503, 4.3517, 1),
    ("Gent", "Ghent", 51.0543, 3.7174, 1),
    ("Brugge", "Bruges", 51.2093, 3.2247, 2),
    ("Hasselt", "Hasselt", 50.9307, 5.3325, 2),
    ("Luik", "Liège", 50.6326, 5.5797, 1),
    ("Aken", "Aachen", 50.7753, 6.0839, 1),
    ("Keulen", "Cologne", 50.9375, 6.9603, 1),
    ("Düsseldorf", "Düsseldorf", 51.2277, 6.7735, 1),
    ("Duisburg", "Duisburg", 51.4344, 6.7623, 2),
    ("Kleef", "Kleve", 51.7900, 6.1400, 2),
    ("Münster", "Münster", 51.9607, 7.6261, 1),
    ("Emden", "Emden", 53.3594, 7.2060, 2),
    ("Bremen", "Bremen", 53.0793, 8.8017, 1),
    ("Rijsel", "Lille", 50.6292, 3.0573, 1),
    ("Luxemburg", "Luxembourg", 49.6116, 6.1319, 1),
]


def _ring(*parts: Sequence[Point]) -> list[list[float]]:
    """Join border pieces into one closed GeoJSON ring ([lon, lat]), dropping repeated joints."""
    points: list[Point] = []
    for part in parts:
        for p in part:
            if not points or points[-1] != p:
                points.append(p)
    if points[0] != points[-1]:
        points.append(points[0])
    return [[round(lon, 4), round(lat, 4)] for lat, lon in points]


def _land(country: str, name_nl: str, name_en: str, rings: list[list[list[float]]]) -> dict[str, Any]:
    geometry = (
        {"type": "Polygon", "coordinates": [rings[0]]}
        if len(rings) == 1
        else {"type": "MultiPolygon", "coordinates": [[r] for r in rings]}
    )
    return {
        "type": "Feature",
        "properties": {"kind": "land", "country": country, "name_nl": name_nl, "name_en": name_en},
        "geometry": geometry,
    }


def build() -> dict[str, Any]:
    """The outline as a GeoJSON FeatureCollection."""
    back = lambda pts: list(reversed(pts))  # noqa: E731 - reads better than a helper def here
    netherlands = [_ring(NL_WEST, NL_BE_EAST, NL_DE, NL_NORTH)] + [_ring(p) for p in NL_ISLANDS.values()]
    belgium = [_ring(BE_COAST, NL_BE_WEST, NL_BE_EAST, BE_DE, BE_LU, BE_FR)]
    luxembourg = [_ring(BE_LU, LU_FR, back(LU_DE))]
    germany = [
        _ring(DE_COAST, [(SOUTH_CUT + 0.17, EAST_CUT)], back(FR_DE), back(LU_DE), back(BE_DE), NL_DE),
        _ring(DE_NORTH_OF_ELBE),
    ]
    france = [_ring(FR_COAST, [(SOUTH_CUT, FR_COAST[-1][1]), (SOUTH_CUT, FR_DE[-1][1])], back(FR_DE), back(LU_FR), BE_FR)]
    britain = [_ring(GB_SOUTH_EAST)]
    features = [
        _land("GB", "Verenigd Koninkrijk", "United Kingdom", britain),
        _land("FR", "Frankrijk", "France", france),
        _land("DE", "Duitsland", "Germany", germany),
        _land("LU", "Luxemburg", "Luxembourg", luxembourg),
        _land("BE", "België", "Belgium", belgium),
        _land("NL", "Nederland", "Netherlands", netherlands),
    ]
    for name, line in DAMS.items():
        features.append({
            "type": "Feature",
            "properties": {"kind": "dam", "name_nl": name, "name_en": name},
            "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in line]},
        })
    for name_nl, name_en, lat, lon, rank in PLACES:
        features.append({
            "type": "Feature",
            "properties": {"kind": "place", "name_nl": name_nl, "name_en": name_en, "rank": rank},
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
        })
    return {
        "type": "FeatureCollection",
        "properties": {
            "description": "Approximate outline of the Netherlands and its neighbours, drawn by hand at low "
            "resolution (errors of a few kilometres). For orientation only; not for navigation.",
        },
        "features": features,
    }


def render() -> str:
    return json.dumps(build(), ensure_ascii=False, separators=(",", ":")) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")
