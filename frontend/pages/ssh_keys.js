// Your SSH public keys: list, add (paste a .pub line), remove. The API keeps the whole
// list and PUT replaces it, so adding and removing send the list as it is now, changed.

import { api } from "../api.js";
import {
  alertBox, confirmDialog, dataTable, emptyState, h, pageHeader, spinnerText,
} from "../ui.js";

const ENDPOINT = "users/me/ssh-keys";

/** What to call a key in buttons and messages: its comment, else its fingerprint. */
function keyName(key) {
  return key.comment || key.fingerprint;
}

/** The lines pasted in the textarea, one key each (blank lines left out). */
function pastedKeys(text) {
  return text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
}

export function mount(container) {
  const problem = h("div", { class: "page-problem" });
  const tableArea = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading SSH keys…"));
  const countNote = h("p", { class: "page-summary", "aria-live": "polite" });
  let stopped = false;

  // ---- add form -------------------------------------------------------------------------
  const keyInput = h("textarea", { id: "ssh-key", name: "key", rows: "3", required: true,
    spellcheck: "false", autocomplete: "off", class: "key-input",
    placeholder: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… you@laptop",
    "aria-describedby": "ssh-key-hint" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Add key");
  const formMessage = h("div", { class: "form-message" });
  const form = h("form", { class: "stack-form", "aria-label": "Add SSH key" },
    h("div", { class: "field" },
      h("label", { for: "ssh-key" }, "Public key"),
      keyInput,
      h("p", { id: "ssh-key-hint", class: "hint" },
        "The line of your ", h("code", {}, ".pub"), " file, e.g. ",
        h("code", {}, "cat ~/.ssh/id_ed25519.pub"), ". Several keys: one a line.")),
    h("div", {}, submit));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formMessage.replaceChildren();
    const added = pastedKeys(keyInput.value);
    if (!added.length) {
      formMessage.replaceChildren(alertBox("Paste a public key first."));
      keyInput.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Adding…";
    try {
      const { keys } = await api(ENDPOINT);
      const page = await api(ENDPOINT, { method: "PUT",
        body: { keys: [...keys.map((key) => key.key), ...added] } });
      keyInput.value = "";
      problem.replaceChildren();
      formMessage.replaceChildren(alertBox(
        added.length === 1 ? "Key added." : `${added.length} keys added.`, "success"));
      if (!stopped) show(page);
    } catch (error) {
      // The textarea keeps what was pasted, to fix it.
      if (!error.handled) {
        // The API names the key by its place in the whole list sent, which means
        // nothing to someone who pasted one: keep what it says is wrong.
        const why = error.message.replace(/^invalid request: body\.keys\.\d+: Value error, /, "");
        formMessage.replaceChildren(alertBox(`The key was not added: ${why}`));
        keyInput.focus();
      }
    } finally {
      submit.disabled = false;
      submit.textContent = "Add key";
    }
  });

  // ---- list -----------------------------------------------------------------------------
  async function remove(key) {
    const ok = await confirmDialog({
      title: `Remove SSH key ${keyName(key)}?`,
      message: "Environments started from now on no longer let it in.",
      confirmLabel: "Remove key", danger: true });
    if (!ok) return;
    formMessage.replaceChildren();
    try {
      const { keys } = await api(ENDPOINT);
      const page = await api(ENDPOINT, { method: "PUT",
        body: { keys: keys.map((k) => k.key).filter((line) => line !== key.key) } });
      problem.replaceChildren(alertBox(`SSH key ${keyName(key)} removed.`, "success"));
      if (!stopped) show(page);
    } catch (error) {
      if (!error.handled) problem.replaceChildren(alertBox(error.message));
      await load();
    }
  }

  function show(page) {
    tableArea.setAttribute("aria-busy", "false");
    const n = page.keys.length;
    countNote.textContent = n ? `${n} ${n === 1 ? "key" : "keys"}` : "";
    if (!n) {
      tableArea.replaceChildren(emptyState("No SSH keys yet",
        "Environments let these keys in over SSH; paste the line of ",
        h("code", {}, "~/.ssh/id_ed25519.pub"), " above."));
      return;
    }
    const rows = page.keys.map((key) => h("tr", { "data-testid": "ssh-key-row" },
      h("th", { scope: "row", class: "cell-strong" },
        key.comment || h("span", { class: "muted" }, "no comment")),
      h("td", {}, h("code", {}, key.type)),
      h("td", {}, h("code", { class: "key-fingerprint", "data-testid": "ssh-key-fingerprint" },
        key.fingerprint)),
      h("td", { class: "cell-actions" },
        h("button", { type: "button", class: "btn btn-secondary btn-small btn-danger-text",
          "aria-label": `Remove SSH key ${keyName(key)}`, onclick: () => remove(key) },
        "Remove"))));
    tableArea.replaceChildren(dataTable("Your SSH keys", ["Comment", "Type", "Fingerprint"],
      rows, { hiddenLast: "Actions" }));
  }

  async function load() {
    try {
      const page = await api(ENDPOINT);
      if (!stopped) show(page);
    } catch (error) {
      if (stopped || error.handled) return;
      tableArea.setAttribute("aria-busy", "false");
      tableArea.replaceChildren(alertBox(`Could not load SSH keys: ${error.message}`));
    }
  }

  container.replaceChildren(
    pageHeader({ title: "SSH keys",
      subtitle: ["Public keys that environments let in over SSH. ",
        "Only the public half: never paste a private key."],
      side: [countNote] }),
    h("section", { class: "card", "aria-labelledby": "add-key-title" },
      h("h2", { id: "add-key-title", class: "card-title" }, "Add a key"),
      h("p", { class: "card-text" },
        "OpenSSH format: type, key and an optional comment on one line."),
      form, formMessage),
    problem,
    tableArea);

  load();
  return () => {
    stopped = true;
  };
}
