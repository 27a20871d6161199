"""A synthetic national participant set, built deterministically from a size and a seed.

People live where people live: every participant's home lies around a Dutch municipality drawn with
a weight equal to its population (``hub/data/places.csv``: CBS population on 1 January 2023), scattered
with a spread that grows with the size of the place (about 0.6 km for a village, 4 km for
Amsterdam). A few percent live just across the border in Belgium or Germany (``border_anchors.csv``).

The mix, per participant:

* addresses: ~60 % one home address, ~30 % home and work, ~10 % home, work and a third address
  (a partner's or parents' home, half of them only wanted at weekends); work lies in a place drawn by
  a gravity model (population times ``exp(-distance / 15 km)``) and is wanted on weekdays 08:00-18:00;
* channels: SMS for most, the app, e-mail and voice for some; everyone has at least one;
* a mobile number for nearly everyone, a landline for some, an e-mail address for about half; about
  one in a hundred shares a phone number or e-mail address with someone else (households);
* quiet hours for about a fifth, a pause for a few (relative to :data:`BENCH_MOMENT`), Dutch for most
  and English for some, the participant's own time zone abroad.

Generation is vectorised (numpy); the JSON of each record comes from small precomputed fragments.
:func:`ensure` writes the set into a hub data folder (``burgerhub.sqlite3`` with the hub's own schema)
under ``var/bench/`` keyed by size and seed, and reuses it on later runs.

    .venv/bin/python bench/dataset.py --participants 3000000
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import WORK, Progress  # noqa: E402
from hub import places  # noqa: E402
from hub.store.sqlite import SCHEMA  # noqa: E402

FORMAT = 2
"""Bumped whenever the generated records change, so that cached sets are rebuilt."""

BENCH_MOMENT = datetime(2026, 3, 10, 14, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
"""The moment benchmarks select audiences at: a Tuesday afternoon (work addresses wanted, no quiet hours)."""

DATABASE = "burgerhub.sqlite3"

# channel bits
SMS, APP, EMAIL, VOICE = 1, 2, 4, 8
_CHANNEL_NAMES = ((SMS, "sms"), (APP, "app"), (EMAIL, "email"), (VOICE, "voice"))

# countries of the home address
NL, BE, DE = 0, 1, 2
_TIMEZONES = ("Europe/Amsterdam", "Europe/Brussels", "Europe/Berlin")

_QUIET = (
    "null",
    json.dumps({"from": "23:00", "to": "07:00", "channels": ["voice", "sms", "app"]}, separators=(",", ":")),
    json.dumps({"from": "22:00", "to": "07:30", "channels": ["voice", "sms"]}, separators=(",", ":")),
)
_WORK_WINDOW = '[{"days":["mon","tue","wed","thu","fri"],"from":"08:00","to":"18:00"}]'
_WEEKEND_WINDOW = '[{"days":["sat","sun"],"from":"00:00","to":"24:00"}]'


@dataclass(frozen=True)
class Columns:
    """The generated set, one entry per participant (addresses beyond ``n_addresses`` are unused)."""

    ids: np.ndarray  # uint64, printed as 16 hex digits
    country: np.ndarray  # uint8: NL, BE, DE
    n_addresses: np.ndarray  # uint8: 1..3
    lat: np.ndarray  # float64 [n, 3]: home, work, other
    lon: np.ndarray
    place: np.ndarray  # int16 [n, 3]: index into ``place_names``
    weekend_only: np.ndarray  # bool: the third address is wanted at weekends only
    channels: np.ndarray  # uint8 bit mask
    mobile: np.ndarray  # int64 E.164 digits, 0 = none
    landline: np.ndarray  # int64, 0 = none
    email: np.ndarray  # int64 mailbox number, -1 = none
    english: np.ndarray  # bool
    quiet: np.ndarray  # uint8 index into _QUIET
    pause_days: np.ndarray  # int16 days after BENCH_MOMENT's date the pause ends, 0 = no pause
    place_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.ids)


def _scatter(rng, n: int, lat: np.ndarray, lon: np.ndarray, sigma_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points around (lat, lon), normally spread with ``sigma_km`` in each direction."""
    dy = rng.standard_normal(n) * sigma_km / 111.2
    dx = rng.standard_normal(n) * sigma_km / (111.2 * np.cos(np.radians(lat)))
    return np.round(lat + dy, 6), np.round(lon + dx, 6)


