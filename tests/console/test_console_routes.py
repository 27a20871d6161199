"""The console's own routes without a browser: page and assets, config, who-am-I, tickets, event stream."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from hub.console import install
from hub.console.outline import TARGET, build, render
from hub.console.tickets import TicketSigner
from hub.console.web import ConsoleSettings
from hub.errors import AuthError, ConfigError
from hub.geo import point_in_polygon
from hub.testing import RecordingPlugin, read_events, tiny_image

from conftest import person, start_payload
from console_support import DISPATCHER_TOKEN, OPERATOR_TOKEN, add_participants, hub_config, serve

DISPATCH = {"Authorization": f"Bearer {DISPATCHER_TOKEN}"}
OPERATE = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
def console(make_hub, recording_channel, routes_to_recording):
    """``async with console(**install_kwargs) as (base_url, http, hub)``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def factory(config=None, **kw):
        cfg = hub_config(routes_to_recording, **(config or {}))
        async with make_hub(plugins=[RecordingPlugin()], config=cfg) as hub:
            async with serve(hub, **kw) as base:
                timeout = aiohttp.ClientTimeout(total=10)
                async with aiohttp.ClientSession(base, timeout=timeout) as http:
                    yield base, http, hub

    return factory


async def test_the_page_and_its_assets_are_served_with_a_strict_policy(console):
    async with console() as (_, http, _hub):
        r = await http.get("/console", allow_redirects=False)
        assert r.status == 308 and r.headers["Location"] == "/console/"
        r = await http.get("/console/")
        assert r.status == 200 and r.content_type == "text/html"
        assert 'src="js/main.js"' in await r.text()
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "img-src 'self' data: blob:;" in csp  # no tile server configured
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        for path, ctype in [
            ("/console/js/main.js", "text/javascript"),
            ("/console/console.css", "text/css"),
            ("/console/vendor/leaflet/leaflet.js", "text/javascript"),
            ("/console/vendor/leaflet/images/layers.png", "image/png"),
            ("/console/data/outline.geojson", "application/geo+json"),
        ]:
            r = await http.get(path)
            assert r.status == 200 and r.content_type == ctype, path
        for path in ["/console/../web.py", "/console/%2e%2e/web.py", "/console/..%2fweb.py", "/console/nope.js",
                     "/console/js", "/console/.hidden"]:
            r = await http.get(path)
            assert r.status == 404, path


async def test_config_tells_the_radius_per_mode_and_no_tiles_by_default(console):
    async with console(config={"transport_radius_m": {"car": 9000}}) as (_, http, _hub):
        body = await (await http.get("/console/config.json")).json()
        assert body["tiles"] is None
        assert body["radius_m"] == {"on_foot": 1000.0, "bicycle": 2500.0, "scooter": 4000.0, "car": 9000.0}
        assert "missing_person" in body["types"] and body["results"][0] == "found"
        assert body["network_name"] == "Burgernet"
        # the end form offers only results that fit the action's type; the live view warns before expiry
        assert body["results_by_type"]["suspicious_vehicle"][0] == "vehicle_found"
        assert "found" not in body["results_by_type"]["suspicious_vehicle"]
        assert body["results_by_type"]["crisis"] == ["all_clear", "ended_without_result", "cancelled"]
        assert body["expiry_warning_minutes"] == 30


async def test_a_tile_server_is_used_only_when_configured_and_allowed_by_the_policy(console):
    url = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    async with console(tiles_url=url, tiles_attribution="© example") as (_, http, _hub):
        body = await (await http.get("/console/config.json")).json()
        assert body["tiles"] == {"url": url, "attribution": "© example"}
        r = await http.get("/console/")
        assert "img-src 'self' data: blob: https://*.tiles.example.org;" in r.headers["Content-Security-Policy"]


async def test_the_participant_page_draws_on_the_console_s_tiles(console):
    url = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    async with console(tiles_url=url, tiles_attribution="© example") as (_, http, _hub):
        body = await (await http.get("/participant/config.json")).json()
        assert body["tiles"] == {"url": url, "attribution": "© example"}
        r = await http.get("/participant/")
        assert "img-src 'self' data: blob: https://*.tiles.example.org;" in r.headers["Content-Security-Policy"]
        assert "worker-src 'self';" in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize("url", ["ftp://tiles.example.org/{z}/{x}/{y}", "https://tiles.example.org/{z}/{x}.png", "/{z}/{x}/{y}"])
def test_a_bad_tiles_url_is_refused(url):
    with pytest.raises(ConfigError):
        ConsoleSettings(tiles_url=url)


async def test_installing_twice_mounts_once(make_hub, routes_to_recording):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_config(routes_to_recording)) as hub:
        first = install(hub)
        assert install(hub) is first and hub.web_extensions.count(first) == 1


