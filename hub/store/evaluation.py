"""The store's reads for evaluation reports, and the figures it keeps of each settled action.

Both backends run these statements (the shared dialect of :mod:`hub.store.queries`); the few that
differ (a list of ids as a parameter, a field of the participants' JSON) are chosen by ``backend``.

An action's delivery figures (:data:`ACTION_FIGURES`: counts per channel, message kind and status,
the first and last start message, participants targeted and reached) are read from its ledger rows.
Once the action has *settled* - ended, nothing queued or in flight, no row changed for
:data:`SETTLE_SECONDS` - the ledger of that action no longer changes, and :meth:`keep_settled_figures`
keeps its figures in ``action_figures``: a period's report then reads one row per action instead of
every ledger row, and the figures outlive ledger rows that a retention period removes. Tips are always
counted from the tips table as it is (a telephone tip may be logged after the action ended).

Reports read on a connection of their own where the backend has one to spare: an embedded store's
one thread serves deliveries, and a report must never keep a fan-out waiting.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import os
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator, Iterable, Sequence

from ..errors import ReportReadError
from . import reach, slice_reader

log = logging.getLogger("burgerhub.store.evaluation")

REACHED = ("sending", "sent", "delivered")
SETTLE_SECONDS = 900.0
"""How long an ended action's ledger must be unchanged (late provider reports) before its figures are kept."""

# {ids}: the actions' ids (see EvaluationQueries._ids_clause)
ACTIONS_LEDGER = (
    "SELECT action_id, channel, kind, status, count(*), min(updated_at), max(updated_at) FROM deliveries"
    " WHERE 1=1 {ids} GROUP BY action_id, channel, kind, status"
)
ACTIONS_PEOPLE = (
    "SELECT action_id, count(DISTINCT participant_id),"
    " count(DISTINCT CASE WHEN status IN ('sending','sent','delivered') THEN participant_id END)"
    " FROM deliveries WHERE kind='start' {ids} GROUP BY action_id"
)
#: the same of one action (``?``: its id); each row starts with the id
ACTION_LEDGER = ACTIONS_LEDGER.format(ids="AND action_id=?")
ACTION_PEOPLE = ACTIONS_PEOPLE.format(ids="AND action_id=?")
UNKEPT_ENDED = (
    "SELECT a.id FROM actions a WHERE a.status='ended' AND a.created_at>=?"
    " AND NOT EXISTS (SELECT 1 FROM action_figures f WHERE f.action_id=a.id)"
    " ORDER BY a.created_at LIMIT ?"
)
KEEP_FIGURES = (
    "INSERT INTO action_figures (action_id, kept_at, figures) VALUES (?,?,?) ON CONFLICT (action_id) DO NOTHING"
)
PERIOD_ACTIONS = (
    "SELECT a.id, a.data, f.figures FROM actions a LEFT JOIN action_figures f ON f.action_id=a.id"
    " WHERE a.created_at>=? AND a.created_at<? ORDER BY a.created_at, a.id"
)
PERIOD_TIPS = (
    "SELECT t.action_id, coalesce(t.channel, ''), count(*), min(t.created_at) FROM tips t"
    " JOIN actions a ON a.id=t.action_id WHERE a.created_at>=? AND a.created_at<?"
    " GROUP BY t.action_id, coalesce(t.channel, '')"
)
ADD_PHONE_TIP = (
    "INSERT INTO tips (action_id, text, channel, participant_id, sender, photo, photo_type, created_at)"
    " VALUES (?,?,'phone',NULL,NULL,NULL,NULL,?) RETURNING id"
)
ADD_PHONE_TIP_NOTIFY = (
    "WITH t AS (" + ADD_PHONE_TIP + ") SELECT id, pg_notify('burgerhub_tips', ? || ' ' || id) FROM t"
)


