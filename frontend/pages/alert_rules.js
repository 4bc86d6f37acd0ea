// The alert rules card of the Alerts page (admins): every rule ("GPU utilization < 5 %
// for 10 min, on allocated GPUs") with a switch that enables it, Edit and Delete, and the
// form that adds one or saves the one being edited. Also what names a metric and writes
// its values, for the alerts list.

import { api } from "../api.js";
import { alertBox, dataTable, emptyState, h, keepFocus, newId, poller } from "../ui.js";
import { severityBadge } from "./gpu_parts.js";
import { messageSlot, removeConfirmed } from "./page_parts.js";

// metric: [what it is called, the unit its values are written in]
export const METRICS = {
  gpu_util: ["GPU utilization", "%"],
  memory_used_pct: ["GPU memory used", "%"],
  temperature_c: ["temperature", " °C"],
  power_w: ["power", " W"],
  sm_clock_mhz: ["SM clock", " MHz"],
  ecc_errors: ["uncorrected ECC errors", ""],
  xid_errors: ["XID errors", ""],
  host_silent_seconds: ["host silent", " s"],
};
const SEVERITIES = ["info", "warning", "critical"];

/** "87%", "91 °C": a value of `metric` with its unit. */
export function metricValue(metric, value) {
  if (value === null || value === undefined) return "—";
  const unit = (METRICS[metric] || [metric, ""])[1];
  return `${Number.isInteger(value) ? value : Number(value).toFixed(1)}${unit}`;
}

/** "30 s", "10 min", "2 h": a duration in seconds, shortly. */
export function durationText(seconds) {
  if (seconds % 3600 === 0 && seconds >= 3600) return `${seconds / 3600} h`;
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** "GPU utilization < 5% for 10 min" */
export function conditionText(rule) {
  const [name] = METRICS[rule.metric] || [rule.metric];
  const lasting = rule.duration_seconds ? ` for ${durationText(rule.duration_seconds)}`
    : " (at once)";
  return `${name} ${rule.op} ${metricValue(rule.metric, rule.threshold)}${lasting}`;
}

function field(label, input, hint = null, wide = false) {
  const id = input.id || newId("rule");
  input.id = id;
  return h("div", { class: `field${wide ? " field-wide" : ""}` },
    h("label", { for: id }, label), input, hint ? h("span", { class: "hint" }, hint) : null);
}

function ruleForm({ onSaved, say }) {
  const name = h("input", { name: "name", required: true, maxlength: "64",
    placeholder: "idle GPU" });
  const metric = h("select", { name: "metric" }, Object.entries(METRICS).map(([value, [label]]) =>
    h("option", { value }, label)));
  const op = h("select", { name: "op" },
    h("option", { value: ">" }, ">"), h("option", { value: "<" }, "<"));
  const threshold = h("input", { name: "threshold", type: "number", step: "any", required: true });
  const duration = h("input", { name: "duration_seconds", type: "number", min: "0", step: "1",
    value: "60", required: true });
  const severity = h("select", { name: "severity" }, SEVERITIES.map((s) => h("option", {
    value: s, selected: s === "warning" }, s)));
  const host = h("input", { name: "host", placeholder: "every host" });
  const allocated = h("input", { type: "checkbox", name: "allocated_only" });
  const enabled = h("input", { type: "checkbox", name: "enabled", checked: true });
  const webhook = h("input", { name: "webhook_url", type: "url",
    placeholder: "https://hooks.example.com/…" });
  const title = h("h3", { class: "section-label" }, "Add a rule");
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Add rule");
  const cancel = h("button", { type: "button", class: "btn btn-secondary", hidden: true },
    "Cancel");
  const message = h("div", { class: "form-message", "aria-live": "polite" });
  let editing = null;

  const form = h("form", { class: "rule-form", "aria-label": "Alert rule" },
    title,
    h("div", { class: "rule-grid" },
      field("Name", name, null, true),
      field("Metric", metric, null, true),
      field("When", op),
      field("Threshold", threshold),
      field("For (seconds)", duration, "0: at once"),
      field("Severity", severity),
      field("Host", host, "empty: every host", true),
      field("Webhook URL", webhook, "optional: POSTed when it fires and when it resolves",
        true)),
    h("div", { class: "form-actions" },
      h("label", { class: "check" }, allocated, "Only GPUs held by a workload"),
      h("label", { class: "check" }, enabled, "Enabled")),
    h("div", { class: "form-actions" }, submit, cancel),
    message);

  function reset() {
    editing = null;
    form.reset();
    title.textContent = "Add a rule";
    submit.textContent = "Add rule";
    cancel.hidden = true;
  }

  function edit(rule) {
    editing = rule;
    name.value = rule.name;
    metric.value = rule.metric;
    op.value = rule.op;
    threshold.value = String(rule.threshold);
    duration.value = String(rule.duration_seconds);
    severity.value = rule.severity;
    host.value = rule.host || "";
    allocated.checked = Boolean(rule.allocated_only);
    enabled.checked = rule.enabled !== false;
    webhook.value = rule.webhook_url || "";
    title.textContent = `Edit rule ${rule.name}`;
    submit.textContent = "Save rule";
    cancel.hidden = false;
    message.replaceChildren();
    form.scrollIntoView({ block: "nearest" });
    name.focus();
  }

  cancel.addEventListener("click", () => {
    reset();
    message.replaceChildren();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(), metric: metric.value, op: op.value,
      threshold: Number(threshold.value), duration_seconds: Number(duration.value),
      severity: severity.value, host: host.value.trim() || null,
      allocated_only: allocated.checked, enabled: enabled.checked,
      webhook_url: webhook.value.trim() || null,
    };
    const was = editing;
    submit.disabled = true;
    say(null);
    try {
      if (was) {
        await api(`alerts/rules/${encodeURIComponent(was.id)}`, { method: "PATCH", body });
      } else {
        await api("alerts/rules", { method: "POST", body });
      }
      reset();
      message.replaceChildren(alertBox(was ? `Rule ${body.name} saved.`
        : `Rule ${body.name} added.`, "success"));
      onSaved();
    } catch (error) {
      if (!error.handled) message.replaceChildren(alertBox(error.message));
    } finally {
      submit.disabled = false;
    }
  });
  return { form, edit, quiet: () => message.replaceChildren() };
}

