// The form that creates an environment (#/environments/new): its name, an image from the
// catalogue, GPUs, CPUs and memory, and volumes, each a host path or an S3 prefix (with one
// of your secrets) copied in at each start. Once created, the list follows it.

import { api } from "../api.js";
import { alertBox, count, h, pageHeader } from "../ui.js";
import { WORKSPACE } from "./environment_parts.js";
import { leaveFlash } from "./page_parts.js";

const NAME_PATTERN = "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?";

function imageLabel(image) {
  return `${image.reference} · ${image.framework} ${image.framework_version} · `
    + `${image.gpu ? "GPU" : "CPU"} build`;
}

const VOLUME_KINDS = [["host", "Host path"], ["s3", "S3"]];
// An S3 volume is copied in as the user dev: it goes under HOME.
const HOME = "/home/dev";
const S3_MOUNT = `${HOME}/data`;
const UNDER_HOME = new RegExp(`^${HOME}/+[^/]`);

// The controls of each row of the volumes fieldset (see volumeRow), by row.
const volumeControls = new WeakMap();

function volumeField(label, control, { grow = true } = {}) {
  return h("div", { class: grow ? "field field-grow" : "field" },
    h("span", { class: "volume-label", "aria-hidden": "true" }, label), control);
}

function pathInput(name, attrs = {}) {
  return h("input", { type: "text", name, spellcheck: "false", autocomplete: "off", ...attrs });
}

/**
 * One row of the volumes fieldset: its kind (a host path, or an S3 prefix copied in at each
 * start), the fields of that kind, the mount path, read-only and remove. The fields of the
 * other kind are kept out of the page (neither seen nor checked), with what was typed.
 */
function volumeRow(onRemove) {
  const kind = h("select", { name: "kind" },
    VOLUME_KINDS.map(([value, label]) => h("option", { value }, label)));
  const source = pathInput("source", { required: true, placeholder: "/srv/datasets/imagenet" });
  const endpoint = pathInput("endpoint", { type: "url", placeholder: "https://s3.example.com" });
  const bucket = pathInput("bucket", { required: true, maxlength: "63", placeholder: "datasets" });
  const prefix = pathInput("prefix", { maxlength: "1024", placeholder: "imagenet/train/" });
  const region = pathInput("region", { maxlength: "64", placeholder: "us-east-1" });
  const secret = h("select", { name: "secret", required: true });
  const secretNote = h("p", { class: "hint", "data-testid": "volume-secret-note" });
  const mountPath = pathInput("mount_path", { required: true });
  const readOnly = h("input", { type: "checkbox", name: "read_only" });
  const remove = h("button", { type: "button", name: "remove",
    class: "btn btn-ghost btn-small btn-danger-text" }, "Remove");
  const secretField = volumeField("Secret", secret, { grow: false });
  const kindField = volumeField("Kind", kind, { grow: false });
  const hostFields = [volumeField("Host path", source)];
  const s3Fields = [volumeField("Endpoint (optional)", endpoint),
    volumeField("Bucket", bucket, { grow: false }), volumeField("Prefix", prefix),
    volumeField("Region (optional)", region, { grow: false }), secretField];
  const row = h("div", { class: "volume-row", "data-testid": "volume-row" },
    kindField, hostFields,
    volumeField("Mount path", mountPath),
    h("label", { class: "check" }, readOnly, "Read-only"),
    remove);
  remove.addEventListener("click", () => onRemove(row));
  let filledIn = false; // the mount path is S3_MOUNT because the kind S3 put it there

  mountPath.addEventListener("input", () => {
    filledIn = false;
  });
  kind.addEventListener("change", () => {
    const s3 = kind.value === "s3";
    for (const node of s3 ? hostFields : s3Fields) node.remove();
    kindField.after(...(s3 ? s3Fields : hostFields));
    mountPath.placeholder = s3 ? S3_MOUNT : "/data/imagenet";
    if (s3 && !mountPath.value.trim()) {
      mountPath.value = S3_MOUNT;
      filledIn = true;
    } else if (!s3 && filledIn) {
      mountPath.value = "";
      filledIn = false;
    }
  });
  mountPath.placeholder = "/data/imagenet";

  volumeControls.set(row, {
    /** The labels follow the row's place: "Host path of volume 2". */
    number(n) {
      const labels = [[kind, "Kind"], [source, "Host path"], [endpoint, "Endpoint"],
        [bucket, "Bucket"], [prefix, "Prefix"], [region, "Region"], [secret, "Secret"],
        [mountPath, "Mount path"]];
      for (const [control, label] of labels) {
        control.setAttribute("aria-label", `${label} of volume ${n}`);
      }
      remove.setAttribute("aria-label", `Remove volume ${n}`);
    },

    /**
     * The secrets to choose from: their names, null while loading, or the Error that
     * loading them met. Keeps the choice made; with one secret, it is chosen.
     */
    setSecrets(names) {
      const chosen = secret.value;
      secretNote.replaceChildren();
      secretNote.remove();
      let empty = null;
      if (names === null) empty = "Loading…";
      else if (names instanceof Error) {
        empty = "not loaded";
        secretNote.append(`Could not load your secrets: ${names.message}`);
      } else if (!names.length) {
        empty = "none yet";
        secretNote.append("You have no secrets yet: add one with ", h("code", {}, "ACCESS_KEY"),
          " and ", h("code", {}, "SECRET_KEY"), " on the ",
          h("a", { href: "#/secrets" }, "Secrets page"), ".");
      }
      if (empty) {
        secret.replaceChildren(h("option", { value: "" }, empty));
        secret.disabled = true;
        if (secretNote.childNodes.length) secretField.append(secretNote);
        return;
      }
      secret.replaceChildren(h("option", { value: "" }, "Choose…"),
        ...names.map((name) => h("option", { value: name }, name)));
      secret.disabled = false;
      if (names.includes(chosen)) secret.value = chosen;
      else if (names.length === 1) secret.value = names[0];
    },

    /** {volume} for the request, {skip} for a row left empty, or {problem, focus}. */
    read() {
      const mount = mountPath.value.trim();
      const common = { mount_path: mount, read_only: readOnly.checked };
      if (kind.value !== "s3") {
        const path = source.value.trim();
        if (!path && !mount) return { skip: true };
        if (!path || !mount) {
          return { problem: "Each volume needs a host path and a mount path.",
            focus: path ? mountPath : source };
        }
        return { volume: { source: path, ...common } };
      }
      if (!bucket.value.trim()) return { problem: "Each S3 volume needs a bucket.", focus: bucket };
      if (!secret.value) {
        return { problem: "Each S3 volume needs one of your secrets, holding its ACCESS_KEY "
          + "and SECRET_KEY.", focus: secret.disabled ? null : secret };
      }
      if (!UNDER_HOME.test(mount)) {
        return { problem: `An S3 volume is copied in as the user dev: its mount path must be `
          + `under ${HOME}/ (e.g. ${S3_MOUNT}).`, focus: mountPath };
      }
      const s3 = { bucket: bucket.value.trim(), prefix: prefix.value.trim(),
        secret: secret.value };
      if (endpoint.value.trim()) s3.endpoint = endpoint.value.trim();
      if (region.value.trim()) s3.region = region.value.trim();
      return { volume: { s3, ...common } };
    },
  });
  return row;
}

