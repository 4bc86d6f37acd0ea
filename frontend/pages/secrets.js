// Your secrets: named sets of KEY = value (S3 credentials for environments' volumes),
// kept encrypted. The API never gives a value back: the list shows names and key names,
// adding or replacing sends all of a secret's data, and delete removes it.

import { api } from "../api.js";
import {
  alertBox, count, dataTable, emptyState, formatFullDate, h, pageHeader, pageSize, relativeTime,
  spinnerText,
} from "../ui.js";
import { messageSlot, pagedList, removeConfirmed } from "./page_parts.js";

const PAGE_SIZE = 100;
const NAME_PATTERN = "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?";
const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MOST_KEYS = 32;
// What the first rows suggest: the keys an S3 volume reads.
const KEY_PLACEHOLDERS = ["ACCESS_KEY", "SECRET_KEY"];

/** One KEY / value row of the form; the value is a password field, never shown. */
function keyRow(onRemove) {
  const row = h("div", { class: "volume-row", "data-testid": "secret-key-row" },
    h("div", { class: "field field-grow" },
      h("span", { class: "volume-label", "aria-hidden": "true" }, "Key"),
      h("input", { type: "text", name: "key", spellcheck: "false", autocomplete: "off",
        maxlength: "128" })),
    h("div", { class: "field field-grow" },
      h("span", { class: "volume-label", "aria-hidden": "true" }, "Value"),
      h("input", { type: "password", name: "value", spellcheck: "false",
        autocomplete: "new-password", maxlength: "8192" })),
    h("button", { type: "button", name: "remove", class: "btn btn-ghost btn-small btn-danger-text",
      onclick: () => onRemove(row) }, "Remove"));
  return row;
}

/** The rows' labels and placeholders follow their places: "Key 2", "Value of key 2". */
function numberKeys(list) {
  const rows = [...list.children];
  rows.forEach((row, i) => {
    const n = i + 1;
    const key = row.querySelector('[name="key"]');
    key.setAttribute("aria-label", `Key ${n}`);
    key.setAttribute("placeholder", KEY_PLACEHOLDERS[i] || "KEY");
    row.querySelector('[name="value"]').setAttribute("aria-label", `Value of key ${n}`);
    const remove = row.querySelector('[name="remove"]');
    remove.setAttribute("aria-label", `Remove key ${n}`);
    remove.disabled = rows.length === 1; // a secret holds one key at least
  });
}

