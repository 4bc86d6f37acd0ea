// One job (#/jobs/<id>): its status and reason, settings, the timed start of its current
// attempt, every replica (host, address, physical and visible GPUs, exit code, TF_CONFIG),
// its restarts with the step each resumed from, its GPUs' readings as charts, and a
// replica's log. Live while it runs.

import { api } from "../api.js";
import { lineChart } from "../charts.js";
import {
  alertBox, dataTable, formatFullDate, h, keepFocus, metaItem, phaseTimeline, relativeTime,
} from "../ui.js";
import { gpuChips, queueText } from "./environment_parts.js";
import { gpuChartsCard } from "./gpu_parts.js";
import { cancelJob, isBusy, replicaSummary, statusBadge } from "./job_parts.js";
import { detailFrame, logCard, watchOne } from "./page_parts.js";

const LOG_LINES = 300;

function replicaTable(job) {
  return dataTable("Replicas", ["Replica", "State", "Host", "Address", "GPUs", "Exit",
    "TF_CONFIG"], job.replicas.map((r) => h("tr", { "data-testid": "job-replica",
    dataset: { replica: r.name } },
  h("th", { scope: "row", class: "cell-strong" }, r.name),
  h("td", {}, r.state, r.error ? h("div", { class: "cell-note muted" }, r.error) : null),
  h("td", {}, r.host || h("span", { class: "muted" }, "not placed")),
  h("td", {}, r.address ? h("code", {}, r.address) : h("span", { class: "muted" }, "—")),
  h("td", {}, gpuChips(r.gpus)),
  h("td", {}, r.exit_code === null ? "—" : String(r.exit_code)),
  h("td", {}, r.tf_config ? h("details", { class: "tf-config" },
    h("summary", {}, r.address ? "show" : "show (addresses pending)"),
    h("pre", { "data-testid": "job-tf-config" }, JSON.stringify(r.tf_config, null, 1)))
    : h("span", { class: "muted" }, "none (one replica)")))));
}

function restartList(job) {
  if (!job.restart_history.length) return h("p", { class: "muted" }, "No restarts.");
  return h("ol", { class: "plain-list" }, job.restart_history.map((r) => h("li",
    { "data-testid": "job-restart" },
    h("strong", {}, `Attempt ${r.attempt}`), ` — ${r.reason}; `,
    r.resumed_from_step === null ? "no checkpoint: started over"
      : `resumed from step ${r.resumed_from_step}`,
    h("span", { class: "muted", title: formatFullDate(r.at) }, ` · ${relativeTime(r.at)}`))));
}

/** The GPUs every replica of `spec` asks for, together. */
function gpusAsked(spec) {
  return Object.values(spec.replicas || {}).reduce((sum, role) => sum
    + (role ? (role.count || 0) * (role.gpus || 0) : 0), 0);
}

