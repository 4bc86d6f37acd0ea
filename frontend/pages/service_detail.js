// One prediction service (#/services/<id>): its status and reason, public URL, tracks and
// replicas (each one's log below), its traffic as charts (requests and errors per
// second, latency percentiles, replicas) and its GPUs' readings as charts; live while it
// starts or updates, the charts every few seconds. Its "Try it" box is in service_try.js, what changes it (a rolling update,
// scale, canary, its access token) in service_controls.js; Delete is in its header.

import { api } from "../api.js";
import { lineChart } from "../charts.js";
import {
  alertBox, badge, copyButton, dataTable, formatFullDate, h, keepFocus, metaItem, poller,
  relativeTime,
} from "../ui.js";
import { gpuChips } from "./environment_parts.js";
import { gpuChartsCard } from "./gpu_parts.js";
import { detailFrame, logCard, watchOne } from "./page_parts.js";
import { autoscaleText, controlsCard } from "./service_controls.js";
import { tryCard } from "./service_try.js";
import {
  isMoving, modelLink, readyText, serviceBadge, wantedReplicas,
} from "./serving_parts.js";

const LOG_LINES = 300;
const METRICS_MS = 3000;
const METRICS_SECONDS = 900;
const CHARTS = [
  ["rps", "requests/s"],
  ["errors", "errors/s (5xx)"],
  ["p50_ms", "latency p50 (ms)"],
  ["p95_ms", "latency p95 (ms)"],
  ["p99_ms", "latency p99 (ms)"],
  ["replicas", "replicas routed"],
];

function tracksTable(service) {
  return dataTable("Tracks", ["Track", "Version", "Share of requests", "Replicas wanted"],
    service.tracks.map((t) => h("tr", { "data-testid": "service-track",
      dataset: { track: t.name } },
    h("th", { scope: "row", class: "cell-strong" }, t.name),
    h("td", {}, `v${t.version}`),
    h("td", {}, `${t.weight}%`),
    h("td", {}, String(t.replicas)))));
}

