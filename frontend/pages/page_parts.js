// What the list and detail pages share: the refresh that speeds up while something shown is
// on its way, the slot for a page's messages (and the one a page leaves for the next), the
// load loop of a paged list, and the frame of a page about one thing: its header, its
// "No such …" once it is gone, the loop that keeps it live, its Delete button and its log.

import { api } from "../api.js";
import {
  alertBox, confirmDialog, emptyState, h, keepFocus, pageHeader, pager, poller,
  refreshedText, refreshRelativeTimes, spinnerText,
} from "../ui.js";

// While something shown is queued, starting or stopping the pages refresh every BUSY_MS;
// once all of it is steady (running, stopped, ended), every STEADY_MS.
const BUSY_MS = 2000;
const STEADY_MS = 15000;

const capital = (word) => word.charAt(0).toUpperCase() + word.slice(1);

/**
 * poller() every BUSY_MS, where `load(signal)` answers whether something shown is on its
 * way (true: again in BUSY_MS; false: in STEADY_MS). `refresh()` loads at once.
 */
function livePoller(load) {
  let due = 0;
  const poll = poller(async (signal) => {
    if (Date.now() < due) return;
    const busy = await load(signal);
    due = busy ? 0 : Date.now() + STEADY_MS - BUSY_MS / 2;
  }, BUSY_MS);
  return {
    refresh() {
      due = 0;
      poll.refresh();
    },
    stop: poll.stop,
  };
}

function refreshText(busy) {
  const at = new Date().toLocaleTimeString();
  return busy ? `Updated ${at} · refreshes every ${BUSY_MS / 1000} s while one starts or stops`
    : `Updated ${at} · refreshes every ${STEADY_MS / 1000} s`;
}

// One message for the next page: a form or a detail page that created or deleted something
// says so on the page it goes to.
let flash = null;

/** Leaves `text` for the next page that shows one (`messageSlot({flash: true})`). */
export function leaveFlash(text) {
  flash = text;
}

/**
 * The slot under a page's header for what happened (an action's outcome, a load that
 * failed) and `say(node)` that fills it (null: empties it). With `flash` it starts with
 * the message the page before left.
 */
export function messageSlot({ flash: takeOne = false, live = false } = {}) {
  const node = h("div", { class: "page-problem", "aria-live": live ? "polite" : null });
  const say = (message) => node.replaceChildren(...(message ? [message] : []));
  if (takeOne && flash) {
    say(alertBox(flash, "success"));
    flash = null;
  }
  return { node, say };
}

/**
 * The load loop of a list page. `path` names the list ("jobs"): the API path, the error
 * ("Could not load jobs"), and the pager's label ("Jobs 1–50 of 120") and test id
 * (jobs-pager). It asks for `size` at an offset (with `query()`'s parameters: a filter),
 * and `show(page)` fills `area` when the answer changed: else only the relative times move.
 * With a `pagerSlot` the list pages; when it shrinks under the page shown, it goes back.
 * It loads again: with `busy` (is this one on its way?) as livePoller does, with `every`
 * (ms) that often (and `status` says when it did), without either when asked (`refresh`).
 * A failed load is said with `say` until one succeeds; `area` empties if it had nothing.
 * Answers `{refresh, stop, goTo(offset)}`.
 */
