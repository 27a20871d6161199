"""Dutch postcodes and place names to coordinates, for subscribing in a Messenger conversation.

:func:`lookup` uses ``hub.places.lookup`` when the hub has it, and this module's small table: the
larger places with their 4-digit postcode ranges, and the centroids of the 2-digit postcode regions.
``hub.places`` resolves a postcode only to the main place of its 2-digit region, so the 4-digit ranges
here are asked first for postcodes. Coordinates are town centres and region centroids, good to a few
kilometres; a subscription made from a region is marked ``approximate`` and gets a wider circle.
The 4-digit ranges belong in ``hub.places``, shared by every channel; the rest of this table is the
fallback for a hub without it.
"""

from __future__ import annotations

import importlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

log = logging.getLogger("burgerhub.channel.messenger")


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    lat: float
    lon: float
    province: str | None = None
    #: how far the real spot may be from (lat, lon); 0 for a place centre
    precision_m: float = 0.0

    @property
    def approximate(self) -> bool:
        return self.precision_m > 0


# name, other names, lat, lon, province, postcode ranges (PC4, inclusive)
_PLACES: tuple[tuple[str, tuple[str, ...], float, float, str, tuple[tuple[int, int], ...]], ...] = (
    ("Amsterdam", (), 52.3728, 4.8936, "Noord-Holland", ((1011, 1109),)),
    ("Rotterdam", (), 51.9225, 4.4792, "Zuid-Holland", ((3011, 3089), (3190, 3199))),
    ("Den Haag", ("'s-Gravenhage", "s-Gravenhage", "Den Haag", "The Hague", "Scheveningen"), 52.0799, 4.3113,
     "Zuid-Holland", ((2491, 2599),)),
    ("Utrecht", (), 52.0907, 5.1214, "Utrecht", ((3511, 3585),)),
    ("Eindhoven", (), 51.4416, 5.4697, "Noord-Brabant", ((5611, 5658),)),
    ("Groningen", (), 53.2194, 6.5665, "Groningen", ((9711, 9747),)),
    ("Tilburg", (), 51.5555, 5.0913, "Noord-Brabant", ((5011, 5049),)),
    ("Almere", (), 52.3508, 5.2647, "Flevoland", ((1311, 1364),)),
    ("Breda", (), 51.5719, 4.7683, "Noord-Brabant", ((4811, 4839),)),
    ("Nijmegen", (), 51.8426, 5.8528, "Gelderland", ((6511, 6546),)),
    ("Apeldoorn", (), 52.2112, 5.9699, "Gelderland", ((7311, 7339),)),
    ("Arnhem", (), 51.9851, 5.8987, "Gelderland", ((6811, 6846),)),
    ("Haarlem", (), 52.3874, 4.6462, "Noord-Holland", ((2011, 2037),)),
    ("Hoofddorp", ("Haarlemmermeer",), 52.3025, 4.6889, "Noord-Holland", ((2131, 2136),)),
    ("Amersfoort", (), 52.1561, 5.3878, "Utrecht", ((3811, 3829),)),
    ("Enschede", (), 52.2215, 6.8937, "Overijssel", ((7511, 7548),)),
    ("Zaandam", ("Zaanstad",), 52.4420, 4.8292, "Noord-Holland", ((1501, 1509),)),
    ("'s-Hertogenbosch", ("s-Hertogenbosch", "Den Bosch", "Hertogenbosch"), 51.6978, 5.3037, "Noord-Brabant",
     ((5211, 5237),)),
    ("Zwolle", (), 52.5168, 6.0830, "Overijssel", ((8011, 8046),)),
    ("Leiden", (), 52.1601, 4.4970, "Zuid-Holland", ((2311, 2334),)),
    ("Zoetermeer", (), 52.0575, 4.4931, "Zuid-Holland", ((2711, 2729),)),
    ("Leeuwarden", ("Ljouwert",), 53.2012, 5.7999, "Friesland", ((8911, 8939),)),
    ("Maastricht", (), 50.8514, 5.6910, "Limburg", ((6211, 6229),)),
    ("Dordrecht", (), 51.8133, 4.6901, "Zuid-Holland", ((3311, 3329),)),
    ("Ede", (), 52.0402, 5.6649, "Gelderland", ((6711, 6718),)),
    ("Alphen aan den Rijn", ("Alphen",), 52.1294, 4.6559, "Zuid-Holland", ((2401, 2409),)),
    ("Naaldwijk", ("Westland",), 51.9943, 4.2094, "Zuid-Holland", ((2671, 2675),)),
    ("Alkmaar", (), 52.6324, 4.7534, "Noord-Holland", ((1811, 1827),)),
    ("Emmen", (), 52.7858, 6.8976, "Drenthe", ((7811, 7828),)),
    ("Delft", (), 52.0116, 4.3571, "Zuid-Holland", ((2611, 2629),)),
    ("Venlo", (), 51.3704, 6.1724, "Limburg", ((5911, 5928),)),
    ("Deventer", (), 52.2550, 6.1639, "Overijssel", ((7411, 7429),)),
    ("Sittard", ("Sittard-Geleen",), 50.9983, 5.8692, "Limburg", ((6131, 6137),)),
    ("Geleen", (), 50.9742, 5.8292, "Limburg", ((6161, 6167),)),
    ("Helmond", (), 51.4817, 5.6611, "Noord-Brabant", ((5701, 5709),)),
    ("Oss", (), 51.7650, 5.5180, "Noord-Brabant", ((5341, 5349),)),
    ("Amstelveen", (), 52.3008, 4.8637, "Noord-Holland", ((1181, 1189),)),
    ("Hilversum", (), 52.2292, 5.1669, "Noord-Holland", ((1211, 1223),)),
    ("Heerlen", (), 50.8882, 5.9795, "Limburg", ((6411, 6419),)),
    ("Spijkenisse", ("Nissewaard",), 51.8450, 4.3290, "Zuid-Holland", ((3201, 3209),)),
    ("Sneek", ("Snits", "Sudwest-Fryslan"), 53.0326, 5.6589, "Friesland", ((8601, 8608),)),
    ("Hengelo", (), 52.2658, 6.7931, "Overijssel", ((7551, 7559),)),
    ("Purmerend", (), 52.5050, 4.9597, "Noord-Holland", ((1441, 1448),)),
    ("Schiedam", (), 51.9192, 4.3989, "Zuid-Holland", ((3111, 3125),)),
    ("Lelystad", (), 52.5185, 5.4714, "Flevoland", ((8211, 8245),)),
    ("Roosendaal", (), 51.5308, 4.4653, "Noord-Brabant", ((4701, 4709),)),
    ("Voorburg", ("Leidschendam-Voorburg",), 52.0740, 4.3590, "Zuid-Holland", ((2271, 2275),)),
    ("Leidschendam", (), 52.0833, 4.3889, "Zuid-Holland", ((2261, 2267),)),
    ("Gouda", (), 52.0115, 4.7104, "Zuid-Holland", ((2801, 2809),)),
    ("Vlaardingen", (), 51.9125, 4.3419, "Zuid-Holland", ((3131, 3138),)),
    ("Hoorn", (), 52.6424, 5.0597, "Noord-Holland", ((1621, 1628),)),
    ("Assen", (), 52.9925, 6.5649, "Drenthe", ((9401, 9409),)),
    ("Capelle aan den IJssel", ("Capelle",), 51.9292, 4.5779, "Zuid-Holland", ((2901, 2909),)),
    ("Bergen op Zoom", (), 51.4950, 4.2917, "Noord-Brabant", ((4611, 4625),)),
    ("Nieuwegein", (), 52.0290, 5.0810, "Utrecht", ((3431, 3439),)),
    ("Veenendaal", (), 52.0286, 5.5589, "Utrecht", ((3901, 3909),)),
    ("Zeist", (), 52.0894, 5.2330, "Utrecht", ((3701, 3709),)),
    ("Den Helder", (), 52.9563, 4.7601, "Noord-Holland", ((1781, 1789),)),
    ("Katwijk", (), 52.2000, 4.4167, "Zuid-Holland", ((2221, 2225),)),
    ("Middelburg", (), 51.4988, 3.6136, "Zeeland", ((4331, 4339),)),
    ("Vlissingen", (), 51.4536, 3.5714, "Zeeland", ((4381, 4389),)),
    ("Almelo", (), 52.3567, 6.6625, "Overijssel", ((7601, 7609),)),
    ("Harderwijk", (), 52.3417, 5.6208, "Gelderland", ((3841, 3849),)),
    ("Doetinchem", (), 51.9650, 6.2886, "Gelderland", ((7001, 7009),)),
    ("Roermond", (), 51.1942, 5.9875, "Limburg", ((6041, 6049),)),
    ("Terneuzen", (), 51.3358, 3.8278, "Zeeland", ((4531, 4539),)),
    ("Oosterhout", (), 51.6450, 4.8597, "Noord-Brabant", ((4901, 4909),)),
    ("Kampen", (), 52.5550, 5.9111, "Overijssel", ((8261, 8267),)),
    ("Zutphen", (), 52.1383, 6.2017, "Gelderland", ((7201, 7207),)),
    ("Hoogeveen", (), 52.7225, 6.4764, "Drenthe", ((7901, 7909),)),
    ("Heerenveen", ("It Hearrenfean",), 52.9597, 5.9194, "Friesland", ((8441, 8449),)),
    ("Drachten", (), 53.1050, 6.0989, "Friesland", ((9201, 9204),)),
    ("Wageningen", (), 51.9692, 5.6653, "Gelderland", ((6701, 6709),)),
    ("Tiel", (), 51.8861, 5.4292, "Gelderland", ((4001, 4007),)),
    ("Goes", (), 51.5042, 3.8889, "Zeeland", ((4461, 4465),)),
    ("Weert", (), 51.2517, 5.7069, "Limburg", ((6001, 6006),)),
    ("Emmeloord", ("Noordoostpolder",), 52.7108, 5.7483, "Flevoland", ((8301, 8305),)),
    ("Meppel", (), 52.6958, 6.1944, "Drenthe", ((7941, 7944),)),
    ("Veendam", (), 53.1067, 6.8792, "Groningen", ((9641, 9648),)),
    ("Delfzijl", (), 53.3300, 6.9181, "Groningen", ((9930, 9936),)),
    ("Woerden", (), 52.0850, 4.8833, "Utrecht", ((3441, 3449),)),
    ("Gorinchem", (), 51.8306, 4.9742, "Zuid-Holland", ((4201, 4209),)),
    ("Beverwijk", (), 52.4833, 4.6569, "Noord-Holland", ((1941, 1949),)),
    ("IJmuiden", ("Velsen",), 52.4583, 4.6194, "Noord-Holland", ((1971, 1976),)),
    ("Rijswijk", (), 52.0363, 4.3254, "Zuid-Holland", ((2281, 2289),)),
    ("Houten", (), 52.0283, 5.1681, "Utrecht", ((3991, 3997),)),
)

