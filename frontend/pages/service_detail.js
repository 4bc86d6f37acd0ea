// One prediction service (#/services/<id>): its status and reason, public URL, tracks and
// replicas (each one's log below), its traffic as charts (requests and errors per second,
// latency percentiles, replicas), a "Try it" box that sends a predict request through the
// edge proxy as a client would, and what changes it: a rolling update to another version,
// scale, canary (then promote or roll back), its access token, delete. Live while it starts
// or updates; the charts refresh every few seconds.

import { api } from "../api.js";
import { lineChart } from "../charts.js";
import {
  alertBox, badge, confirmDialog, copyButton, emptyState, formatFullDate, h, keepFocus,
  metaItem, poller, refreshRelativeTimes, relativeTime, secretPanel, spinnerText,
} from "../ui.js";
import { leaveFlash, livePoller, refreshText, takeFlash } from "./environment_parts.js";
import {
  chosenVersion, fillVersions, gpuChips, isMoving, loadModel, modelLink, predictPath,
  readyText, serviceBadge, wantedReplicas,
} from "./serving_parts.js";

const LOG_LINES = 300;
const METRICS_MS = 3000;
const METRICS_SECONDS = 900;
const CHARTS = [
  ["rps", "requests/s"],
  ["errors", "errors/s (5xx)"],
  ["p50_ms", "latency p50 (ms)"],
  ["p95_ms", "latency p95 (ms)"],
  ["p99_ms", "latency p99 (ms)"],
  ["replicas", "replicas routed"],
];

function autoscaleText(rule) {
  if (!rule) return "off";
  return `${rule.min}–${rule.max} replicas, ${rule.metric} target ${rule.target}`;
}

function curlCommand(service, request) {
  const lines = [`curl -X POST '${service.url}:predict'`,
    "  -H 'Content-Type: application/json'"];
  if (service.token_required) lines.push("  -H \"Authorization: Bearer $TOKEN\"");
  lines.push(`  -d '${JSON.stringify(request).replaceAll("'", "'\\''")}'`);
  return lines.join(" \\\n");
}

