// node --test tests/js/ : the participant app's pure functions (area checks, grid cells, decisions).
import { test } from "node:test";
import assert from "node:assert/strict";
import { asFollowUp, cellOf, cellsAround, decide, distanceM, handledAlready, inArea, inPolygon, regionsFor, strangeClosing } from "../../hub/participant/static/js/geo.js";

const UTRECHT = { lat: 52.0894, lon: 5.11 };
const circle = { type: "circle", lat: 52.0894, lon: 5.11, radius_m: 1500 };

test("distance between Utrecht Centraal and the Dom is about 800 m", () => {
  const d = distanceM(52.0894, 5.11, 52.0907, 5.1214);
  assert.ok(d > 700 && d < 900, String(d));
});

test("a circle holds what lies within its radius", () => {
  assert.equal(inArea(UTRECHT, circle), true);
  assert.equal(inArea({ lat: 52.11, lon: 5.11 }, circle), false); // about 2.3 km north
});

test("a polygon uses (lat, lon) pairs and closes itself", () => {
  const square = [[52.0, 5.0], [52.0, 5.2], [52.2, 5.2], [52.2, 5.0]];
  assert.equal(inPolygon(52.1, 5.1, square), true);
  assert.equal(inPolygon(52.3, 5.1, square), false);
  assert.equal(inArea({ lat: 52.1, lon: 5.1 }, { type: "polygon", points: square }), true);
});

test("cells follow the app channel's canonical names", () => {
  assert.equal(cellOf(52.0894, 5.11), "r:52.0:5.1");
  assert.equal(cellOf(-0.05, 5.11), "r:-0.1:5.1");
  assert.equal(cellOf(0.05, -0.05), "r:0.0:-0.1");
  assert.equal(cellsAround(52.05, 5.15).length, 9);
  assert.ok(cellsAround(52.05, 5.15).includes("r:52.1:5.2"));
  assert.equal(regionsFor([UTRECHT, UTRECHT]).length, 9);
});

test("a start is shown inside the area, not outside; without a position it errs towards alerting", () => {
  const start = { v: 1, action: "a1", kind: "start", area: circle };
  assert.deepEqual(decide(start, UTRECHT, false), { show: true, reason: "inside" });
  assert.deepEqual(decide(start, { lat: 52.37, lon: 4.89 }, false), { show: false, reason: "outside" });
  assert.equal(decide(start, null, false).show, true);
});

test("updates and the end follow an action shown before, wherever the device is now", () => {
  const end = { v: 1, action: "a1", kind: "end", area: circle };
  assert.equal(decide(end, { lat: 52.37, lon: 4.89 }, true).show, true);
  assert.equal(decide(end, { lat: 52.37, lon: 4.89 }, false).show, false);
  assert.equal(decide({ v: 2, action: "a1", kind: "start" }, UTRECHT, false).show, false);
});

test("a version handled already is skipped; one not shown is decided again", () => {
  const start = { v: 1, action: "act-1", kind: "start", version: 2 };
  assert.equal(handledAlready(start, undefined), false);
  assert.equal(handledAlready(start, { ...start, shown: true }), true); // by push, then by a look-up
  assert.equal(handledAlready(start, { ...start, shown: false }), false); // the device may have moved in
  assert.equal(handledAlready(start, { ...start, version: 3, kind: "end", shown: false }), true); // older
  assert.equal(handledAlready({ ...start, kind: "end", version: 3 }, { ...start, shown: true }), false);
});

test("a newer start for an action shown before follows it as an update", () => {
  const start = { v: 1, action: "act-1", kind: "start", version: 2, area: circle };
  assert.equal(asFollowUp(start, { ...start, version: 1, shown: true }).kind, "update");
  assert.equal(asFollowUp(start, { ...start, version: 1, shown: false }).kind, "start");
  assert.equal(asFollowUp(start, undefined).kind, "start");
  const end = { ...start, kind: "end", version: 3 };
  assert.equal(asFollowUp(end, { ...start, shown: true }).kind, "end");
  // followed, it is shown wherever the device is now
  assert.deepEqual(decide(asFollowUp(start, { ...start, version: 1, shown: true }), { lat: 53.2, lon: 6.5 }, true),
    { show: true, reason: "follow_up" });
});

test("the closing of an action never received is not shown", () => {
  const end = { v: 1, action: "act-1", kind: "end", version: 2, area: circle };
  assert.equal(strangeClosing(end, undefined), true);
  assert.equal(strangeClosing(end, { ...end, kind: "start", version: 1, shown: false }), false);
  assert.equal(strangeClosing({ ...end, kind: "start" }, undefined), false);
});
