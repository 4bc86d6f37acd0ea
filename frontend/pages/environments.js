// Environments: JupyterLab, TensorBoard and SSH on N GPUs, with a workspace that outlives
// stops. Three pages: the list (#/environments), live while one is on its way up or down;
// the form that creates one (#/environments/new); and one environment
// (#/environments/<id>) with its GPUs, the timed phases of its start, its links and the
// last lines of its unit's log.

import { api, ApiError } from "../api.js";
import {
  alertBox, badge, confirmDialog, copyButton, count, emptyState, formatFullDate, h, keepFocus,
  pageSize, pager, poller, refreshRelativeTimes, relativeTime, shortUuid, spinnerText,
} from "../ui.js";

// While an environment is queued, starting or stopping the pages refresh every BUSY_MS;
// once every one shown is running, stopped or failed, every STEADY_MS.
export const BUSY_MS = 2000;
export const STEADY_MS = 15000;
const PAGE_SIZE = 50;
const LOG_LINES = 200;
const NAME_PATTERN = "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?";
const WORKSPACE = "/home/dev/work";

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

// One message for the list page after the form created an environment.
let flash = null;

const isBusy = (env) => !STEADY.has(env.state);

function envPath(env) {
  return `environments/${encodeURIComponent(env.id)}`;
}

/** "#2 — needs 4 GPUs on one host; largest free block is 2" (the queue's words). */
function queueText(position, reason) {
  if (!position) return reason || "waiting";
  return reason ? `#${position} — ${reason}` : `#${position}`;
}

function stateBadge(env) {
  return badge(env.state, STATE_KIND[env.state] || "neutral",
    { "data-testid": "environment-state" });
}

/** The badge, and below it why it waits (with its place in the queue) or why it ended. */
function stateCell(env) {
  let note = null;
  if (env.state === "queued") {
    note = h("div", { class: "cell-note queue-note", "data-testid": "environment-reason" },
      queueText(env.position, env.reason));
  } else if (env.reason) {
    note = h("div", { class: `cell-note ${env.state === "failed" ? "text-danger" : "muted"}`,
      "data-testid": "environment-reason" }, env.reason);
  }
  return h("div", {}, stateBadge(env), note);
}

function gpuMapping(gpu) {
  return `GPU ${gpu.index} → seen as ${gpu.visible_index}`;
}

function gpuCell(env) {
  if (!env.gpus) return h("span", { class: "muted" }, "none");
  if (!env.devices.length) {
    return h("span", { class: "gpu-requested", title: "GPUs asked for; the environment gets "
      + "them while it runs" }, count(env.gpus, "GPU"));
  }
  return h("span", { class: "unit-gpus" }, env.devices.map((gpu) =>
    h("span", { class: "gpu-chip",
      title: `${gpuMapping(gpu)}${gpu.simulated ? " (simulated)" : ""}` },
      `${gpu.index}→${gpu.visible_index}`,
      gpu.simulated ? h("span", { class: "sim-dot" }, " sim") : null)));
}

function jupyterLink(env, attrs = {}) {
  return h("a", { href: env.urls.jupyter, target: "_blank", rel: "noopener",
    class: "btn btn-primary btn-small", "aria-label": `Open Jupyter of ${env.name}`, ...attrs },
  "Open Jupyter");
}

function tensorboardLink(env, attrs = {}) {
  return h("a", { href: env.urls.tensorboard, target: "_blank", rel: "noopener",
    class: "btn btn-secondary btn-small", "aria-label": `TensorBoard of ${env.name}`, ...attrs },
  "TensorBoard");
}

function sshLine(env) {
  return h("div", { class: "ssh-line" },
    h("code", { class: "ssh-command", "data-testid": "environment-ssh" }, env.ssh.command),
    copyButton(env.ssh.command));
}

