"""``GET /v1/channels/app/current``: a device asks for the payloads its pushes would have brought, on a
whole hub (both store backends), compared with what a Web Push service really received."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

import plugins.app
import plugins.app.current as current
from app_push_service import PushService
from hub.actions import Actor
from hub.api import create_app
from hub.testing import BACKENDS, RecordingPlugin
from plugins.app.regions import cell_of
from test_app_push import SETTINGS, SUBJECT, VAPID_PUBLIC

DISPATCHER = Actor("meldkamer", "dispatcher")
UTRECHT = (52.0894, 5.1100)
GRONINGEN = (53.2194, 6.5665)
ROUTES = """version: 1
channels: [app]
routes:
  - name: inquiries
    match: {urgency: non_urgent}
    channels: [recording]
"""


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    return request.param


@pytest.fixture
def fresh(monkeypatch):
    """Every question reads the store (no answer kept for a few seconds)."""
    monkeypatch.setattr(current, "CACHE_SECONDS", 0.0)


@pytest.fixture
async def served(make_hub, tmp_path, fresh, recording_channel):
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    config = {"hub": {"routes": str(routes)}, "channels": {"app": SETTINGS, "recording": {"token": "x"}}}
    async with PushService(vapid_public_key=VAPID_PUBLIC, subject=SUBJECT) as push, \
            make_hub(plugins=[plugins.app, RecordingPlugin()], config=config) as hub:
        client = TestClient(TestServer(create_app(hub, manage_hub=False)))
        await client.start_server()
        try:
            yield hub, client, push
        finally:
            await client.close()


def action(lat, lon, description, urgency="time_critical", type="missing_person"):
    return {"type": type, "urgency": urgency, "description": description,
            "area": {"type": "circle", "lat": lat, "lon": lon, "radius_m": 1500}}


async def ask(client, query: str, status: int = 200):
    resp = await client.get(f"/v1/channels/app/current?{query}")
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    return await resp.json()


async def test_a_device_gets_what_pushes_to_an_install_of_its_cells_brought(served):
    hub, client, push = served
    device = push.new_device()
    resp = await client.post("/v1/channels/app/subscriptions",
                             json={**device.subscription(push.base_url), "regions": [cell_of(*UTRECHT)]})
    assert resp.status == 201
    running = await hub.actions.start(action(*UTRECHT, "Jongen van 5, rode jas."), DISPATCHER)
    ended = await hub.actions.start(action(52.10, 5.12, "Meisje van 7, gele jas."), DISPATCHER)
    inquiry = await hub.actions.start(action(*UTRECHT, "Wie zag de inbraak?", "non_urgent", "burglary"), DISPATCHER)
    far = await hub.actions.start(action(*GRONINGEN, "Witte bestelbus."), DISPATCHER)
    assert await hub.engine.drain(10)
    await hub.actions.end(ended["id"], {"result": "found", "text": "Zij is veilig thuis."}, DISPATCHER)
    assert await hub.engine.drain(10)
    pushed = {(r.payload["action"], r.payload["kind"]): r.payload for r in push.received if r.token == device.token}
    assert set(pushed) == {(running["id"], "start"), (ended["id"], "start"), (ended["id"], "end")}

    got = (await ask(client, f"regions={cell_of(*UTRECHT)}"))["actions"]
    # running first, then the closing of the ended one; exactly the payloads the push service decrypted
    assert got == [pushed[(running["id"], "start")], pushed[(ended["id"], "end")]]
    assert inquiry["id"] not in {p["action"] for p in got}  # not routed to the app: never pushed

    # a cell elsewhere sees only its own action; a cell without any sees nothing
    [groningen] = (await ask(client, f"regions={cell_of(*GRONINGEN)},{cell_of(*UTRECHT)}&language=en"))["actions"][:1]
    assert groningen["action"] == far["id"] and groningen["title"] == "Burgernet: Missing person"
    assert groningen["text"].startswith("This is a call from Burgernet")
    assert (await ask(client, "regions=r:50.8:5.6"))["actions"] == []

    # an update: a device asking now gets the start at the new version, as a newly covered install would
    await hub.actions.update(running["id"], {"description": "Jongen van 5, rode jas, blauwe pet."}, DISPATCHER)
    [now, _] = (await ask(client, f"regions={cell_of(*UTRECHT)}"))["actions"]
    assert (now["action"], now["kind"], now["version"]) == (running["id"], "start", 2)
    assert "blauwe pet" in now["text"]


async def test_closings_are_answered_for_an_hour_and_the_answer_is_bounded(served, monkeypatch):
    hub, client, _ = served
    ids = [(await hub.actions.start(action(*UTRECHT, f"Persoon {i} vermist."), DISPATCHER))["id"]
           for i in range(current.MAX_ANSWER + 2)]
    got = (await ask(client, f"regions={cell_of(*UTRECHT)}"))["actions"]
    assert len(got) == current.MAX_ANSWER
    assert [p["action"] for p in got] == ids[::-1][: current.MAX_ANSWER]  # the newest first
    for action_id in ids:
        await hub.actions.end(action_id, {"result": "found"}, DISPATCHER)
    got = (await ask(client, f"regions={cell_of(*UTRECHT)}"))["actions"]
    assert len(got) == current.MAX_ANSWER and {p["kind"] for p in got} == {"end"}
    monkeypatch.setattr(current, "ENDED_WINDOW", -1.0)  # as if the hour had passed
    assert (await ask(client, f"regions={cell_of(*UTRECHT)}"))["actions"] == []


@pytest.mark.parametrize("query, field", [
    ("", "regions"),
    ("regions=", "regions"),
    ("regions=r:52.00:5.1", "regions.0"),
    ("regions=r:52.0:5.1,nowhere", "regions.1"),
    ("regions=r:91.0:5.1", "regions.0"),
    ("regions=" + ",".join(f"r:52.0:{j / 10:.1f}" for j in range(65)), "regions.64"),
    ("regions=r:52.0:5.1&language=de", "language"),
    ("regions=r:52.0:5.1&lat=52.09", "lat"),
])
async def test_bad_questions_are_refused_naming_the_field(served, query, field):
    _, client, _ = served
    body = await ask(client, query, 400)
    assert body["error"] == "validation_error" and body["field"] == field


async def test_an_area_over_hundreds_of_cells_is_matched_by_its_range(served):
    hub, client, _ = served
    square = [[51.0, 4.0], [51.0, 6.0], [53.0, 6.0], [53.0, 4.0]]  # 400 cells
    wide = await hub.actions.start({"type": "crisis", "urgency": "time_critical", "safety_advice": "Blijf binnen.",
                                    "description": "Grote brand, veel rook.", "area": {"type": "polygon", "points": square}},
                                   DISPATCHER)
    small = await hub.actions.start(action(*UTRECHT, "Jongen van 5, rode jas."), DISPATCHER)
    got = (await ask(client, f"regions={cell_of(*UTRECHT)}"))["actions"]
    assert [p["action"] for p in got] == [small["id"], wide["id"]]
    assert [p["action"] for p in (await ask(client, "regions=r:51.0:5.9"))["actions"]] == [wide["id"]]
    assert (await ask(client, "regions=r:53.1:5.1,r:50.9:5.1,r:52.0:6.1"))["actions"] == []  # just outside
    # the cells its box touches at the edge count, as for pushes (cells_covering)
    assert len((await ask(client, "regions=r:53.0:5.1"))["actions"]) == 1


async def test_the_laid_out_payloads_kept_are_those_of_the_actions_now(served):
    """Each payload is laid out once per action version; one of a version since replaced is dropped at the
    next read of the store (they were kept as long as the action ran, one more at each update)."""
    hub, client, _ = served
    running = await hub.actions.start(action(*UTRECHT, "Jongen van 5, rode jas."), DISPATCHER)
    for n in range(5):
        await ask(client, f"regions={cell_of(*UTRECHT)}")
        await hub.actions.update(running["id"], {"description": f"Jongen van 5, rode jas ({n})."}, DISPATCHER)
    [now] = (await ask(client, f"regions={cell_of(*UTRECHT)}"))["actions"]
    assert now["version"] == 6
    kept = hub.runtimes["app"].channel.current._bodies
    assert list(kept) == [(running["id"], 6, "start", "nl")]
