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
  inhabitants (all ages: the places table has no age groups).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from .. import places
from ..geo import center_of
from ..models import ActionType, Polygon, Result, Urgency
from . import where
from .tables import COUNT, PEOPLE, RATE, SECONDS, SHARE, TEXT, Column, Table

TZ = ZoneInfo("Europe/Amsterdam")
REACHED = ("sending", "sent", "delivered")
#: times-reached buckets: exact up to this many, then ranges
EXACT_REACH = 30
REACH_RANGES = ((31, 50), (51, 100), (101, None))


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
    #: seconds per step of :func:`build` (keep, actions, tips, select, reach, participants, tables)
    timings: dict[str, float] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        """As JSON data; each table's first ``limit`` rows (the CSV export has them all)."""
        return {
            "selection": self.selection.to_dict(),
            "generated_at": self.generated_at,
            "headline": self.headline,
            "tables": [t.to_dict(limit) for t in self.tables],
        }


class ParticipantCells:
    """Where participants live, counted on the municipality grid from every participant record.

    Counting reads every record (seconds for millions), so a hub keeps the count: it is counted again
    when the participants have changed and the count is older than ``max_age`` seconds (participation
    per municipality moves slowly; a report says how old its count is)."""

    def __init__(self, max_age: float = 0.0) -> None:
        self.max_age = max_age
        self._version = None
        self._cells: list[tuple[int, int, int]] = []
        self.counted_at: float | None = None

    async def get(self, store) -> list[tuple[int, int, int]]:
        version = await store.participants_version()
        fresh = self.counted_at is not None and time.time() - self.counted_at < self.max_age
        if version != self._version and not fresh:
            self._cells = await store.participant_cells(where.STEP)
            self._version = version
            self.counted_at = time.time()
        return self._cells


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
                keep: bool = True) -> Report:
    """The report for ``selection`` from ``store`` (see the module's docs). With ``keep``, the figures
    of actions that have settled since are kept first, as the hub does every minute. The counting
    runs in a thread: the event loop only waits for the store."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = time.perf_counter() - t0 - sum(timings.values())

    if keep:
        await store.keep_settled_figures()
    lap("keep")
    start, end = selection.bounds()
    found = []
    for action_id, data, figures in await store.period_actions(start, end):
        if figures is None:
            figures = await store.action_figures(action_id)
        found.append((data, figures))
    lap("actions")
    tips = await store.period_tips(start, end)
    lap("tips")
    actions = await asyncio.to_thread(_select, selection, found, tips)
    lap("select")
    reach = await store.reach_counts(start, end, [a.id for a in actions] if selection.filtered else None)
    lap("reach")
    registered = await store.count_participants()
    cell_counts = await (cells or ParticipantCells()).get(store)
    lap("participants")
    report = await asyncio.to_thread(_assemble, selection, actions, reach, registered, cell_counts)
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


def _assemble(selection, actions, reach, registered, cell_counts) -> Report:
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
                    headline={}, tables=[])
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


def tables(r: Report) -> list[Table]:
    return [summary_table(r), results_table(r), channels_table(r), tips_table(r), reach_table(r),
            municipalities_table(r), actions_table(r), action_messages_table(r)]


def action_messages_table(r: Report) -> Table:
    """Per action, channel and message kind: the ledger's counts per outcome."""
    statuses = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "skipped")
    cols = (Column("id", "Action"), Column("channel", "Channel"), Column("kind", "Message"),
            Column("targeted", "Targeted", PEOPLE)) + tuple(Column(s, s.capitalize(), PEOPLE) for s in statuses) + (
        Column("delivered_share", "Delivered share (of sent)", SHARE, of="targeted"),)
    order = {"start": 0, "update": 1, "end": 2}

    def build() -> list[dict[str, Any]]:
        rows = []
        for a in r.actions:
            for channel in sorted(a.channels):
                for kind in sorted(a.channels[channel], key=lambda k: order.get(k, 9)):
                    counts = a.channels[channel][kind]
                    reached = sum(counts.get(s, 0) for s in REACHED)
                    row = {"id": a.id, "channel": channel, "kind": kind, "targeted": sum(counts.values()),
                           "delivered_share": _share(counts.get("delivered", 0), reached)}
                    row.update({s: counts.get(s, 0) for s in statuses})
                    rows.append(row)
        return rows

    return Table("action_messages", "Per action, channel and message kind", cols, build=build)


