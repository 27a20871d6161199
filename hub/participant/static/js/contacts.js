// What each phone number is used for (pure: no DOM), for the contacts and preferences sections.
// Mirrors hub/participants.py: a number may name its channels (sms, voice); one that names none
// takes the default of its kind.

export const PHONE_CHANNELS = ["sms", "voice"];

// What a number that names nothing is used for: a mobile takes SMS and calls, a landline calls.
export const DEFAULT_USES = { mobile: ["sms", "voice"], landline: ["voice"] };

export function uses(phone) {
  return Array.isArray(phone.channels) ? phone.channels : DEFAULT_USES[phone.kind] || ["voice"];
}

export function takes(phone, channel) {
  return uses(phone).includes(channel);
}

// The channels a number may be ticked for: a landline cannot take SMS.
export function options(phone) {
  return phone.kind === "landline" ? ["voice"] : PHONE_CHANNELS;
}

// Whether some verified number takes the channel, so that choosing the channel reaches me.
export function reachableBy(phones, channel) {
  return phones.some((p) => p.verified && takes(p, channel));
}

// The phones with number i used for the checked channels (in their canonical order).
export function withUses(phones, i, checked) {
  const channels = PHONE_CHANNELS.filter((c) => checked.includes(c));
  return phones.map((p, j) => (j === i ? { ...p, channels } : p));
}
