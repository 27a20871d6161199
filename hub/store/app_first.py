"""The store's part of "the app first, SMS only if the app has not confirmed delivery in time".

One read, shared by both backends (only JSON access differs): for the participants of a batch who chose
``app_first`` (a key of the participant's JSON, so no schema change), the state of their row of the same
action and message kind on the first channel. A batch is at most a few thousand rows, found by the
ledger's unique key and the participants' primary key.
"""

from __future__ import annotations

import json
from typing import Sequence

_SQL = (
    "SELECT d.participant_id, d.status, d.created_at FROM deliveries d"
    " JOIN participants p ON p.id = d.participant_id"
    " WHERE d.action_id=? AND d.channel=? AND d.kind=? AND {wanted} AND d.participant_id IN ({ids})"
)
SQLITE = _SQL.format(wanted="json_extract(p.data, '$.app_first') = 1", ids="SELECT value FROM json_each(?)")
POSTGRES = _SQL.format(wanted="(p.data::jsonb ->> 'app_first') = 'true'", ids="SELECT jsonb_array_elements_text(?::jsonb)")


class AppFirstQueries:
    """``app_first_state``, on the store's ``_all`` (:class:`hub.store.queries.SharedQueries`)."""

    backend: str

    async def app_first_state(
        self, action_id: str, channel: str, kind: str, participant_ids: Sequence[str]
    ) -> dict[str, tuple[str, float]]:
        """``{participant_id: (status, created_at)}`` of the ``channel`` rows of this action and kind,
        for those of ``participant_ids`` who chose the app first; the others are left out."""
        if not participant_ids:
            return {}
        sql = SQLITE if self.backend == "sqlite" else POSTGRES
        rows = await self._all(sql, (action_id, channel, kind, json.dumps(list(participant_ids))))
        out: dict[str, tuple[str, float]] = {}
        for pid, status, created in rows:
            # several rows (updates) of one kind: the most advanced counts
            if pid not in out or status == "delivered":
                out[pid] = (status, float(created))
        return out
