// The participant app's service worker: keeps the page usable offline, and decides on the device
// whether a pushed alert concerns it (its last known position against the action's area). The
// position is read from this device's IndexedDB and never sent.

import { decide } from "./js/geo.js";
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
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/v1/photos/")) {
    event.respondWith(caches.open(PHOTOS).then(async (cache) => {
      const hit = await cache.match(request);
      if (hit) return hit;
      const resp = await fetch(request);
      if (resp.ok) cache.put(request, resp.clone());
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

async function handle(payload) {
  const position = await idb.get("position");
  const before = (await idb.alerts()).find((a) => a.action === payload.action && a.shown);
  const verdict = decide(payload, position, !!before);
  if (verdict.reason === "unknown") return;
  await idb.remember(payload, verdict.show);
  if (verdict.show) {
    await keepPhotos(payload.photos);
    await self.registration.showNotification(payload.title, {
      body: payload.text,
      tag: payload.action,
      renotify: true,
      icon: "icon.svg",
      image: (payload.photos || [])[0],
      data: { action: payload.action },
      requireInteraction: payload.urgency === "time_critical",
    });
  }
  for (const client of await self.clients.matchAll({ type: "window", includeUncontrolled: true })) {
    client.postMessage({ type: "alert", action: payload.action, shown: verdict.show, reason: verdict.reason });
  }
}

let queue = Promise.resolve();

self.addEventListener("push", (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch {
    payload = null;
  }
  if (!payload) return;
  // one push at a time: an update or the end right after a start sees whether the start was shown
  queue = queue.then(() => handle(payload)).catch(() => {});
  event.waitUntil(queue);
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: "window" });
    if (windows.length) return windows[0].focus();
    return self.clients.openWindow(`./#alert=${encodeURIComponent(event.notification.data.action)}`);
  })());
});