async def test_me_names_the_token_and_its_role(console):
    async with console() as (_, http, hub):
        assert (await http.get("/console/api/me")).status == 401
        assert (await http.get("/console/api/me", headers={"Authorization": "Bearer nope-nope-nope-nope"})).status == 401
        assert await (await http.get("/console/api/me", headers=DISPATCH)).json() == {"name": "meldkamer", "role": "dispatcher", "organisation": "national"}
        assert (await (await http.get("/console/api/me", headers=OPERATE)).json())["role"] == "operator"
        me = person("self", 52.09, 5.11)
        r = await http.post("/v1/participants", json={k: v for k, v in me.items() if k != "id"})
        mine = {"Authorization": f"Bearer {(await r.json())['token']}"}
        assert (await (await http.get("/console/api/me", headers=mine)).json())["role"] == "participant"


async def test_tickets_need_a_reader_token_and_an_existing_action(console):
    async with console() as (_, http, hub):
        r = await http.post("/v1/actions", json=start_payload(), headers=DISPATCH)
        action_id = (await r.json())["id"]
        assert (await http.post(f"/console/api/actions/{action_id}/ticket")).status == 401
        r = await http.post(f"/console/api/actions/{action_id}/ticket", headers=OPERATE)
        assert r.status == 201 and r.headers["Cache-Control"] == "no-store"
        body = await r.json()
        assert body["events"] == f"/console/api/actions/{action_id}/events" and body["ticket"]
        assert (await http.post("/console/api/actions/act-missing/ticket", headers=DISPATCH)).status == 404
        me = person("self", 52.09, 5.11)
        r = await http.post("/v1/participants", json={k: v for k, v in me.items() if k != "id"})
        mine = {"Authorization": f"Bearer {(await r.json())['token']}"}
        r = await http.post(f"/console/api/actions/{action_id}/ticket", headers=mine)
        assert r.status == 403 and "participant" in (await r.json())["reason"]


async def test_the_event_stream_sends_counts_and_tips_for_a_valid_ticket_once(console, recording_channel):
    async with console() as (_, http, hub):
        await add_participants(hub, 3)
        r = await http.post("/v1/actions", json=start_payload(), headers=DISPATCH)
        action_id = (await r.json())["id"]
        await http.post(f"/v1/actions/{action_id}/tips", json={"text": "Eerste tip"})
        ticket = (await (await http.post(f"/console/api/actions/{action_id}/ticket", headers=DISPATCH)).json())["ticket"]

        assert (await http.get(f"/console/api/actions/{action_id}/events")).status == 401
        r = await http.get("/console/api/actions/act-other/events", params={"ticket": ticket})
        assert r.status == 401 and "another action" in (await r.json())["reason"]
        r = await http.get(f"/console/api/actions/{action_id}/events", params={"ticket": ticket[:-2] + "xx"})
        assert r.status == 401

        async with http.get(f"/console/api/actions/{action_id}/events", params={"ticket": ticket}) as stream:
            assert stream.status == 200 and stream.content_type == "text/event-stream"
            first = await read_events(stream, 2)
            assert [n for n, _ in first] == ["action", "tip"]
            assert first[0][1]["id"] == action_id and "counts" in first[0][1]
            assert first[1][1]["text"] == "Eerste tip"
            r = await http.get(f"/console/api/actions/{action_id}/events", params={"ticket": ticket})
            assert r.status == 401 and "already used" in (await r.json())["reason"]

            form = aiohttp.FormData()
            form.add_field("text", "Zag hem bij de Neude")
            form.add_field("photo", tiny_image("image/jpeg"), filename="x.jpg", content_type="image/jpeg")
            await http.post(f"/v1/actions/{action_id}/tips", data=form)
            tips = []
            while not tips:  # action events for the deliveries may come first
                tips = [d for n, d in await read_events(stream, 1) if n == "tip"]
            assert tips[0]["text"] == "Zag hem bij de Neude"
            assert tips[0]["photo_url"] == f"/v1/actions/{action_id}/tips/{tips[0]['id']}/photo"

        # a reconnect with after=<newest tip> gets no tip twice
        ticket = (await (await http.post(f"/console/api/actions/{action_id}/ticket", headers=DISPATCH)).json())["ticket"]
        params = {"ticket": ticket, "after": str(tips[0]["id"])}
        async with http.get(f"/console/api/actions/{action_id}/events", params=params) as stream:
            (name, data), = await read_events(stream, 1)
            assert name == "action" and data["counts"]["recording"]["start"]["targeted"] == 3
            with pytest.raises(asyncio.TimeoutError):
                await read_events(stream, 1, timeout=0.8)


