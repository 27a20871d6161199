"""The demo's welcome: a demo action around the first address of each newcomer on the participant page.

While ``burgerhub demo`` keeps serving, :class:`Newcomers` follows the participants' changes in the
store (the generation-numbered changes the audience index follows too). A person who is not one of the
sample participants (ids ``demo-*``), has a verified contact (the e-mail address the sign-up link
proved, or a phone number proven by its code) and an address gets, once, a missing-person action that
says it is a demo, started around that first address through the action service by the demo's
dispatcher, so it reaches them as any action would (the app, SMS, e-mail; all in the sandbox). A few
minutes later it ends as "found", so the closing message arrives too.

The action's id is derived from the person's id with the hub's secret: once per newcomer, also after
the demo restarts (the store refuses an id it holds), and the id says nothing about the person. The
centre lies a few hundred metres from the address in a random direction, inside the circle, so the
action shows no one's address.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import random
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from .actions import Actor
from .background import BackgroundLoop
from .errors import Conflict, NotFound
from .participants import Participant

log = logging.getLogger("burgerhub.demo")

DEMO_DISPATCHER = Actor("demo-meldkamer", "dispatcher")
#: the sample participants' ids start with this; they get no welcome
SAMPLE_PREFIX = "demo-"
#: the welcome actions' ids start with this
ACTION_PREFIX = "act-demo-"
#: how long a newcomer's demo action runs before it ends as found (seconds)
RUNS_SECONDS = 300.0
#: how often the store is asked whether participants changed (seconds)
LOOK_SECONDS = 2.0
#: the pauses before trying again to end a welcome when ending it failed (the store briefly busy, say);
#: well within the 25 minutes the action runs past its time before it would expire without result
END_RETRY_SECONDS = (1.0, 5.0, 15.0, 60.0, 180.0)
RADIUS_M = 1000
_OFFSET_M = (150, 400)

TITLE = "DEMO: meisje van 8 vermist"
DESCRIPTION = ("DEMO, geen echte vermissing: zo ziet een Burgernet-actie eruit. Meisje van 8 jaar, gele regenjas, "
               "roze rugzak, lang bruin haar. Laatst gezien in uw buurt.")
TRANSLATIONS = {"en": {"title": "DEMO: girl of 8 missing",
                       "description": "DEMO, not a real missing person: this is what a Burgernet action looks like. "
                                      "Girl of 8, yellow raincoat, pink backpack, long brown hair. Last seen near you."}}
RESULT_TEXT = "DEMO: het meisje is ongedeerd gevonden. Bedankt voor het meekijken!"


def welcome_place(data: Mapping[str, Any]) -> tuple[float, float] | None:
    """The first address of a newcomer who qualifies for the welcome (see the module docs), else ``None``."""
    if str(data.get("id", "")).startswith(SAMPLE_PREFIX):
        return None
    person = Participant.from_dict(data, validate=False)
    verified = bool(person.email and person.email_verified) or any(p.verified for p in person.phones)
    if not verified or not person.addresses:
        return None
    first = person.addresses[0]
    return first.lat, first.lon


def welcome_id(secret: bytes, participant_id: str) -> str:
    """The id of a newcomer's demo action: the same for the same person, telling nothing about them."""
    return ACTION_PREFIX + hmac.new(secret, b"demo-welcome\x00" + participant_id.encode(), hashlib.sha256).hexdigest()[:12]


def welcome_action(action_id: str, lat: float, lon: float, rnd: random.Random | None = None, *,
                   runs_seconds: float = RUNS_SECONDS) -> dict[str, Any]:
    """The start of a newcomer's demo action: a circle holding ``(lat, lon)`` centred a little away from it,
    expiring well after the ``runs_seconds`` it runs before it ends as found."""
    rnd = rnd or random.Random()
    distance, bearing = rnd.uniform(*_OFFSET_M), rnd.uniform(0, 2 * math.pi)
    dlat = distance * math.cos(bearing) / 111_320
    # a floor under the cosine: near a pole the way east or west is shorter, never beyond the map
    dlon = distance * math.sin(bearing) / (111_320 * max(math.cos(math.radians(lat)), 0.01))
    # kept on the earth (an address by a pole or the 180th meridian): the other way north-south or east-west
    if abs(lat + dlat) > 90:
        dlat = -dlat
    if abs(lon + dlon) > 180:
        dlon = -dlon
    centre_lat, centre_lon = lat + dlat, lon + dlon
    return {
        "id": action_id, "type": "missing_person", "urgency": "time_critical",
        "title": TITLE, "description": DESCRIPTION, "translations": TRANSLATIONS,
        "area": {"type": "circle", "lat": round(centre_lat, 5), "lon": round(centre_lon, 5), "radius_m": RADIUS_M},
        "expires_in_minutes": max(10, math.ceil(runs_seconds / 60) + 25),
    }


