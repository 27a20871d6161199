// The participant page: sign up and in by e-mail link, prove contacts, choose addresses and
// preferences, see the actions that reached me, download or erase my data; and the app (app.js).

import { ApiError, call, session, setSession } from "./api.js";
import { checkbox, clear, field, h } from "./dom.js";
import { options, reachableBy, takes, withUses } from "./contacts.js";
import { initialLanguage, language, setGlobals, setLanguage, t, tx } from "./i18n.js";
import { findPlace, makeMap, parseCoordinates, placeOptions } from "./map.js";
import { renderApp } from "./app.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const CHANNELS = ["app", "sms", "voice", "email"];
const state = { config: null, me: null, places: [] };

const $ = (id) => document.getElementById(id);

function say(key, vars, error = false) {
  const status = $("status");
  status.classList.toggle("error", error);
  tx(status, key, vars);
}

function fail(err) {
  if (err instanceof TypeError) {
    // the network is gone: what the device received stays readable (the app section)
    $("offline").hidden = false;
    return say("offline", {}, true);
  }
  if (err instanceof ApiError) {
    if (err.status === 429) return say("error.rate", { minutes: Math.max(1, Math.ceil((err.retryAfter || 60) / 60)) }, true);
    if (err.field) return say("error.field", { field: err.field, reason: err.message }, true);
    return say("error", { reason: err.message }, true);
  }
  say("error", { reason: String(err && err.message ? err.message : err) }, true);
}

async function busy(button, fn) {
  button.disabled = true;
  try {
    await fn();
  } catch (err) {
    fail(err);
  } finally {
    button.disabled = false;
  }
}

// -- signed out -------------------------------------------------------------------------------------

function signedOut() {
  const root = clear($("signed-out"));
  const [emailBox, email] = field("signup.email", h("input", { type: "email", autocomplete: "email", required: true }));
  const [ageBox, age] = checkbox("signup.age", false);
  const langSelect = h("select", {}, [h("option", { value: "nl" }, "Nederlands"), h("option", { value: "en" }, "English")]);
  langSelect.value = language();
  const [langBox] = field("signup.language", langSelect);
  const submit = h("button", { type: "submit", i18n: "signup.submit" });
  const signup = h("form", { novalidate: true }, [emailBox, ageBox, langBox, submit]);
  signup.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      await call("POST", "/v1/me/signup", { email: email.value, age_confirmed: age.checked, language: langSelect.value }, { auth: false });
      say("sent");
    });
  });
  const [inBox, inEmail] = field("signup.email", h("input", { type: "email", autocomplete: "email", required: true }));
  const inSubmit = h("button.secondary", { type: "submit", i18n: "signin.submit" });
  const signin = h("form", { novalidate: true }, [inBox, inSubmit]);
  signin.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(inSubmit, async () => {
      await call("POST", "/v1/me/signin", { email: inEmail.value }, { auth: false });
      say("sent");
    });
  });
  root.append(
    h("section.card", { "aria-labelledby": "signup-h" }, [
      h("h2", { id: "signup-h", i18n: "signup.title" }),
      h("p", { i18n: "signup.intro" }),
      signup,
    ]),
    h("section.card", { "aria-labelledby": "signin-h" }, [h("h2", { id: "signin-h", i18n: "signin.title" }), signin]),
  );
}

// -- signed in ----------------------------------------------------------------------------------

async function save(changes, message = "prefs.saved") {
  state.me = await call("PUT", "/v1/me", { ...state.me, ...changes });
  say(message);
  await signedIn(false);
}

function badge(ok) {
  return h(`span.badge.${ok ? "ok" : "no"}`, { i18n: ok ? "contacts.verified" : "contacts.unverified" });
}

// Per verified number: tick what it is used for (SMS, calls); saved with its own button.
function usesForm(phone, i) {
  const boxes = options(phone).map((c) => [c, ...checkbox(`contacts.use_${c}`, takes(phone, c))]);
  const parts = [h("legend", { i18n: "contacts.uses_for", vars: { number: phone.number } }), ...boxes.map(([, box]) => box)];
  if (phone.kind === "landline") parts.push(h("p.hint", { i18n: "contacts.landline_no_sms" }));
  const submit = h("button.secondary", { type: "submit", i18n: "contacts.save_uses", vars: { number: phone.number } });
  const form = h("form", {}, [h("fieldset", {}, parts), submit]);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const checked = boxes.filter(([, , input]) => input.checked).map(([c]) => c);
    busy(submit, () => save({ phones: withUses(state.me.phones, i, checked) }));
  });
  return form;
}

