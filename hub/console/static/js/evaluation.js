// The evaluation page (#/evaluation): a period's figures as the network reports them, with charts, maps
// and every table to download as CSV. The figures and charts come from GET /v1/evaluation (counts only;
// small counts of people arrive as "< 5"); charts are SVG drawn by the hub with attributes only. The hub
// words tables, charts and the HTML report in the console's language (?lang=), and the page asks again
// when the language is switched.

import * as api from "./api.js";
import { clear, h } from "./dom.js";
import { addStrings, lang, num, onLangChange, t, tx } from "./i18n.js";

addStrings({
  nl: {
    "nav.evaluation": "Evaluatie",
    "eval.title": "Evaluatie",
    "eval.intro": "Cijfers over een periode, uit de eigen gegevens van de hub. Alleen aantallen: minder dan 5 personen staat er als “< 5”.",
    "eval.from": "Van",
    "eval.to": "Tot en met",
    "eval.region": "Regio",
    "eval.municipality": "Gemeente",
    "eval.type": "Soort actie",
    "eval.urgency": "Urgentie",
    "eval.any": "Alle",
    "eval.show": "Tonen",
    "eval.busy": "Cijfers worden berekend…",
    "eval.error": "Cijfers laden mislukt: {reason}",
    "eval.actions": "acties",
    "eval.response": "tijdkritische acties met reactie van een deelnemer",
    "eval.solved": "opgelost dankzij deelnemers",
    "eval.solved_missing": "vermissingen opgelost dankzij deelnemers",
    "eval.per100k": "acties per 100.000 inwoners per jaar",
    "eval.reach": "keer bereikt per bereikte deelnemer (gemiddeld)",
    "eval.charts": "Grafieken",
    "eval.maps": "Kaarten",
    "eval.tables": "Tabellen",
    "eval.csv": "CSV",
    "eval.report": "HTML-rapport downloaden",
    "eval.took": "Berekend in {s} s.",
    "phone.title": "Telefonische tip vastleggen",
    "phone.text": "Wat de beller zag",
    "phone.at": "Tijdstip van het gesprek",
    "phone.submit": "Vastleggen",
    "phone.done": "Telefonische tip vastgelegd.",
    "phone.default": "Telefonische tip (terugbellijn)",
    "end.solved": "Opgelost dankzij informatie van deelnemers",
  },
  en: {
    "nav.evaluation": "Evaluation",
    "eval.title": "Evaluation",
    "eval.intro": "Figures over a period, from the hub's own data. Counts only: fewer than 5 people show as “< 5”.",
    "eval.from": "From",
    "eval.to": "To (included)",
    "eval.region": "Region",
    "eval.municipality": "Municipality",
    "eval.type": "Action type",
    "eval.urgency": "Urgency",
    "eval.any": "Any",
    "eval.show": "Show",
    "eval.busy": "Counting…",
    "eval.error": "Loading the figures failed: {reason}",
    "eval.actions": "actions",
    "eval.response": "time-critical actions with a participant response",
    "eval.solved": "solved thanks to participants",
    "eval.solved_missing": "missing persons solved thanks to participants",
    "eval.per100k": "actions per 100,000 inhabitants per year",
    "eval.reach": "times a reached participant was reached (mean)",
    "eval.charts": "Charts",
    "eval.maps": "Maps",
    "eval.tables": "Tables",
    "eval.csv": "CSV",
    "eval.report": "Download the HTML report",
    "eval.took": "Counted in {s} s.",
    "phone.title": "Log a telephone tip",
    "phone.text": "What the caller saw",
    "phone.at": "Time of the call",
    "phone.submit": "Log",
    "phone.done": "Telephone tip logged.",
    "phone.default": "Telephone tip (call-back line)",
    "end.solved": "Solved thanks to information from participants",
  },
});

const CARDS = [
  ["actions", "eval.actions", num],
  ["response_share", "eval.response", pct],
  ["solved_share", "eval.solved", pct],
  ["solved_share_missing_persons", "eval.solved_missing", pct],
  ["actions_per_100k_per_year", "eval.per100k", (v) => num(v, 1)],
  ["mean_times_reached_if_reached", "eval.reach", (v) => num(v, 1)],
];

// "12,3 %" in Dutch, "12.3 %" in English
function pct(v) {
  return `${num(100 * v, 1)} %`;
}

function isoDay(d) {
  return d.toISOString().slice(0, 10);
}

/** SVG markup from the hub as nodes (parsed as XML: no script runs, the page's CSP still applies). */
function svgNode(markup) {
  const doc = new DOMParser().parseFromString(markup, "image/svg+xml");
  const root = doc.documentElement;
  if (root.nodeName !== "svg") return h("p.muted", {}, "–");
  return document.importNode(root, true);
}

