// What the model and service pages share: a service's status badge and which statuses are
// on their way, its tracks and ready replicas in a few words, a version's source, size and
// signatures, and the select that picks a model's version by number or by label.

import { api } from "../api.js";
import { badge, h } from "../ui.js";

const STATUS_KIND = {
  starting: "info",
  serving: "success",
  updating: "info",
  degraded: "warning",
  failing: "danger",
  stopped: "neutral",
};
// The pages refresh faster while a service is on its way somewhere.
const MOVING = new Set(["starting", "updating", "degraded"]);

export const isMoving = (service) => MOVING.has(service.status);

export function serviceBadge(service) {
  return badge(service.status, STATUS_KIND[service.status] || "neutral",
    { "data-testid": "service-status" });
}

/** "v2 90% · v3 10%": each track's version and share of the requests. */
export function tracksText(service) {
  return service.tracks.map((t) => `v${t.version} ${t.weight}%`).join(" · ");
}

/** Replicas wanted, over the tracks. */
export function wantedReplicas(service) {
  return service.tracks.reduce((sum, t) => sum + t.replicas, 0);
}

/** "1 / 2": replicas ready over replicas wanted. */
export function readyText(service) {
  const ready = service.replicas.filter((r) => r.state === "ready").length;
  return `${ready} / ${wantedReplicas(service)}`;
}

/** Where predict requests go, on this origin (the console is served through the edge). */
export function predictPath(service) {
  return `${new URL(service.url, location.href).pathname}:predict`;
}

export function modelLink(service) {
  return h("a", { href: `#/models/${encodeURIComponent(service.model_id)}` }, service.model);
}

/** A model's labels as badges ("stable → v2"), or "none". */
export function labelBadges(labels) {
  const entries = Object.entries(labels).sort();
  if (!entries.length) return h("span", { class: "muted" }, "none");
  return h("span", { class: "label-badges" }, entries.map(([label, version]) =>
    badge(`${label} → v${version}`, "accent", { "data-testid": "model-label" })));
}

/** "12.4 MB", "812 kB", "96 B". */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = n;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Where a version came from: an upload, a job's output, or a folder on the hosts. */
export function sourceText(source) {
  if (source.job) {
    return h("span", {}, "job ", h("a", { href: `#/jobs/${encodeURIComponent(source.job)}` },
      h("code", {}, source.job.slice(0, 8))),
    source.path ? [" · ", h("code", {}, source.path)] : null);
  }
  if (source.path) return h("span", {}, "folder ", h("code", {}, source.path));
  if (source.upload !== undefined) return "upload";
  return h("span", { class: "muted" }, "—");
}

function shapeText(shape) {
  return shape === null ? "any shape" : `[${shape.join(", ")}]`;
}

function tensorList(title, tensors) {
  const names = Object.keys(tensors);
  return h("div", { class: "signature-part" },
    h("h4", { class: "section-label" }, title),
    names.length ? h("ul", { class: "plain-list" }, names.map((name) => h("li",
      { "data-testid": "signature-tensor", title: tensors[name].tensor },
      h("code", {}, name), " ", h("span", { class: "muted" }, tensors[name].dtype), " ",
      h("code", { class: "tensor-shape" }, shapeText(tensors[name].shape)))))
      : h("p", { class: "muted" }, "none"));
}

/** A version's signatures, each with its inputs and outputs (name, dtype, shape). */
export function signatureList(signatures) {
  const names = Object.keys(signatures);
  if (!names.length) return h("p", { class: "muted" }, "No signatures.");
  return h("div", { class: "signatures" }, names.map((name) => h("div",
    { class: "signature", "data-testid": "signature", dataset: { signature: name } },
    h("div", { class: "signature-name" }, h("code", {}, name),
      h("span", { class: "muted" }, ` · ${signatures[name].method_name}`)),
    h("div", { class: "signature-parts" },
      tensorList("Inputs", signatures[name].inputs),
      tensorList("Outputs", signatures[name].outputs)))));
}

/**
 * Fill `select` with a model's versions and labels ("v3", "stable → v2"), keeping the
 * choice made; `newest` adds a first "newest" choice. Read it with `chosenVersion`.
 */
export function fillVersions(select, versions, labels, { newest = false, prefer = null } = {}) {
  const was = select.value || prefer;
  select.replaceChildren(
    newest ? h("option", { value: "" }, "the newest version") : null,
    versions.length ? h("optgroup", { label: "Versions" }, versions.map((v) =>
      h("option", { value: `version:${v.version}` }, `v${v.version}`))) : null,
    Object.keys(labels).length ? h("optgroup", { label: "Labels" },
      Object.entries(labels).sort().map(([label, version]) =>
        h("option", { value: `label:${label}` }, `${label} → v${version}`))) : null);
  if (was && [...select.options].some((o) => o.value === was)) select.value = was;
  select.disabled = !select.options.length;
}

/** {version: 3}, {label: "stable"}, or {} (the newest) from a fillVersions select. */
export function chosenVersion(select) {
  const [kind, value] = select.value.split(/:(.*)/s);
  if (kind === "version") return { version: Number(value) };
  if (kind === "label") return { label: value };
  return {};
}

/** A model's versions, all of them (newest first), and the model itself. */
export async function loadModel(modelId) {
  const path = `models/${encodeURIComponent(modelId)}`;
  const [model, versions] = await Promise.all([api(path), api(`${path}/versions?limit=500`)]);
  return { model, versions: versions.data };
}
