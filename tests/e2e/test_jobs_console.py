"""The console's job pages in a real browser against the whole platform (``lab``: ``dllab
up`` with a docker agent and 4 simulated GPUs, the runtime image): a user submits a job
from the form (first one the API refuses, to see its message), with the examples uploaded
as its code; follows it on its page to ``succeeded`` with each replica's host, GPUs and
TF_CONFIG and the chief's log; finds it in the list under its status; and cancels a second
job from the list."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_pages import checked_page
from playwright.sync_api import Browser, Page, expect

from lab_fixture import Lab

pytestmark = [pytest.mark.browser, pytest.mark.docker]

Shot = Callable[[Page, str], None]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
USER, PASSWORD = "jo", "jo-password"  # what lab.add_user gives
RUN_TIMEOUT_MS = 240_000


@pytest.fixture
def console(browser: Browser, lab: Lab) -> Iterator[Page]:
    with checked_page(browser, lab.edge) as page:
        yield page


def job(name: str, **fields: object) -> str:
    return json.dumps({"name": name, "image": "dllab/runtime:tf-cpu",
                       "command": ["python", "digits_mwms.py"],
                       "strategy": "multi_worker_mirrored",
                       "replicas": {"chief": {"count": 1, "gpus": 1},
                                    "worker": {"count": 1, "gpus": 1}},
                       "env": {"STEPS": "100"}, **fields}, indent=1)


@pytest.mark.timeout(600)
def test_submit_follow_and_cancel_jobs(console: Page, lab: Lab, tmp_path: Path,
                                       shot: Shot) -> None:
    page = console
    api = lab.add_user(USER)
    archive = tmp_path / "examples.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in EXAMPLES.glob("*.py"):
            tar.add(path, arcname=path.name)

    page.goto("/#/jobs")
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Jobs")
    expect(page.get_by_text("No jobs yet")).to_be_visible()

    # The form: a refused job shows the API's words and stays on the form.
    page.get_by_role("link", name="Submit job").click()
    expect(page).to_have_url(re.compile(r"#/jobs/new$"))
    spec = page.get_by_label("Job (JSON)")
    expect(spec).to_contain_text('"multi_worker_mirrored"')  # prefilled with an example
    spec.fill(job("digits", strategy="parameter_server"))
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "parameter_server needs one chief (the coordinator), workers and ps")
    spec.fill("{not json")
    page.get_by_role("button", name="Submit job").click()
    expect(page.get_by_role("alert")).to_contain_text("not valid JSON")
    shot(page, "job-form-refused")

    spec.fill(job("digits"))
    page.get_by_label("Code (.tar.gz, optional)").set_input_files(str(archive))
    page.get_by_role("button", name="Submit job").click()
    expect(page).to_have_url(re.compile(r"#/jobs/[0-9a-f]{32}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("digits")

    # Its page, live: every replica placed with its GPU and TF_CONFIG, then succeeded.
    replicas = page.get_by_test_id("job-replica")
    expect(replicas).to_have_count(2)
    expect(page.get_by_test_id("job-status").first).to_have_text("succeeded",
                                                                 timeout=RUN_TIMEOUT_MS)
    [found] = api.get("/api/v1/jobs").json()["data"]
    chief = found["replicas"][0]
    row = replicas.filter(has_text="chief-0")
    expect(row).to_contain_text(chief["address"])
    expect(row).to_contain_text(f"{chief['gpus'][0]['index']}→0")
    row.get_by_text("show").click()
    expect(row.get_by_test_id("job-tf-config")).to_contain_text('"chief"')
    expect(row.get_by_test_id("job-tf-config")).to_contain_text(chief["address"])
    expect(page.get_by_test_id("job-log")).to_contain_text("test accuracy")
    expect(page.get_by_test_id("chart-loss").get_by_role("img")).to_have_attribute(
        "aria-label", re.compile(r"^loss: \d+ points, last [\d.e-]+ at step 100$"))
    expect(page.get_by_test_id("chart-accuracy")).to_be_visible()
    # Its TensorBoard, on demand: opened in a new tab, through the console's login.
    expect(page.get_by_test_id("job-tensorboard")).to_have_text("Start TensorBoard")
    page.get_by_role("button", name="Start TensorBoard").click()
    open_board = page.get_by_role("link", name="Open TensorBoard")
    expect(open_board).to_be_visible(timeout=RUN_TIMEOUT_MS)
    with page.context.expect_page() as opened:
        open_board.click()
    board = opened.value
    expect(board).to_have_title(re.compile("TensorBoard"), timeout=60_000)
    board.close()
    page.get_by_role("button", name="Stop TensorBoard").click()
    expect(page.get_by_test_id("job-tensorboard")).to_have_text("Start TensorBoard",
                                                                timeout=30_000)
    page.get_by_test_id("job-log-replica").select_option("worker-0")
    expect(page.get_by_test_id("job-log")).to_contain_text("'type': 'worker'")
    shot(page, "job-succeeded")

    # The list: filtered by status; a second job cancelled from its row.
    api.post("/api/v1/jobs", json={**json.loads(job("sleeper")), "command": ["sleep", "600"]})
    page.get_by_role("link", name="← Jobs").click()
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(2)
    page.get_by_test_id("job-status-filter").select_option("succeeded")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("digits")
    page.get_by_test_id("job-status-filter").select_option("")
    sleeper = rows.filter(has_text="sleeper")
    sleeper.get_by_role("button", name="Cancel job sleeper").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel job").click()
    expect(sleeper.get_by_test_id("job-status")).to_have_text("cancelled")
    shot(page, "jobs-list")
