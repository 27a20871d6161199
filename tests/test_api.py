"""The HTTP API: roles, validation errors that name the field, lifecycle, tips, participants, rules."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer

from hub.api import create_app
from hub.testing import BACKENDS, RecordingPlugin, read_events, tiny_image

from conftest import DISPATCH, OPERATE, TOKENS, UTRECHT, person, start_payload


@pytest.fixture(params=BACKENDS)
def hub_backend(request):
    """Every test here runs on the embedded store and on a private PostgreSQL."""
    return request.param


async def test_only_a_dispatcher_starts_and_ends_actions(api):
    async with api() as (client, hub):
        r = await client.post("/v1/actions", json=start_payload())
        assert r.status == 401
        r = await client.post("/v1/actions", json=start_payload(), headers=OPERATE)
        assert r.status == 403 and "dispatcher" in (await r.json())["reason"]
        r = await client.post("/v1/actions", json=start_payload(), headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
        assert r.status == 401
        r = await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)
        assert r.status == 201
        action = await r.json()
        r = await client.post(f"/v1/actions/{action['id']}/end", json={"result": "arrested"}, headers=OPERATE)
        assert r.status == 403
        r = await client.post(f"/v1/actions/{action['id']}/end", json={"result": "arrested"}, headers=DISPATCH)
        assert r.status == 200
        r = await client.get("/v1/audit", headers=OPERATE)
        verbs = [e["verb"] for e in (await r.json())["audit"]]
        assert verbs[:2] == ["action.end", "action.start"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"type": "alien_invasion"}, "type"),
        ({"urgency": None}, "urgency"),
        ({"area": {"type": "circle", "lat": 95, "lon": 5, "radius_m": 10}}, "area"),
        ({"description": ""}, "description"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_bad_input_is_refused_with_the_field_and_reason(api, change, field):
    async with api() as (client, hub):
        r = await client.post("/v1/actions", json=start_payload(**change), headers=DISPATCH)
        assert r.status == 422
        body = await r.json()
        assert body["field"].startswith(field) and body["reason"]
        assert await hub.store.list_actions() == []


async def test_malformed_json_is_a_400(api):
    async with api() as (client, _):
        r = await client.post("/v1/actions", data="{nope", headers={**DISPATCH, "Content-Type": "application/json"})
        assert r.status == 400 and (await r.json())["error"] == "invalid_json"


async def test_live_counts_tips_with_photo_and_closing(api, recording_channel):
    async with api() as (client, hub):
        for i in range(5):
            await hub.registry.register(person(f"p{i}", *UTRECHT))
        r = await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)
        action_id = (await r.json())["id"]
        assert await hub.engine.drain(10)
        r = await client.get(f"/v1/actions/{action_id}", headers=DISPATCH)
        counts = (await r.json())["counts"]["recording"]["start"]
        assert counts["targeted"] == 5 and counts["sent"] == 5

        import aiohttp

        form = aiohttp.FormData()
        form.add_field("text", "Zag hem bij de Neude")
        form.add_field("photo", tiny_image("image/jpeg"), filename="x.jpg", content_type="image/jpeg")
        r = await client.post(f"/v1/actions/{action_id}/tips", data=form)
        assert r.status == 201
        r = await client.get(f"/v1/actions/{action_id}/tips", headers=DISPATCH)
        tips = (await r.json())["tips"]
        assert tips[0]["text"] == "Zag hem bij de Neude" and tips[0]["has_photo"]
        r = await client.get(tips[0]["photo_url"], headers=DISPATCH)
        assert await r.read() == tiny_image("image/jpeg")
        r = await client.post(f"/v1/actions/{action_id}/tips", json={"text": ""})
        assert r.status == 422 and (await r.json())["field"] == "text"

        r = await client.post(f"/v1/actions/{action_id}/end", json={"result": "arrested"}, headers=DISPATCH)
        assert (await r.json())["queued"]["end"] == 5
        assert await hub.engine.drain(10)
        r = await client.get(f"/v1/actions/{action_id}/deliveries", headers=DISPATCH)
        rows = (await r.json())["deliveries"]
        assert sorted({r["kind"] for r in rows}) == ["end", "start"] and all(r["status"] == "sent" for r in rows)


async def test_participants_manage_only_themselves(api):
    async with api() as (client, hub):
        me = person("ignored", *UTRECHT)
        me_without_id = {k: v for k, v in me.items() if k != "id"}
        r = await client.post("/v1/participants", json=me)
        assert r.status == 201
        body = await r.json()
        mine = {"Authorization": f"Bearer {body['token']}"}
        my_id = body["participant"]["id"]
        assert my_id != "ignored"  # self-registration cannot pick an id
        r = await client.post("/v1/participants", json=person("other", *UTRECHT), headers=OPERATE)
        assert r.status == 201
        assert (await client.get(f"/v1/participants/{my_id}", headers=mine)).status == 200
        assert (await client.get("/v1/participants/other", headers=mine)).status == 403
        r = await client.put(f"/v1/participants/{my_id}", json={**me_without_id, "channels": ["email"], "email": "me@example.org"}, headers=mine)
        assert r.status == 200 and (await r.json())["channels"] == ["email"]
        r = await client.put(f"/v1/participants/{my_id}", json={**me_without_id, "phones": [{"number": "12"}]}, headers=mine)
        assert r.status == 422 and (await r.json())["field"].startswith("phones[0]")
        assert (await client.post("/v1/actions", json=start_payload(), headers=mine)).status == 403
        assert (await client.delete(f"/v1/participants/{my_id}", headers=mine)).status == 204
        assert (await client.get(f"/v1/participants/{my_id}", headers=OPERATE)).status == 404
        assert await hub.store.get_participant(my_id) is None


async def test_erasure_removes_personal_data_from_the_ledger(api):
    async with api() as (client, hub):
        p = person("erase-me", *UTRECHT)
        await hub.registry.register(p)
        r = await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)
        action_id = (await r.json())["id"]
        assert await hub.engine.drain(10)
        assert (await client.delete("/v1/participants/erase-me", headers=OPERATE)).status == 204
        rows = await hub.store.ledger_rows(action_id)
        assert all(p["phones"][0]["number"] not in r["address"] and r["participant_id"] is None for r in rows)


async def test_csv_import_keeps_good_rows_and_names_bad_fields(api):
    async with api() as (client, hub):
        csv = (
            "id,language,mobile,email,channels,home_lat,home_lon\n"
            "c1,nl,0612345678,a@example.org,sms;email,52.09,5.11\n"
            "c2,nl,12,b@example.org,sms,52.09,5.11\n"
            "c3,en,+31687654321,,sms,52.10,5.12\n"
        )
        r = await client.post("/v1/participants/import", data=csv, headers={**OPERATE, "Content-Type": "text/csv"})
        report = await r.json()
        assert report["imported"] == 2 and report["rejected"] == 1
        err = report["errors"][0]
        assert "mobile" in str(err)
        assert await hub.store.count_participants() == 2


async def test_rules_with_an_error_are_refused_and_the_old_stay(api):
    async with api() as (client, hub):
        before = hub.rules.text
        r = await client.put("/v1/routes", data="version: 1\nchannels: [recording]\nroutes: [{name: x, match: {urgency: soon}}]\n",
                             headers=OPERATE)
        body = await r.json()
        assert r.status == 422 and "urgency" in body["field"] and "soon" in body["reason"]
        assert hub.rules.text == before
        r = await client.put("/v1/routes", data="version: 1\nchannels: [recording]\n", headers=DISPATCH)
        assert r.status == 403
        r = await client.post("/v1/routes/test", json={"type": "burglary", "urgency": "non_urgent"}, headers=OPERATE)
        assert (await r.json())["route"]["channels"] == ["recording"]


async def test_health_metrics_openapi_and_sandbox(make_hub, routes_to_recording):
    cfg = {"hub": {"routes": routes_to_recording}, "api": {"tokens": TOKENS}}
    async with make_hub(plugins=[RecordingPlugin()], config=cfg) as hub:
        client = TestClient(TestServer(create_app(hub, manage_hub=False)))
        await client.start_server()
        try:
            await hub.registry.register(person("p", *UTRECHT))
            assert (await client.get("/v1/health")).status == 200
            r = await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)
            assert await hub.engine.drain(10)
            r = await client.get("/v1/sandbox/outbox", headers=OPERATE)
            body = await r.json()
            assert body["sandbox"] is True and body["messages"][0]["channel"] == "recording"
            assert "Inbraak" in body["messages"][0]["text"]
            metrics = await (await client.get("/v1/metrics")).text()
            assert 'burgerhub_deliveries_total{channel="recording",kind="start",status="delivered"} 1.0' in metrics
            doc = await (await client.get("/v1/openapi.json")).json()
            assert doc["openapi"].startswith("3.1")
            assert "post" in doc["paths"]["/v1/actions"]
            assert "area" in doc["components"]["schemas"]["action_start"]["properties"]
            channels = await (await client.get("/v1/channels", headers=OPERATE)).json()
            assert channels["channels"]["recording"]["mode"] == "sandbox"
        finally:
            await client.close()


async def test_the_console_is_served_by_default(api):
    async with api() as (client, hub):
        r = await client.get("/console/")
        assert r.status == 200 and "text/html" in r.headers["Content-Type"]
        config = await (await client.get("/console/config.json")).json()
        assert config["tiles"] is None and config["network_name"] == "Burgernet"


async def test_the_console_can_be_switched_off_or_given_map_tiles(api):
    async with api(console={"enabled": False}) as (client, hub):
        assert (await client.get("/console/")).status == 404
    async with api(console={"tiles_url": "http://127.0.0.1:9/{z}/{x}/{y}.png"}) as (client, hub):
        config = await (await client.get("/console/config.json")).json()
        assert config["tiles"]["url"] == "http://127.0.0.1:9/{z}/{x}/{y}.png"


def test_a_console_setting_with_an_error_names_it():
    from hub.config import config_from_dict
    from hub.errors import ConfigError

    with pytest.raises(ConfigError, match=r"console.enabled: must be true or false"):
        config_from_dict({"console": {"enabled": "yes"}})
    with pytest.raises(ConfigError, match=r"console.tiles: unknown setting"):
        config_from_dict({"console": {"tiles": "x"}})


async def test_the_event_stream_sends_counts_and_each_tip(api):
    async with api() as (client, hub):
        await hub.registry.register(person("p0", *UTRECHT))
        action_id = (await (await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)).json())["id"]
        await client.post(f"/v1/actions/{action_id}/tips", json={"text": "eerste"})
        assert (await client.get(f"/v1/actions/{action_id}/events")).status == 401
        assert (await client.get("/v1/actions/act-nope/events", headers=DISPATCH)).status == 404
        async with client.get(f"/v1/actions/{action_id}/events", headers=DISPATCH) as stream:
            assert stream.headers["Content-Type"] == "text/event-stream"
            first = await read_events(stream, 2)
            assert [n for n, _ in first] == ["action", "tip"]
            assert first[0][1]["id"] == action_id and first[1][1]["text"] == "eerste"
            await client.post(f"/v1/actions/{action_id}/tips", json={"text": "tweede"})
            later = []
            while not any(n == "tip" for n, _ in later):  # count changes may come first
                later += await read_events(stream, 1)
            assert [d["text"] for n, d in later if n == "tip"] == ["tweede"]
        # resuming after the newest tip held sends only what is newer
        newest = first[1][1]["id"]
        async with client.get(f"/v1/actions/{action_id}/events", params={"after": newest}, headers=DISPATCH) as stream:
            events = await read_events(stream, 2)
            assert [d["text"] for n, d in events if n == "tip"] == ["tweede"]
        # a client that goes away ends its stream on the server within a poll interval
        import asyncio

        for _ in range(50):
            if not hub_streams(client):
                break
            await asyncio.sleep(0.1)
        assert hub_streams(client) == set()


async def test_each_tip_reaches_this_processs_event_streams_once(api):
    """On PostgreSQL a tip is told through the store's notification only (it reaches the process that
    wrote it too); on SQLite directly. Either way one signal and one stream event per tip."""
    async with api() as (client, hub):
        action_id = (await (await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)).json())["id"]
        signals = hub.subscribe_tips()
        try:
            async with client.get(f"/v1/actions/{action_id}/events", headers=DISPATCH) as stream:
                assert [n for n, _ in await read_events(stream, 1)] == ["action"]
                ids = []
                for text in ("eerste", "tweede"):
                    r = await client.post(f"/v1/actions/{action_id}/tips", json={"text": text})
                    ids.append((await r.json())["id"])
                r = await client.post(f"/v1/actions/{action_id}/phone-tips", json={"text": "gebeld"}, headers=DISPATCH)
                assert r.status == 201, await r.text()
                ids.append((await r.json())["id"])
                tips = []
                while len(tips) < 3:
                    tips += [d for n, d in await read_events(stream, 1) if n == "tip"]
                assert [t["id"] for t in tips] == ids
                await asyncio.sleep(0.5)  # a second signal of any tip would have come by now
                got = []
                while not signals.empty():
                    got.append(signals.get_nowait())
                assert got == [(action_id, i) for i in ids]
        finally:
            hub.unsubscribe_tips(signals)


async def test_a_photo_stops_circulating_once_its_action_has_ended(api):
    from hub.photo_circulation import GRACE_SECONDS, PhotoCirculation

    async with api() as (client, hub):
        now = [time.time()]
        hub.photo_circulation = PhotoCirculation(hub.store, clock=lambda: now[0])
        r = await client.post("/v1/photos", data=tiny_image("image/png"), headers={**DISPATCH, "Content-Type": "image/png"})
        url = (await r.json())["url"]
        r = await client.get(url)
        assert r.status == 200  # no action names it yet: uploaded for one about to start
        missing = start_payload(type="missing_person", photos=[{"url": url}])
        action = await (await client.post("/v1/actions", json=missing, headers=DISPATCH)).json()
        now[0] += 60
        r = await client.get(url)
        assert r.status == 200 and r.headers["Cache-Control"] == "public, max-age=300"
        r = await client.post(f"/v1/actions/{action['id']}/end", json={"result": "found"}, headers=DISPATCH)
        assert r.status == 200, await r.text()
        now[0] += 60
        assert (await client.get(url)).status == 200  # within the grace: the closing message renders
        now[0] += GRACE_SECONDS
        r = await client.get(url)
        assert r.status == 410 and (await r.json())["error"] == "gone"
        assert (await client.get(url, headers={"Authorization": "Bearer not-a-token-of-this-hub"})).status == 410
        for staff in (DISPATCH, OPERATE):
            r = await client.get(url, headers=staff)
            assert r.status == 200 and await r.read() == tiny_image("image/png")
            assert r.headers["Cache-Control"] == "private, no-store"
        # the same picture in a running action goes round again
        await client.post("/v1/actions", json=start_payload(photos=[{"url": url}]), headers=DISPATCH)
        now[0] += 60
        assert (await client.get(url)).status == 200


async def test_a_photo_name_no_photo_has_is_not_looked_for_in_the_actions(api):
    """Any name of the right form is 404 at the cost of one key look-up: the search of every action's
    record for the photo (is it withdrawn?) is only made for a photo that exists."""
    async with api() as (client, hub):
        searched = []
        real = hub.store.photo_actions

        async def spy(name):
            searched.append(name)
            return await real(name)

        hub.store.photo_actions = spy
        for k in range(5):
            r = await client.get(f"/v1/photos/{k:032x}.jpg")
            assert r.status == 404
        assert searched == []
        r = await client.post("/v1/photos", data=tiny_image("image/png"), headers={**DISPATCH, "Content-Type": "image/png"})
        url = (await r.json())["url"]
        assert (await client.get(url)).status == 200 and len(searched) == 1


async def test_the_ledger_of_an_action_comes_a_bounded_page_at_a_time(api):
    async with api() as (client, hub):
        for i in range(7):
            await hub.registry.register(person(f"p{i}", *UTRECHT))
        action_id = (await (await client.post("/v1/actions", json=start_payload(), headers=DISPATCH)).json())["id"]
        url = f"/v1/actions/{action_id}/deliveries"
        whole = await (await client.get(url, headers=DISPATCH)).json()
        assert len(whole["deliveries"]) == 7 and whole["next_after"] is None
        pages, after = [], 0
        while after is not None:
            r = await client.get(url, params={"after": after, "limit": 3}, headers=DISPATCH)
            assert r.status == 200, await r.text()
            page = await r.json()
            pages.append([row["id"] for row in page["deliveries"]])
            after = page["next_after"]
        assert [len(p) for p in pages] == [3, 3, 1]
        assert sum(pages, []) == [row["id"] for row in whole["deliveries"]]
        for bad in ({"limit": 0}, {"limit": 5001}, {"limit": "x"}, {"after": -1}, {"after": "1e3"}):
            r = await client.get(url, params=bad, headers=DISPATCH)
            assert r.status == 422 and (await r.json())["field"] == next(iter(bad)), bad
        r = await client.get(url, params={"limit": 5000}, headers=DISPATCH)
        assert r.status == 200 and len((await r.json())["deliveries"]) == 7


def hub_streams(client):
    from hub.api.events import STREAMS

    return client.server.app[STREAMS]


async def test_the_openapi_document_lists_api_and_channel_routes_only(make_hub, tmp_path):
    async with make_hub(entry_points=True, engine=False) as hub:
        client = TestClient(TestServer(create_app(hub, manage_hub=False)))
        await client.start_server()
        try:
            paths = (await (await client.get("/v1/openapi.json")).json())["paths"]
        finally:
            await client.close()
    assert all(p.startswith("/v1/") for p in paths)
    # each channel's callbacks under its own mount point, once
    assert "post" in paths["/v1/channels/sms/status"] and "/v1/channels/sms/v1/channels/sms/status" not in paths
    assert "/v1/actions/{id}/events" in paths


@pytest.mark.parametrize("hub_backend", ["postgresql"])
async def test_a_load_balancer_may_send_any_request_to_any_hub(api):
    """Two hubs on one PostgreSQL: a photo uploaded through one is served by the other; a tip sent
    through one reaches a dispatcher's event stream on the other; an action started on one ends on
    the other; a participant registered on one is selected by the other."""
    async with api() as (a, hub_a), api() as (b, hub_b):
        r = await a.post("/v1/photos", data=tiny_image("image/png"), headers={**DISPATCH, "Content-Type": "image/png"})
        assert r.status == 201
        url = (await r.json())["url"]
        served = await b.get(url)
        assert served.status == 200 and await served.read() == tiny_image("image/png")

        r = await a.post("/v1/participants?verified=true", json=person("p1", *UTRECHT), headers=OPERATE)
        assert r.status == 201, await r.text()
        for _ in range(50):
            if "p1" in hub_b.audience:
                break
            await asyncio.sleep(0.05)
        r = await b.post("/v1/actions", json=start_payload(photos=[{"url": url}]), headers=DISPATCH)
        assert r.status == 201, await r.text()
        action = await r.json()
        assert action["audience"]["channels"]["recording"]["targeted"] == 1

        async with b.get(f"/v1/actions/{action['id']}/events", headers=DISPATCH) as stream:
            await read_events(stream, 1)
            await a.post(f"/v1/actions/{action['id']}/tips", json={"text": "gezien bij het station"})
            later = []
            while not any(n == "tip" for n, _ in later):
                later += await read_events(stream, 1)
            assert [d["text"] for n, d in later if n == "tip"] == ["gezien bij het station"]
        r = await a.post(f"/v1/actions/{action['id']}/end", json={"result": "arrested"}, headers=DISPATCH)
        assert r.status == 200, await r.text()