async def test_tickets_expire_and_are_bound_to_their_signer():
    now = [1000.0]
    signer = TicketSigner(b"s" * 32, lifetime=30, clock=lambda: now[0])
    value, expires = signer.issue("act-1", "meldkamer", "dispatcher")
    assert expires == 1030.0
    with pytest.raises(AuthError, match="invalid"):
        await TicketSigner(b"t" * 32, clock=lambda: now[0]).redeem(value, "act-1")
    now[0] = 1031.0
    with pytest.raises(AuthError, match="expired"):
        await signer.redeem(value, "act-1")
    now[0] = 1000.0
    ticket = await signer.redeem(value, "act-1")
    assert (ticket.actor, ticket.role) == ("meldkamer", "dispatcher")
    with pytest.raises(AuthError, match="malformed|invalid"):
        await signer.redeem("not-a-ticket", "act-1")


def test_the_offline_outline_is_current_small_and_roughly_right():
    assert TARGET.read_text(encoding="utf-8") == render(), "run: python -m hub.console.outline"
    data = build()
    land = {f["properties"]["country"]: f["geometry"] for f in data["features"] if f["properties"]["kind"] == "land"}
    points = 0
    for geometry in land.values():
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        for polygon in polygons:
            ring = polygon[0]
            assert ring[0] == ring[-1]
            points += len(ring)
    assert 200 <= points <= 1000

    def inside(country: str, lat: float, lon: float) -> bool:
        geometry = land[country]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        return any(point_in_polygon(lat, lon, [(p[1], p[0]) for p in poly[0]]) for poly in polygons)

    for name, lat, lon, country in [
        ("Utrecht", 52.0907, 5.1214, "NL"), ("Amsterdam", 52.3728, 4.8936, "NL"), ("Groningen", 53.2194, 6.5665, "NL"),
        ("Maastricht", 50.8514, 5.6910, "NL"), ("Middelburg", 51.4988, 3.6136, "NL"), ("Lelystad", 52.5185, 5.4714, "NL"),
        ("Enschede", 52.2215, 6.8937, "NL"), ("Venlo", 51.3704, 6.1724, "NL"), ("Brussel", 50.8503, 4.3517, "BE"),
        ("Antwerpen", 51.2194, 4.4025, "BE"), ("Aken", 50.7753, 6.0839, "DE"), ("Keulen", 50.9375, 6.9603, "DE"),
        ("Luxemburg", 49.6116, 6.1319, "LU"), ("Rijsel", 50.6292, 3.0573, "FR"),
    ]:
        assert inside(country, lat, lon), name
    for name, lat, lon in [("North Sea", 52.5, 3.5), ("IJsselmeer", 52.80, 5.30), ("Markermeer", 52.55, 5.20)]:
        assert not any(inside(c, lat, lon) for c in land), name


@pytest.mark.parametrize("hub_backend", ["sqlite", "postgresql"])
async def test_a_ticket_opens_one_stream_on_one_hub_of_a_cluster(tmp_path, database_url):
    """On a cluster every hub signs with one secret: the nonce is spent in the store, so a ticket
    taken from a URL in some log cannot open a second stream on another hub."""
    from hub.store.select import open_store

    stores = [open_store(database_url, tmp_path / "db.sqlite3") for _ in range(2)]
    for s in stores:
        await s.open()
    try:
        hub_a, hub_b = (TicketSigner(b"s" * 32, spend=s.spend_once) for s in stores)
        value, _ = hub_a.issue("act-1", "meldkamer", "dispatcher")
        assert (await hub_b.redeem(value, "act-1")).actor == "meldkamer"
        for signer in (hub_a, hub_b):
            with pytest.raises(AuthError, match="already used"):
                await signer.redeem(value, "act-1")
        other, _ = hub_a.issue("act-1", "meldkamer", "dispatcher")
        results = await asyncio.gather(
            *(signer.redeem(other, "act-1") for signer in (hub_a, hub_b, hub_a, hub_b)), return_exceptions=True
        )
        assert sum(not isinstance(r, Exception) for r in results) == 1
    finally:
        for s in stores:
            await s.close()


@pytest.mark.parametrize("hub_backend", ["sqlite", "postgresql"])
async def test_a_spent_ticket_stays_spent_on_a_hub_whose_clock_lags(tmp_path, database_url):
    """Hubs' clocks differ by a little: a hub whose clock lags still takes a ticket as valid for a
    few seconds after the others see it expired, so its nonce must not be forgotten at that moment."""
    from hub.store.select import open_store

    store = open_store(database_url, tmp_path / "db.sqlite3")
    await store.open()
    try:
        lagging = TicketSigner(b"s" * 32, lifetime=2.0, clock=lambda: time.time() - 5.0, spend=store.spend_once)
        value, _ = lagging.issue("act-1", "meldkamer", "dispatcher")
        assert (await lagging.redeem(value, "act-1")).actor == "meldkamer"
        with pytest.raises(AuthError, match="already used"):
            await lagging.redeem(value, "act-1")
    finally:
        await store.close()