# 2-digit postcode region: centroid, a place in it, province
_REGIONS: dict[int, tuple[float, float, str, str]] = {
    10: (52.372, 4.893, "Amsterdam", "Noord-Holland"),
    11: (52.330, 4.940, "Amsterdam-Zuidoost en Amstelland", "Noord-Holland"),
    12: (52.240, 5.190, "Hilversum en het Gooi", "Noord-Holland"),
    13: (52.370, 5.220, "Almere", "Flevoland"),
    14: (52.370, 4.930, "Purmerend, Uithoorn en Aalsmeer", "Noord-Holland"),
    15: (52.470, 4.800, "Zaanstad", "Noord-Holland"),
    16: (52.680, 5.060, "Hoorn en West-Friesland", "Noord-Holland"),
    17: (52.800, 4.800, "Den Helder en Heerhugowaard", "Noord-Holland"),
    18: (52.630, 4.740, "Alkmaar", "Noord-Holland"),
    19: (52.490, 4.660, "Beverwijk en IJmuiden", "Noord-Holland"),
    20: (52.380, 4.630, "Haarlem", "Noord-Holland"),
    21: (52.300, 4.620, "Haarlemmermeer en de Bollenstreek", "Noord-Holland"),
    22: (52.160, 4.410, "Katwijk, Noordwijk en Wassenaar", "Zuid-Holland"),
    23: (52.160, 4.500, "Leiden", "Zuid-Holland"),
    24: (52.110, 4.680, "Alphen aan den Rijn", "Zuid-Holland"),
    25: (52.070, 4.300, "Den Haag", "Zuid-Holland"),
    26: (52.000, 4.360, "Delft en Westland", "Zuid-Holland"),
    27: (52.050, 4.530, "Zoetermeer", "Zuid-Holland"),
    28: (52.000, 4.720, "Gouda", "Zuid-Holland"),
    29: (51.890, 4.600, "Capelle, Krimpen en Ridderkerk", "Zuid-Holland"),
    30: (51.920, 4.480, "Rotterdam", "Zuid-Holland"),
    31: (51.910, 4.340, "Schiedam, Vlaardingen en Maassluis", "Zuid-Holland"),
    32: (51.830, 4.250, "Spijkenisse en Voorne-Putten", "Zuid-Holland"),
    33: (51.810, 4.690, "Dordrecht en de Drechtsteden", "Zuid-Holland"),
    34: (52.040, 4.980, "Nieuwegein, IJsselstein en Woerden", "Utrecht"),
    35: (52.090, 5.120, "Utrecht", "Utrecht"),
    36: (52.170, 4.970, "Maarssen, Breukelen en De Ronde Venen", "Utrecht"),
    37: (52.150, 5.260, "Zeist, De Bilt en Soest", "Utrecht"),
    38: (52.210, 5.450, "Amersfoort en Harderwijk", "Utrecht"),
    39: (52.020, 5.390, "Veenendaal en de Utrechtse Heuvelrug", "Utrecht"),
    40: (51.900, 5.440, "Tiel en de Betuwe", "Gelderland"),
    41: (51.930, 5.160, "Culemborg, Vianen en Leerdam", "Gelderland"),
    42: (51.800, 5.000, "Gorinchem en het Land van Heusden en Altena", "Zuid-Holland"),
    43: (51.560, 3.760, "Middelburg, Vlissingen en Schouwen", "Zeeland"),
    44: (51.480, 3.900, "Goes en de Bevelanden", "Zeeland"),
    45: (51.300, 3.850, "Zeeuws-Vlaanderen", "Zeeland"),
    46: (51.500, 4.290, "Bergen op Zoom", "Noord-Brabant"),
    47: (51.560, 4.500, "Roosendaal", "Noord-Brabant"),
    48: (51.580, 4.750, "Breda", "Noord-Brabant"),
    49: (51.650, 4.870, "Oosterhout", "Noord-Brabant"),
    50: (51.560, 5.080, "Tilburg", "Noord-Brabant"),
    51: (51.630, 5.000, "Waalwijk en Dongen", "Noord-Brabant"),
    52: (51.680, 5.300, "'s-Hertogenbosch", "Noord-Brabant"),
    53: (51.780, 5.450, "Oss en Zaltbommel", "Noord-Brabant"),
    54: (51.640, 5.600, "Uden en Veghel", "Noord-Brabant"),
    55: (51.380, 5.400, "Veldhoven en Valkenswaard", "Noord-Brabant"),
    56: (51.440, 5.470, "Eindhoven", "Noord-Brabant"),
    57: (51.450, 5.700, "Helmond", "Noord-Brabant"),
    58: (51.580, 5.950, "Venray en Boxmeer", "Limburg"),
    59: (51.380, 6.150, "Venlo", "Limburg"),
    60: (51.220, 5.850, "Weert en Roermond", "Limburg"),
    61: (51.020, 5.850, "Sittard-Geleen", "Limburg"),
    62: (50.850, 5.700, "Maastricht", "Limburg"),
    63: (50.870, 5.900, "Valkenburg en Heuvelland", "Limburg"),
    64: (50.890, 6.010, "Heerlen en Kerkrade", "Limburg"),
    65: (51.820, 5.850, "Nijmegen", "Gelderland"),
    66: (51.870, 5.750, "Wijchen en Elst", "Gelderland"),
    67: (52.030, 5.670, "Ede en Wageningen", "Gelderland"),
    68: (51.980, 5.900, "Arnhem", "Gelderland"),
    69: (51.970, 6.100, "Zevenaar en Duiven", "Gelderland"),
    70: (51.930, 6.300, "Doetinchem", "Gelderland"),
    71: (51.970, 6.650, "Winterswijk en Oost-Achterhoek", "Gelderland"),
    72: (52.130, 6.300, "Zutphen en Lochem", "Gelderland"),
    73: (52.210, 5.960, "Apeldoorn", "Gelderland"),
    74: (52.280, 6.400, "Deventer en Rijssen", "Overijssel"),
    75: (52.240, 6.850, "Enschede en Hengelo", "Overijssel"),
    76: (52.380, 6.680, "Almelo", "Overijssel"),
    77: (52.600, 6.550, "Hardenberg en Coevorden", "Overijssel"),
    78: (52.780, 6.900, "Emmen", "Drenthe"),
    79: (52.720, 6.400, "Hoogeveen en Meppel", "Drenthe"),
    80: (52.510, 6.090, "Zwolle", "Overijssel"),
    81: (52.350, 6.100, "Raalte en Epe", "Overijssel"),
    82: (52.520, 5.600, "Lelystad en Kampen", "Flevoland"),
    83: (52.750, 5.850, "Emmeloord en Steenwijk", "Flevoland"),
    84: (52.950, 6.000, "Heerenveen", "Friesland"),
    85: (52.900, 5.700, "Joure en Lemmer", "Friesland"),
    86: (53.030, 5.630, "Sneek", "Friesland"),
    87: (52.980, 5.450, "Bolsward en Workum", "Friesland"),
    88: (53.200, 5.400, "Franeker en Harlingen", "Friesland"),
    89: (53.200, 5.800, "Leeuwarden", "Friesland"),
    90: (53.150, 5.900, "Grou en omgeving Leeuwarden", "Friesland"),
    91: (53.350, 5.950, "Dokkum", "Friesland"),
    92: (53.150, 6.100, "Drachten", "Friesland"),
    93: (53.120, 6.400, "Roden en Leek", "Drenthe"),
    94: (52.980, 6.560, "Assen", "Drenthe"),
    95: (52.950, 6.950, "Stadskanaal", "Groningen"),
    96: (53.150, 6.850, "Hoogezand, Veendam en Winschoten", "Groningen"),
    97: (53.220, 6.570, "Groningen", "Groningen"),
    98: (53.250, 6.350, "Zuidhorn en Westerkwartier", "Groningen"),
    99: (53.350, 6.750, "Delfzijl en Appingedam", "Groningen"),
}

