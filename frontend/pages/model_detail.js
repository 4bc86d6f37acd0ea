// One model (#/models/<id>): its description and labels (a label points at a version), its
// versions newest first, each with where it came from, its size and its signatures (inputs
// and outputs: name, dtype, shape); register the next version (an uploaded .tar.gz of a
// SavedModel folder, a job's output, or a folder on the hosts), delete one, deploy it.

import { api } from "../api.js";
import {
  alertBox, badge, confirmDialog, count, emptyState, formatFullDate, h, metaItem, relativeTime,
} from "../ui.js";
import { detailFrame } from "./page_parts.js";
import {
  chosenVersion, fillVersions, formatBytes, labelBadges, loadModel, signatureList, sourceText,
} from "./serving_parts.js";

const LABEL_PATTERN = "[a-z][a-z0-9\\-]{0,31}";
const SOURCES = [
  ["upload", "Upload a .tar.gz"],
  ["job", "A job's output"],
  ["path", "A folder on the hosts"],
];

export function mount(container, { args, navigate }) {
  const id = args[0];
  const modelPath = `models/${encodeURIComponent(id)}`;
  let model = null;
  let versions = [];
  let stopped = false;
  let jobsLoaded = false;
  let built = false; // the page's cards are in place
  const frame = detailFrame({ noun: "model", list: "Models", navigate, flash: true });
  const { say } = frame;

  const overview = h("section", { class: "card", "aria-label": "Overview" });
  const versionsArea = h("div", { class: "table-scroll" });
  const labelList = h("div", { "data-testid": "model-labels" });

  // ---- description ------------------------------------------------------------------------
  const descriptionInput = h("textarea", { id: "model-description-edit", rows: "3",
    maxlength: "4096" });
  const descriptionForm = h("form", { class: "stack-form", hidden: true,
    "aria-label": "Edit the description" },
  h("div", { class: "field" },
    h("label", { for: "model-description-edit" }, "Description"), descriptionInput),
  h("div", { class: "form-actions" },
    h("button", { type: "submit", class: "btn btn-primary btn-small" }, "Save"),
    h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: () => {
      descriptionForm.hidden = true;
    } }, "Cancel")));
  descriptionForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      model = await api(modelPath, { method: "PATCH",
        body: { description: descriptionInput.value.trim() } });
      descriptionForm.hidden = true;
      say(null);
      showOverview();
    } catch (error) {
      if (!error.handled && !stopped) say(alertBox(`Saving failed: ${error.message}`));
    }
  });

  // ---- labels -----------------------------------------------------------------------------
  const labelName = h("input", { id: "label-name", type: "text", required: true,
    pattern: LABEL_PATTERN, maxlength: "32", autocomplete: "off", spellcheck: "false",
    placeholder: "stable" });
  const labelVersion = h("select", { id: "label-version", required: true });
  const labelSubmit = h("button", { type: "submit", class: "btn btn-secondary" }, "Set label");
  const labelForm = h("form", { class: "inline-form", "aria-label": "Set a label" },
    h("div", { class: "field" }, h("label", { for: "label-name" }, "Label"), labelName),
    h("div", { class: "field" }, h("label", { for: "label-version" }, "Version"), labelVersion),
    h("div", { class: "field field-button" }, labelSubmit));
  labelForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(null);
    if (!labelName.checkValidity()) {
      say(alertBox("A label is 1-32 lowercase letters, digits and “-”, starting with a "
        + "letter (e.g. stable, canary)."));
      labelName.focus();
      return;
    }
    labelSubmit.disabled = true;
    try {
      const { version } = chosenVersion(labelVersion);
      model = await api(`${modelPath}/labels/${encodeURIComponent(labelName.value)}`,
        { method: "PUT", body: { version } });
      say(alertBox(`Label ${labelName.value} now points at v${version}.`, "success"));
      labelName.value = "";
      await reload();
    } catch (error) {
      if (!error.handled && !stopped) say(alertBox(`Setting the label failed: ${error.message}`));
    } finally {
      labelSubmit.disabled = false;
    }
  });

  async function removeLabel(label) {
    say(null);
    try {
      model = await api(`${modelPath}/labels/${encodeURIComponent(label)}`, { method: "DELETE" });
      say(alertBox(`Label ${label} removed.`, "success"));
      await reload();
    } catch (error) {
      if (!error.handled && !stopped) say(alertBox(`Removing the label failed: ${error.message}`));
    }
  }

  // ---- registering a version ----------------------------------------------------------------
  const sourcePick = h("div", { class: "source-pick", role: "radiogroup",
    "aria-label": "Where the SavedModel is" }, SOURCES.map(([value, label], i) =>
    h("label", { class: "check" }, h("input", { type: "radio", name: "version-source", value,
      checked: i === 0 }), label)));
  const archive = h("input", { id: "version-archive", type: "file",
    accept: ".tar.gz,.tgz,application/gzip", "data-testid": "version-archive" });
  const jobPick = h("select", { id: "version-job" }, h("option", { value: "" }, "Loading…"));
  const jobPath = h("input", { id: "version-job-path", type: "text", autocomplete: "off",
    spellcheck: "false", placeholder: "export/1", maxlength: "1024" });
  const hostPath = h("input", { id: "version-path", type: "text", autocomplete: "off",
    spellcheck: "false", placeholder: "/srv/models/digits/1" });
  const parts = {
    upload: h("div", { class: "field" },
      h("label", { for: "version-archive" }, "SavedModel (.tar.gz)"), archive,
      h("p", { class: "hint" }, "A SavedModel folder (saved_model.pb and variables/), its "
        + "files at the top of the archive or in one folder: ",
      h("code", {}, "tar czf model.tar.gz -C export/1 ."))),
    job: h("div", { class: "form-row" },
      h("div", { class: "field" }, h("label", { for: "version-job" }, "Job"), jobPick),
      h("div", { class: "field" },
        h("label", { for: "version-job-path" }, "Folder in its output (optional)"), jobPath,
        h("p", { class: "hint" }, "Relative to the job's DLLAB_OUTPUT_DIR; empty: that folder "
          + "itself."))),
    path: h("div", { class: "field" },
      h("label", { for: "version-path" }, "Folder on the hosts"), hostPath,
      h("p", { class: "hint" }, "An absolute path under a root your admin allows (e.g. a "
        + "shared volume).")),
  };
  const registerSubmit = h("button", { type: "submit", class: "btn btn-primary" },
    "Register version");
  const registerMessage = h("div", { class: "form-message",
    "data-testid": "version-form-message" });
  const registerForm = h("form", { class: "stack-form env-form",
    "aria-label": "Register a version" },
  sourcePick, parts.upload, parts.job, parts.path, registerMessage,
  h("div", { class: "form-actions" }, registerSubmit));

  const source = () => registerForm.querySelector("input[name=version-source]:checked").value;
  function showSource() {
    for (const [key, node] of Object.entries(parts)) node.hidden = key !== source();
    if (source() === "job" && !jobsLoaded) loadJobs();
  }
  sourcePick.addEventListener("change", showSource);
  showSource();

  async function loadJobs() {
    jobsLoaded = true;
    try {
      const page = await api("jobs?limit=100");
      if (stopped) return;
      jobPick.replaceChildren(...(page.data.length
        ? page.data.map((job) => h("option", { value: job.id },
          `${job.name} · ${job.status} · ${job.id.slice(0, 8)}`))
        : [h("option", { value: "" }, "You have no jobs")]));
    } catch (error) {
      jobsLoaded = false;
      if (!stopped && !error.handled) {
        jobPick.replaceChildren(h("option", { value: "" }, "not loaded"));
        registerMessage.replaceChildren(alertBox(`Could not load your jobs: ${error.message}`));
      }
    }
  }

  registerForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    registerMessage.replaceChildren();
    const fail = (text, focus) => {
      registerMessage.replaceChildren(alertBox(text));
      if (focus) focus.focus();
    };
    const kind = source();
    let request;
    if (kind === "upload") {
      if (!archive.files.length) {
        fail("Choose a .tar.gz of a SavedModel folder.", archive);
        return;
      }
      request = [`${modelPath}/versions/upload`, { method: "POST", raw: archive.files[0] }];
    } else if (kind === "job") {
      if (!jobPick.value) {
        fail("Pick one of your jobs.", jobPick);
        return;
      }
      request = [`${modelPath}/versions`, { method: "POST",
        body: { job: { id: jobPick.value, path: jobPath.value.trim() } } }];
    } else {
      if (!hostPath.value.trim()) {
        fail("Give the SavedModel's folder.", hostPath);
        return;
      }
      request = [`${modelPath}/versions`, { method: "POST",
        body: { path: hostPath.value.trim() } }];
    }
    registerSubmit.disabled = true;
    registerSubmit.textContent = "Registering…";
    try {
      const version = await api(...request);
      if (stopped) return;
      archive.value = "";
      registerMessage.replaceChildren(alertBox(`Version ${version.version} registered.`,
        "success"));
      await reload();
    } catch (error) {
      if (!error.handled && !stopped) fail(`The version was not registered: ${error.message}`);
    } finally {
      registerSubmit.disabled = false;
      registerSubmit.textContent = "Register version";
    }
  });

  // ---- versions ---------------------------------------------------------------------------
  async function deleteVersion(version, button) {
    const ok = await confirmDialog({
      title: `Delete version ${version.version} of ${model.name}?`,
      message: "Its files are removed from the artifact store and the labels on it go with "
        + "it. This cannot be undone.",
      confirmLabel: "Delete version", danger: true });
    if (!ok) return;
    say(null);
    button.disabled = true;
    try {
      await api(`${modelPath}/versions/${version.version}`, { method: "DELETE" });
      say(alertBox(`Version ${version.version} deleted.`, "success"));
      await reload();
    } catch (error) {
      if (!error.handled && !stopped) say(alertBox(`Deleting failed: ${error.message}`));
    } finally {
      button.disabled = false;
    }
  }

  function showVersions() {
    if (!versions.length) {
      versionsArea.replaceChildren(emptyState("No versions yet",
        "Register one below: each gets the next number."));
      return;
    }
    const columns = ["Version", "Source", "Size", "Labels", "Registered"];
    versionsArea.replaceChildren(h("table", { class: "table versions-table" },
      h("caption", { class: "visually-hidden" }, "Versions"),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
      versions.map((v) => {
        const remove = h("button", { type: "button",
          class: "btn btn-secondary btn-small btn-danger-text",
          "aria-label": `Delete version ${v.version}` }, "Delete");
        remove.addEventListener("click", () => deleteVersion(v, remove));
        return h("tbody", { class: "version-group", "data-testid": "model-version",
          dataset: { version: String(v.version) } },
        h("tr", {},
          h("th", { scope: "row", class: "cell-strong" }, `v${v.version}`),
          h("td", {}, sourceText(v.source)),
          h("td", { title: `${v.size_bytes} bytes` }, formatBytes(v.size_bytes)),
          h("td", {}, v.labels.length ? h("span", { class: "label-badges" },
            v.labels.map((l) => badge(l, "accent"))) : h("span", { class: "muted" }, "none")),
          h("td", { title: formatFullDate(v.created_at) }, relativeTime(v.created_at)),
          h("td", { class: "cell-actions" }, h("div", { class: "env-actions" },
            h("a", { class: "btn btn-secondary btn-small",
              href: `#/services/new?model=${encodeURIComponent(id)}&version=${v.version}`,
              "aria-label": `Deploy version ${v.version}` }, "Deploy"),
            remove))),
        h("tr", { class: "signature-row" }, h("td", { colspan: String(columns.length + 1) },
          signatureList(v.signatures))));
      })));
  }

  function showLabels() {
    const entries = Object.entries(model.labels).sort();
    labelList.replaceChildren(entries.length
      ? h("ul", { class: "plain-list" }, entries.map(([label, version]) => h("li",
        { class: "label-item", "data-testid": "model-label-item" },
        h("code", {}, label), ` → v${version}`,
        h("button", { type: "button", class: "btn btn-ghost btn-small btn-danger-text",
          "aria-label": `Remove label ${label}`, onclick: () => removeLabel(label) },
        "Remove"))))
      : h("p", { class: "muted" }, "No labels. A label (stable, canary…) names a version: "
        + "services can follow it, and clients can ask for it (…/labels/stable:predict)."));
    fillVersions(labelVersion, versions, {});
    labelSubmit.disabled = !versions.length;
  }

  function showOverview() {
    overview.replaceChildren(
      h("dl", { class: "host-meta env-meta" },
        metaItem("Description", model.description
          ? h("span", { "data-testid": "model-description" }, model.description) : null),
        metaItem("Versions", String(model.versions)),
        metaItem("Latest", model.latest === null ? null : `v${model.latest}`),
        metaItem("Labels", labelBadges(model.labels)),
        metaItem("Owner", model.owner),
        metaItem("Created", relativeTime(model.created_at))),
      h("div", {}, h("button", { type: "button", class: "btn btn-ghost btn-small", onclick: () => {
        descriptionInput.value = model.description;
        descriptionForm.hidden = false;
        descriptionInput.focus();
      } }, "Edit description")),
      descriptionForm);
  }

  function showHead() {
    frame.named(model.name);
    frame.actions.replaceChildren(
      versions.length ? h("a", { class: "btn btn-primary",
        href: `#/services/new?model=${encodeURIComponent(id)}` }, "Deploy") : null,
      frame.deleteButton(model, modelPath, `It goes with its ${count(model.versions, "version")} `
        + "and their files. A model a service serves stays. This cannot be undone."));
  }

  async function reload() {
    try {
      ({ model, versions } = await loadModel(id));
    } catch (error) {
      if (!stopped && !error.handled) frame.failed(error);
      return;
    }
    if (stopped) return;
    showHead();
    showOverview();
    showLabels();
    showVersions();
    if (built) return;
    built = true;
    frame.fill(
      overview,
      h("section", { class: "card", "aria-labelledby": "model-versions-title" },
        h("h2", { id: "model-versions-title", class: "card-title" }, "Versions",
          h("span", { class: "muted card-title-note" }, " · newest first, with their "
            + "signatures")),
        versionsArea),
      h("section", { class: "card", "aria-labelledby": "model-register-title" },
        h("h2", { id: "model-register-title", class: "card-title" }, "Register a version"),
        h("p", { class: "card-text" }, "A TensorFlow SavedModel; it gets the next number and "
          + "its signatures are read now."),
        registerForm),
      h("section", { class: "card", "aria-labelledby": "model-labels-title" },
        h("h2", { id: "model-labels-title", class: "card-title" }, "Labels"),
        labelList, labelForm));
  }

  container.replaceChildren(frame.header, frame.problem, frame.body);

  reload();
  return () => {
    stopped = true;
  };
}
