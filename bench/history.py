"""A synthetic history of actions over the benchmark's national participant set, for evaluation.

Per month, ``actions_per_month`` actions start at random moments, in places drawn by population
(``hub/data/places.csv``), with the action types and urgencies of the seeds (tracing after crimes and
missing persons time-critical; neighbourhood inquiries and prevention notices not). Each area is a circle
whose radius follows the suspect's mode of transport; it reaches the participants with an address in it
(:mod:`bench.dataset`: home, work and other addresses) on the channels they chose that fit the urgency,
one ledger row per channel like the hub writes. Start messages go out over a few minutes (bigger
actions take longer); most are delivered, some only sent, a few fail; the closing message follows 20-90
minutes later to everyone reached. About half of the time-critical actions get a participant response
(tips over SMS, the app, the web, or by telephone on the call-back line), and about one in ten is solved
thanks to participants (more for missing persons), as the seeds report.

The history is written straight into a store's tables (bulk inserts; the hub's own schema), with each
action's figures kept as the hub keeps them once an action has settled.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

import numpy as np

from bench.dataset import APP, EMAIL, SMS, VOICE, Columns
from hub import places
from hub.geo import DEFAULT_RADIUS_M
from hub.models import TransportMode

TZ = ZoneInfo("Europe/Amsterdam")

# type, share, urgency, response probability, solved-thanks-to-participants probability (given a response)
TYPES = (
    ("burglary", 0.22, "time_critical", 0.45, 0.24),
    ("missing_person", 0.14, "time_critical", 0.62, 0.23),
    ("robbery", 0.08, "time_critical", 0.50, 0.28),
    ("shoplifting", 0.14, "time_critical", 0.40, 0.26),
    ("suspicious_vehicle", 0.10, "time_critical", 0.45, 0.28),
    ("hit_and_run", 0.07, "time_critical", 0.50, 0.28),
    ("neighbourhood_inquiry", 0.20, "non_urgent", 0.15, 0.08),
    ("prevention", 0.05, "non_urgent", 0.0, 0.0),
)
TRANSPORT = (("on_foot", 0.45), ("bicycle", 0.25), ("scooter", 0.10), ("car", 0.20))
TIP_CHANNELS = (("phone", 0.55), ("sms", 0.2), ("app", 0.2), ("api", 0.05))
CELL = 0.02


@dataclass
class History:
    """What was written (row counts)."""

    actions: int = 0
    deliveries: int = 0
    tips: int = 0
    months: int = 0
    seconds: float = 0.0
    ids: list[str] = field(default_factory=list)


class _PointIndex:
    """Every participant address as points on a grid of cells, for the circles' reach."""

    def __init__(self, cols: Columns):
        n = len(cols)
        who = np.repeat(np.arange(n), 3)
        lat, lon = cols.lat.ravel(), cols.lon.ravel()
        used = (np.arange(3)[None, :] < cols.n_addresses[:, None]).ravel()
        self.who, self.lat, self.lon = who[used], lat[used], lon[used]
        key = self._key(np.floor(self.lat / CELL), np.floor(self.lon / CELL))
        order = np.argsort(key, kind="stable")
        self.key, self.who, self.lat, self.lon = key[order], self.who[order], self.lat[order], self.lon[order]

    @staticmethod
    def _key(i, j):
        return (np.asarray(i, dtype=np.int64) + 10_000) * 100_000 + (np.asarray(j, dtype=np.int64) + 10_000)

    def within(self, lat: float, lon: float, radius_m: float) -> np.ndarray:
        dlat = radius_m / 111_200
        dlon = radius_m / (111_200 * np.cos(np.radians(lat)))
        parts = []
        for i in range(int(np.floor((lat - dlat) / CELL)), int(np.floor((lat + dlat) / CELL)) + 1):
            lo = self._key(i, np.floor((lon - dlon) / CELL))
            hi = self._key(i, np.floor((lon + dlon) / CELL))
            a, b = np.searchsorted(self.key, [lo, hi + 1])
            parts.append(np.arange(a, b))
        if not parts:
            return np.empty(0, dtype=np.int64)
        idx = np.concatenate(parts)
        y = (self.lat[idx] - lat) * 111_200
        x = (self.lon[idx] - lon) * 111_200 * np.cos(np.radians(lat))
        return np.unique(self.who[idx[x * x + y * y <= radius_m * radius_m]])


