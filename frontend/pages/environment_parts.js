// What the environment pages share: the state badge and the queue's words, the GPUs'
// mapping, the Jupyter and TensorBoard links and the ssh command, and the stop/start/delete
// buttons. The queue's words and the GPU chips serve the job and service pages too.

import { api } from "../api.js";
import { alertBox, badge, confirmDialog, copyButton, h } from "../ui.js";

// The workspace in every environment: kept when it stops, removed when it is deleted.
export const WORKSPACE = "/home/dev/work";

// An environment's states are its unit's: the units page shows these too.
export const STATE_KIND = {
  queued: "neutral",
  starting: "info",
  running: "success",
  stopping: "info",
  stopped: "neutral",
  exited: "neutral",
  failed: "danger",
  lost: "danger",
};
const STEADY = new Set(["running", "stopped", "failed"]);

const ACTIONS = {
  stop: { label: "Stop", busy: "Stopping…", verb: "Stopping" },
  start: { label: "Start", busy: "Starting…", verb: "Starting" },
  delete: { label: "Delete", busy: "Deleting…", verb: "Deleting" },
};

export const isBusy = (env) => !STEADY.has(env.state);

function envPath(env) {
  return `environments/${encodeURIComponent(env.id)}`;
}

/** "#2 — needs 4 GPUs on one host; largest free block is 2" (the queue's words). */
export function queueText(position, reason) {
  if (!position) return reason || "waiting";
  return reason ? `#${position} — ${reason}` : `#${position}`;
}

export function stateBadge(env) {
  return badge(env.state, STATE_KIND[env.state] || "neutral",
    { "data-testid": "environment-state" });
}

export function gpuMapping(gpu) {
  return `GPU ${gpu.index} → seen as ${gpu.visible_index}`;
}

/** Physical → visible GPU chips ("2→0"), or "none". */
export function gpuChips(gpus) {
  if (!gpus.length) return h("span", { class: "muted" }, "none");
  return h("span", { class: "unit-gpus" }, gpus.map((g) => h("span", { class: "gpu-chip",
    title: `${gpuMapping(g)}${g.simulated ? " (simulated)" : ""}` },
  `${g.index}→${g.visible_index}`, g.simulated ? h("span", { class: "sim-dot" }, " sim") : null)));
}

export function jupyterLink(env, attrs = {}) {
  return h("a", { href: env.urls.jupyter, target: "_blank", rel: "noopener",
    class: "btn btn-primary btn-small", "aria-label": `Open Jupyter of ${env.name}`, ...attrs },
  "Open Jupyter");
}

export function tensorboardLink(env, attrs = {}) {
  return h("a", { href: env.urls.tensorboard, target: "_blank", rel: "noopener",
    class: "btn btn-secondary btn-small", "aria-label": `TensorBoard of ${env.name}`, ...attrs },
  "TensorBoard");
}

export function sshLine(env) {
  return h("div", { class: "ssh-line" },
    h("code", { class: "ssh-command", "data-testid": "environment-ssh" }, env.ssh.command),
    copyButton(env.ssh.command));
}

/**
 * Stop, start or delete `env` (delete after confirming); `button` says what it does
 * meanwhile. `say(node)` shows a message. Answers true when the API did it.
 */
export async function runAction(env, action, button, say) {
  if (action === "delete") {
    const ok = await confirmDialog({
      title: `Delete environment ${env.name}?`,
      message: `It is stopped and removed with its workspace (${WORKSPACE}). `
        + "This cannot be undone.",
      confirmLabel: "Delete environment", danger: true });
    if (!ok) return false;
  }
  say(null);
  const { label, busy, verb } = ACTIONS[action];
  button.disabled = true;
  button.textContent = busy;
  try {
    if (action === "delete") await api(envPath(env), { method: "DELETE" });
    else await api(`${envPath(env)}/${action}`, { method: "POST" });
    if (action === "delete") say(alertBox(`Environment ${env.name} deleted.`, "success"));
    return true;
  } catch (error) {
    if (!error.handled) say(alertBox(`${verb} ${env.name} failed: ${error.message}`));
    return false;
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

export function actionButtons(env, onAction, { small = true } = {}) {
  const size = small ? " btn-small" : "";
  const button = (action, kind) => {
    const node = h("button", { type: "button", class: `btn ${kind}${size}`,
      "aria-label": `${ACTIONS[action].label} environment ${env.name}`,
      dataset: { focusKey: `${action}-${env.id}` } }, ACTIONS[action].label);
    node.addEventListener("click", () => onAction(env, action, node));
    return node;
  };
  const canStop = ["queued", "starting", "running"].includes(env.state);
  const canStart = ["stopped", "failed"].includes(env.state);
  return h("div", { class: "env-actions" },
    canStop ? button("stop", "btn-secondary") : null,
    canStart ? button("start", "btn-secondary") : null,
    button("delete", "btn-secondary btn-danger-text"));
}
