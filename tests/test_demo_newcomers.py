"""The demo's welcome for newcomers, on both store backends: a person who signed up, proved a contact
and has an address gets one demo action around it, ended as found a little later; sample participants
and people without a proven contact or an address get none; a restart ends what ran its time."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from hub.demo import sample_participants
from hub.demo_newcomers import DEMO_DISPATCHER, TITLE, Newcomers, welcome_id
from hub.geo import haversine_m
from hub.participants import Participant
from hub.testing import BACKENDS, RecordingPlugin

from conftest import person

HOME = (52.0907, 5.1214)


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


def newcomer(pid: str, **extra) -> dict:
    data = {"id": pid, "email": f"{pid}@example.net", "channels": ["recording"],
            "phones": [{"number": "+31612345670", "kind": "mobile"}],
            "addresses": [{"label": "home", "lat": HOME[0], "lon": HOME[1]}]}
    data.update(extra)
    return data


async def test_a_newcomer_with_a_proven_contact_and_an_address_gets_one_demo_action(make_hub, recording_channel, hub_cfg):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        await hub.registry.import_rows(sample_participants(5))
        said: list[str] = []
        welcome = Newcomers(hub, said.append, runs_seconds=0.5, interval=3600)
        await welcome.start()
        try:
            # what a person entered is unproven: no welcome yet; nor for someone without an address
            await hub.registry.register(newcomer("ann"), verified=False)
            # signed up (the link proved the address), no address yet
            await hub.registry.store_participant(Participant(id="bob", addresses=(), email="bob@example.net"))
            await hub.registry.register(sample_participants(7)[6])  # a sample participant (demo-00006)
            assert await welcome.look() == []
            # proven (as the sign-up link proves the e-mail address and a code the number)
            await hub.registry.register(newcomer("ann"))
            [action_id] = await welcome.look()
            assert action_id == welcome_id(hub.secret, "ann") and "ann" not in action_id
            action = await hub.store.get_action(action_id)
            assert action["title"] == TITLE and action["description"].startswith("DEMO, geen echte vermissing")
            assert action["started_by"] == DEMO_DISPATCHER.name and action["type"] == "missing_person"
            area = action["area"]
            distance = haversine_m(HOME[0], HOME[1], area["lat"], area["lon"])
            assert 100 < distance < area["radius_m"]  # the address lies inside, and is not the centre
            assert (await hub.actions.get(action_id))["counts"]["recording"]["start"]["targeted"] >= 1
            assert any("demo action" in line and action_id in line for line in said)

            # later changes of the same person start nothing new
            await hub.registry.register(newcomer("ann", language="en"))
            assert await welcome.look() == []
            for _ in range(50):
                if (await hub.store.get_action(action_id))["status"] == "ended":
                    break
                await asyncio.sleep(0.1)
            ended = await hub.store.get_action(action_id)
            assert ended["status"] == "ended" and ended["result"] == "found" and "ongedeerd" in ended["result_text"]
        finally:
            await welcome.stop()


async def test_after_a_restart_a_welcome_that_ran_its_time_ends(make_hub, recording_channel, hub_cfg):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        first = Newcomers(hub, runs_seconds=3600, interval=3600)
        await first.start()
        await hub.registry.register(person("cas", *HOME, channels=("recording",)))
        [action_id] = await first.look()
        await first.stop()  # the demo stopped before the action's time was up
        assert (await hub.store.get_action(action_id))["status"] == "active"
        again = Newcomers(hub, runs_seconds=0.0, interval=3600)
        await again.start()
        try:
            for _ in range(50):
                if (await hub.store.get_action(action_id))["status"] == "ended":
                    break
                await asyncio.sleep(0.1)
            assert (await hub.store.get_action(action_id))["result"] == "found"
            await hub.registry.register(person("cas", *HOME, channels=("recording", "sms")))
            assert await again.look() == []  # once per newcomer, also across a restart
        finally:
            await again.stop()


async def test_the_outbox_lists_the_codes_and_links_apart(store):
    """What ``burgerhub outbox --personal`` shows a newcomer: their code, not the actions' messages."""
    row = {"delivery_id": 0, "channel": "sms", "language": "nl", "address": "+31612345678"}
    await store.outbox_add([{**row, "action_id": "", "kind": "code", "text": "Uw code is 123456."},
                            {**row, "delivery_id": 7, "action_id": "act-1", "kind": "start", "text": "Hier volgt een oproep."}])
    assert [m["text"] for m in await store.outbox_list(channel="sms", limit=1)] == ["Hier volgt een oproep."]
    assert [m["text"] for m in await store.outbox_list(channel="sms", personal=True, limit=1)] == ["Uw code is 123456."]