def _choice(rng, table) -> int:
    return int(rng.choice(len(table), p=np.array([t[1] for t in table]) / sum(t[1] for t in table)))


def generate(cols: Columns, *, first_month: datetime, months: int, actions_per_month: int,
             seed: int = 7, max_reach: int | None = None) -> Iterator[tuple[dict, list[tuple], list[tuple]]]:
    """Per action: its stored data, its ledger rows ``(channel, kind, address, participant_id, status,
    created_at, updated_at)`` and its tips ``(text, channel, created_at)``. ``max_reach``: at most this
    many participants per action (a random subset of those in the area), as a dispatcher draws a
    smaller area where many live."""
    rng = np.random.default_rng(seed)
    points = _PointIndex(cols)
    nl = places.all_places()
    weights = np.array([p.population for p in nl], dtype=np.float64)
    weights /= weights.sum()
    ids = [f"{i:016x}" for i in cols.ids.tolist()]
    for m in range(months):
        start = (first_month.replace(day=1) + timedelta(days=32 * m)).replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        t0, t1 = start.timestamp(), end.timestamp()
        moments = np.sort(rng.uniform(t0, t1, actions_per_month))
        for k, started in enumerate(moments.tolist()):
            yield _action(rng, cols, points, ids, nl, weights, started, f"act-{m:02d}{k:05d}{seed % 1000:03d}",
                          max_reach)


def _action(rng, cols, points, ids, nl, weights, started, action_id, max_reach=None):
    kind, _, urgency, p_response, p_solved = TYPES[_choice(rng, TYPES)]
    place = nl[int(rng.choice(len(nl), p=weights))]
    lat = round(place.lat + rng.normal(0, 0.012), 5)
    lon = round(place.lon + rng.normal(0, 0.018), 5)
    if urgency == "time_critical":
        transport = TRANSPORT[_choice(rng, TRANSPORT)][0]
        radius = float(DEFAULT_RADIUS_M[TransportMode(transport)])
        if kind == "missing_person":
            radius *= 1.5
        area = {"type": "circle", "lat": lat, "lon": lon, "radius_m": radius, "transport": transport}
        wanted = ((SMS, "sms"), (VOICE, "voice"), (APP, "app"))
    else:
        radius = float(rng.choice([400.0, 800.0, 1500.0]))
        area = {"type": "circle", "lat": lat, "lon": lon, "radius_m": radius}
        wanted = ((EMAIL, "email"), (APP, "app"))
    who = points.within(lat, lon, radius)
    if max_reach is not None and len(who) > max_reach:
        who = np.sort(rng.choice(who, max_reach, replace=False))
    rows = []
    spread = 30 + 240 * min(1.0, len(who) / 20_000)
    ended = started + float(rng.uniform(20, 90)) * 60
    for bit, channel in wanted:
        chosen = who[(cols.channels[who] & bit) != 0]
        if not len(chosen):
            continue
        u = rng.random(len(chosen))
        status = np.where(u < 0.86, "delivered", np.where(u < 0.95, "sent", np.where(u < 0.985, "failed", "skipped")))
        sent_at = started + 2 + rng.random(len(chosen)) * spread
        done_at = np.where(status == "delivered", sent_at + rng.uniform(1, 20, len(chosen)), sent_at)
        closing_at = ended + 2 + rng.random(len(chosen)) * spread
        for pid, st, at, cat in zip(chosen.tolist(), status.tolist(), done_at.tolist(), closing_at.tolist()):
            address = f"{channel}:{ids[pid]}"
            rows.append((channel, "start", address, ids[pid], st, started, at))
            if st in ("delivered", "sent"):
                rows.append((channel, "end", address, ids[pid], "delivered" if st == "delivered" else "sent", ended, cat))
    reached = sum(1 for r in rows if r[1] == "start" and r[4] in ("delivered", "sent"))
    tips = []
    if reached and rng.random() < p_response:
        for _ in range(1 + int(rng.poisson(min(6.0, reached / 1500)))):
            channel = TIP_CHANNELS[_choice(rng, TIP_CHANNELS)][0]
            tips.append(("Gezien bij het station, richting centrum.", channel,
                         started + float(rng.exponential(600)) + 30))
    solved = bool(tips) and rng.random() < p_solved
    if solved:
        result = "found" if kind == "missing_person" else "arrested"
    else:
        result = str(rng.choice(["found", "arrested", "ended_without_result", "cancelled"], p=[0.08, 0.07, 0.82, 0.03]))
    iso = lambda t: datetime.fromtimestamp(t, TZ).isoformat()  # noqa: E731
    data = {
        "id": action_id, "type": kind, "urgency": urgency,
        "domain": "trace" if urgency == "time_critical" else ("involve" if kind == "neighbourhood_inquiry" else "inform"),
        "region": place.province, "title": "", "description": f"Synthetic {kind.replace('_', ' ')}",
        "subject": "person" if kind == "missing_person" else "none", "area": area, "photos": [],
        "callback_number": "0800 0011", "status": "ended", "result": result, "result_text": None,
        "solved_by_participants": solved, "version": 2, "started_at": iso(started), "updated_at": iso(ended),
        "ended_at": iso(ended), "expires_at": iso(started + 4 * 3600), "started_by": "synthetic",
        "route": {"routes": [], "channels": [c for _, c in wanted], "bypass_quiet_hours": False},
        "audience": {"channels": {c: {"targeted": sum(1 for r in rows if r[0] == c and r[1] == "start")}
                                  for _, c in wanted}},
        "_created_at": started, "_updated_at": ended,
    }
    return data, rows, tips


