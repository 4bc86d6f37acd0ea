// The console's entry point: who is logged in, the top bar, and hash routing
// (#/environments, #/jobs, #/models, #/services, #/hosts, #/cluster, #/alerts, #/units,
// #/tokens, #/ssh-keys, #/secrets, #/login).
// Each page module exports `mount(container, context)` and may return a cleanup function
// (timers, listeners). Routes marked `admin` are left out of the nav for other users, and
// send them home; routes with a `nav` (the nav entry they belong to) are left out of the
// nav, and so are the routes with a parameter (#/environments/<id>), whose values the page
// gets as `context.args`.

import { api, ApiError, onUnauthorized } from "./api.js";
import { alertBox, badge, h } from "./ui.js";
import * as loginPage from "./pages/login.js";
import * as hostsPage from "./pages/hosts.js";
import * as clusterPage from "./pages/cluster.js";
import * as alertsPage from "./pages/alerts.js";
import * as unitsPage from "./pages/units.js";
import * as tokensPage from "./pages/tokens.js";
import * as sshKeysPage from "./pages/ssh_keys.js";
import * as secretsPage from "./pages/secrets.js";
import * as environmentsPage from "./pages/environments.js";
import * as environmentFormPage from "./pages/environment_form.js";
import * as environmentDetailPage from "./pages/environment_detail.js";
import * as jobsPage from "./pages/jobs.js";
import * as jobFormPage from "./pages/job_form.js";
import * as jobDetailPage from "./pages/job_detail.js";
import * as modelsPage from "./pages/models.js";
import * as modelDetailPage from "./pages/model_detail.js";
import * as servicesPage from "./pages/services.js";
import * as serviceFormPage from "./pages/service_form.js";
import * as serviceDetailPage from "./pages/service_detail.js";

const DEFAULT_ROUTE = "/environments";
// JupyterHub's prefix: it sends users who are not signed in to #/login?next=/jupyter/...
const HUB_PREFIX = "/jupyter/";
const ROUTES = {
  "/environments": { page: environmentsPage, title: "Environments" },
  "/environments/new": { page: environmentFormPage, title: "New environment",
    nav: "/environments" },
  "/jobs": { page: jobsPage, title: "Jobs" },
  "/jobs/new": { page: jobFormPage, title: "Submit a job", nav: "/jobs" },
  "/models": { page: modelsPage, title: "Models" },
  "/services": { page: servicesPage, title: "Services" },
  "/services/new": { page: serviceFormPage, title: "New service", nav: "/services" },
  "/hosts": { page: hostsPage, title: "Hosts" },
  "/cluster": { page: clusterPage, title: "Cluster", admin: true },
  "/alerts": { page: alertsPage, title: "Alerts" },
  "/units": { page: unitsPage, title: "Units" },
  "/tokens": { page: tokensPage, title: "API tokens" },
  "/ssh-keys": { page: sshKeysPage, title: "SSH keys" },
  "/secrets": { page: secretsPage, title: "Secrets" },
};
const PARAM_ROUTES = [
  { pattern: /^\/environments\/([^/]+)$/, page: environmentDetailPage, title: "Environment",
    nav: "/environments" },
  { pattern: /^\/jobs\/([^/]+)$/, page: jobDetailPage, title: "Job", nav: "/jobs" },
  { pattern: /^\/models\/([^/]+)$/, page: modelDetailPage, title: "Model", nav: "/models" },
  { pattern: /^\/services\/([^/]+)$/, page: serviceDetailPage, title: "Service",
    nav: "/services" },
];

/** The route of `path` with its parameters: {route, args}, or null. */
function findRoute(path) {
  if (Object.hasOwn(ROUTES, path)) return { route: ROUTES[path], args: [] };
  for (const route of PARAM_ROUTES) {
    const match = route.pattern.exec(path);
    if (match) {
      try {
        return { route, args: match.slice(1).map(decodeURIComponent) };
      } catch {
        return null; // a malformed %-escape
      }
    }
  }
  return null;
}

/**
 * `next` when it is a JupyterHub path on this origin ("/jupyter/user/ann/mnist/lab"), else
 * null: never an address elsewhere ("//evil.example", "https://...", "/jupyter/../x").
 */
function hubPath(next) {
  if (!next || !next.startsWith(HUB_PREFIX) || /[\\\s]/.test(next)) return null;
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return null;
  }
  if (url.origin !== location.origin || !url.pathname.startsWith(HUB_PREFIX)) return null;
  return `${url.pathname}${url.search}${url.hash}`;
}

const root = document.getElementById("app");
const state = {
  user: null, // UserPublic once known
  version: null,
  cleanup: null,
  renderSeq: 0,
  notice: null, // one message for the login page ("your session has ended")
};

