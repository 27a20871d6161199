"""Participants: register, update, erase, bulk import; the audience index follows every change."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, Mapping

from .audience import AudienceIndex
from .errors import NotFound, ValidationError
from .participants import Participant, parse_csv
from .store import AuditEntry


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ParticipantRegistry:
    def __init__(self, store, index, metrics=None):
        self.store, self.index, self.metrics = store, index, metrics

    async def load(self) -> int:
        """Build the audience index from the store (at start-up)."""
        people = [Participant.from_dict(d, validate=False) for d in await self.store.iter_participants()]
        self.index = AudienceIndex.build(people)
        self._gauge()
        return len(people)

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.participants.set(len(self.index))

    async def register(self, data: Mapping[str, Any], *, issue_token: bool = False) -> tuple[Participant, str | None]:
        participant = Participant.from_dict(data)
        await self.store.put_participants([(participant.id, participant.to_dict())])
        self.index.upsert(participant)
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
        await self.store.put_participants([(participant.id, participant.to_dict())])
        self.index.upsert(participant)
        return participant

    async def get(self, participant_id: str) -> dict[str, Any]:
        data = await self.store.get_participant(participant_id)
        if data is None:
            raise NotFound(f"participant {participant_id!r} not found")
        return data

    async def erase(self, participant_id: str, *, actor: str, role: str) -> None:
        erased = await self.store.erase_participant(
            participant_id, AuditEntry(actor, role, "participant.erase", "participant")
        )
        if not erased:
            raise NotFound(f"participant {participant_id!r} not found")
        self.index.remove(participant_id)
        self._gauge()

    async def import_csv(self, text: str) -> dict[str, Any]:
        """Store every valid row; report each bad row with its line, field and reason. Nothing valid is lost."""
        people, errors = parse_csv(text)
        if people:
            await self.store.put_participants([(p.id, p.to_dict()) for p in people])
            for p in people:
                self.index.upsert(p)
        self._gauge()
        return {
            "imported": len(people),
            "rejected": len(errors),
            "errors": [e.as_dict() if hasattr(e, "as_dict") else dict(e.__dict__) for e in errors],
        }

    async def import_rows(self, rows) -> int:
        """Register many participants given as dicts (validated each); for samples and migrations."""
        people = [Participant.from_dict(r) for r in rows]
        await self.store.put_participants([(p.id, p.to_dict()) for p in people])
        for p in people:
            self.index.upsert(p)
        self._gauge()
        return len(people)

    async def opt_out(self, participant_id: str, channel: str) -> bool:
        data = await self.store.get_participant(participant_id)
        if data is None:
            return False
        data["channels"] = [c for c in data.get("channels", []) if c != channel]
        await self.update(participant_id, data)
        return True

    async def by_token(self, token: str) -> str | None:
        return await self.store.participant_by_token(token_hash(token))
