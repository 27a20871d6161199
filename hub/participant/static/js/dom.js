// Small DOM helpers. Text always goes in as text (never as HTML), so nothing from the hub runs as script.

import { tx } from "./i18n.js";

// h("button.primary", {type: "button", onclick, i18n: "key", vars}, children)
export function h(tag, attrs = {}, children = []) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "i18n") tx(el, value, attrs.vars);
    else if (key === "vars") continue;
    else if (key === "i18nAttr") el.dataset.i18nAttr = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = !!value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let counter = 0;
export function uid(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

// A labelled form field: returns [wrapper, input].
export function field(labelKey, input, hintKey) {
  input.id = input.id || uid("f");
  const parts = [h("label", { for: input.id, i18n: labelKey })];
  if (hintKey) {
    const hint = h("p.hint", { id: `${input.id}-hint`, i18n: hintKey });
    input.setAttribute("aria-describedby", hint.id);
    parts.push(input, hint);
  } else parts.push(input);
  return [h("div", {}, parts), input];
}

export function checkbox(labelKey, checked, vars) {
  const input = h("input", { type: "checkbox", id: uid("c"), checked });
  return [h("div.check", {}, [input, h("label.inline", { for: input.id, i18n: labelKey, vars })]), input];
}