@pytest.mark.parametrize("place", [(90.0, 0.0), (52.0, 180.0), (-52.0, -180.0)])
async def test_a_newcomer_at_the_edge_of_the_map_is_welcomed_too(make_hub, recording_channel, hub_cfg, place):
    """The centre is kept on the earth: a centre beyond latitude 90 or longitude 180 was refused by the
    action service, and the welcome failed at every look, holding up every later newcomer."""
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        welcome = Newcomers(hub, runs_seconds=3600, interval=3600)
        await welcome.start()
        try:
            await hub.registry.register(newcomer("edge", addresses=[{"label": "home", "lat": place[0], "lon": place[1]}]))
            await hub.registry.register(newcomer("next"))
            started = await welcome.look()
            assert started == [welcome_id(hub.secret, "edge"), welcome_id(hub.secret, "next")]
            area = (await hub.store.get_action(started[0]))["area"]
            distance = haversine_m(place[0], place[1], area["lat"], area["lon"])
            assert distance < area["radius_m"]
            if abs(place[0]) < 90:  # at a pole every longitude is the same point
                assert distance > 100
        finally:
            await welcome.stop()


async def test_a_newcomer_is_welcomed_when_the_changes_since_the_last_look_cannot_be_told(make_hub, recording_channel,
                                                                                         hub_cfg):
    """Saving the audience snapshot prunes the participants' tombstones, after which the store tells no
    changes since an older generation: a newcomer who signed up just before was skipped for good."""
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        welcome = Newcomers(hub, runs_seconds=3600, interval=3600)
        await welcome.start()
        try:
            await hub.registry.register(newcomer("dee"))
            # what the snapshot's save does once the index reflects the newcomer's sign-up
            await hub.store.prune_participant_tombstones((await hub.store.participants_version()).generation)
            assert (await hub.store.participant_changes(0)).texts is None
            assert await welcome.look() == [welcome_id(hub.secret, "dee")]
            await hub.registry.register(newcomer("dee", language="en"))
            assert await welcome.look() == []  # still once per newcomer
        finally:
            await welcome.stop()


async def test_a_welcome_running_longer_than_half_an_hour_ends_as_found_not_expired(make_hub, recording_channel,
                                                                                   hub_cfg):
    """``burgerhub demo --newcomer-minutes 60``: the action's expiry followed the default five minutes
    (half an hour), so the expiry sweep ended it without result before it could end as found."""
    from datetime import datetime

    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        welcome = Newcomers(hub, runs_seconds=3600, interval=3600)
        await welcome.start()
        try:
            await hub.registry.register(newcomer("eve"))
            [action_id] = await welcome.look()
            action = await hub.store.get_action(action_id)
            runs = datetime.fromisoformat(action["expires_at"]) - datetime.fromisoformat(action["started_at"])
            assert runs.total_seconds() > 3600
        finally:
            await welcome.stop()


BUSY = f"database is locked (+31612345670, {HOME[0]}, {HOME[1]})"  # what a store's message might quote


@contextlib.asynccontextmanager
async def _welcome_ended_by(make_hub, hub_cfg, monkeypatch, end, name: str):
    """A hub whose actions end through ``end(real_end, action_id, ...)``, its retry pauses short, and
    the welcome of newcomer ``name``: yields ``(hub, welcome, action_id)``."""
    import hub.demo_newcomers

    monkeypatch.setattr(hub.demo_newcomers, "END_RETRY_SECONDS", (0.05, 0.05), raising=False)
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub_:
        real_end = hub_.actions.end

        async def ending(action_id, *args, **kwargs):
            return await end(real_end, action_id, *args, **kwargs)

        monkeypatch.setattr(hub_.actions, "end", ending)
        welcome = Newcomers(hub_, runs_seconds=0.0, interval=3600)
        await welcome.start()
        try:
            await hub_.registry.register(newcomer(name))
            [action_id] = await welcome.look()
            yield hub_, welcome, action_id
        finally:
            await welcome.stop()


async def test_a_welcome_whose_end_fails_once_is_ended_again_as_found(make_hub, recording_channel, hub_cfg,
                                                                      monkeypatch, caplog):
    """Ending a welcome that failed once (the store briefly busy) was logged and never tried again, so
    the action expired without result instead of ending as found."""
    failures = []

    async def busy_once(real_end, action_id, *args, **kwargs):
        if not failures:
            failures.append(action_id)
            raise RuntimeError(BUSY)
        return await real_end(action_id, *args, **kwargs)

    async with _welcome_ended_by(make_hub, hub_cfg, monkeypatch, busy_once, "fay") as (hub_, _, action_id):
        for _ in range(50):
            if (await hub_.store.get_action(action_id))["status"] == "ended":
                break
            await asyncio.sleep(0.1)
        ended = await hub_.store.get_action(action_id)
        assert failures == [action_id]
        assert ended["status"] == "ended" and ended["result"] == "found"
        assert "+31612345670" not in caplog.text and str(HOME[0]) not in caplog.text


async def test_a_welcome_whose_end_keeps_failing_is_tried_a_bounded_number_of_times(make_hub, recording_channel,
                                                                                    hub_cfg, monkeypatch, caplog):
    tries = []

    async def busy(real_end, action_id, *args, **kwargs):
        tries.append(action_id)
        raise RuntimeError(BUSY)

    async with _welcome_ended_by(make_hub, hub_cfg, monkeypatch, busy, "gus") as (_, welcome, action_id):
        for _ in range(50):
            if not welcome._ends:
                break
            await asyncio.sleep(0.05)
        assert tries == [action_id] * 3 and not welcome._ends
        assert "giving up" in caplog.text
        assert "+31612345670" not in caplog.text and str(HOME[0]) not in caplog.text
