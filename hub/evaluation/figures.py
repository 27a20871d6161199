"""The figures of a period, computed from the ledger and the tips as they are.

:func:`build` reads the actions that started in a :class:`Selection`'s period (with the figures kept
for settled ones, or their ledger counted now), their tips, how often each participant was reached, and
where participants live, and returns a :class:`Report`: headline figures and :class:`~.tables.Table` s.

Definitions (the seeds' figures):

* **response**: at least one tip came in for the action, by any channel, including telephone tips a
  dispatcher logged from the call-back line;
* **solved thanks to participants**: the dispatcher said so when ending the action;
* **actions per 100,000 inhabitants**: actions whose area's centre lies in a municipality (see
  :mod:`.where`), per 100,000 of its inhabitants (places table), in the period and per year;
* **times reached**: per participant, the number of selected actions whose start message reached
  them (sent or delivered) on at least one channel; registered participants never reached count 0;
* **participation**: participants whose first (home) address lies in a municipality, as a share of its
  residents aged 16 and over (participants must be 16). The places table has population of all ages
  only, so residents aged 16+ are estimated with the national share :data:`hub.places.SHARE_16_PLUS`
  (CBS, 1 January 2023: about 83 %); reports label the figure as estimated.

Reports are in Dutch by default, in English on request (``language``; the words only: see :mod:`.texts`).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from .. import places
from ..geo import center_of
from ..models import ActionType, Polygon, Urgency
from . import texts, where
from .tables import Table

TZ = ZoneInfo("Europe/Amsterdam")
REACHED = ("sending", "sent", "delivered")


@dataclass(frozen=True)
class Selection:
    """A period (``first`` to ``last`` day, both included, Dutch time) and optional filters.

    ``organisation`` matches the issuing organisation an action records (``organisation`` in its data),
    so reports can be drawn per control room or municipality once actions carry one.
    """

    first: date
    last: date
    region: str | None = None
    municipality: str | None = None
    type: str | None = None
    urgency: str | None = None
    organisation: str | None = None

    def bounds(self) -> tuple[float, float]:
        start = datetime.combine(self.first, dtime(0), TZ)
        end = datetime.combine(self.last + timedelta(days=1), dtime(0), TZ)
        return start.timestamp(), end.timestamp()

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def filtered(self) -> bool:
        return any((self.region, self.municipality, self.type, self.urgency, self.organisation))

    def matches(self, data: Mapping[str, Any], municipality: str | None) -> bool:
        return (
            (self.region is None or data.get("region") == self.region)
            and (self.type is None or data.get("type") == self.type)
            and (self.urgency is None or data.get("urgency") == self.urgency)
            and (self.organisation is None or data.get("organisation") == self.organisation)
            and (self.municipality is None or municipality == self.municipality)
        )

    def describe(self) -> str:
        parts = [f"{self.first.isoformat()} – {self.last.isoformat()}"]
        for key in ("region", "municipality", "type", "urgency", "organisation"):
            if getattr(self, key):
                parts.append(f"{key}: {getattr(self, key)}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "region": self.region,
                "municipality": self.municipality, "type": self.type, "urgency": self.urgency,
                "organisation": self.organisation}


@dataclass
class ActionFigures:
    """One action's figures (counts only)."""

    id: str
    started: float
    type: str
    urgency: str
    region: str | None
    municipality: str | None
    status: str
    result: str | None
    solved: bool
    channels: dict[str, dict[str, dict[str, int]]]
    targeted: int
    reached: int
    first_start_s: float | None
    last_start_s: float | None
    tips: dict[str, int] = field(default_factory=dict)
    first_tip_s: float | None = None
    kept: bool = False

    @property
    def responded(self) -> bool:
        return sum(self.tips.values()) > 0

    def start_counts(self) -> tuple[int, int, int]:
        """``(targeted, reached, delivered)`` start messages over every channel."""
        targeted = reached = delivered = 0
        for kinds in self.channels.values():
            s = kinds.get("start", {})
            targeted += sum(s.values())
            reached += sum(s.get(k, 0) for k in REACHED)
            delivered += s.get("delivered", 0)
        return targeted, reached, delivered


@dataclass
class Report:
    selection: Selection
    generated_at: float
    actions: list[ActionFigures]
    reach: dict[int, int]
    registered: int
    municipality_actions: np.ndarray
    municipality_participants: np.ndarray
    headline: dict[str, Any]
    tables: list[Table]
    took_s: float = 0.0
    #: when the participants per municipality were counted (see :class:`ParticipantCells`)
    participants_counted_at: float | None = None
    #: seconds per step of :func:`build` (keep, actions, tips, select, reach, participants, tables)
    timings: dict[str, float] = field(default_factory=dict)
    #: the language of the tables' and charts' words: "nl" (the default) or "en" (see .texts)
    language: str = texts.DEFAULT

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """As JSON data; each table's first ``limit`` rows (the CSV export has them all)."""
        from .report_tables import withheld_figures

        withheld = withheld_figures(self)
        return {
            "selection": self.selection.to_dict(),
            "generated_at": self.generated_at,
            "participants_counted_at": self.participants_counted_at,
            # a count of fewer than 5 people, or a figure computed from so few, is null (and named)
            "headline": {k: None if k in withheld else v for k, v in self.headline.items()},
            "withheld": sorted(withheld),
            "tables": [t.to_dict(limit) for t in self.tables],
        }