/** Links and the ssh command while it runs; what to expect otherwise. */
function accessCell(env) {
  if (!env.urls) {
    return h("span", { class: "muted" }, env.state === "starting" || env.state === "queued"
      ? "once running" : "—");
  }
  return h("div", { class: "env-access" },
    h("div", { class: "env-links" }, jupyterLink(env), tensorboardLink(env)),
    env.ssh ? sshLine(env) : null,
    !env.ssh && !env.ssh_key_count
      ? h("div", { class: "cell-note muted" }, "no SSH: it lets no key in") : null);
}

/**
 * Stop, start or delete `env` (delete after confirming); `button` says what it does
 * meanwhile. `say(node)` shows a message. Answers true when the API did it.
 */
async function runAction(env, action, button, say) {
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

function actionButtons(env, onAction, { small = true } = {}) {
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
function livePoller(load) {
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

function refreshText(busy) {
  const at = new Date().toLocaleTimeString();
  return busy ? `Updated ${at} · refreshes every ${BUSY_MS / 1000} s while one starts or stops`
    : `Updated ${at} · refreshes every ${STEADY_MS / 1000} s`;
}

// ---- the list ---------------------------------------------------------------------------

export function mount(container, { user, params }) {
  const isAdmin = user.role === "admin";
  const size = pageSize(params, PAGE_SIZE);
  let offset = 0;
  let lastData = null;
  let live = null;

  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const problem = h("div", { class: "page-problem" });
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading environments…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const status = h("p", { class: "refresh-note muted" });
  if (flash) problem.replaceChildren(alertBox(flash, "success"));
  flash = null;

  const say = (node) => problem.replaceChildren(...(node ? [node] : []));

  async function onAction(env, action, button) {
    await runAction(env, action, button, say);
    live.refresh();
  }

  function show(page) {
    area.setAttribute("aria-busy", "false");
    const running = page.data.filter((e) => e.state === "running").length;
    summary.textContent = page.count
      ? `${count(page.count, "environment")} · ${running} running` : "";
    if (!page.data.length) {
      area.replaceChildren(emptyState("No environments yet",
        "An environment is JupyterLab, TensorBoard and SSH on the GPUs you ask for. ",
        h("a", { href: "#/environments/new" }, "Create one"), "."));
    } else {
      const columns = ["Name", "Image", "GPUs", "State", "Access", ...(isAdmin ? ["Owner"] : []),
        "Created"];
      area.replaceChildren(h("div", { class: "table-scroll" }, h("table", { class: "table" },
        h("caption", { class: "visually-hidden" }, "Environments"),
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
        h("tbody", {}, page.data.map((env) => h("tr", { "data-testid": "environment-row",
          dataset: { environment: env.id } },
        h("th", { scope: "row", class: "cell-strong" },
          h("a", { href: `#/environments/${encodeURIComponent(env.id)}` }, env.name),
          env.host ? h("div", { class: "cell-note muted" }, `on ${env.host}`) : null),
        h("td", {}, h("code", {}, env.image)),
        h("td", {}, gpuCell(env)),
        h("td", {}, stateCell(env)),
        h("td", {}, accessCell(env)),
        isAdmin ? h("td", {}, env.owner) : null,
        h("td", { title: formatFullDate(env.created_at) }, relativeTime(env.created_at)),
        h("td", { class: "cell-actions" }, actionButtons(env, onAction))))))));
    }
    const nav = pager({ offset, limit: size, count: page.count, label: "Environments",
      testId: "environments-pager", onChange: (at) => {
        offset = at;
        live.refresh();
      } });
    keepFocus(pagerSlot, () => pagerSlot.replaceChildren(...(nav ? [nav] : [])),
      { fallback: true });
  }

  async function load(signal) {
    const at = offset;
    try {
      const page = await api(`environments?offset=${at}&limit=${size}`);
      if (signal.aborted || at !== offset) return true;
      if (!page.data.length && offset > 0) { // the list shrank under the page shown
        offset = Math.max(0, Math.floor((page.count - 1) / size) * size);
        return true;
      }
      const text = JSON.stringify([offset, page]);
      if (text !== lastData) keepFocus(area, () => show(page));
      else refreshRelativeTimes(area);
      lastData = text;
      const busy = page.data.some(isBusy);
      status.textContent = refreshText(busy);
      return busy;
    } catch (error) {
      if (signal.aborted || error.handled) return false;
      say(alertBox(`Could not load environments: ${error.message}`));
      if (lastData === null) {
        area.setAttribute("aria-busy", "false");
        area.replaceChildren();
      }
      return false;
    }
  }

  container.replaceChildren(
    h("div", { class: "page-header" },
      h("div", {},
        h("h1", {}, "Environments"),
        h("p", { class: "page-subtitle" }, isAdmin
          ? "Everyone's JupyterLab, TensorBoard and SSH environments, newest first."
          : "Your JupyterLab, TensorBoard and SSH environments on the GPUs, newest first.")),
      h("div", { class: "page-header-side" },
        summary,
        h("a", { href: "#/environments/new", class: "btn btn-primary" }, "New environment"))),
    problem,
    area,
    pagerSlot,
    status);

  live = livePoller(load);
  return live.stop;
}

// ---- the form ---------------------------------------------------------------------------

function imageLabel(image) {
  return `${image.reference} · ${image.framework} ${image.framework_version} · `
    + `${image.gpu ? "GPU" : "CPU"} build`;
}

/** One row of the volumes fieldset: host path, mount path, read-only, remove. */
function volumeRow(onRemove) {
  const row = h("div", { class: "volume-row", "data-testid": "volume-row" },
    h("div", { class: "field field-grow" },
      h("span", { class: "volume-label", "aria-hidden": "true" }, "Host path"),
      h("input", { type: "text", name: "source", required: true, spellcheck: "false",
        autocomplete: "off", placeholder: "/srv/datasets/imagenet" })),
    h("div", { class: "field field-grow" },
      h("span", { class: "volume-label", "aria-hidden": "true" }, "Mount path"),
      h("input", { type: "text", name: "mount_path", required: true, spellcheck: "false",
        autocomplete: "off", placeholder: "/data/imagenet" })),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "read_only" }),
      "Read-only"),
    h("button", { type: "button", name: "remove", class: "btn btn-ghost btn-small btn-danger-text",
      onclick: () => onRemove(row) }, "Remove"));
  return row;
}

