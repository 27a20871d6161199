"""An action's life: start, update (new text, larger area), end; the closing message to exactly the alerted."""

from __future__ import annotations

import pytest

from hub.errors import Conflict, NotFound, ValidationError
from hub.testing import BACKENDS, RecordingPlugin

from conftest import DISPATCHER, UTRECHT, person, start_payload

LAT, LON = UTRECHT
KM = 1 / 111.0  # degrees of latitude per kilometre, roughly


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    """Every test here runs on the embedded store and on a private PostgreSQL."""
    return request.param


async def populate(hub, people):
    for p in people:
        await hub.registry.register(p)


async def test_start_reaches_the_area_once_per_person_and_ends_with_the_alerted(make_hub, recording_channel, hub_cfg):
    people = [
        person("near1", LAT + 0.5 * KM, LON),
        # two addresses in the area: still one message
        {**person("near2", LAT, LON + 0.005), "addresses": [
            {"label": "home", "lat": LAT + 0.2 * KM, "lon": LON},
            {"label": "work", "lat": LAT - 0.3 * KM, "lon": LON}]},
        person("far", LAT + 20 * KM, LON),
        person("email_only", LAT, LON, channels=("email",)),
    ]
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        await populate(hub, people)
        action = await hub.actions.start(start_payload(), DISPATCHER)
        assert action["audience"]["channels"]["recording"]["targeted"] == 2
        assert await hub.engine.drain(10)
        starts = [a for k, a, _ in recording_channel.delivered if k == "start"]
        assert sorted(starts) == sorted([people[0]["phones"][0]["number"], people[1]["phones"][0]["number"]])

        # a participant changes preferences after being alerted: the closing message still reaches them
        changed = {**people[0], "channels": []}
        await hub.registry.update("near1", changed)
        # and someone new moves into the area: they were never alerted, so no closing message
        await hub.registry.register(person("newcomer", LAT, LON))

        ended = await hub.actions.end(action["id"], {"result": "arrested", "text": "Dank!"}, DISPATCHER)
        assert ended["queued"]["end"] == 2
        assert await hub.engine.drain(10)
        ends = sorted(a for k, a, _ in recording_channel.delivered if k == "end")
        assert ends == sorted(starts)
        closing = [t for k, _, t in recording_channel.delivered if k == "end"][0]
        assert "aangehouden" in closing and "Dank!" in closing

        got = await hub.actions.get(action["id"])
        assert got["status"] == "ended"
        assert got["counts"]["recording"]["start"]["sent"] == 2
        assert got["counts"]["recording"]["end"]["sent"] == 2
        audit = await hub.store.list_audit(subject=action["id"])
        assert [e["verb"] for e in audit] == ["action.end", "action.start"]


async def test_one_phone_number_never_gets_the_same_message_twice(make_hub, recording_channel, hub_cfg):
    shared = "+31612345678"
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        await populate(hub, [person("a", LAT, LON, phone=shared), person("b", LAT, LON, phone=shared)])
        await hub.actions.start(start_payload(), DISPATCHER)
        assert await hub.engine.drain(10)
    assert [a for _, a, _ in recording_channel.delivered] == [shared]


async def test_update_reaches_the_reached_and_a_larger_area_only_the_new(make_hub, recording_channel, hub_cfg):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        inner, outer = person("inner", LAT, LON), person("outer", LAT + 4 * KM, LON)
        await populate(hub, [inner, outer])
        action = await hub.actions.start(start_payload(), DISPATCHER)
        assert await hub.engine.drain(10)
        result = await hub.actions.update(
            action["id"],
            {"description": "Man, zwarte hoodie, nu op een rode scooter.",
             "area": {"type": "circle", "lat": LAT, "lon": LON, "transport": "car"}},
            DISPATCHER,
        )
        assert result["queued"] == {"start": 1, "update": 1}
        assert result["audience"]["transport"] == "car"
        assert await hub.engine.drain(10)
        sent = sorted((k, a) for k, a, _ in recording_channel.delivered)
        assert sent == sorted([
            ("start", inner["phones"][0]["number"]),
            ("update", inner["phones"][0]["number"]),
            ("start", outer["phones"][0]["number"]),
        ])
        update_text = [t for k, _, t in recording_channel.delivered if k == "update"][0]
        assert "rode scooter" in update_text
        await hub.actions.end(action["id"], {"result": "ended_without_result"}, DISPATCHER)
        assert await hub.engine.drain(10)
        ends = sorted(a for k, a, _ in recording_channel.delivered if k == "end")
        assert ends == sorted([inner["phones"][0]["number"], outer["phones"][0]["number"]])


async def test_bad_input_names_the_field(make_hub, hub_cfg):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_cfg) as hub:
        with pytest.raises(ValidationError) as e:
            await hub.actions.start(start_payload(area={"type": "circle", "lat": 52.0, "lon": 5.0, "transport": "plane"}), DISPATCHER)
        assert e.value.field.startswith("area")
        with pytest.raises(ValidationError) as e:
            await hub.actions.start(start_payload(urgency="asap"), DISPATCHER)
        assert e.value.field == "urgency"
        with pytest.raises(NotFound):
            await hub.actions.end("act-nope00", {"result": "arrested"}, DISPATCHER)
        action = await hub.actions.start(start_payload(), DISPATCHER)
        await hub.actions.end(action["id"], {"result": "arrested"}, DISPATCHER)
        with pytest.raises(Conflict):
            await hub.actions.end(action["id"], {"result": "arrested"}, DISPATCHER)
        with pytest.raises(Conflict):
            await hub.actions.update(action["id"], {"description": "too late"}, DISPATCHER)


async def test_polygon_and_transport_radius(make_hub, recording_channel, hub_cfg):
    async with make_hub(plugins=[RecordingPlugin()], config={**hub_cfg, "transport_radius_m": {"on_foot": 800}}) as hub:
        await populate(hub, [person("in", LAT, LON), person("out", LAT + 2 * KM, LON)])
        plan = await hub.actions.plan(
            start_payload(area={"type": "circle", "lat": LAT, "lon": LON, "transport": "on_foot"}), DISPATCHER)
        assert plan["audience"]["radius_m"] == 800
        assert plan["audience"]["channels"]["recording"]["targeted"] == 1
        square = [[LAT - KM, LON - KM], [LAT - KM, LON + KM], [LAT + 3 * KM, LON + KM], [LAT + 3 * KM, LON - KM]]
        plan = await hub.actions.plan(start_payload(area={"type": "polygon", "points": square}), DISPATCHER)
        assert plan["audience"]["channels"]["recording"]["targeted"] == 2
        assert recording_channel.delivered == []  # a plan sends nothing
