// Sign-in form: POST /auth/login sets the session cookie and the CSRF cookie.

import { api } from "../api.js";
import { alertBox, h } from "../ui.js";

export function mount(container, { notice, onLogin }) {
  const message = h("div", { class: "form-message" });
  if (notice) message.replaceChildren(alertBox(notice, "info"));

  const username = h("input", { id: "login-username", name: "username", type: "text",
    autocomplete: "username", autocapitalize: "none", spellcheck: "false", required: true,
    maxlength: "64" });
  const password = h("input", { id: "login-password", name: "password", type: "password",
    autocomplete: "current-password", required: true, maxlength: "256" });
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block" }, "Sign in");

  const form = h("form", { class: "login-form", novalidate: false },
    h("div", { class: "field" },
      h("label", { for: "login-username" }, "Username"), username),
    h("div", { class: "field" },
      h("label", { for: "login-password" }, "Password"), password),
    message,
    submit);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = "Signing in…";
    message.replaceChildren();
    try {
      const session = await api("auth/login", { method: "POST", redirectOn401: false,
        body: { username: username.value.trim(), password: password.value } });
      onLogin(session.user);
    } catch (error) {
      message.replaceChildren(alertBox(error.message));
      password.value = "";
      password.focus();
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });

  container.replaceChildren(
    h("div", { class: "login-card card" },
      h("div", { class: "login-brand" },
        h("span", { class: "brand-mark brand-mark-large", "aria-hidden": "true" }, "DL"),
        h("div", {},
          h("h1", { class: "login-title" }, "Sign in to DLLab"),
          h("p", { class: "login-subtitle" }, "Your self-hosted deep-learning lab"))),
      form),
    h("p", { class: "login-footnote" },
      "First time? Sign in as ", h("code", {}, "admin"), ". Unless ",
      h("code", {}, "DLLAB_ADMIN_PASSWORD"), " was set, its password was printed when the ",
      "control plane first started and saved in ", h("code", {}, "DLLAB_HOME/admin-password"),
      "."));
  username.focus();
}
