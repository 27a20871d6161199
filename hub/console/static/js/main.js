// The console's entry point: sign-in, the header, the sidebar and the views (#/new, #/action/<id>).

import * as api from "./api.js";
import { clear, h } from "./dom.js";
import { apply, lang, LANGUAGES, onLangChange, setLang, t, tx } from "./i18n.js";
import { ActionList } from "./list.js";
import { renderEvaluation } from "./evaluation.js";
import { renderLive } from "./live.js";
import { renderNewAction } from "./newaction.js";

const main = document.getElementById("main");
const sidebar = document.getElementById("sidebar");
const who = document.getElementById("who");
const signoutBtn = document.getElementById("signout");
const newLink = document.getElementById("nav-new");
const evaluationLink = document.getElementById("nav-evaluation");

const LANGUAGE_NAMES = { nl: "Nederlands", en: "English" };
const ctx = { config: null, me: null, list: null, navigate };
let view = null;

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function setView(next) {
  view?.destroy?.();
  view = next;
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) heading.focus({ preventScroll: false });
}

function route() {
  if (!ctx.me) {
    showSignin();
    return;
  }
  const match = location.hash.match(/^#\/action\/([^/]+)$/);
  evaluationLink.removeAttribute("aria-current");
  if (location.hash === "#/evaluation") {
    ctx.list.setCurrent(null);
    setView(renderEvaluation(main, ctx));
    newLink.removeAttribute("aria-current");
    evaluationLink.setAttribute("aria-current", "page");
    focusHeading();
  } else if (match) {
    const id = decodeURIComponent(match[1]);
    ctx.list.setCurrent(id);
    setView(renderLive(main, ctx, id));
    newLink.removeAttribute("aria-current");
  } else {
    ctx.list.setCurrent(null);
    setView(renderNewAction(main, ctx));
    newLink.setAttribute("aria-current", "page");
    focusHeading();
  }
}

function showSignin(messageKey) {
  setView(null);
  ctx.list?.stop();
  sidebar.hidden = true;
  who.hidden = true;
  signoutBtn.hidden = true;
  newLink.hidden = true;
  evaluationLink.hidden = true;
  document.body.classList.add("signed-out");
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const status = h("p.error", { id: "signin-status", role: "alert" });
  if (messageKey) tx(status, messageKey);
  const submit = h("button.btn.primary.big", { type: "submit", i18n: "signin.submit" });
  const form = h("form.panel.signin", { novalidate: true }, [
    h("h1", { tabindex: -1, i18n: "signin.title" }),
    h("p", { i18n: "signin.intro" }),
    h("div.field", {}, [h("label", { for: "token", i18n: "signin.token" }), input]),
    status,
    submit,
  ]);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) {
      input.focus();
      return;
    }
    submit.disabled = true;
    tx(status, "signin.busy");
    let me;
    try {
      me = await api.get("/console/api/me", { withToken: value, quiet401: true });
    } catch (err) {
      tx(status, "signin.unknown", { reason: err.status === 0 ? t("error.network", { reason: err.reason }) : err.reason });
      input.setAttribute("aria-invalid", "true");
      input.focus();
      return;
    } finally {
      submit.disabled = false;
    }
    if (me.role === "participant") {
      tx(status, "signin.participant");
      return;
    }
    api.setToken(value);
    signedIn(me);
  });
  clear(main).append(h("div.view.view-signin", {}, form));
  input.focus();
}

function signedIn(me) {
  ctx.me = me;
  document.body.classList.remove("signed-out");
  clear(who).append(h("span", {}, me.name), h("span.role-pill", { i18n: `role.${me.role}` }));
  who.dataset.role = me.role;
  who.hidden = false;
  signoutBtn.hidden = false;
  newLink.hidden = false;
  evaluationLink.hidden = false;
  sidebar.hidden = false;
  ctx.list ??= new ActionList(sidebar);
  ctx.list.start();
  route();
}

function signOut(messageKey) {
  api.setToken(null);
  ctx.me = null;
  showSignin(messageKey);
}

function setupLanguage() {
  const group = document.getElementById("lang");
  for (const code of LANGUAGES) {
    const btn = h("button.lang-btn", {
      type: "button", lang: code, "aria-label": LANGUAGE_NAMES[code], "aria-pressed": String(code === lang()),
      onclick: () => setLang(code),
    }, code.toUpperCase());
    group.append(btn);
  }
  onLangChange((code) => {
    for (const btn of group.querySelectorAll("button")) btn.setAttribute("aria-pressed", String(btn.lang === code));
    document.title = `${t("app.title")} · ${ctx.config?.network_name || "burgerhub"}`;
  });
}

async function boot() {
  document.documentElement.lang = lang();
  setupLanguage();
  apply(document);
  signoutBtn.addEventListener("click", () => signOut());
  api.onUnauthorized(() => signOut("signin.expired"));
  window.addEventListener("hashchange", () => {
    route();
    if (!location.hash.startsWith("#/action/")) return;
    focusHeading();
  });
  ctx.config = await api.get("config.json", { withToken: "" });
  document.getElementById("network-name").textContent = ctx.config.network_name;
  document.title = `${t("app.title")} · ${ctx.config.network_name}`;
  if (api.token()) {
    try {
      const me = await api.get("/console/api/me", { quiet401: true });
      signedIn(me);
      return;
    } catch {
      api.setToken(null);
    }
  }
  showSignin();
}

boot().catch((e) => {
  clear(main).append(h("p.error", { role: "alert" }, t("error.network", { reason: e.reason || e.message })));
});
