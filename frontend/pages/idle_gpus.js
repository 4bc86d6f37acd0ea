// The idle-GPU card of the Alerts page: the policy that stops environments whose GPUs stay
// idle (a form for admins, a sentence for everyone else) and the environments it stopped,
// with the GPU-hours that gave back (everyone's for admins, one's own otherwise).

import { api } from "../api.js";
import {
  alertBox, dataTable, emptyState, formatFullDate, h, keepFocus, newId, pager, poller,
  relativeTime,
} from "../ui.js";
import { durationText } from "./alert_rules.js";

const PAGE_SIZE = 20;
const REFRESH_MS = 15000;

function hoursText(hours) {
  return hours < 10 ? hours.toFixed(2) : hours.toFixed(1);
}

function policyText(policy) {
  if (!policy.enabled) return "Off: environments keep their GPUs however long they idle.";
  return `On: an environment whose GPUs all stay under 5% utilization for `
    + `${durationText(policy.idle_seconds)} is stopped (its workspace is kept); its owner is `
    + `warned ${durationText(policy.warn_seconds)} before.`;
}

/** The admins' form; `loaded(policy)` fills it. */
function policyForm() {
  const enabled = h("input", { type: "checkbox", name: "enabled" });
  const idleId = newId("idle");
  const warnId = newId("warn");
  const idle = h("input", { id: idleId, type: "number", min: "1", step: "1", required: true });
  const warn = h("input", { id: warnId, type: "number", min: "0", step: "1", required: true });
  const save = h("button", { type: "submit", class: "btn btn-primary" }, "Save policy");
  const message = h("div", { class: "form-message", "aria-live": "polite" });
  const form = h("form", { class: "policy-form stack-form", "aria-label": "Idle GPU policy" },
    h("label", { class: "check" }, enabled, "Stop environments whose GPUs stay idle"),
    h("div", { class: "form-row" },
      h("div", { class: "field" }, h("label", { for: idleId }, "Idle for (minutes)"), idle,
        h("span", { class: "hint" }, "every GPU under 5% utilization this long")),
      h("div", { class: "field" }, h("label", { for: warnId }, "Warn before (minutes)"), warn,
        h("span", { class: "hint" }, "the owner sees a warning on the environment")),
      save),
    message);

  function loaded(policy) {
    enabled.checked = policy.enabled;
    idle.value = String(Math.round(policy.idle_seconds / 60));
    warn.value = String(Math.round(policy.warn_seconds / 60));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    message.replaceChildren();
    try {
      const policy = await api("policies/idle-gpus", { method: "PUT", body: {
        enabled: enabled.checked, idle_seconds: Number(idle.value) * 60,
        warn_seconds: Number(warn.value) * 60 } });
      loaded(policy || { enabled: enabled.checked, idle_seconds: Number(idle.value) * 60,
        warn_seconds: Number(warn.value) * 60 });
      message.replaceChildren(alertBox("Policy saved.", "success"));
    } catch (error) {
      if (!error.handled) message.replaceChildren(alertBox(error.message));
    } finally {
      save.disabled = false;
    }
  });
  return { form, loaded };
}

function reclaimsTable(reclaims, isAdmin) {
  return dataTable("Environments stopped for idle GPUs", ["Environment",
    ...(isAdmin ? ["Owner"] : []), "GPUs", "Idle for", "Stopped", "Started again",
    "GPU-hours"], reclaims.map((r) => h("tr", { "data-testid": "reclaim-row",
    dataset: { environment: r.environment } },
  h("th", { scope: "row", class: "cell-strong" },
    h("a", { href: `#/environments/${encodeURIComponent(r.environment)}` },
      r.environment_name)),
  isAdmin ? h("td", {}, r.owner) : null,
  h("td", { class: "cell-number" }, String(r.gpus)),
  h("td", {}, durationText(Math.round(r.idle_seconds))),
  h("td", { title: formatFullDate(r.reclaimed_at) }, relativeTime(r.reclaimed_at)),
  h("td", {}, r.resumed_at ? relativeTime(r.resumed_at)
    : h("span", { class: "muted" }, "not yet")),
  h("td", { class: "cell-number" }, hoursText(r.gpu_hours)))));
}

/** The card; `isAdmin` gets the form. Answers `{card, stop}`. */
export function idleCard({ isAdmin }) {
  const policyArea = h("div", { "data-testid": "idle-policy" }, h("p", { class: "muted" },
    "Loading the policy…"));
  const form = isAdmin ? policyForm() : null;
  const total = h("span", { class: "stat-value", "data-testid": "gpu-hours-reclaimed" }, "—");
  const area = h("div", { "aria-busy": "true" });
  const pagerSlot = h("div", { class: "pager-slot" });
  let offset = 0;
  let lastText = null;
  let policyShown = false;
  let poll = null;

  async function loadPolicy() {
    try {
      const policy = await api("policies/idle-gpus");
      if (form) {
        if (!policyShown) form.loaded(policy); // never over what an admin is typing
        policyArea.replaceChildren(form.form);
      } else {
        policyArea.replaceChildren(h("p", {}, policyText(policy)));
      }
      policyShown = true;
    } catch (error) {
      if (!error.handled) {
        policyArea.replaceChildren(alertBox(`Could not load the idle-GPU policy: ${error.message}`));
      }
    }
  }

  async function load(signal) {
    if (!policyShown) await loadPolicy();
    const at = offset;
    try {
      const page = await api(`policies/idle-gpus/reclaims?offset=${at}&limit=${PAGE_SIZE}`);
      if (signal.aborted || at !== offset) return;
      if (!page.data.length && offset > 0) {
        offset = Math.max(0, Math.floor((page.count - 1) / PAGE_SIZE) * PAGE_SIZE);
        poll.refresh();
        return;
      }
      area.setAttribute("aria-busy", "false");
      total.textContent = hoursText(page.gpu_hours_reclaimed);
      const text = JSON.stringify([at, page]);
      if (text === lastText) return;
      lastText = text;
      keepFocus(area, () => area.replaceChildren(page.data.length
        ? reclaimsTable(page.data, isAdmin)
        : emptyState("No environment stopped yet",
          "Environments the policy stops for idle GPUs are listed here.")));
      const nav = pager({ offset: at, limit: PAGE_SIZE, count: page.count,
        label: "Reclaims", testId: "reclaims-pager", onChange(next) {
          offset = next;
          poll.refresh();
        } });
      keepFocus(pagerSlot, () => pagerSlot.replaceChildren(...(nav ? [nav] : [])),
        { fallback: true });
    } catch (error) {
      if (signal.aborted || error.handled) return;
      area.setAttribute("aria-busy", "false");
      lastText = null;
      area.replaceChildren(alertBox(`Could not load the reclaimed GPUs: ${error.message}`));
    }
  }

  const card = h("section", { class: "card", "aria-labelledby": "idle-title" },
    h("div", { class: "card-head" },
      h("h2", { id: "idle-title", class: "card-title" }, "Idle GPUs"),
      h("dl", { class: "stat-row" }, h("div", { class: "stat" },
        h("dt", {}, "GPU-hours reclaimed"), h("dd", {}, total)))),
    h("div", { class: "card-section" },
      h("h3", { class: "section-label" }, "Policy"), policyArea),
    h("div", { class: "card-section" },
      h("h3", { class: "section-label" }, "Environments stopped"), area, pagerSlot));
  poll = poller(load, REFRESH_MS);
  return { card, stop: poll.stop };
}
