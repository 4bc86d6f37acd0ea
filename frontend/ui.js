// Small DOM and formatting helpers shared by the pages. Text always goes in through
// textContent (never innerHTML), so names coming from the API cannot inject markup.

/**
 * h("button", {class: "btn", onclick: fn, "aria-label": "..."}, "text", child, [more])
 * Attributes: `class`, `text`, `dataset` (object), `on<event>` (function), booleans
 * (true sets the attribute, false/null/undefined leaves it out), anything else as-is.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let uid = 0;
/** A unique element id with a readable prefix. */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// ---- formatting -------------------------------------------------------------------------

const dateFormat = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const fullFormat = new Intl.DateTimeFormat(undefined, {
  dateStyle: "medium", timeStyle: "medium",
});

export function formatDate(iso) {
  return iso ? dateFormat.format(new Date(iso)) : "—";
}

export function formatFullDate(iso) {
  return iso ? fullFormat.format(new Date(iso)) : "";
}

/** "just now", "12 s ago", "5 min ago", "3 h ago", "2 days ago"; "in 29 days" ahead. */
export function timeAgo(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  const ahead = seconds < 0;
  const s = Math.abs(seconds);
  let text;
  if (s < 3) return "just now";
  if (s < 60) text = `${s} s`;
  else if (s < 3600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86400) text = `${Math.floor(s / 3600)} h`;
  else {
    const days = Math.floor(s / 86400);
    text = `${days} ${days === 1 ? "day" : "days"}`;
  }
  return ahead ? `in ${text}` : `${text} ago`;
}

/** A <time> element that shows a relative time and the full date on hover. */
export function relativeTime(iso, emptyText = "never") {
  if (!iso) return h("span", { class: "muted" }, emptyText);
  return h("time", { datetime: iso, title: formatFullDate(iso), dataset: { relative: "" } },
    timeAgo(iso));
}

/** Refresh the text of every relative <time> under `root`. */
export function refreshRelativeTimes(root) {
  for (const node of root.querySelectorAll("time[data-relative]")) {
    node.textContent = timeAgo(node.getAttribute("datetime"));
  }
}

/** "GPU-1a2b3c4d…9f0e": enough to tell GPUs apart; the full UUID goes in a title. */
export function shortUuid(uuid) {
  if (!uuid) return "—";
  const match = /^(GPU-|MIG-)?([0-9a-fA-F-]+)$/.exec(uuid);
  if (!match || uuid.length <= 20) return uuid;
  const hex = match[2].replace(/-/g, "");
  return `${match[1] || ""}${hex.slice(0, 8)}…${hex.slice(-4)}`;
}

// ---- components -------------------------------------------------------------------------

export function badge(text, kind = "neutral", attrs = {}) {
  return h("span", { class: `badge badge-${kind}`, ...attrs }, text);
}

const HOST_STATUS = {
  online: { kind: "success", label: "online" },
  offline: { kind: "danger", label: "offline" },
  new: { kind: "info", label: "new" },
};

/** A host's status (online, offline, new) as a badge. */
export function hostStatusBadge(status, attrs = { "data-testid": "host-status" }) {
  const known = HOST_STATUS[status] || { kind: "neutral", label: status };
  return badge(known.label, known.kind, attrs);
}

/** "1 GPU", "4 GPUs": `count(n, "GPU")`; `plural` when adding "s" does not do. */
export function count(n, word, plural = `${word}s`) {
  return `${n} ${n === 1 ? word : plural}`;
}

export function alertBox(message, kind = "error") {
  return h("div", { class: `alert alert-${kind}`, role: kind === "error" ? "alert" : "status" },
    message);
}

export function spinnerText(text) {
  return h("p", { class: "loading", role: "status" }, h("span", { class: "spinner",
    "aria-hidden": "true" }), text);
}

export function emptyState(title, ...hint) {
  return h("div", { class: "empty-state" }, h("p", { class: "empty-title" }, title),
    hint.length ? h("p", { class: "empty-hint" }, hint) : null);
}

async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the older way (e.g. permission refused)
    }
  }
  const area = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let done = false;
  try {
    done = document.execCommand("copy");
  } catch {
    done = false;
  }
  area.remove();
  return done;
}

