// Small DOM helpers. Text always goes in as text (never as HTML), so nothing a participant writes in a
// tip can run as script.

import { tx } from "./i18n.js";

/**
 * h("button.primary", {type: "button", onclick}, "text" | Node | [children])
 * Attributes: "i18n" sets the text from a key (with "vars"), "i18nAttr" a data-i18n-attr mapping,
 * "on<event>" adds a listener, "dataset" an object of data-* values, everything else setAttribute
 * (true → empty attribute, false/null → left out).
 */
export function h(tag, attrs = {}, children = []) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "i18n") tx(el, value, attrs.vars);
    else if (key === "vars") continue;
    else if (key === "i18nAttr") el.dataset.i18nAttr = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = !!value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

let uid = 0;
export function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/**
 * Ask once, in a modal <dialog>: resolves true for yes, false for no or Escape.
 * Focus moves into the dialog (to the yes button) and back to where it was afterwards.
 */
export function confirmDialog({ titleKey, titleVars, lead, body, yesKey, noKey = "confirm.no", danger = false, returnFocus = document.activeElement }) {
  const titleId = nextId("dlg-title");
  const yes = h(`button.btn.${danger ? "danger" : "primary"}`, { type: "button", value: "yes", i18n: yesKey });
  const no = h("button.btn.ghost", { type: "button", value: "no", i18n: noKey });
  const dialog = h("dialog.confirm", { "aria-labelledby": titleId }, [
    h("h2", { id: titleId, i18n: titleKey, vars: titleVars }),
    lead,
    body,
    h("div.dialog-buttons", {}, [no, yes]),
  ]);
  document.body.append(dialog);
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      if (returnFocus && returnFocus.isConnected) returnFocus.focus();
      resolve(answer);
    };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(false);
    });
    dialog.showModal();
    yes.focus();
  });
}
