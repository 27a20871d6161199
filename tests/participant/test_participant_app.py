"""The participant app (PWA) in headless Chromium: the service worker installs, the page subscribes
for the coarse regions around the device and its addresses, a real encrypted push from the hub's app
channel (taken from the Web Push emulator, which verifies VAPID and decrypts) is delivered to the
service worker with DevTools' ``ServiceWorker.deliverPushMessage``; an alert whose area holds the
device's position (set by the test) is shown, one elsewhere is not; a tip with a photo goes to the
action; and what was received stays readable offline."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import sys
import zlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.async_api import expect

import plugins.app
import plugins.app.current

# the app channel's Web Push emulator lives with its tests
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins" / "app" / "tests"))
from app_push_service import PushService, b64u  # noqa: E402
from hub.actions import Actor
from hub.testing import serving

from conftest import needs_chromium

DISPATCHER = Actor("meldkamer", "dispatcher")
UTRECHT = (52.0894, 5.1100)
SUBJECT = "mailto:beheer@burgernet.example"
_VAPID = ec.generate_private_key(ec.SECP256R1())
VAPID_PRIVATE = b64u(_VAPID.private_numbers().private_value.to_bytes(32, "big"))
VAPID_PUBLIC = b64u(_VAPID.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

pytestmark = needs_chromium
#: the alerts the device keeps (IndexedDB), as (action, version, shown, when handled)
ALERTS = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("burgerhub-participant", 1);
  open.onsuccess = () => {
    const req = open.result.transaction("kv").objectStore("kv").get("alerts");
    req.onsuccess = () => resolve((req.result || []).map((a) => [a.action, a.version, a.shown, a.received]));
    req.onerror = () => reject(req.error);
  };
  open.onerror = () => reject(open.error);
})"""