CELLS_GET = "SELECT database_id, generation, counted_at, cells FROM participant_cells WHERE step=?"
CELLS_PUT = (
    "INSERT INTO participant_cells (step, database_id, generation, counted_at, cells) VALUES (?,?,?,?,?)"
    " ON CONFLICT (step) DO UPDATE SET database_id=excluded.database_id, generation=excluded.generation,"
    " counted_at=excluded.counted_at, cells=excluded.cells"
)


REACH_SLICE = 500
"""Actions per slice of a period's reach count (see :meth:`EvaluationQueries.reach_counts`)."""
REPORT_READERS = min(2, os.cpu_count() or 1)
"""Processes that read the slices of a report from an SQLite file side by side (1: read in this one)."""
#: the period's actions, each with the participants it reached (see hub.store.reach); {ids}: a filter
REACH_IDS = {backend: "SELECT " + sql + " FROM actions a WHERE a.created_at>=? AND a.created_at<? {ids}"
             for backend, sql in reach.ACTION_IDS.items()}
#: the same, one row per (action, participant) reached: for ids of mixed lengths
REACH_PAIRS = (
    "SELECT DISTINCT d.action_id, d.participant_id FROM actions a JOIN deliveries d ON d.action_id=a.id"
    " WHERE a.created_at>=? AND a.created_at<? AND d.kind='start'"
    " AND d.status IN ('sending','sent','delivered') AND d.participant_id IS NOT NULL {ids}"
)
def figures_from_ledger(rows: Iterable[Sequence[Any]], people: Sequence[Any] | None) -> dict[str, Any]:
    """An action's figures from its ledger groups ``(channel, kind, status, n, first_at, last_at)``.

    ``first_start_at``/``last_start_at``: when the first and the last start message reached its
    final state (sent, or delivered when the provider reported it), as the ledger stamps it.
    ``busy``: rows still queued or in flight; ``changed_at``: the latest change of any row.
    """
    channels: dict[str, dict[str, dict[str, int]]] = {}
    first = last = changed = None
    busy = 0
    for channel, kind, status, n, lo, hi in rows:
        n = int(n)
        channels.setdefault(channel, {}).setdefault(kind, {})[status] = n
        if status in ("queued", "sending"):
            busy += n
        if kind == "start" and status in ("sent", "delivered"):
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
        changed = hi if changed is None else max(changed, hi)
    targeted, reached = (int(people[0]), int(people[1])) if people else (0, 0)
    return {
        "channels": channels,
        "participants": {"targeted": targeted, "reached": reached},
        "first_start_at": first,
        "last_start_at": last,
        "busy": busy,
        "changed_at": changed,
    }