def summary_table(r: Report) -> Table:
    h = r.headline
    rows = [
        ("actions", "Actions", h["actions"], COUNT),
        ("time_critical", "Time-critical actions", h["time_critical"], COUNT),
        ("response_share", "Time-critical actions with at least one participant response", h["response_share"], SHARE),
        ("solved_share", "Ended actions solved thanks to participants", h["solved_share"], SHARE),
        ("solved_share_missing_persons", "Missing persons solved thanks to participants",
         h["solved_share_missing_persons"], SHARE),
        ("actions_per_100k", "Actions per 100,000 inhabitants in the period", h["actions_per_100k"], RATE),
        ("actions_per_100k_per_year", "Actions per 100,000 inhabitants per year", h["actions_per_100k_per_year"], RATE),
        ("participants", "Registered participants", h["participants"], PEOPLE),
        ("participants_reached", "Participants reached at least once", h["participants_reached"], PEOPLE),
        ("mean_times_reached", "Times a participant was reached (mean, all registered)", h["mean_times_reached"], RATE),
        ("mean_times_reached_if_reached", "Times a participant was reached (mean, those reached)",
         h["mean_times_reached_if_reached"], RATE),
        ("share_reached_more_than_3", "Participants reached more than 3 times", h["share_reached_more_than_3"], SHARE),
        ("share_reached_more_than_5", "Participants reached more than 5 times", h["share_reached_more_than_5"], SHARE),
    ]
    cols = (Column("figure", "Figure"), Column("label", "Description"), Column("value", "Value"))
    out = Table("summary", "The network's figures", cols)
    from .tables import cell

    for key, label, value, kind in rows:
        out.rows.append({"figure": key, "label": label, "value": cell(value, Column("v", "", kind))})
    return out


def results_table(r: Report) -> Table:
    cols = (Column("type", "Action type"), Column("actions", "Actions", COUNT),
            Column("time_critical", "Time-critical", COUNT),
            Column("with_response", "Time-critical with a response", COUNT),
            Column("response_share", "Response share", SHARE),
            Column("ended", "Ended", COUNT), Column("solved", "Solved thanks to participants", COUNT),
            Column("solved_share", "Solved share", SHARE))
    for res in Result:
        cols += (Column(f"result_{res.value}", f"Result: {res.value}", COUNT),)
    t = Table("types", "Actions, responses and results per action type", cols)
    groups: dict[str, list[ActionFigures]] = {}
    for a in r.actions:
        groups.setdefault(a.type, []).append(a)
    for kind in sorted(groups, key=lambda k: -len(groups[k])) + ["all"]:
        acts = r.actions if kind == "all" else groups[kind]
        crit = [a for a in acts if a.urgency == Urgency.TIME_CRITICAL]
        ended = [a for a in acts if a.status == "ended"]
        row = {"type": kind, "actions": len(acts), "time_critical": len(crit),
               "with_response": sum(a.responded for a in crit),
               "response_share": _share(sum(a.responded for a in crit), len(crit)),
               "ended": len(ended), "solved": sum(a.solved for a in ended),
               "solved_share": _share(sum(a.solved for a in ended), len(ended))}
        for res in Result:
            row[f"result_{res.value}"] = sum(a.result == res.value for a in ended)
        t.rows.append(row)
    return t