function contactsSection() {
  const me = state.me;
  const list = h("ul.plain");
  if (me.email) {
    const row = h("li", {}, [h("span", { i18n: "contacts.email" }), ": ", me.email, badge(me.email_verified)]);
    if (!me.email_verified) {
      const send = h("button.secondary", { type: "button", i18n: "contacts.send_link" });
      send.addEventListener("click", () => busy(send, async () => {
        await call("POST", "/v1/me/email/link");
        say("contacts.link_sent", { email: me.email });
      }));
      row.append(h("div", {}, send));
    }
    list.append(row);
  }
  me.phones.forEach((phone, i) => {
    const row = h("li", {}, [phone.number, badge(phone.verified)]);
    const remove = h("button.link", { type: "button", i18n: "contacts.remove", vars: { number: phone.number } });
    remove.addEventListener("click", () => busy(remove, () => save({ phones: me.phones.filter((_, j) => j !== i) })));
    if (!phone.verified) {
      const send = h("button.secondary", { type: "button", i18n: "contacts.send_code" });
      const code = h("input", { type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 6, pattern: "[0-9]{6}" });
      const [codeBox] = field("contacts.code_for", code);
      codeBox.querySelector("label").dataset.i18nVars = JSON.stringify({ number: phone.number });
      codeBox.querySelector("label").textContent = t("contacts.code_for", { number: phone.number });
      const confirm = h("button", { type: "button", i18n: "contacts.confirm" });
      send.addEventListener("click", () => busy(send, async () => {
        const r = await call("POST", "/v1/me/phones/code", { number: phone.number });
        say(r.sent_by === "voice" ? "contacts.code_sent_voice" : "contacts.code_sent_sms", { number: phone.number });
        code.focus();
      }));
      confirm.addEventListener("click", () => busy(confirm, async () => {
        state.me = await call("POST", "/v1/me/phones/confirm", { number: phone.number, code: code.value });
        say("contacts.phone_ok", { number: phone.number });
        await signedIn(false);
      }));
      row.append(h("div", {}, [send, codeBox, confirm]));
    } else row.append(usesForm(phone, i));
    row.append(h("div", {}, remove));
    list.append(row);
  });
  const number = h("input", { type: "tel", autocomplete: "tel" });
  const [numberBox] = field("contacts.phone", number);
  const add = h("button.secondary", { type: "submit", i18n: "contacts.add" });
  const form = h("form", {}, [h("h3", { i18n: "contacts.add_phone" }), numberBox, add]);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(add, () => save({ phones: [...me.phones, { number: number.value }] }));
  });
  return h("section.card", { "aria-labelledby": "contacts-h" }, [
    h("h2", { id: "contacts-h", i18n: "contacts.title" }),
    h("p.hint", { i18n: "contacts.intro" }),
    h("p.hint", { i18n: "contacts.uses_hint" }),
    list,
    form,
  ]);
}

function windowText(w) {
  return `${w.days.map((d) => t(`day.${d}`)).join(" ")} ${w.from}–${w.to}`;
}