def _gravity(src_lat, src_lon, dst_lat, dst_lon, dst_pop, scale_km: float = 15.0) -> np.ndarray:
    """Row-normalised commuting weights from every source to every destination place."""
    dlat = np.radians(dst_lat[None, :] - src_lat[:, None])
    dlon = np.radians(dst_lon[None, :] - src_lon[:, None]) * np.cos(np.radians(src_lat))[:, None]
    km = 6371.0 * np.hypot(dlat, dlon)
    w = dst_pop[None, :] * np.exp(-km / scale_km)
    return w / w.sum(axis=1, keepdims=True)


def _draw_by_group(rng, groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For every entry of ``groups`` (a source index) a destination drawn from that source's weights."""
    out = np.empty(len(groups), dtype=np.int64)
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    bounds = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1], True])
    cumulative = np.cumsum(weights, axis=1)
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        g = int(sorted_groups[a])
        u = rng.random(b - a) * cumulative[g, -1]
        out[order[a:b]] = np.minimum(np.searchsorted(cumulative[g], u, side="right"), weights.shape[1] - 1)
    return out


def generate(n: int, seed: int) -> Columns:
    """The synthetic set of ``n`` participants for ``seed`` (same inputs, same output)."""
    rng = np.random.default_rng(seed)
    nl = places.all_places()
    abroad = [r for r in places._rows("border_anchors.csv") if r["country"] in ("BE", "DE")]
    p_lat = np.array([p.lat for p in nl] + [float(r["lat"]) for r in abroad])
    p_lon = np.array([p.lon for p in nl] + [float(r["lon"]) for r in abroad])
    p_pop = np.array([p.population for p in nl], dtype=np.float64)
    p_country = np.array([NL] * len(nl) + [BE if r["country"] == "BE" else DE for r in abroad], dtype=np.uint8)
    names = tuple(p.name for p in nl) + tuple(r["name"] for r in abroad)
    n_nl = len(nl)
    sigma = np.r_[np.clip(0.42 * np.sqrt(p_pop / 10_000), 0.6, 4.5), np.full(len(abroad), 1.5)]

    # homes: 3 % across the border, the rest by population
    cross = rng.random(n) < 0.03
    home = np.where(
        cross,
        n_nl + rng.integers(0, len(abroad), n),
        np.minimum(np.searchsorted(np.cumsum(p_pop) / p_pop.sum(), rng.random(n), side="right"), n_nl - 1),
    )
    country = p_country[home]
    lat = np.zeros((n, 3))
    lon = np.zeros((n, 3))
    place = np.zeros((n, 3), dtype=np.int16)
    lat[:, 0], lon[:, 0] = _scatter(rng, n, p_lat[home], p_lon[home], sigma[home])
    place[:, 0] = home

    # 60 % one address, 30 % two, 10 % three; people living abroad mostly work in the Netherlands
    u = rng.random(n)
    n_addresses = np.where(u < 0.6, 1, np.where(u < 0.9, 2, 3)).astype(np.uint8)
    n_addresses[cross & (n_addresses == 1) & (rng.random(n) < 0.7)] = 2
    commuters = np.flatnonzero(n_addresses >= 2)
    work = _draw_by_group(rng, home[commuters], _gravity(p_lat, p_lon, p_lat[:n_nl], p_lon[:n_nl], p_pop))
    lat[commuters, 1], lon[commuters, 1] = _scatter(
        rng, len(commuters), p_lat[work], p_lon[work], 0.6 * sigma[work]
    )
    place[commuters, 1] = work
    thirds = np.flatnonzero(n_addresses == 3)
    other = np.minimum(
        np.searchsorted(np.cumsum(p_pop) / p_pop.sum(), rng.random(len(thirds)), side="right"), n_nl - 1
    )
    lat[thirds, 2], lon[thirds, 2] = _scatter(rng, len(thirds), p_lat[other], p_lon[other], sigma[other])
    place[thirds, 2] = other
    weekend_only = rng.random(n) < 0.5

    # contact details: unique numbers from an affine map (coprime multiplier), then some households share
    idx = np.arange(n, dtype=np.int64)
    local = (idx * 7_654_321 + int(rng.integers(0, 10**7))) % (5 * 10**7)  # 8 digits after "6", first 1..5
    mobile = np.where(
        country == NL,
        316_1000_0000 + local,
        np.where(country == BE, 32_470_000_000 + local % (3 * 10**7), 49_151_0000_0000 + local),
    )
    mobile[rng.random(n) < 0.03] = 0
    landline = np.where(rng.random(n) < 0.10, 31_30_000_0000 + (idx * 1_234_567 + 7) % 10**7, 0)
    landline[country != NL] = 0
    email = np.where(rng.random(n) < 0.55, idx, -1)
    share = np.flatnonzero(rng.random(n) < 0.01)
    partner = rng.integers(0, n, len(share))
    mobile[share] = mobile[partner]
    email[share[email[share] >= 0]] = email[partner[email[share] >= 0]]
    no_phone = (mobile == 0) & (landline == 0)
    mobile[no_phone & (email < 0)] = (316_1000_0000 + local)[no_phone & (email < 0)]

    # channels: SMS most, app and e-mail some, voice a few; at least one that can reach them
    channels = np.zeros(n, dtype=np.uint8)
    channels |= np.where((rng.random(n) < 0.82) & (mobile > 0), SMS, 0).astype(np.uint8)
    channels |= np.where(rng.random(n) < 0.35, APP, 0).astype(np.uint8)
    channels |= np.where((rng.random(n) < 0.55) & (email >= 0), EMAIL, 0).astype(np.uint8)
    channels |= np.where(rng.random(n) < np.where(landline > 0, 0.6, 0.06), VOICE, 0).astype(np.uint8)
    channels[channels == 0] = np.where(mobile[channels == 0] > 0, SMS, EMAIL)

    english = rng.random(n) < np.where(country == DE, 0.5, 0.08)
    q = rng.random(n)
    quiet = np.where(q < 0.15, 1, np.where(q < 0.20, 2, 0)).astype(np.uint8)
    p = rng.random(n)
    pause_days = np.where(p < 0.015, rng.integers(1, 22, n), np.where(p < 0.02, -rng.integers(1, 60, n), 0))
    ids = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    return Columns(
        ids=ids,
        country=country,
        n_addresses=n_addresses,
        lat=lat,
        lon=lon,
        place=place,
        weekend_only=weekend_only,
        channels=channels,
        mobile=mobile,
        landline=landline,
        email=email,
        english=english,
        quiet=quiet,
        pause_days=pause_days.astype(np.int16),
        place_names=names,
    )


