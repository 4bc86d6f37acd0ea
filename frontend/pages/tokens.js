// Personal API tokens: list, create (the secret is shown once), revoke.

import { api } from "../api.js";
import {
  alertBox, count, dataTable, emptyState, formatDate, formatFullDate, h, pageHeader,
  relativeTime, secretPanel, spinnerText,
} from "../ui.js";
import { messageSlot, pagedList, removeConfirmed } from "./page_parts.js";

const EXPIRY_CHOICES = [
  ["", "Never"],
  ["7", "7 days"],
  ["30", "30 days"],
  ["90", "90 days"],
  ["365", "1 year"],
];

function expiryCell(iso) {
  if (!iso) return h("span", { class: "muted" }, "Never");
  const expired = new Date(iso).getTime() <= Date.now();
  return h("span", { title: formatFullDate(iso), class: expired ? "text-danger" : null },
    expired ? `Expired ${formatDate(iso)}` : formatDate(iso));
}

export function mount(container) {
  const { node: problem, say } = messageSlot();
  const created = h("div", { class: "form-result" });
  const tableArea = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading tokens…"));
  const countNote = h("p", { class: "page-summary", "aria-live": "polite" });

  // ---- create form ----------------------------------------------------------------------
  const nameInput = h("input", { id: "token-name", name: "name", type: "text", required: true,
    maxlength: "64", autocomplete: "off", placeholder: "e.g. laptop-cli",
    "aria-describedby": "token-name-hint" });
  const expirySelect = h("select", { id: "token-expiry", name: "expires_in_days" },
    EXPIRY_CHOICES.map(([value, label]) => h("option", { value }, label)));
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Create token");
  const formMessage = h("div", { class: "form-message" });
  const form = h("form", { class: "inline-form", "aria-label": "Create token" },
    h("div", { class: "field field-grow" },
      h("label", { for: "token-name" }, "Token name"),
      nameInput,
      h("p", { id: "token-name-hint", class: "hint" }, "What or where it is used, to tell tokens apart.")),
    h("div", { class: "field" },
      h("label", { for: "token-expiry" }, "Expires after"),
      expirySelect),
    h("div", { class: "field field-button" }, submit));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formMessage.replaceChildren();
    const name = nameInput.value.trim();
    if (!name) {
      formMessage.replaceChildren(alertBox("Give the token a name."));
      nameInput.focus();
      return;
    }
    const body = { name };
    if (expirySelect.value) body.expires_in_days = Number(expirySelect.value);
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      const token = await api("tokens", { method: "POST", body });
      nameInput.value = "";
      expirySelect.value = "";
      created.replaceChildren(secretPanel({
        title: `Token ${token.name} created`,
        description: [
          "Copy it now: this is the only time the secret is shown. Send it as ",
          h("code", {}, "Authorization: Bearer <token>"), ", or give it to the CLI as ",
          h("code", {}, "DLLAB_TOKEN"), "."],
        value: token.token,
        valueLabel: "New token secret",
        testId: "token-secret-panel",
        onDone: (panel) => panel.remove(),
      }));
      await list.refresh();
    } catch (error) {
      if (!error.handled) formMessage.replaceChildren(alertBox(error.message));
    } finally {
      submit.disabled = false;
      submit.textContent = "Create token";
    }
  });

  // ---- list -----------------------------------------------------------------------------
  const revoke = (token) => removeConfirmed({ say, list, path: `tokens/${token.id}`,
    done: `Token ${token.name} revoked.`,
    confirm: { title: `Revoke token ${token.name}?`, confirmLabel: "Revoke token",
      message: "Programs that use it are refused from now on. This cannot be undone." } });

  function show(page) {
    countNote.textContent = page.count ? count(page.count, "token") : "";
    if (!page.data.length) {
      tableArea.replaceChildren(emptyState("No API tokens yet",
        "Create one above to use the REST API or the dllab CLI from scripts."));
      return;
    }
    tableArea.replaceChildren(dataTable("Your API tokens",
      ["Name", "Token", "Created", "Expires", "Last used"],
      page.data.map((token) => h("tr", { dataset: { tokenId: String(token.id) },
        "data-testid": "token-row" },
      h("th", { scope: "row", class: "cell-strong" }, token.name),
      h("td", {}, h("code", { class: "token-prefix" }, `${token.prefix}…`)),
      h("td", { title: formatFullDate(token.created_at) }, formatDate(token.created_at)),
      h("td", {}, expiryCell(token.expires_at)),
      h("td", {}, relativeTime(token.last_used_at)),
      h("td", { class: "cell-actions" },
        h("button", { type: "button", class: "btn btn-secondary btn-small btn-danger-text",
          "aria-label": `Revoke token ${token.name}`, onclick: () => revoke(token) },
        "Revoke")))),
      { hiddenLast: "Actions" }));
  }

  container.replaceChildren(
    pageHeader({ title: "API tokens",
      subtitle: "Personal tokens for the REST API and the CLI. They act as you: keep them "
        + "secret.",
      side: [countNote] }),
    h("section", { class: "card", "aria-labelledby": "create-token-title" },
      h("h2", { id: "create-token-title", class: "card-title" }, "Create token"),
      h("p", { class: "card-text" }, "The secret is shown once, right after it is created."),
      form, formMessage, created),
    problem,
    tableArea);

  // All of them: a person has a few tokens.
  const list = pagedList({ path: "tokens", size: 500, area: tableArea, say, show });
  return list.stop;
}
