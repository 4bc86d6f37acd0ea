// Hosts: every GPU host with its status and GPUs, refreshed every 5 s. Admins add hosts
// (the answer holds the agent command with the host token, shown once) and remove them.

import { api } from "../api.js";
import {
  alertBox, badge, count, emptyState, h, hostStatusBadge, metaItem, pageHeader,
  relativeTime, secretPanel, shortUuid, spinnerText,
} from "../ui.js";
import { messageSlot, pagedList, removeConfirmed } from "./page_parts.js";

export const REFRESH_MS = 5000;
// All of them: a lab has a few hosts, not hundreds.
const LIMIT = 500;
const NAME_PATTERN = "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?";

/** "2.0 / 16.0 GiB": both in the unit of the total. */
function memoryText(used, total) {
  if (total >= 1024) return `${(used / 1024).toFixed(1)} / ${(total / 1024).toFixed(1)} GiB`;
  return `${used} / ${total} MiB`;
}

function gpuCard(gpu) {
  const total = Math.max(gpu.memory_total_mib, 0);
  const used = Math.min(Math.max(gpu.memory_used_mib, 0), total || gpu.memory_used_mib);
  const percent = total ? Math.round((used / total) * 100) : 0;
  const level = percent >= 90 ? "high" : percent >= 70 ? "mid" : "low";
  return h("li", { class: `gpu-card${gpu.simulated ? " gpu-simulated" : ""}`,
    dataset: { gpuIndex: String(gpu.index) }, "data-testid": "gpu-card" },
  h("div", { class: "gpu-head" },
    h("span", { class: "gpu-index" }, `GPU ${gpu.index}`),
    gpu.simulated
      ? badge("simulated", "warning", { title: "Readings come from DLLab's GPU simulator "
          + "(agent started with --simulate-gpus)", "data-testid": "gpu-simulated" })
      : null),
  h("div", { class: "gpu-model", title: gpu.model }, gpu.model),
  h("div", { class: "gpu-memory" },
    h("div", { class: "meter", "aria-hidden": "true" },
      h("div", { class: `meter-fill meter-${level}`, style: `width: ${percent}%` })),
    h("div", { class: "gpu-memory-text" },
      h("span", {}, memoryText(used, total)),
      h("span", { class: "muted" }, `${percent}% used`))),
  h("code", { class: "gpu-uuid", title: gpu.uuid }, shortUuid(gpu.uuid)));
}

function hostCard(host, { isAdmin, onRemove }) {
  const titleId = `host-${host.id}-title`;
  let gpus;
  if (host.gpus.length) {
    const simulated = host.gpus.filter((g) => g.simulated).length;
    gpus = h("div", { class: "gpu-section" },
      h("h3", { class: "section-label" }, `GPUs (${host.gpus.length})`,
        simulated ? h("span", { class: "muted" },
          simulated === host.gpus.length ? " · all simulated" : ` · ${simulated} simulated`)
          : null),
      h("ul", { class: "gpu-grid", "aria-label": `GPUs of ${host.name}` },
        host.gpus.map(gpuCard)));
  } else if (host.status === "new") {
    gpus = h("p", { class: "host-note" },
      "Waiting for this host's agent to register. Start it on the host with the command "
      + "shown when the host was added.");
  } else {
    gpus = h("p", { class: "host-note" }, "This host reports no GPUs.");
  }
  return h("article", { class: `card host-card host-${host.status}`, "aria-labelledby": titleId,
    dataset: { host: host.name }, "data-testid": "host-card" },
  h("header", { class: "host-head" },
    h("div", { class: "host-title" },
      h("h2", { id: titleId, class: "host-name" }, host.name),
      hostStatusBadge(host.status)),
    isAdmin
      ? h("button", { type: "button", class: "btn btn-ghost btn-small btn-danger-text",
        "aria-label": `Remove host ${host.name}`, dataset: { focusKey: `remove-${host.id}` },
        onclick: () => onRemove(host) }, "Remove")
      : null),
  h("dl", { class: "host-meta" },
    metaItem("Runtime", host.runtime),
    metaItem("Address", host.address),
    metaItem("Agent", host.agent_version),
    metaItem("Last seen", relativeTime(host.last_seen_at)),
    metaItem("Added", relativeTime(host.created_at))),
  gpus);
}