/** The rows' labels follow their places: "Host path of volume 2". */
function numberVolumes(list) {
  [...list.children].forEach((row, i) => volumeControls.get(row).number(i + 1));
}

export function mount(container, { user, navigate }) {
  const isAdmin = user.role === "admin";
  let stopped = false;
  let secrets = null; // the names of your secrets for S3 volumes; null until loaded

  const name = h("input", { id: "env-name", name: "name", type: "text", required: true,
    maxlength: "63", pattern: NAME_PATTERN, autocomplete: "off", spellcheck: "false",
    placeholder: "mnist", "aria-describedby": "env-name-hint" });
  const image = h("select", { id: "env-image", name: "image", required: true,
    "aria-describedby": "env-image-hint" });
  const imageHint = h("p", { id: "env-image-hint", class: "hint" }, "Loading the catalogue…");
  const gpus = h("input", { id: "env-gpus", name: "gpus", type: "number", required: true,
    min: "0", max: "64", step: "1", value: "1", "aria-describedby": "env-gpus-hint" });
  const cpus = h("input", { id: "env-cpus", name: "cpus", type: "number", min: "0.1",
    max: "1024", step: "0.1", placeholder: "no limit" });
  const memory = h("input", { id: "env-memory", name: "memory_mib", type: "number", min: "256",
    step: "1", placeholder: "no limit" });
  const volumeList = h("div", { class: "volume-list" });
  const sshNote = h("p", { class: "hint", "data-testid": "ssh-note" },
    "Your profile's SSH keys are let in; manage them on the ",
    h("a", { href: "#/ssh-keys" }, "SSH keys page"), ".");
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Create environment");
  const message = h("div", { class: "form-message", "data-testid": "environment-form-message" });
  const catalogue = h("div", { class: "field" },
    h("label", { for: "env-image" }, "Image"), image, imageHint);

  function addVolume() {
    const row = volumeRow((gone) => {
      gone.remove();
      numberVolumes(volumeList);
    });
    volumeControls.get(row).setSecrets(secrets);
    volumeList.append(row);
    numberVolumes(volumeList);
    row.querySelector("select").focus();
  }

  function fail(text, focus) {
    message.replaceChildren(alertBox(text));
    if (focus) focus.focus();
  }

  const form = h("form", { class: "stack-form env-form", "aria-label": "New environment" },
    h("div", { class: "field" },
      h("label", { for: "env-name" }, "Name"), name,
      h("p", { id: "env-name-hint", class: "hint" },
        "Lowercase letters, digits and “-”; it is part of the JupyterLab address.")),
    catalogue,
    h("div", { class: "form-row" },
      h("div", { class: "field" },
        h("label", { for: "env-gpus" }, "GPUs"), gpus,
        h("p", { id: "env-gpus-hint", class: "hint" },
          "Seen as GPU 0, 1, … inside; 0 for none.")),
      h("div", { class: "field" }, h("label", { for: "env-cpus" }, "CPUs (optional)"), cpus),
      h("div", { class: "field" }, h("label", { for: "env-memory" }, "Memory in MiB (optional)"),
        memory)),
    h("fieldset", { class: "volumes" },
      h("legend", {}, "Volumes"),
      h("p", { class: "hint" }, "Host folders (NFS mounts included) under the roots your admin "
        + "allows, mounted into the environment; or an S3 prefix, copied in under ",
      h("code", {}, `${HOME}/`), " at each start (a copy: changes stay in the environment). "
        + "The workspace ", h("code", {}, WORKSPACE),
      " is always there and is kept when the environment stops."),
      volumeList,
      h("div", {}, h("button", { type: "button", class: "btn btn-secondary btn-small",
        onclick: addVolume }, "Add volume"))),
    h("div", { class: "field" }, h("span", { class: "field-title" }, "SSH"), sshNote),
    message,
    h("div", { class: "form-actions" }, submit,
      h("a", { href: "#/environments", class: "btn btn-ghost" }, "Cancel")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.replaceChildren();
    if (!name.checkValidity()) {
      fail("A name uses lowercase letters, digits and “-” and starts and ends with a letter "
        + "or digit.", name);
      return;
    }
    if (!image.value) {
      fail("Pick an image.", image);
      return;
    }
    const body = { name: name.value.trim(), image: image.value,
      gpus: Number.parseInt(gpus.value || "0", 10), volumes: [] };
    if (cpus.value !== "") body.cpus = Number(cpus.value);
    if (memory.value !== "") body.memory_mib = Number.parseInt(memory.value, 10);
    for (const row of volumeList.children) {
      const { volume, skip, problem, focus } = volumeControls.get(row).read();
      if (skip) continue;
      if (problem) {
        fail(problem, focus);
        return;
      }
      body.volumes.push(volume);
    }
    submit.disabled = true;
    submit.textContent = "Creating…";
    try {
      const created = await api("environments", { method: "POST", body });
      leaveFlash(`Environment ${created.name} created: it starts now, and this page follows it.`);
      navigate("/environments");
    } catch (error) {
      if (!error.handled && !stopped) fail(`The environment was not created: ${error.message}`);
    } finally {
      submit.disabled = false;
      submit.textContent = "Create environment";
    }
  });

  function showImages(page) {
    image.replaceChildren(...page.data.map((img) =>
      h("option", { value: img.reference }, imageLabel(img))));
    const describe = () => {
      const chosen = page.data.find((img) => img.reference === image.value);
      imageHint.textContent = chosen && chosen.description ? chosen.description
        : "From the catalogue of images an admin registered.";
    };
    image.onchange = describe;
    describe();
  }

  function noImages() {
    submit.disabled = true;
    const command = h("code", {}, "dllab images add NAME:TAG");
    catalogue.replaceChildren(h("span", { class: "field-title" }, "Image"),
      alertBox(["The image catalogue is empty, so there is nothing to start yet. ", ...(isAdmin
        ? ["Register an image built on the hosts with ", command,
          " (or POST /api/v1/images), then come back."]
        : ["Ask an admin to register one (", command, ")."])], "info"));
  }

  async function load() {
    const [images, keys, mine] = await Promise.allSettled([api("images?limit=500"),
      api("users/me/ssh-keys"), api("secrets?limit=500")]);
    if (stopped) return;
    if (mine.status === "fulfilled") secrets = mine.value.data.map((secret) => secret.name);
    else secrets = mine.reason.handled ? [] : mine.reason;
    for (const row of volumeList.children) volumeControls.get(row).setSecrets(secrets);
    if (images.status === "fulfilled") {
      if (images.value.data.length) showImages(images.value);
      else noImages();
    } else if (!images.reason.handled) {
      submit.disabled = true;
      catalogue.append(alertBox(`Could not load the image catalogue: ${images.reason.message}`));
    }
    if (keys.status === "fulfilled") {
      const n = keys.value.keys.length;
      sshNote.replaceChildren(...(n
        ? [`Your profile's ${count(n, "SSH key")} ${n === 1 ? "is" : "are"} let in (ssh as `,
          h("code", {}, "dev"), "); manage them on the ",
          h("a", { href: "#/ssh-keys" }, "SSH keys page"), "."]
        : ["You have no SSH keys yet, so SSH stays closed. Add one on the ",
          h("a", { href: "#/ssh-keys" }, "SSH keys page"),
          " first: your profile's keys are used."]));
    }
  }

  container.replaceChildren(
    pageHeader({ back: { href: "#/environments", label: "Environments" },
      title: "New environment",
      subtitle: "JupyterLab, TensorBoard and SSH on the GPUs you ask for; it waits in the "
        + "queue when they are busy." }),
    h("section", { class: "card" }, form));
  name.focus();
  load();
  return () => {
    stopped = true;
  };
}
