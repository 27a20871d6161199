// The app on this device: a service worker, alerts by Web Push through the hub's app channel and,
// while the page is open, by asking the hub for the current actions of this device's cells (for a
// browser without a push service); the alerts this device received (readable offline), and tips with
// a photo. The device's position is kept here (IndexedDB) for the service worker's decision; only
// coarse grid cells go to the hub.

import { ApiError, call } from "./api.js";
import { clear, field, h } from "./dom.js";
import { language, t, tx } from "./i18n.js";
import { regionsFor } from "./geo.js";
import * as idb from "./idb.js";

let watching = false;
let current = null; // the page's state, for the look-ups (its addresses); set once the app section is drawn
const LOOK_EVERY_MS = 30000;

function urlBase64ToUint8Array(base64) {
  const padded = (base64 + "=".repeat((4 - (base64.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

// Alerts need a service worker and notifications; Web Push is used where the browser has it.
export function supported() {
  return "serviceWorker" in navigator && "Notification" in window;
}

export async function registerWorker() {
  return navigator.serviceWorker.register("sw.js", { type: "module", scope: "./" });
}

function position() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude, at: Date.now() }),
      () => resolve(null),
      { enableHighAccuracy: false, maximumAge: 300000, timeout: 10000 },
    );
  });
}

// Keep the last position on the device while the page is open (never sent anywhere).
async function rememberPosition() {
  const here = await position();
  if (here) await idb.put("position", here);
  if (!watching && navigator.geolocation) {
    watching = true;
    navigator.geolocation.watchPosition(
      (p) => idb.put("position", { lat: p.coords.latitude, lon: p.coords.longitude, at: Date.now() }),
      () => {},
      { maximumAge: 300000 },
    );
  }
  return here;
}

async function pushSubscription(registration, config) {
  if (!config.vapid_public_key || !("PushManager" in window)) return null;
  try {
    return await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: urlBase64ToUint8Array(config.vapid_public_key),
    });
  } catch {
    return null; // no push service in this browser (e.g. Chromium without Google's, an offline network)
  }
}

function places(here, state) {
  return [...(here ? [here] : []), ...((state.me && state.me.addresses) || [])];
}

// Turn alerts on: the worker, the position, the permission, and a push subscription where the browser
// has a push service. Without one the device keeps its cells and asks while the page is open.
export async function subscribe(state) {
  const registration = await registerWorker();
  await navigator.serviceWorker.ready;
  const here = await rememberPosition();
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error(t("app.unavailable"));
  const config = await call("GET", "/v1/channels/app/config", undefined, { auth: false });
  const regions = regionsFor(places(here, state), config.grid.max_regions);
  const subscription = await pushSubscription(registration, config);
  let push = false;
  if (subscription) {
    const body = { ...subscription.toJSON(), regions, language: language() };
    await call("POST", "/v1/channels/app/subscriptions", body, { auth: false });
    push = true;
  }
  await idb.put("subscribed", { at: Date.now(), regions, push, max: config.grid.max_regions });
  return push;
}

// The current actions of this device's cells, handed to the service worker, which decides on each as
// on a push (and skips what it handled already).
export async function lookUp() {
  const subscribed = await idb.get("subscribed");
  if (!subscribed || !navigator.serviceWorker) return;
  const here = await idb.get("position");
  const ask = async (max) => {
    const regions = [...new Set([...regionsFor(places(here, current || {}), max), ...(subscribed.regions || [])])].slice(0, max);
    if (!regions.length) return null;
    const query = `regions=${encodeURIComponent(regions.join(","))}&language=${language()}`;
    return call("GET", `/v1/channels/app/current?${query}`, undefined, { auth: false });
  };
  const max = subscribed.max || 64;
  let answer;
  try {
    answer = await ask(max);
  } catch (e) {
    // more cells than the hub takes (a subscription saved without the hub's limit, or the limit
    // lowered since): learn the limit, keep it, and ask once more
    if (!(e instanceof ApiError && e.status === 400 && /^regions\b/.test(e.field || ""))) throw e;
    const config = await call("GET", "/v1/channels/app/config", undefined, { auth: false });
    const allowed = config.grid.max_regions;
    if (!(allowed < max)) throw e;
    await idb.put("subscribed", { ...((await idb.get("subscribed")) || subscribed), max: allowed });
    answer = await ask(allowed);
  }
  if (!answer) return;
  const registration = await navigator.serviceWorker.ready;
  if (registration.active && answer.actions.length) registration.active.postMessage({ type: "current", payloads: answer.actions });
}