export function mount(container, { params }) {
  let replacing = null; // the name of the secret the form replaces; null: it adds one
  let stopped = false;

  const { node: problem, say } = messageSlot();
  const tableArea = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading secrets…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const countNote = h("p", { class: "page-summary", "aria-live": "polite" });

  // ---- add / replace form ---------------------------------------------------------------
  const formTitle = h("h2", { id: "secret-form-title", class: "card-title" }, "Add a secret");
  const formText = h("p", { class: "card-text" });
  const nameInput = h("input", { id: "secret-name", name: "name", type: "text", required: true,
    maxlength: "63", pattern: NAME_PATTERN, autocomplete: "off", spellcheck: "false",
    placeholder: "e.g. minio", "aria-describedby": "secret-name-hint" });
  const keyList = h("div", { class: "volume-list" });
  const addKey = h("button", { type: "button", class: "btn btn-secondary btn-small" },
    "Add key");
  const submit = h("button", { type: "submit", class: "btn btn-primary" });
  const cancel = h("button", { type: "button", class: "btn btn-ghost" }, "Cancel");
  const actions = h("div", { class: "form-actions" });
  const formMessage = h("div", { class: "form-message", "data-testid": "secret-form-message" });
  const form = h("form", { class: "stack-form", "aria-labelledby": "secret-form-title" },
    h("div", { class: "field" },
      h("label", { for: "secret-name" }, "Name"),
      nameInput,
      h("p", { id: "secret-name-hint", class: "hint" },
        "Lowercase letters, digits and “-”; environments' S3 volumes name it.")),
    h("fieldset", { class: "volumes" },
      h("legend", {}, "Data"),
      h("p", { class: "hint", id: "secret-keys-hint" },
        "For S3 volumes: ", h("code", {}, "ACCESS_KEY"), " and ", h("code", {}, "SECRET_KEY"),
        ". Keys: letters, digits and “_”, not starting with a digit. "
        + "Values are never shown again."),
      keyList,
      h("div", {}, addKey)),
    actions);

  function removeKey(row) {
    if (keyList.children.length === 1) return;
    const at = [...keyList.children].indexOf(row);
    row.remove();
    numberKeys(keyList);
    const next = keyList.children[Math.min(at, keyList.children.length - 1)];
    next.querySelector('[name="key"]').focus();
  }

  function appendKey() {
    const row = keyRow(removeKey);
    keyList.append(row);
    numberKeys(keyList);
    return row;
  }

  addKey.addEventListener("click", () => {
    if (keyList.children.length >= MOST_KEYS) {
      formMessage.replaceChildren(alertBox(`A secret holds ${MOST_KEYS} keys at most.`));
      return;
    }
    appendKey().querySelector('[name="key"]').focus();
  });

  const submitLabel = () => (replacing === null ? "Add secret" : "Replace secret");

  /** Back to an empty form: adding (null) or replacing the secret `name`. */
  function resetForm(name = null) {
    replacing = name;
    submit.textContent = submitLabel();
    keyList.replaceChildren();
    appendKey();
    if (name === null) {
      formTitle.textContent = "Add a secret";
      formText.textContent = "Keys and values, kept encrypted; only the key names are "
        + "listed afterwards.";
      nameInput.readOnly = false;
      nameInput.value = "";
      actions.replaceChildren(submit);
    } else {
      formTitle.textContent = `Replace secret ${name}`;
      formText.textContent = "Its data is replaced, all of it: give every key again, with "
        + "its value.";
      nameInput.readOnly = true;
      nameInput.value = name;
      actions.replaceChildren(submit, cancel);
    }
  }

  cancel.addEventListener("click", () => {
    formMessage.replaceChildren();
    resetForm();
    nameInput.focus();
  });

  /** The rows' data, or a message saying what is wrong (and the field to fix). */
  function formData() {
    const data = {};
    for (const row of keyList.children) {
      const keyInput = row.querySelector('[name="key"]');
      const valueInput = row.querySelector('[name="value"]');
      const key = keyInput.value.trim();
      if (!key && !valueInput.value) continue;
      if (!key) return { problem: "Give each value its key.", focus: keyInput };
      if (!KEY_PATTERN.test(key)) {
        return { problem: `Key ${key}: use letters, digits and “_”, not starting with a digit.`,
          focus: keyInput };
      }
      if (Object.hasOwn(data, key)) return { problem: `Key ${key} is there twice.`,
        focus: keyInput };
      if (!valueInput.value) return { problem: `Give ${key} a value.`, focus: valueInput };
      data[key] = valueInput.value;
    }
    if (!Object.keys(data).length) {
      return { problem: "Give at least one key and its value.",
        focus: keyList.querySelector('[name="key"]') };
    }
    return { data };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formMessage.replaceChildren();
    const name = nameInput.value.trim();
    if (!nameInput.checkValidity()) {
      formMessage.replaceChildren(alertBox("A name uses lowercase letters, digits and “-” and "
        + "starts and ends with a letter or digit."));
      nameInput.focus();
      return;
    }
    const { data, problem: wrong, focus } = formData();
    if (wrong) {
      formMessage.replaceChildren(alertBox(wrong));
      focus.focus();
      return;
    }
    const wasReplacing = replacing;
    submit.disabled = true;
    submit.textContent = wasReplacing ? "Replacing…" : "Adding…";
    try {
      if (wasReplacing) {
        await api(`secrets/${encodeURIComponent(wasReplacing)}`, { method: "PUT",
          body: { data } });
      } else {
        await api("secrets", { method: "POST", body: { name, data } });
      }
      resetForm();
      say(null);
      formMessage.replaceChildren(alertBox(wasReplacing ? `Secret ${name} replaced.`
        : `Secret ${name} added.`, "success"));
      await list.refresh();
    } catch (error) {
      // The form keeps what was typed, to fix it.
      if (!error.handled && !stopped) {
        const verb = wasReplacing ? "replaced" : "added";
        formMessage.replaceChildren(alertBox([`The secret was not ${verb}: ${error.message}`,
          ...(error.reason === "secret_exists" ? [". Use its Replace button in the list "
            + "to change its data."] : [])]));
      }
    } finally {
      submit.disabled = false;
      submit.textContent = submitLabel();
    }
  });

  // ---- list -----------------------------------------------------------------------------
  function startReplace(secret) {
    formMessage.replaceChildren();
    resetForm(secret.name);
    // Its key names, to fill in their values again.
    secret.keys.forEach((key, i) => {
      const row = i === 0 ? keyList.children[0] : appendKey();
      row.querySelector('[name="key"]').value = key;
    });
    form.scrollIntoView({ block: "nearest" });
    keyList.querySelector('[name="value"]').focus();
  }

  async function remove(secret) {
    const removed = await removeConfirmed({ say, list,
      path: `secrets/${encodeURIComponent(secret.name)}`, done: `Secret ${secret.name} deleted.`,
      confirm: { title: `Delete secret ${secret.name}?`, confirmLabel: "Delete secret",
        message: "Its data is gone for good: environments whose S3 volumes use it no longer "
          + "start until you add it again." } });
    if (removed && replacing === secret.name) {
      formMessage.replaceChildren();
      resetForm();
    }
  }

  function show(page) {
    countNote.textContent = page.count ? count(page.count, "secret") : "";
    if (!page.data.length) {
      tableArea.replaceChildren(emptyState("No secrets yet",
        "Add one above, e.g. the ", h("code", {}, "ACCESS_KEY"), " and ",
        h("code", {}, "SECRET_KEY"), " of a bucket that environments copy data from."));
      return;
    }
    tableArea.replaceChildren(dataTable("Your secrets", ["Name", "Keys", "Updated"],
      page.data.map((secret) => h("tr", { "data-testid": "secret-row",
        dataset: { secret: secret.name } },
      h("th", { scope: "row", class: "cell-strong" }, secret.name),
      h("td", { "data-testid": "secret-keys" }, secret.keys.map((key, i) =>
        [i ? ", " : null, h("code", {}, key)])),
      h("td", { title: formatFullDate(secret.updated_at) }, relativeTime(secret.updated_at)),
      h("td", { class: "cell-actions" },
        h("button", { type: "button", class: "btn btn-secondary btn-small",
          "aria-label": `Replace secret ${secret.name}`,
          dataset: { focusKey: `replace-${secret.name}` },
          onclick: () => startReplace(secret) }, "Replace"),
        " ",
        h("button", { type: "button", class: "btn btn-secondary btn-small btn-danger-text",
          "aria-label": `Delete secret ${secret.name}`,
          dataset: { focusKey: `delete-${secret.name}` },
          onclick: () => remove(secret) }, "Delete")))),
      { hiddenLast: "Actions" }));
  }

  resetForm();
  container.replaceChildren(
    pageHeader({ title: "Secrets",
      subtitle: ["Credentials the control plane uses for you, such as the keys of an S3 "
        + "bucket. ", "Kept encrypted; nobody can read a value back, you included."],
      side: [countNote] }),
    h("section", { class: "card", "aria-labelledby": "secret-form-title" },
      formTitle, formText, form, formMessage),
    problem,
    tableArea,
    pagerSlot);

  const list = pagedList({ path: "secrets", size: pageSize(params, PAGE_SIZE), area: tableArea,
    pagerSlot, say, show });
  return () => {
    stopped = true;
    list.stop();
  };
}