#: a 2-digit region centroid may lie this far from the postcode itself
REGION_PRECISION_M = 10_000.0

POSTCODE = re.compile(r"^([1-9][0-9]{3})\s?([a-z]{2})?$")


def normalize(text: str) -> str:
    """Lower case, no accents, apostrophes and hyphens as spaces, single spaces."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    text = re.sub(r"['`´’\-.,!?]+", " ", text)
    return " ".join(text.split())


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, Place], list[tuple[int, int, Place]]]:
    names: dict[str, Place] = {}
    ranges: list[tuple[int, int, Place]] = []
    for name, aliases, lat, lon, province, pc4 in _PLACES:
        place = Place(name=name, lat=lat, lon=lon, province=province_id(province))
        for key in (name, *aliases):
            names.setdefault(normalize(key), place)
        for low, high in pc4:
            ranges.append((low, high, place))
    return names, ranges


def province_id(name: str) -> str:
    """``Noord-Holland`` -> ``noord_holland``: the province ids ``hub.places`` uses."""
    return normalize(name).replace(" ", "_")


def _postcode(text: str) -> int | None:
    match = POSTCODE.match(" ".join(text.lower().split()))
    return int(match.group(1)) if match else None


def lookup_pc4(pc4: int) -> Place | None:
    """A place whose 4-digit postcode range holds ``pc4`` (this module's table)."""
    for low, high, place in _index()[1]:
        if low <= pc4 <= high:
            return Place(name=f"{pc4} ({place.name})", lat=place.lat, lon=place.lon, province=place.province)
    return None


def lookup_region(pc4: int) -> Place | None:
    """The centroid of the 2-digit region of ``pc4`` (this module's table), marked approximate."""
    region = _REGIONS.get(pc4 // 100)
    if region is None:
        return None
    lat, lon, name, province = region
    return Place(name=f"{pc4} (regio {name})", lat=lat, lon=lon, province=province_id(province),
                 precision_m=REGION_PRECISION_M)


def lookup_postcode(text: str) -> Place | None:
    """A 4-digit postcode (letters optional: ``3511 AB``, ``3511ab``, ``3511``) to a place or region."""
    pc4 = _postcode(text)
    if pc4 is None:
        return None
    return lookup_pc4(pc4) or lookup_region(pc4)


def lookup_name(text: str) -> Place | None:
    return _index()[0].get(normalize(text))


def _hub_places():
    try:
        return importlib.import_module("hub.places")
    except ImportError:
        return None
    except Exception:  # present but broken: keep subscribing with the own table
        log.exception("hub.places could not be imported; using the channel's own table")
        return None


def _hub_lookup(text: str) -> Place | None:
    """``hub.places.lookup`` when the hub provides it (anything with name, lat and lon)."""
    module = _hub_places()
    lookup = getattr(module, "lookup", None)
    if lookup is None:
        return None
    try:
        found = lookup(text)
    except Exception:  # a broken shared lookup must not break subscribing
        log.exception("hub.places.lookup failed; using the channel's own table")
        return None
    if found is None:
        return None
    region = getattr(found, "kind", None) == "postcode_region"
    return Place(
        name=str(found.name),
        lat=float(found.lat),
        lon=float(found.lon),
        province=getattr(found, "province", None),
        precision_m=REGION_PRECISION_M if region else float(getattr(found, "precision_m", 0.0) or 0.0),
    )


def lookup(text: str) -> Place | None:
    """A Dutch postcode or place name to coordinates; ``None`` when unknown.

    Names go to ``hub.places`` first, then to this module's table. Postcodes go to this module's
    4-digit ranges first (``hub.places`` knows only 2-digit regions), then to the region of
    ``hub.places``, then to this module's regions; a region answer is marked approximate.
    """
    text = text.strip()
    if not text or len(text) > 80:
        return None
    pc4 = _postcode(text)
    if pc4 is None:
        return _hub_lookup(text) or lookup_name(text)
    found = lookup_pc4(pc4)
    if found is not None:
        return found
    region = _hub_lookup(text)
    if region is not None:
        return Place(name=f"{pc4} (regio {region.name})", lat=region.lat, lon=region.lon,
                     province=region.province, precision_m=max(region.precision_m, REGION_PRECISION_M))
    return lookup_region(pc4)