function lookQuietly() {
  lookUp().catch(() => {}); // offline or the hub away: the next look-up tries again
}

function keepLooking() {
  if (current !== null) return;
  setInterval(() => {
    if (document.visibilityState === "visible") lookQuietly();
  }, LOOK_EVERY_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") lookQuietly();
  });
}

function tipForm(alert, helpers) {
  const text = h("textarea", { rows: 3 });
  const photo = h("input", { type: "file", accept: "image/jpeg,image/png,image/webp,image/heic", capture: "environment" });
  const send = h("button", { type: "submit", i18n: "tip.send" });
  const form = h("form", {}, [field("tip.text", text)[0], field("tip.photo", photo)[0], send]);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    helpers.busy(send, async () => {
      const data = new FormData();
      data.append("action_id", alert.action);
      data.append("text", text.value);
      if (photo.files[0]) data.append("photo", photo.files[0]);
      await call("POST", "/v1/channels/app/tips", data, { auth: false });
      text.value = "";
      photo.value = "";
      helpers.say("tip.sent");
    });
  });
  return form;
}

async function alertsList(helpers) {
  const list = h("ul.plain", { id: "alerts" });
  const shown = (await idb.alerts()).filter((a) => a.shown);
  if (!shown.length) list.append(h("li", { i18n: "app.no_alerts" }));
  for (const a of shown) {
    const item = h("li.alert", { dataset: {} }, [
      h("h3", {}, a.title),
      h("p", {}, a.text),
      ...(a.photos || []).map((url, i) => h("img", { src: url, alt: `${a.title} (${i + 1})` })),
    ]);
    item.dataset.action = a.action;
    if (a.kind !== "end") {
      item.append(tipForm(a, helpers));
      if (a.callback) item.append(h("p.hint", { i18n: "tip.call", vars: { number: a.callback } }));
    }
    list.append(item);
  }
  return list;
}

export async function renderApp(section, state, helpers) {
  clear(section);
  section.hidden = false;
  section.append(h("h2", { id: "app-heading", i18n: "app.section" }), h("p", { i18n: "app.intro" }));
  const available = state.config && state.config.app && state.config.app.available && supported();
  if (!available) {
    section.append(h("p.hint", { i18n: "app.unavailable" }));
  } else {
    const status = h("p.hint", { id: "app-mode" });
    const enable = h("button", { type: "button", i18n: "app.enable" });
    enable.addEventListener("click", () => helpers.busy(enable, async () => {
      const push = await subscribe(state);
      tx(status, push ? "app.enabled" : "app.page_only");
      helpers.say(push ? "app.enabled" : "app.page_only");
      await lookUp();
    }));
    const subscribed = await idb.get("subscribed");
    if (subscribed) {
      tx(status, subscribed.push ? "app.enabled" : "app.page_only");
      registerWorker().catch(() => {});
      rememberPosition().catch(() => {});
    }
    section.append(enable, status);
    keepLooking();
    current = state;
    if (subscribed) lookQuietly();
  }
  section.append(h("h3", { i18n: "app.alerts" }), await alertsList(helpers));
  if ("serviceWorker" in navigator && !section.dataset.listening) {
    section.dataset.listening = "true";
    navigator.serviceWorker.addEventListener("message", async (e) => {
      if (e.data && e.data.type === "alert") {
        const old = section.querySelector("#alerts");
        if (old) old.replaceWith(await alertsList(helpers));
      }
    });
  }
}

