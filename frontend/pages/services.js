// Prediction services (#/services): each one's model, status and reason, tracks (the
// versions and their shares of the requests), ready replicas over those wanted, and its
// public URL. Live while one starts or updates. The form is in service_form.js, one
// service's page in service_detail.js.

import { api } from "../api.js";
import {
  alertBox, copyButton, count, emptyState, formatFullDate, h, keepFocus, pageSize, pager,
  refreshRelativeTimes, relativeTime, spinnerText,
} from "../ui.js";
import { livePoller, refreshText, takeFlash } from "./environment_parts.js";
import {
  isMoving, modelLink, readyText, serviceBadge, tracksText,
} from "./serving_parts.js";

const PAGE_SIZE = 50;

function statusCell(service) {
  return h("div", {}, serviceBadge(service), service.reason ? h("div", {
    class: `cell-note ${service.status === "failing" ? "text-danger" : "muted"}`,
    "data-testid": "service-reason" }, service.reason) : null);
}

export function mount(container, { user, params }) {
  const isAdmin = user.role === "admin";
  const size = pageSize(params, PAGE_SIZE);
  let offset = 0;
  let lastData = null;
  let live = null;

  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const problem = h("div", { class: "page-problem" });
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading services…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const status = h("p", { class: "refresh-note muted" });
  const say = (node) => problem.replaceChildren(...(node ? [node] : []));
  const flash = takeFlash();
  if (flash) say(alertBox(flash, "success"));

  function show(page) {
    area.setAttribute("aria-busy", "false");
    const serving = page.data.filter((s) => s.status === "serving").length;
    summary.textContent = page.count
      ? `${count(page.count, "service")} · ${serving} serving` : "";
    if (!page.data.length) {
      area.replaceChildren(emptyState("No services yet", "A service serves a version of one "
        + "of your ", h("a", { href: "#/models" }, "models"), " over TensorFlow Serving's "
        + "REST API, on as many replicas as you ask for. ",
      h("a", { href: "#/services/new" }, "Deploy one"), "."));
    } else {
      const columns = ["Name", "Model", "Status", "Tracks", "Ready", "URL",
        ...(isAdmin ? ["Owner"] : []), "Created"];
      area.replaceChildren(h("div", { class: "table-scroll" }, h("table", { class: "table" },
        h("caption", { class: "visually-hidden" }, "Services"),
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, page.data.map((service) => h("tr", { "data-testid": "service-row",
          dataset: { service: service.id } },
        h("th", { scope: "row", class: "cell-strong" },
          h("a", { href: `#/services/${encodeURIComponent(service.id)}` }, service.name),
          service.token_required ? h("div", { class: "cell-note muted" }, "token required")
            : null),
        h("td", {}, modelLink(service)),
        h("td", {}, statusCell(service)),
        h("td", { "data-testid": "service-tracks" }, tracksText(service)),
        h("td", { class: "cell-number", title: "replicas ready / wanted",
          "data-testid": "service-ready" }, readyText(service)),
        h("td", {}, h("div", { class: "ssh-line" },
          h("code", { class: "service-url" }, `${service.url}:predict`),
          copyButton(`${service.url}:predict`))),
        isAdmin ? h("td", {}, service.owner) : null,
        h("td", { title: formatFullDate(service.created_at) },
          relativeTime(service.created_at))))))));
    }
    const nav = pager({ offset, limit: size, count: page.count, label: "Services",
      testId: "services-pager", onChange: (at) => {
        offset = at;
        live.refresh();
      } });
    keepFocus(pagerSlot, () => pagerSlot.replaceChildren(...(nav ? [nav] : [])),
      { fallback: true });
  }

  async function load(signal) {
    const at = offset;
    try {
      const page = await api(`services?offset=${at}&limit=${size}`);
      if (signal.aborted || at !== offset) return true;
      const text = JSON.stringify([at, page]);
      if (text !== lastData) keepFocus(area, () => show(page));
      else refreshRelativeTimes(area);
      lastData = text;
      const busy = page.data.some(isMoving);
      status.textContent = refreshText(busy);
      return busy;
    } catch (error) {
      if (signal.aborted || error.handled) return false;
      say(alertBox(`Could not load services: ${error.message}`));
      area.setAttribute("aria-busy", "false");
      if (lastData === null) area.replaceChildren();
      return false;
    }
  }

  container.replaceChildren(
    h("div", { class: "page-header" },
      h("div", {},
        h("h1", {}, "Services"),
        h("p", { class: "page-subtitle" }, isAdmin
          ? "Everyone's prediction services: models served over TensorFlow Serving's REST API."
          : "Your prediction services: your models served over TensorFlow Serving's REST "
            + "API, behind the edge proxy.")),
      h("div", { class: "page-header-side" },
        summary,
        h("a", { href: "#/services/new", class: "btn btn-primary" }, "New service"))),
    problem,
    area,
    pagerSlot,
    status);

  live = livePoller(load);
  return live.stop;
}