class ParticipantCells:
    """Where participants live, counted on the municipality grid from every participant record.

    Counting reads every record (seconds for millions), so the count is kept, in this object and in
    the store, with the participants generation and the time it was made: it is used while the
    participants are unchanged, or while it is younger than ``max_age`` seconds (participation per
    municipality moves slowly; the report says when it was counted). ``max_age=0``: always current.
    """

    def __init__(self, max_age: float = 0.0) -> None:
        self.max_age = max_age
        self._key: tuple[str, int] | None = None
        self._cells: list[tuple[int, int, int]] = []
        self.counted_at: float | None = None

    def _usable(self, key: tuple[str, int], counted_at: float, version) -> bool:
        same = key == (version.database_id, version.generation)
        return same or (key[0] == version.database_id and time.time() - counted_at < self.max_age)

    async def get(self, store) -> list[tuple[int, int, int]]:
        version = await store.participants_version()
        if self._key is not None and self._usable(self._key, self.counted_at or 0.0, version):
            return self._cells
        kept = await store.kept_participant_cells(where.STEP)
        if kept is not None and self._usable((kept[0], kept[1]), kept[2], version):
            self._key, self.counted_at, self._cells = (kept[0], kept[1]), kept[2], kept[3]
            return self._cells
        counted_at = time.time()
        cells = await store.participant_cells(where.STEP)
        await store.keep_participant_cells(where.STEP, version.database_id, version.generation, counted_at, cells)
        self._key, self.counted_at, self._cells = (version.database_id, version.generation), counted_at, cells
        return cells


def _seconds_after(start: float, at: float | None) -> float | None:
    return None if at is None else max(0.0, at - start)