/** The rows' labels follow their places: "Host path of volume 2". */
function numberVolumes(list) {
  [...list.children].forEach((row, i) => {
    const n = i + 1;
    row.querySelector('[name="source"]').setAttribute("aria-label", `Host path of volume ${n}`);
    row.querySelector('[name="mount_path"]').setAttribute("aria-label",
      `Mount path of volume ${n}`);
    row.querySelector('[name="remove"]').setAttribute("aria-label", `Remove volume ${n}`);
  });
}

function volumeValue(row) {
  return { source: row.querySelector('[name="source"]').value.trim(),
    mount_path: row.querySelector('[name="mount_path"]').value.trim(),
    read_only: row.querySelector('[name="read_only"]').checked };
}

export function mountNew(container, { user, navigate }) {
  const isAdmin = user.role === "admin";
  let stopped = false;

  const name = h("input", { id: "env-name", name: "name", type: "text", required: true,
    maxlength: "63", pattern: NAME_PATTERN, autocomplete: "off", spellcheck: "false",
    placeholder: "mnist", "aria-describedby": "env-name-hint" });
  const image = h("select", { id: "env-image", name: "image", required: true,
    "aria-describedby": "env-image-hint" });
  const imageHint = h("p", { id: "env-image-hint", class: "hint" }, "Loading the catalogue…");
  const gpus = h("input", { id: "env-gpus", name: "gpus", type: "number", required: true,
    min: "0", max: "64", step: "1", value: "1", "aria-describedby": "env-gpus-hint" });
  const cpus = h("input", { id: "env-cpus", name: "cpus", type: "number", min: "0.1",
    max: "1024", step: "0.1", placeholder: "no limit" });
  const memory = h("input", { id: "env-memory", name: "memory_mib", type: "number", min: "256",
    step: "1", placeholder: "no limit" });
  const volumeList = h("div", { class: "volume-list" });
  const sshNote = h("p", { class: "hint", "data-testid": "ssh-note" },
    "Your profile's SSH keys are let in; manage them on the ",
    h("a", { href: "#/ssh-keys" }, "SSH keys page"), ".");
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Create environment");
  const message = h("div", { class: "form-message", "data-testid": "environment-form-message" });
  const catalogue = h("div", { class: "field" },
    h("label", { for: "env-image" }, "Image"), image, imageHint);

  function addVolume() {
    const row = volumeRow((gone) => {
      gone.remove();
      numberVolumes(volumeList);
    });
    volumeList.append(row);
    numberVolumes(volumeList);
    row.querySelector("input").focus();
  }

  function fail(text, focus) {
    message.replaceChildren(alertBox(text));
    if (focus) focus.focus();
  }

  const form = h("form", { class: "stack-form env-form", "aria-label": "New environment" },
    h("div", { class: "field" },
      h("label", { for: "env-name" }, "Name"), name,
      h("p", { id: "env-name-hint", class: "hint" },
        "Lowercase letters, digits and “-”; it is part of the JupyterLab address.")),
    catalogue,
    h("div", { class: "form-row" },
      h("div", { class: "field" },
        h("label", { for: "env-gpus" }, "GPUs"), gpus,
        h("p", { id: "env-gpus-hint", class: "hint" },
          "Seen as GPU 0, 1, … inside; 0 for none.")),
      h("div", { class: "field" }, h("label", { for: "env-cpus" }, "CPUs (optional)"), cpus),
      h("div", { class: "field" }, h("label", { for: "env-memory" }, "Memory in MiB (optional)"),
        memory)),
    h("fieldset", { class: "volumes" },
      h("legend", {}, "Volumes"),
      h("p", { class: "hint" }, "Host folders (NFS mounts included) under the roots your admin "
        + "allows, mounted into the environment. The workspace ", h("code", {}, WORKSPACE),
      " is always there and is kept when the environment stops."),
      volumeList,
      h("div", {}, h("button", { type: "button", class: "btn btn-secondary btn-small",
        onclick: addVolume }, "Add volume"))),
    h("div", { class: "field" }, h("span", { class: "field-title" }, "SSH"), sshNote),
    message,
    h("div", { class: "form-actions" }, submit,
      h("a", { href: "#/environments", class: "btn btn-ghost" }, "Cancel")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    if (!name.checkValidity()) {
      fail("A name uses lowercase letters, digits and “-” and starts and ends with a letter "
        + "or digit.", name);
      return;
    }
    if (!image.value) {
      fail("Pick an image.", image);
      return;
    }
    const body = { name: name.value.trim(), image: image.value,
      gpus: Number.parseInt(gpus.value || "0", 10), volumes: [] };
    if (cpus.value !== "") body.cpus = Number(cpus.value);
    if (memory.value !== "") body.memory_mib = Number.parseInt(memory.value, 10);
    for (const row of volumeList.children) {
      const volume = volumeValue(row);
      if (!volume.source && !volume.mount_path) continue;
      if (!volume.source || !volume.mount_path) {
        fail("Each volume needs a host path and a mount path.", row.querySelector("input"));
        return;
      }
      body.volumes.push(volume);
    }
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      const created = await api("environments", { method: "POST", body });
      flash = `Environment ${created.name} created: it starts now, and this page follows it.`;
      navigate("/environments");
    } catch (error) {
      if (!error.handled && !stopped) fail(`The environment was not created: ${error.message}`);
    } finally {
      submit.disabled = false;
      submit.textContent = "Create environment";
    }
  });

  function showImages(page) {
    image.replaceChildren(...page.data.map((img) =>
      h("option", { value: img.reference }, imageLabel(img))));
    const describe = () => {
      const chosen = page.data.find((img) => img.reference === image.value);
      imageHint.textContent = chosen && chosen.description ? chosen.description
        : "From the catalogue of images an admin registered.";
    };
    image.onchange = describe;
    describe();
  }

  function noImages() {
    submit.disabled = true;
    const command = h("code", {}, "dllab images add NAME:TAG");
    catalogue.replaceChildren(h("span", { class: "field-title" }, "Image"),
      alertBox(["The image catalogue is empty, so there is nothing to start yet. ", ...(isAdmin
        ? ["Register an image built on the hosts with ", command,
          " (or POST /api/v1/images), then come back."]
        : ["Ask an admin to register one (", command, ")."])], "info"));
  }

  async function load() {
    const [images, keys] = await Promise.allSettled([api("images?limit=500"),
      api("users/me/ssh-keys")]);
    if (stopped) return;
    if (images.status === "fulfilled") {
      if (images.value.data.length) showImages(images.value);
      else noImages();
    } else if (!images.reason.handled) {
      submit.disabled = true;
      catalogue.append(alertBox(`Could not load the image catalogue: ${images.reason.message}`));
    }
    if (keys.status === "fulfilled") {
      const n = keys.value.keys.length;
      sshNote.replaceChildren(...(n
        ? [`Your profile's ${count(n, "SSH key")} ${n === 1 ? "is" : "are"} let in (ssh as `,
          h("code", {}, "dev"), "); manage them on the ",
          h("a", { href: "#/ssh-keys" }, "SSH keys page"), "."]
        : ["You have no SSH keys yet, so SSH stays closed. Add one on the ",
          h("a", { href: "#/ssh-keys" }, "SSH keys page"),
          " first: your profile's keys are used."]));
    }
  }

  container.replaceChildren(
    h("div", { class: "page-header" },
      h("div", {},
        h("p", { class: "breadcrumb" }, h("a", { href: "#/environments" }, "← Environments")),
        h("h1", {}, "New environment"),
        h("p", { class: "page-subtitle" },
          "JupyterLab, TensorBoard and SSH on the GPUs you ask for; it waits in the queue "
          + "when they are busy."))),
    h("section", { class: "card" }, form));
  name.focus();
  load();
  return () => {
    stopped = true;
  };
}

