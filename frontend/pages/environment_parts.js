// What the environment pages share: the refresh that speeds up while one starts or stops,
// the state badge and the queue's words, the GPUs' mapping, the Jupyter and TensorBoard
// links and the ssh command, the stop/start/delete buttons, and the message the form and
// the detail page leave for the list.

import { api } from "../api.js";
import { alertBox, badge, confirmDialog, copyButton, h, poller } from "../ui.js";

// While an environment is queued, starting or stopping the pages refresh every BUSY_MS;
// once every one shown is running, stopped or failed, every STEADY_MS.
const BUSY_MS = 2000;
const STEADY_MS = 15000;
// The workspace in every environment: kept when it stops, removed when it is deleted.
export const WORKSPACE = "/home/dev/work";

const STATE_KIND = {
  queued: "neutral",
  starting: "info",
  running: "success",
  stopping: "info",
  stopped: "neutral",
  failed: "danger",
};
const STEADY = new Set(["running", "stopped", "failed"]);

const ACTIONS = {
  stop: { label: "Stop", busy: "Stopping…", verb: "Stopping" },
  start: { label: "Start", busy: "Starting…", verb: "Starting" },
  delete: { label: "Delete", busy: "Deleting…", verb: "Deleting" },
};

// One message for the list page after the form created an environment, or the detail
// page deleted one.
let flash = null;

/** Leaves `text` for the list page to show when it mounts next. */
export function leaveFlash(text) {
  flash = text;
}

/** The message left for the list page, once. */
export function takeFlash() {
  const text = flash;
  flash = null;
  return text;
}

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

/**
 * poller() every BUSY_MS, where `load(signal)` answers whether something shown is on its
 * way (true: again in BUSY_MS; false: in STEADY_MS). `refresh()` loads at once.
 */
export function livePoller(load) {
  let due = 0;
  const poll = poller(async (signal) => {
    if (Date.now() < due) return;
    const busy = await load(signal);
    due = busy ? 0 : Date.now() + STEADY_MS - BUSY_MS / 2;
  }, BUSY_MS);
  return {
    refresh() {
      due = 0;
      poll.refresh();
    },
    stop: poll.stop,
  };
}

export function refreshText(busy) {
  const at = new Date().toLocaleTimeString();
  return busy ? `Updated ${at} · refreshes every ${BUSY_MS / 1000} s while one starts or stops`
    : `Updated ${at} · refreshes every ${STEADY_MS / 1000} s`;
}