/** The rules card: its table, the form, and its own message slot. Answers `{card, stop}`. */
export function rulesCard() {
  const { node: problem, say } = messageSlot({ live: true });
  const area = h("div", { "aria-busy": "true" });
  const note = h("span", { class: "muted card-title-note" });
  let poll = null;
  let lastText = null;
  const form = ruleForm({ say, onSaved: () => poll.refresh() });

  async function toggle(rule, box) {
    box.disabled = true;
    say(null);
    form.quiet();
    try {
      await api(`alerts/rules/${encodeURIComponent(rule.id)}`, { method: "PATCH",
        body: { enabled: box.checked } });
    } catch (error) {
      box.checked = !box.checked;
      if (!error.handled) say(alertBox(`Could not change rule ${rule.name}: ${error.message}`));
    } finally {
      box.disabled = false;
    }
    poll.refresh();
  }

  function remove(rule) {
    form.quiet();
    return removeConfirmed({
      confirm: { title: `Delete rule ${rule.name}?`, confirmLabel: "Delete rule",
        message: "Its alerts stay in the list; no new ones are raised." },
      path: `alerts/rules/${encodeURIComponent(rule.id)}`,
      done: `Rule ${rule.name} deleted.`, say, list: poll });
  }

  function row(rule) {
    const box = h("input", { type: "checkbox", checked: rule.enabled,
      "aria-label": `Rule ${rule.name} enabled`, dataset: { focusKey: `enable-${rule.id}` } });
    box.addEventListener("change", () => toggle(rule, box));
    return h("tr", { "data-testid": "rule-row", dataset: { rule: String(rule.id) } },
      h("th", { scope: "row", class: "cell-strong" }, rule.name),
      h("td", { "data-testid": "rule-condition" }, conditionText(rule)),
      h("td", {}, severityBadge(rule.severity)),
      h("td", {}, rule.host || "every host",
        rule.allocated_only ? h("div", { class: "cell-note muted" }, "held GPUs only") : null),
      h("td", {}, rule.webhook_url ? h("code", { title: rule.webhook_url },
        hostOf(rule.webhook_url)) : h("span", { class: "muted" }, "—")),
      h("td", {}, box),
      h("td", { class: "cell-actions" }, h("div", { class: "env-actions" },
        h("button", { type: "button", class: "btn btn-secondary btn-small",
          "aria-label": `Edit rule ${rule.name}`, dataset: { focusKey: `edit-${rule.id}` },
          onclick: () => form.edit(rule) }, "Edit"),
        h("button", { type: "button", class: "btn btn-secondary btn-small btn-danger-text",
          "aria-label": `Delete rule ${rule.name}`, dataset: { focusKey: `delete-${rule.id}` },
          onclick: () => remove(rule) }, "Delete"))));
  }

  async function load(signal) {
    try {
      const page = await api("alerts/rules");
      if (signal.aborted) return;
      area.setAttribute("aria-busy", "false");
      note.textContent = page.count ? ` · ${page.count}` : "";
      const text = JSON.stringify(page);
      if (text === lastText) return;
      lastText = text;
      keepFocus(area, () => area.replaceChildren(page.data.length
        ? dataTable("Alert rules", ["Name", "Condition", "Severity", "Where", "Webhook",
          "Enabled"], page.data.map(row), { hiddenLast: "Actions" })
        : emptyState("No rules yet", "Add one below: an alert is raised when a GPU's reading "
          + "stays past its threshold for its duration.")));
    } catch (error) {
      if (signal.aborted || error.handled) return;
      area.setAttribute("aria-busy", "false");
      say(alertBox(`Could not load the alert rules: ${error.message}`));
    }
  }

  const card = h("section", { class: "card", "aria-labelledby": "rules-title" },
    h("h2", { id: "rules-title", class: "card-title" }, "Rules", note),
    h("p", { class: "card-text" }, "Judged every second against the latest readings of every "
      + "GPU (and every host's silence)."),
    problem,
    area,
    form.form);
  poll = poller(load);
  return { card, stop: poll.stop };
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