/** A "Copy" button for `text`; says "Copied" (or how to copy by hand) for a moment. */
export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "btn btn-secondary btn-small copy-button" },
    label);
  let timer = null;
  button.addEventListener("click", async () => {
    const ok = await writeClipboard(text);
    button.textContent = ok ? "Copied" : "Select and copy by hand";
    button.classList.toggle("copied", ok);
    clearTimeout(timer);
    timer = setTimeout(() => {
      button.textContent = label;
      button.classList.remove("copied");
    }, 2000);
  });
  return button;
}

/**
 * A panel for a secret that the API shows only once: the value in a selectable code
 * block, a Copy button, the "shown only now" warning and a Done button.
 */
export function secretPanel({ title, description, value, valueLabel, onDone, testId }) {
  const codeId = newId("secret");
  const panel = h("section", { class: "secret-panel", role: "status", "aria-live": "polite",
    "data-testid": testId },
  h("div", { class: "secret-head" },
    h("h3", { class: "secret-title" }, title),
    h("span", { class: "badge badge-warning" }, "Shown only now")),
  h("p", { class: "secret-text" }, description),
  h("div", { class: "secret-row" },
    h("code", { id: codeId, class: "secret-value", tabindex: "0", "aria-label": valueLabel },
      value),
    copyButton(value)),
  h("div", { class: "secret-actions" },
    h("button", { type: "button", class: "btn btn-secondary", onclick: () => onDone(panel) },
      "Done, I have saved it")));
  return panel;
}