function addressesSection() {
  const me = state.me;
  const list = h("ul.plain");
  if (!me.addresses.length) list.append(h("li", { i18n: "addresses.none" }));
  me.addresses.forEach((a, i) => {
    const when = a.availability && a.availability.length
      ? h("span", {}, a.availability.map(windowText).join(", "))
      : h("span", { i18n: "addresses.always" });
    const remove = h("button.link", { type: "button", i18n: "addresses.remove", vars: { n: i + 1 } });
    remove.addEventListener("click", () => busy(remove, () => save({ addresses: me.addresses.filter((_, j) => j !== i) })));
    list.append(h("li", {}, [
      h("strong", { i18n: `label.${["home", "work"].includes(a.label) ? a.label : "other"}` }),
      ` — ${a.city ? a.city + ", " : ""}${a.lat.toFixed(4)}, ${a.lon.toFixed(4)} — `,
      when,
      " ",
      remove,
    ]));
  });

  let spot = null;
  const chosen = h("p.hint", { "aria-live": "polite" });
  const pick = (s, fromMap) => {
    spot = s;
    tx(chosen, "addresses.chosen", { lat: s.lat.toFixed(5), lon: s.lon.toFixed(5) });
    if (!fromMap && map) map.place(s.lat, s.lon, 12);
  };
  const label = h("select", {}, ["home", "work", "other"].map((v) => h("option", { value: v, i18n: `label.${v}` })));
  const [labelBox] = field("addresses.label", label);
  const placeInput = h("input", { type: "text", list: "places", autocomplete: "off" });
  const [placeBox] = field("addresses.place", placeInput);
  const usePlace = h("button.secondary", { type: "button", i18n: "addresses.use" });
  usePlace.addEventListener("click", () => {
    const p = findPlace(state.places, placeInput.value);
    if (p) pick({ lat: p.lat, lon: p.lon, city: p.of || p.name });
    else say("addresses.bad", {}, true);
  });
  const coords = h("input", { type: "text", inputmode: "decimal", placeholder: "52.0894, 5.1100" });
  const [coordBox] = field("addresses.coordinates", coords);
  const useCoords = h("button.secondary", { type: "button", i18n: "addresses.use" });
  useCoords.addEventListener("click", () => {
    const c = parseCoordinates(coords.value);
    if (c) pick(c);
    else say("addresses.bad", {}, true);
  });
  const mapBox = h("div", { id: "map", role: "application", i18nAttr: "aria-label:addresses.map", "aria-label": t("addresses.map") });
  const days = DAYS.map((d) => checkbox(`day.${d}`, false));
  const from = h("input", { type: "time" });
  const to = h("input", { type: "time" });
  const add = h("button", { type: "submit", i18n: "addresses.add" });
  const form = h("form", {}, [
    h("h3", { i18n: "addresses.add" }),
    labelBox,
    h("div.row", {}, [placeBox, h("div", {}, usePlace)]),
    placeOptions(state.places),
    h("div.row", {}, [coordBox, h("div", {}, useCoords)]),
    mapBox,
    chosen,
    h("fieldset", {}, [
      h("legend", { i18n: "addresses.days" }),
      h("div.days", {}, days.map(([box]) => box)),
      h("div.row", {}, [field("addresses.from", from)[0], field("addresses.to", to)[0]]),
    ]),
    add,
  ]);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!spot) return say("addresses.bad", {}, true);
    const address = { label: label.value, lat: spot.lat, lon: spot.lon };
    if (spot.city) address.city = spot.city;
    const picked = DAYS.filter((_, i) => days[i][1].checked);
    if (picked.length || (from.value && to.value)) {
      address.availability = [{ days: picked.length ? picked : DAYS, from: from.value || "00:00", to: to.value || "24:00" }];
    }
    busy(add, () => save({ addresses: [...me.addresses, address] }));
  });
  const section = h("section.card", { "aria-labelledby": "addresses-h" }, [
    h("h2", { id: "addresses-h", i18n: "addresses.title" }),
    h("p.hint", { i18n: "addresses.intro" }),
    list,
    form,
  ]);
  let map = null;
  requestAnimationFrame(() => {
    if (!mapBox.isConnected) return;
    map = makeMap(mapBox, state.config, (s) => pick(s, true));
    if (!map) mapBox.hidden = true;
    else map.show(me.addresses); // where my addresses are
  });
  return section;
}

function preferencesSection() {
  const me = state.me;
  const available = state.config.channels;
  const reachable = {
    sms: reachableBy(me.phones, "sms"),
    voice: reachableBy(me.phones, "voice"),
    email: !!me.email && me.email_verified,
    app: true,
  };
  const boxes = CHANNELS.filter((c) => available.includes(c)).map((c) => {
    const [box, input] = checkbox(`channel.${c}`, me.channels.includes(c));
    if (!reachable[c]) {
      // chosen or not, nothing reaches me this way until a contact for it is confirmed
      const hint = h("p.hint", { id: `${input.id}-hint`, i18n: "prefs.needs_contact" });
      input.setAttribute("aria-describedby", hint.id);
      box.append(hint);
    }
    return [c, box, input];
  });
  const quietFrom = h("input", { type: "time", value: me.quiet_hours ? me.quiet_hours.from : "" });
  const quietTo = h("input", { type: "time", value: me.quiet_hours ? me.quiet_hours.to : "" });
  const pause = h("input", { type: "date", value: me.paused_until ? me.paused_until.slice(0, 10) : "" });
  const cap = h("input", { type: "number", min: 1, max: 100, step: 1, value: me.max_actions_per_week ?? "" });
  const lang = h("select", {}, [h("option", { value: "nl" }, "Nederlands"), h("option", { value: "en" }, "English")]);
  lang.value = me.language;
  const submit = h("button", { type: "submit", i18n: "prefs.save" });
  const form = h("form", {}, [
    h("fieldset", {}, [h("legend", { i18n: "prefs.channels" }), ...boxes.map(([, box]) => box)]),
    h("fieldset", {}, [
      h("legend", { i18n: "prefs.quiet" }),
      h("div.row", {}, [field("prefs.quiet_from", quietFrom)[0], field("prefs.quiet_to", quietTo)[0]]),
    ]),
    field("prefs.pause", pause, "prefs.pause_hint")[0],
    field("prefs.cap", cap, "prefs.cap_hint")[0],
    field("prefs.language", lang)[0],
    submit,
  ]);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const changes = {
      // channels this hub does not run now stay as they were
      channels: [
        ...me.channels.filter((c) => !boxes.some(([name]) => name === c)),
        ...boxes.filter(([, , input]) => input.checked).map(([c]) => c),
      ],
      quiet_hours: quietFrom.value && quietTo.value ? { from: quietFrom.value, to: quietTo.value } : null,
      paused_until: pause.value || null,
      max_actions_per_week: cap.value ? Number(cap.value) : null,
      language: lang.value,
    };
    busy(submit, () => save(changes));
  });
  return h("section.card", { "aria-labelledby": "prefs-h" }, [h("h2", { id: "prefs-h", i18n: "prefs.title" }), form]);
}