export function pagedList({ path, size, area, say, show, pagerSlot = null, status = null,
  query = () => ({}), busy = null, every = null }) {
  const label = capital(path);
  let offset = 0;
  let lastData = null;
  let failure = null;
  let loop = null;

  const asking = () => `${path}?${new URLSearchParams({ offset, limit: size, ...query() })}`;

  function showPager(count) {
    if (!pagerSlot) return;
    const nav = pager({ offset, limit: size, count, label, testId: `${path}-pager`,
      onChange: goTo });
    keepFocus(pagerSlot, () => pagerSlot.replaceChildren(...(nav ? [nav] : [])),
      { fallback: true });
  }

  async function load(signal) {
    const asked = asking();
    try {
      const page = await api(asked);
      if (signal.aborted || asked !== asking()) return true;
      if (!page.data.length && offset > 0) {
        offset = Math.max(0, Math.floor((page.count - 1) / size) * size);
        loop.refresh();
        return true;
      }
      if (failure) failure.remove();
      failure = null;
      const text = JSON.stringify([asked, page]);
      if (text !== lastData) {
        area.setAttribute("aria-busy", "false");
        keepFocus(area, () => show(page));
        showPager(page.count);
      } else {
        refreshRelativeTimes(area);
      }
      lastData = text;
      const moving = busy ? page.data.some(busy) : false;
      if (status) status.textContent = busy ? refreshText(moving) : refreshedText(every);
      return moving;
    } catch (error) {
      if (signal.aborted || error.handled) return false;
      failure = alertBox(`Could not load ${path}: ${error.message}`);
      say(failure);
      if (lastData === null) {
        area.setAttribute("aria-busy", "false");
        area.replaceChildren();
      }
      return false;
    }
  }

  function goTo(at) {
    offset = at;
    loop.refresh();
  }

  loop = busy ? livePoller(load) : poller(load, every);
  return { refresh: loop.refresh, stop: loop.stop, goTo };
}

/**
 * Ask `confirm` ({title, message, confirmLabel}), then DELETE API `path`; `say` how it
 * went (`done`; the API's words when it failed) and load `list` again, whatever came of
 * it: another may have removed it first. Answers whether it was removed.
 */
export async function removeConfirmed({ confirm, path, done = null, say, list }) {
  if (!await confirmDialog({ ...confirm, danger: true })) return false;
  let removed = false;
  try {
    await api(path, { method: "DELETE" });
    say(done ? alertBox(done, "success") : null);
    removed = true;
  } catch (error) {
    if (!error.handled) say(alertBox(error.message));
  }
  await list.refresh();
  return removed;
}

/**
 * The frame of the page about one `noun` ("service") of the list `list` ("Services", at
 * #/services): its header (the way back, the name with a badge, the actions), the message
 * slot (with the message the page before left, with `flash`), the body (a spinner until
 * `fill`), and the refresh note. `deletable`: whether "No such …" may say it was deleted.
 */
export function detailFrame({ noun, list, navigate = null, flash: takeOne = false,
  deletable = true }) {
  const listPath = `/${list.toLowerCase()}`;
  const title = h("h1", {}, capital(noun));
  const badge = h("span", { class: "head-badge" });
  const actions = h("div", { class: "env-head-actions" });
  const { node: problem, say } = messageSlot({ flash: takeOne, live: true });
  const body = h("div", { class: "env-detail", "aria-busy": "true" },
    spinnerText(`Loading the ${noun}…`));
  const status = h("p", { class: "refresh-note muted" });
  const header = pageHeader({ back: { href: `#${listPath}`, label: list },
    title: h("div", { class: "env-title" }, title, badge), side: [actions] });

  return {
    header, problem, body, status, actions, say,

    /** Its name in the heading and the tab's title, and its badge. */
    named(name, badgeNode = null) {
      title.textContent = name;
      document.title = `${name} · ${list} · DLLab`;
      badge.replaceChildren(...(badgeNode ? [badgeNode] : []));
    },

    /** The body's cards, in place of the spinner (or of what they were). */
    fill(...nodes) {
      body.setAttribute("aria-busy", "false");
      body.replaceChildren(...nodes);
    },

    /**
     * Say what a failed load means: "No such …" when there is none (answers true: stop
     * loading), else the error, above what is shown (or in place of the spinner).
     */
    failed(error) {
      const first = body.getAttribute("aria-busy") === "true";
      body.setAttribute("aria-busy", "false");
      if (error.status === 404 || error.status === 422) { // none, or not an id at all
        actions.replaceChildren();
        badge.replaceChildren();
        status.textContent = "";
        body.replaceChildren(emptyState(`No such ${noun}`,
          deletable ? "It may have been deleted. Back to " : "Back to ",
          h("a", { href: `#${listPath}` }, list), "."));
        return true;
      }
      say(alertBox(`Could not load the ${noun}: ${error.message}`));
      if (first) body.replaceChildren();
      return false;
    },

    /**
     * The header's Delete button for `thing` (at API `path`): once confirmed (`message`
     * says what goes with it), back to the list, which says it is deleted.
     */
    deleteButton(thing, path, message) {
      const button = h("button", { type: "button", class: "btn btn-secondary btn-danger-text",
        "aria-label": `Delete ${noun} ${thing.name}` }, "Delete");
      button.addEventListener("click", async () => {
        const ok = await confirmDialog({ title: `Delete ${noun} ${thing.name}?`, message,
          confirmLabel: `Delete ${noun}`, danger: true });
        if (!ok) return;
        say(null);
        try {
          await api(path, { method: "DELETE" });
          leaveFlash(`${capital(noun)} ${thing.name} deleted.`);
          navigate(listPath);
        } catch (error) {
          if (!error.handled) say(alertBox(`Deleting failed: ${error.message}`));
        }
      });
      return button;
    },
  };
}

