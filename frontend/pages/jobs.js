// Training jobs (#/jobs): newest first, finished ones included, filtered by status; each
// with its strategy and replicas, status and reason, restarts. Live while any is on its
// way. The form is in job_form.js, one job's page in job_detail.js.

import {
  count, dataTable, emptyState, formatFullDate, h, pageHeader, pageSize, relativeTime,
  spinnerText,
} from "../ui.js";
import { queueText } from "./environment_parts.js";
import { STATUSES, cancelJob, isBusy, replicaSummary, statusBadge } from "./job_parts.js";
import { messageSlot, pagedList } from "./page_parts.js";

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
  let filter = params.get("status") || "";

  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const { node: problem, say } = messageSlot({ flash: true });
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading jobs…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const status = h("p", { class: "refresh-note muted" });

  const select = h("select", { id: "job-status-filter", "aria-label": "Status",
    "data-testid": "job-status-filter" },
  h("option", { value: "" }, "any status"),
  STATUSES.map((s) => h("option", { value: s, selected: s === filter }, s)));
  select.addEventListener("change", () => {
    filter = select.value;
    list.goTo(0);
  });

  function show(page) {
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
    area.replaceChildren(dataTable("Jobs", columns, page.data.map((job) => {
      const cancel = h("button", { type: "button",
        class: "btn btn-secondary btn-small btn-danger-text",
        "aria-label": `Cancel job ${job.name}` }, "Cancel");
      cancel.addEventListener("click", async () => {
        if (await cancelJob(job, cancel, say)) list.refresh();
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
    }), { hiddenLast: "Actions" }));
  }

  container.replaceChildren(
    pageHeader({ title: "Jobs",
      subtitle: isAdmin
        ? "Everyone's distributed training jobs, newest first."
        : "Your distributed training jobs, newest first, finished ones included.",
      side: [summary,
        h("label", { class: "inline-field" }, "Status ", select),
        h("a", { href: "#/jobs/new", class: "btn btn-primary" }, "Submit job")] }),
    problem,
    area,
    pagerSlot,
    status);

  const list = pagedList({ path: "jobs", size: pageSize(params, PAGE_SIZE), area, pagerSlot,
    status, say, show, busy: isBusy, query: () => (filter ? { status: filter } : {}) });
  return list.stop;
}