async function actionsSection() {
  const list = h("ul.plain");
  const section = h("section.card", { "aria-labelledby": "actions-h" }, [h("h2", { id: "actions-h", i18n: "actions.title" }), list]);
  try {
    const { actions } = await call("GET", "/v1/me/actions");
    if (!actions.length) list.append(h("li", { i18n: "actions.none" }));
    for (const a of actions) {
      const outcome = a.result ? h("span", { i18n: `result.${a.result}` }) : h("span", { i18n: "actions.active" });
      list.append(h("li", {}, [
        h("strong", {}, a.title || a.description),
        h("div.hint", {}, [new Date(a.started_at).toLocaleString(language() === "en" ? "en-GB" : "nl-NL"), " — ", outcome]),
        a.result_text ? h("div", {}, a.result_text) : null,
      ]));
    }
  } catch (err) {
    fail(err);
  }
  return section;
}

function dataSection() {
  const download = h("button.secondary", { type: "button", i18n: "data.download" });
  download.addEventListener("click", () => busy(download, async () => {
    const resp = await call("GET", "/v1/me/export", undefined, { raw: true });
    const url = URL.createObjectURL(await resp.blob());
    const a = h("a", { href: url, download: "mijn-gegevens.json" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }));
  const erase = h("button.danger", { type: "button", i18n: "data.erase" });
  erase.addEventListener("click", () => {
    if (!window.confirm(t("data.erase_confirm"))) return;
    busy(erase, async () => {
      await call("DELETE", "/v1/me?confirm=true");
      setSession(null);
      state.me = null;
      say("data.erased");
      await render();
    });
  });
  return h("section.card", { "aria-labelledby": "data-h" }, [h("h2", { id: "data-h", i18n: "data.title" }), download, erase]);
}

async function signedIn(fetchMe = true) {
  if (fetchMe) {
    state.me = await call("GET", "/v1/me");
    // the language of my messages, unless this device chose one with the switch
    if (!localStorage.getItem("burgerhub.lang") && state.me.language !== language()) setLanguage(state.me.language);
  }
  const actions = await actionsSection(); // first: the map is drawn once its section is in the page
  const root = clear($("signed-in"));
  root.append(addressesSection(), contactsSection(), preferencesSection(), actions, dataSection());
}

async function render() {
  const signedInNow = !!session();
  $("signed-out").hidden = signedInNow;
  $("signed-in").hidden = !signedInNow;
  $("signout").hidden = !signedInNow;
  if (signedInNow) {
    try {
      await signedIn();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return render();
      fail(err);
    }
  } else {
    signedOut();
  }
  await renderApp($("app"), state, { say, fail, busy });
}

async function useLink() {
  const m = location.hash.match(/link=([A-Za-z0-9_-]+)/);
  if (!m) return;
  history.replaceState(null, "", location.pathname);
  say("link.busy");
  try {
    const r = await call("POST", "/v1/me/link", { token: m[1] }, { auth: false });
    if (r.token) setSession(r.token);
    say(r.purpose === "verify_email" ? "link.confirmed" : "link.signed_in");
  } catch (err) {
    fail(err);
  }
}

async function boot() {
  setLanguage(initialLanguage());
  try {
    state.config = await (await fetch("config.json")).json();
  } catch {
    state.config = { network_name: "Burgernet", channels: CHANNELS, app: { available: false }, tiles: null };
  }
  setGlobals({ network: state.config.network_name });
  setLanguage(language());
  try {
    state.places = await (await fetch("places.json")).json();
  } catch {
    state.places = [];
  }
  $("lang").addEventListener("click", () => {
    setLanguage(language() === "nl" ? "en" : "nl");
    localStorage.setItem("burgerhub.lang", language());
  });
  $("signout").addEventListener("click", async () => {
    try {
      await call("POST", "/v1/me/signout");
    } catch {
      /* signed out locally either way */
    }
    setSession(null);
    await render();
  });
  const online = () => ($("offline").hidden = navigator.onLine);
  window.addEventListener("online", online);
  window.addEventListener("offline", online);
  online();
  window.addEventListener("hashchange", async () => {
    if (/link=/.test(location.hash)) {
      await useLink();
      await render();
    }
  });
  await useLink();
  await render();
  document.body.dataset.ready = "true";
}

boot();