function addHostForm(onAdded) {
  const input = h("input", { id: "host-name", name: "name", type: "text", required: true,
    maxlength: "63", pattern: NAME_PATTERN, autocomplete: "off", spellcheck: "false",
    placeholder: "gpu-2", "aria-describedby": "host-name-hint" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Add host");
  const message = h("div", { class: "form-message" });
  const result = h("div", { class: "form-result" });
  const form = h("form", { class: "inline-form", "aria-label": "Add host" },
    h("div", { class: "field field-grow" },
      h("label", { for: "host-name" }, "Host name"),
      input,
      h("p", { id: "host-name-hint", class: "hint" },
        "Lowercase letters, digits and “-”, as the host is known on your network.")),
    h("div", { class: "field field-button" }, submit));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    const name = input.value.trim();
    if (!input.checkValidity()) {
      message.replaceChildren(alertBox(
        "A host name uses lowercase letters, digits and “-” and starts and ends with a "
        + "letter or digit."));
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Adding…";
    try {
      const created = await api("hosts", { method: "POST", body: { name } });
      input.value = "";
      result.replaceChildren(secretPanel({
        title: `Host ${created.name} added`,
        description: [
          "Run this command on the GPU host to start its agent. It holds the host's token: ",
          "copy it now, it will not be shown again. On a host without NVIDIA GPUs add ",
          h("code", {}, "--simulate-gpus N"), "."],
        value: created.agent_command,
        valueLabel: "Agent command",
        testId: "agent-command-panel",
        onDone: (panel) => panel.remove(),
      }));
      onAdded();
    } catch (error) {
      if (!error.handled) message.replaceChildren(alertBox(error.message));
    } finally {
      submit.disabled = false;
      submit.textContent = "Add host";
    }
  });

  return h("section", { class: "card add-host", "aria-labelledby": "add-host-title",
    "data-testid": "add-host" },
  h("h2", { id: "add-host-title", class: "card-title" }, "Add host"),
  h("p", { class: "card-text" }, "Adds a GPU host and gives you the command that starts its agent."),
  form, message, result);
}

export function mount(container, { user }) {
  const isAdmin = user.role === "admin";
  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const status = h("p", { class: "refresh-note muted" });
  const { node: problem, say } = messageSlot();
  const list = h("div", { class: "host-list", "aria-busy": "true" },
    spinnerText("Loading hosts…"));
  const load = () => hosts.refresh();

  const removeHost = (host) => removeConfirmed({ say, list: hosts, path: `hosts/${host.id}`,
    confirm: { title: `Remove host ${host.name}?`, confirmLabel: "Remove host",
      message: "Its agent's token stops working at once. A host that still runs units "
        + "cannot be removed." } });

  function show(page) {
    const online = page.data.filter((x) => x.status === "online").length;
    const gpus = page.data.reduce((n, x) => n + x.gpus.length, 0);
    summary.textContent = page.data.length
      ? `${count(page.count, "host")} · ${online} online · ${count(gpus, "GPU")}` : "";
    if (!page.data.length) {
      list.replaceChildren(emptyState(
        ["No hosts yet — add one with ", h("code", {}, "dllab host add NAME")],
        isAdmin ? "or with the form above, then start its agent with the command it prints."
          : "Adding hosts takes an admin."));
      return;
    }
    list.replaceChildren(...page.data.map((host) => hostCard(host,
      { isAdmin, onRemove: removeHost })));
  }

  container.replaceChildren(...[
    pageHeader({ title: "Hosts", subtitle: "GPU servers that run a DLLab agent.",
      side: [summary] }),
    isAdmin ? addHostForm(load) : null,
    problem,
    list,
    status].filter(Boolean));

  const hosts = pagedList({ path: "hosts", size: LIMIT, area: list, status, say, show,
    every: REFRESH_MS });
  return hosts.stop;
}
