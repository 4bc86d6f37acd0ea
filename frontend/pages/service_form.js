// The form that deploys a prediction service (#/services/new?model=ID&version=N): its name,
// one of your models and which version (by number, by label, or the newest), replicas and
// GPUs per replica, autoscaling, and whether it wants an access token (shown once, here,
// before the service's page).

import { api } from "../api.js";
import { alertBox, h, pageHeader, secretPanel } from "../ui.js";
import { leaveFlash } from "./page_parts.js";
import { chosenVersion, fillVersions, loadModel } from "./serving_parts.js";

const NAME_PATTERN = "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?";
const METRICS = [
  ["rps", "requests per second, per replica"],
  ["inflight", "requests in flight, per replica"],
  ["latency_p95", "latency p95 in ms, over the service"],
  ["gpu_util", "GPU utilisation in %, mean"],
];
const DEFAULT_TARGET = { rps: 20, inflight: 4, latency_p95: 100, gpu_util: 70 };

function numberInput(id, attrs) {
  return h("input", { id, type: "number", step: "1", required: true, ...attrs });
}

export function mount(container, { params, navigate }) {
  let stopped = false;
  let models = [];

  const name = h("input", { id: "service-name", name: "name", type: "text", required: true,
    maxlength: "63", pattern: NAME_PATTERN, autocomplete: "off", spellcheck: "false",
    placeholder: "digits", "aria-describedby": "service-name-hint" });
  const model = h("select", { id: "service-model", required: true },
    h("option", { value: "" }, "Loading…"));
  const modelHint = h("p", { class: "hint" });
  const version = h("select", { id: "service-version", "aria-describedby": "service-version-hint" });
  const replicas = numberInput("service-replicas", { min: "0", max: "64", value: "1" });
  const gpus = numberInput("service-gpus", { min: "0", max: "16", value: "0" });
  const autoscale = h("input", { id: "service-autoscale", type: "checkbox" });
  const scaleMin = numberInput("autoscale-min", { min: "1", max: "64", value: "1" });
  const scaleMax = numberInput("autoscale-max", { min: "1", max: "64", value: "4" });
  const metric = h("select", { id: "autoscale-metric" },
    METRICS.map(([value, label]) => h("option", { value }, `${value} — ${label}`)));
  const target = h("input", { id: "autoscale-target", type: "number", min: "0", step: "any",
    required: true, value: String(DEFAULT_TARGET.rps) });
  const token = h("input", { id: "service-token", type: "checkbox" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Deploy service");
  const message = h("div", { class: "form-message", "aria-live": "polite",
    "data-testid": "service-form-message" });
  const result = h("div", { class: "form-result" });

  const field = (id, label, control, hint = null) => h("div", { class: "field" },
    h("label", { for: id }, label), control, hint ? h("p", { class: "hint" }, hint) : null);
  const autoscaleFields = h("div", { class: "form-row", hidden: true },
    field("autoscale-min", "Min replicas", scaleMin),
    field("autoscale-max", "Max replicas", scaleMax),
    field("autoscale-metric", "Metric", metric),
    field("autoscale-target", "Target", target, "The value per replica to keep (latency: to "
      + "stay under)."));
  autoscale.addEventListener("change", () => {
    autoscaleFields.hidden = !autoscale.checked;
  });
  let targetTouched = false;
  target.addEventListener("input", () => {
    targetTouched = true;
  });
  metric.addEventListener("change", () => {
    if (!targetTouched) target.value = String(DEFAULT_TARGET[metric.value]);
  });

  const form = h("form", { class: "stack-form env-form", "aria-label": "New service",
    novalidate: true },
  field("service-name", "Name", name, h("span", { id: "service-name-hint" },
    "Lowercase letters, digits and “-”, unique on this lab: it is part of the public URL ",
    h("code", {}, "/serving/NAME/v1/models/MODEL:predict"), ".")),
  h("div", { class: "form-row" },
    h("div", { class: "field" }, h("label", { for: "service-model" }, "Model"), model, modelHint),
    h("div", { class: "field" }, h("label", { for: "service-version" }, "Version"), version,
      h("p", { id: "service-version-hint", class: "hint" }, "A label: the version it points "
        + "at now."))),
  h("div", { class: "form-row" },
    field("service-replicas", "Replicas", replicas, "With autoscaling: where it starts."),
    field("service-gpus", "GPUs per replica", gpus, "0: CPU only.")),
  h("div", { class: "field" },
    h("label", { class: "check" }, autoscale, "Autoscale"),
    autoscaleFields),
  h("div", { class: "field" },
    h("label", { class: "check" }, token, "Require an access token"),
    h("p", { class: "hint" }, "Clients then send ", h("code", {}, "Authorization: Bearer TOKEN"),
      "; it is shown once, right after the service is created.")),
  message,
  h("div", { class: "form-actions" }, submit,
    h("a", { href: "#/services", class: "btn btn-ghost" }, "Cancel")));
  const card = h("section", { class: "card" }, form); // hidden once the token is shown

  function fail(text, focus) {
    message.replaceChildren(alertBox(text));
    if (focus) focus.focus();
  }

  async function showVersions(prefer = null) {
    const chosen = models.find((m) => m.id === model.value);
    version.replaceChildren();
    version.disabled = true;
    if (!chosen) return;
    modelHint.textContent = chosen.latest === null ? "It has no versions yet: register one on "
      + "its page first." : "";
    try {
      const { versions } = await loadModel(chosen.id);
      if (stopped || model.value !== chosen.id) return;
      fillVersions(version, versions, chosen.labels, { newest: true, prefer });
    } catch (error) {
      if (!stopped && !error.handled) fail(`Could not load its versions: ${error.message}`);
    }
  }
  model.addEventListener("change", () => showVersions());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    if (!name.value.trim() || !name.checkValidity()) {
      fail("A name uses lowercase letters, digits and “-” and starts and ends with a letter "
        + "or digit.", name);
      return;
    }
    const chosen = models.find((m) => m.id === model.value);
    if (!chosen) {
      fail("Pick one of your models.", model);
      return;
    }
    const body = { name: name.value.trim(), model: chosen.name, ...chosenVersion(version),
      replicas: Number.parseInt(replicas.value || "0", 10),
      gpus_per_replica: Number.parseInt(gpus.value || "0", 10), token: token.checked };
    if (autoscale.checked) {
      body.autoscale = { min: Number.parseInt(scaleMin.value, 10),
        max: Number.parseInt(scaleMax.value, 10), metric: metric.value,
        target: Number(target.value) };
    }
    submit.disabled = true;
    submit.textContent = "Deploying…";
    try {
      const created = await api("services", { method: "POST", body });
      if (stopped) return;
      const detail = `/services/${created.id}`;
      if (!created.token) {
        leaveFlash(`Service ${created.name} created: it starts now.`);
        navigate(detail);
        return;
      }
      card.hidden = true;
      result.replaceChildren(secretPanel({
        title: `Service ${created.name} created`,
        description: ["Copy its access token now: this is the only time it is shown. Clients "
          + "send it as ", h("code", {}, "Authorization: Bearer <token>"), ". You can rotate "
          + "it on the service's page."],
        value: created.token,
        valueLabel: "The service's access token",
        testId: "service-token-panel",
        onDone: () => {
          leaveFlash(`Service ${created.name} created: it starts now.`);
          navigate(detail);
        },
      }));
    } catch (error) {
      if (!error.handled && !stopped) fail(`The service was not created: ${error.message}`);
    } finally {
      submit.disabled = false;
      submit.textContent = "Deploy service";
    }
  });

  async function load() {
    try {
      const page = await api("models?limit=500");
      if (stopped) return;
      models = page.data;
      if (!models.length) {
        model.replaceChildren(h("option", { value: "" }, "none yet"));
        model.disabled = true;
        submit.disabled = true;
        modelHint.replaceChildren("You have no models yet: ",
          h("a", { href: "#/models" }, "create one"), " and register a version first.");
        return;
      }
      const asked = params.get("model");
      const preselected = models.find((m) => m.id === asked || m.name === asked);
      model.replaceChildren(...models.map((m) => h("option", { value: m.id,
        selected: m === preselected }, m.latest === null ? `${m.name} (no versions)` : m.name)));
      if (!name.value && preselected) name.value = preselected.name;
      const wanted = params.get("version") || (params.get("label")
        ? `label:${params.get("label")}` : null);
      await showVersions(wanted && /^\d+$/.test(wanted) ? `version:${wanted}` : wanted);
    } catch (error) {
      if (stopped || error.handled) return;
      submit.disabled = true;
      fail(`Could not load your models: ${error.message}`);
    }
  }

  container.replaceChildren(
    pageHeader({ back: { href: "#/services", label: "Services" }, title: "New service",
      subtitle: "A version of one of your models, served over TensorFlow Serving's REST API "
        + "by as many replicas as you ask for, behind the edge proxy." }),
    result,
    card);
  name.focus();
  load();
  return () => {
    stopped = true;
  };
}