def _stored(data: dict) -> tuple[str, str, str, int, str, float, float]:
    data = dict(data)
    created, updated = data.pop("_created_at"), data.pop("_updated_at")
    return (data["id"], data["status"], data["urgency"], data["version"], json.dumps(data), created, updated)


def write_sqlite(path, items, *, keep: bool = True, progress=None) -> History:
    """Write the history into an embedded store's database file (``progress(actions_written)``
    is called every 500 actions)."""
    out = History()
    t0 = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        # the ledger's indexes take random keys (addresses, participant ids): keep their pages cached
        conn.execute("PRAGMA cache_size=-2000000")
        conn.execute("BEGIN")
        for data, rows, tips in items:
            aid = data["id"]
            conn.execute("INSERT INTO actions (id, status, urgency, version, data, created_at, updated_at)"
                         " VALUES (?,?,?,?,?,?,?)", _stored(data))
            rank = 0 if data["urgency"] == "time_critical" else 1
            # one statement per action over a JSON array, as the store inserts a fan-out
            conn.execute(
                "INSERT INTO deliveries (action_id, channel, kind, seq, address, participant_id, language,"
                " urgency_rank, status, attempts, created_at, updated_at)"
                " SELECT ?, value->>0, value->>1, 0, value->>2, value->>3, 'nl', ?, value->>4, 1, value->>5, value->>6"
                " FROM json_each(?)", (aid, rank, json.dumps(rows, separators=(",", ":"))))
            conn.executemany("INSERT INTO tips (action_id, text, channel, created_at) VALUES (?,?,?,?)",
                             [(aid, text, ch, at) for text, ch, at in tips])
            out.actions += 1
            out.deliveries += len(rows)
            out.tips += len(tips)
            out.ids.append(aid)
            if progress and out.actions % 500 == 0:
                progress(out.actions)
            if keep:
                figures = _figures(conn, aid)
                conn.execute("INSERT INTO action_figures (action_id, kept_at, figures) VALUES (?,?,?)",
                             (aid, time.time(), figures))
        conn.execute("COMMIT")
    finally:
        conn.close()
    out.seconds = time.perf_counter() - t0
    return out


def _figures(conn, action_id: str) -> str:
    from hub.store.evaluation import ACTION_LEDGER, ACTION_PEOPLE, figures_from_ledger

    rows = [r[1:] for r in conn.execute(ACTION_LEDGER, (action_id,))]
    people = conn.execute(ACTION_PEOPLE, (action_id,)).fetchone()
    people = people[1:] if people else None
    return json.dumps(figures_from_ledger(rows, people), separators=(",", ":"))


async def copy_participants(dsn: str, cols: Columns, n: int | None = None) -> int:
    """Copy the first ``n`` participants of the set (all by default) into a PostgreSQL store (COPY)."""
    import asyncpg

    from bench.dataset import records

    n = len(cols) if n is None else min(n, len(cols))
    conn = await asyncpg.connect(dsn)
    try:
        now = time.time()
        for a in range(0, n, 50_000):
            await conn.copy_records_to_table(
                "participants", columns=("id", "data", "created_at", "updated_at"),
                records=[(pid, text, now, now) for pid, text in records(cols, a, min(n, a + 50_000))])
    finally:
        await conn.close()
    return n


