// The "Change it" card of a service's page: a rolling update to another version, scale
// (and turning autoscaling off), a canary with its share of the requests (then promote or
// roll back), and its access token (require, rotate: shown once; remove).

import { api } from "../api.js";
import { alertBox, confirmDialog, h, secretPanel } from "../ui.js";
import { chosenVersion, fillVersions, loadModel } from "./serving_parts.js";

export function autoscaleText(rule) {
  if (!rule) return "off";
  return `${rule.min}–${rule.max} replicas, ${rule.metric} target ${rule.target}`;
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

/**
 * The card for the service at API `path`. `say(node)` clears the page's message; after
 * each change `changed(answer)` has the page load the service again (`answer`: the service
 * as the API answered it, when the change answers it). `isGone()` tells when the page is
 * gone. `show(service)` keeps the card to the service as it is now; the first call fills
 * the scale with its replicas and loads its model's versions for the pickers.
 */
export function controlsCard({ path, say, changed, isGone }) {
  let service = null;

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
      const answer = await call();
      if (isGone()) return;
      manageMessage.replaceChildren(alertBox(done, "success"));
      changed(answer);
    } catch (error) {
      if (!error.handled && !isGone()) manageMessage.replaceChildren(alertBox(error.message));
    } finally {
      button.disabled = false;
    }
  }

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
    if (made && !isGone()) {
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

  const card = h("section", { class: "card", "aria-labelledby": "service-manage-title" },
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

  async function loadVersions() {
    let found;
    try {
      found = await loadModel(service.model_id);
    } catch (error) {
      if (!isGone() && !error.handled) {
        manageMessage.replaceChildren(alertBox(`Could not load the model's versions: `
          + `${error.message}`));
      }
      return;
    }
    if (isGone()) return;
    const { model, versions } = found;
    fillVersions(updatePick, versions, model.labels);
    fillVersions(canaryPick, versions, model.labels);
  }

  function show(current) {
    const first = service === null;
    service = current;
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
    if (first) loadVersions();
  }

  return { card, show };
}