/**
 * Ask for confirmation in a modal <dialog>. Resolves true when confirmed.
 */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false }) {
  return new Promise((resolve) => {
    const titleId = newId("dialog-title");
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": titleId },
      h("form", { method: "dialog" },
        h("h2", { id: titleId, class: "dialog-title" }, title),
        h("p", { class: "dialog-text" }, message),
        h("div", { class: "dialog-actions" },
          h("button", { value: "cancel", class: "btn btn-secondary", autofocus: true }, "Cancel"),
          h("button", { value: "confirm", class: `btn ${danger ? "btn-danger" : "btn-primary"}` },
            confirmLabel))));
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "confirm");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/**
 * Remember which element (by data-focus-key) had focus, to restore it after a re-render.
 * With `fallback`, when that element is gone or disabled (a pager's Next on the last page),
 * the first enabled one with a focus key under `root` gets it instead.
 */
export function keepFocus(root, render, { fallback = false } = {}) {
  const active = document.activeElement;
  const key = active && root.contains(active) ? active.dataset.focusKey : undefined;
  render();
  if (key) {
    let again = root.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (fallback && (!again || again.disabled)) {
      again = root.querySelector("[data-focus-key]:not(:disabled)");
    }
    if (again) again.focus();
  }
}

// ---- refreshing and paging --------------------------------------------------------------

/**
 * Run `load(signal)` now and then every `ms` while the tab is shown (at once when it is
 * shown again), never two at a time: a refresh asked for while one runs follows it.
 * Without `ms` it loads again only when asked (`refresh`), for pages that change only
 * when their user changes them.
 * `signal` is aborted by `stop()`, so a load that awaited can tell that its page is gone.
 * Returns `{refresh, stop}`; a page's mount returns `stop` as (part of) its cleanup.
 */
export function poller(load, ms = null) {
  const controller = new AbortController();
  const { signal } = controller;
  let inflight = false;
  let again = false;

  async function refresh() {
    if (signal.aborted) return;
    if (inflight) {
      again = true;
      return;
    }
    inflight = true;
    try {
      await load(signal);
    } catch (error) {
      console.error(error);
    } finally {
      inflight = false;
    }
    if (again) {
      again = false;
      refresh();
    }
  }

  const tick = () => {
    if (!document.hidden) refresh();
  };
  const timer = ms ? setInterval(tick, ms) : null;
  if (ms) document.addEventListener("visibilitychange", tick);
  refresh();
  return {
    refresh,
    stop() {
      controller.abort();
      clearInterval(timer);
      document.removeEventListener("visibilitychange", tick);
    },
  };
}

/** "Updated 12:00:01 · refreshes every 5 s", for a page's refresh note. */
export function refreshedText(ms) {
  return `Updated ${new Date().toLocaleTimeString()} · refreshes every ${ms / 1000} s`;
}

/**
 * "Hosts 51–100 of 120" with Previous and Next buttons, for a list the API pages
 * (`offset`, `limit`, `count`); null when all of it fits on one page.
 * `onChange(newOffset)` is called with the offset to show.
 */
export function pager({ offset, limit, count, label, onChange, testId }) {
  if (count <= limit && offset === 0) return null;
  const first = count ? Math.min(offset + 1, count) : 0;
  const last = Math.min(offset + limit, count);
  const key = label.toLowerCase().replace(/\W+/g, "-");
  return h("nav", { class: "pager", "aria-label": `${label} pages`, "data-testid": testId },
    h("span", { class: "pager-range", "aria-live": "polite" },
      `${label} ${first}–${last} of ${count}`),
    h("div", { class: "pager-buttons" },
      h("button", { type: "button", class: "btn btn-secondary btn-small",
        disabled: offset <= 0, dataset: { focusKey: `${key}-previous` },
        "aria-label": `Previous ${label.toLowerCase()}`,
        onclick: () => onChange(Math.max(0, offset - limit)) }, "‹ Previous"),
      h("button", { type: "button", class: "btn btn-secondary btn-small",
        disabled: offset + limit >= count, dataset: { focusKey: `${key}-next` },
        "aria-label": `Next ${label.toLowerCase()}`,
        onclick: () => onChange(offset + limit) }, "Next ›")));
}

/** The page size asked for in the address (`#/cluster?per_page=20`), else `fallback`. */
export function pageSize(params, fallback, most = 500) {
  const asked = Number.parseInt(params ? params.get("per_page") : "", 10);
  return Number.isInteger(asked) && asked >= 1 ? Math.min(asked, most) : fallback;
}

/**
 * A page's header: the way back to its list (`back`: {href, label}, shown "← Jobs"), the
 * title (a text for an <h1>, or the node that holds the heading) and the line under it,
 * and what stands on its right (`side`: a summary, buttons).
 */
export function pageHeader({ back = null, title, subtitle = null, side = [] }) {
  return h("div", { class: "page-header" },
    h("div", {},
      back ? h("p", { class: "breadcrumb" }, h("a", { href: back.href }, `← ${back.label}`))
        : null,
      typeof title === "string" ? h("h1", {}, title) : title,
      subtitle ? h("p", { class: "page-subtitle" }, subtitle) : null),
    side.length ? h("div", { class: "page-header-side" }, side) : null);
}

/**
 * A table in its scrolling box: a caption for screen readers, the column heads, and the
 * rows. `hiddenLast` heads a last column for screen readers only (its buttons say enough
 * to the eye): "Actions".
 */
export function dataTable(caption, columns, rows, { hiddenLast = null } = {}) {
  return h("div", { class: "table-scroll" }, h("table", { class: "table" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)),
      hiddenLast ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, hiddenLast))
        : null)),
    h("tbody", {}, rows)));
}

/** One "label: value" of a detail page's overview (a dash when the value is empty). */
export function metaItem(label, value) {
  return h("div", { class: "meta-item" }, h("dt", {}, label),
    h("dd", {}, value === null || value === undefined || value === ""
      ? h("span", { class: "muted" }, "—") : value));
}

/** A start's phases ({name, at, seconds}), each with its time and the time since the last. */
export function phaseTimeline(phases, label) {
  return h("ol", { class: "phase-timeline", "aria-label": label },
    phases.map((phase) => h("li", {
      class: `phase ${phase.at ? "phase-done" : "phase-pending"}`,
      dataset: { phase: phase.name }, "data-testid": "phase" },
    h("span", { class: "phase-dot", "aria-hidden": "true" }),
    h("span", { class: "phase-name" }, phase.name),
    h("span", { class: "phase-seconds" }, phase.seconds === null || phase.seconds === undefined
      ? (phase.at ? "" : "not yet") : `+${phase.seconds.toFixed(1)} s`),
    phase.at ? h("time", { class: "phase-at muted", datetime: phase.at,
      title: formatFullDate(phase.at) }, new Date(phase.at).toLocaleTimeString()) : null)));
}