def _started(data: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(data["started_at"]).timestamp()


def action_figures(data: Mapping[str, Any], figures: Mapping[str, Any], kept: bool,
                   municipality: str | None) -> ActionFigures:
    started = _started(data)
    return ActionFigures(
        id=data["id"], started=started, type=data["type"], urgency=data["urgency"], region=data.get("region"),
        municipality=municipality, status=data["status"], result=data.get("result"),
        solved=bool(data.get("solved_by_participants")), channels=figures["channels"],
        targeted=figures["participants"]["targeted"], reached=figures["participants"]["reached"],
        first_start_s=_seconds_after(started, figures.get("first_start_at")),
        last_start_s=_seconds_after(started, figures.get("last_start_at")),
        kept=kept,
    )


def _centre(area: Mapping[str, Any]) -> tuple[float, float]:
    if (area.get("type") or area.get("kind")) == "circle":
        return float(area["lat"]), float(area["lon"])
    return center_of(Polygon(points=tuple((float(p[0]), float(p[1])) for p in area["points"])))


async def build(store, selection: Selection, *, cells: ParticipantCells | None = None,
                keep: bool = True, language: str = texts.DEFAULT) -> Report:
    """The report for ``selection`` from ``store`` (see the module's docs), its words in ``language``.
    With ``keep``, the figures of actions that have settled since are kept first, as the hub does every
    minute. The counting runs in a thread: the event loop only waits for the store."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.perf_counter() - t0 - sum(timings.values())

    if keep:
        await store.keep_settled_figures()
    lap("keep")
    start, end = selection.bounds()
    # the reach of every action of the period is read while the actions are (a thread each); a
    # filtered selection needs its actions first. "reach" is the time waited for it after "select".
    every = None if selection.filtered else asyncio.ensure_future(store.reach_counts(start, end))
    try:
        period = await store.period_actions(start, end)
        unkept = await store.figures_of([i for i, _, figures in period if figures is None])
        found = [(data, unkept[i] if figures is None else figures) for i, data, figures in period]
        lap("actions")
        tips = await store.period_tips(start, end)
        lap("tips")
        actions = await asyncio.to_thread(_select, selection, found, tips)
        lap("select")
        reach = await every if every is not None else await store.reach_counts(start, end, [a.id for a in actions])
    finally:
        if every is not None and not every.done():
            every.cancel()
    lap("reach")
    registered = await store.count_participants()
    cells = cells or ParticipantCells()
    cell_counts = await cells.get(store)
    lap("participants")
    report = await asyncio.to_thread(_assemble, selection, actions, reach, registered, cell_counts,
                                     texts.language_of(language))
    report.participants_counted_at = cells.counted_at
    lap("tables")
    report.took_s = time.perf_counter() - t0
    report.timings = timings
    return report


def _select(selection: Selection, found, tips) -> list[ActionFigures]:
    datas = [json.loads(d) for d, _ in found]
    figures = [(json.loads(f), True) if isinstance(f, str) else (f, False) for _, f in found]
    centres = np.array([_centre(d["area"]) for d in datas], dtype=np.float64).reshape(-1, 2)
    places_of = where.municipalities_at(centres[:, 0], centres[:, 1])
    actions = []
    for data, (fig, kept), place in zip(datas, figures, places_of):
        name = place.name if place else None
        if selection.matches(data, name):
            actions.append(action_figures(data, fig, kept, name))
    by_id = {a.id: a for a in actions}
    for action_id, channel, n, first_at in tips:
        a = by_id.get(action_id)
        if a is None:
            continue
        a.tips[channel or "unknown"] = a.tips.get(channel or "unknown", 0) + n
        t = _seconds_after(a.started, first_at)
        a.first_tip_s = t if a.first_tip_s is None else min(a.first_tip_s, t)
    return actions


def _assemble(selection, actions, reach, registered, cell_counts, language: str = texts.DEFAULT) -> Report:
    homes = where.count_cells(cell_counts)
    munis = where.municipalities()
    index = {p.name: i for i, p in enumerate(munis)}
    per_muni = np.zeros(len(munis), dtype=np.int64)
    for a in actions:
        if a.municipality in index:
            per_muni[index[a.municipality]] += 1
    if selection.municipality or selection.region in places.PROVINCES:
        # participants of the selected area only (those living there), for the never-reached count
        scope = in_scope(selection)
        registered = int(sum(int(n) for p, n in zip(munis, homes.tolist()) if scope(p)))
    report = Report(selection=selection, generated_at=time.time(), actions=actions, reach=reach,
                    registered=registered, municipality_actions=per_muni, municipality_participants=homes,
                    headline={}, tables=[], language=language)
    from .report_tables import tables

    report.headline = headline(report)
    report.tables = tables(report)
    return report


def in_scope(selection: Selection):
    """Which municipalities a selection covers: those of its municipality, or of its region when the
    region is a province id, else all."""
    province = selection.region if selection.region in places.PROVINCES else None

    def scope(p: places.Place) -> bool:
        return (province is None or p.province == province) and (
            selection.municipality is None or p.name == selection.municipality)

    return scope


def _share(n: int, d: int) -> float | None:
    return n / d if d else None


def reach_distribution(reach: Mapping[int, int], registered: int) -> list[tuple[int, int]]:
    """``(times, participants)`` for every n from 0 (registered, never reached) up."""
    never = max(0, registered - sum(reach.values()))
    return [(0, never)] + sorted(reach.items())


def headline(r: Report) -> dict[str, Any]:
    """The seeds' figures for the selection (raw numbers; tables print them)."""
    acts = r.actions
    critical = [a for a in acts if a.urgency == Urgency.TIME_CRITICAL]
    ended = [a for a in acts if a.status == "ended"]
    missing = [a for a in ended if a.type == ActionType.MISSING_PERSON]
    dist = reach_distribution(r.reach, r.registered)
    people = sum(c for _, c in dist)
    total_reaches = sum(n * c for n, c in dist)
    reached_people = sum(c for n, c in dist if n > 0)
    per_year = 365.0 / r.selection.days
    scope = in_scope(r.selection)
    pop = sum(p.population for p in where.municipalities() if scope(p))
    adults = sum(p.population_16_plus for p in where.municipalities() if scope(p))
    living = sum(int(n) for p, n in zip(where.municipalities(), r.municipality_participants.tolist()) if scope(p))
    in_munis = sum(int(n) for p, n in zip(where.municipalities(), r.municipality_actions.tolist()) if scope(p))
    median = _median_reach(dist)
    return {
        "actions": len(acts),
        "time_critical": len(critical),
        "time_critical_with_response": sum(a.responded for a in critical),
        "response_share": _share(sum(a.responded for a in critical), len(critical)),
        "ended": len(ended),
        "solved_by_participants": sum(a.solved for a in ended),
        "solved_share": _share(sum(a.solved for a in ended), len(ended)),
        "missing_persons": len(missing),
        "solved_share_missing_persons": _share(sum(a.solved for a in missing), len(missing)),
        "actions_per_100k": in_munis / pop * 100_000 if pop else None,
        "actions_per_100k_per_year": in_munis / pop * 100_000 * per_year if pop else None,
        "participants": r.registered,
        # participants living in the scope's municipalities, of its residents aged 16+ (estimated)
        "participation_16_plus": _share(living, adults),
        "participants_reached": reached_people,
        "mean_times_reached": total_reaches / people if people else None,
        "mean_times_reached_if_reached": total_reaches / reached_people if reached_people else None,
        "median_times_reached": median,
        "share_reached_more_than_3": _share(sum(c for n, c in dist if n > 3), people),
        "share_reached_more_than_5": _share(sum(c for n, c in dist if n > 5), people),
        "days": r.selection.days,
    }


def _median_reach(dist: Sequence[tuple[int, int]]) -> float | None:
    total = sum(c for _, c in dist)
    if not total:
        return None
    half, seen = total / 2, 0
    for n, c in dist:
        seen += c
        if seen >= half:
            return float(n)
    return None


__all__ = ["ActionFigures", "ParticipantCells", "Report", "Selection", "build"]
