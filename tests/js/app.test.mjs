// node --test tests/js/ : the page's look-ups of the current actions, against a stand-in hub.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fakeIndexedDB } from "./fake-idb.mjs";

const kv = fakeIndexedDB();
const posted = [];
Object.defineProperty(globalThis, "navigator", {
  configurable: true,
  value: { serviceWorker: { ready: Promise.resolve({ active: { postMessage: (m) => posted.push(m) } }) } },
});

// a hub that takes at most 9 cells per look-up, as its config says
const MAX = 9;
const asked = [];
globalThis.fetch = async (path) => {
  const url = new URL(path, "https://hub.example.org/participant/");
  asked.push(url.pathname);
  const json = (status, body) => new Response(JSON.stringify(body), { status });
  if (url.pathname === "/v1/channels/app/config") return json(200, { grid: { max_regions: MAX } });
  const cells = url.searchParams.get("regions").split(",");
  if (cells.length > MAX) {
    return json(400, { error: "validation_error", field: `regions.${MAX}`, reason: `at most ${MAX} regions per install` });
  }
  return json(200, { actions: [{ v: 1, action: "act-1", kind: "start", version: 1 }] });
};

const { lookUp } = await import("../../hub/participant/static/js/app.js");

test("a subscription saved without the hub's limit learns it and still looks up", async () => {
  // saved by the version before: no max, cells around two places (18)
  const regions = Array.from({ length: 18 }, (_, i) => `r:52.${i % 10}:5.${Math.floor(i / 10)}`);
  kv.set("subscribed", { at: 1, regions, push: false });
  await lookUp();
  assert.deepEqual(posted.map((m) => m.payloads[0].action), ["act-1"]);
  assert.equal(kv.get("subscribed").max, MAX);
  assert.deepEqual(kv.get("subscribed").regions, regions);

  // the next look-up asks within the limit at once
  asked.length = 0;
  await lookUp();
  assert.deepEqual(asked, ["/v1/channels/app/current"]);
  assert.equal(posted.length, 2);
});
