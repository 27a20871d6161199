"""Participants: register, update, erase, bulk import; the audience index follows every change.

At start-up :meth:`ParticipantRegistry.load` takes the index from its snapshot next to the database
(:mod:`hub.snapshot`) and brings it up to date:

* a snapshot at the store's current participants generation is used as it is;
* a snapshot of this database behind the store (after a crash within a minute of a change, or a
  change by another writer) is loaded and the changes since are replayed: every participant row
  written after the snapshot's generation is upserted and every id erased since is removed. The store
  stamps each row with the generation of its last write and keeps a tombstone (id and generation) per
  removed id, both by triggers in the writing transaction; the changed rows, the tombstones and the
  resulting generation are read in one read transaction, so the index is exactly that generation;
* otherwise (no snapshot, another database's, a later state than the store's, changes the store
  cannot tell because they predate the row generations or pruned tombstones, or more changes than
  :data:`REPLAY_LIMIT` of the participants, where a rebuild is faster) the index is rebuilt from the
  stored records (a large store on one worker process per core, :mod:`hub.rebuild`; else streamed in
  chunks), then a new snapshot is written.

Every write goes to the store first (which bumps the generation in the same transaction), then to
the index; one lock keeps writes and snapshot saves in order, so the generation the registry records
for its index is exact. A changed index is saved again ``snapshot_delay`` seconds after the first
change, and when the hub stops. After each save the store's tombstones up to the saved generation are
pruned.

Following other writers. Another hub process, the command line or an import may change participants
while this hub runs. :meth:`ParticipantRegistry.follow` starts a task that, whenever the store's
generation is ahead of the index (woken by the store's notification on PostgreSQL, and checked every
:data:`FOLLOW_SECONDS` on both backends), reads the changes since the index's generation and applies
them, so every running hub sees every change within a second. The registry's own writes are applied
at once; when someone else wrote in between, the index stays at the last generation it fully
reflects and the follower re-applies what came after (an upsert of the same record changes nothing).

Erasure. The snapshot holds contact details and addresses, so an erased participant's data must
leave it. The snapshot is not deleted (a crash before the next save would force a cold start, the
worst moment for an alerting system to be slow); it is rewritten without them ``erase_save_delay``
seconds (default 1 s, so a burst of erasures is written once) after the erasure, off the event loop,
and atomically replaces the old file. The bound while the hub runs: ``erase_save_delay`` plus any
registry write in progress plus one save (compaction and write, about 4 s for 3,000,000
participants). If the save fails, the snapshot is deleted instead. If the hub stops uncleanly inside
that window, the old snapshot stays on disk until the next start, which replays the erasure from its
tombstone and rewrites the snapshot the same way right after loading (a replay without erasures is
saved ``snapshot_delay`` later, as after any change).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hashlib
import json
import logging
import secrets
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from . import snapshot
from .audience import AudienceIndex, IndexLoader
from .errors import NotFound, ValidationError
from .participants import Participant, carry_verification, parse_csv
from .rebuild import rebuild_in_processes
from .store import AuditEntry, GenerationStep, ParticipantsVersion

log = logging.getLogger("burgerhub.registry")

DEFAULT_SNAPSHOT_DELAY = 60.0
"""Seconds between the first change after a save and the next save of the index snapshot."""

DEFAULT_ERASE_SAVE_DELAY = 1.0
"""Seconds between an erasure and the save that takes the erased participant out of the snapshot."""

REPLAY_LIMIT = 0.10
"""Largest share of the snapshot's participants whose changes are replayed; beyond it the index is
rebuilt from the store. Replaying applies about 14,000 records a second (one core, index updates one
by one); the parallel rebuild about 100,000 a second on two cores (30 s for 3,000,000). At 10 % of a
national set a replay takes some 22 s plus the snapshot's second; beyond that a rebuild wins."""

