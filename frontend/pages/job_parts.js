// What the job pages share: the status badge, which statuses are on their way, the
// replicas' one-line summary, and cancel.

import { api } from "../api.js";
import { alertBox, badge, confirmDialog } from "../ui.js";

const STATUS_KIND = {
  queued: "neutral",
  starting: "info",
  running: "success",
  restarting: "warning",
  succeeded: "success",
  failed: "danger",
  cancelled: "neutral",
};
export const ENDED = new Set(["succeeded", "failed", "cancelled"]);
export const STATUSES = Object.keys(STATUS_KIND);

/** Still moving: queued, starting, running or restarting (the pages refresh faster). */
export const isBusy = (job) => !ENDED.has(job.status);

export function statusBadge(job) {
  return badge(job.status, STATUS_KIND[job.status] || "neutral",
    { "data-testid": "job-status" });
}

/** "chief ×1, worker ×2 (1 GPU each), ps ×1" */
export function replicaSummary(spec) {
  return ["chief", "worker", "ps", "evaluator"]
    .filter((role) => spec.replicas[role] && spec.replicas[role].count)
    .map((role) => {
      const { count, gpus } = spec.replicas[role];
      return `${role} ×${count}${gpus ? ` (${gpus} GPU${gpus > 1 ? "s" : ""} each)` : ""}`;
    }).join(", ");
}

/** Cancel `job` once confirmed; `say(node)` shows the outcome. True when cancelled. */
export async function cancelJob(job, button, say) {
  const ok = await confirmDialog({
    title: `Cancel job ${job.name}?`,
    message: "Every replica is stopped and its GPUs freed. The record, logs and artifacts "
      + "stay.",
    confirmLabel: "Cancel job", danger: true });
  if (!ok) return false;
  say(null);
  button.disabled = true;
  try {
    await api(`jobs/${encodeURIComponent(job.id)}/cancel`, { method: "POST" });
    say(alertBox(`Job ${job.name} cancelled.`, "success"));
    return true;
  } catch (error) {
    if (!error.handled) say(alertBox(`Cancelling ${job.name} failed: ${error.message}`));
    return false;
  } finally {
    button.disabled = false;
  }
}
