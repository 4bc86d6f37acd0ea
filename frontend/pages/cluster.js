// Cluster (admins only): at the top the live GPU grid, every GPU's latest reading
// (utilization, memory, temperature, power; coloured, with who holds it) refreshed every
// 2 s; then every host's GPUs, each free or with the unit, user and workload that hold it,
// the hosts held for the queue's head, and below them the queue of workloads waiting for
// GPUs with why each waits, refreshed every 5 s. Both lists page (`#/cluster?per_page=N`
// sets the page size).

import { api } from "../api.js";
import {
  alertBox, badge, count, emptyState, formatFullDate, h, hostStatusBadge, keepFocus,
  pageHeader, pageSize, pager, poller, refreshedText, refreshRelativeTimes, relativeTime, shortUuid,
  spinnerText, timeAgo,
} from "../ui.js";
import { liveGpuCell, liveLegend } from "./gpu_parts.js";

export const REFRESH_MS = 5000;
export const LIVE_MS = 2000;
const PAGE_SIZE = 50;

function gpuTitle(gpu, host) {
  const lines = [`GPU ${gpu.index} of ${host.name}: ${gpu.model}`
    + `${gpu.simulated ? " (simulated)" : ""}`, gpu.uuid];
  const holder = gpu.held_by;
  if (holder) {
    lines.push(`Held by unit ${holder.unit_name} (${holder.unit}), ${holder.state}`,
      `Owner: ${holder.owner}`,
      `Workload: ${holder.workload} (${holder.kind})`,
      `The unit sees it as GPU ${holder.visible_index}`);
  } else {
    lines.push(host.status === "online" ? "Free" : "Free, but its host is not online");
  }
  if (host.status !== "online") lines.push(`Host ${host.status}: no new work is placed here`);
  return lines.join("\n");
}

function gpuCell(gpu, host) {
  const holder = gpu.held_by;
  const online = host.status === "online";
  const state = holder ? "held" : "free";
  let word = holder ? "held" : "free";
  if (!online) word = holder ? "held · offline" : "offline";
  return h("li", {
    class: `gpu-cell gpu-cell-${state}${online ? "" : " gpu-cell-offline"}`,
    title: gpuTitle(gpu, host),
    dataset: { gpuIndex: String(gpu.index), state },
    "data-testid": "gpu-cell",
  },
  h("div", { class: "gpu-cell-head" },
    h("span", { class: "gpu-cell-index" }, `GPU ${gpu.index}`),
    h("span", { class: "gpu-cell-state" }, word)),
  holder
    ? [
      h("div", { class: "gpu-cell-unit", "data-testid": "gpu-holder" }, holder.unit_name),
      h("div", { class: "gpu-cell-owner" },
        h("span", { class: "visually-hidden" }, "owner "), holder.owner,
        holder.state === "running" ? null : h("span", { class: "muted" }, ` · ${holder.state}`)),
      h("div", { class: "gpu-cell-map" }, `GPU ${gpu.index} → seen as ${holder.visible_index}`),
    ]
    : [
      h("div", { class: "gpu-cell-model" }, gpu.model),
      h("div", { class: "gpu-cell-map" }, gpu.simulated ? "simulated" : shortUuid(gpu.uuid)),
    ]);
}

function hostRow(host, headName) {
  const free = host.gpus.filter((g) => !g.held_by).length;
  let gpus;
  if (host.gpus.length) {
    gpus = h("ul", { class: "gpu-cells", "aria-label": `GPUs of ${host.name}` },
      host.gpus.map((gpu) => gpuCell(gpu, host)));
  } else {
    gpus = h("p", { class: "host-note cluster-host-note" }, host.status === "new"
      ? "No GPUs yet: waiting for this host's agent to register."
      : "This host reports no GPUs.");
  }
  const reserved = host.reserved_for
    ? h("p", { class: "reserved-marker", "data-testid": "reserved-marker",
      title: `The scheduler holds this host for the workload at the head of the queue `
        + `(${headName || "workload"} · ${host.reserved_for}): work behind it may use only `
        + "what it does not need here, so that it is not starved by smaller requests." },
    h("span", { class: "reserved-icon", "aria-hidden": "true" }),
    h("span", {}, "Reserved for queue head",
      headName ? [": ", h("strong", {}, headName)] : null))
    : null;
  return h("li", { class: `cluster-host cluster-host-${host.status}`,
    dataset: { host: host.name }, "data-testid": "cluster-host" },
  h("div", { class: "cluster-host-info" },
    h("h3", { class: "cluster-host-name" }, host.name),
    h("div", { class: "cluster-host-tags" },
      hostStatusBadge(host.status),
      host.runtime ? h("span", { class: "runtime-tag", title: "runtime" }, host.runtime) : null),
    host.gpus.length
      ? h("p", { class: "cluster-host-free muted" }, host.status === "online"
        ? `${free} of ${count(host.gpus.length, "GPU")} free`
        : `${count(host.gpus.length, "GPU")} · unavailable while ${host.status}`)
      : null,
    reserved),
  gpus);
}