FOLLOW_SECONDS = 0.5
"""How often a hub checks the store for participant changes made by other processes."""

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
        erase_save_delay: float = DEFAULT_ERASE_SAVE_DELAY,
        replay_limit: float = REPLAY_LIMIT,
        chunk_size: int = 20_000,
        processes: int | None = None,
    ):
        self.store, self.index, self.metrics = store, index, metrics
        if snapshot_path is _DERIVE:
            db = getattr(store, "path", None)
            snapshot_path = snapshot.path_for(db) if db is not None else None
        self.snapshot_path: Path | None = snapshot_path
        self.snapshot_delay = snapshot_delay
        self.erase_save_delay = erase_save_delay
        self.replay_limit = replay_limit
        self.chunk_size = chunk_size
        #: worker processes for a rebuild of a large store (default: one per core; 1: stream in this process)
        self.processes = processes
        #: how the last :meth:`load` went: ``source`` ("snapshot", "snapshot+replay" or "store"), seconds,
        #: participants, and for a replay the rows upserted and ids removed
        self.last_load: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._version: ParticipantsVersion | None = None  # what the index reflects; None: not known
        self._saved: ParticipantsVersion | None = None  # what the snapshot on disk holds
        self._erased = False  # the snapshot on disk may hold someone erased since
        self._save_task: asyncio.Task | None = None
        self._save_due: float | None = None  # loop time the pending save is due at
        self._save_wake = asyncio.Event()
        self._follow_task: asyncio.Task | None = None
        self._follow_wake = asyncio.Event()
        self._following = False
        self._compact_task: asyncio.Task | None = None

    # -- loading and snapshots -----------------------------------------------------------------

    async def load(self) -> int:
        """Load the audience index (at start-up): from a snapshot brought up to date, else from the store."""
        async with self._lock:
            t0 = time.perf_counter()
            version = await self.store.participants_version()
            loaded = await self._from_snapshot(version)
            replayed: dict[str, int] = {}
            if loaded is None:
                source = "store"
                built = await rebuild_in_processes(self.store, processes=self.processes, chunk_size=self.chunk_size)
                index, version = built if built is not None else await self._rebuild()
            else:
                index, version, held, replayed = loaded
                source = "snapshot+replay" if held != version else "snapshot"
            self.index, self._version = index, version
            seconds = time.perf_counter() - t0
            if source == "store" and self.snapshot_path is not None:
                await self._save(index, version)
            else:
                self._saved = held if loaded is not None else None
                self._erased = bool(replayed.get("removed"))
            self.last_load = {"source": source, "seconds": round(seconds, 3), "participants": len(index), **replayed}
            log.info("audience index: %d participants from the %s in %.2f s%s", len(index), source, seconds,
                     f" ({replayed['upserted']} written and {replayed['removed']} removed since)" if replayed else "")
        if source == "snapshot+replay":
            # the snapshot on disk is behind: saved as after any change, or at once when it may hold
            # someone erased since
            if self._erased:
                self._schedule_save(self.erase_save_delay)
            elif self.snapshot_delay is not None:
                self._schedule_save(self.snapshot_delay)
        self._gauge()
        return len(self.index)

    async def _from_snapshot(
        self, version: ParticipantsVersion
    ) -> tuple[AudienceIndex, ParticipantsVersion, ParticipantsVersion, dict[str, int]] | None:
        """The snapshot's index brought up to the store's generation: (index, the version it now
        reflects, the version the snapshot held, replay counts); ``None`` when it cannot be used."""
        path = self.snapshot_path
        if path is None:
            return None
        changes_task: asyncio.Task | None = None
        try:
            info = await asyncio.to_thread(snapshot.read_info, path)
            if info is None:
                return None
            held = info.version
            if held.database_id != version.database_id or held.generation > version.generation:
                log.info("audience snapshot is of another database or a later state (%s, store at %s): rebuilding",
                         held, version)
                snapshot.remove(path)
                return None
            if held.generation < version.generation:
                # the changes are read (a scan of the table on the store's thread) while the file is read
                limit = max(1_000, int(self.replay_limit * info.participants))
                changes_task = asyncio.ensure_future(self.store.participant_changes(held.generation, limit=limit))
            found = await asyncio.to_thread(snapshot.read, path)
            if found is None or found.version != held:
                return None
            changes = await changes_task if changes_task is not None else None
            if changes is not None and changes.texts is None:
                if changes.count is None:
                    log.info("audience snapshot at %s: the store can replay changes only from generation %d;"
                             " rebuilding", held, changes.complete_since)
                else:
                    log.info("audience snapshot at %s: more than %d changes since (limit %d); rebuilding",
                             held, changes.count - 1, limit)
                return None
            index = AudienceIndex.from_snapshot(found.meta, found.arrays)
            del found
            if changes is None:
                return index, held, held, {}
            replayed = self._replay(index, changes.texts or (), changes.removed or ())
            return index, changes.version, held, replayed
        except ValidationError as e:  # a record stored by another writer does not parse
            log.warning("audience snapshot %s not brought up to date: %s; rebuilding", path, e)
            return None
        except (snapshot.SnapshotError, OSError, ValueError, KeyError, IndexError, TypeError) as e:
            log.warning("audience snapshot %s not used: %s", path, e)
            snapshot.remove(path)
            return None
        finally:
            if changes_task is not None and not changes_task.done():
                await asyncio.gather(changes_task, return_exceptions=True)

    @staticmethod
    def _replay(index: AudienceIndex, texts, removed) -> dict[str, int]:
        """Apply the changes since a snapshot: remove the erased ids, upsert the written records.

        A record's tombstone is dropped when its id is written again, so no id is in both. Compaction
        waits for the next save (in a thread) instead of running here, in the middle of the start.
        Raises :class:`~hub.errors.ValidationError` for a stored record that does not parse.
        """
        compacting, index.auto_compact = index.auto_compact, False
        try:
            gone = sum(index.remove(pid) for pid in removed)
            for text in texts:
                try:
                    # trusted: the store holds what Participant.to_dict wrote (no schema check, ~40x faster)
                    participant = Participant.from_dict(json.loads(text), validate=False)
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    raise ValidationError("participants", f"a stored record does not parse: {e}") from e
                index.upsert(participant)
        finally:
            index.auto_compact = compacting
        return {"upserted": len(texts), "removed": gone}

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
        """Write the snapshot (the caller holds the lock, so no write lands in between), then prune the
        store's tombstones it makes unneeded.

        The index is compacted first (a snapshot holds no removed participants), in a thread: at national
        scale that takes a second or two, during which the event loop keeps serving selections. When the
        write fails and the snapshot on disk may hold someone erased, it is deleted.
        """
        if not index.compacted:
            index.apply_compaction(await asyncio.to_thread(index.compaction))
        meta, arrays = index.snapshot()
        try:
            await asyncio.to_thread(snapshot.write, self.snapshot_path, version, meta, arrays)
        except OSError as e:
            log.warning("audience snapshot %s not written: %s", self.snapshot_path, e)
            if self._erased:
                snapshot.remove(self.snapshot_path)
                self._saved, self._erased = None, False
            return
        self._saved, self._erased = version, False
        try:
            await self.store.prune_participant_tombstones(version.generation)
        except Exception:
            log.exception("participant tombstones not pruned")

    async def save_snapshot(self) -> bool:
        """Save the index if it changed since the last save; ``True`` if a snapshot was written."""
        if self.snapshot_path is None:
            return False
        async with self._lock:
            if self._version is None or self._version == self._saved:
                if self._erased:  # the index matches no generation: do not keep an erased person on disk
                    snapshot.remove(self.snapshot_path)
                    self._saved, self._erased = None, False
                return False
            await self._save(self.index, self._version)
            return self._saved == self._version

    async def close(self) -> None:
        """Save a changed index (when the hub stops) after any save under way."""
        task, self._save_task = self._save_task, None
        self._save_due = None
        self._save_wake.set()
        if task is not None and not task.done():
            await asyncio.gather(task, return_exceptions=True)
        await self.save_snapshot()

    def _changed(self, step: GenerationStep) -> None:
        """Record the generation the index now reflects, after a write of ours applied to it."""
        if self._version is not None and step.before == self._version.generation:
            self._version = replace(self._version, generation=step.after)
            self._compact_soon()
        else:
            # someone else wrote to the store meanwhile: the index stays at the last generation it
            # fully reflects, and the follower applies everything after it (ours again, harmlessly)
            self.poke()
        if self.snapshot_delay is not None:
            self._schedule_save(self.snapshot_delay)

    def _schedule_save(self, delay: float) -> None:
        """Have the snapshot saved within ``delay`` seconds (sooner if a save is due sooner already)."""
        if self.snapshot_path is None:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if self._save_due is not None and self._save_due <= due:
            return
        self._save_due = due
        if self._save_task is None or self._save_task.done():
            self._save_task = loop.create_task(self._save_later())
        else:
            self._save_wake.set()  # a sooner deadline, or a change during the save: look again

    async def _save_later(self) -> None:
        loop = asyncio.get_running_loop()
        while self._save_due is not None:
            wait = self._save_due - loop.time()
            if wait > 0:
                self._save_wake.clear()
                try:
                    await asyncio.wait_for(self._save_wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                continue
            self._save_due = None
            try:
                await self.save_snapshot()
            except Exception:
                log.exception("audience snapshot not saved")

    # -- following other writers ----------------------------------------------------------------

    async def follow(self) -> None:
        """Start following the changes other processes make (see the module's docstring)."""
        if self._follow_task is None:
            self._follow_task = asyncio.get_running_loop().create_task(self._follow(), name="burgerhub-follow")

    def poke(self) -> None:
        """Look for changes now (the store told us, or a write of ours overlapped another's)."""
        self._follow_wake.set()

    async def stop_following(self) -> None:
        task, self._follow_task = self._follow_task, None
        if task is not None:
            # the flag ends the loop even when a cancellation is swallowed by asyncio.wait_for
            # (Python 3.11 loses one that races with the awaited event being set)
            self._following = False
            self._follow_wake.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        compact, self._compact_task = self._compact_task, None
        if compact is not None and not compact.done():
            await asyncio.gather(compact, return_exceptions=True)  # one bounded step at most

    async def _follow(self) -> None:
        self._following = True
        while self._following:
            try:
                await asyncio.wait_for(self._follow_wake.wait(), FOLLOW_SECONDS)
            except asyncio.TimeoutError:
                pass
            self._follow_wake.clear()
            if not self._following:
                return
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following participant changes failed")

    async def catch_up(self) -> dict[str, int]:
        """Apply every change in the store the index does not reflect yet; returns the counts."""
        version = await self.store.participants_version()
        if self._version is not None and version == self._version:
            return {}
        async with self._lock:
            mine = self._version
            if mine is None or mine.database_id != version.database_id:
                return {}
            limit = max(10_000, int(self.replay_limit * max(1, len(self.index))))
            changes = await self.store.participant_changes(mine.generation, limit=limit)
            if changes.texts is None:
                # too many to replay, or no longer replayable: rebuild from the store
                built = await rebuild_in_processes(self.store, processes=self.processes, chunk_size=self.chunk_size)
                self.index, self._version = built if built is not None else await self._rebuild()
                self._erased = True
                counts = {"rebuilt": len(self.index)}
            else:
                counts = self._replay(self.index, changes.texts, changes.removed or ())
                self._version = changes.version
                if counts.get("removed"):
                    self._erased = True
        self._compact_soon()
        if counts.get("removed") or counts.get("rebuilt"):
            self._schedule_save(self.erase_save_delay)
        elif self.snapshot_delay is not None:
            self._schedule_save(self.snapshot_delay)
        self._gauge()
        if counts:
            log.info("audience index followed other writers: %s", counts)
        return counts

    def _compact_soon(self) -> None:
        """Keep a following index as fast and small as a fresh one: bounded compaction steps,
        each computed on a thread, while no change lands (see hub.audience.compaction)."""
        needs = getattr(self.index, "needs_compaction", None)
        if needs is None or not needs():
            return
        if self._compact_task is None or self._compact_task.done():
            self._compact_task = asyncio.get_running_loop().create_task(self._compact(), name="burgerhub-compact")

    async def _compact(self) -> None:
        try:
            while self.index.needs_compaction():
                async with self._lock:
                    index = self.index
                    if index.needs_compaction():
                        index.apply_compaction(await asyncio.to_thread(index.compaction))
        except Exception:
            log.exception("audience index compaction failed")

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.participants.set(len(self.index))

    async def register(
        self, data: Mapping[str, Any], *, issue_token: bool = False, verified: bool = True
    ) -> tuple[Participant, str | None]:
        """Store a new participant (or replace one with the same id).

        ``verified``: whether the caller vouches for the contacts (the command line, samples and an
        operator's import that says so); the HTTP API passes ``False`` for what a person entered,
        whose contacts stay unreachable until proven (:mod:`hub.verification`).
        """
        participant = Participant.from_dict(data, verified=verified)
        await self.store_participant(participant)
        token = None
        if issue_token:
            token = "pt_" + secrets.token_urlsafe(24)
            await self.store.set_participant_token(participant.id, token_hash(token))
        self._gauge()
        return participant, token

    async def update(self, participant_id: str, data: Mapping[str, Any], *, verified: bool = True) -> Participant:
        """Replace a participant's data. With ``verified=False`` (what the HTTP API passes for a
        person's input) contacts verified before and kept unchanged stay verified, and a new or
        changed one is unverified; trusted callers (the default) vouch for every contact."""
        stored = await self.store.get_participant(participant_id)
        if stored is None:
            raise NotFound(f"participant {participant_id!r} not found")
        if data.get("id", participant_id) != participant_id:
            raise ValidationError("id", "cannot be changed")
        participant = Participant.from_dict({**data, "id": participant_id}, verified=verified)
        participant = carry_verification(Participant.from_dict(stored, validate=False), participant)
        await self.store_participant(participant)
        return participant

    async def store_participant(self, participant: Participant) -> None:
        """Write one participant as it is (already validated) to the store, then to the index."""
        async with self._lock:
            step = await self.store.put_participants([(participant.id, participant.to_dict())])
            self.index.upsert(participant)
            self._changed(step)
        await self._caps([participant])
        self._gauge()

    async def _caps(self, people: list[Participant]) -> None:
        """Keep the store's table of weekly caps (read when audiences are chosen) in step."""
        write = getattr(self.store, "caps_write", None)
        if write is not None:
            await write([(p.id, p.max_actions_per_week) for p in people])

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
            self._changed(step)
            self._erased = True
        # the snapshot holds the participant's addresses and contact details: rewritten without them
        # shortly (see the module's docstring for the bound)
        self._schedule_save(self.erase_save_delay)
        self._gauge()

    async def import_csv(
        self, text: str, *, verified: bool = False, actor: str = "operator", role: str = "operator"
    ) -> dict[str, Any]:
        """Store every valid row; report each bad row with its line, field and reason. Nothing valid is lost.

        Contacts are unverified unless ``verified``: the importing ``actor`` vouches for them, which
        goes to the audit log with the ids it covers."""
        # parsing and validating a large file is CPU work: keep the event loop serving meanwhile
        people, errors = await asyncio.to_thread(functools.partial(parse_csv, text, verified=verified))
        if people:
            await self._put_many(people)
            if verified:
                await self.audit_verified_import([p.id for p in people], actor=actor, role=role)
        self._gauge()
        return {
            "imported": len(people),
            "rejected": len(errors),
            "errors": [e.as_dict() if hasattr(e, "as_dict") else dict(e.__dict__) for e in errors],
        }

    async def audit_verified_import(self, ids: list[str], *, actor: str, role: str) -> None:
        """Record that ``actor`` marked the contacts of these participants verified by an import."""
        await self.store.add_audit(
            AuditEntry(actor, role, "participant.verified_by_import", "participants",
                       {"participants": len(ids), "ids": ids[:10_000]})
        )

    async def import_rows(self, rows, *, verified: bool = True) -> int:
        """Register many participants given as dicts (validated each); for samples and migrations."""
        people = [Participant.from_dict(r, verified=verified) for r in rows]
        await self._put_many(people)
        self._gauge()
        return len(people)

    async def _put_many(self, people: list[Participant]) -> None:
        async with self._lock:
            step = await self.store.put_participants([(p.id, p.to_dict()) for p in people])
            for p in people:
                self.index.upsert(p)
            self._changed(step)
        await self._caps(people)

    async def opt_out(self, participant_id: str, channel: str) -> bool:
        data = await self.store.get_participant(participant_id)
        if data is None:
            return False
        data["channels"] = [c for c in data.get("channels", []) if c != channel]
        await self.update(participant_id, data, verified=False)  # every contact keeps its state
        return True

    async def by_token(self, token: str) -> str | None:
        """The participant a bearer token belongs to: their personal token, or a signed-in session."""
        digest = token_hash(token)
        return await self.store.participant_by_token(digest) or await self.store.session_participant(digest)
