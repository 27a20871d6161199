"""One channel at a time, where a participant wants that: the app first, SMS only if the app has not
confirmed delivery within ``[hub] app_first_seconds`` (set by the operator; 0 turns it off).

It applies to participants who chose ``app_first``, whose app install is linked to them (the app
subscribed with their personal token) and so got an ``app`` row of the same action and message kind.
Their SMS row is queued as usual; when the engine claims it, :meth:`AppFirst.hold`

* skips it (``app_confirmed``) once the app has confirmed delivery (the app's ``received`` route);
* puts it back until the app row is ``app_first_seconds`` old while the app is still on its way;
* lets it go when the time is up or the app failed.

Never for a crisis: those go out on every channel at once. The SMS row is in the ledger from the
start, so a crash loses nothing; an app confirmation that arrives after the SMS left only means the
person got both (it fails open: a duplicate, never a miss). Waiting costs the SMS row one of its
``max_attempts``.
"""

from __future__ import annotations

import time
from typing import Sequence

from .models import ActionType, ActionView
from .store import DeliveryStatus, LedgerRow, Outcome

FIRST = "app"
THEN = "sms"
GIVEN_UP = ("failed", "cancelled", "skipped")


class AppFirst:
    def __init__(self, store, seconds: float, *, first: str = FIRST, then: str = THEN) -> None:
        self.store = store
        self.seconds = float(seconds)
        self.first = first
        self.then = then

    async def hold(
        self, channel: str, action: ActionView, kind: str, rows: Sequence[LedgerRow]
    ) -> tuple[list[LedgerRow], list[Outcome]]:
        """The rows to deliver now, and the outcomes of the rest (held back, or skipped)."""
        if channel != self.then or self.seconds <= 0 or action.type is ActionType.CRISIS:
            return list(rows), []
        pids = [r.participant_id for r in rows if r.participant_id]
        state = await self.store.app_first_state(action.id, self.first, kind, pids) if pids else {}
        if not state:
            return list(rows), []
        now = time.time()
        send: list[LedgerRow] = []
        outcomes: list[Outcome] = []
        for row in rows:
            found = state.get(row.participant_id) if row.participant_id else None
            if found is None:
                send.append(row)
                continue
            status, created = found
            if status == DeliveryStatus.DELIVERED:
                outcomes.append(Outcome(row.id, DeliveryStatus.SKIPPED, "app_confirmed"))
            elif status not in GIVEN_UP and now < created + self.seconds:
                outcomes.append(Outcome(row.id, DeliveryStatus.QUEUED, "waiting_for_app", retry_at=created + self.seconds))
            else:
                send.append(row)
        return send, outcomes
