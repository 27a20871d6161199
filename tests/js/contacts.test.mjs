// node --test tests/js/ : what each phone number is used for on the participant page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { options, reachableBy, takes, uses, withUses } from "../../hub/participant/static/js/contacts.js";

const mobile = { number: "+31612345678", kind: "mobile", verified: true };
const landline = { number: "+31302345678", kind: "landline", verified: true };

test("a number that names nothing takes the default of its kind", () => {
  assert.deepEqual(uses(mobile), ["sms", "voice"]);
  assert.deepEqual(uses(landline), ["voice"]);
  assert.equal(takes({ ...mobile, channels: ["sms"] }, "voice"), false);
});

test("a landline is offered calls only", () => {
  assert.deepEqual(options(landline), ["voice"]);
  assert.deepEqual(options(mobile), ["sms", "voice"]);
});

test("a channel is reachable through a verified number that takes it", () => {
  assert.equal(reachableBy([{ ...mobile, channels: ["voice"] }, landline], "sms"), false);
  assert.equal(reachableBy([{ ...mobile, verified: false }, landline], "voice"), true);
  assert.equal(reachableBy([{ ...landline, verified: false }], "voice"), false);
});

test("ticking sets one number's channels in their canonical order", () => {
  const phones = withUses([mobile, landline], 0, ["voice", "sms"]);
  assert.deepEqual(phones[0].channels, ["sms", "voice"]);
  assert.equal(phones[1].channels, undefined);
  assert.deepEqual(withUses([mobile], 0, [])[0].channels, []);
});
