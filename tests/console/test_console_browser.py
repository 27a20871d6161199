"""The console end to end in real headless Chromium (Debian's ``chromium``, driven by Playwright).

A hub with the recording channel and participants around Utrecht is served on a free loopback port.
The dispatcher signs in, starts a missing-person action with a photo, watches the counts rise, sees a
tip arrive, ends the action and watches the closing messages go out. An operator is refused clearly.

Set ``BURGERHUB_SCREENSHOT=1`` to refresh ``docs/console.png`` (it is also written when missing); every
run keeps its screenshots under the test's temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import aiohttp
from aiohttp import web
from playwright.async_api import Page, expect

from hub.testing import RecordingPlugin

from conftest import DISPATCHER, UTRECHT, needs_chromium, person, start_payload
from console_support import (
    DISPATCHER_TOKEN,
    OPERATOR_TOKEN,
    PARTICIPANTS,
    add_participants,
    hub_config,
    png,
    serve,
)

STEP_MS = 5000
FAR = 3
DOCS_SHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"

pytestmark = needs_chromium



async def open_console(browser, base: str) -> Page:
    context = await browser.new_context(viewport={"width": 1440, "height": 1000}, locale="nl-NL", timezone_id="Europe/Amsterdam")
    page = await context.new_page()
    page.set_default_timeout(STEP_MS)
    errors: list[str] = []
    refused: list[tuple[int, str]] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None)
    requested: list[str] = []
    page.on("response", lambda r: refused.append((r.status, r.url.removeprefix(base))) if r.status >= 400 else None)
    page.on("request", lambda r: requested.append(r.url))
    page.errors, page.refused, page.requested = errors, refused, requested  # type: ignore[attr-defined]
    await page.goto(f"{base}/console/")
    return page


async def sign_in(page: Page, token: str) -> None:
    await page.get_by_label("Token").fill(token)
    await page.get_by_role("button", name="Aanmelden").click()


async def test_a_dispatcher_starts_follows_and_ends_a_missing_person_action(
    browser, make_hub, recording_channel, routes_to_recording, tmp_path
):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_config(routes_to_recording)) as hub:
        await add_participants(hub)
        await hub.registry.register(person("on-holiday", UTRECHT[0], UTRECHT[1], paused_until="2099-01-01"))
        for i in range(FAR):  # ~1.8 km north: outside the on-foot circle, inside the bicycle one
            await hub.registry.register(person(f"far{i}", UTRECHT[0] + 0.0162, UTRECHT[1] + i * 0.001))
        async with serve(hub) as base:
            page = await open_console(browser, base)
            await expect(page.get_by_role("heading", name="Aanmelden")).to_be_visible()
            await sign_in(page, DISPATCHER_TOKEN)
            await expect(page.get_by_role("heading", name="Nieuwe actie starten")).to_be_visible()
            await expect(page.locator("#who")).to_contain_text("meldkamer")
            await expect(page.locator("#who .role-pill")).to_have_text("meldkamer")

            # the form, as a dispatcher fills it in
            await page.get_by_label("Soort actie").select_option("missing_person")
            await page.get_by_label("Signalement of bericht").fill(
                "Jongen van 5 jaar, rode jas, blauwe broek, blond haar. Laatst gezien bij Utrecht Centraal."
            )
            await page.get_by_label("Korte titel (optioneel)").fill("Jongen van 5 vermist")
            await page.locator("#f-photo").set_input_files(
                files=[{"name": "jongen.png", "mimeType": "image/png", "buffer": png()}]
            )
            await expect(page.locator(".photo-list img")).to_have_count(1)
            await expect(page.locator("#f-photo-status")).to_have_text("Foto toegevoegd (1 in totaal).")
            await page.get_by_label("Coördinaten (breedte, lengte) of plaatsnaam").fill("52.0894, 5.1100")
            await page.get_by_label("Coördinaten (breedte, lengte) of plaatsnaam").press("Enter")
            await expect(page.locator("#f-location-status")).to_have_text("Locatie: 52.08940, 5.11000")
            await page.get_by_label("Vervoermiddel van de persoon of het voertuig").select_option("on_foot")

            # the dry run: channels, recipients per channel, who is skipped
            await expect(page.get_by_test_id("plan-total")).to_have_text(str(PARTICIPANTS))
            row = page.locator('.plan tr[data-channel="recording"]')
            await expect(row).to_contain_text(str(PARTICIPANTS))
            await expect(row).to_contain_text("1 gepauzeerd")
            await expect(page.locator(".plan-facts")).to_contain_text(f"{PARTICIPANTS + 1} deelnemers in het gebied")
            await expect(page.locator(".radius-shown")).to_have_text("Straal 1.000 m")
            assert await hub.store.list_actions() == [], "a dry run must not start anything"
            await page.screenshot(path=str(tmp_path / "console-new.png"))

            # one confirmation (Escape backs out), then off it goes
            await page.get_by_role("button", name="Versturen…").click()
            dialog = page.get_by_role("dialog", name="Actie versturen?")
            await expect(dialog.get_by_role("button", name="Ja, nu versturen")).to_be_focused()
            await page.keyboard.press("Escape")
            await expect(dialog).to_have_count(0)
            await expect(page.get_by_role("button", name="Versturen…")).to_be_focused()
            assert await hub.store.list_actions() == []
            await page.keyboard.press("Enter")
            await expect(dialog).to_contain_text(f"{PARTICIPANTS} ontvangers")
            await dialog.get_by_role("button", name="Ja, nu versturen").click()
            await expect(page).to_have_url(re.compile(r"#/action/act-[0-9a-f]{12}$"))
            action_id = page.url.rsplit("/", 1)[1]
            stored = await hub.store.get_action(action_id)
            assert stored["type"] == "missing_person" and stored["area"]["transport"] == "on_foot"
            assert stored["photos"][0]["url"].endswith(".png")

            # counts rise live
            await expect(page.get_by_role("heading", name="Jongen van 5 vermist")).to_be_visible()
            await expect(page.locator(".conn")).to_have_text("Live")
            await expect(page.get_by_test_id("tile-targeted")).to_have_text(str(PARTICIPANTS))
            await expect(page.get_by_test_id("tile-sent")).to_have_text(str(PARTICIPANTS))
            await expect(page.locator('tr[data-channel="recording"][data-kind="start"] [data-col="sent"]')).to_have_text(str(PARTICIPANTS))
            await expect(page.locator(".view-live .photo-list img")).to_have_count(1)
            # fetched with the dispatcher's token (the public URL answers 410 once the action ends)
            await expect(page.locator(".view-live .photo-list img")).to_have_attribute("src", re.compile(r"^blob:"))
            assert await page.locator(".view-live .photo-list img").evaluate("img => img.decode().then(() => img.naturalWidth)") > 0

            # a sharper description and a wider area: the newly covered get the start, the others the update
            await page.get_by_label("Nieuw signalement").fill(
                "Jongen van 5 jaar, rode jas, blauwe broek, blond haar, draagt een knuffelbeer. Mogelijk op een fietsje."
            )
            await page.get_by_role("button", name="Gebied wijzigen").click()
            await page.get_by_label("Vervoermiddel van de persoon of het voertuig").select_option("bicycle")
            await expect(page.locator(".area-status")).to_contain_text("Straal 2.500 m")
            await page.get_by_role("button", name="Bijwerken").click()
            await expect(page.locator(".update-result")).to_have_text(
                f"Bijgewerkt (versie 2): {FAR} nieuwe ontvangers, {PARTICIPANTS} updates in de wachtrij."
            )
            everyone = PARTICIPANTS + FAR
            await expect(page.locator(".view-live .description")).to_contain_text("knuffelbeer")
            await expect(page.get_by_test_id("tile-targeted")).to_have_text(str(everyone))
            await expect(page.get_by_test_id("tile-sent")).to_have_text(str(everyone))
            await expect(page.locator('tr[data-channel="recording"][data-kind="update"] [data-col="sent"]')).to_have_text(str(PARTICIPANTS))
            assert (await hub.store.get_action(action_id))["area"]["transport"] == "bicycle"

            # tips arrive while the page is open, newest first, with their photo
            async with aiohttp.ClientSession(base) as http:
                r = await http.post(f"/v1/actions/{action_id}/tips", json={"text": "Jongen met rode jas bij de Neude gezien"})
                assert r.status == 201
                await expect(page.locator(".tip .tip-text")).to_have_text(["Jongen met rode jas bij de Neude gezien"])
                form = aiohttp.FormData()
                form.add_field("text", "Nu bij de Domtoren, loopt richting Oudegracht")
                form.add_field("photo", png(120, 90), filename="dom.png", content_type="image/png")
                r = await http.post(f"/v1/actions/{action_id}/tips", data=form)
                assert r.status == 201
            await expect(page.locator(".tip .tip-text")).to_have_text(
                ["Nu bij de Domtoren, loopt richting Oudegracht", "Jongen met rode jas bij de Neude gezien"]
            )
            await expect(page.get_by_test_id("tile-tips")).to_have_text("2")
            # expect() polls over the DevTools protocol; wait_for_function with a string would need the
            # page to allow eval, which the console's Content-Security-Policy forbids
            await expect(page.locator(".tip img").first).to_have_js_property("naturalWidth", 120)
            await page.evaluate("document.getElementById('main').scrollTo(0, 0)")
            await page.wait_for_timeout(1300)  # let the brief highlight of changed numbers settle
            shot = tmp_path / "console-live.png"
            await page.screenshot(path=str(shot))
            if os.environ.get("BURGERHUB_SCREENSHOT") == "1" or not DOCS_SHOT.exists():
                DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
                DOCS_SHOT.write_bytes(shot.read_bytes())

            # end it with a result, and watch the closing messages go out
            await page.get_by_role("radio", name="Gevonden").check()
            await page.get_by_role("button", name="Beëindigen…").click()
            dialog = page.get_by_role("dialog", name="Actie beëindigen?")
            await expect(dialog).to_contain_text(f"({everyone})")
            await dialog.get_by_role("button", name="Ja, beëindigen").click()
            await expect(page.get_by_test_id("status")).to_have_text("Beëindigd")
            await expect(page.get_by_test_id("tile-closing")).to_have_text(f"{everyone} / {everyone}")
            await expect(page.locator('tr[data-channel="recording"][data-kind="end"] [data-col="sent"]')).to_have_text(str(everyone))
            await expect(page.locator(".tile.closing")).to_contain_text("Alles verzonden")
            await expect(page.get_by_role("button", name="Beëindigen…")).to_have_count(0)

            # the audit trail and the list of recent actions
            await page.locator(".audit summary").click()
            await expect(page.locator(".audit-table tbody tr")).to_have_count(3)
            await expect(page.locator(".audit-table")).to_contain_text("Actie beëindigd")
            await expect(page.locator(f'#sidebar a[data-action="{action_id}"]')).to_contain_text("Gevonden")
            await page.screenshot(path=str(tmp_path / "console-ended.png"))

            kinds = sorted({kind for kind, _, _ in recording_channel.delivered})
            assert kinds == ["end", "start", "update"]
            assert sum(1 for kind, _, _ in recording_channel.delivered if kind == "end") == everyone
            assert page.errors == [] and page.refused == []  # type: ignore[attr-defined]
            elsewhere = [u for u in page.requested if not u.startswith((base + "/", "data:", "blob:"))]  # type: ignore[attr-defined]
            assert elsewhere == [], "the console must not need anything but the hub"


async def test_an_operator_cannot_start_an_action_and_is_told_why(
    browser, make_hub, recording_channel, routes_to_recording, tmp_path
):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_config(routes_to_recording)) as hub:
        await add_participants(hub, 3)
        async with serve(hub) as base:
            page = await open_console(browser, base)
            await sign_in(page, "not-a-valid-token-at-all")
            await expect(page.get_by_role("alert")).to_contain_text("Aanmelden mislukt: unknown token")
            await sign_in(page, OPERATOR_TOKEN)
            await expect(page.locator("#who")).to_contain_text("beheer")
            await expect(page.locator("#who .role-pill")).to_have_text("beheerder")
            await expect(page.get_by_role("note")).to_contain_text("alleen de meldkamer kan acties starten")

            await page.get_by_label("Soort actie").select_option("burglary")
            await page.get_by_label("Signalement of bericht").fill("Man, zwarte hoodie, grijze fiets.")
            await page.get_by_label("Coördinaten (breedte, lengte) of plaatsnaam").fill("Utrecht")
            await page.get_by_label("Coördinaten (breedte, lengte) of plaatsnaam").press("Enter")
            refused = "Geweigerd door de hub: role 'operator' may not do this (needs dispatcher)"
            await expect(page.locator(".plan")).to_contain_text(refused)
            await page.get_by_role("button", name="Versturen…").click()
            await expect(page.locator(".error-summary")).to_contain_text(refused)
            await expect(page.get_by_role("dialog")).to_have_count(0)
            assert await hub.store.list_actions() == []

            # the same page in English
            await page.get_by_role("button", name="English").click()
            await expect(page.get_by_role("heading", name="Start a new action")).to_be_visible()
            await expect(page.locator(".error-summary h2")).to_have_text("Something went wrong")
            await expect(page.locator(".error-summary li")).to_have_text(
                "Refused by the hub: role 'operator' may not do this (needs dispatcher)"
            )
            assert await page.evaluate("document.documentElement.lang") == "en"
            await page.screenshot(path=str(tmp_path / "console-operator.png"))
            assert page.errors == []  # type: ignore[attr-defined]
            assert {status for status, _ in page.refused} == {401, 403}  # type: ignore[attr-defined]
            assert {url for status, url in page.refused if status == 403} == {"/v1/actions?dry_run=true"}  # type: ignore[attr-defined]


async def test_map_tiles_come_from_the_configured_server_only_when_one_is_set(
    browser, make_hub, recording_channel, routes_to_recording
):
    tiles: list[str] = []
    tile = png(256, 256)

    async def serve_tile(request: web.Request) -> web.Response:
        tiles.append(request.path)
        return web.Response(body=tile, content_type="image/png")

    app = web.Application()
    app.router.add_get("/tiles/{z}/{x}/{y}.png", serve_tile)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    tile_port = runner.addresses[0][1]
    try:
        async with make_hub(plugins=[RecordingPlugin()], config=hub_config(routes_to_recording)) as hub:
            url = f"http://127.0.0.1:{tile_port}/tiles/{{z}}/{{x}}/{{y}}.png"
            async with serve(hub, tiles_url=url, tiles_attribution="Kaart: test") as base:
                page = await open_console(browser, base)
                await sign_in(page, DISPATCHER_TOKEN)
                await expect(page.locator(".leaflet-tile-loaded").first).to_be_visible()
                await expect(page.locator(".leaflet-control-attribution")).to_have_text("Kaart: test")
                assert await page.locator(".outline-map").count() == 0
                assert tiles and all(t.startswith("/tiles/7/") for t in tiles)
                assert page.errors == []  # type: ignore[attr-defined]
    finally:
        await runner.cleanup()


async def test_an_action_can_be_started_with_the_keyboard_alone(browser, make_hub, recording_channel, routes_to_recording):
    async with make_hub(plugins=[RecordingPlugin()], config=hub_config(routes_to_recording)) as hub:
        await add_participants(hub, 4)
        async with serve(hub) as base:
            page = await open_console(browser, base)
            await expect(page.get_by_label("Token")).to_be_focused()
            await page.keyboard.type(DISPATCHER_TOKEN)
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("heading", name="Nieuwe actie starten")).to_be_focused()

            async def tab_to(locator, limit: int = 40) -> None:
                for _ in range(limit):
                    if await locator.evaluate("el => el === document.activeElement"):
                        return
                    await page.keyboard.press("Tab")
                raise AssertionError(f"cannot reach {locator} with Tab")

            await tab_to(page.get_by_label("Soort actie"))
            await page.keyboard.press("ArrowDown")
            await expect(page.get_by_label("Soort actie")).to_have_value("missing_person")
            await tab_to(page.get_by_label("Signalement of bericht"))
            await page.keyboard.type("Meisje van 7, gele regenjas, roze laarzen.")
            await tab_to(page.get_by_label("Coördinaten (breedte, lengte) of plaatsnaam"))
            await page.keyboard.type("Utrecht")
            await page.keyboard.press("Enter")
            await expect(page.locator("#f-location-status")).to_have_text("Locatie: 52.09070, 5.12140")
            await expect(page.get_by_test_id("plan-total")).to_have_text("4")
            await tab_to(page.get_by_role("button", name="Versturen…"))
            await page.keyboard.press("Enter")
            await expect(page.get_by_role("button", name="Ja, nu versturen")).to_be_focused()
            await page.keyboard.press("Enter")
            await expect(page.get_by_test_id("tile-sent")).to_have_text("4")
            [action] = await hub.store.list_actions()
            assert action["description"] == "Meisje van 7, gele regenjas, roze laarzen."
            assert page.errors == []  # type: ignore[attr-defined]


async def test_the_dispatcher_is_warned_before_an_action_expires_and_can_extend_it(
    browser, make_hub, recording_channel, routes_to_recording
):
    config = hub_config(routes_to_recording)
    config["hub"]["expiry_warning_minutes"] = 30
    async with make_hub(plugins=[RecordingPlugin()], config=config) as hub:
        action = await hub.actions.start(start_payload(type="suspicious_vehicle", expires_in_minutes=20), DISPATCHER)
        async with serve(hub) as base:
            page = await open_console(browser, base)
            await sign_in(page, DISPATCHER_TOKEN)
            await page.goto(f"{base}/console/#/action/{action['id']}")
            warning = page.get_by_test_id("expiry-warning")
            await expect(warning).to_contain_text("eindigt zij vanzelf zonder resultaat")
            # the end form offers the results that fit a vehicle, not "found" (a missing person)
            await expect(page.get_by_role("radio", name="Voertuig gevonden")).to_be_visible()
            await expect(page.get_by_role("radio", name="Gevonden", exact=True)).to_have_count(0)
            await page.get_by_test_id("extend").click()
            await expect(warning).to_be_hidden()
            got = await hub.actions.get(action["id"])
            assert got["expires_at"] > action["expires_at"] and got["status"] == "active"
            assert page.errors == []  # type: ignore[attr-defined]
