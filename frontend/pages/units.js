// Units: the containers and processes that run on the hosts (yours; every one for an
// admin), newest first, refreshed every 5 s. Read-only for now: the CLI and API start them.
// A queued unit shows its place in the queue and why it waits.

import {
  badge, count, dataTable, emptyState, formatFullDate, h, pageHeader, relativeTime, spinnerText,
} from "../ui.js";
import { STATE_KIND } from "./environment_parts.js";
import { messageSlot, pagedList } from "./page_parts.js";

const REFRESH_MS = 5000;
// The newest ones; the page does not go further back.
const LIMIT = 200;

/** "#2 — needs 4 GPUs on one host; largest free block is 2" (the queue's words). */
function queueText(position, reason) {
  const place = position ? `#${position}` : "waiting for the scheduler";
  return reason ? `${place} — ${reason}` : place;
}

function gpuList(unit) {
  const { gpus } = unit;
  if (!gpus.length) {
    if (!unit.gpu_count) return h("span", { class: "muted" }, "none");
    return h("span", { class: "gpu-requested", title: unit.state === "queued"
      ? "GPUs asked for; the unit gets them once the scheduler places it"
      : "GPUs asked for; the unit was never placed" },
    `${count(unit.gpu_count, "GPU")} requested`);
  }
  return h("span", { class: "unit-gpus" }, gpus.map((gpu) =>
    h("span", { class: "gpu-chip", title: `physical GPU ${gpu.index} on the host, seen as `
      + `GPU ${gpu.visible_index} by the unit${gpu.simulated ? " (simulated)" : ""}` },
    `${gpu.index}→${gpu.visible_index}`, gpu.simulated ? h("span", { class: "sim-dot" }, " sim")
      : null)));
}

function stateCell(unit) {
  const state = badge(unit.state, STATE_KIND[unit.state] || "neutral");
  if (unit.state === "queued") {
    return h("div", {}, state, h("div", { class: "cell-note queue-note",
      "data-testid": "unit-queue" }, queueText(unit.position, unit.reason)));
  }
  if (unit.error) return h("div", {}, state, h("div", { class: "cell-note text-danger" }, unit.error));
  if (unit.exit_code !== null && unit.exit_code !== undefined) {
    return h("div", {}, state, h("div", { class: "cell-note muted" }, `exit code ${unit.exit_code}`));
  }
  return state;
}

export function mount(container, { user }) {
  const isAdmin = user.role === "admin";
  const { node: problem, say } = messageSlot();
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading units…"));
  const summary = h("p", { class: "page-summary", "aria-live": "polite" });

  function show(page) {
    const running = page.data.filter((u) => u.state === "running").length;
    const queued = page.data.filter((u) => u.state === "queued").length;
    summary.textContent = page.count
      ? `${count(page.count, "unit")} · ${running} running`
        + (queued ? ` · ${queued} queued` : "") : "";
    if (!page.data.length) {
      area.replaceChildren(emptyState("No units yet",
        "Units are the containers and processes DLLab runs on your GPU hosts. Start one with ",
        h("code", {}, "POST /api/v1/units"), "."));
      return;
    }
    const columns = ["Name", "State", "Host", "GPUs", "Command", ...(isAdmin ? ["Owner"] : []),
      "Created"];
    area.replaceChildren(dataTable("Units", columns, page.data.map((unit) => h("tr",
      { "data-testid": "unit-row" },
    h("th", { scope: "row", class: "cell-strong" }, unit.name,
      h("div", { class: "cell-note muted" }, h("code", {}, unit.id))),
    h("td", {}, stateCell(unit)),
    h("td", {}, unit.host || h("span", { class: "muted" }, "—")),
    h("td", {}, gpuList(unit)),
    h("td", { class: "cell-command" }, h("code", { title: unit.command.join(" ") },
      unit.command.join(" "))),
    isAdmin ? h("td", {}, unit.owner) : null,
    h("td", { title: formatFullDate(unit.created_at) }, relativeTime(unit.created_at))))));
  }

  container.replaceChildren(
    pageHeader({ title: "Units",
      subtitle: isAdmin
        ? "Every container and process DLLab runs on the hosts, newest first."
        : "Your containers and processes on the hosts, newest first.",
      side: [summary] }),
    problem,
    area);

  return pagedList({ path: "units", size: LIMIT, area, say, show, every: REFRESH_MS }).stop;
}