class Newcomers(BackgroundLoop):
    """Starts and ends the newcomers' demo actions while the demo serves."""

    task_name = "burgerhub-demo-newcomers"

    def __init__(self, hub: Any, echo: Callable[[str], None] = print, *, runs_seconds: float = RUNS_SECONDS,
                 interval: float = LOOK_SECONDS) -> None:
        self.hub, self.echo = hub, echo
        self.runs_seconds, self.interval = runs_seconds, interval
        self._generation: int | None = None
        self._ends: set[asyncio.Task] = set()
        self._looking = asyncio.Lock()

    async def start(self) -> None:
        self._generation = (await self.hub.store.participants_version()).generation
        await self._end_later_all()
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        for task in list(self._ends):
            task.cancel()
        await asyncio.gather(*self._ends, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.look()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("looking for newcomers failed")

    async def look(self) -> list[str]:
        """Welcome whoever qualified since the last look; returns the demo actions started."""
        async with self._looking:
            return await self._look()

    async def _look(self) -> list[str]:
        version = await self.hub.store.participants_version()
        if version.generation == self._generation:
            return []
        changes = await self.hub.store.participant_changes(self._generation or 0, limit=10_000)
        texts = changes.texts
        if texts is None:
            # the changes since cannot be told (too many, or the store pruned its record of them when
            # the audience snapshot was saved): every participant is looked at, and whoever qualifies
            # and has no welcome yet gets one
            texts = []
            async with self.hub.store.scan_participants() as scan:
                async for chunk in scan:
                    texts.extend(chunk)
        started = []
        for text in texts:
            data = json.loads(text)
            place = welcome_place(data)
            if place is not None and (action_id := await self._welcome(data["id"], *place)):
                started.append(action_id)
        # only once every newcomer of these changes was welcomed: a welcome that failed is tried again
        # at the next look (a welcome is once per person however often it is tried)
        self._generation = changes.version.generation
        return started

    async def _welcome(self, participant_id: str, lat: float, lon: float) -> str | None:
        action_id = welcome_id(self.hub.secret, participant_id)
        if await self.hub.store.get_action(action_id) is not None:
            return None
        try:
            action = await self.hub.actions.start(
                welcome_action(action_id, lat, lon, runs_seconds=self.runs_seconds), DEMO_DISPATCHER
            )
        except Conflict:  # welcomed at this very moment by another look
            return None
        minutes = self.runs_seconds / 60
        self.echo(f"\nA newcomer signed up: demo action {action['id']} started around their address; "
                  f"it ends as 'found' in {minutes:.0f} minute{'s' if round(minutes) != 1 else ''}.")
        self._end_later(action_id, self.runs_seconds)
        return action_id

    async def _end_later_all(self) -> None:
        """After a restart: end the welcomes that ran their time, and end the others when theirs is up."""
        now = datetime.now(timezone.utc)
        for data in await self.hub.store.list_actions(status="active", limit=1000):
            if data["id"].startswith(ACTION_PREFIX) and data.get("started_by") == DEMO_DISPATCHER.name:
                ran = (now - datetime.fromisoformat(data["started_at"])).total_seconds()
                self._end_later(data["id"], max(0.0, self.runs_seconds - ran))

    def _end_later(self, action_id: str, delay: float) -> None:
        task = asyncio.get_running_loop().create_task(self._end(action_id, delay), name=f"{self.task_name}-end")
        self._ends.add(task)
        task.add_done_callback(self._ends.discard)

    async def _end(self, action_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        for attempt, pause in enumerate((*END_RETRY_SECONDS, None), start=1):
            try:
                await self.hub.actions.end(action_id, {"result": "found", "text": RESULT_TEXT}, DEMO_DISPATCHER)
                break
            except (Conflict, NotFound):
                return  # ended in the console, or expired, meanwhile
            except Exception as e:
                # the type only, no message or traceback: the store's message might quote what it was given
                if pause is None:
                    log.error("ending demo action %s failed %d times (%s); giving up", action_id, attempt,
                              type(e).__name__)
                    return
                log.warning("ending demo action %s failed (%s); trying again in %.0f s", action_id,
                            type(e).__name__, pause)
                await asyncio.sleep(pause)
        self.echo(f"\nDemo action {action_id} ended as 'found': the closing message goes to everyone it reached.")
