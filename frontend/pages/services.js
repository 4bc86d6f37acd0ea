// Prediction services (#/services): each one's model, status and reason, tracks (the
// versions and their shares of the requests), ready replicas over those wanted, and its
// public URL. Live while one starts or updates. The form is in service_form.js, one
// service's page in service_detail.js.

import {
  copyButton, count, dataTable, emptyState, formatFullDate, h, pageHeader, pageSize,
  relativeTime, spinnerText,
} from "../ui.js";
import { messageSlot, pagedList } from "./page_parts.js";
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
  const summary = h("p", { class: "page-summary", "aria-live": "polite" });
  const { node: problem, say } = messageSlot({ flash: true });
  const area = h("div", { class: "card table-card", "aria-busy": "true" },
    spinnerText("Loading services…"));
  const pagerSlot = h("div", { class: "pager-slot" });
  const status = h("p", { class: "refresh-note muted" });

  function show(page) {
    const serving = page.data.filter((s) => s.status === "serving").length;
    summary.textContent = page.count
      ? `${count(page.count, "service")} · ${serving} serving` : "";
    if (!page.data.length) {
      area.replaceChildren(emptyState("No services yet", "A service serves a version of one "
        + "of your ", h("a", { href: "#/models" }, "models"), " over TensorFlow Serving's "
        + "REST API, on as many replicas as you ask for. ",
      h("a", { href: "#/services/new" }, "Deploy one"), "."));
      return;
    }
    const columns = ["Name", "Model", "Status", "Tracks", "Ready", "URL",
      ...(isAdmin ? ["Owner"] : []), "Created"];
    area.replaceChildren(dataTable("Services", columns, page.data.map((service) => h("tr",
      { "data-testid": "service-row", dataset: { service: service.id } },
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
      relativeTime(service.created_at))))));
  }

  container.replaceChildren(
    pageHeader({ title: "Services",
      subtitle: isAdmin
        ? "Everyone's prediction services: models served over TensorFlow Serving's REST API."
        : "Your prediction services: your models served over TensorFlow Serving's REST "
          + "API, behind the edge proxy.",
      side: [summary,
        h("a", { href: "#/services/new", class: "btn btn-primary" }, "New service")] }),
    problem,
    area,
    pagerSlot,
    status);

  return pagedList({ path: "services", size: pageSize(params, PAGE_SIZE), area, pagerSlot,
    status, say, show, busy: isMoving }).stop;
}