function legend() {
  const item = (kind, text) => h("li", {}, h("span", {
    class: `legend-swatch gpu-cell-${kind}`, "aria-hidden": "true" }), text);
  return h("ul", { class: "legend", "aria-label": "Legend" },
    item("free", "free"), item("held", "held by a unit"),
    h("li", {}, h("span", { class: "legend-swatch gpu-cell-free gpu-cell-offline",
      "aria-hidden": "true" }), "host offline"));
}

function stat(label, value, testId, note = null) {
  return h("div", { class: "stat" },
    h("dt", {}, label),
    h("dd", {}, h("span", { class: "stat-value", "data-testid": testId }, String(value)),
      note ? h("span", { class: "stat-note muted" }, note) : null));
}

function queueTable(entries) {
  const columns = ["#", "Name", "Kind", "Owner", "Priority", "GPUs", "Waiting since", "Reason"];
  return h("div", { class: "table-scroll" }, h("table", { class: "table queue-table" },
    h("caption", { class: "visually-hidden" }, "Workloads waiting for GPUs, in order"),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col",
      class: c === "#" || c === "Priority" || c === "GPUs" ? "cell-number" : null },
    c === "#" ? [h("span", { "aria-hidden": "true" }, "#"),
      h("span", { class: "visually-hidden" }, "Position")] : c)))),
    h("tbody", {}, entries.map((entry) => h("tr", { "data-testid": "queue-row",
      dataset: { workload: entry.workload } },
    h("td", { class: "cell-number cell-strong", "data-testid": "queue-position" },
      entry.position ? `#${entry.position}`
        : h("span", { class: "muted", title: "The scheduler has not looked at it yet" }, "—")),
    h("th", { scope: "row", class: "cell-strong" }, entry.name,
      h("div", { class: "cell-note muted" }, entry.units.length === 1
        ? h("code", { title: "unit id" }, entry.units[0])
        : count(entry.units.length, "unit"))),
    h("td", {}, entry.kind),
    h("td", {}, entry.owner),
    h("td", { class: "cell-number" }, entry.priority > 0 ? `+${entry.priority}`
      : String(entry.priority)),
    h("td", { class: "cell-number" }, String(entry.gpus)),
    h("td", { title: formatFullDate(entry.submitted_at) }, relativeTime(entry.submitted_at)),
    h("td", { class: "cell-reason", "data-testid": "queue-reason" },
      entry.reason || h("span", { class: "muted" }, "not placed yet"),
      entry.reserved_hosts.length
        ? h("div", { class: "cell-note" }, badge("head", "warning"),
          ` holds ${entry.reserved_hosts.join(", ")} for it`)
        : null))))));
}

/**
 * The live grid: every GPU's latest reading, host by host (only hosts that reported in the
 * last few seconds), refreshed every LIVE_MS. Answers `{card, stop}`.
 */