def channels_table(r: Report) -> Table:
    statuses = ("queued", "sending", "sent", "delivered", "failed", "cancelled", "skipped")
    cols = (Column("channel", "Channel"), Column("kind", "Message"), Column("targeted", "Targeted", PEOPLE)) + tuple(
        Column(s, s.capitalize(), PEOPLE) for s in statuses
    ) + (Column("delivered_share", "Delivered share (of reached)", SHARE, of="targeted"),
         Column("actions", "Actions", COUNT))
    t = Table("channels", "Messages per channel and kind", cols)
    totals: dict[tuple[str, str], dict[str, int]] = {}
    used: dict[tuple[str, str], int] = {}
    for a in r.actions:
        for channel, kinds in a.channels.items():
            for kind, counts in kinds.items():
                acc = totals.setdefault((channel, kind), {})
                for s, n in counts.items():
                    acc[s] = acc.get(s, 0) + n
                used[(channel, kind)] = used.get((channel, kind), 0) + 1
    order = {"start": 0, "update": 1, "end": 2}
    for (channel, kind) in sorted(totals, key=lambda k: (k[0], order.get(k[1], 9))):
        acc = totals[(channel, kind)]
        reached = sum(acc.get(s, 0) for s in REACHED)
        row = {"channel": channel, "kind": kind, "targeted": sum(acc.values()), "actions": used[(channel, kind)],
               "delivered_share": _share(acc.get("delivered", 0), reached)}
        row.update({s: acc.get(s, 0) for s in statuses})
        t.rows.append(row)
    t.note = "Delivered share: messages a provider confirmed as delivered, of those sent."
    return t


def tips_table(r: Report) -> Table:
    cols = (Column("channel", "Channel"), Column("tips", "Tips", PEOPLE),
            Column("actions", "Actions with a tip by this channel", COUNT),
            Column("median_first_tip", "Median time to the action's first tip", SECONDS))
    t = Table("tips", "Tips per channel", cols)
    tips: dict[str, int] = {}
    acts: dict[str, int] = {}
    for a in r.actions:
        for channel, n in a.tips.items():
            tips[channel] = tips.get(channel, 0) + n
            acts[channel] = acts.get(channel, 0) + 1
    firsts = [a.first_tip_s for a in r.actions if a.first_tip_s is not None]
    for channel in sorted(tips, key=lambda c: -tips[c]):
        t.rows.append({"channel": channel, "tips": tips[channel], "actions": acts[channel]})
    t.rows.append({"channel": "all", "tips": sum(tips.values()), "actions": sum(1 for a in r.actions if a.responded),
                   "median_first_tip": statistics.median(firsts) if firsts else None})
    t.note = "phone: tips on the call-back line, logged by a dispatcher."
    return t


def _bucket(n: int) -> str:
    if n <= EXACT_REACH:
        return str(n)
    for lo, hi in REACH_RANGES:
        if n >= lo and (hi is None or n <= hi):
            return f"{lo}–{hi}" if hi else f"{lo}+"
    return str(n)


def reach_buckets(r: Report) -> list[tuple[str, int]]:
    """``(times reached, participants)`` in the report's buckets: exact to 30, then ranges."""
    out: dict[str, int] = {}
    for n, c in reach_distribution(r.reach, r.registered):
        out[_bucket(n)] = out.get(_bucket(n), 0) + c
    return list(out.items())


def reach_table(r: Report) -> Table:
    cols = (Column("times_reached", "Times reached"), Column("participants", "Participants", PEOPLE),
            Column("share", "Share of registered participants", SHARE, of="participants"))
    t = Table("reach", "How often participants were reached (a distribution, not a list)", cols)
    total = max(1, r.registered, sum(r.reach.values()))
    for label, c in reach_buckets(r):
        t.rows.append({"times_reached": label, "participants": c, "share": c / total})
    t.note = ("0: registered now (living in the selected province or municipality, if one is selected) and "
              "not reached by a start message of the selected actions.")
    return t