// ---- one environment --------------------------------------------------------------------

function metaItem(label, value) {
  return h("div", { class: "meta-item" }, h("dt", {}, label),
    h("dd", {}, value === null || value === undefined || value === ""
      ? h("span", { class: "muted" }, "—") : value));
}

function phaseTimeline(phases) {
  return h("ol", { class: "phase-timeline", "aria-label": "Phases of the latest start" },
    phases.map((phase) => h("li", {
      class: `phase ${phase.at ? "phase-done" : "phase-pending"}`,
      dataset: { phase: phase.name }, "data-testid": "phase" },
    h("span", { class: "phase-dot", "aria-hidden": "true" }),
    h("span", { class: "phase-name" }, phase.name),
    h("span", { class: "phase-seconds" }, phase.seconds === null || phase.seconds === undefined
      ? (phase.at ? "" : "not yet") : `+${phase.seconds.toFixed(1)} s`),
    phase.at ? h("time", { class: "phase-at muted", datetime: phase.at,
      title: formatFullDate(phase.at) }, new Date(phase.at).toLocaleTimeString()) : null)));
}

function deviceList(env) {
  if (!env.gpus) return h("p", { class: "muted" }, "No GPUs: CPU only.");
  if (!env.devices.length) {
    return h("p", { class: "muted" }, `${count(env.gpus, "GPU")} asked for; `
      + "they are assigned while it runs.");
  }
  return h("ul", { class: "device-list", "aria-label": "GPUs" }, env.devices.map((gpu) =>
    h("li", { "data-testid": "environment-gpu", title: gpu.uuid || "" },
      h("span", { class: "device-map" }, gpuMapping(gpu)),
      gpu.uuid ? h("code", { class: "muted" }, shortUuid(gpu.uuid)) : null,
      gpu.simulated ? badge("simulated", "warning", { "data-testid": "gpu-simulated" }) : null)));
}

