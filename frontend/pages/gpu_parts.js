// What the GPU monitoring pages share: a GPU's live cell (coloured by utilization, flagged
// when hot or erring, with who holds it) for the cluster page's grid, and the "GPUs" card
// of an environment, job or service page: its GPUs' utilization, memory, temperature and
// power over a chosen window, one line per GPU, refreshed every few seconds.

import { api } from "../api.js";
import { seriesChart } from "../charts.js";
import { alertBox, badge, h, poller, shortUuid } from "../ui.js";

export const HOT_C = 85; // the temperature from which a cell is flagged
const CHARTS_MS = 5000;
export const RANGES = [["15m", "15 min", 15 * 60], ["1h", "1 h", 3600], ["24h", "24 h", 86400]];

/** The utilization band a cell is coloured by: none (not read), idle, low, mid, high. */
export function utilLevel(pct) {
  if (pct === null || pct === undefined) return "none";
  if (pct < 5) return "idle";
  if (pct < 40) return "low";
  if (pct < 80) return "mid";
  return "high";
}

/** "2.0 / 16.0 GiB": both in the unit of the total. */
export function memoryText(used, total) {
  if (total >= 1024) return `${(used / 1024).toFixed(1)} / ${(total / 1024).toFixed(1)} GiB`;
  return `${used} / ${total} MiB`;
}

function meter(percent, kind, label) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
  return h("div", { class: "meter", role: "meter", "aria-label": label, "aria-valuemin": "0",
    "aria-valuemax": "100", "aria-valuenow": String(value) },
  h("div", { class: `meter-fill meter-${kind}`, style: `width: ${value}%` }));
}

/** "owner · kind · sees GPU n": who holds a GPU, from its reading's holder. */
export function holderText(holder) {
  return [holder.owner || "someone", holder.kind || "unit", `sees GPU ${holder.visible_index}`]
    .join(" · ");
}

function liveTitle(gpu, host) {
  const read = (value, unit) => (value === null || value === undefined ? "not read"
    : `${value}${unit}`);
  const lines = [`GPU ${gpu.index} of ${host}: ${gpu.model}${gpu.simulated ? " (simulated)" : ""}`,
    gpu.uuid,
    `Utilization ${read(gpu.utilization_pct, " %")}`,
    `Memory ${memoryText(gpu.memory_used_mib, gpu.memory_total_mib)}`,
    `Temperature ${read(gpu.temperature_c, " °C")}`,
    `Power ${read(gpu.power_w, " W")}`,
    `SM clock ${read(gpu.sm_clock_mhz, " MHz")}`];
  if (gpu.ecc_uncorrected) lines.push(`Uncorrected ECC errors: ${gpu.ecc_uncorrected}`);
  if (gpu.xid_last) lines.push(`Last XID error: ${gpu.xid_last}`);
  const holder = gpu.holder;
  if (holder) {
    lines.push(`Held by unit ${holder.unit}${holder.workload ? ` of ${holder.kind || "workload"} `
      + `${holder.workload}` : ""}`, `Owner: ${holder.owner || "unknown"}`,
    `The unit sees it as GPU ${holder.visible_index}`);
  } else {
    lines.push("Free");
  }
  return lines.join("\n");
}

/** One GPU's latest reading on `host`, for the cluster page's live grid. */
export function liveGpuCell(gpu, host) {
  const level = utilLevel(gpu.utilization_pct);
  const hot = gpu.temperature_c !== null && gpu.temperature_c !== undefined
    && gpu.temperature_c >= HOT_C;
  const total = Math.max(gpu.memory_total_mib, 0);
  const memoryPct = total ? (gpu.memory_used_mib / total) * 100 : 0;
  const holder = gpu.holder;
  const faults = [
    gpu.ecc_uncorrected ? `ECC ${gpu.ecc_uncorrected}` : null,
    gpu.xid_last ? `XID ${gpu.xid_last}` : null].filter(Boolean);
  const util = gpu.utilization_pct;
  return h("li", {
    class: `gpu-live gpu-util-${level}${hot ? " gpu-live-hot" : ""}`
      + `${holder ? " gpu-live-held" : ""}`,
    title: liveTitle(gpu, host),
    dataset: { host, gpuIndex: String(gpu.index), level, hot: hot ? "true" : "false" },
    "data-testid": "gpu-live-cell",
  },
  h("div", { class: "gpu-live-head" },
    h("span", { class: "gpu-cell-index" }, `GPU ${gpu.index}`),
    gpu.simulated ? h("span", { class: "gpu-live-sim", title: "simulated" }, "sim") : null,
    h("span", { class: "gpu-live-util", "data-testid": "gpu-util" },
      util === null || util === undefined ? "—" : `${util}%`)),
  meter(util ?? 0, "util", `GPU ${gpu.index} utilization`),
  h("div", { class: "gpu-live-row" },
    h("span", { "data-testid": "gpu-memory" },
      memoryText(gpu.memory_used_mib, gpu.memory_total_mib)),
    h("span", { class: "muted" }, `${Math.round(memoryPct)}%`)),
  meter(memoryPct, memoryPct >= 90 ? "high" : memoryPct >= 70 ? "mid" : "low",
    `GPU ${gpu.index} memory used`),
  h("div", { class: "gpu-live-row" },
    h("span", { class: hot ? "gpu-live-temp-hot" : null, "data-testid": "gpu-temperature" },
      gpu.temperature_c === null || gpu.temperature_c === undefined ? "— °C"
        : `${hot ? "⚠ " : ""}${gpu.temperature_c} °C`),
    h("span", { class: "muted" }, gpu.power_w === null || gpu.power_w === undefined ? "— W"
      : `${Math.round(gpu.power_w)} W`)),
  faults.length ? h("div", { class: "gpu-live-faults", "data-testid": "gpu-faults" },
    faults.join(" · ")) : null,
  h("div", { class: `gpu-live-holder${holder ? "" : " muted"}`, "data-testid": "gpu-live-holder" },
    holder ? holderText(holder) : "free"),
  h("div", { class: "gpu-cell-map" }, gpu.simulated ? gpu.model : shortUuid(gpu.uuid)));
}