export function mount(container, { args, navigate }) {
  const id = args[0];
  const path = `services/${encodeURIComponent(id)}`;
  let service = null;
  let lastLogKey = null;
  let metrics = null;
  let gpuCharts = null; // made once, for a service whose replicas have GPUs
  let stopped = false;
  let built = false; // the page's cards are in place
  const isGone = () => stopped;
  const frame = detailFrame({ noun: "service", list: "Services", navigate, flash: true });
  const tryIt = tryCard(path, isGone);
  const controls = controlsCard({ path, say: frame.say, isGone, changed(answer) {
    if (answer && answer.id === id) watch.redraw();
    watch.refresh();
  } });

  const overview = h("section", { class: "card", "aria-label": "Overview" });
  const tracksArea = h("div");
  const replicasArea = h("div");

  // ---- a replica's log ----------------------------------------------------------------------
  const replicaPick = h("select", { "aria-label": "Replica", "data-testid": "service-log-replica" });
  const log = logCard({ name: "service", testId: "service-log", pick: replicaPick, isGone,
    source: () => ({ note: ` · last ${LOG_LINES} lines of a replica`, empty: "No replica yet.",
      path: replicaPick.value
        && `units/${encodeURIComponent(replicaPick.value)}/logs?tail=${LOG_LINES}` }) });

  function showLogOf(replica) {
    replicaPick.value = replica.unit;
    log.load();
    log.card.scrollIntoView({ block: "nearest" });
  }

  function replicaTable() {
    if (!service.replicas.length) {
      return h("p", { class: "muted" }, wantedReplicas(service)
        ? "None yet: they are being placed." : "None: it is scaled to zero.");
    }
    return dataTable("Replicas", ["Track", "Version", "State", "Host", "Address", "GPUs",
      "Error"], service.replicas.map((r) => h("tr", { "data-testid": "service-replica",
      dataset: { replica: r.id } },
    h("th", { scope: "row", class: "cell-strong" }, r.track),
    h("td", {}, `v${r.version}`),
    h("td", {}, badge(r.state, r.state === "ready" ? "success"
      : r.state.startsWith("ended") ? "neutral" : "info", { "data-testid": "replica-state" }),
    r.ready_at ? h("div", { class: "cell-note muted", title: formatFullDate(r.ready_at) },
      "ready ", relativeTime(r.ready_at)) : null),
    h("td", {}, r.host || h("span", { class: "muted" }, "not placed")),
    h("td", {}, r.address ? h("code", {}, r.address) : h("span", { class: "muted" }, "—")),
    h("td", {}, gpuChips(r.gpus)),
    h("td", { class: "cell-reason" }, r.error ? h("span", { class: "text-danger" }, r.error)
      : h("span", { class: "muted" }, "—")),
    h("td", { class: "cell-actions" }, r.unit ? h("button", { type: "button",
      class: "btn btn-secondary btn-small", dataset: { focusKey: `log-${r.id}` },
      "aria-label": `Log of replica ${r.id.slice(0, 8)}`, onclick: () => showLogOf(r) },
    "Log") : null))), { hiddenLast: "Log" });
  }

  // ---- charts -------------------------------------------------------------------------------
  const charts = h("div", { class: "charts", "data-testid": "service-charts" },
    h("p", { class: "muted" }, "Loading…"));
  let lastPoints = null;

  async function loadMetrics(signal) {
    try {
      const { points } = await api(`${path}/metrics?seconds=${METRICS_SECONDS}`);
      if (signal.aborted) return;
      const text = JSON.stringify(points);
      if (text === lastPoints) return;
      lastPoints = text;
      if (!points.length) {
        charts.replaceChildren(h("p", { class: "muted" }, "Nothing yet: points appear every "
          + "2 s once a replica serves."));
        return;
      }
      const start = points[0].at;
      // Latencies are null while no request is answered: their charts wait for one.
      charts.replaceChildren(...CHARTS.flatMap(([key, label]) => {
        const series = points.filter((p) => p[key] !== null)
          .map((p) => [Math.round(p.at - start), p[key]]);
        return series.length ? [lineChart(label, series,
          { xLabel: "second", testId: `chart-${key.replace(/_ms$/, "")}` })] : [];
      }));
    } catch (error) {
      if (!signal.aborted && !error.handled) {
        charts.replaceChildren(alertBox(`Could not load its metrics: ${error.message}`));
      }
    }
  }

  // ---- the service ----------------------------------------------------------------------------
  function showOverview() {
    const stable = service.tracks.find((t) => t.name === "stable") || service.tracks[0];
    const spec = service.spec;
    overview.replaceChildren(h("dl", { class: "host-meta env-meta" },
      metaItem("Status", serviceBadge(service)),
      metaItem("Reason", service.reason ? h("span", { class: service.status === "failing"
        ? "text-danger" : null, "data-testid": "service-reason" }, service.reason) : null),
      metaItem("Model", h("span", {}, modelLink(service),
        stable ? ` · v${stable.version}` : null,
        spec.label ? h("span", { class: "muted" }, ` (label ${spec.label})`) : null)),
      metaItem("Ready", h("span", { "data-testid": "service-ready",
        title: "replicas ready / wanted" }, readyText(service))),
      metaItem("Autoscale", autoscaleText(spec.autoscale)),
      metaItem("GPUs per replica", String(spec.gpus_per_replica ?? 0)),
      metaItem("Access", service.token_required ? "token required" : "open"),
      metaItem("Owner", service.owner),
      metaItem("Created", relativeTime(service.created_at))),
    h("div", { class: "env-sections" },
      h("div", {},
        h("h3", { class: "section-label" }, "URL"),
        h("div", { class: "ssh-line" },
          h("code", { class: "service-url", "data-testid": "service-url" },
            `${service.url}:predict`),
          copyButton(`${service.url}:predict`)))));
  }

  function show(found) {
    service = found;
    frame.named(service.name, serviceBadge(service));
    showOverview();
    tracksArea.replaceChildren(tracksTable(service));
    keepFocus(replicasArea, () => replicasArea.replaceChildren(replicaTable()));
    controls.show(service);
    tryIt.show(service);
    const units = service.replicas.filter((r) => r.unit);
    const options = units.map((r) => [r.unit, `${r.track} v${r.version} · ${r.state} · `
      + `${r.id.slice(0, 8)}`]);
    if (JSON.stringify(options) !== JSON.stringify([...replicaPick.options]
      .map((o) => [o.value, o.text]))) {
      const was = replicaPick.value;
      replicaPick.replaceChildren(...options.map(([unit, text]) => h("option", { value: unit,
        selected: unit === was }, text)));
    }
    if (built) return;
    built = true;
    if (service.spec.gpus_per_replica) {
      gpuCharts = gpuChartsCard({ name: "service", query: { service: service.id } });
    }
    frame.actions.replaceChildren(frame.deleteButton(service, path, "Its URL stops answering "
      + "and its replicas are stopped. The model stays."));
    frame.fill(
      overview,
      h("section", { class: "card", "aria-labelledby": "service-replicas-title" },
        h("h2", { id: "service-replicas-title", class: "card-title" }, "Tracks and replicas"),
        h("h3", { class: "section-label" }, "Tracks",
          h("span", { class: "muted" }, " · the versions and their shares of the requests")),
        tracksArea,
        h("h3", { class: "section-label replicas-label" }, "Replicas",
          h("span", { class: "muted" }, " · live ones, and the last ended ones")),
        replicasArea),
      h("section", { class: "card", "aria-labelledby": "service-traffic-title" },
        h("h2", { id: "service-traffic-title", class: "card-title" }, "Traffic",
          h("span", { class: "muted card-title-note" }, ` · the last ${METRICS_SECONDS / 60} `
            + `minutes, refreshed every ${METRICS_MS / 1000} s`)),
        charts),
      ...(gpuCharts ? [gpuCharts.card] : []),
      tryIt.card,
      controls.card,
      log.card);
    metrics = poller(loadMetrics, METRICS_MS);
  }

  container.replaceChildren(frame.header, frame.problem, frame.body, frame.status);

  const watch = watchOne(frame, { path, show, busy: isMoving,
    loaded() {
      const logKey = service.replicas.map((r) => `${r.unit}:${r.state}`).join();
      if (logKey !== lastLogKey) {
        lastLogKey = logKey;
        log.load();
      }
    },
    gone() {
      if (metrics) metrics.stop();
      if (gpuCharts) gpuCharts.stop();
    } });
  return () => {
    stopped = true;
    watch.stop();
    if (metrics) metrics.stop();
    if (gpuCharts) gpuCharts.stop();
  };
}