function volumeList(env) {
  if (!env.volumes.length) return h("span", { class: "muted" }, "workspace only");
  return h("ul", { class: "plain-list" }, env.volumes.map((v) => h("li", {},
    h("code", {}, v.source), " → ", h("code", {}, v.mount_path),
    v.read_only ? h("span", { class: "muted" }, " (read-only)") : null)));
}

function sshAccess(env) {
  if (env.ssh) return sshLine(env);
  if (env.ssh_key_count) return h("p", { class: "muted" }, "SSH is not reachable yet.");
  return h("p", { class: "muted" }, "SSH is closed: it lets no key in. Add one on the ",
    h("a", { href: "#/ssh-keys" }, "SSH keys page"), ", then stop and start it again.");
}

/**
 * The API client reads JSON; a unit's log is text. Read it here, and on an error ask again
 * through api() for the API's message (and its handling of an ended session).
 */
async function fetchText(path) {
  let response;
  try {
    response = await fetch(new URL(`api/v1/${path}`, document.baseURI), {
      credentials: "same-origin", cache: "no-store", headers: { Accept: "text/plain" } });
  } catch {
    throw new ApiError(0, "The control plane cannot be reached. Check that it runs and try "
      + "again.", "network");
  }
  if (response.ok) return response.text();
  await api(path);
  throw new ApiError(response.status, `${response.status} ${response.statusText || "error"}`);
}