function tracksTable(service) {
  return h("div", { class: "table-scroll" }, h("table", { class: "table" },
    h("caption", { class: "visually-hidden" }, "Tracks"),
    h("thead", {}, h("tr", {}, ["Track", "Version", "Share of requests", "Replicas wanted"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, service.tracks.map((t) => h("tr", { "data-testid": "service-track",
      dataset: { track: t.name } },
    h("th", { scope: "row", class: "cell-strong" }, t.name),
    h("td", {}, `v${t.version}`),
    h("td", {}, `${t.weight}%`),
    h("td", {}, String(t.replicas)))))));
}

export function mount(container, { args, navigate }) {
  const id = args[0];
  const path = `services/${encodeURIComponent(id)}`;
  let service = null;
  let lastData = null;
  let lastLogKey = null;
  let live = null;
  let metrics = null;
  let stopped = false;
  let examples = null; // {signature: {instances, inputs}} once loaded
  let modelInfo = null; // {model, versions} for the version pickers
  let built = false; // the page's cards are in place

  const title = h("h1", {}, "Service");
  const headBadge = h("span", { class: "head-badge" });
  const headActions = h("div", { class: "env-head-actions" });
  const problem = h("div", { class: "page-problem", "aria-live": "polite" });
  const body = h("div", { class: "env-detail", "aria-busy": "true" },
    spinnerText("Loading the service…"));
  const status = h("p", { class: "refresh-note muted" });
  const say = (node) => problem.replaceChildren(...(node ? [node] : []));
  const flash = takeFlash();
  if (flash) say(alertBox(flash, "success"));

  const overview = h("section", { class: "card", "aria-label": "Overview" });
  const tracksArea = h("div");
  const replicasArea = h("div");

  // ---- a replica's log ----------------------------------------------------------------------
  const replicaPick = h("select", { "aria-label": "Replica", "data-testid": "service-log-replica" });
  const logView = h("pre", { class: "log-view", tabindex: "0", "aria-label": "Log",
    "data-testid": "service-log" });
  const logRefresh = h("button", { type: "button", class: "btn btn-secondary btn-small" },
    "Refresh log");
  const logCard = h("section", { class: "card", "aria-labelledby": "service-log-title" },
    h("div", { class: "card-head" },
      h("h2", { id: "service-log-title", class: "card-title" }, "Log",
        h("span", { class: "muted card-title-note" }, ` · last ${LOG_LINES} lines of a replica`)),
      h("div", { class: "env-actions" }, replicaPick, logRefresh)),
    logView);

  async function loadLog() {
    const unit = replicaPick.value;
    if (!unit) {
      logView.textContent = "No replica yet.";
      return;
    }
    logRefresh.disabled = true;
    try {
      const text = await api(`units/${encodeURIComponent(unit)}/logs?tail=${LOG_LINES}`,
        { text: true });
      if (stopped || unit !== replicaPick.value) return;
      logView.textContent = text || "(nothing yet)";
      logView.scrollTop = logView.scrollHeight;
    } catch (error) {
      if (stopped || error.handled) return;
      logView.replaceChildren(alertBox(`Could not load the log: ${error.message}`));
    } finally {
      logRefresh.disabled = false;
    }
  }
  logRefresh.addEventListener("click", loadLog);
  replicaPick.addEventListener("change", loadLog);

  function showLogOf(replica) {
    replicaPick.value = replica.unit;
    loadLog();
    logCard.scrollIntoView({ block: "nearest" });
  }

  function replicaTable() {
    if (!service.replicas.length) {
      return h("p", { class: "muted" }, wantedReplicas(service)
        ? "None yet: they are being placed." : "None: it is scaled to zero.");
    }
    return h("div", { class: "table-scroll" }, h("table", { class: "table" },
      h("caption", { class: "visually-hidden" }, "Replicas"),
      h("thead", {}, h("tr", {}, ["Track", "Version", "State", "Host", "Address", "GPUs",
        "Error"].map((c) => h("th", { scope: "col" }, c)),
      h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Log")))),
      h("tbody", {}, service.replicas.map((r) => h("tr", { "data-testid": "service-replica",
        dataset: { replica: r.id } },
      h("th", { scope: "row", class: "cell-strong" }, r.track),
      h("td", {}, `v${r.version}`),
      h("td", {}, badge(r.state, r.state === "ready" ? "success"
        : r.state.startsWith("ended") ? "neutral" : "info", { "data-testid": "replica-state" }),
      r.ready_at ? h("div", { class: "cell-note muted", title: formatFullDate(r.ready_at) },
        "ready ", relativeTime(r.ready_at)) : null),
      h("td", {}, r.host || h("span", { class: "muted" }, "not placed")),
      h("td", {}, r.address ? h("code", {}, r.address) : h("span", { class: "muted" }, "—")),
      h("td", {}, gpuChips(r.gpus)),
      h("td", { class: "cell-reason" }, r.error ? h("span", { class: "text-danger" }, r.error)
        : h("span", { class: "muted" }, "—")),
      h("td", { class: "cell-actions" }, r.unit ? h("button", { type: "button",
        class: "btn btn-secondary btn-small", dataset: { focusKey: `log-${r.id}` },
        "aria-label": `Log of replica ${r.id.slice(0, 8)}`, onclick: () => showLogOf(r) },
      "Log") : null))))));
  }

  // ---- charts -------------------------------------------------------------------------------
  const charts = h("div", { class: "charts", "data-testid": "service-charts" },
    h("p", { class: "muted" }, "Loading…"));
  let lastPoints = null;

  async function loadMetrics(signal) {
    try {
      const { points } = await api(`${path}/metrics?seconds=${METRICS_SECONDS}`);
      if (signal.aborted) return;
      const text = JSON.stringify(points);
      if (text === lastPoints) return;
      lastPoints = text;
      if (!points.length) {
        charts.replaceChildren(h("p", { class: "muted" }, "Nothing yet: points appear every "
          + "2 s once a replica serves."));
        return;
      }
      const start = points[0].at;
      // Latencies are null while no request is answered: their charts wait for one.
      charts.replaceChildren(...CHARTS.flatMap(([key, label]) => {
        const series = points.filter((p) => p[key] !== null)
          .map((p) => [Math.round(p.at - start), p[key]]);
        return series.length ? [lineChart(label, series,
          { xLabel: "second", testId: `chart-${key.replace(/_ms$/, "")}` })] : [];
      }));
    } catch (error) {
      if (!signal.aborted && !error.handled) {
        charts.replaceChildren(alertBox(`Could not load its metrics: ${error.message}`));
      }
    }
  }

  // ---- try it -------------------------------------------------------------------------------
  const signaturePick = h("select", { id: "try-signature", hidden: true,
    "aria-label": "Signature" });
  const request = h("textarea", { id: "try-request", class: "code-input try-request",
    rows: "8", spellcheck: "false", "data-testid": "try-request" }, "Loading an example…");
  const tryToken = h("input", { id: "try-token", type: "password", autocomplete: "off",
    spellcheck: "false", placeholder: "only if it requires one" });
  const send = h("button", { type: "submit", class: "btn btn-primary" }, "Send");
  const answer = h("div", { class: "try-answer", "aria-live": "polite" });
  const curl = h("pre", { class: "log-view curl-example", "data-testid": "service-curl" });
  const curlCopy = h("div", { class: "curl-copy" });
  const tryForm = h("form", { class: "stack-form try-form", "aria-label": "Try it" },
    h("div", { class: "field" },
      h("label", { for: "try-request" }, "Request (JSON)"),
      h("p", { class: "hint" }, "TensorFlow Serving's predict request: ",
        h("code", {}, "{\"instances\": [...]}"), " (a row per example) or ",
        h("code", {}, "{\"inputs\": {...}}"), "; prefilled with zeros of the signature's "
        + "shapes."),
      signaturePick, request),
    h("div", { class: "form-row" },
      h("div", { class: "field" }, h("label", { for: "try-token" }, "Access token"), tryToken)),
    h("div", { class: "form-actions" }, send),
    answer);

  function exampleRequest() {
    const sig = examples && (examples[signaturePick.value] || Object.values(examples)[0]);
    return sig ? sig.instances : { instances: [] };
  }

  function showCurl() {
    const command = curlCommand(service, exampleRequest());
    curl.textContent = command;
    curlCopy.replaceChildren(copyButton(command, "Copy command"));
  }

  async function loadExamples() {
    try {
      examples = await api(`${path}/examples`);
    } catch (error) {
      if (stopped || error.handled) return;
      examples = null;
      answer.replaceChildren(alertBox(`Could not load an example request: ${error.message}`,
        "info"));
    }
    if (stopped) return;
    const names = examples ? Object.keys(examples).sort((a, b) =>
      (b === "serving_default") - (a === "serving_default") || a.localeCompare(b)) : [];
    signaturePick.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    signaturePick.hidden = names.length < 2;
    request.value = JSON.stringify(exampleRequest(), null, 2);
    showCurl();
  }
  signaturePick.addEventListener("change", () => {
    request.value = JSON.stringify(exampleRequest(), null, 2);
    showCurl();
  });

  tryForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    answer.replaceChildren();
    try {
      JSON.parse(request.value);
    } catch (error) {
      answer.replaceChildren(alertBox(`The request is not valid JSON: ${error.message}`));
      request.focus();
      return;
    }
    const headers = { "Content-Type": "application/json", Accept: "application/json" };
    if (tryToken.value.trim()) headers.Authorization = `Bearer ${tryToken.value.trim()}`;
    send.disabled = true;
    send.textContent = "Sending…";
    const started = performance.now();
    try {
      const response = await fetch(predictPath(service), { method: "POST", headers,
        body: request.value, credentials: "omit", cache: "no-store" });
      const text = await response.text();
      if (stopped) return;
      let shown = text;
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // not JSON (a proxy's page): shown as it came
      }
      const ms = Math.round(performance.now() - started);
      answer.replaceChildren(
        h("p", { class: "try-status" },
          badge(`${response.status} ${response.statusText}`.trim(), response.ok ? "success"
            : "danger", { "data-testid": "try-status" }),
          h("span", { class: "muted" }, ` in ${ms} ms`)),
        h("pre", { class: "log-view", tabindex: "0", "aria-label": "Answer",
          "data-testid": "try-answer" }, shown || "(empty)"));
    } catch (error) {
      if (!stopped) answer.replaceChildren(alertBox(`The request did not go through: ${error}`));
    } finally {
      send.disabled = false;
      send.textContent = "Send";
    }
  });

  // ---- changes --------------------------------------------------------------------------------
  const updatePick = h("select", { id: "update-version" });
  const updateButton = h("button", { type: "submit", class: "btn btn-secondary" }, "Update");
  const scaleInput = h("input", { id: "scale-replicas", type: "number", min: "0", max: "64",
    step: "1", required: true });
  const scaleButton = h("button", { type: "submit", class: "btn btn-secondary" }, "Scale");
  const autoscaleNote = h("p", { class: "hint", "data-testid": "service-autoscale" });
  const autoscaleOff = h("button", { type: "button", class: "btn btn-ghost btn-small" },
    "Turn autoscaling off");
  const canaryPick = h("select", { id: "canary-version" });
  const canaryWeight = h("input", { id: "canary-weight", type: "number", min: "1", max: "99",
    step: "1", value: "10", required: true });
  const canaryReplicas = h("input", { id: "canary-replicas", type: "number", min: "1",
    max: "64", step: "1", value: "1", required: true });
  const canaryButton = h("button", { type: "submit", class: "btn btn-secondary" },
    "Start canary");
  const promoteButton = h("button", { type: "button", class: "btn btn-primary" }, "Promote");
  const rollbackButton = h("button", { type: "button", class: "btn btn-secondary" },
    "Roll back");
  const canaryNote = h("p", { class: "hint", "data-testid": "service-canary" });
  const tokenNote = h("p", { class: "hint", "data-testid": "service-token-state" });
  const tokenButton = h("button", { type: "button", class: "btn btn-secondary" });
  const tokenRemove = h("button", { type: "button", class: "btn btn-secondary btn-danger-text" },
    "Remove token");
  const tokenSlot = h("div", { class: "form-result" });
  const manageMessage = h("div", { class: "form-message", "aria-live": "polite",
    "data-testid": "service-manage-message" });

  /** Run one change (`call` answers the service, or nothing); `button` waits meanwhile. */
  async function change(button, call, done) {
    manageMessage.replaceChildren();
    say(null);
    button.disabled = true;
    try {
      const changed = await call();
      if (stopped) return;
      if (changed && changed.id === id) {
        service = changed;
        lastData = null;
      }
      manageMessage.replaceChildren(alertBox(done, "success"));
      live.refresh();
    } catch (error) {
      if (!error.handled && !stopped) manageMessage.replaceChildren(alertBox(error.message));
    } finally {
      button.disabled = false;
    }
  }

  const form = (label, onSubmit, ...children) => {
    const node = h("form", { class: "inline-form", "aria-label": label }, children);
    node.addEventListener("submit", (event) => {
      event.preventDefault();
      onSubmit();
    });
    return node;
  };
  const field = (id, label, control) => h("div", { class: "field" },
    h("label", { for: id }, label), control);
  const submitField = (button) => h("div", { class: "field field-button" }, button);

  const updateForm = form("Rolling update", () => change(updateButton,
    () => api(path, { method: "PATCH", body: chosenVersion(updatePick) }),
    "Rolling update started: the stable replicas are replaced one at a time."),
  field("update-version", "Version", updatePick), submitField(updateButton));
  const scaleForm = form("Scale", () => change(scaleButton,
    () => api(path, { method: "PATCH", body: { replicas: Number.parseInt(scaleInput.value, 10) } }),
    `Scaled to ${scaleInput.value} stable replicas.`),
  field("scale-replicas", "Replicas", scaleInput), submitField(scaleButton));
  autoscaleOff.addEventListener("click", () => change(autoscaleOff,
    () => api(path, { method: "PATCH", body: { autoscale_off: true } }),
    "Autoscaling is off: the replicas stay as many as they are."));
  const canaryForm = form("Canary", () => change(canaryButton,
    () => api(`${path}/canary`, { method: "POST", body: { ...chosenVersion(canaryPick),
      weight: Number.parseInt(canaryWeight.value, 10),
      replicas: Number.parseInt(canaryReplicas.value, 10) } }),
    `Canary set: ${canaryWeight.value}% of the requests go to it once it serves.`),
  field("canary-version", "Version", canaryPick),
  field("canary-weight", "Weight (%)", canaryWeight),
  field("canary-replicas", "Replicas", canaryReplicas), submitField(canaryButton));
  promoteButton.addEventListener("click", () => change(promoteButton,
    () => api(`${path}/promote`, { method: "POST" }),
    "Promoted: the canary's version becomes the stable one, replica by replica."));
  rollbackButton.addEventListener("click", () => change(rollbackButton,
    () => api(`${path}/rollback`, { method: "POST" }),
    "Rolled back: every request goes to the stable version."));

  tokenButton.addEventListener("click", async () => {
    if (service.token_required) {
      const ok = await confirmDialog({ title: `Rotate the token of ${service.name}?`,
        message: "A new token is made; the old one stops working within a second.",
        confirmLabel: "Rotate token" });
      if (!ok) return;
    }
    let made = null;
    await change(tokenButton, async () => {
      made = await api(`${path}/token`, { method: "POST" });
    }, service.token_required ? "Token rotated." : "A token is required from now on.");
    if (made && !stopped) {
      tokenSlot.replaceChildren(secretPanel({
        title: "The service's new access token",
        description: ["Copy it now: this is the only time it is shown. Clients send it as ",
          h("code", {}, "Authorization: Bearer <token>"), "."],
        value: made.token,
        valueLabel: "The service's access token",
        testId: "service-token-panel",
        onDone: (panel) => panel.remove(),
      }));
    }
  });
  tokenRemove.addEventListener("click", async () => {
    const ok = await confirmDialog({ title: `Remove the token of ${service.name}?`,
      message: "Anyone who reaches the edge proxy can then call the service.",
      confirmLabel: "Remove token", danger: true });
    if (!ok) return;
    await change(tokenRemove, () => api(`${path}/token`, { method: "DELETE" }),
      "The token is removed: the service is open to anyone who reaches it.");
    tokenSlot.replaceChildren();
  });

  const manageCard = h("section", { class: "card", "aria-labelledby": "service-manage-title" },
    h("h2", { id: "service-manage-title", class: "card-title" }, "Change it"),
    manageMessage,
    h("div", { class: "manage-sections" },
      h("div", {},
        h("h3", { class: "section-label" }, "Rolling update"),
        h("p", { class: "hint" }, "The stable replicas move to another version one at a time; "
          + "no request fails."),
        updateForm),
      h("div", {},
        h("h3", { class: "section-label" }, "Scale"),
        h("p", { class: "hint" }, "Stable replicas to keep; 0 stops it."),
        scaleForm, autoscaleNote, autoscaleOff),
      h("div", {},
        h("h3", { class: "section-label" }, "Canary"),
        h("p", { class: "hint" }, "Send a share of the requests to another version, then "
          + "promote it or roll back."),
        canaryForm, canaryNote,
        h("div", { class: "form-actions" }, promoteButton, rollbackButton)),
      h("div", {},
        h("h3", { class: "section-label" }, "Access token"),
        tokenNote,
        h("div", { class: "form-actions" }, tokenButton, tokenRemove),
        tokenSlot)));

  function showManage(first) {
    const canary = service.tracks.find((t) => t.name === "canary");
    const stable = service.tracks.find((t) => t.name === "stable") || service.tracks[0];
    if (first && stable) scaleInput.value = String(stable.replicas);
    const rule = service.spec.autoscale;
    autoscaleNote.textContent = rule ? `Autoscaling: ${autoscaleText(rule)}; the replicas `
      + "follow it." : "";
    autoscaleOff.hidden = !rule;
    canaryNote.textContent = canary ? `Canary: v${canary.version} gets ${canary.weight}% on `
      + `${canary.replicas} ${canary.replicas === 1 ? "replica" : "replicas"}.`
      : "No canary now.";
    canaryButton.textContent = canary ? "Change canary" : "Start canary";
    promoteButton.disabled = !canary;
    rollbackButton.disabled = !canary;
    tokenNote.textContent = service.token_required
      ? "Clients must send its token (Authorization: Bearer TOKEN)."
      : "Open: anyone who reaches the edge proxy can call it.";
    tokenButton.textContent = service.token_required ? "Rotate token" : "Require a token";
    tokenRemove.hidden = !service.token_required;
  }

  async function loadVersions() {
    try {
      modelInfo = await loadModel(service.model_id);
    } catch (error) {
      if (!stopped && !error.handled) {
        manageMessage.replaceChildren(alertBox(`Could not load the model's versions: `
          + `${error.message}`));
      }
      return;
    }
    if (stopped) return;
    const { model, versions } = modelInfo;
    fillVersions(updatePick, versions, model.labels);
    fillVersions(canaryPick, versions, model.labels);
  }

  // ---- the service ----------------------------------------------------------------------------
  function showOverview() {
    const stable = service.tracks.find((t) => t.name === "stable") || service.tracks[0];
    const spec = service.spec;
    overview.replaceChildren(h("dl", { class: "host-meta env-meta" },
      metaItem("Status", serviceBadge(service)),
      metaItem("Reason", service.reason ? h("span", { class: service.status === "failing"
        ? "text-danger" : null, "data-testid": "service-reason" }, service.reason) : null),
      metaItem("Model", h("span", {}, modelLink(service),
        stable ? ` · v${stable.version}` : null,
        spec.label ? h("span", { class: "muted" }, ` (label ${spec.label})`) : null)),
      metaItem("Ready", h("span", { "data-testid": "service-ready",
        title: "replicas ready / wanted" }, readyText(service))),
      metaItem("Autoscale", autoscaleText(spec.autoscale)),
      metaItem("GPUs per replica", String(spec.gpus_per_replica ?? 0)),
      metaItem("Access", service.token_required ? "token required" : "open"),
      metaItem("Owner", service.owner),
      metaItem("Created", relativeTime(service.created_at))),
    h("div", { class: "env-sections" },
      h("div", {},
        h("h3", { class: "section-label" }, "URL"),
        h("div", { class: "ssh-line" },
          h("code", { class: "service-url", "data-testid": "service-url" },
            `${service.url}:predict`),
          copyButton(`${service.url}:predict`)))));
  }

  function show() {
    title.textContent = service.name;
    document.title = `${service.name} · Services · DLLab`;
    headBadge.replaceChildren(serviceBadge(service));
    showOverview();
    tracksArea.replaceChildren(tracksTable(service));
    keepFocus(replicasArea, () => replicasArea.replaceChildren(replicaTable()));
    showManage(!built);
    if (built) showCurl();
    const units = service.replicas.filter((r) => r.unit);
    const options = units.map((r) => [r.unit, `${r.track} v${r.version} · ${r.state} · `
      + `${r.id.slice(0, 8)}`]);
    if (JSON.stringify(options) !== JSON.stringify([...replicaPick.options]
      .map((o) => [o.value, o.text]))) {
      const was = replicaPick.value;
      replicaPick.replaceChildren(...options.map(([unit, text]) => h("option", { value: unit,
        selected: unit === was }, text)));
    }
    if (built) return;
    built = true;
    const remove = h("button", { type: "button", class: "btn btn-secondary btn-danger-text",
      "aria-label": `Delete service ${service.name}` }, "Delete");
    remove.addEventListener("click", deleteService);
    headActions.replaceChildren(remove);
    body.setAttribute("aria-busy", "false");
    body.replaceChildren(
      overview,
      h("section", { class: "card", "aria-labelledby": "service-replicas-title" },
        h("h2", { id: "service-replicas-title", class: "card-title" }, "Tracks and replicas"),
        h("h3", { class: "section-label" }, "Tracks",
          h("span", { class: "muted" }, " · the versions and their shares of the requests")),
        tracksArea,
        h("h3", { class: "section-label replicas-label" }, "Replicas",
          h("span", { class: "muted" }, " · live ones, and the last ended ones")),
        replicasArea),
      h("section", { class: "card", "aria-labelledby": "service-traffic-title" },
        h("h2", { id: "service-traffic-title", class: "card-title" }, "Traffic",
          h("span", { class: "muted card-title-note" }, ` · the last ${METRICS_SECONDS / 60} `
            + `minutes, refreshed every ${METRICS_MS / 1000} s`)),
        charts),
      h("section", { class: "card", "aria-labelledby": "service-try-title" },
        h("h2", { id: "service-try-title", class: "card-title" }, "Try it"),
        h("p", { class: "card-text" }, "A predict request through the edge proxy, as a "
          + "client sends it:"),
        tryForm,
        h("h3", { class: "section-label try-shell" }, "From a shell"),
        curl, curlCopy),
      manageCard,
      logCard);
    metrics = poller(loadMetrics, METRICS_MS);
    loadExamples();
    loadVersions();
  }

  async function deleteService() {
    const ok = await confirmDialog({
      title: `Delete service ${service.name}?`,
      message: "Its URL stops answering and its replicas are stopped. The model stays.",
      confirmLabel: "Delete service", danger: true });
    if (!ok) return;
    say(null);
    try {
      await api(path, { method: "DELETE" });
      leaveFlash(`Service ${service.name} deleted.`);
      navigate("/services");
    } catch (error) {
      if (!error.handled && !stopped) say(alertBox(`Deleting failed: ${error.message}`));
    }
  }

  async function load(signal) {
    try {
      const found = await api(path);
      if (signal.aborted) return true;
      service = found;
      const text = JSON.stringify(found);
      if (text !== lastData) show();
      else refreshRelativeTimes(body);
      lastData = text;
      const logKey = service.replicas.map((r) => `${r.unit}:${r.state}`).join();
      if (logKey !== lastLogKey) {
        lastLogKey = logKey;
        loadLog();
      }
      const busy = isMoving(service);
      status.textContent = refreshText(busy);
      return busy;
    } catch (error) {
      if (signal.aborted || error.handled) return false;
      body.setAttribute("aria-busy", "false");
      if (error.status === 404 || error.status === 422) {
        live.stop();
        if (metrics) metrics.stop();
        headActions.replaceChildren();
        headBadge.replaceChildren();
        status.textContent = "";
        body.replaceChildren(emptyState("No such service", "It may have been deleted. Back to ",
          h("a", { href: "#/services" }, "Services"), "."));
        return false;
      }
      say(alertBox(`Could not load the service: ${error.message}`));
      if (lastData === null) body.replaceChildren();
      return false;
    }
  }

  container.replaceChildren(
    h("div", { class: "page-header" },
      h("div", {},
        h("p", { class: "breadcrumb" }, h("a", { href: "#/services" }, "← Services")),
        h("div", { class: "env-title" }, title, headBadge)),
      headActions),
    problem,
    body,
    status);

  live = livePoller(load);
  return () => {
    stopped = true;
    live.stop();
    if (metrics) metrics.stop();
  };
}
