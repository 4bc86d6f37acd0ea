// Alerts (#/alerts): what GPU monitoring raised, newest first, firing or resolved (a filter;
// `#/alerts?state=firing` opens on it), with where, the value that tripped it and whom its
// webhook told; refreshed every 5 s. Everyone sees the alerts of their own workloads and
// the idle-GPU policy; admins see them all and, below, edit the rules
// (alert_rules.js) and the policy (idle_gpus.js).

import {
  badge, dataTable, emptyState, formatFullDate, h, pageHeader, pageSize, relativeTime,
  spinnerText,
} from "../ui.js";
import { metricValue, rulesCard } from "./alert_rules.js";
import { severityBadge } from "./gpu_parts.js";
import { idleCard } from "./idle_gpus.js";
import { messageSlot, pagedList } from "./page_parts.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 5000;
const STATES = [["", "all"], ["firing", "firing"], ["resolved", "resolved"]];

function where(alert) {
  const place = [alert.host, alert.gpu === null || alert.gpu === undefined ? null
    : `GPU ${alert.gpu}`].filter(Boolean).join(" · ");
  return h("div", {},
    place || h("span", { class: "muted" }, "—"),
    alert.workload || alert.owner
      ? h("div", { class: "cell-note muted" }, [alert.workload ? `workload ${alert.workload}`
        : null, alert.owner ? `owner ${alert.owner}` : null].filter(Boolean).join(" · "))
      : null);
}

/** Whom the rule's webhook told, and how that went. */
function deliveries(alert) {
  const sent = alert.deliveries || [];
  if (!sent.length) return h("span", { class: "muted" }, "—");
  const tries = (n) => `${n} ${n === 1 ? "try" : "tries"}`;
  return h("ul", { class: "deliveries" }, sent.map((d) => {
    let outcome;
    if (d.delivered_at) {
      outcome = h("span", { class: "muted", title: formatFullDate(d.delivered_at) }, "sent ",
        relativeTime(d.delivered_at));
    } else if (!d.next_at && d.attempts) {
      outcome = h("span", { class: "text-danger" }, `given up after ${tries(d.attempts)}`);
    } else if (d.last_error) {
      outcome = h("span", { class: "text-danger" }, `failing (${tries(d.attempts)}), `
        + "trying again");
    } else {
      outcome = h("span", { class: "muted" }, "pending");
    }
    return h("li", { "data-testid": "alert-delivery", title: d.last_error || "" },
      `${d.event}: `, outcome);
  }));
}

function alertsTable(alerts) {
  return dataTable("Alerts", ["State", "Severity", "Alert", "Where", "Value", "Since",
    "Webhook"], alerts.map((alert) => h("tr", { "data-testid": "alert-row",
    dataset: { alert: String(alert.id), state: alert.state } },
  h("td", {}, badge(alert.state, alert.state === "firing" ? "danger" : "success",
    { "data-testid": "alert-state" })),
  h("td", {}, severityBadge(alert.severity)),
  h("th", { scope: "row", class: "cell-strong" }, alert.rule,
    alert.message ? h("div", { class: "cell-note", "data-testid": "alert-message" },
      alert.message) : null),
  h("td", {}, where(alert)),
  h("td", { class: "cell-number" }, metricValue(alert.metric, alert.value)),
  h("td", {}, relativeTime(alert.started_at),
    alert.resolved_at ? h("div", { class: "cell-note muted" }, "resolved ",
      relativeTime(alert.resolved_at)) : null),
  h("td", {}, deliveries(alert)))));
}

export function mount(container, { user, params }) {
  const isAdmin = user.role === "admin";
  const { node: problem, say } = messageSlot({ live: true });
  const asked = params.get("state");
  const filter = h("select", { id: "alert-state-filter", "data-testid": "alert-filter" },
    STATES.map(([value, label]) => h("option", { value, selected: value === asked }, label)));
  const area = h("div", { "aria-busy": "true" }, spinnerText("Loading alerts…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const status = h("p", { class: "refresh-note muted" });

  function show(page) {
    if (!page.data.length) {
      area.replaceChildren(emptyState(filter.value === "firing" ? "Nothing is firing"
        : "No alerts", isAdmin ? "Alerts are raised by the rules below."
        : "Alerts about your workloads' GPUs show up here."));
      return;
    }
    area.replaceChildren(alertsTable(page.data));
  }

  const rules = isAdmin ? rulesCard() : null;
  const idle = idleCard({ isAdmin });
  container.replaceChildren(
    pageHeader({ title: "Alerts",
      subtitle: isAdmin ? "What GPU monitoring raised, the rules that raise it, and idle GPUs "
        + "given back." : "What GPU monitoring raised about your workloads, and idle GPUs "
        + "given back.",
      side: [h("div", { class: "alert-filter" },
        h("label", { for: "alert-state-filter" }, "Show"), filter)] }),
    problem,
    h("section", { class: "card table-card", "aria-label": "Alerts" }, area, pagerSlot),
    status,
    ...(rules ? [rules.card] : []),
    idle.card);

  const list = pagedList({ path: "alerts", size: pageSize(params, PAGE_SIZE), area, say, show,
    pagerSlot, status, every: REFRESH_MS,
    query: () => (filter.value ? { state: filter.value } : {}) });
  filter.addEventListener("change", () => list.goTo(0));
  return () => {
    list.stop();
    if (rules) rules.stop();
    idle.stop();
  };
}
