// Starting an action: the form, the area on the map, the dry run, one confirmation, and off it goes.

import * as api from "./api.js";
import { clear, confirmDialog, debounce, h } from "./dom.js";
import { lang, num, onLangChange, t, tx } from "./i18n.js";
import { AreaEditor, createMap, places, round } from "./mapview.js";

const FIELD_ORDER = ["type", "urgency", "safety_advice", "title", "description", "photos", "area"];

export function renderNewAction(main, ctx) {
  const { config, me } = ctx;
  const mb = Math.floor(config.max_photo_bytes / (1024 * 1024));
  const actionId = "act-" + randomHex(12); // chosen here so a retried send can never start it twice
  const photos = [];
  let planSeq = 0;
  let lastPlan = null;

  // -- fields -------------------------------------------------------------------------------
  const typeSel = h("select", { id: "f-type", name: "type", required: true }, [
    h("option", { value: "", i18n: "f.choose" }),
    // an organisation's people see only the types it may issue
    ...(me.action_types || config.types).map((v) => h("option", { value: v, i18n: `type.${v}` })),
  ]);
  const urgencyRadios = config.urgencies.map((v, i) =>
    h("label.choice", {}, [
      h("input", { type: "radio", name: "urgency", value: v, checked: i === 0, id: `f-urgency-${v}` }),
      h("span", { i18n: `urgency.${v}` }),
    ]),
  );
  const titleInput = h("input", { id: "f-title", name: "title", type: "text", maxlength: 120, autocomplete: "off" });
  const descHint = h("p.hint", { id: "f-description-hint", i18n: "f.description_hint" });
  const desc = h("textarea", {
    id: "f-description", name: "description", rows: 4, maxlength: 2000, required: true,
    "aria-describedby": "f-description-hint",
  });

  const adviceHint = h("p.hint", { id: "f-safety_advice-hint", i18n: "f.safety_advice_hint" });
  const advice = h("textarea", {
    id: "f-safety_advice", name: "safety_advice", rows: 2, maxlength: 300, "aria-describedby": "f-safety_advice-hint",
  });
  const nlAlert = h("input", { type: "checkbox", id: "f-nl_alert", name: "nl_alert" });

  const photoInput = h("input.visually-hidden-file", {
    id: "f-photo", type: "file", accept: "image/jpeg,image/png,image/webp", multiple: true,
    "aria-describedby": "f-photo-hint f-photo-status",
  });
  const photoList = h("ul.photo-list", { "aria-label": t("f.photos"), i18nAttr: "aria-label:f.photos" });
  const photoStatus = h("p.status", { id: "f-photo-status", role: "status", "aria-live": "polite" });

  const placesList = h("datalist", { id: "f-places" });
  places().then((list) => {
    const fill = () => {
      clear(placesList);
      for (const p of list) placesList.append(h("option", { value: lang() === "en" ? p.name_en : p.name_nl }));
    };
    fill();
    onLangChange(fill);
  });
  const locInput = h("input", {
    id: "f-location", type: "text", list: "f-places", autocomplete: "off", inputmode: "text",
    "aria-describedby": "f-location-hint f-location-status",
  });
  const locStatus = h("p.status", { id: "f-location-status", role: "status", "aria-live": "polite", i18n: "f.location_none" });

  const modeCircle = h("input", { type: "radio", name: "area-mode", value: "circle", checked: true, id: "f-mode-circle" });
  const modePolygon = h("input", { type: "radio", name: "area-mode", value: "polygon", id: "f-mode-polygon" });
  const transportSel = h("select", { id: "f-transport" }, [
    ...config.transports.map((v) => h("option", { value: v, i18n: `transport.${v}` })),
    h("option", { value: "custom", i18n: "f.transport_custom" }),
  ]);
  const radiusInput = h("input", { id: "f-radius", type: "number", min: 50, max: 100000, step: 50, inputmode: "numeric" });
  const radiusRow = h("div.field", { hidden: true }, [h("label", { for: "f-radius", i18n: "f.radius" }), radiusInput]);
  const radiusShown = h("p.radius-shown", { "aria-live": "polite" });
  const circleBox = h("div.area-circle", {}, [
    h("div.field", {}, [h("label", { for: "f-transport", i18n: "f.transport" }), transportSel]),
    radiusRow,
    radiusShown,
  ]);
  const pointsShown = h("p.status", { "aria-live": "polite" });
  const polygonBox = h("div.area-polygon", { hidden: true }, [
    h("p.hint", { i18n: "f.polygon_hint" }),
    pointsShown,
    h("div.button-row", {}, [
      h("button.btn.small", { type: "button", i18n: "f.polygon_add_center", onclick: () => { const c = map.getCenter(); editor.addPoint(round(c.lat), round(c.lng)); } }),
      h("button.btn.small.ghost", { type: "button", i18n: "f.polygon_undo", onclick: () => editor.undoPoint() }),
      h("button.btn.small.ghost", { type: "button", i18n: "f.polygon_clear", onclick: () => editor.clearPoints() }),
    ]),
  ]);

  const errorBox = h("div.error-summary", { role: "alert", tabindex: -1, hidden: true });
  const sendBtn = h("button.btn.primary.big", { type: "submit", form: "new-action-form", i18n: "send" });

  const form = h("form.panel.form", { id: "new-action-form", novalidate: true }, [
    errorBox,
    h("div.field", {}, [h("label", { for: "f-type", i18n: "f.type" }), typeSel]),
    h("fieldset.field", {}, [h("legend", { i18n: "f.urgency" }), h("div.choices", {}, urgencyRadios)]),
    h("div.field", {}, [h("label", { for: "f-safety_advice", i18n: "f.safety_advice" }), adviceHint, advice]),
    h("div.field", {}, [h("label.choice", {}, [nlAlert, h("span", { i18n: "f.nl_alert" })])]),
    h("div.field", {}, [h("label", { for: "f-description", i18n: "f.description" }), descHint, desc]),
    h("div.field", {}, [
      h("span.label", { id: "f-photos-label", i18n: "f.photos" }),
      h("p.hint", { id: "f-photo-hint", i18n: "f.photo_hint", vars: { mb } }),
      photoList,
      h("label.btn.small.file-button", { for: "f-photo" }, [h("span", { i18n: "f.photo_add" })]),
      photoInput,
      photoStatus,
    ]),
    h("fieldset.field", {}, [
      h("legend", { i18n: "f.location" }),
      h("label", { for: "f-location", i18n: "f.location_input" }),
      h("p.hint", { id: "f-location-hint", i18n: "f.location_hint" }),
      h("div.inline", {}, [
        locInput,
        h("button.btn.small", { type: "button", i18n: "f.location_set", onclick: () => setLocationFromInput() }),
      ]),
      placesList,
      h("button.btn.small.ghost", { type: "button", i18n: "f.location_center", onclick: () => { const c = map.getCenter(); editor.setCenter(round(c.lat), round(c.lng), { pan: false }); } }),
      locStatus,
    ]),
    h("fieldset.field", {}, [
      h("legend", { i18n: "f.area" }),
      h("div.choices", {}, [
        h("label.choice", {}, [modeCircle, h("span", { i18n: "f.area_circle" })]),
        h("label.choice", {}, [modePolygon, h("span", { i18n: "f.area_polygon" })]),
      ]),
      circleBox,
      polygonBox,
    ]),
    h("div.field.last", {}, [h("label", { for: "f-title", i18n: "f.title" }), titleInput]),
  ]);

  const planBody = h("div.plan-body", { id: "plan-body", "aria-live": "polite", "aria-busy": "false" }, [
    h("p.muted", { i18n: "plan.empty" }),
  ]);
  const mapEl = h("div.map.map-new");
  const view = h("div.view.view-new", {}, [
    h("div.view-head", {}, [h("h1", { tabindex: -1, i18n: "new.title" })]),
    me.role !== "dispatcher" ? h("p.notice", { role: "note", i18n: "new.operator_note" }) : null,
    h("div.new-grid", {}, [
      form,
      h("div.map-col", {}, [
        mapEl,
        h("section.panel.plan", { "aria-labelledby": "plan-title" }, [
          h("h2", { id: "plan-title", i18n: "plan.title" }),
          planBody,
        ]),
        h("div.send-row", {}, [sendBtn]),
      ]),
    ]),
  ]);
  clear(main).append(view);

  const schedulePlan = debounce(() => runPlan(true).catch(() => {}), 350);
  const map = createMap(mapEl, config, "map.label");
  const editor = new AreaEditor(map, config, () => {
    describeArea();
    schedulePlan();
  });
  describeArea();

  // -- behaviour ----------------------------------------------------------------------------
  function describeArea() {
    if (editor.center) tx(locStatus, "f.location_chosen", { lat: editor.center[0].toFixed(5), lon: editor.center[1].toFixed(5) });
    else tx(locStatus, "f.location_none");
    const r = editor.radius();
    if (r) tx(radiusShown, "f.radius_shown", { m: Math.round(r) });
    else radiusShown.textContent = "";
    tx(pointsShown, "f.polygon_points", { n: editor.points.length });
  }

  async function setLocationFromInput() {
    const text = locInput.value.trim();
    const m = text.match(/^\s*(-?\d+(?:[.,]\d+)?)\s*[,;\s]\s*(-?\d+(?:[.,]\d+)?)\s*$/);
    if (m) {
      const lat = parseFloat(m[1].replace(",", ".")), lon = parseFloat(m[2].replace(",", "."));
      if (Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
        editor.setCenter(round(lat), round(lon));
        return;
      }
    }
    const wanted = text.toLowerCase();
    const hit = (await places()).find((p) => p.name_nl.toLowerCase() === wanted || p.name_en.toLowerCase() === wanted);
    if (hit) {
      editor.setCenter(hit.lat, hit.lon);
      return;
    }
    tx(locStatus, "f.location_bad");
  }

  locInput.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      setLocationFromInput();
    }
  });
  locInput.addEventListener("change", () => {
    if (locInput.value.trim()) setLocationFromInput();
  });
  for (const radio of [modeCircle, modePolygon]) {
    radio.addEventListener("change", () => {
      circleBox.hidden = modeCircle.checked === false;
      polygonBox.hidden = modePolygon.checked === false;
      editor.setMode(modeCircle.checked ? "circle" : "polygon");
    });
  }
  transportSel.addEventListener("change", () => {
    radiusRow.hidden = transportSel.value !== "custom";
    editor.setTransport(transportSel.value);
  });
  radiusInput.addEventListener("input", () => editor.setCustomRadius(Number(radiusInput.value)));
  typeSel.addEventListener("change", schedulePlan);
  for (const r of form.querySelectorAll('input[name="urgency"]')) r.addEventListener("change", schedulePlan);

  photoInput.addEventListener("change", async () => {
    const files = [...photoInput.files];
    photoInput.value = "";
    for (const file of files) {
      if (file.size > config.max_photo_bytes) {
        tx(photoStatus, "f.photo_too_big", { mb });
        continue;
      }
      tx(photoStatus, "f.photo_uploading");
      try {
        const answer = await api.request("POST", "/v1/photos", { body: file, contentType: file.type || "image/jpeg" });
        photos.push({ url: answer.url });
        renderPhotos();
        tx(photoStatus, "f.photo_uploaded", { n: photos.length });
      } catch (e) {
        tx(photoStatus, "f.photo_failed", { reason: e.reason || e.message });
      }
    }
  });

  function renderPhotos() {
    clear(photoList);
    photos.forEach((p, i) => {
      photoList.append(
        h("li", {}, [
          h("img", { src: api.photoSrc(p.url), alt: t("f.photo_alt", { n: i + 1 }), width: 96, height: 96 }),
          h("button.btn.small.ghost", {
            type: "button", i18n: "f.photo_remove", vars: { n: i + 1 },
            onclick: () => { photos.splice(i, 1); renderPhotos(); photoInput.focus(); },
          }),
        ]),
      );
    });
  }

  function payload() {
    const body = {
      id: actionId,
      type: typeSel.value,
      urgency: form.querySelector('input[name="urgency"]:checked')?.value,
      description: desc.value.trim(),
      area: editor.area(),
    };
    if (titleInput.value.trim()) body.title = titleInput.value.trim();
    if (advice.value.trim()) body.safety_advice = advice.value.trim();
    if (nlAlert.checked) body.nl_alert = true;
    if (photos.length) body.photos = photos.map((p) => ({ ...p }));
    return body;
  }

  function missing(body) {
    const out = [];
    if (!body.type) out.push("type");
    if (body.description.length < 3) out.push("description");
    if (body.type === "crisis" && !body.safety_advice) out.push("safety_advice");
    if (!body.area) out.push("area");
    return out;
  }

  /** The dry run. As a preview (before the description is written) a placeholder text stands in. */
  async function runPlan(preview) {
    const body = payload();
    if (!body.area || !body.type) {
      if (preview) {
        lastPlan = null;
        clear(planBody).append(h("p.muted", { i18n: "plan.empty" }));
      }
      return null;
    }
    if (preview && body.description.length < 3) body.description = "(concept)";
    if (preview && body.type === "crisis" && !body.safety_advice) body.safety_advice = "(concept)";
    const seq = ++planSeq;
    planBody.setAttribute("aria-busy", "true");
    try {
      const plan = await api.post("/v1/actions?dry_run=true", body);
      if (seq !== planSeq) return plan;
      lastPlan = plan;
      if (plan.audience?.radius_m) editor.setPlannedRadius(plan.audience.radius_m);
      describeArea();
      renderPlan(plan);
      return plan;
    } catch (e) {
      if (seq === planSeq) renderPlanError(e);
      throw e;
    } finally {
      if (seq === planSeq) planBody.setAttribute("aria-busy", "false");
    }
  }

  function renderPlanError(e) {
    lastPlan = null;
    const key = e.status === 403 ? "plan.refused" : e.status === 0 ? "error.network" : "error.field";
    const vars = e.status === 422 ? { field: fieldLabel(e.field), reason: e.reason } : { reason: e.reason };
    clear(planBody).append(h("p.error", { role: "alert", i18n: e.status === 422 ? "error.field" : key, vars }));
  }

  function renderPlan(plan) {
    clear(planBody).append(planSummary(plan));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    hideErrors();
    const body = payload();
    const gaps = missing(body);
    if (gaps.length) {
      showErrors([{ field: gaps[0], key: "send.incomplete", vars: { fields: gaps.map(fieldLabel) } }], gaps[0]);
      return;
    }
    const busy = (on) => {
      sendBtn.disabled = on;
      tx(sendBtn, on ? "send.busy" : "send");
    };
    busy(true);
    let plan;
    try {
      plan = await runPlan(false);
    } catch (err) {
      showApiError(err);
      return;
    } finally {
      busy(false);
    }
    const ok = await confirmDialog({
      titleKey: "confirm.title",
      lead: h("p", { i18n: "confirm.lead", vars: { type: { key: `type.${body.type}` }, urgency: { key: `urgency.${body.urgency}` }, n: totalRecipients(plan) } }),
      body: h("div.confirm-body", {}, [channelList(plan), h("blockquote.quote", {}, body.description)]),
      yesKey: "confirm.yes",
      returnFocus: sendBtn,
    });
    if (!ok) return;
    busy(true);
    try {
      const action = await api.post("/v1/actions", body);
      ctx.list.refresh();
      ctx.navigate(`#/action/${encodeURIComponent(action.id)}`);
    } catch (err) {
      if (err.status === 409) {
        // the same id was started by an earlier try whose answer got lost: follow that one
        ctx.navigate(`#/action/${encodeURIComponent(actionId)}`);
        return;
      }
      showApiError(err);
    } finally {
      if (sendBtn.isConnected) busy(false);
    }
  });

  const fieldInputs = {
    type: typeSel, urgency: form.querySelector('input[name="urgency"]'), title: titleInput,
    description: desc, safety_advice: advice, photos: photoInput, area: locInput, id: sendBtn,
  };

  /** A field's name for messages: {key} of its label when known (so it follows the language), else as sent. */
  function fieldLabel(field) {
    const top = String(field || "").split(/[.[]/)[0];
    return FIELD_ORDER.includes(top) ? { key: `field.${top}` } : field || "";
  }

  function showApiError(err) {
    let items;
    if (err.status === 403) items = [{ key: "plan.refused", vars: { reason: err.reason } }];
    else if (err.status === 0) items = [{ key: "error.network", vars: { reason: err.reason } }];
    else if (err.errors?.length) items = err.errors.map((x) => ({ field: x.field, key: "error.field", vars: { field: fieldLabel(x.field), reason: x.reason } }));
    else if (err.field) items = [{ field: err.field, key: "error.field", vars: { field: fieldLabel(err.field), reason: err.reason } }];
    else items = [{ text: err.reason }];
    showErrors(items, items[0].field);
  }

  function showErrors(items, focusField) {
    clear(errorBox).append(
      h("h2", { i18n: "error.title" }),
      h("ul", {}, items.map((x) => (x.key ? h("li", { i18n: x.key, vars: x.vars }) : h("li", {}, x.text)))),
    );
    errorBox.hidden = false;
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const top = String(focusField || "").split(/[.[]/)[0];
    const target = fieldInputs[top];
    if (target && target !== sendBtn) {
      target.setAttribute("aria-invalid", "true");
      errorBox.focus();
    } else {
      errorBox.focus();
    }
  }

  function hideErrors() {
    errorBox.hidden = true;
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  const offLang = onLangChange(() => {
    describeArea();
    if (lastPlan) renderPlan(lastPlan);
    renderPhotos();
  });

  setTimeout(() => map.invalidateSize(), 0);
  return {
    destroy() {
      offLang();
      editor.destroy();
      map.remove();
    },
  };
}

export function totalRecipients(plan) {
  return Object.values(plan?.audience?.channels || {}).reduce((n, c) => n + (c.targeted || 0), 0);
}

/** The dry run's answer as a calm summary: one big number, then per channel who and who not. */
export function planSummary(plan) {
  const audience = plan.audience || {};
  const channels = Object.entries(audience.channels || {});
  const total = totalRecipients(plan);
  const out = h("div.plan-summary", {}, [
    h("p.plan-total", {}, [h("span.big-number", { "data-testid": "plan-total" }, num(total)), " ", h("span", { i18n: "plan.recipients_word" })]),
  ]);
  const facts = h("ul.plan-facts");
  if (audience.in_area !== undefined) facts.append(h("li", { i18n: "plan.in_area", vars: { n: audience.in_area } }));
  if (plan.route?.routes?.length) facts.append(h("li", { i18n: "plan.routes", vars: { routes: plan.route.routes.join(", ") } }));
  if (plan.route?.bypass_quiet_hours) facts.append(h("li", { i18n: "plan.quiet" }));
  out.append(facts);
  if (!channels.length) {
    out.append(h("p.error", { i18n: "plan.no_channels" }));
    return out;
  }
  out.append(channelTable(channels));
  return out;
}

function channelTable(channels) {
  return h("table.data", {}, [
    h("thead", {}, h("tr", {}, [
      h("th", { scope: "col", i18n: "plan.channel" }),
      h("th.num", { scope: "col", i18n: "plan.recipients" }),
      h("th", { scope: "col", i18n: "plan.skipped" }),
    ])),
    h("tbody", {}, channels.map(([name, c]) =>
      h("tr", { "data-channel": name }, [
        h("th", { scope: "row" }, [name, c.sandbox ? h("span.badge.sandbox", { i18n: "plan.sandbox" }) : null]),
        h("td.num.strong", {}, c.unavailable ? "—" : num(c.targeted || 0)),
        h("td", {}, c.unavailable ? h("span.error", { i18n: "plan.unavailable", vars: { reason: c.unavailable } }) : skippedText(c.skipped)),
      ]),
    )),
  ]);
}

function skippedText(skipped) {
  const parts = Object.entries(skipped || {}).filter(([, n]) => n > 0);
  if (!parts.length) return h("span.muted", { i18n: "plan.none_skipped" });
  return h("ul.reasons", {}, parts.map(([reason, n]) => h("li", {}, [h("span.num", {}, num(n)), " ", h("span", { i18n: `skip.${reason}` })])));
}

function channelList(plan) {
  return h("ul.confirm-channels", {}, Object.entries(plan.audience?.channels || {}).map(([name, c]) =>
    h("li", {}, [h("strong", {}, name), ": ", c.unavailable ? h("span", { i18n: "plan.unavailable", vars: { reason: c.unavailable } }) : num(c.targeted || 0)]),
  ));
}

function randomHex(n) {
  const bytes = new Uint8Array(Math.ceil(n / 2));
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("").slice(0, n);
}