def municipalities_table(r: Report) -> Table:
    per_year = 365.0 / r.selection.days
    cols = (Column("municipality", "Municipality"), Column("province", "Province"),
            Column("inhabitants", "Inhabitants", COUNT), Column("actions", "Actions", COUNT),
            Column("actions_per_100k", "Actions per 100,000 inhabitants", RATE),
            Column("actions_per_100k_per_year", "… per year", RATE),
            Column("participants", "Participants living there", PEOPLE),
            Column("participation", "Participants as a share of inhabitants", SHARE, of="participants"))
    t = Table("municipalities", "Actions and participation per municipality", cols)
    scope = in_scope(r.selection)
    for p, n, k in zip(where.municipalities(), r.municipality_actions.tolist(), r.municipality_participants.tolist()):
        if not scope(p):
            continue
        t.rows.append({
            "municipality": p.name, "province": p.province_name, "inhabitants": p.population, "actions": n,
            "actions_per_100k": n / p.population * 100_000, "actions_per_100k_per_year": n / p.population * 100_000 * per_year,
            "participants": k, "participation": k / p.population,
        })
    t.rows.sort(key=lambda row: row["participation"])
    t.note = ("Sorted by participation, lowest first: where few are registered. An action counts for the "
              "municipality nearest its area's centre; a participant for the one nearest their home.")
    return t


def actions_table(r: Report) -> Table:
    cols = (
        Column("id", "Action"), Column("started", "Started"), Column("type", "Type"), Column("urgency", "Urgency"),
        Column("region", "Region"), Column("municipality", "Municipality"), Column("result", "Result"),
        Column("solved_by_participants", "Solved thanks to participants"),
        Column("participants_targeted", "Participants targeted", PEOPLE),
        Column("participants_reached", "Participants reached", PEOPLE),
        Column("start_messages", "Start messages", PEOPLE), Column("start_reached", "Start messages sent", PEOPLE),
        Column("start_delivered", "Start messages delivered", PEOPLE),
        Column("delivered_share", "Delivered share", SHARE, of="start_reached"),
        Column("closing_messages", "Closing messages sent", PEOPLE),
        Column("first_start", "Time to first start message", SECONDS),
        Column("last_start", "Time to last start message", SECONDS),
        Column("tips", "Tips", PEOPLE), Column("tips_by_channel", "Tips per channel", TEXT),
        Column("first_tip", "Time to first tip", SECONDS),
        Column("channels", "Start messages per channel", TEXT),
    )
    from .tables import cell

    def build() -> list[dict[str, Any]]:
        return [_action_row(a) for a in r.actions]

    def _action_row(a: ActionFigures) -> dict[str, Any]:
        targeted, reached, delivered = a.start_counts()
        closing = sum(sum(k.get("end", {}).get(s, 0) for s in REACHED) for k in a.channels.values())
        per_channel = "; ".join(
            f"{ch} {cell(sum(k.get('start', {}).values()), Column('n', '', PEOPLE))}"
            for ch, k in sorted(a.channels.items()) if k.get("start")
        )
        return {
            "id": a.id, "started": datetime.fromtimestamp(a.started, TZ).strftime("%Y-%m-%d %H:%M"),
            "type": a.type, "urgency": a.urgency, "region": a.region or "", "municipality": a.municipality or "",
            "result": a.result or a.status, "solved_by_participants": "yes" if a.solved else "no",
            "participants_targeted": a.targeted, "participants_reached": a.reached,
            "start_messages": targeted, "start_reached": reached, "start_delivered": delivered,
            "delivered_share": _share(delivered, reached), "closing_messages": closing,
            "first_start": a.first_start_s, "last_start": a.last_start_s,
            "tips": sum(a.tips.values()),
            "tips_by_channel": "; ".join(f"{c} {cell(n, Column('n', '', PEOPLE))}" for c, n in sorted(a.tips.items())),
            "first_tip": a.first_tip_s, "channels": per_channel,
        }

    return Table("actions", "Per action", cols, build=build)


__all__ = ["ActionFigures", "ParticipantCells", "Report", "Selection", "build"]