async def write_postgres(dsn: str, items, *, keep: bool = True) -> History:
    """Write the history into a PostgreSQL store (COPY), then keep the figures as the hub would."""
    import asyncpg

    from hub.store.evaluation import ACTION_LEDGER, ACTION_PEOPLE, figures_from_ledger
    from hub.store.queries import numbered

    out = History()
    t0 = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        actions, deliveries, tips = [], [], []

        async def flush():
            await conn.copy_records_to_table("actions", records=actions, columns=(
                "id", "status", "urgency", "version", "data", "created_at", "updated_at"))
            await conn.copy_records_to_table("deliveries", records=deliveries, columns=(
                "action_id", "channel", "kind", "seq", "address", "participant_id", "language", "urgency_rank",
                "status", "attempts", "created_at", "updated_at"))
            await conn.copy_records_to_table("tips", records=tips, columns=("action_id", "text", "channel", "created_at"))
            actions.clear(), deliveries.clear(), tips.clear()

        for data, rows, action_tips in items:
            aid = data["id"]
            actions.append(_stored(data))
            rank = 0 if data["urgency"] == "time_critical" else 1
            deliveries.extend((aid, c, k, 0, a, p, "nl", rank, s, 1, ca, ua) for c, k, a, p, s, ca, ua in rows)
            tips.extend((aid, text, ch, at) for text, ch, at in action_tips)
            out.actions += 1
            out.deliveries += len(rows)
            out.tips += len(action_tips)
            out.ids.append(aid)
            if len(deliveries) > 200_000:
                await flush()
        await flush()
        if keep:
            for aid in out.ids:
                rows = [tuple(r)[1:] for r in await conn.fetch(numbered(ACTION_LEDGER), aid)]
                people = await conn.fetchrow(numbered(ACTION_PEOPLE), aid)
                people = tuple(people)[1:] if people else None
                await conn.execute("INSERT INTO action_figures (action_id, kept_at, figures) VALUES ($1,$2,$3)",
                                   aid, time.time(), json.dumps(figures_from_ledger(rows, people)))
    finally:
        await conn.close()
    out.seconds = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> None:
    """Build a hub data folder holding the national set and a synthetic history, for ``burgerhub report``."""
    import argparse
    import asyncio
    import shutil
    import sys
    from pathlib import Path

    from bench.common import WORK, Progress
    from bench.dataset import DATABASE, ensure, generate as generate_set

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--actions-per-month", type=int, default=4_000)
    parser.add_argument("--max-reach", type=int, default=None,
                        help="at most this many participants per action (default: a thirtieth of a percent of the set)")
    parser.add_argument("--first-month", default="2026-01")
    parser.add_argument("--out", type=Path, help="the hub data folder to write (SQLite)")
    parser.add_argument("--database-url", help="write into this PostgreSQL database instead (empty, migrated here)")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.database_url is None):
        parser.error("give one of --out and --database-url")
    progress = Progress()
    cols = generate_set(args.participants, args.seed)
    year, month = (int(x) for x in args.first_month.split("-"))
    reach = args.max_reach or max(10, args.participants // 3000)
    items = generate(cols, first_month=datetime(year, month, 1, tzinfo=TZ), months=args.months,
                     actions_per_month=args.actions_per_month, seed=args.seed % 1000, max_reach=reach)
    if args.database_url:
        async def to_postgres() -> History:
            from hub.store.postgres import PostgresStore

            store = PostgresStore(args.database_url)
            await store.open()  # migrates
            await store.close()
            progress.step(f"{await copy_participants(args.database_url, cols):,} participants copied")
            return await write_postgres(args.database_url, items)

        h = asyncio.run(to_postgres())
        where = "PostgreSQL"
    else:
        ds = ensure(args.participants, args.seed, work=WORK, progress=progress)
        args.out.mkdir(parents=True, exist_ok=True)
        db = args.out / DATABASE
        if db.exists():
            sys.exit(f"{db} exists: choose an empty folder")
        shutil.copyfile(ds.database, db)

        async def migrate():
            from hub.store.sqlite import SQLiteStore

            store = SQLiteStore(db)
            await store.open()
            await store.close()

        asyncio.run(migrate())
        h = write_sqlite(db, items, progress=lambda n: progress.step(f"{n:,} actions written"))
        where = str(db)
    print(f"{where}: {h.actions:,} actions, {h.deliveries:,} ledger rows, {h.tips:,} tips in {h.seconds:.0f} s")


if __name__ == "__main__":
    main()