export function mountDetail(container, { args, navigate }) {
  const id = args[0];
  let lastData = null;
  let lastLogKey = null;
  let env = null;
  let live = null;
  let stopped = false;

  const title = h("h1", {}, "Environment");
  const headBadge = h("span", { class: "head-badge" });
  const headActions = h("div", { class: "env-head-actions" });
  const problem = h("div", { class: "page-problem" });
  const body = h("div", { class: "env-detail", "aria-busy": "true" },
    spinnerText("Loading the environment…"));
  const status = h("p", { class: "refresh-note muted" });

  const logView = h("pre", { class: "log-view", tabindex: "0", "aria-label": "Log",
    "data-testid": "environment-log" });
  const logNote = h("span", { class: "muted card-title-note" });
  const logRefresh = h("button", { type: "button", class: "btn btn-secondary btn-small" },
    "Refresh log");
  const logCard = h("section", { class: "card", "aria-labelledby": "env-log-title" },
    h("div", { class: "card-head" },
      h("h2", { id: "env-log-title", class: "card-title" }, "Log", logNote),
      logRefresh),
    logView);

  const say = (node) => problem.replaceChildren(...(node ? [node] : []));

  async function onAction(target, action, button) {
    const done = await runAction(target, action, button, say);
    if (done && action === "delete") {
      flash = `Environment ${target.name} deleted.`;
      navigate("/environments");
      return;
    }
    live.refresh();
  }

  async function loadLog() {
    if (!env || !env.unit) {
      logNote.textContent = "";
      logView.textContent = "No unit yet: the log starts once the environment is placed on "
        + "a host.";
      return;
    }
    const unit = env.unit;
    logRefresh.disabled = true;
    try {
      const text = await fetchText(`units/${encodeURIComponent(unit)}/logs?tail=${LOG_LINES}`);
      if (stopped) return;
      logNote.textContent = ` · last ${LOG_LINES} lines of unit ${unit}`;
      logView.textContent = text || "(nothing yet)";
      logView.scrollTop = logView.scrollHeight;
    } catch (error) {
      if (stopped || error.handled) return;
      logView.textContent = "";
      logView.append(alertBox(`Could not load the log: ${error.message}`));
    } finally {
      logRefresh.disabled = false;
    }
  }
  logRefresh.addEventListener("click", loadLog);

  function show() {
    body.setAttribute("aria-busy", "false");
    title.textContent = env.name;
    document.title = `${env.name} · Environments · DLLab`;
    headBadge.replaceChildren(stateBadge(env));
    keepFocus(headActions, () => headActions.replaceChildren(
      actionButtons(env, onAction, { small: false })));
    const access = env.urls
      ? h("div", { class: "env-access" },
        h("div", { class: "env-links" }, jupyterLink(env), tensorboardLink(env)),
        sshAccess(env))
      : h("p", { class: "muted" }, "JupyterLab, TensorBoard and the ssh command appear here "
        + "while it runs.");
    let reason = null;
    if (env.state === "queued") reason = queueText(env.position, env.reason);
    else if (env.reason) reason = env.reason;
    body.replaceChildren(
      h("section", { class: "card", "aria-label": "Overview" },
        h("dl", { class: "host-meta env-meta" },
          metaItem("State", stateBadge(env)),
          metaItem("Reason", reason ? h("span", { class: env.state === "failed" ? "text-danger"
            : null, "data-testid": "environment-reason" }, reason) : null),
          metaItem("Host", env.host),
          metaItem("Image", h("code", {}, env.image)),
          metaItem("GPUs", String(env.gpus)),
          metaItem("CPUs", env.cpus === null ? "no limit" : String(env.cpus)),
          metaItem("Memory", env.memory_mib === null ? "no limit" : `${env.memory_mib} MiB`),
          metaItem("SSH keys", String(env.ssh_key_count)),
          metaItem("Owner", env.owner),
          metaItem("Created", relativeTime(env.created_at))),
        h("div", { class: "env-sections" },
          h("div", {},
            h("h3", { class: "section-label" }, "Access"), access),
          h("div", {},
            h("h3", { class: "section-label" }, "GPUs"), deviceList(env)),
          h("div", {},
            h("h3", { class: "section-label" }, "Volumes"), volumeList(env)))),
      h("section", { class: "card", "aria-labelledby": "env-phases-title" },
        h("h2", { id: "env-phases-title", class: "card-title" }, "Start",
          h("span", { class: "muted card-title-note" }, " · the latest, timed")),
        phaseTimeline(env.phases)),
      logCard);
  }

  async function load(signal) {
    try {
      const found = await api(`environments/${encodeURIComponent(id)}`);
      if (signal.aborted) return true;
      env = found;
      const text = JSON.stringify(found);
      if (text !== lastData) show();
      else refreshRelativeTimes(body);
      lastData = text;
      problem.replaceChildren();
      const logKey = `${env.unit}:${env.state}`;
      if (logKey !== lastLogKey) {
        lastLogKey = logKey;
        loadLog();
      }
      const busy = isBusy(env);
      status.textContent = refreshText(busy);
      return busy;
    } catch (error) {
      if (signal.aborted || error.handled) return false;
      body.setAttribute("aria-busy", "false");
      if (error.status === 404 || error.status === 422) { // none, or not an id at all
        live.stop();
        headActions.replaceChildren();
        headBadge.replaceChildren();
        status.textContent = "";
        body.replaceChildren(emptyState("No such environment",
          "It may have been deleted. Back to ", h("a", { href: "#/environments" }, "Environments"),
          "."));
        return false;
      }
      say(alertBox(`Could not load the environment: ${error.message}`));
      if (lastData === null) body.replaceChildren();
      return false;
    }
  }

  container.replaceChildren(
    h("div", { class: "page-header" },
      h("div", {},
        h("p", { class: "breadcrumb" }, h("a", { href: "#/environments" }, "← Environments")),
        h("div", { class: "env-title" }, title, headBadge)),
      headActions),
    problem,
    body,
    status);

  live = livePoller(load);
  return () => {
    stopped = true;
    live.stop();
  };
}

export const detail = { mount: mountDetail };
export const create = { mount: mountNew };