class EvaluationQueries:
    """Evaluation reads and the kept figures, on the primitives of :class:`hub.store.queries.SharedQueries`."""

    backend: str
    # provided by the backend: _all, _run_many (hub.store.queries.SharedQueries) and, embedded, _tx

    # -- reading on a connection of the report's own --------------------------------------------
    def _report_file(self) -> Any:
        """The embedded store's database file, read on connections of a report's own; ``None`` when
        reports read through the store itself (PostgreSQL, or an in-memory database)."""
        path = getattr(self, "path", None)
        if self.backend != "sqlite" or path is None or str(path) == ":memory:":
            return None
        return path

    async def _report_all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """Rows of a long read: an embedded file database is read on a read-only connection in a
        thread of its own (a snapshot, never waiting for or holding up the store's own thread)."""
        path = self._report_file()
        if path is None:
            return await self._all(sql, args)

        def read() -> list[tuple]:
            conn = slice_reader.connect(path)
            try:
                return conn.execute(sql, tuple(args)).fetchall()
            finally:
                conn.close()

        return await asyncio.to_thread(read)

    async def _report_slices(self, sql: str, slices: Sequence[Sequence[Any]]) -> AsyncIterator[list[Any]]:
        """The first column of ``sql`` for each of ``slices`` (its arguments), a slice at a time, in the
        order they are read; the next slice is being read while the caller takes one. From an SQLite
        file, :data:`REPORT_READERS` processes read the slices side by side (:mod:`slice_reader`);
        otherwise one read at a time runs ahead (on PostgreSQL, one per reader). Each slice is a
        snapshot of its own: a report drawn while actions go out counts each action as it was when its
        slice was read."""
        path = self._report_file()
        done: set[int] = set()
        if path is not None and REPORT_READERS > 1 and len(slices) > 1:
            try:
                async for k, values in _read_in_processes(path, sql, slices, REPORT_READERS):
                    done.add(k)
                    yield values
                return
            except ReportReadError as e:
                # read what is left here (a reader that cannot start, or a file it cannot open)
                log.warning("evaluation: reading the rest of a report in this process: %s", e)
        left = iter([args for k, args in enumerate(slices) if k not in done])
        # PostgreSQL reads on connections of the pool, each in a server process of its own: as many
        # slices at a time as there are readers; SQLite in this process, the next while one is counted
        ahead = REPORT_READERS if self.backend != "sqlite" else 1
        reading = collections.deque(asyncio.ensure_future(self._report_all(sql, args))
                                    for args in itertools.islice(left, ahead))
        try:
            while reading:
                values = [v for (v,) in await reading.popleft()]
                reading.extend(asyncio.ensure_future(self._report_all(sql, args)) for args in itertools.islice(left, 1))
                yield values
        finally:
            for future in reading:
                future.cancel()
            await asyncio.gather(*reading, return_exceptions=True)

    def _ids_clause(self, column: str, ids: Sequence[str] | None) -> tuple[str, list[Any]]:
        if ids is None:
            return "", []
        if self.backend == "sqlite":
            return f"AND {column} IN (SELECT value FROM json_each(?))", [json.dumps(list(ids))]
        return f"AND {column} = ANY(?::text[])", [list(ids)]

    # -- one action ------------------------------------------------------------------------------
    async def action_figures(self, action_id: str) -> dict[str, Any]:
        """The action's delivery figures from its ledger as it is now (see :func:`figures_from_ledger`)."""
        return (await self.figures_of([action_id]))[action_id]

    async def figures_of(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{id: figures}``: :meth:`action_figures` of each of ``ids``, in two statements for all of them."""
        if not ids:
            return {}
        clause, extra = self._ids_clause("action_id", ids)
        groups: dict[str, list[tuple]] = {i: [] for i in ids}
        for action_id, *group in await self._all(ACTIONS_LEDGER.format(ids=clause), extra):
            groups[action_id].append(group)
        people = {r[0]: r[1:] for r in await self._all(ACTIONS_PEOPLE.format(ids=clause), extra)}
        return {i: figures_from_ledger(rows, people.get(i)) for i, rows in groups.items()}

    async def keep_settled_figures(self, *, now: float | None = None, limit: int = 500,
                                   settle_seconds: float = SETTLE_SECONDS, since: float = 0.0) -> int:
        """Keep the figures of ended actions (started after ``since``) whose ledger has settled;
        returns how many were kept."""
        now = time.time() if now is None else now
        kept = 0
        while True:
            ids = [r[0] for r in await self._all(UNKEPT_ENDED, (since, limit))]
            batch = []
            for action_id, figures in (await self.figures_of(ids)).items():
                if figures["busy"] or (figures["changed_at"] or 0) > now - settle_seconds:
                    continue
                batch.append((action_id, now, json.dumps(figures, separators=(",", ":"))))
            if batch:
                await self._run_many(KEEP_FIGURES, batch)
                kept += len(batch)
            # unsettled actions stay unkept: stop when a round kept nothing new
            if len(ids) < limit or not batch:
                return kept

    # -- a period --------------------------------------------------------------------------------
    async def period_actions(self, start: float, end: float) -> list[tuple[str, str, str | None]]:
        """``(id, data, figures)`` as stored (JSON texts) of every action started in ``[start, end)``;
        ``figures`` is ``None`` until the action has settled. Parsing is left to the caller's thread."""
        return [(i, d, f) for i, d, f in await self._report_all(PERIOD_ACTIONS, (start, end))]

    async def period_tips(self, start: float, end: float) -> list[tuple[str, str, int, float]]:
        """``(action_id, channel, tips, first_at)`` for the actions started in ``[start, end)``."""
        return [(a, c, int(n), float(t)) for a, c, n, t in await self._report_all(PERIOD_TIPS, (start, end))]

    async def reach_counts(self, start: float, end: float, action_ids: Sequence[str] | None = None) -> dict[int, int]:
        """``{n: participants reached by exactly n actions}`` among the actions started in
        ``[start, end)`` (only ``action_ids`` of them, when given). Erased people no longer count.

        Each action's reached ids are read as one value and counted in numpy (:mod:`hub.store.reach`).
        The period is read in slices of about :data:`REACH_SLICE` actions (:meth:`_report_slices`), each
        slice's ids prepared while the next are read."""
        clause, extra = self._ids_clause("a.id", action_ids)
        sql = REACH_IDS["sqlite" if self.backend == "sqlite" else "postgres"].format(ids=clause)
        bounds = await self._reach_slices(start, end, clause, extra)
        tally = reach.Tally()
        counted = None
        async with contextlib.aclosing(self._report_slices(sql, [(lo, hi, *extra) for lo, hi in bounds])) as slices:
            async for values in slices:
                ids = reach.split(values)
                if ids is None or not await asyncio.to_thread(tally.add, *ids):
                    break
            else:
                counted = await asyncio.to_thread(tally.result)
        if counted is not None:
            return counted
        # ids of different lengths, or holding a line break: one row per action and participant
        pairs = await self._report_all(REACH_PAIRS.format(ids=clause), (start, end, *extra))
        times: Counter[str] = Counter(pid for _, pid in pairs)
        return dict(Counter(times.values()))

    async def _reach_slices(self, start: float, end: float, clause: str, extra: Sequence[Any]) -> list[tuple[float, float]]:
        """``[start, end)`` cut where every slice starts about :data:`REACH_SLICE` of its actions later."""
        starts = [float(t) for (t,) in await self._report_all(
            f"SELECT a.created_at FROM actions a WHERE a.created_at>=? AND a.created_at<? {clause} ORDER BY a.created_at",
            (start, end, *extra))]
        if not starts:
            return []
        cuts = sorted({starts[k] for k in range(REACH_SLICE, len(starts), REACH_SLICE)} - {start})
        edges = [start, *cuts, end]
        return list(zip(edges[:-1], edges[1:]))

    async def participant_cells(self, step: float) -> list[tuple[int, int, int]]:
        """How many participants have their first (home) address in each cell of a ``step``-degree
        grid: ``(round(lat / step), round(lon / step), count)``. Nothing but coordinates is read."""
        if self.backend == "sqlite":
            sql = ("SELECT CAST(round(lat / ?) AS INTEGER) AS i, CAST(round(lon / ?) AS INTEGER) AS j, count(*)"
                   " FROM (SELECT json_extract(data, '$.addresses[0].lat') AS lat,"
                   " json_extract(data, '$.addresses[0].lon') AS lon FROM participants)"
                   " WHERE lat IS NOT NULL AND lon IS NOT NULL GROUP BY i, j")
        else:
            sql = ("SELECT round(lat / ?)::int AS i, round(lon / ?)::int AS j, count(*)"
                   " FROM (SELECT (d->'addresses'->0->>'lat')::float8 AS lat, (d->'addresses'->0->>'lon')::float8 AS lon"
                   " FROM (SELECT data::json AS d FROM participants) p) q"
                   " WHERE lat IS NOT NULL AND lon IS NOT NULL GROUP BY i, j")
        return [(int(i), int(j), int(n)) for i, j, n in await self._report_all(sql, (step, step))]

    async def kept_participant_cells(self, step: float) -> tuple[str, int, float, list[tuple[int, int, int]]] | None:
        """The last count of :meth:`participant_cells`: ``(database_id, generation, counted_at, cells)``."""
        rows = await self._all(CELLS_GET, (step,))
        if not rows:
            return None
        database_id, generation, counted_at, cells = rows[0]
        return str(database_id), int(generation), float(counted_at), [tuple(c) for c in json.loads(cells)]

    async def keep_participant_cells(self, step: float, database_id: str, generation: int, counted_at: float,
                                     cells: Sequence[tuple[int, int, int]]) -> None:
        await self._run(CELLS_PUT, (step, database_id, generation, counted_at,
                                    json.dumps([list(c) for c in cells], separators=(",", ":"))))

    async def add_phone_tip(self, action_id: str, text: str, received_at: float) -> int:
        """A tip that came in by telephone on the call-back line, logged by a dispatcher; dated when
        the call came in. Other hub processes hear of it as of any tip."""
        if self.backend != "sqlite":
            rows = await self._all(ADD_PHONE_TIP_NOTIFY, (action_id, text, received_at, action_id))
            return int(rows[0][0])

        def fn(conn):
            return conn.execute(ADD_PHONE_TIP, (action_id, text, received_at)).fetchone()[0]

        return int(await self._tx(fn))


async def _read_in_processes(path: Path, sql: str, slices: Sequence[Sequence[Any]],
                             readers: int) -> AsyncIterator[tuple[int, list[Any]]]:
    """``(k, values)`` of each of ``slices`` from ``readers`` processes of :mod:`slice_reader`, the
    slices dealt out in turn, in the order they are read; the processes are stopped (and waited for)
    when the caller stops early. :class:`ReportReadError` when one fails."""
    script = Path(slice_reader.__file__)
    procs: list[asyncio.subprocess.Process] = []
    tasks: list[asyncio.Task] = []
    queue: asyncio.Queue = asyncio.Queue()
    every_slice_came = False
    try:
        for r in range(min(readers, len(slices))):
            try:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-I", "-S", str(script), stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            except OSError as e:
                raise ReportReadError(f"cannot start a report reader: {e}") from e
            procs.append(proc)
            mine = list(range(r, len(slices), readers))
            proc.stdin.write(json.dumps({"path": str(path), "sql": sql, "slices": [list(slices[k]) for k in mine]}).encode())
            proc.stdin.close()
            tasks.append(asyncio.ensure_future(_frames(proc, mine, queue)))
        for left in range(len(slices), 0, -1):
            item = await queue.get()
            if isinstance(item, BaseException):
                raise item
            every_slice_came = left == 1  # then the readers end by themselves
            yield item
    finally:
        for task in tasks:
            task.cancel()
        for proc in procs:
            # stopped early (only then: killing a reader that has ended would reap it behind
            # asyncio's back, which then reports it as an unknown child)
            if not every_slice_came and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _frames(proc: asyncio.subprocess.Process, mine: Sequence[int], queue: asyncio.Queue) -> None:
    """Put ``(k, values)`` on ``queue`` for each frame ``proc`` writes, ``k`` the slices' numbers
    (``mine``) in turn; a :class:`ReportReadError` when it stops short."""
    try:
        for k in mine:
            (n,) = struct.unpack("<I", await proc.stdout.readexactly(4))
            lengths = struct.unpack(f"<{n}q", await proc.stdout.readexactly(8 * n)) if n else ()
            data = await proc.stdout.readexactly(sum(size for size in lengths if size > 0))
            values: list[Any] = []
            at = 0
            for size in lengths:
                if size == slice_reader.NULL:
                    values.append(None)
                else:
                    values.append(data[at:at + size])
                    at += size
            await queue.put((k, values))
    except (asyncio.IncompleteReadError, struct.error, ConnectionError) as e:
        await proc.wait()
        problem = (await proc.stderr.read()).decode(errors="replace").strip() or f"exit status {proc.returncode}"
        error = ReportReadError(f"a report reader stopped: {problem}")
        error.__cause__ = e
        await queue.put(error)
