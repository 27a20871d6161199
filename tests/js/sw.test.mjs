// node --test tests/js/ : the service worker in a stand-in for the browser (caches, IndexedDB, fetch).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fakeIndexedDB } from "./fake-idb.mjs";

const BASE = "https://hub.example.org/participant/";
const keyOf = (r) => new URL(typeof r === "string" ? r : r.url, BASE).href;

class Cache {
  constructor() {
    this.entries = new Map();
  }
  async put(r, resp) {
    this.entries.set(keyOf(r), resp);
  }
  async delete(r) {
    return this.entries.delete(keyOf(r));
  }
  async match(r) {
    return this.entries.get(keyOf(r));
  }
  async keys() {
    return [...this.entries.keys()].map((url) => new Request(url));
  }
  async addAll() {}
}

const caches = new Map();
globalThis.caches = {
  async open(name) {
    if (!caches.has(name)) caches.set(name, new Cache());
    return caches.get(name);
  },
  async match() {},
};
globalThis.fetch = async () => new Response("jpeg", { status: 200 });

const kv = fakeIndexedDB();

const handlers = {};
globalThis.self = {
  location: new URL("sw.js", BASE),
  addEventListener: (type, fn) => {
    handlers[type] = fn;
  },
  clients: { matchAll: async () => [], claim: async () => {} },
  registration: { showNotification: async () => {} },
  skipWaiting: async () => {},
};
await import("../../hub/participant/static/sw.js");

async function hand(payloads) {
  const waiting = [];
  handlers.message({ data: { type: "current", payloads }, waitUntil: (p) => waiting.push(p) });
  await Promise.all(waiting);
}

const start = (i) => ({
  v: 1, action: `act-${i}`, kind: "start", version: 1, title: `Vermist ${i}`, text: "",
  area: { type: "circle", lat: 52.09, lon: 5.11, radius_m: 1500 },
  photos: [`/v1/photos/p${i}.jpg`, `https://img.example.org/p${i}.jpg`],
});

test("the photo cache keeps the photos of the alerts still listed, and no others", async () => {
  await hand(Array.from({ length: 60 }, (_, i) => start(i)));
  const listed = kv.get("alerts");
  assert.equal(listed.length, 50);
  const kept = [...caches.get("burgerhub-participant-photos").entries.keys()].sort();
  const named = listed.flatMap((a) => a.photos.map((u) => new URL(u, BASE).href)).sort();
  assert.deepEqual(kept, named); // the ten oldest alerts left the list, and their photos the cache
  assert.ok(!kept.includes("https://hub.example.org/v1/photos/p0.jpg"));
  assert.ok(kept.includes("https://hub.example.org/v1/photos/p59.jpg"));

  // a later version naming fewer photos leaves the one it dropped behind too
  await hand([{ ...start(59), version: 2, photos: [`/v1/photos/p59.jpg`] }]);
  assert.ok(!caches.get("burgerhub-participant-photos").entries.has("https://img.example.org/p59.jpg"));
  assert.ok(caches.get("burgerhub-participant-photos").entries.has("https://hub.example.org/v1/photos/p59.jpg"));
});
