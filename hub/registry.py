"""Participants: register, update, erase, bulk import; the audience index follows every change.

At start-up :meth:`ParticipantRegistry.load` takes the index from its snapshot next to the database
(:mod:`hub.snapshot`) when the snapshot reflects the store's current participants generation, and
otherwise rebuilds it from the stored records (a large store on one worker process per core,
:mod:`hub.rebuild`; else streamed in chunks), then writes a new snapshot. Every
write goes to the store first (which bumps the generation in the same transaction), then to the index;
one lock keeps writes and snapshot saves in order, so the generation the registry records for its index
is exact. A changed index is saved again ``snapshot_delay`` seconds after the first change, and when
the hub stops.

Erasing a participant deletes the snapshot at once (it holds their contact details and addresses);
the next save writes a new one without them.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import secrets
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from . import snapshot
from .audience import AudienceIndex, IndexLoader
from .errors import NotFound, ValidationError
from .participants import Participant, parse_csv
from .rebuild import rebuild_in_processes
from .store import AuditEntry, GenerationStep, ParticipantsVersion

log = logging.getLogger("burgerhub.registry")

DEFAULT_SNAPSHOT_DELAY = 60.0
"""Seconds between the first change after a save and the next save of the index snapshot."""

_DERIVE = object()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ParticipantRegistry:
    """The participants in the store and the audience index over them, kept in step.

    ``snapshot_path`` defaults to the file next to the store's database (none for an in-memory store
    or a store without a path); ``None`` turns snapshots off. ``snapshot_delay=None`` saves only when
    the hub stops.
    """

    def __init__(
        self,
        store,
        index,
        metrics=None,
        *,
        snapshot_path: Path | None | Any = _DERIVE,
        snapshot_delay: float | None = DEFAULT_SNAPSHOT_DELAY,
        chunk_size: int = 20_000,
        processes: int | None = None,
    ):
        self.store, self.index, self.metrics = store, index, metrics
        if snapshot_path is _DERIVE:
            db = getattr(store, "path", None)
            snapshot_path = snapshot.path_for(db) if db is not None else None
        self.snapshot_path: Path | None = snapshot_path
        self.snapshot_delay = snapshot_delay
        self.chunk_size = chunk_size
        #: worker processes for a rebuild of a large store (default: one per core; 1: stream in this process)
        self.processes = processes
        #: how the last :meth:`load` went: ``source`` ("snapshot" or "store"), seconds, participants
        self.last_load: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._version: ParticipantsVersion | None = None  # what the index reflects; None: not known
        self._saved: ParticipantsVersion | None = None  # what the snapshot on disk holds
        self._save_task: asyncio.Task | None = None

    # -- loading and snapshots -----------------------------------------------------------------

    async def load(self) -> int:
        """Load the audience index (at start-up): from a current snapshot, else from the store."""
        async with self._lock:
            t0 = time.perf_counter()
            version = await self.store.participants_version()
            index = await self._from_snapshot(version)
            source = "snapshot"
            if index is None:
                source = "store"
                built = await rebuild_in_processes(self.store, processes=self.processes, chunk_size=self.chunk_size)
                index, version = built if built is not None else await self._rebuild()
            self.index, self._version = index, version
            seconds = time.perf_counter() - t0
            if source == "store" and self.snapshot_path is not None:
                await self._save(index, version)
            else:
                self._saved = version if source == "snapshot" else None
            self.last_load = {"source": source, "seconds": round(seconds, 3), "participants": len(index)}
            log.info("audience index: %d participants from the %s in %.2f s", len(index), source, seconds)
        self._gauge()
        return len(self.index)

    async def _from_snapshot(self, version: ParticipantsVersion) -> AudienceIndex | None:
        path = self.snapshot_path
        if path is None:
            return None
        try:
            held = await asyncio.to_thread(snapshot.read_version, path)
            if held is None:
                return None
            if held != version:
                log.info("audience snapshot is stale (%s, store at %s): rebuilding", held, version)
                snapshot.remove(path)
                return None
            found = await asyncio.to_thread(snapshot.read, path)
            if found is None or found.version != version:
                return None
            return AudienceIndex.from_snapshot(found.meta, found.arrays)
        except (snapshot.SnapshotError, OSError, ValueError, KeyError, IndexError, TypeError) as e:
            log.warning("audience snapshot %s not used: %s", path, e)
            snapshot.remove(path)
            return None

    async def _rebuild(self) -> tuple[AudienceIndex, ParticipantsVersion]:
        """Stream every stored record into a new index, chunk by chunk, from one consistent read.

        The cyclic garbage collector is paused meanwhile: parsing millions of records creates and drops
        millions of dicts and lists without a single cycle, and its passes over them took two thirds of
        the parsing time. It runs once at the end.
        """
        loader = IndexLoader(AudienceIndex())
        collecting = gc.isenabled()
        gc.disable()
        try:
            async with self.store.scan_participants(self.chunk_size) as scan:
                async for texts in scan:
                    loader.add_json(texts)
                version = scan.version
        finally:
            if collecting:
                gc.enable()
        return loader.finish(), version

    async def _save(self, index: AudienceIndex, version: ParticipantsVersion) -> None:
        """Write the snapshot (the caller holds the lock, so no write lands in between).

        The index is compacted first (a snapshot holds no removed participants), in a thread: at national
        scale that takes a second or two, during which the event loop keeps serving selections.
        """
        if not index.compacted:
            index.apply_compaction(await asyncio.to_thread(index.compaction))
        meta, arrays = index.snapshot()
        try:
            await asyncio.to_thread(snapshot.write, self.snapshot_path, version, meta, arrays)
        except OSError as e:
            log.warning("audience snapshot %s not written: %s", self.snapshot_path, e)
            return
        self._saved = version

    async def save_snapshot(self) -> bool:
        """Save the index if it changed since the last save; ``True`` if a snapshot was written."""
        if self.snapshot_path is None:
            return False
        async with self._lock:
            if self._version is None or self._version == self._saved:
                return False
            await self._save(self.index, self._version)
            return self._saved == self._version

    async def close(self) -> None:
        """Save a changed index (when the hub stops) and stop the pending save."""
        task, self._save_task = self._save_task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.save_snapshot()

    def _changed(self, step: GenerationStep) -> None:
        """Record the generation the index now reflects, after a write of ours applied to it."""
        if self._version is not None and step.before == self._version.generation:
            self._version = replace(self._version, generation=step.after)
        else:
            # someone else wrote to the store meanwhile: this index no longer matches any generation
            self._version = None
        if self.snapshot_delay is not None and self.snapshot_path is not None:
            if self._save_task is None or self._save_task.done():
                self._save_task = asyncio.get_running_loop().create_task(self._save_later())

    async def _save_later(self) -> None:
        await asyncio.sleep(self.snapshot_delay or 0)
        try:
            await self.save_snapshot()
        except Exception:
            log.exception("audience snapshot not saved")

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.participants.set(len(self.index))

    async def register(self, data: Mapping[str, Any], *, issue_token: bool = False) -> tuple[Participant, str | None]:
        participant = Participant.from_dict(data)
        async with self._lock:
            step = await self.store.put_participants([(participant.id, participant.to_dict())])
            self.index.upsert(participant)
            self._changed(step)
        token = None
        if issue_token:
            token = "pt_" + secrets.token_urlsafe(24)
            await self.store.set_participant_token(participant.id, token_hash(token))
        self._gauge()
        return participant, token

    async def update(self, participant_id: str, data: Mapping[str, Any]) -> Participant:
        if await self.store.get_participant(participant_id) is None:
            raise NotFound(f"participant {participant_id!r} not found")
        if data.get("id", participant_id) != participant_id:
            raise ValidationError("id", "cannot be changed")
        participant = Participant.from_dict({**data, "id": participant_id})
        async with self._lock:
            step = await self.store.put_participants([(participant.id, participant.to_dict())])
            self.index.upsert(participant)
            self._changed(step)
        return participant

    async def get(self, participant_id: str) -> dict[str, Any]:
        data = await self.store.get_participant(participant_id)
        if data is None:
            raise NotFound(f"participant {participant_id!r} not found")
        return data

    async def erase(self, participant_id: str, *, actor: str, role: str) -> None:
        async with self._lock:
            step = await self.store.erase_participant(
                participant_id, AuditEntry(actor, role, "participant.erase", "participant")
            )
            if step is None:
                raise NotFound(f"participant {participant_id!r} not found")
            self.index.remove(participant_id)
            # the snapshot holds the participant's addresses and contact details: off the disk now
            snapshot.remove(self.snapshot_path)
            self._saved = None
            self._changed(step)
        self._gauge()

    async def import_csv(self, text: str) -> dict[str, Any]:
        """Store every valid row; report each bad row with its line, field and reason. Nothing valid is lost."""
        # parsing and validating a large file is CPU work: keep the event loop serving meanwhile
        people, errors = await asyncio.to_thread(parse_csv, text)
        if people:
            await self._put_many(people)
        self._gauge()
        return {
            "imported": len(people),
            "rejected": len(errors),
            "errors": [e.as_dict() if hasattr(e, "as_dict") else dict(e.__dict__) for e in errors],
        }

    async def import_rows(self, rows) -> int:
        """Register many participants given as dicts (validated each); for samples and migrations."""
        people = [Participant.from_dict(r) for r in rows]
        await self._put_many(people)
        self._gauge()
        return len(people)

    async def _put_many(self, people: list[Participant]) -> None:
        async with self._lock:
            step = await self.store.put_participants([(p.id, p.to_dict()) for p in people])
            for p in people:
                self.index.upsert(p)
            self._changed(step)

    async def opt_out(self, participant_id: str, channel: str) -> bool:
        data = await self.store.get_participant(participant_id)
        if data is None:
            return False
        data["channels"] = [c for c in data.get("channels", []) if c != channel]
        await self.update(participant_id, data)
        return True

    async def by_token(self, token: str) -> str | None:
        return await self.store.participant_by_token(token_hash(token))
