// The sidebar: active actions and the recently ended ones, refreshed every few seconds.

import * as api from "./api.js";
import { clear, h } from "./dom.js";
import { time, t } from "./i18n.js";

const REFRESH_MS = 10000;
const RECENT = 15;

export class ActionList {
  constructor(root) {
    this.root = root;
    this.current = null;
    this.timer = null;
    this.actions = [];
    this.error = null;
    this.activeList = h("ul.action-list", { "aria-labelledby": "list-active" });
    this.recentList = h("ul.action-list", { "aria-labelledby": "list-recent" });
    this.status = h("p.error", { role: "alert", hidden: true });
    clear(root).append(
      h("h2.sidebar-title", { id: "actions-heading", i18n: "nav.actions" }),
      this.status,
      h("h3", { id: "list-active", i18n: "list.active" }),
      this.activeList,
      h("h3", { id: "list-recent", i18n: "list.recent" }),
      this.recentList,
    );
  }

  start() {
    this.stop();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  setCurrent(id) {
    this.current = id;
    this.render();
  }

  async refresh() {
    try {
      const [active, ended] = await Promise.all([
        api.get("/v1/actions?status=active&limit=100"),
        api.get(`/v1/actions?status=ended&limit=${RECENT}`),
      ]);
      this.actions = [...active.actions, ...ended.actions];
      this.error = null;
    } catch (e) {
      this.error = e.reason || e.message;
    }
    this.render();
  }

  render() {
    this.status.hidden = !this.error;
    if (this.error) this.status.textContent = t("list.error", { reason: this.error });
    const active = this.actions.filter((a) => a.status === "active");
    const ended = this.actions.filter((a) => a.status !== "active");
    fill(this.activeList, active, this.current, "list.none_active");
    fill(this.recentList, ended, this.current, "list.none_recent");
  }
}

function fill(list, actions, current, emptyKey) {
  clear(list);
  if (!actions.length) {
    list.append(h("li.empty", { i18n: emptyKey }));
    return;
  }
  for (const a of actions) {
    const reached = Object.values(a.audience?.channels || {}).reduce((n, c) => n + (c.targeted || 0), 0);
    list.append(
      h("li", {}, h("a.action-link", {
        href: `#/action/${encodeURIComponent(a.id)}`,
        "aria-current": a.id === current ? "page" : false,
        "data-action": a.id,
      }, [
        h("span.action-link-title", {}, [
          h(`span.dot.${a.urgency === "time_critical" ? "urgent" : "calm"}`, { "aria-hidden": "true" }),
          h("span", { i18n: `type.${a.type}` }),
        ]),
        h("span.action-link-meta", {}, [
          time(a.started_at, true),
          " · ",
          h("span", { i18n: "list.reached", vars: { n: reached } }),
          a.result ? [" · ", h("span", { i18n: `result.${a.result}` })] : null,
        ].flat()),
        a.title || a.description ? h("span.action-link-desc", {}, (a.title || a.description).slice(0, 80)) : null,
      ])),
    );
  }
}
