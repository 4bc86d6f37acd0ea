// The model registry (#/models): your models by name, each with its versions, newest version
// and labels, and the form that adds one (its versions are registered on its page,
// model_detail.js).

import { api } from "../api.js";
import {
  alertBox, count, dataTable, emptyState, formatFullDate, h, pageHeader, pageSize,
  relativeTime, spinnerText,
} from "../ui.js";
import { leaveFlash, messageSlot, pagedList } from "./page_parts.js";
import { labelBadges } from "./serving_parts.js";

const PAGE_SIZE = 50;
const NAME_PATTERN = "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?";

export function mount(container, { user, params, navigate }) {
  const isAdmin = user.role === "admin";
  let stopped = false;

  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const { node: problem, say } = messageSlot({ flash: true });
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading models…"));
  const pagerSlot = h("div", { class: "pager-slot" });

  // ---- the form -------------------------------------------------------------------------
  const name = h("input", { id: "model-name", name: "name", type: "text", required: true,
    maxlength: "63", pattern: NAME_PATTERN, autocomplete: "off", spellcheck: "false",
    placeholder: "digits", "aria-describedby": "model-name-hint" });
  const description = h("input", { id: "model-description", name: "description", type: "text",
    maxlength: "4096", autocomplete: "off", placeholder: "what it predicts, from what" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Create model");
  const formMessage = h("div", { class: "form-message", "data-testid": "model-form-message" });
  const form = h("form", { class: "inline-form", "aria-label": "New model" },
    h("div", { class: "field" },
      h("label", { for: "model-name" }, "Name"), name,
      h("p", { id: "model-name-hint", class: "hint" }, "Lowercase letters, digits and “-”; "
        + "services name the model by it.")),
    h("div", { class: "field field-grow" },
      h("label", { for: "model-description" }, "Description (optional)"), description),
    h("div", { class: "field field-button" }, submit));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formMessage.replaceChildren();
    if (!name.value.trim() || !name.checkValidity()) {
      formMessage.replaceChildren(alertBox("A name uses lowercase letters, digits and “-” and "
        + "starts and ends with a letter or digit."));
      name.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      const model = await api("models", { method: "POST",
        body: { name: name.value.trim(), description: description.value.trim() } });
      leaveFlash(`Model ${model.name} created. Register its first version below.`);
      navigate(`/models/${model.id}`);
    } catch (error) {
      if (!error.handled && !stopped) {
        formMessage.replaceChildren(alertBox(`The model was not created: ${error.message}`));
      }
    } finally {
      submit.disabled = false;
      submit.textContent = "Create model";
    }
  });

  // ---- the list -------------------------------------------------------------------------
  function show(page) {
    summary.textContent = page.count ? count(page.count, "model") : "";
    if (!page.data.length) {
      area.replaceChildren(emptyState("No models yet", "A model holds the numbered versions of "
        + "a TensorFlow SavedModel, which services serve. Create one above."));
      return;
    }
    const columns = ["Name", "Versions", "Latest", "Labels", ...(isAdmin ? ["Owner"] : []),
      "Created"];
    area.replaceChildren(dataTable("Models", columns, page.data.map((model) => h("tr",
      { "data-testid": "model-row", dataset: { model: model.id } },
    h("th", { scope: "row", class: "cell-strong" },
      h("a", { href: `#/models/${encodeURIComponent(model.id)}` }, model.name),
      model.description ? h("div", { class: "cell-note muted" }, model.description) : null),
    h("td", { class: "cell-number" }, String(model.versions)),
    h("td", {}, model.latest === null ? h("span", { class: "muted" }, "none yet")
      : `v${model.latest}`),
    h("td", {}, labelBadges(model.labels)),
    isAdmin ? h("td", {}, model.owner) : null,
    h("td", { title: formatFullDate(model.created_at) },
      relativeTime(model.created_at))))));
  }

  container.replaceChildren(
    pageHeader({ title: "Models",
      subtitle: isAdmin
        ? "Everyone's registered models: numbered SavedModel versions, with labels."
        : "Your registered models: numbered SavedModel versions, with labels, for "
          + "services to serve.",
      side: [summary] }),
    h("section", { class: "card", "aria-labelledby": "new-model-title" },
      h("h2", { id: "new-model-title", class: "card-title" }, "New model"),
      h("p", { class: "card-text" }, "Then register versions on its page: upload a SavedModel, "
        + "or take one from a job's output."),
      form, formMessage),
    problem,
    area,
    pagerSlot);

  const list = pagedList({ path: "models", size: pageSize(params, PAGE_SIZE), area, pagerSlot,
    say, show });
  return () => {
    stopped = true;
    list.stop();
  };
}
