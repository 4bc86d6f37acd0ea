// Environments: JupyterLab, TensorBoard and SSH on N GPUs, with a workspace that outlives
// stops. The list (#/environments), newest first, with each one's GPUs, state, links and
// ssh command; live while one is on its way up or down. The form that creates one is in
// environment_form.js, one environment's page in environment_detail.js.

import {
  count, dataTable, emptyState, formatFullDate, h, pageHeader, pageSize, relativeTime,
  spinnerText,
} from "../ui.js";
import {
  actionButtons, gpuChips, isBusy, jupyterLink, queueText, runAction, sshLine, stateBadge,
  tensorboardLink,
} from "./environment_parts.js";
import { messageSlot, pagedList } from "./page_parts.js";

const PAGE_SIZE = 50;

/**
 * The badge, and below it why it waits (with its place in the queue) or why it ended, and
 * the idle-GPU policy's warning when it has one.
 */
function stateCell(env) {
  let note = null;
  if (env.state === "queued") {
    note = h("div", { class: "cell-note queue-note", "data-testid": "environment-reason" },
      queueText(env.position, env.reason));
  } else if (env.reason) {
    note = h("div", { class: `cell-note ${env.state === "failed" ? "text-danger" : "muted"}`,
      "data-testid": "environment-reason" }, env.reason);
  }
  const idle = env.idle_warning
    ? h("div", { class: "cell-note idle-note", "data-testid": "environment-idle-warning" },
      env.idle_warning) : null;
  return h("div", {}, stateBadge(env), note, idle);
}

function gpuCell(env) {
  if (!env.gpus) return h("span", { class: "muted" }, "none");
  if (!env.devices.length) {
    return h("span", { class: "gpu-requested", title: "GPUs asked for; the environment gets "
      + "them while it runs" }, count(env.gpus, "GPU"));
  }
  return gpuChips(env.devices);
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
  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const { node: problem, say } = messageSlot({ flash: true });
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading environments…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const status = h("p", { class: "refresh-note muted" });

  async function onAction(env, action, button) {
    await runAction(env, action, button, say);
    list.refresh();
  }

  function show(page) {
    const running = page.data.filter((e) => e.state === "running").length;
    summary.textContent = page.count
      ? `${count(page.count, "environment")} · ${running} running` : "";
    if (!page.data.length) {
      area.replaceChildren(emptyState("No environments yet",
        "An environment is JupyterLab, TensorBoard and SSH on the GPUs you ask for. ",
        h("a", { href: "#/environments/new" }, "Create one"), "."));
      return;
    }
    const columns = ["Name", "Image", "GPUs", "State", "Access", ...(isAdmin ? ["Owner"] : []),
      "Created"];
    area.replaceChildren(dataTable("Environments", columns, page.data.map((env) => h("tr",
      { "data-testid": "environment-row", dataset: { environment: env.id } },
    h("th", { scope: "row", class: "cell-strong" },
      h("a", { href: `#/environments/${encodeURIComponent(env.id)}` }, env.name),
      env.host ? h("div", { class: "cell-note muted" }, `on ${env.host}`) : null),
    h("td", {}, h("code", {}, env.image)),
    h("td", {}, gpuCell(env)),
    h("td", {}, stateCell(env)),
    h("td", {}, accessCell(env)),
    isAdmin ? h("td", {}, env.owner) : null,
    h("td", { title: formatFullDate(env.created_at) }, relativeTime(env.created_at)),
    h("td", { class: "cell-actions" }, actionButtons(env, onAction)))),
    { hiddenLast: "Actions" }));
  }

  container.replaceChildren(
    pageHeader({ title: "Environments",
      subtitle: isAdmin
        ? "Everyone's JupyterLab, TensorBoard and SSH environments, newest first."
        : "Your JupyterLab, TensorBoard and SSH environments on the GPUs, newest first.",
      side: [summary,
        h("a", { href: "#/environments/new", class: "btn btn-primary" }, "New environment")] }),
    problem,
    area,
    pagerSlot,
    status);

  const list = pagedList({ path: "environments", size: pageSize(params, PAGE_SIZE), area,
    pagerSlot, status, say, show, busy: isBusy });
  return list.stop;
}