def records(cols: Columns, start: int, stop: int) -> list[tuple[str, str]]:
    """``(id, JSON)`` of participants ``start:stop``: exactly what ``Participant.to_dict`` gives."""
    channel_json = [
        json.dumps([name for bit, name in _CHANNEL_NAMES if mask & bit]) for mask in range(16)
    ]
    city_json = [json.dumps(name) for name in cols.place_names]
    day0 = BENCH_MOMENT.date()
    out = []
    rows = zip(
        cols.ids[start:stop].tolist(),
        cols.country[start:stop].tolist(),
        cols.n_addresses[start:stop].tolist(),
        cols.lat[start:stop].tolist(),
        cols.lon[start:stop].tolist(),
        cols.place[start:stop].tolist(),
        cols.weekend_only[start:stop].tolist(),
        cols.channels[start:stop].tolist(),
        cols.mobile[start:stop].tolist(),
        cols.landline[start:stop].tolist(),
        cols.email[start:stop].tolist(),
        cols.english[start:stop].tolist(),
        cols.quiet[start:stop].tolist(),
        cols.pause_days[start:stop].tolist(),
    )
    for pid, country, k, lats, lons, where, weekend, mask, mob, land, mail, en, quiet, pause in rows:
        ident = f"{pid:016x}"
        phones = []
        if mob:
            phones.append(f'{{"number":"+{mob}","kind":"mobile"}}')
        if land:
            phones.append(f'{{"number":"+{land}","kind":"landline"}}')
        addresses = [f'{{"label":"home","lat":{lats[0]},"lon":{lons[0]},"city":{city_json[where[0]]}}}']
        if k >= 2:
            addresses.append(
                f'{{"label":"work","lat":{lats[1]},"lon":{lons[1]},"city":{city_json[where[1]]},'
                f'"availability":{_WORK_WINDOW}}}'
            )
        if k == 3:
            extra = f',"availability":{_WEEKEND_WINDOW}' if weekend else ""
            addresses.append(
                f'{{"label":"other","lat":{lats[2]},"lon":{lons[2]},"city":{city_json[where[2]]}{extra}}}'
            )
        paused = f'"{(day0 + timedelta(days=pause)).isoformat()}"' if pause else "null"
        email = f'"deelnemer{mail}@example.nl"' if mail >= 0 else "null"
        out.append(
            (
                ident,
                f'{{"id":"{ident}","language":"{"en" if en else "nl"}","timezone":"{_TIMEZONES[country]}",'
                f'"phones":[{",".join(phones)}],"email":{email},"channels":{channel_json[mask]},'
                f'"addresses":[{",".join(addresses)}],"quiet_hours":{_QUIET[quiet]},"paused_until":{paused}}}',
            )
        )
    return out


