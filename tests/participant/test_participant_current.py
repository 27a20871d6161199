"""The participant app in headless Chromium without a push service (as Debian's Chromium and offline
machines are: ``PushManager.subscribe`` fails): the page still registers its worker, keeps its cells,
says that alerts arrive while it is open, and asks the hub for the current actions of its cells when it
opens, when alerts are turned on and every 30 seconds while visible. Its worker decides on each as on
a push: an action around the device (position set by the test) is shown, one elsewhere in the same
cells is not, the closing follows, and nothing is shown twice."""

from __future__ import annotations

import json

from playwright.async_api import expect

import plugins.app
import plugins.app.current
from hub.actions import Actor
from hub.testing import bound_socket, serving

from conftest import needs_chromium
from test_participant_app import SUBJECT, VAPID_PRIVATE

DISPATCHER = Actor("meldkamer", "dispatcher")
UTRECHT = (52.0894, 5.1100)
NO_PUSH_SERVICE = ("PushManager.prototype.subscribe = function () {"
                   "  window.__subscribeTried = true;"
                   "  return Promise.reject(new DOMException('Registration failed - push service not available', 'AbortError'));"
                   "};")

pytestmark = needs_chromium


def start(lat: float, lon: float, description: str) -> dict:
    return {"type": "missing_person", "urgency": "time_critical", "description": description,
            "area": {"type": "circle", "lat": lat, "lon": lon, "radius_m": 1500}}


async def shown_tags(page) -> list[str]:
    return sorted(await page.evaluate(
        "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => n.tag))"))


async def stored_alerts(page) -> dict[str, dict]:
    alerts = await page.evaluate("""() => new Promise((resolve, reject) => {
        const open = indexedDB.open("burgerhub-participant", 1);
        open.onsuccess = () => {
          const req = open.result.transaction("kv").objectStore("kv").get("alerts");
          req.onsuccess = () => resolve(req.result || []);
          req.onerror = () => reject(req.error);
        };
        open.onerror = () => reject(open.error);
      })""")
    return {a["action"]: a for a in alerts}


async def test_without_a_push_service_the_open_page_receives_the_actions_around_it(browser, make_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(plugins.app.current, "CACHE_SECONDS", 0.0)  # the page's clock runs faster than the hub's
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [app]\n")
    sock, base = bound_socket()
    config = {"hub": {"routes": str(routes), "public_url": base},
              "channels": {"app": {"vapid_private_key": VAPID_PRIVATE, "vapid_subject": SUBJECT}}}
    async with make_hub(plugins=[plugins.app], config=config) as hub, serving(hub, sock):
        await hub.registry.register({"id": "p1", "email": "p1@example.net", "channels": ["app"],
                                     "addresses": [{"label": "home", "lat": UTRECHT[0], "lon": UTRECHT[1]}]})
        token = await hub.verifier.open_session("p1")
        # started before this device turned alerts on, and never pushed to it
        before = await hub.actions.start(start(*UTRECHT, "Jongen van 5, rode jas."), DISPATCHER)
        # in the same cells, 7 km from the device: answered to it, and the device stays silent
        far = await hub.actions.start(start(52.15, 5.17, "Witte bestelbus, kenteken onbekend."), DISPATCHER)

        context = await browser.new_context(
            viewport={"width": 412, "height": 900}, locale="nl-NL",
            geolocation={"latitude": UTRECHT[0], "longitude": UTRECHT[1]}, permissions=["geolocation", "notifications"])
        await context.add_init_script(f"localStorage.setItem('burgerhub.session', {json.dumps(token)});" + NO_PUSH_SERVICE)
        page = await context.new_page()
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.clock.install()
        await page.goto(f"{base}/participant/")
        await page.get_by_role("button", name="Meldingen aanzetten").click()
        await expect(page.locator("#status")).to_contain_text("meldingen komen binnen zolang deze pagina open is")
        await expect(page.locator("#app-mode")).to_contain_text("geen pushdienst")
        assert await page.evaluate("window.__subscribeTried === true")
        assert await hub.runtimes["app"].channel.installs.records.scan("install:") == []  # nothing subscribed

        await expect(page.locator("#alerts li.alert")).to_have_count(1)
        await expect(page.locator("#alerts")).to_contain_text("Jongen van 5, rode jas.")
        await expect(page.locator("#alerts")).not_to_contain_text("Witte bestelbus")
        assert await shown_tags(page) == [before["id"]]
        assert (await stored_alerts(page))[far["id"]]["shown"] is False

        # started while the page is open: the next look-up (every 30 seconds while visible) brings it
        after = await hub.actions.start(start(52.0920, 5.1150, "Meisje van 8, gele regenjas."), DISPATCHER)
        await page.clock.run_for(31_000)
        await expect(page.locator("#alerts li.alert")).to_have_count(2)
        await expect(page.locator(f"#alerts li[data-action='{after['id']}']")).to_contain_text("gele regenjas")
        assert await shown_tags(page) == sorted([before["id"], after["id"]])

        # the end: the closing follows the action the device showed
        await hub.actions.end(before["id"], {"result": "found", "text": "Hij is ongedeerd bij zijn ouders."}, DISPATCHER)
        await page.clock.run_for(31_000)
        await expect(page.locator(f"#alerts li[data-action='{before['id']}']")).to_contain_text("ongedeerd")
        handled = await stored_alerts(page)
        assert handled[before["id"]]["kind"] == "end" and handled[before["id"]]["shown"] is True

        # opening the page again asks again: what was handled is not handled (nor shown) twice
        async with page.expect_response(lambda r: "/v1/channels/app/current?" in r.url) as answer:
            await page.reload()
        assert len((await (await answer.value).json())["actions"]) == 3
        await expect(page.locator("#app-mode")).to_contain_text("geen pushdienst")
        await page.evaluate("navigator.serviceWorker.ready")
        await page.wait_for_timeout(500)
        again = await stored_alerts(page)
        assert {k: v["received"] for k, v in again.items() if v["shown"]} == \
            {k: v["received"] for k, v in handled.items() if v["shown"]}
        assert errors == []
        await context.close()