async function download(path, filename) {
  const url = await api.objectUrl(path);
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function renderEvaluation(main, ctx) {
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 29 * 86400000);
  const field = (id, key, input) => h("div.field", {}, [h("label", { for: id, i18n: key }), input]);
  const from = h("input", { id: "ev-from", type: "date", value: isoDay(monthAgo), required: true });
  const to = h("input", { id: "ev-to", type: "date", value: isoDay(today), required: true });
  const region = h("input", { id: "ev-region", type: "text", maxlength: 200 });
  const municipality = h("input", { id: "ev-municipality", type: "text", maxlength: 200 });
  const choose = (id, values, prefix) => h("select", { id }, [
    h("option", { value: "", i18n: "eval.any" }),
    ...values.map((v) => h("option", { value: v, i18n: `${prefix}.${v}` })),
  ]);
  const type = choose("ev-type", ctx.config.types, "type");
  const urgency = choose("ev-urgency", ctx.config.urgencies, "urgency");
  const status = h("p.status", { role: "status", "aria-live": "polite" });
  const output = h("div.eval-output");
  const form = h("form.panel.eval-filter", { novalidate: true }, [
    h("div.eval-fields", {}, [
      field("ev-from", "eval.from", from), field("ev-to", "eval.to", to), field("ev-region", "eval.region", region),
      field("ev-municipality", "eval.municipality", municipality), field("ev-type", "eval.type", type),
      field("ev-urgency", "eval.urgency", urgency),
    ]),
    h("div.button-row", {}, [h("button.btn.primary", { type: "submit", i18n: "eval.show" })]),
    status,
  ]);
  const view = h("div.view.view-evaluation", {}, [
    h("h1", { tabindex: -1, i18n: "eval.title" }),
    h("p.muted", { i18n: "eval.intro" }),
    form,
    output,
  ]);
  clear(main).append(view);

  function query() {
    const q = new URLSearchParams({ from: from.value, to: to.value, lang: lang() });
    for (const [key, el] of [["region", region], ["municipality", municipality], ["type", type], ["urgency", urgency]]) {
      if (el.value.trim()) q.set(key, el.value.trim());
    }
    return q.toString();
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    tx(status, "eval.busy");
    status.classList.remove("error");
    let body;
    try {
      body = await api.get(`/v1/evaluation?${query()}`);
    } catch (err) {
      if (mine !== seq) return;
      tx(status, "eval.error", { reason: err.reason });
      status.classList.add("error");
      return;
    }
    if (mine !== seq) return;
    tx(status, "eval.took", { s: body.took_s });
    show(body);
  }

  function show(body) {
    const hl = body.headline;
    const cards = h("div.eval-cards", {}, CARDS.map(([key, label, fmt]) =>
      h("div.eval-card", {}, [h("b", {}, hl[key] == null ? "–" : fmt(hl[key])), h("span", { i18n: label })])));
    const c = body.charts;
    const q = query();
    const tables = body.tables.map((table) => h("details.eval-table", {}, [
      h("summary", {}, [table.title, " ", h("button.btn.small.ghost", {
        type: "button", i18n: "eval.csv",
        onclick: (e) => {
          e.preventDefault();
          download(`/v1/evaluation/tables/${table.name}.csv?${q}`, `${table.name}.csv`).catch((err) => {
            status.textContent = err.reason;
            status.classList.add("error");
          });
        },
      })]),
      h("div.eval-wide", {}, h("table", {}, [
        h("thead", {}, h("tr", {}, table.columns.map((col) => h("th", { scope: "col" }, col.label)))),
        h("tbody", {}, table.rows.slice(0, 300).map((row) => h("tr", {}, row.map((v) => h("td", {}, v))))),
      ])),
      table.note ? h("p.muted", {}, table.note) : null,
    ]));
    clear(output).append(
      cards,
      h("h2", { i18n: "eval.charts" }),
      h("div.eval-charts", {}, [c.shares, c.types, c.delivered, c.tips, c.reach].map(svgNode)),
      h("h2", { i18n: "eval.maps" }),
      h("div.eval-charts", {}, [c.map_actions, c.map_participation].map(svgNode)),
      h("h2", {}, [h("span", { i18n: "eval.tables" }), " ", h("button.btn.small", {
        type: "button", i18n: "eval.report",
        onclick: () => download(`/v1/evaluation/report.html?${q}`, `report-${from.value}-${to.value}.html`).catch((err) => {
          status.textContent = err.reason;
          status.classList.add("error");
        }),
      })]),
      ...tables,
    );
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    load();
  });
  load();
  // tables and charts come worded from the hub: ask again in the new language (only once shown)
  const stopListening = onLangChange(() => {
    if (output.childElementCount) load();
  });
  return {
    destroy() {
      seq += 1;
      stopListening();
    },
  };
}

/** The phone-tip form of an action's tips panel: a tip from the call-back line, logged by a dispatcher. */
export function phoneTipForm(actionId, onLogged) {
  const text = h("textarea", { id: "pt-text", rows: 2, maxlength: 4000 });
  // empty: the call came in just now
  const at = h("input", { id: "pt-at", type: "datetime-local" });
  const status = h("p.status", { role: "status", "aria-live": "polite" });
  const submit = h("button.btn.small", { type: "submit", i18n: "phone.submit" });
  const form = h("form.phone-tip", { novalidate: true }, [
    h("div.field", {}, [h("label", { for: "pt-text", i18n: "phone.text" }), text]),
    h("div.field", {}, [h("label", { for: "pt-at", i18n: "phone.at" }), at]),
    h("div.button-row", {}, [submit]),
    status,
  ]);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { text: text.value.trim() || t("phone.default") };
    if (at.value) body.received_at = new Date(at.value).toISOString();
    submit.disabled = true;
    status.classList.remove("error");
    try {
      const tip = await api.post(`/v1/actions/${encodeURIComponent(actionId)}/phone-tips`, body);
      tx(status, "phone.done");
      text.value = "";
      at.value = "";
      onLogged?.(tip);
    } catch (err) {
      status.textContent = err.reason;
      status.classList.add("error");
    } finally {
      submit.disabled = false;
    }
  });
  return h("details.phone-tip-box", {}, [h("summary", { i18n: "phone.title" }), form]);
}
