// The console's entry point: who is logged in, the top bar, and hash routing
// (#/hosts, #/cluster, #/units, #/tokens, #/ssh-keys, #/login). Each page module exports
// `mount(container, context)` and may return a cleanup function (timers, listeners).
// Routes marked `admin` are left out of the nav for other users, and send them home.

import { api, ApiError, onUnauthorized } from "./api.js";
import { alertBox, badge, h } from "./ui.js";
import * as loginPage from "./pages/login.js";
import * as hostsPage from "./pages/hosts.js";
import * as clusterPage from "./pages/cluster.js";
import * as unitsPage from "./pages/units.js";
import * as tokensPage from "./pages/tokens.js";
import * as sshKeysPage from "./pages/ssh_keys.js";

const DEFAULT_ROUTE = "/hosts";
const ROUTES = {
  "/hosts": { page: hostsPage, title: "Hosts" },
  "/cluster": { page: clusterPage, title: "Cluster", admin: true },
  "/units": { page: unitsPage, title: "Units" },
  "/tokens": { page: tokensPage, title: "API tokens" },
  "/ssh-keys": { page: sshKeysPage, title: "SSH keys" },
};

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
  const [path, query = ""] = raw.split("?");
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
  const links = Object.entries(ROUTES).filter(([, route]) => allowed(route, user))
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
    const notice = state.notice;
    state.notice = null;
    const main = h("main", { class: "center-page", id: "main" });
    root.replaceChildren(main);
    state.cleanup = loginPage.mount(main, {
      notice,
      onLogin(user) {
        state.user = user;
        const next = params.get("next");
        navigate(next && ROUTES[next] ? next : DEFAULT_ROUTE);
      },
    }) || null;
    return;
  }

  const route = ROUTES[path];
  if (!route) {
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
  if (!allowed(route, state.user)) {
    navigate(DEFAULT_ROUTE);
    return;
  }

  document.title = `${route.title} · DLLab`;
  const main = h("main", { class: "content", id: "main", tabindex: "-1" });
  root.replaceChildren(topBar(path), main);
  state.cleanup = route.page.mount(main, { user: state.user, navigate, params }) || null;
}

window.addEventListener("hashchange", render);
render();