/** "#/login?next=/tokens" -> {path: "/login", params: URLSearchParams} */
function parseHash() {
  const raw = location.hash.replace(/^#/, "") || DEFAULT_ROUTE;
  const at = raw.indexOf("?");
  const path = at < 0 ? raw : raw.slice(0, at);
  const query = at < 0 ? "" : raw.slice(at + 1);
  return { path: path || DEFAULT_ROUTE, params: new URLSearchParams(query) };
}

export function navigate(path) {
  const target = `#${path}`;
  if (location.hash === target) render();
  else location.hash = target;
}

function loginRoute(next) {
  return next && next !== "/login" ? `/login?next=${encodeURIComponent(next)}` : "/login";
}

onUnauthorized(() => {
  const { path } = parseHash();
  if (path === "/login") return;
  if (state.user) state.notice = "Your session has ended. Please sign in again.";
  state.user = null;
  navigate(loginRoute(path));
});

async function logout() {
  try {
    await api("auth/logout", { method: "POST", redirectOn401: false });
  } catch (error) {
    // Already logged out (401) is fine; anything else: the cookie may live on, so say so.
    if (!(error instanceof ApiError) || error.status !== 401) {
      state.notice = `Logging out failed: ${error.message}`;
    }
  }
  state.user = null;
  navigate("/login");
}

function allowed(route, user) {
  return !route.admin || user.role === "admin";
}

function topBar(active) {
  const user = state.user;
  const links = Object.entries(ROUTES)
    .filter(([, route]) => !route.nav && allowed(route, user))
    .map(([path, route]) => h("a", { href: `#${path}`, class: "nav-link",
      "aria-current": path === active ? "page" : null }, route.title));
  return h("header", { class: "topbar" },
    h("div", { class: "topbar-inner" },
      h("a", { class: "brand", href: `#${DEFAULT_ROUTE}`, "aria-label": "DLLab home" },
        h("span", { class: "brand-mark", "aria-hidden": "true" }, "DL"),
        h("span", { class: "brand-name" }, "DLLab"),
        state.version ? h("span", { class: "brand-version" }, `v${state.version}`) : null),
      h("nav", { class: "nav", "aria-label": "Main" }, links),
      h("div", { class: "user-menu" },
        h("span", { class: "user-avatar", "aria-hidden": "true" },
          user.username.slice(0, 1).toUpperCase()),
        h("span", { class: "user-name", "data-testid": "user-name" }, user.username),
        badge(user.role, user.role === "admin" ? "accent" : "neutral",
          { "data-testid": "user-role" }),
        h("button", { type: "button", class: "btn btn-ghost", onclick: logout }, "Log out"))));
}

function unmountPage() {
  if (state.cleanup) {
    try {
      state.cleanup();
    } catch (error) {
      console.error(error);
    }
  }
  state.cleanup = null;
}

function showFatal(message, retry) {
  root.replaceChildren(h("main", { class: "center-page" },
    h("div", { class: "card fatal" },
      h("h1", {}, "DLLab is not reachable"),
      alertBox(message),
      h("button", { type: "button", class: "btn btn-primary", onclick: retry }, "Try again"))));
}

async function loadVersion() {
  try {
    state.version = (await api("health", { redirectOn401: false })).version;
  } catch {
    state.version = null;
  }
}

async function render() {
  const seq = ++state.renderSeq;
  const { path, params } = parseHash();
  unmountPage();

  if (path === "/login") {
    document.title = "Sign in · DLLab";
    const notice = state.notice
      || (hubPath(params.get("next")) ? "Sign in to continue to JupyterLab." : null);
    state.notice = null;
    const main = h("main", { class: "center-page", id: "main" });
    root.replaceChildren(main);
    state.cleanup = loginPage.mount(main, {
      notice,
      onLogin(user) {
        state.user = user;
        const next = params.get("next");
        const hub = hubPath(next);
        if (hub) {
          location.href = hub; // JupyterHub sent us here: back to it, now signed in
          return;
        }
        navigate(next && next !== "/login" && findRoute(next) ? next : DEFAULT_ROUTE);
      },
    }) || null;
    return;
  }

  const found = findRoute(path);
  if (!found) {
    navigate(DEFAULT_ROUTE);
    return;
  }

  if (!state.user) {
    if (!root.querySelector(".topbar")) {
      root.replaceChildren(h("p", { class: "boot", role: "status" }, "Loading DLLab…"));
    }
    try {
      const [user] = await Promise.all([
        api("users/me", { redirectOn401: false }),
        state.version ? null : loadVersion(),
      ]);
      state.user = user;
    } catch (error) {
      if (seq !== state.renderSeq) return;
      if (error instanceof ApiError && error.status === 401) navigate(loginRoute(path));
      else showFatal(error.message, render);
      return;
    }
    if (seq !== state.renderSeq) return;
  }
  const { route, args } = found;
  if (!allowed(route, state.user)) {
    navigate(DEFAULT_ROUTE);
    return;
  }

  document.title = `${route.title} · DLLab`;
  const main = h("main", { class: "content", id: "main", tabindex: "-1" });
  root.replaceChildren(topBar(route.nav || path), main);
  state.cleanup = route.page.mount(main, { user: state.user, navigate, params, args }) || null;
}

window.addEventListener("hashchange", render);
render();