def participant_dicts(cols: Columns, start: int = 0, stop: int | None = None) -> list[dict]:
    """The records as dicts (the JSON form ``Participant.from_dict`` reads)."""
    return [json.loads(text) for _, text in records(cols, start, len(cols) if stop is None else stop)]


@dataclass(frozen=True)
class Dataset:
    """A built set: a hub data folder holding ``burgerhub.sqlite3``."""

    participants: int
    seed: int
    data_dir: Path
    built_in_s: float | None  # None when it came from the cache

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE


def data_dir_for(participants: int, seed: int, work: Path = WORK) -> Path:
    return work / f"national-{participants}-{seed}-v{FORMAT}"


def write_database(path: Path, cols: Columns, *, batch: int = 50_000, progress: Progress | None = None) -> None:
    """Write the set into a new SQLite database with the hub's schema (big executemany batches)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1000000")
        conn.executescript(SCHEMA)
        now = time.time()
        n = len(cols)
        conn.execute("BEGIN")
        for start in range(0, n, batch):
            rows = records(cols, start, min(n, start + batch))
            conn.executemany(
                "INSERT INTO participants (id, data, created_at, updated_at) VALUES (?,?,?,?)",
                [(pid, text, now, now) for pid, text in rows],
            )
            if progress:
                progress.count("participants written", min(n, start + batch), n)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def ensure(participants: int, seed: int, *, work: Path = WORK, progress: Progress | None = None) -> Dataset:
    """The data folder of the set for (``participants``, ``seed``), built now unless cached."""
    data_dir = data_dir_for(participants, seed, work)
    if (data_dir / DATABASE).exists():
        return Dataset(participants, seed, data_dir, None)
    t0 = time.perf_counter()
    if progress:
        progress.step(f"building the synthetic national set: {participants:,} participants, seed {seed}")
    cols = generate(participants, seed)
    if progress:
        progress.step(f"generated in {time.perf_counter() - t0:.1f} s; writing SQLite")
    data_dir.mkdir(parents=True, exist_ok=True)
    partial = data_dir / (DATABASE + ".partial")
    partial.unlink(missing_ok=True)
    write_database(partial, cols, progress=progress)
    os.replace(partial, data_dir / DATABASE)
    return Dataset(participants, seed, data_dir, time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--participants", type=int, default=3_000_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)
    ds = ensure(args.participants, args.seed, work=args.work, progress=Progress())
    when = "cached" if ds.built_in_s is None else f"built in {ds.built_in_s:.1f} s"
    print(f"{ds.database} ({when}, {ds.database.stat().st_size / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
