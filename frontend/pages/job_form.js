// Submit a job (#/jobs/new): the job as JSON (the body of POST /api/v1/jobs, prefilled with
// a multi-worker example) and, optionally, its code as a .tar.gz, uploaded first and
// mounted read-only at /dllab/code. The API's answer to a mistake is shown as it is.

import { api } from "../api.js";
import { alertBox, h, pageHeader } from "../ui.js";
import { leaveFlash } from "./page_parts.js";

const EXAMPLE = {
  name: "digits-mwms",
  image: "dllab/runtime:tf-cpu",
  command: ["python", "digits_mwms.py"],
  strategy: "multi_worker_mirrored",
  replicas: { chief: { count: 1, gpus: 1 }, worker: { count: 2, gpus: 1 } },
  env: { STEPS: "600" },
  checkpoint: { every_steps: 100 },
  max_restarts: 2,
};

export function mount(container, { navigate }) {
  const problem = h("div", { class: "page-problem", "aria-live": "polite" });
  const spec = h("textarea", { id: "job-spec", class: "code-input", rows: "18",
    spellcheck: "false", "data-testid": "job-spec" }, JSON.stringify(EXAMPLE, null, 2));
  const code = h("input", { id: "job-code", type: "file", accept: ".tar.gz,.tgz,application/gzip",
    "data-testid": "job-code" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, "Submit job");
  const say = (node) => problem.replaceChildren(...(node ? [node] : []));

  const form = h("form", { class: "card stack-form", novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "job-spec" }, "Job (JSON)"),
      h("p", { class: "hint" }, "The fields of POST /api/v1/jobs: name, image, "
        + "command, strategy (none, mirrored, multi_worker_mirrored, parameter_server), "
        + "replicas (chief, worker, ps, evaluator: count, gpus, cpus, memory_mib), env, "
        + "volumes, checkpoint, max_restarts, not_retryable. See the README's Jobs section."),
      spec),
    h("div", { class: "field" },
      h("label", { for: "job-code" }, "Code (.tar.gz, optional)"),
      h("p", { class: "hint" }, "Mounted read-only at /dllab/code, the working "
        + "directory. examples/ in the repository holds the digits scripts."),
      code),
    h("div", { class: "form-actions" }, submit,
      h("a", { href: "#/jobs", class: "btn btn-secondary" }, "Back to jobs")));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(null);
    let body;
    try {
      body = JSON.parse(spec.value);
    } catch (error) {
      say(alertBox(`The job is not valid JSON: ${error.message}`));
      spec.focus();
      return;
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      say(alertBox("The job must be a JSON object (its fields)."));
      return;
    }
    submit.disabled = true;
    submit.textContent = "Submitting…";
    try {
      if (code.files.length) {
        const upload = await api("jobs/code", { method: "POST", raw: code.files[0] });
        body = { ...body, code: { upload: upload.id } };
      }
      const job = await api("jobs", { method: "POST", body });
      leaveFlash(`Job ${job.name} submitted.`);
      navigate(`/jobs/${job.id}`);
    } catch (error) {
      if (!error.handled) say(alertBox(`The job was not submitted: ${error.message}`));
    } finally {
      submit.disabled = false;
      submit.textContent = "Submit job";
    }
  });

  container.replaceChildren(
    pageHeader({ back: { href: "#/jobs", label: "Jobs" }, title: "Submit a job",
      subtitle: "Every replica starts at once, or the job waits for its GPUs. Or from a "
        + "shell: dllab job submit -f job.yaml" }),
    problem,
    form);
}
