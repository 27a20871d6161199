// The participant app's service worker: keeps the page usable offline, and decides on the device
// whether an alert concerns it (its last known position against the action's area). Alerts come by
// Web Push, and from the page, which asks the hub for the current actions of its cells while it is
// open (for a browser without a push service); both take the same path here. The position is read
// from this device's IndexedDB and never sent.

import { asFollowUp, decide, handledAlready, strangeClosing } from "./js/geo.js";
import * as idb from "./js/idb.js";

const SHELL = "burgerhub-participant-v1";
const PHOTOS = "burgerhub-participant-photos";
const FILES = [
  "./", "index.html", "page.css", "manifest.webmanifest", "icon.svg", "places.json", "config.json",
  "js/main.js", "js/api.js", "js/app.js", "js/contacts.js", "js/dom.js", "js/geo.js", "js/i18n.js", "js/idb.js", "js/map.js",
  "vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(Promise.all([self.clients.claim(), prunePhotos()]));
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/v1/photos/")) {
    // network first: a photo the hub no longer shows (410: its action ended) leaves the cache too;
    // the kept copy serves only when offline
    event.respondWith(caches.open(PHOTOS).then(async (cache) => {
      let resp;
      try {
        resp = await fetch(request);
      } catch {
        return (await cache.match(request)) || Response.error();
      }
      if (resp.ok) cache.put(request, resp.clone());
      else if (resp.status === 410) cache.delete(request);
      return resp;
    }));
    return;
  }
  if (url.pathname.startsWith("/participant/")) {
    // network first, so an upgrade is seen at once; the copy serves when offline
    event.respondWith(fetch(request).then((resp) => {
      if (resp.ok) caches.open(SHELL).then((c) => c.put(request, resp.clone()));
      return resp;
    }).catch(() => caches.match(request, { ignoreSearch: true }).then((hit) => hit || caches.match("index.html"))));
  }
});

async function keepPhotos(urls) {
  const cache = await caches.open(PHOTOS);
  await Promise.all((urls || []).map((u) => fetch(u).then((r) => r.ok && cache.put(u, r)).catch(() => {})));
}

// Only the photos of the alerts the device still lists (at most 50, idb.remember) stay in the cache,
// so it cannot grow past the list.
async function prunePhotos() {
  try {
    const named = new Set();
    for (const alert of await idb.alerts()) {
      for (const u of alert.photos || []) {
        try {
          named.add(new URL(u, self.location.href).href);
        } catch {
          // not a URL: nothing of it was cached
        }
      }
    }
    const cache = await caches.open(PHOTOS);
    await Promise.all((await cache.keys()).filter((r) => !named.has(r.url)).map((r) => cache.delete(r)));
  } catch {
    // tried again with the next alert
  }
}

async function handle(received) {
  const before = (await idb.alerts()).find((a) => a.action === received.action);
  if (handledAlready(received, before) || strangeClosing(received, before)) return;
  const payload = asFollowUp(received, before);
  const position = await idb.get("position");
  const verdict = decide(payload, position, !!(before && before.shown));
  if (verdict.reason === "unknown") return;
  if (!verdict.show && before && before.version === payload.version) return; // decided so before
  await idb.remember(payload, verdict.show);
  if (verdict.show) {
    await keepPhotos(payload.photos);
    await notify(payload);
  }
  await prunePhotos();
  for (const client of await self.clients.matchAll({ type: "window", includeUncontrolled: true })) {
    client.postMessage({ type: "alert", action: payload.action, shown: verdict.show, reason: verdict.reason });
  }
}

async function notify(payload) {
  try {
    await self.registration.showNotification(payload.title, {
      body: payload.text,
      tag: payload.action,
      renotify: true,
      icon: "icon.svg",
      image: (payload.photos || [])[0],
      data: { action: payload.action },
      requireInteraction: payload.urgency === "time_critical",
    });
  } catch {
    // notifications were turned off since: the page still lists the alert
  }
}

// One message at a time, pushed or looked up: an update or the end right after a start sees whether
// the start was shown, and a version that arrives both ways is shown once.
let queue = Promise.resolve();

function enqueue(payload) {
  queue = queue.then(() => handle(payload)).catch(() => {});
  return queue;
}

self.addEventListener("push", (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    payload = null;
  }
  if (!payload) return;
  event.waitUntil(enqueue(payload));
});

// The page hands over what the hub answered for its cells (GET /v1/channels/app/current).
self.addEventListener("message", (event) => {
  const data = event.data;
  if (!data || data.type !== "current" || !Array.isArray(data.payloads)) return;
  let last = queue;
  for (const payload of data.payloads) if (payload && typeof payload === "object") last = enqueue(payload);
  event.waitUntil(last);
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window" });
    if (windows.length) return windows[0].focus();
    return self.clients.openWindow(`./#alert=${encodeURIComponent(event.notification.data.action)}`);
  })());
});