def png() -> bytes:
    width, height = 4, 4
    raw = b"".join(b"\x00" + b"\xc8\x1e\x28" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def start(lat: float, lon: float, description: str) -> dict:
    return {"type": "missing_person", "urgency": "time_critical", "description": description,
            "area": {"type": "circle", "lat": lat, "lon": lon, "radius_m": 1500}}


async def test_the_app_shows_alerts_in_its_area_takes_a_tip_with_a_photo_and_works_offline(browser, make_hub, tmp_path, monkeypatch):
    monkeypatch.setattr(plugins.app.current, "CACHE_SECONDS", 0.0)  # each look-up of the page reads the store
    routes = tmp_path / "routes.yaml"
    routes.write_text("version: 1\nchannels: [app]\n")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = {
        "hub": {"routes": str(routes), "public_url": base},
        "channels": {"app": {"vapid_private_key": VAPID_PRIVATE, "vapid_subject": SUBJECT,
                             "allowed_push_hosts": ["127.0.0.1"], "allow_insecure_endpoints": True}},
    }
    async with PushService(vapid_public_key=VAPID_PUBLIC, subject=SUBJECT) as push, \
            make_hub(plugins=[plugins.app], config=config) as hub, serving(hub, sock):
        context = await browser.new_context(
            viewport={"width": 412, "height": 900}, locale="nl-NL", geolocation={"latitude": UTRECHT[0], "longitude": UTRECHT[1]},
            permissions=["geolocation", "notifications"],
        )
        await hub.registry.register({"id": "p1", "email": "p1@example.net", "channels": ["app"],
                                     "addresses": [{"label": "home", "lat": UTRECHT[0], "lon": UTRECHT[1]}]})
        token = await hub.verifier.open_session("p1")
        # A headless browser has no push service of its own (Chromium's needs Google's servers). The
        # emulator stands in for it: the page's PushManager.subscribe answers with an emulator
        # subscription, so the hub encrypts to the emulator, which checks VAPID and decrypts.
        device = push.new_device()
        subscription = device.subscription(push.base_url)
        await context.add_init_script(
            f"localStorage.setItem('burgerhub.session', {json.dumps(token)});"
            "PushManager.prototype.subscribe = async function (options) {"
            "  window.__pushKey = btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey)));"
            f"  const sub = {json.dumps(subscription)};"
            "  return {endpoint: sub.endpoint, toJSON: () => sub};"
            "};"
        )
        page = await context.new_page()
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        cdp = await context.new_cdp_session(page)
        registrations: list[str] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated",
               lambda e: registrations.extend(r["registrationId"] for r in e["registrations"] if not r["isDeleted"]))
        await cdp.send("ServiceWorker.enable")
        await page.goto(f"{base}/participant/")
        await page.get_by_role("button", name="Meldingen aanzetten").click()
        await expect(page.locator("#status")).to_have_text("Meldingen staan aan voor dit toestel.")
        key = await page.evaluate("window.__pushKey")
        assert base64.b64decode(key) == base64.urlsafe_b64decode(VAPID_PUBLIC + "==")
        assert registrations, "the service worker did not register"
        # the worker is active and controls the page before anything is pushed to it
        # (evaluate's polling runs over the DevTools protocol: the page's CSP forbids wait_for_function's eval)
        for _ in range(100):
            if await page.evaluate("navigator.serviceWorker.controller !== null"):
                break
            await page.wait_for_timeout(100)
        else:
            raise AssertionError("the service worker does not control the page")

        name = hashlib.md5(png()).hexdigest() + ".png"
        await hub.store.photo_put(name, "image/png", png())
        photo = {"url": f"{base}/v1/photos/{name}"}
        near = await hub.actions.start({**start(*UTRECHT, "Jongen van 5, rode jas."), "photos": [photo]}, DISPATCHER)
        # in a subscribed region, but 7 km from the device: the hub sends it, the device stays silent
        far = await hub.actions.start(start(52.15, 5.17, "Witte bestelbus, kenteken onbekend."), DISPATCHER)
        assert await hub.engine.drain(10)
        assert not push.problems
        got = {r.payload["action"]: r.payload for r in push.received if r.token == device.token}
        assert set(got) == {near["id"], far["id"]}
        for action_id in (near["id"], far["id"]):
            await cdp.send("ServiceWorker.deliverPushMessage", {
                "origin": base, "registrationId": registrations[-1], "data": json.dumps(got[action_id]),
            })
        await expect(page.locator("#alerts li.alert")).to_have_count(1)
        await expect(page.locator("#alerts")).to_contain_text("Jongen van 5, rode jas.")
        await expect(page.locator("#alerts")).not_to_contain_text("Witte bestelbus")
        titles = await page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => ns.map(n => n.tag))")
        assert titles == [near["id"]]
        # with a push service the page's look-ups bring the same versions: handled once, not shown again
        pushed = await page.evaluate(ALERTS)
        async with page.expect_response(lambda r: "/v1/channels/app/current?" in r.url) as answer:
            await page.reload()
        assert {p["action"] for p in (await (await answer.value).json())["actions"]} == {near["id"], far["id"]}
        await expect(page.locator("#alerts li.alert")).to_have_count(1)
        await page.wait_for_timeout(500)
        assert await page.evaluate(ALERTS) == pushed

        # a tip with a photo from the phone
        alert = page.locator(f"#alerts li[data-action='{near['id']}']")
        await alert.get_by_label("Wat zag u?").fill("Gezien bij de Dom, richting Oudegracht.")
        await alert.get_by_label("Foto (optioneel)").set_input_files(
            {"name": "dom.png", "mimeType": "image/png", "buffer": png()})
        await alert.get_by_role("button", name="Tip versturen").click()
        await expect(page.locator("#status")).to_have_text("Bedankt, uw tip is verstuurd.")
        [tip] = await hub.store.list_tips(near["id"])
        assert tip["channel"] == "app" and tip["has_photo"] and tip["text"].startswith("Gezien bij de Dom")

        # offline: the page, the alert and its photo come from the device
        await context.set_offline(True)
        await page.reload()
        await expect(page.locator("#offline")).to_be_visible()
        await expect(page.locator("#alerts")).to_contain_text("Jongen van 5, rode jas.")
        await page.wait_for_function(
            "() => { const img = document.querySelector('#alerts img'); return img && img.complete && img.naturalWidth > 0; }")
        assert errors == []