function liveCard() {
  const area = h("div", { class: "live-grid", "aria-busy": "true" },
    spinnerText("Loading GPU readings…"));
  const summary = h("span", { class: "muted card-title-note", "data-testid": "live-summary" });
  let last = null;

  function show(hosts) {
    const gpus = hosts.flatMap((host) => host.gpus);
    const read = gpus.filter((g) => g.utilization_pct !== null && g.utilization_pct !== undefined);
    const mean = read.length
      ? Math.round(read.reduce((sum, g) => sum + g.utilization_pct, 0) / read.length) : null;
    summary.textContent = gpus.length ? ` · ${count(gpus.length, "GPU")} reporting`
      + `${mean === null ? "" : ` · ${mean}% busy on average`}` : "";
    if (!hosts.length) {
      area.replaceChildren(emptyState("No GPU readings",
        "A host shows up here while its agent sends readings (every second)."));
      return;
    }
    area.replaceChildren(h("ul", { class: "live-hosts", "aria-label": "GPU readings by host" },
      hosts.map((host) => h("li", { class: "live-host", dataset: { host: host.host },
        "data-testid": "live-host" },
      h("div", { class: "live-host-head" },
        h("h3", { class: "cluster-host-name" }, host.host),
        h("span", { class: "muted", title: formatFullDate(host.taken_at) },
          `read ${timeAgo(host.taken_at)}`)),
      h("ul", { class: "gpu-lives", "aria-label": `Readings of the GPUs of ${host.host}` },
        host.gpus.map((gpu) => liveGpuCell(gpu, host.host)))))));
  }

  async function load(signal) {
    try {
      const now = await api("metrics/gpus/now");
      if (signal.aborted) return;
      area.setAttribute("aria-busy", "false");
      const text = JSON.stringify(now.hosts);
      if (text !== last) show(now.hosts);
      last = text;
    } catch (error) {
      if (signal.aborted || error.handled) return;
      last = null;
      area.setAttribute("aria-busy", "false");
      summary.textContent = "";
      area.replaceChildren(alertBox(`Could not load the GPU readings: ${error.message}`));
    }
  }

  const card = h("section", { class: "card cluster-card", "aria-labelledby": "live-title" },
    h("div", { class: "card-head" },
      h("h2", { id: "live-title", class: "card-title" }, "GPU readings",
        h("span", { class: "muted card-title-note" }, ` · live, every ${LIVE_MS / 1000} s`),
        summary),
      liveLegend()),
    area);
  const poll = poller(load, LIVE_MS);
  return { card, stop: poll.stop };
}

