// One environment (#/environments/<id>): the idle-GPU policy's warning when it has one,
// its state and settings, its links and ssh command, its GPUs and volumes, its GPUs'
// readings as charts, the timed phases of its latest start and the last lines of its
// unit's log; live while it is on its way up or down. Stop, start and delete.

import {
  alertBox, badge, count, h, keepFocus, metaItem, phaseTimeline, relativeTime, shortUuid,
} from "../ui.js";
import {
  actionButtons, gpuMapping, isBusy, jupyterLink, queueText, runAction, sshLine, stateBadge,
  tensorboardLink,
} from "./environment_parts.js";
import { gpuChartsCard } from "./gpu_parts.js";
import { detailFrame, leaveFlash, logCard, watchOne } from "./page_parts.js";

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
  let lastLogKey = null;
  let env = null;
  let stopped = false;
  let gpuCharts = null; // made once, for an environment with GPUs
  const frame = detailFrame({ noun: "environment", list: "Environments" });
  const { say } = frame;

  const log = logCard({ name: "env", testId: "environment-log", isGone: () => stopped,
    source: () => (env && env.unit ? { note: ` · last ${LOG_LINES} lines of unit ${env.unit}`,
      path: `units/${encodeURIComponent(env.unit)}/logs?tail=${LOG_LINES}` }
      : { empty: "No unit yet: the log starts once the environment is placed on a host." }) });

  async function onAction(target, action, button) {
    const done = await runAction(target, action, button, say);
    if (done && action === "delete") {
      leaveFlash(`Environment ${target.name} deleted.`);
      navigate("/environments");
      return;
    }
    watch.refresh();
  }

  function show(found) {
    env = found;
    frame.named(env.name, stateBadge(env));
    keepFocus(frame.actions, () => frame.actions.replaceChildren(
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
    if (env.gpus && !gpuCharts) {
      gpuCharts = gpuChartsCard({ name: "env", query: { environment: env.id } });
    }
    frame.fill(
      ...(env.idle_warning ? [h("div", { class: "idle-warning", "data-testid": "idle-warning" },
        alertBox(env.idle_warning, "warning"))] : []),
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
      ...(gpuCharts ? [gpuCharts.card] : []),
      log.card);
  }

  container.replaceChildren(frame.header, frame.problem, frame.body, frame.status);

  const watch = watchOne(frame, { path: `environments/${encodeURIComponent(id)}`, show,
    busy: isBusy,
    loaded() {
      say(null);
      const logKey = `${env.unit}:${env.state}`;
      if (logKey !== lastLogKey) {
        lastLogKey = logKey;
        log.load();
      }
    },
    gone() {
      if (gpuCharts) gpuCharts.stop();
    } });
  return () => {
    stopped = true;
    watch.stop();
    if (gpuCharts) gpuCharts.stop();
  };
}
