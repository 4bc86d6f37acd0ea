// The "Try it" card of a service's page: a predict request, prefilled with zeros of a
// signature's shapes, sent through the edge proxy as a client sends it (with the access
// token typed in, never the console's session), its answer and how long it took, and the
// same request as a curl command to copy.

import { api } from "../api.js";
import { alertBox, badge, copyButton, h } from "../ui.js";
import { predictPath } from "./serving_parts.js";

function curlCommand(service, request) {
  const lines = [`curl -X POST '${service.url}:predict'`,
    "  -H 'Content-Type: application/json'"];
  if (service.token_required) lines.push("  -H \"Authorization: Bearer $TOKEN\"");
  lines.push(`  -d '${JSON.stringify(request).replaceAll("'", "'\\''")}'`);
  return lines.join(" \\\n");
}

/**
 * The card for the service at API `path`; `isGone()` tells when its page is gone.
 * `show(service)` keeps it to the service as it is now (its URL, whether it wants a
 * token); the first call loads the example requests.
 */
export function tryCard(path, isGone) {
  let service = null;
  let examples = null; // {signature: {instances, inputs}} once loaded

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
      if (isGone() || error.handled) return;
      examples = null;
      answer.replaceChildren(alertBox(`Could not load an example request: ${error.message}`,
        "info"));
    }
    if (isGone()) return;
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
      if (isGone()) return;
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
      if (!isGone()) answer.replaceChildren(alertBox(`The request did not go through: ${error}`));
    } finally {
      send.disabled = false;
      send.textContent = "Send";
    }
  });

  const card = h("section", { class: "card", "aria-labelledby": "service-try-title" },
    h("h2", { id: "service-try-title", class: "card-title" }, "Try it"),
    h("p", { class: "card-text" }, "A predict request through the edge proxy, as a "
      + "client sends it:"),
    tryForm,
    h("h3", { class: "section-label try-shell" }, "From a shell"),
    curl, curlCopy);

  return {
    card,
    show(current) {
      const first = service === null;
      service = current;
      if (first) loadExamples();
      else showCurl();
    },
  };
}
