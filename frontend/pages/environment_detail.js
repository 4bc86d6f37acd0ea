// One environment (#/environments/<id>): its state and settings, its links and ssh
// command, its GPUs and volumes, the timed phases of its latest start and the last lines
// of its unit's log; live while it is on its way up or down. Stop, start and delete.

import { api } from "../api.js";
import {
  alertBox, badge, count, emptyState, h, keepFocus, metaItem, phaseTimeline,
  refreshRelativeTimes, relativeTime, shortUuid, spinnerText,
} from "../ui.js";
import {
  actionButtons, gpuMapping, isBusy, jupyterLink, leaveFlash, livePoller, queueText,
  refreshText, runAction, sshLine, stateBadge, tensorboardLink,
} from "./environment_parts.js";

const LOG_LINES = 200;

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
  return h("ul", { class: "plain-list" }, env.volumes.map((v) => h("li",
    { "data-testid": "environment-volume" },
    v.s3 ? h("code", { title: `${v.s3.endpoint || "AWS"}${v.s3.region ? `, ${v.s3.region}` : ""}`
      + ` · secret ${v.s3.secret}` }, `s3://${v.s3.bucket}/${v.s3.prefix || ""}`)
      : h("code", {}, v.source),
    " → ", h("code", {}, v.mount_path),
    v.s3 ? h("span", { class: "muted" }, " (copied in at start)") : null,
    v.read_only ? h("span", { class: "muted" }, " (read-only)") : null)));
}

function sshAccess(env) {
  if (env.ssh) return sshLine(env);
  if (env.ssh_key_count) return h("p", { class: "muted" }, "SSH is not reachable yet.");
  return h("p", { class: "muted" }, "SSH is closed: it lets no key in. Add one on the ",
    h("a", { href: "#/ssh-keys" }, "SSH keys page"), ", then stop and start it again.");
}

export function mount(container, { args, navigate }) {
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
      leaveFlash(`Environment ${target.name} deleted.`);
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
      const text = await api(`units/${encodeURIComponent(unit)}/logs?tail=${LOG_LINES}`,
        { text: true });
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
        phaseTimeline(env.phases, "Phases of the latest start")),
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