/**
 * Keep the page of a `frame` live on API `path`: `show(found)` when the answer changed
 * (else only the relative times move), then `loaded(found, first)` every time; refreshed
 * as livePoller does while `busy(found)`. When it is gone, "No such …", and `gone()`.
 * Answers `{refresh, stop, redraw}`; `redraw()` has the next answer shown even if the same.
 */
export function watchOne(frame, { path, show, busy, loaded = () => {}, gone = () => {} }) {
  let lastData = null;
  const live = livePoller(async (signal) => {
    try {
      const found = await api(path);
      if (signal.aborted) return true;
      const text = JSON.stringify(found);
      const first = lastData === null;
      if (text !== lastData) show(found);
      else refreshRelativeTimes(frame.body);
      lastData = text;
      loaded(found, first);
      const moving = busy(found);
      frame.status.textContent = refreshText(moving);
      return moving;
    } catch (error) {
      if (signal.aborted || error.handled) return false;
      if (frame.failed(error)) {
        live.stop();
        gone();
      }
      return false;
    }
  });
  return {
    refresh: live.refresh,
    stop: live.stop,
    redraw() {
      lastData = null;
    },
  };
}

/**
 * A card with the last lines of a log and a button that loads them again; `pick` (a
 * select: whose log) stands beside it. `source()` says what to show: `{path, note, empty}`,
 * the API path of the text (none: `empty` says why there is no log yet), and what the
 * title says of it. `name` makes the title's id (`${name}-log-title`), `testId` is the log's.
 * `isGone()` tells when the page is gone. Answers `{card, load}`.
 */
export function logCard({ name, testId, pick = null, source, isGone }) {
  const view = h("pre", { class: "log-view", tabindex: "0", "aria-label": "Log",
    "data-testid": testId });
  const note = h("span", { class: "muted card-title-note" });
  const refresh = h("button", { type: "button", class: "btn btn-secondary btn-small" },
    "Refresh log");
  const card = h("section", { class: "card", "aria-labelledby": `${name}-log-title` },
    h("div", { class: "card-head" },
      h("h2", { id: `${name}-log-title`, class: "card-title" }, "Log", note),
      pick ? h("div", { class: "env-actions" }, pick, refresh) : refresh),
    view);

  async function load() {
    const { path, note: about = "", empty } = source();
    note.textContent = about;
    if (!path) {
      view.textContent = empty;
      return;
    }
    refresh.disabled = true;
    try {
      const text = await api(path, { text: true });
      if (isGone() || source().path !== path) return; // another one's log was asked for
      view.textContent = text || "(nothing yet)";
      view.scrollTop = view.scrollHeight;
    } catch (error) {
      if (isGone() || error.handled) return;
      view.replaceChildren(alertBox(`Could not load the log: ${error.message}`));
    } finally {
      refresh.disabled = false;
    }
  }
  refresh.addEventListener("click", load);
  if (pick) pick.addEventListener("change", load);
  return { card, load };
}