export function mount(container, { params }) {
  const size = pageSize(params, PAGE_SIZE);
  let hostOffset = 0;
  let queueOffset = 0;
  let last = { grid: null, queue: null, stats: null };
  let poll = null;

  const stats = h("dl", { class: "stat-row", "aria-label": "Cluster summary" });
  const problem = h("div", { class: "page-problem" });
  const grid = h("div", { class: "cluster-grid", "aria-busy": "true" },
    spinnerText("Loading GPUs…"));
  const gridPager = h("div", { class: "pager-slot" });
  const queueArea = h("div", { class: "queue-area", "aria-busy": "true" },
    spinnerText("Loading the queue…"));
  const queuePager = h("div", { class: "pager-slot" });
  const queueSummary = h("span", { class: "muted card-title-note" });
  const status = h("p", { class: "refresh-note muted" });

  function goTo(list, offset) {
    if (list === "hosts") hostOffset = offset;
    else queueOffset = offset;
    poll.refresh();
  }

  function showPager(slot, options) {
    const nav = pager({ limit: size, ...options });
    keepFocus(slot, () => slot.replaceChildren(...(nav ? [nav] : [])), { fallback: true });
  }

  function showStats(cluster) {
    const held = cluster.gpus - cluster.gpus_free;
    stats.replaceChildren(
      stat("Hosts", cluster.count, "stat-hosts"),
      stat("GPUs online", cluster.gpus, "stat-gpus",
        cluster.gpus ? `${held} held` : null),
      stat("GPUs free", cluster.gpus_free, "stat-free",
        cluster.gpus ? `${Math.round((cluster.gpus_free / cluster.gpus) * 100)}%` : null),
      stat("Queued workloads", cluster.queued, "stat-queued"));
  }

  function showGrid(cluster, names) {
    grid.setAttribute("aria-busy", "false");
    if (!cluster.hosts.length) {
      grid.replaceChildren(emptyState("No hosts yet",
        "Add one on the Hosts page; its GPUs show up here once its agent registers."));
    } else {
      grid.replaceChildren(h("ul", { class: "cluster-hosts", "aria-label": "Hosts" },
        cluster.hosts.map((host) => hostRow(host, names.get(host.reserved_for)))));
    }
    showPager(gridPager, { offset: hostOffset, count: cluster.count, label: "Hosts",
      testId: "hosts-pager", onChange: (offset) => goTo("hosts", offset) });
  }

  function showQueue(queue) {
    queueArea.setAttribute("aria-busy", "false");
    queueSummary.textContent = queue.count ? ` · ${count(queue.count, "workload")} waiting` : "";
    if (!queue.data.length) {
      queueArea.replaceChildren(emptyState("Nothing is waiting",
        "Every workload asked for has its GPUs."));
    } else {
      queueArea.replaceChildren(queueTable(queue.data));
    }
    showPager(queuePager, { offset: queueOffset, count: queue.count,
      label: "Queued workloads", testId: "queue-pager",
      onChange: (offset) => goTo("queue", offset) });
  }

  /** After the list shrank under the page shown: the last page that has something. */
  function lastPage(total) {
    return Math.max(0, Math.floor((total - 1) / size) * size);
  }

  async function load(signal) {
    const hostsAt = hostOffset;
    const queueAt = queueOffset;
    try {
      const [cluster, queue] = await Promise.all([
        api(`cluster?offset=${hostsAt}&limit=${size}`),
        api(`queue?offset=${queueAt}&limit=${size}`)]);
      if (signal.aborted) return;
      if (hostsAt !== hostOffset || queueAt !== queueOffset) return; // a newer page follows
      let again = false;
      if (!cluster.hosts.length && hostOffset > 0) {
        hostOffset = lastPage(cluster.count);
        again = true;
      }
      if (!queue.data.length && queueOffset > 0) {
        queueOffset = lastPage(queue.count);
        again = true;
      }
      if (again) {
        poll.refresh();
        return;
      }
      // The head's name, for the hosts held for it (when it is on the queue page shown).
      const names = new Map(queue.data.map((entry) => [entry.workload, entry.name]));
      const statsText = JSON.stringify([cluster.count, cluster.gpus, cluster.gpus_free,
        cluster.queued]);
      const gridText = JSON.stringify([hostOffset, cluster.hosts, cluster.count,
        [...names].filter(([id]) => cluster.hosts.some((x) => x.reserved_for === id))]);
      const queueText = JSON.stringify([queueOffset, queue]);
      if (statsText !== last.stats) showStats(cluster);
      if (gridText !== last.grid) keepFocus(grid, () => showGrid(cluster, names));
      if (queueText !== last.queue) keepFocus(queueArea, () => showQueue(queue));
      else refreshRelativeTimes(queueArea);
      last = { stats: statsText, grid: gridText, queue: queueText };
      problem.replaceChildren();
      status.textContent = refreshedText(REFRESH_MS);
    } catch (error) {
      if (signal.aborted || error.handled) return;
      problem.replaceChildren(alertBox(`Could not load the cluster: ${error.message}`));
      for (const area of [grid, queueArea]) {
        if (area.getAttribute("aria-busy") === "true") {
          area.setAttribute("aria-busy", "false");
          area.replaceChildren();
        }
      }
    }
  }

  const live = liveCard();
  container.replaceChildren(
    pageHeader({ title: "Cluster",
      subtitle: "Every GPU: how busy it is, who holds it, and the workloads waiting for one.",
      side: [stats] }),
    problem,
    live.card,
    h("section", { class: "card cluster-card", "aria-labelledby": "gpus-title" },
      h("div", { class: "card-head" },
        h("h2", { id: "gpus-title", class: "card-title" }, "GPU allocation"),
        legend()),
      grid,
      gridPager),
    h("section", { class: "card table-card queue-card", "aria-labelledby": "queue-title" },
      h("div", { class: "card-head queue-head" },
        h("h2", { id: "queue-title", class: "card-title" }, "Queue", queueSummary),
        h("p", { class: "muted card-head-text" },
          "In the order the scheduler places them: priority first, then oldest first.")),
      queueArea,
      queuePager),
    status);

  poll = poller(load, REFRESH_MS);
  return () => {
    poll.stop();
    live.stop();
  };
}