/** The legend of the live grid's colours. */
export function liveLegend() {
  const item = (cls, text) => h("li", {}, h("span", { class: `legend-swatch ${cls}`,
    "aria-hidden": "true" }), text);
  return h("ul", { class: "legend", "aria-label": "Legend" },
    item("gpu-util-idle", "idle (< 5%)"), item("gpu-util-low", "< 40%"),
    item("gpu-util-mid", "< 80%"), item("gpu-util-high", "≥ 80%"),
    item("gpu-live-hot", `≥ ${HOT_C} °C`));
}

// ---- a workload's GPUs over time -------------------------------------------------------------

const CHART_KINDS = [
  { key: "utilization_pct", title: "Utilization", unit: "%", testId: "gpu-chart-util",
    y: () => [0, 100] },
  { key: "memory_used_mib", title: "Memory used (MiB)", unit: " MiB", testId: "gpu-chart-memory",
    y: (series) => [0, Math.max(1, ...series.flatMap((s) => s.points
      .map((p) => p.memory_total_mib || 0)))] },
  { key: "temperature_c", title: "Temperature (°C)", unit: " °C",
    testId: "gpu-chart-temperature", y: () => [null, null] },
  { key: "power_w", title: "Power (W)", unit: " W", testId: "gpu-chart-power",
    y: () => [0, null] },
];

/** The charts of `history` (the answer of GET metrics/gpus): one line per GPU. */
function historyCharts(history) {
  const { series } = history;
  const hosts = new Set(series.map((s) => s.host));
  const name = (s) => (hosts.size > 1 ? `${s.host} · GPU ${s.gpu}` : `GPU ${s.gpu}`);
  const span = [Date.parse(history.from), Date.parse(history.to)];
  return CHART_KINDS.flatMap((kind) => {
    const lines = series.map((s) => ({ name: name(s),
      points: s.points.map((p) => [Date.parse(p.at), p[kind.key] ?? null]) }));
    if (!lines.some((line) => line.points.some((p) => p[1] !== null))) return [];
    return [seriesChart(kind.title, lines, { time: true, x: span, y: kind.y(series),
      unit: kind.unit, testId: kind.testId })];
  });
}

/**
 * The "GPUs" card of a workload's page: `query` picks its GPUs ({environment: id}, {job: id},
 * {service: id}); `name` makes its ids. A range picker (15 min, 1 h, 24 h) and the charts,
 * loaded now and every CHARTS_MS while the page is shown. Answers `{card, stop}`.
 */
export function gpuChartsCard({ name, query }) {
  const titleId = `${name}-gpus-title`;
  const charts = h("div", { class: "charts", "data-testid": `${name}-gpu-charts`,
    "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  const note = h("p", { class: "refresh-note muted" });
  const range = h("select", { "aria-label": "Time range", "data-testid": "gpu-range" },
    RANGES.map(([value, label]) => h("option", { value }, `last ${label}`)));

  async function load(signal) {
    const [, , seconds] = RANGES.find(([value]) => value === range.value) || RANGES[0];
    const from = new Date(Date.now() - seconds * 1000).toISOString();
    const asked = range.value;
    try {
      const history = await api(`metrics/gpus?${new URLSearchParams({ ...query, from })}`);
      if (signal.aborted || asked !== range.value) return;
      charts.setAttribute("aria-busy", "false");
      const drawn = history.series.length ? historyCharts(history) : [];
      charts.replaceChildren(...(drawn.length ? drawn : [h("p", { class: "muted",
        "data-testid": "gpu-charts-empty" }, "No GPU readings yet.")]));
      note.textContent = `Updated ${new Date().toLocaleTimeString()} · refreshes every `
        + `${CHARTS_MS / 1000} s · each point averages ${history.step} s`;
    } catch (error) {
      if (signal.aborted || error.handled) return;
      charts.setAttribute("aria-busy", "false");
      charts.replaceChildren(alertBox(`Could not load its GPU readings: ${error.message}`));
    }
  }

  const card = h("section", { class: "card", "aria-labelledby": titleId },
    h("div", { class: "card-head" },
      h("h2", { id: titleId, class: "card-title" }, "GPUs",
        h("span", { class: "muted card-title-note" }, " · utilization, memory, temperature "
          + "and power of the GPUs it held")),
      range),
    charts,
    note);
  const poll = poller(load, CHARTS_MS);
  range.addEventListener("change", () => {
    charts.setAttribute("aria-busy", "true");
    poll.refresh();
  });
  return { card, stop: poll.stop };
}

/** A badge for an alert's or rule's severity. */
export function severityBadge(severity, attrs = {}) {
  const kind = { critical: "danger", warning: "warning", info: "info" }[severity] || "neutral";
  return badge(severity, kind, attrs);
}
