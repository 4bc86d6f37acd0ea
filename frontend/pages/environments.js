// Environments: JupyterLab, TensorBoard and SSH on N GPUs, with a workspace that outlives
// stops. The list (#/environments), newest first, with each one's GPUs, state, links and
// ssh command; live while one is on its way up or down. The form that creates one is in
// environment_form.js, one environment's page in environment_detail.js.

import { api } from "../api.js";
import {
  alertBox, count, emptyState, formatFullDate, h, keepFocus, pageSize, pager,
  refreshRelativeTimes, relativeTime, spinnerText,
} from "../ui.js";
import {
  actionButtons, gpuMapping, isBusy, jupyterLink, livePoller, queueText, refreshText,
  runAction, sshLine, stateBadge, takeFlash, tensorboardLink,
} from "./environment_parts.js";

const PAGE_SIZE = 50;

/** The badge, and below it why it waits (with its place in the queue) or why it ended. */
function stateCell(env) {
  let note = null;
  if (env.state === "queued") {
    note = h("div", { class: "cell-note queue-note", "data-testid": "environment-reason" },
      queueText(env.position, env.reason));
  } else if (env.reason) {
    note = h("div", { class: `cell-note ${env.state === "failed" ? "text-danger" : "muted"}`,
      "data-testid": "environment-reason" }, env.reason);
  }
  return h("div", {}, stateBadge(env), note);
}

function gpuCell(env) {
  if (!env.gpus) return h("span", { class: "muted" }, "none");
  if (!env.devices.length) {
    return h("span", { class: "gpu-requested", title: "GPUs asked for; the environment gets "
      + "them while it runs" }, count(env.gpus, "GPU"));
  }
  return h("span", { class: "unit-gpus" }, env.devices.map((gpu) =>
    h("span", { class: "gpu-chip",
      title: `${gpuMapping(gpu)}${gpu.simulated ? " (simulated)" : ""}` },
      `${gpu.index}→${gpu.visible_index}`,
      gpu.simulated ? h("span", { class: "sim-dot" }, " sim") : null)));
}

/** Links and the ssh command while it runs; what to expect otherwise. */
function accessCell(env) {
  if (!env.urls) {
    return h("span", { class: "muted" }, env.state === "starting" || env.state === "queued"
      ? "once running" : "—");
  }
  return h("div", { class: "env-access" },
    h("div", { class: "env-links" }, jupyterLink(env), tensorboardLink(env)),
    env.ssh ? sshLine(env) : null,
    !env.ssh && !env.ssh_key_count
      ? h("div", { class: "cell-note muted" }, "no SSH: it lets no key in") : null);
}

export function mount(container, { user, params }) {
  const isAdmin = user.role === "admin";
  const size = pageSize(params, PAGE_SIZE);
  let offset = 0;
  let lastData = null;
  let live = null;

  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const problem = h("div", { class: "page-problem" });
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading environments…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const status = h("p", { class: "refresh-note muted" });
  const flash = takeFlash();
  if (flash) problem.replaceChildren(alertBox(flash, "success"));

  const say = (node) => problem.replaceChildren(...(node ? [node] : []));

  async function onAction(env, action, button) {
    await runAction(env, action, button, say);
    live.refresh();
  }

  function show(page) {
    area.setAttribute("aria-busy", "false");
    const running = page.data.filter((e) => e.state === "running").length;
    summary.textContent = page.count
      ? `${count(page.count, "environment")} · ${running} running` : "";
    if (!page.data.length) {
      area.replaceChildren(emptyState("No environments yet",
        "An environment is JupyterLab, TensorBoard and SSH on the GPUs you ask for. ",
        h("a", { href: "#/environments/new" }, "Create one"), "."));
    } else {
      const columns = ["Name", "Image", "GPUs", "State", "Access", ...(isAdmin ? ["Owner"] : []),
        "Created"];
      area.replaceChildren(h("div", { class: "table-scroll" }, h("table", { class: "table" },
        h("caption", { class: "visually-hidden" }, "Environments"),
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        h("tbody", {}, page.data.map((env) => h("tr", { "data-testid": "environment-row",
          dataset: { environment: env.id } },
        h("th", { scope: "row", class: "cell-strong" },
          h("a", { href: `#/environments/${encodeURIComponent(env.id)}` }, env.name),
          env.host ? h("div", { class: "cell-note muted" }, `on ${env.host}`) : null),
        h("td", {}, h("code", {}, env.image)),
        h("td", {}, gpuCell(env)),
        h("td", {}, stateCell(env)),
        h("td", {}, accessCell(env)),
        isAdmin ? h("td", {}, env.owner) : null,
        h("td", { title: formatFullDate(env.created_at) }, relativeTime(env.created_at)),
        h("td", { class: "cell-actions" }, actionButtons(env, onAction))))))));
    }
    const nav = pager({ offset, limit: size, count: page.count, label: "Environments",
      testId: "environments-pager", onChange: (at) => {
        offset = at;
        live.refresh();
      } });
    keepFocus(pagerSlot, () => pagerSlot.replaceChildren(...(nav ? [nav] : [])),
      { fallback: true });
  }

  async function load(signal) {
    const at = offset;
    try {
      const page = await api(`environments?offset=${at}&limit=${size}`);
      if (signal.aborted || at !== offset) return true;
      if (!page.data.length && offset > 0) { // the list shrank under the page shown
        offset = Math.max(0, Math.floor((page.count - 1) / size) * size);
        return true;
      }
      const text = JSON.stringify([offset, page]);
      if (text !== lastData) keepFocus(area, () => show(page));
      else refreshRelativeTimes(area);
      lastData = text;
      const busy = page.data.some(isBusy);
      status.textContent = refreshText(busy);
      return busy;
    } catch (error) {
      if (signal.aborted || error.handled) return false;
      say(alertBox(`Could not load environments: ${error.message}`));
      if (lastData === null) {
        area.setAttribute("aria-busy", "false");
        area.replaceChildren();
      }
      return false;
    }
  }

  container.replaceChildren(
    h("div", { class: "page-header" },
      h("div", {},
        h("h1", {}, "Environments"),
        h("p", { class: "page-subtitle" }, isAdmin
          ? "Everyone's JupyterLab, TensorBoard and SSH environments, newest first."
          : "Your JupyterLab, TensorBoard and SSH environments on the GPUs, newest first.")),
      h("div", { class: "page-header-side" },
        summary,
        h("a", { href: "#/environments/new", class: "btn btn-primary" }, "New environment"))),
    problem,
    area,
    pagerSlot,
    status);

  live = livePoller(load);
  return live.stop;
}
