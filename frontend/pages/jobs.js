// Training jobs (#/jobs): newest first, finished ones included, filtered by status; each
// with its strategy and replicas, status and reason, restarts. Live while any is on its
// way. The form is in job_form.js, one job's page in job_detail.js.

import { api } from "../api.js";
import {
  alertBox, count, emptyState, formatFullDate, h, keepFocus, pageSize, pager,
  refreshRelativeTimes, relativeTime, spinnerText,
} from "../ui.js";
import { livePoller, queueText, refreshText, takeFlash } from "./environment_parts.js";
import { STATUSES, cancelJob, isBusy, replicaSummary, statusBadge } from "./job_parts.js";

const PAGE_SIZE = 50;

function statusCell(job) {
  let note = null;
  if (job.status === "queued") note = queueText(job.position, job.reason);
  else if (job.reason) note = job.reason;
  return h("div", {}, statusBadge(job), note ? h("div", {
    class: `cell-note ${job.status === "failed" ? "text-danger" : "muted"}`,
    "data-testid": "job-reason" }, note) : null);
}

export function mount(container, { user, params }) {
  const isAdmin = user.role === "admin";
  const size = pageSize(params, PAGE_SIZE);
  let offset = 0;
  let filter = params.get("status") || "";
  let lastData = null;
  let live = null;

  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const problem = h("div", { class: "page-problem" });
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading jobs…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const status = h("p", { class: "refresh-note muted" });
  const say = (node) => problem.replaceChildren(...(node ? [node] : []));
  const flash = takeFlash();
  if (flash) say(alertBox(flash, "success"));

  const select = h("select", { id: "job-status-filter", "aria-label": "Status",
    "data-testid": "job-status-filter" },
  h("option", { value: "" }, "any status"),
  STATUSES.map((s) => h("option", { value: s, selected: s === filter }, s)));
  select.addEventListener("change", () => {
    filter = select.value;
    offset = 0;
    live.refresh();
  });

  function show(page) {
    area.setAttribute("aria-busy", "false");
    summary.textContent = page.count ? count(page.count, "job") : "";
    if (!page.data.length) {
      area.replaceChildren(filter ? emptyState(`No ${filter} jobs`, "Pick another status.")
        : emptyState("No jobs yet", "A job trains a TensorFlow model on several replicas "
          + "at once. ", h("a", { href: "#/jobs/new" }, "Submit one"), ", or use ",
        h("code", {}, "dllab job submit -f job.yaml"), "."));
      return;
    }
    const columns = ["Name", "Strategy", "Replicas", "Status", "Restarts",
      ...(isAdmin ? ["Owner"] : []), "Submitted"];
    area.replaceChildren(h("div", { class: "table-scroll" }, h("table", { class: "table" },
      h("caption", { class: "visually-hidden" }, "Jobs"),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
      h("tbody", {}, page.data.map((job) => {
        const cancel = h("button", { type: "button",
          class: "btn btn-secondary btn-small btn-danger-text",
          "aria-label": `Cancel job ${job.name}` }, "Cancel");
        cancel.addEventListener("click", async () => {
          if (await cancelJob(job, cancel, say)) live.refresh();
        });
        return h("tr", { "data-testid": "job-row", dataset: { job: job.id } },
          h("th", { scope: "row", class: "cell-strong" },
            h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.name),
            h("div", { class: "cell-note muted" }, h("code", {}, job.id.slice(0, 8)))),
          h("td", {}, job.spec.strategy),
          h("td", {}, replicaSummary(job.spec)),
          h("td", {}, statusCell(job)),
          h("td", {}, `${job.restarts} of ${job.max_restarts}`),
          isAdmin ? h("td", {}, job.owner) : null,
          h("td", { title: formatFullDate(job.created_at) }, relativeTime(job.created_at)),
          h("td", { class: "cell-actions" }, isBusy(job) ? cancel : null));
      })))));
    const nav = pager({ offset, limit: size, count: page.count, label: "Jobs",
      testId: "jobs-pager", onChange: (at) => {
        offset = at;
        live.refresh();
      } });
    keepFocus(pagerSlot, () => pagerSlot.replaceChildren(...(nav ? [nav] : [])),
      { fallback: true });
  }

  async function load(signal) {
    const at = offset;
    const query = `jobs?offset=${at}&limit=${size}${filter ? `&status=${filter}` : ""}`;
    try {
      const page = await api(query);
      if (signal.aborted || at !== offset) return true;
      const text = JSON.stringify([query, page]);
      if (text !== lastData) keepFocus(area, () => show(page));
      else refreshRelativeTimes(area);
      lastData = text;
      const busy = page.data.some(isBusy);
      status.textContent = refreshText(busy);
      return busy;
    } catch (error) {
      if (signal.aborted || error.handled) return false;
      say(alertBox(`Could not load jobs: ${error.message}`));
      area.setAttribute("aria-busy", "false");
      if (lastData === null) area.replaceChildren();
      return false;
    }
  }

  container.replaceChildren(
    h("div", { class: "page-header" },
      h("div", {},
        h("h1", {}, "Jobs"),
        h("p", { class: "page-subtitle" }, isAdmin
          ? "Everyone's distributed training jobs, newest first."
          : "Your distributed training jobs, newest first, finished ones included.")),
      h("div", { class: "page-header-side" },
        summary,
        h("label", { class: "inline-field" }, "Status ", select),
        h("a", { href: "#/jobs/new", class: "btn btn-primary" }, "Submit job"))),
    problem,
    area,
    pagerSlot,
    status);

  live = livePoller(load);
  return live.stop;
}
