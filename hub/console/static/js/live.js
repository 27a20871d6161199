/* global L */
// Following an action live: counts per channel as messages go out, tips as they arrive (newest first),
// updating the description or area, ending it with a result, and the closing messages going out.

import * as api from "./api.js";
import { clear, confirmDialog, h } from "./dom.js";
import { phoneTipForm } from "./evaluation.js";
import { num, onLangChange, t, time, tx } from "./i18n.js";
import { AreaEditor, createMap, drawArea, round } from "./mapview.js";

const KINDS = ["start", "update", "end"];
const ANNOUNCE_EVERY_MS = 4000;

export function renderLive(main, ctx, actionId) {
  const { config, me } = ctx;
  const mayAct = me.role === "dispatcher";
  let action = null;
  let source = null;
  let retryTimer = null;
  let retryDelay = 1000;
  let closed = false;
  let lastTip = 0;
  let auditVersion = -1;
  let lastAnnounced = "";
  let announceTimer = null;
  let editor = null;
  let shownArea = null;
  const tips = new Map();
  const objectUrls = [];
  const photoUrls = new Map();
  const newPhotos = [];

  // -- skeleton -----------------------------------------------------------------------------
  const heading = h("h1", { tabindex: -1, i18n: "live.loading" });
  const badges = h("p.badges");
  const meta = h("p.meta");
  // shown while the action is active and close to its expires_at: it then ends by itself, without result
  const expiry = h("div.notice.expiry-warning", { role: "alert", "data-testid": "expiry-warning", hidden: true });
  const conn = h("p.conn", { role: "status", "data-state": "connecting" }, [h("span.dot", { "aria-hidden": "true" }), h("span", { i18n: "live.connecting" })]);
  const summary = h("p.sr-only", { role: "status", "aria-live": "polite", "aria-atomic": "true" });

  const tile = (key, cls) => {
    const value = h("span.tile-value", { "data-testid": `tile-${key}` }, "0");
    const el = h(`div.tile.${cls}`, {}, [h("span.tile-label", { i18n: `live.tile_${key}` }), value]);
    return { el, value };
  };
  const tTargeted = tile("targeted", "neutral");
  const tSent = tile("sent", "info");
  const tDelivered = tile("delivered", "ok");
  const tFailed = tile("failed", "bad");
  const tTips = tile("tips", "neutral");
  const closingValue = h("span.tile-value.closing-value", { "data-testid": "tile-closing" }, "—");
  const closingSub = h("span.tile-sub", { i18n: "live.closing_none" });
  const tClosing = h("div.tile.closing", {}, [h("span.tile-label", { i18n: "live.closing" }), closingValue, closingSub]);
  const tiles = h("section.tiles", { "aria-label": t("live.totals"), i18nAttr: "aria-label:live.totals" }, [
    tTargeted.el, tSent.el, tDelivered.el, tFailed.el, tTips.el, tClosing,
  ]);

  const channelBody = h("div.channel-body");
  const tipList = h("ol.tips", { "aria-labelledby": "tips-title" });
  const tipsEmpty = h("p.muted", { i18n: "live.no_tips" });
  const tipsCount = h("span.count", {}, "0");
  const descText = h("p.description");
  const photoRow = h("ul.photo-list");
  const mapEl = h("div.map.map-live");

  const updateSection = h("section.panel.update", { "aria-labelledby": "update-title" });
  const endSection = h("section.panel.end", { "aria-labelledby": "end-title" });
  const auditBody = h("div.audit-body");
  const audit = h("details.panel.audit", {}, [h("summary", {}, h("h2", { i18n: "audit.title" })), auditBody]);
  audit.addEventListener("toggle", () => {
    if (audit.open) loadAudit(true);
  });

  const view = h("div.view.view-live", {}, [
    h("div.view-head.live-head", {}, [h("div", {}, [badges, heading, meta, expiry]), conn]),
    tiles,
    summary,
    h("div.live-grid", {}, [
      h("div.col-main", {}, [
        h("section.panel", { "aria-labelledby": "channels-title" }, [h("h2", { id: "channels-title", i18n: "live.per_channel" }), channelBody]),
        h("section.panel.tips-panel", { "aria-labelledby": "tips-title" }, [
          h("h2", { id: "tips-title" }, [h("span", { i18n: "live.tips" }), " ", tipsCount]),
          tipsEmpty,
          tipList,
          mayAct ? phoneTipForm(actionId) : null,
        ]),
      ]),
      h("div.col-side", {}, [
        mapEl,
        h("section.panel", { "aria-labelledby": "desc-title" }, [h("h2", { id: "desc-title", i18n: "live.description" }), descText, photoRow]),
        updateSection,
        endSection,
        audit,
      ]),
    ]),
  ]);
  clear(main).append(view);
  const map = createMap(mapEl, config, "map.live_label");
  const areaLayer = L.layerGroup().addTo(map);
  setTimeout(() => map.invalidateSize(), 0);

  // -- the stream ---------------------------------------------------------------------------
  async function connect() {
    if (closed) return;
    setConn("connecting");
    try {
      const { ticket, events } = await api.post(`/console/api/actions/${encodeURIComponent(actionId)}/ticket`, {});
      if (closed) return;
      source = new EventSource(`${events}?ticket=${encodeURIComponent(ticket)}&after=${lastTip}`);
      source.addEventListener("open", () => {
        retryDelay = 1000;
        setConn("live");
      });
      source.addEventListener("action", (e) => showAction(JSON.parse(e.data)));
      source.addEventListener("tip", (e) => addTip(JSON.parse(e.data), true));
      source.addEventListener("error", () => {
        // a spent ticket or a dropped connection: ask for a new ticket rather than re-sending the old one
        source?.close();
        source = null;
        reconnect();
      });
    } catch (e) {
      if (e.status === 404 || e.status === 403) {
        heading.removeAttribute("data-i18n");
        heading.textContent = e.reason;
        setConn("lost");
        return;
      }
      reconnect();
    }
  }

  function reconnect() {
    if (closed) return;
    setConn("lost");
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 15000);
  }

  function setConn(state) {
    conn.dataset.state = state;
    tx(conn.lastChild, state === "live" ? "live.connection_live" : state === "lost" ? "live.connection_lost" : "live.connecting");
  }

  // -- rendering ----------------------------------------------------------------------------
  function showAction(data) {
    if (closed) return; // an answer that arrives after the view was left: its map is gone
    const first = action === null;
    const versionChanged = !action || action.version !== data.version;
    action = data;
    renderHead();
    renderCounts();
    if (versionChanged) {
      descText.textContent = data.description;
      renderPhotos();
      const areaKey = JSON.stringify(data.area);
      if (!editor) {
        const bounds = drawArea(areaLayer, data.area);
        if (bounds && areaKey !== shownArea) map.fitBounds(bounds.pad(0.3), { maxZoom: 13 });
      }
      shownArea = areaKey;
      renderUpdate();
      renderEnd();
      if (audit.open || first) loadAudit(false);
    }
    if (first) heading.focus();
  }

  function renderHead() {
    const a = action;
    clear(badges).append(
      h(`span.badge.type`, { i18n: `type.${a.type}` }),
      h(`span.badge.${a.urgency === "time_critical" ? "urgent" : "calm"}`, { i18n: `urgency.${a.urgency}` }),
      h(`span.badge.${a.status === "active" ? "active" : "ended"}`, { "data-testid": "status", i18n: `live.status_${a.status}` }),
    );
    if (a.title) {
      heading.removeAttribute("data-i18n");
      heading.textContent = a.title;
    } else {
      tx(heading, `type.${a.type}`);
    }
    clear(meta);
    const started = Date.parse(a.started_at);
    meta.append(h("span", { i18n: "live.started", vars: { time: time(a.started_at) } }));
    if (a.status === "active") {
      meta.append(" · ", h("span.elapsed", { i18n: "live.elapsed", vars: { min: Math.max(0, Math.floor((Date.now() - started) / 60000)) } }));
    } else if (a.ended_at) {
      meta.append(" · ", h("span", { i18n: "live.ended_at", vars: { time: time(a.ended_at), result: { key: `result.${a.result}` } } }));
    }
    if (a.started_by) meta.append(" · ", h("span", { i18n: "live.by", vars: { name: a.started_by } }));
    meta.append(" · ", h("code", {}, a.id));
    renderExpiry();
  }

  function renderExpiry() {
    const a = action;
    const left = a.expires_at ? (Date.parse(a.expires_at) - Date.now()) / 60000 : Infinity;
    const warn = a.status === "active" && left <= (config.expiry_warning_minutes ?? 30);
    expiry.hidden = !warn;
    clear(expiry);
    if (!warn) return;
    expiry.append(h("p", { i18n: "live.expires_soon", vars: { time: time(a.expires_at), min: Math.max(0, Math.ceil(left)) } }));
    if (!mayAct) return;
    const status = h("span.status", { role: "status" });
    const extend = h("button.btn.small", {
      type: "button", i18n: "live.extend", "data-testid": "extend",
      onclick: async () => {
        extend.disabled = true;
        try {
          action = { ...action, ...(await api.patch(`/v1/actions/${encodeURIComponent(actionId)}`, { expires_in_minutes: 120 })) };
          renderHead();
        } catch (err) {
          status.textContent = err.reason;
          extend.disabled = false;
        }
      },
    });
    expiry.append(h("div.button-row", {}, [extend, status]));
  }

  function sums(kind) {
    const s = { targeted: 0, pending: 0, sent: 0, delivered: 0, failed: 0, cancelled: 0, reasons: {} };
    for (const kinds of Object.values(action.counts || {})) {
      const k = kinds[kind];
      if (!k) continue;
      addInto(s, k);
    }
    return s;
  }

  function addInto(s, k) {
    s.targeted += k.targeted || 0;
    s.pending += (k.queued || 0) + (k.sending || 0);
    s.sent += (k.sent || 0) + (k.delivered || 0);
    s.delivered += k.delivered || 0;
    s.failed += k.failed || 0;
    s.cancelled += (k.cancelled || 0) + (k.skipped || 0);
    for (const [r, n] of Object.entries(k.reasons || {})) s.reasons[r] = (s.reasons[r] || 0) + n;
  }

  function renderCounts() {
    const start = sums("start");
    const end = sums("end");
    setNumber(tTargeted.value, start.targeted);
    setNumber(tSent.value, start.sent);
    setNumber(tDelivered.value, start.delivered);
    setNumber(tFailed.value, start.failed);
    tFailed.el.classList.toggle("alert", start.failed > 0);
    setNumber(tTips.value, tips.size);
    if (action.status === "ended") {
      closingValue.textContent = `${num(end.sent)} / ${num(end.targeted)}`;
      if (end.pending > 0) tx(closingSub, "live.closing_pending", { n: end.pending });
      else if (end.failed > 0) tx(closingSub, "live.closing_failed", { n: end.failed });
      else tx(closingSub, "live.closing_done");
      tClosing.classList.toggle("done", end.targeted > 0 && end.pending === 0);
    } else {
      closingValue.textContent = "—";
      tx(closingSub, "live.closing_none");
    }
    renderChannels();
    scheduleAnnounce(start, end);
  }

  function setNumber(el, n) {
    const text = num(n);
    el.classList.toggle("nonzero", n > 0);
    if (el.textContent !== text) {
      el.textContent = text;
      el.classList.remove("bump");
      void el.offsetWidth; // restart the short highlight
      el.classList.add("bump");
    }
  }

  function renderChannels() {
    const entries = Object.entries(action.counts || {});
    if (!entries.length) {
      clear(channelBody).append(h("p.muted", { i18n: "live.no_deliveries" }));
      return;
    }
    const reasons = {};
    const lines = [];
    for (const [channel, kinds] of entries.sort()) {
      for (const kind of KINDS) {
        if (!kinds[kind]) continue;
        const s = { targeted: 0, pending: 0, sent: 0, delivered: 0, failed: 0, cancelled: 0, reasons: {} };
        addInto(s, kinds[kind]);
        for (const [r, n] of Object.entries(s.reasons)) reasons[r] = (reasons[r] || 0) + n;
        lines.push([channel, kind, s]);
      }
    }
    // cancelled (not sent because the action ended first) is rare: a column only when it happens
    const showCancelled = lines.some(([, , s]) => s.cancelled > 0);
    const rows = lines.map(([channel, kind, s]) =>
      h("tr", { "data-channel": channel, "data-kind": kind }, [
        h("th", { scope: "row" }, [h("span.channel-name", {}, channel), " ", h("span.kind", { i18n: `live.kind_${kind}` })]),
        h("td.num", {}, num(s.targeted)),
        h("td.num", {}, num(s.pending)),
        h("td.num.strong", { "data-col": "sent" }, num(s.sent)),
        h("td.num", {}, num(s.delivered)),
        h(`td.num${s.failed ? ".bad" : ""}`, {}, num(s.failed)),
        showCancelled ? h("td.num", {}, num(s.cancelled)) : null,
      ]),
    );
    const col = (key, numeric = true) => h(`th${numeric ? ".num" : ""}`, { scope: "col", i18n: key });
    clear(channelBody).append(
      h("div.table-wrap", {}, h("table.data.counts", {}, [
        h("thead", {}, h("tr", {}, [
          col("plan.channel", false), col("live.col_targeted"), col("live.col_pending"),
          col("live.col_sent"), col("live.col_delivered"), col("live.col_failed"),
          showCancelled ? col("live.col_cancelled") : null,
        ])),
        h("tbody", {}, rows),
      ])),
      h("p.hint", { i18n: "live.sent_note" }),
    );
    const list = Object.entries(reasons);
    if (list.length) {
      channelBody.append(h("p.error", { i18n: "live.reasons", vars: { reasons: list.map(([r, n]) => `${r} (${n})`).join(", ") } }));
    }
  }

  function scheduleAnnounce(start, end) {
    let text = t("live.announce", { sent: start.sent, n: start.targeted, failed: start.failed, tips: tips.size });
    if (action.status === "ended") text += " " + t("live.announce_end", { sent: end.sent, n: end.targeted });
    if (text === lastAnnounced || announceTimer) return;
    announceTimer = setTimeout(() => {
      announceTimer = null;
      const start2 = sums("start"), end2 = sums("end");
      let now = t("live.announce", { sent: start2.sent, n: start2.targeted, failed: start2.failed, tips: tips.size });
      if (action.status === "ended") now += " " + t("live.announce_end", { sent: end2.sent, n: end2.targeted });
      lastAnnounced = now;
      summary.textContent = now;
    }, lastAnnounced ? ANNOUNCE_EVERY_MS : 500);
  }

  function renderPhotos() {
    clear(photoRow);
    (action.photos || []).forEach((p, i) => {
      const src = api.photoSrc(p.url);
      if (!src.startsWith("/")) {
        photoRow.append(h("li", {}, h("a", { href: src, target: "_blank", rel: "noopener noreferrer" }, src)));
        return;
      }
      // fetched with the token: the public URL answers 410 once the action has ended
      const img = h("img", { alt: t("f.photo_alt", { n: i + 1 }), width: 96, height: 96 });
      const link = h("a", { target: "_blank", rel: "noopener" }, img);
      photoRow.append(h("li", {}, link));
      photoUrl(src).then((url) => { img.src = url; link.href = url; }).catch(() => img.remove());
    });
  }

  /** One object URL per photo for as long as the view is open (the row is drawn again on changes). */
  function photoUrl(src) {
    if (!photoUrls.has(src)) {
      const made = api.objectUrl(src).then((url) => { objectUrls.push(url); return url; });
      made.catch(() => photoUrls.delete(src));
      photoUrls.set(src, made);
    }
    return photoUrls.get(src);
  }

  async function addTip(tip, live) {
    if (tips.has(tip.id)) return;
    tips.set(tip.id, tip);
    lastTip = Math.max(lastTip, tip.id);
    tipsEmpty.hidden = true;
    tipsCount.textContent = num(tips.size);
    const img = tip.photo_url ? h("img", { alt: t("live.tip_photo", { id: tip.id }), width: 120, height: 120 }) : null;
    const item = h("li.tip", { "data-tip": String(tip.id) }, [
      h("div.tip-meta", {}, [
        h("time", { datetime: new Date(tip.created_at * 1000).toISOString() }, time(tip.created_at)),
        " ",
        h("span.muted", { i18n: "live.tip_from", vars: { channel: tip.channel || "?" } }),
        tip.sender ? h("span.muted", {}, ` · ${tip.sender}`) : null,
      ]),
      h("p.tip-text", {}, tip.text),
      img,
    ]);
    // newest first, whatever order they arrive in
    const after = [...tipList.children].find((li) => Number(li.dataset.tip) < tip.id);
    tipList.insertBefore(item, after || null);
    if (live && action) {
      item.classList.add("new");
      setTimeout(() => item.classList.remove("new"), 8000);
      summary.textContent = t("live.tip_new", { text: tip.text });
      renderCounts();
    }
    if (img) {
      try {
        const url = await api.objectUrl(tip.photo_url);
        objectUrls.push(url);
        img.src = url;
      } catch {
        img.remove();
      }
    }
  }

  // -- update -------------------------------------------------------------------------------
  function renderUpdate() {
    clear(updateSection);
    if (action.status !== "active" || !mayAct) {
      updateSection.hidden = true;
      return;
    }
    updateSection.hidden = false;
    const descInput = h("textarea", { id: "u-description", rows: 3, maxlength: 2000, value: action.description });
    const photoInput = h("input.visually-hidden-file", { id: "u-photo", type: "file", accept: "image/jpeg,image/png,image/webp" });
    const photoStatus = h("p.status", { role: "status" });
    const notify = h("input", { id: "u-notify", type: "checkbox", checked: true });
    const areaBox = h("div.field");
    const renderAreaBox = () => {
      const areaBtn = h("button.btn.small", {
        type: "button", i18n: editor ? "update.area_cancel" : "update.area", "aria-pressed": editor ? "true" : "false",
        onclick: () => {
          toggleAreaEditing();
          renderAreaBox();
          areaBox.querySelector("button[aria-pressed]").focus();
        },
      });
      clear(areaBox).append(areaBtn);
      if (editor) areaBox.append(h("p.hint", { i18n: "update.area_editing" }), areaEditControls());
    };
    renderAreaBox();
    const result = h("p.status.update-result", { role: "status", "aria-live": "polite", tabindex: -1 });
    const submit = h("button.btn.primary", { type: "submit", i18n: "update.submit" });
    photoInput.addEventListener("change", async () => {
      const file = photoInput.files[0];
      photoInput.value = "";
      if (!file) return;
      tx(photoStatus, "f.photo_uploading");
      try {
        const answer = await api.request("POST", "/v1/photos", { body: file, contentType: file.type || "image/jpeg" });
        newPhotos.push({ url: answer.url });
        tx(photoStatus, "f.photo_uploaded", { n: newPhotos.length });
      } catch (e) {
        tx(photoStatus, "f.photo_failed", { reason: e.reason || e.message });
      }
    });
    const form = h("form", { novalidate: true }, [
      h("div.field", {}, [h("label", { for: "u-description", i18n: "update.description" }), descInput]),
      h("div.field", {}, [h("label.btn.small.file-button", { for: "u-photo" }, h("span", { i18n: "update.photo" })), photoInput, photoStatus]),
      areaBox,
      h("div.field.check", {}, [notify, h("label", { for: "u-notify", i18n: "update.notify" })]),
      h("div.button-row", {}, [submit]),
      result,
    ]);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {};
      const text = descInput.value.trim();
      if (text && text !== action.description) body.description = text;
      if (newPhotos.length) body.add_photos = newPhotos.map((p) => ({ ...p }));
      const area = editor?.area();
      if (area && !sameArea(area, action.area)) body.area = area;
      if (!Object.keys(body).length) {
        tx(result, "update.nothing");
        return;
      }
      body.notify = notify.checked;
      submit.disabled = true;
      try {
        const answer = await api.patch(`/v1/actions/${encodeURIComponent(actionId)}`, body);
        newPhotos.length = 0;
        if (editor) toggleAreaEditing();
        // the stream may have brought this version already: render the form afresh either way
        showAction({ ...answer, counts: action.counts });
        renderUpdate();
        const bounds = drawArea(areaLayer, action.area);
        if (bounds && body.area) map.fitBounds(bounds.pad(0.3), { maxZoom: 13 });
        const msg = updateSection.querySelector(".update-result");
        tx(msg, "update.done", { v: answer.version, starts: answer.queued?.start || 0, updates: answer.queued?.update || 0 });
        ctx.list.refresh();
      } catch (err) {
        result.textContent = err.status === 403 ? t("plan.refused", { reason: err.reason }) : err.reason;
        result.classList.add("error");
      } finally {
        submit.disabled = false;
      }
    });
    updateSection.append(h("h2", { id: "update-title", i18n: "update.title" }), form);
  }

  /** Keyboard-operable controls for the new area; clicks on the map do the same. */
  function areaEditControls() {
    const status = h("p.status.area-status", { "aria-live": "polite" });
    const centre = () => {
      const c = map.getCenter();
      if (editor.mode === "circle") editor.setCenter(round(c.lat), round(c.lng), { pan: false });
      else editor.addPoint(round(c.lat), round(c.lng));
    };
    const box = h("div.area-edit", {}, []);
    if (editor.mode === "circle") {
      const transport = h("select", { id: "u-transport" }, [
        ...config.transports.map((v) => h("option", { value: v, i18n: `transport.${v}` })),
        h("option", { value: "custom", i18n: "f.transport_custom" }),
      ]);
      transport.value = editor.transport;
      const radius = h("input", { id: "u-radius", type: "number", min: 50, max: 100000, step: 50, value: editor.customRadius || "" });
      const radiusField = h("div.field", { hidden: editor.transport !== "custom" }, [h("label", { for: "u-radius", i18n: "f.radius" }), radius]);
      transport.addEventListener("change", () => {
        radiusField.hidden = transport.value !== "custom";
        editor.setTransport(transport.value);
      });
      radius.addEventListener("input", () => editor.setCustomRadius(Number(radius.value)));
      box.append(
        h("div.field", {}, [h("label", { for: "u-transport", i18n: "f.transport" }), transport]),
        radiusField,
        h("button.btn.small.ghost", { type: "button", i18n: "f.location_center", onclick: centre }),
      );
    } else {
      box.append(h("div.button-row", {}, [
        h("button.btn.small", { type: "button", i18n: "f.polygon_add_center", onclick: centre }),
        h("button.btn.small.ghost", { type: "button", i18n: "f.polygon_undo", onclick: () => editor.undoPoint() }),
        h("button.btn.small.ghost", { type: "button", i18n: "f.polygon_clear", onclick: () => editor.clearPoints() }),
      ]));
    }
    box.append(status);
    describeEdit(status);
    return box;
  }

  function describeEdit(status = updateSection.querySelector(".area-status")) {
    if (!status || !editor) return;
    if (editor.mode === "circle") {
      const r = editor.radius();
      status.textContent = [
        editor.center ? t("f.location_chosen", { lat: editor.center[0].toFixed(5), lon: editor.center[1].toFixed(5) }) : "",
        r ? t("f.radius_shown", { m: Math.round(r) }) : "",
      ].filter(Boolean).join(" · ");
    } else {
      status.textContent = t("f.polygon_points", { n: editor.points.length });
    }
  }

  function toggleAreaEditing() {
    if (editor) {
      editor.destroy();
      editor = null;
      drawArea(areaLayer, action.area);
      return;
    }
    areaLayer.clearLayers();
    drawArea(areaLayer, action.area, { color: "#ffcc4d", weight: 2, dashArray: "2 6", fill: false });
    editor = new AreaEditor(map, config, () => describeEdit());
    const a = action.area;
    if (a.type === "circle") {
      editor.transport = a.transport || "custom";
      if (!a.transport) editor.customRadius = a.radius_m;
      editor.setCenter(a.lat, a.lon, { pan: false });
    } else {
      editor.mode = "polygon";
      editor.points = a.points.map((p) => [...p]);
      editor.changed();
    }
  }

  // -- end ----------------------------------------------------------------------------------
  function renderEnd() {
    clear(endSection);
    if (action.status !== "active" || !mayAct) {
      endSection.hidden = true;
      return;
    }
    endSection.hidden = false;
    const fitting = config.results_by_type?.[action.type] || config.results;
    const radios = fitting.map((r, i) =>
      h("label.choice", {}, [h("input", { type: "radio", name: "result", value: r, checked: i === 0 }), h("span", { i18n: `result.${r}` })]),
    );
    const text = h("textarea", { id: "e-text", rows: 2, maxlength: 500 });
    const solved = h("input", { id: "e-solved", type: "checkbox" });
    const result = h("p.status", { role: "status", "aria-live": "polite" });
    const submit = h("button.btn.danger", { type: "submit", i18n: "end.submit" });
    const form = h("form", { novalidate: true }, [
      h("fieldset.field", {}, [h("legend", { i18n: "end.result" }), h("div.choices.stack", {}, radios)]),
      h("div.field", {}, [h("label", { for: "e-text", i18n: "end.text" }), text]),
      h("label.choice", { for: "e-solved" }, [solved, h("span", { i18n: "end.solved" })]),
      h("div.button-row", {}, [submit]),
      result,
    ]);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const chosen = form.querySelector('input[name="result"]:checked').value;
      const reached = sums("start").sent;
      const ok = await confirmDialog({
        titleKey: "end.confirm_title",
        lead: h("p", { i18n: "end.confirm_lead", vars: { result: { key: `result.${chosen}` }, n: reached } }),
        body: text.value.trim() ? h("blockquote.quote", {}, text.value.trim()) : null,
        yesKey: "end.confirm_yes",
        danger: true,
      });
      if (!ok) return;
      submit.disabled = true;
      try {
        const body = { result: chosen };
        if (text.value.trim()) body.text = text.value.trim();
        if (solved.checked) body.solved_by_participants = true;
        const answer = await api.post(`/v1/actions/${encodeURIComponent(actionId)}/end`, body);
        showAction({ ...answer, counts: action.counts });
        summary.textContent = t("end.done", { n: answer.queued?.end || 0 });
        ctx.list.refresh();
        heading.focus();
      } catch (err) {
        result.textContent = err.status === 403 ? t("plan.refused", { reason: err.reason }) : err.reason;
        result.classList.add("error");
        submit.disabled = false;
      }
    });
    endSection.append(h("h2", { id: "end-title", i18n: "end.title" }), form);
  }

  // -- audit --------------------------------------------------------------------------------
  async function loadAudit(force) {
    if (!action || (!force && auditVersion === action.version)) return;
    auditVersion = action.version;
    try {
      const { audit: rows } = await api.get(`/v1/actions/${encodeURIComponent(actionId)}/audit`);
      clear(auditBody);
      if (!rows.length) {
        auditBody.append(h("p.muted", { i18n: "audit.empty" }));
        return;
      }
      auditBody.append(
        h("table.data.audit-table", {}, [
          h("thead", {}, h("tr", {}, ["audit.when", "audit.who", "audit.what", "audit.detail"].map((k) => h("th", { scope: "col", i18n: k })))),
          h("tbody", {}, rows.map((r) =>
            h("tr", {}, [
              h("td", {}, time(r.at, true)),
              h("td", {}, `${r.actor} (${t(`role.${r.role}`)})`),
              h("td", { i18n: `verb.${r.verb}` }),
              h("td", {}, h("code", {}, JSON.stringify(r.detail))),
            ]),
          )),
        ]),
      );
    } catch (e) {
      clear(auditBody).append(h("p.error", {}, e.reason));
    }
  }

  const ticker = setInterval(() => {
    if (action?.status === "active") renderHead();
  }, 30000);
  const offLang = onLangChange(() => {
    if (!action) return;
    renderHead();
    renderCounts();
    renderPhotos();
  });

  connect();
  return {
    destroy() {
      closed = true;
      clearTimeout(retryTimer);
      clearTimeout(announceTimer);
      clearInterval(ticker);
      offLang();
      source?.close();
      editor?.destroy();
      map.remove();
      for (const url of objectUrls) URL.revokeObjectURL(url);
    },
  };
}

function sameArea(a, b) {
  if (a.type !== b.type) return false;
  if (a.type === "polygon") return JSON.stringify(a.points) === JSON.stringify(b.points);
  const radius = a.transport ? a.transport === b.transport : a.radius_m === b.radius_m && !b.transport;
  return a.lat === b.lat && a.lon === b.lon && radius;
}