export function mount(container, { args }) {
  const id = args[0];
  let job = null;
  let stopped = false;
  let gpuCharts = null; // made once, for a job with GPUs
  const frame = detailFrame({ noun: "job", list: "Jobs", deletable: false });
  const { say } = frame;

  const replicaPick = h("select", { "aria-label": "Replica", "data-testid": "job-log-replica" });
  const log = logCard({ name: "job", testId: "job-log", pick: replicaPick,
    isGone: () => stopped,
    source: () => ({ note: ` · last ${LOG_LINES} lines`, empty: "No replica yet.",
      path: replicaPick.value && `jobs/${encodeURIComponent(id)}/logs?replica=`
        + `${encodeURIComponent(replicaPick.value)}&tail=${LOG_LINES}` }) });

  // TensorBoard: started on demand, opened once it runs (behind the console's login).
  const boardSlot = h("div", { class: "env-links", "data-testid": "job-tensorboard" });
  let board = null;
  let boardWatch = null;

  function showBoard() {
    if (board && board.state === "running") {
      boardSlot.replaceChildren(
        h("a", { href: board.url, target: "_blank", rel: "noopener",
          class: "btn btn-primary btn-small" }, "Open TensorBoard"),
        stopBoardButton());
      return;
    }
    const moving = board && (board.state === "starting" || board.state === "stopping");
    const start = h("button", { type: "button", class: "btn btn-secondary btn-small",
      disabled: moving }, moving ? `TensorBoard ${board.state}…` : "Start TensorBoard");
    start.addEventListener("click", () => boardCall("POST"));
    const failed = board && board.state === "failed"
      ? [h("span", { class: "text-danger cell-note" }, `It failed: ${board.reason}`)] : [];
    boardSlot.replaceChildren(start, ...failed);
  }

  function stopBoardButton() {
    const stop = h("button", { type: "button", class: "btn btn-secondary btn-small" },
      "Stop TensorBoard");
    stop.addEventListener("click", () => boardCall("DELETE"));
    return stop;
  }

  async function boardCall(method = "GET") {
    try {
      board = await api(`jobs/${encodeURIComponent(id)}/tensorboard`, { method });
      if (stopped) return;
      showBoard();
      clearTimeout(boardWatch);
      if (board.state === "starting" || board.state === "stopping") {
        boardWatch = setTimeout(() => boardCall(), 1000);
      }
    } catch (error) {
      if (!stopped && !error.handled) {
        boardSlot.replaceChildren(alertBox(`TensorBoard: ${error.message}`));
      }
    }
  }

  const charts = h("div", { class: "charts", "data-testid": "job-charts" });
  const trainingCard = h("section", { class: "card", "aria-labelledby": "job-training-title" },
    h("div", { class: "card-head" },
      h("h2", { id: "job-training-title", class: "card-title" }, "Training",
        h("span", { class: "muted card-title-note" }, " · scalars from its TensorBoard logs "
          + "(DLLAB_LOG_DIR)")),
      boardSlot),
    charts);
  let lastScalars = null;

  async function loadScalars() {
    try {
      const { series } = await api(`jobs/${encodeURIComponent(id)}/scalars`);
      const text = JSON.stringify(series);
      if (stopped || text === lastScalars) return;
      lastScalars = text;
      const first = ["loss", "accuracy"];
      const tags = Object.keys(series).sort((a, b) => (first.includes(a) ? first.indexOf(a)
        : 9) - (first.includes(b) ? first.indexOf(b) : 9) || a.localeCompare(b));
      charts.replaceChildren(...(tags.length
        ? tags.map((tag) => lineChart(tag, series[tag], { testId: `chart-${tag}` }))
        : [h("p", { class: "muted" }, "Nothing yet: charts appear once it writes summaries "
          + "(tf.summary.scalar) to DLLAB_LOG_DIR.")]));
    } catch (error) {
      if (!stopped && !error.handled) {
        charts.replaceChildren(alertBox(`Could not read its scalars: ${error.message}`));
      }
    }
  }

  function show(found) {
    job = found;
    frame.named(job.name, statusBadge(job));
    const cancel = h("button", { type: "button", class: "btn btn-secondary btn-danger-text",
      "aria-label": `Cancel job ${job.name}` }, "Cancel");
    cancel.addEventListener("click", async () => {
      if (await cancelJob(job, cancel, say)) watch.refresh();
    });
    keepFocus(frame.actions, () => frame.actions.replaceChildren(
      ...(isBusy(job) ? [cancel] : [])));
    const names = job.replicas.map((r) => r.name);
    if (names.join() !== [...replicaPick.options].map((o) => o.value).join()) {
      const was = replicaPick.value;
      replicaPick.replaceChildren(...names.map((n) => h("option", { value: n,
        selected: n === was }, n)));
    }
    const reason = job.status === "queued" ? queueText(job.position, job.reason) : job.reason;
    if (gpusAsked(job.spec) && !gpuCharts) {
      gpuCharts = gpuChartsCard({ name: "job", query: { job: job.id } });
    }
    frame.fill(
      h("section", { class: "card", "aria-label": "Overview" },
        h("dl", { class: "host-meta env-meta" },
          metaItem("Status", statusBadge(job)),
          metaItem("Reason", reason ? h("span", { class: job.status === "failed"
            ? "text-danger" : null, "data-testid": "job-reason" }, reason) : null),
          metaItem("Strategy", job.spec.strategy),
          metaItem("Replicas", replicaSummary(job.spec)),
          metaItem("Image", h("code", {}, job.spec.image)),
          metaItem("Command", h("code", {}, job.spec.command.join(" "))),
          metaItem("Attempt", `${job.attempt} · ${job.restarts} of ${job.max_restarts} `
            + "restarts used"),
          metaItem("Artifacts", h("code", {}, job.artifacts)),
          metaItem("Owner", job.owner),
          metaItem("Submitted", relativeTime(job.created_at)),
          metaItem("Finished", job.finished_at ? relativeTime(job.finished_at) : null))),
      h("section", { class: "card", "aria-labelledby": "job-replicas-title" },
        h("h2", { id: "job-replicas-title", class: "card-title" }, "Replicas",
          h("span", { class: "muted card-title-note" }, " · the current attempt")),
        replicaTable(job)),
      h("section", { class: "card", "aria-labelledby": "job-phases-title" },
        h("h2", { id: "job-phases-title", class: "card-title" }, "Start",
          h("span", { class: "muted card-title-note" }, " · the current attempt, timed")),
        phaseTimeline(job.phases, "Phases of the current attempt")),
      h("section", { class: "card", "aria-labelledby": "job-restarts-title" },
        h("h2", { id: "job-restarts-title", class: "card-title" }, "Restarts"),
        restartList(job)),
      trainingCard,
      ...(gpuCharts ? [gpuCharts.card] : []),
      log.card);
  }

  container.replaceChildren(frame.header, frame.problem, frame.body, frame.status);

  const watch = watchOne(frame, { path: `jobs/${encodeURIComponent(id)}`, show, busy: isBusy,
    loaded(found, first) {
      say(null);
      if (first || isBusy(found)) {
        log.load();
        loadScalars();
      }
    },
    gone() {
      if (gpuCharts) gpuCharts.stop();
    } });
  boardCall();
  return () => {
    stopped = true;
    clearTimeout(boardWatch);
    watch.stop();
    if (gpuCharts) gpuCharts.stop();
  };
}
