"""The web console in a real browser against a live control plane."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

Login = Callable[..., None]
Shot = Callable[[Page, str], None]
Unit = dict[str, Any]


def test_wrong_password_shows_the_message(page: Page, shot: Shot) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"#/login"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_test_id("user-name")).to_have_count(0)
    shot(page, "login-error")


def test_a_console_file_that_does_not_arrive_is_said(page: Page) -> None:
    page.route("**/pages/login.js", lambda route: route.abort())
    page.goto("/")
    expect(page.get_by_role("status")).to_have_text(
        "The console could not load all of its files. Reload the page to try again.")


def test_login_shows_the_user(page: Page, login: Login, shot: Shot) -> None:
    page.goto("/")
    shot(page, "login")
    login(page)
    expect(page).to_have_url(re.compile(r"#/environments$"))
    expect(page.get_by_test_id("user-name")).to_have_text("admin")
    expect(page.get_by_test_id("user-role")).to_have_text("admin")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    # The session lives in cookies: a reload stays logged in.
    page.reload()
    expect(page.get_by_test_id("user-name")).to_have_text("admin")


def test_a_page_asked_before_login_opens_after_it(page: Page, login: Login) -> None:
    page.goto("/#/tokens")
    expect(page).to_have_url(re.compile(r"#/login\?next=%2Ftokens$"))
    login(page)
    expect(page).to_have_url(re.compile(r"#/tokens$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("API tokens")


def test_hosts_page_empty_state(page: Page, login: Login, shot: Shot) -> None:
    page.goto("/#/hosts")
    login(page)
    expect(page.get_by_text("No hosts yet — add one with dllab host add NAME")).to_be_visible()
    shot(page, "hosts-empty")


def test_hosts_page_shows_the_online_host_and_its_simulated_gpus(
        page: Page, login: Login, agent_host: Callable[..., dict[str, str]], shot: Shot) -> None:
    agent_host("gpu-1", gpus=4)
    page.goto("/#/hosts")
    login(page)
    card = page.get_by_test_id("host-card").filter(has=page.get_by_role("heading", name="gpu-1"))
    expect(card.get_by_test_id("host-status")).to_have_text("online")
    expect(card).to_contain_text("process")
    expect(card).to_contain_text("127.0.0.1")
    gpus = card.get_by_test_id("gpu-card")
    expect(gpus).to_have_count(4)
    expect(card.get_by_test_id("gpu-simulated")).to_have_count(4)
    for index in range(4):
        gpu = gpus.nth(index)
        expect(gpu).to_contain_text(f"GPU {index}")
        expect(gpu).to_contain_text("DLLab Simulated GPU")
        expect(gpu).to_contain_text("simulated")
        expect(gpu).to_contain_text("0.0 / 16.0 GiB")
        expect(gpu.locator("code")).to_have_attribute(
            "title", f"GPU-00000000-0000-0000-0000-{index:012d}")
    expect(page.get_by_text("1 host · 1 online · 4 GPUs")).to_be_visible()
    shot(page, "hosts")


def test_hosts_page_refreshes_by_itself(
        page: Page, login: Login, agent_host: Callable[..., dict[str, str]]) -> None:
    page.goto("/#/hosts")
    login(page)
    expect(page.get_by_text("No hosts yet")).to_be_visible()
    agent_host("gpu-late", gpus=2)
    # No reload: the page polls every 5 s.
    card = page.get_by_test_id("host-card")
    expect(card.get_by_role("heading", name="gpu-late")).to_be_visible(timeout=12_000)
    expect(card.get_by_test_id("gpu-card")).to_have_count(2)


def test_admin_adds_a_host_and_sees_its_agent_command_once(
        page: Page, login: Login, live_server: str, shot: Shot) -> None:
    page.goto("/#/hosts")
    login(page)
    page.get_by_label("Host name").fill("gpu-2")
    page.get_by_role("button", name="Add host").click()
    panel = page.get_by_test_id("agent-command-panel")
    expect(panel).to_contain_text("Shown only now")
    command = panel.get_by_label("Agent command")
    expect(command).to_contain_text("DLLAB_HOST_TOKEN=dlh_")
    expect(command).to_contain_text(f"dllab agent --server {live_server}")
    card = page.get_by_test_id("host-card").filter(has=page.get_by_role("heading", name="gpu-2"))
    expect(card.get_by_test_id("host-status")).to_have_text("new")
    expect(card).to_contain_text("Waiting for this host's agent to register")
    shot(page, "hosts-added")

    # The same name again: the API's message is shown.
    page.get_by_label("Host name").fill("gpu-2")
    page.get_by_role("button", name="Add host").click()
    expect(page.get_by_role("alert")).to_have_text("host 'gpu-2' exists already")

    # Shown once: gone after a reload, and the host token is never listed again.
    page.reload()
    expect(card.get_by_test_id("host-status")).to_have_text("new")
    expect(page.get_by_test_id("agent-command-panel")).to_have_count(0)

    # Remove it, after confirming.
    card.get_by_role("button", name="Remove host gpu-2").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove host").click()
    expect(card).to_have_count(0)
    expect(page.get_by_text("No hosts yet")).to_be_visible()


def test_token_is_shown_once_listed_and_revoked(
        page: Page, login: Login, live_server: str, shot: Shot) -> None:
    page.goto("/#/tokens")
    login(page)
    expect(page.get_by_text("No API tokens yet")).to_be_visible()
    page.get_by_label("Token name").fill("ci-runner")
    page.get_by_label("Expires after").select_option(label="30 days")
    page.get_by_role("button", name="Create token").click()

    panel = page.get_by_test_id("token-secret-panel")
    expect(panel).to_contain_text("Shown only now")
    expect(panel.get_by_role("button", name="Copy")).to_be_visible()
    secret = panel.get_by_label("New token secret").inner_text().strip()
    assert len(secret) > 20
    row = page.get_by_test_id("token-row").filter(has_text="ci-runner")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(secret[:10])
    expect(row).not_to_contain_text(secret)
    expect(row.locator("td").nth(2)).not_to_have_text("Never")  # expires in 30 days
    shot(page, "tokens-created")

    me = httpx.get(f"{live_server}/api/v1/users/me",
                   headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "admin"

    # The secret is not shown again.
    page.get_by_role("button", name="Done, I have saved it").click()
    expect(page.get_by_test_id("token-secret-panel")).to_have_count(0)
    page.reload()
    expect(row).to_have_count(1)
    expect(page.get_by_text(secret)).to_have_count(0)

    # Revoking asks first; Cancel keeps the token.
    row.get_by_role("button", name="Revoke token ci-runner").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Revoke token ci-runner?")
    shot(page, "tokens-revoke-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(row).to_have_count(1)

    row.get_by_role("button", name="Revoke token ci-runner").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke token").click()
    expect(row).to_have_count(0)
    expect(page.get_by_text("Token ci-runner revoked.")).to_be_visible()
    expect(page.get_by_text("No API tokens yet")).to_be_visible()

    me = httpx.get(f"{live_server}/api/v1/users/me",
                   headers={"Authorization": f"Bearer {secret}"}, timeout=10)
    assert me.status_code == 401, me.text


def test_ssh_keys_are_added_refused_and_removed(
        page: Page, login: Login, admin_api: httpx.Client, tmp_path: Path, shot: Shot) -> None:
    key_file = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "e2e@test",
                    "-f", str(key_file)], check=True, capture_output=True)
    public = key_file.with_suffix(".pub").read_text().strip()
    listed = subprocess.run(["ssh-keygen", "-l", "-f", f"{key_file}.pub"], check=True,
                            capture_output=True, text=True).stdout.split()
    fingerprint = listed[1]  # "256 SHA256:... e2e@test (ED25519)"
    assert fingerprint.startswith("SHA256:"), listed

    page.goto("/")
    login(page)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="SSH keys").click()
    expect(page).to_have_url(re.compile(r"#/ssh-keys$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("SSH keys")
    expect(page.get_by_text("No SSH keys yet")).to_be_visible()
    expect(page.get_by_text("Environments let these keys in over SSH")).to_be_visible()
    shot(page, "ssh-keys-empty")

    page.get_by_label("Public key").fill(public)
    page.get_by_role("button", name="Add key").click()
    rows = page.get_by_test_id("ssh-key-row")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("e2e@test")
    expect(rows).to_contain_text("ssh-ed25519")
    expect(rows.get_by_test_id("ssh-key-fingerprint")).to_have_text(fingerprint)
    expect(page.get_by_label("Public key")).to_have_value("")
    stored = admin_api.get("/users/me/ssh-keys").json()["keys"]
    assert [(k["key"], k["fingerprint"]) for k in stored] == [(public, fingerprint)]

    # A key the API refuses: its message is shown, the paste kept, the first key kept.
    bad = "ssh-dss AAAAB3NzaC1kc3MAAACBAP8= old@box"
    page.get_by_label("Public key").fill(bad)
    page.get_by_role("button", name="Add key").click()
    expect(page.get_by_role("alert")).to_contain_text("The key was not added")
    expect(page.get_by_role("alert")).to_contain_text("unknown key type 'ssh-dss'")
    expect(page.get_by_label("Public key")).to_have_value(bad)
    expect(rows).to_have_count(1)
    shot(page, "ssh-keys-refused")
    page.reload()
    expect(rows.get_by_test_id("ssh-key-fingerprint")).to_have_text(fingerprint)
    assert len(admin_api.get("/users/me/ssh-keys").json()["keys"]) == 1

    # Removing asks first; Cancel keeps the key.
    remove = rows.get_by_role("button", name="Remove SSH key e2e@test")
    remove.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Remove SSH key e2e@test?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(rows).to_have_count(1)
    remove.click()
    page.get_by_role("dialog").get_by_role("button", name="Remove key").click()
    expect(rows).to_have_count(0)
    expect(page.get_by_text("SSH key e2e@test removed.")).to_be_visible()
    expect(page.get_by_text("No SSH keys yet")).to_be_visible()
    assert admin_api.get("/users/me/ssh-keys").json()["keys"] == []


def test_logout_returns_to_login_and_ends_the_session(
        page: Page, login: Login, shot: Shot) -> None:
    page.goto("/")
    login(page)
    assert page.request.get("/api/v1/users/me").status == 200
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"#/login$"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    # page.request shares the browser's cookies.
    assert page.request.get("/api/v1/users/me").status == 401
    # Pages now send the browser back to the login form.
    page.goto("/#/hosts")
    expect(page).to_have_url(re.compile(r"#/login\?next=%2Fhosts$"))
    shot(page, "logged-out")


def test_an_ended_session_sends_the_page_to_login(
        page: Page, login: Login, agent_host: Callable[..., dict[str, str]]) -> None:
    agent_host("gpu-1")
    page.goto("/#/hosts")
    login(page)
    expect(page.get_by_test_id("host-card")).to_have_count(1)
    # The session ends behind the page's back (here: its cookie is dropped); the next
    # refresh answers 401 and the console goes to the login form and says why.
    page.context.clear_cookies()
    expect(page).to_have_url(re.compile(r"#/login\?next=%2Fhosts$"), timeout=12_000)
    expect(page.get_by_role("status").filter(has_text="Your session has ended")).to_be_visible()


def test_a_plain_user_does_not_see_the_add_host_form(
        page: Page, login: Login, make_user: Callable[..., dict[str, str]],
        agent_host: Callable[..., dict[str, str]], shot: Shot) -> None:
    agent_host("gpu-1", gpus=2)
    make_user("alice")
    password = "alice-password"
    page.goto("/#/hosts")
    login(page, "alice", password)
    expect(page.get_by_test_id("user-role")).to_have_text("user")
    expect(page.get_by_test_id("host-card")).to_have_count(1)
    expect(page.get_by_test_id("gpu-card")).to_have_count(2)
    expect(page.get_by_test_id("add-host")).to_have_count(0)
    expect(page.get_by_label("Host name")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Remove host"))).to_have_count(0)
    expect(page.get_by_role("main")).not_to_contain_text("null")
    shot(page, "hosts-user")


def test_units_page_empty_state(page: Page, login: Login, shot: Shot) -> None:
    page.goto("/#/units")
    login(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("Units")
    expect(page.get_by_text("No units yet")).to_be_visible()
    shot(page, "units-empty")


def test_units_page_lists_a_unit_with_its_remapped_gpus(
        page: Page, login: Login, admin_api: httpx.Client,
        agent_host: Callable[..., dict[str, str]], shot: Shot) -> None:
    agent_host("gpu-1", gpus=4)
    created = admin_api.post("/units", json={"name": "train-mnist", "gpus": 2,
                                             "command": ["python", "train.py", "--epochs", "3"]})
    assert created.status_code == 201, created.text
    unit = created.json()
    page.goto("/#/units")
    login(page)
    row = page.get_by_test_id("unit-row").filter(has_text="train-mnist")
    expect(row).to_contain_text(unit["id"])
    expect(row).to_contain_text(unit["state"])
    expect(row).to_contain_text("gpu-1")
    expect(row).to_contain_text("python train.py --epochs 3")
    for gpu in unit["gpus"]:
        expect(row).to_contain_text(f"{gpu['index']}→{gpu['visible_index']}")
    shot(page, "units")


def _submit(client: httpx.Client, name: str, gpus: int) -> Unit:
    answer = client.post("/units", json={"name": name, "gpus": gpus,
                                         "command": ["python", "train.py"]})
    assert answer.status_code == 201, answer.text
    unit: Unit = answer.json()
    return unit


@pytest.fixture
def busy_cluster(admin_api: httpx.Client, live_server: str,
                 agent_host: Callable[..., dict[str, str]],
                 make_user: Callable[..., dict[str, str]]) -> dict[str, Unit]:
    """gpu-a (4 GPUs) and gpu-b (2) online, gpu-c added but never registered; units of admin
    and alice placed on them, and two of alice's queued (train-huge heads the queue)."""
    agent_host("gpu-a", gpus=4)
    agent_host("gpu-b", gpus=2)
    assert admin_api.post("/hosts", json={"name": "gpu-c"}).status_code == 201
    alice_headers = make_user("alice")
    units = {}
    with httpx.Client(base_url=f"{live_server}/api/v1", headers=alice_headers,
                      timeout=10) as alice:
        for client, name, gpus in [(admin_api, "prep", 1), (admin_api, "train-big", 3),
                                   (alice, "train-huge", 4), (alice, "eval", 1),
                                   (alice, "sweep", 2)]:
            units[name] = _submit(client, name, gpus)
    for name in ("prep", "train-big", "eval"):
        assert units[name]["state"] != "queued", units[name]
    for name, position in (("train-huge", 1), ("sweep", 2)):
        assert units[name]["state"] == "queued", units[name]
        assert units[name]["position"] == position, units[name]
        assert units[name]["reason"], units[name]
    assert str(units["train-huge"]["reason"]).startswith("needs 4 GPUs on one host")
    return units


def test_cluster_page_shows_who_holds_each_gpu_and_the_queue(
        page: Page, login: Login, admin_api: httpx.Client,
        busy_cluster: dict[str, Unit], shot: Shot) -> None:
    units = busy_cluster
    cluster = admin_api.get("/cluster").json()
    page.goto("/#/cluster")
    login(page)
    expect(page).to_have_url(re.compile(r"#/cluster$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Cluster")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Cluster")).to_have_attribute("aria-current", "page")

    # Summary: the API's counts.
    expect(page.get_by_test_id("stat-hosts")).to_have_text("3")
    expect(page.get_by_test_id("stat-gpus")).to_have_text("6")
    expect(page.get_by_test_id("stat-free")).to_have_text(str(cluster["gpus_free"]))
    expect(page.get_by_test_id("stat-queued")).to_have_text("2")

    # One row per host, one cell per GPU; every held cell names its unit, owner and mapping.
    hosts = page.get_by_test_id("cluster-host")
    expect(hosts).to_have_count(3)
    held = 0
    for name in ("prep", "train-big", "eval"):
        unit = units[name]
        row = hosts.filter(has=page.get_by_role("heading", name=str(unit["host"])))
        for gpu in unit["gpus"]:
            cell = row.locator(f'[data-testid="gpu-cell"][data-gpu-index="{gpu["index"]}"]')
            expect(cell).to_have_attribute("data-state", "held")
            expect(cell.get_by_test_id("gpu-holder")).to_have_text(name)
            expect(cell).to_contain_text(str(unit["owner"]))
            expect(cell).to_contain_text(f"GPU {gpu['index']} → seen as {gpu['visible_index']}")
            expect(cell).to_have_attribute("title", re.compile(
                rf"Held by unit {name} \({unit['id']}\)"))
            held += 1
    cells = page.get_by_test_id("gpu-cell")
    expect(cells).to_have_count(6)
    expect(cells.filter(has_text="held")).to_have_count(held)
    free = page.locator('[data-testid="gpu-cell"][data-state="free"]')
    expect(free).to_have_count(6 - held)
    expect(free.first).to_contain_text("free")

    row_a = hosts.filter(has=page.get_by_role("heading", name="gpu-a"))
    expect(row_a.get_by_test_id("host-status")).to_have_text("online")
    expect(row_a).to_contain_text("process")
    expect(row_a.get_by_test_id("reserved-marker")).to_contain_text(
        "Reserved for queue head: train-huge")
    expect(page.get_by_test_id("reserved-marker")).to_have_count(1)
    row_c = hosts.filter(has=page.get_by_role("heading", name="gpu-c"))
    expect(row_c.get_by_test_id("host-status")).to_have_text("new")
    expect(row_c).to_contain_text("waiting for this host's agent")

    # The queue, in order, with why each waits.
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(2)
    for index, name in enumerate(("train-huge", "sweep")):
        unit = units[name]
        row = rows.nth(index)
        expect(row.get_by_role("rowheader")).to_contain_text(name)
        expect(row.get_by_test_id("queue-position")).to_have_text(f"#{unit['position']}")
        expect(row.get_by_test_id("queue-reason")).to_contain_text(str(unit["reason"]))
        expect(row).to_contain_text("alice")
        expect(row).to_contain_text(str(unit["gpu_count"]))
        expect(row.locator("time")).to_contain_text(re.compile(r"just now|s ago"))
    expect(rows.nth(0).get_by_test_id("queue-reason")).to_contain_text("holds gpu-a for it")
    expect(page.get_by_test_id("hosts-pager")).to_have_count(0)
    expect(page.get_by_test_id("queue-pager")).to_have_count(0)
    shot(page, "cluster")

    # Pages: one host and one queued workload a page.
    page.goto("/#/cluster?per_page=1")
    expect(page.get_by_test_id("hosts-pager")).to_contain_text("Hosts 1–1 of 3")
    expect(hosts).to_have_count(1)
    page.get_by_role("button", name="Next hosts").click()
    expect(page.get_by_test_id("hosts-pager")).to_contain_text("Hosts 2–2 of 3")
    expect(hosts.get_by_role("heading")).to_have_text("gpu-b")
    queue_pager = page.get_by_test_id("queue-pager")
    expect(queue_pager).to_contain_text("Queued workloads 1–1 of 2")
    expect(queue_pager.get_by_role("button", name="Previous queued workloads")).to_be_disabled()
    queue_pager.get_by_role("button", name="Next queued workloads").click()
    expect(queue_pager).to_contain_text("Queued workloads 2–2 of 2")
    expect(rows).to_have_count(1)
    expect(rows.get_by_test_id("queue-position")).to_have_text("#2")
    expect(rows.get_by_role("rowheader")).to_contain_text("sweep")


def test_units_page_shows_why_a_unit_waits(
        page: Page, login: Login, busy_cluster: dict[str, Unit],
        shot: Shot) -> None:
    unit = busy_cluster["train-huge"]
    page.goto("/#/units")
    login(page)
    row = page.get_by_test_id("unit-row").filter(has_text="train-huge")
    expect(row).to_contain_text("queued")
    expect(row.get_by_test_id("unit-queue")).to_have_text(f"#1 — {unit['reason']}")
    expect(row).to_contain_text("4 GPUs requested")
    expect(row).not_to_contain_text("none")
    expect(page.get_by_text(re.compile(r"5 units · \d+ running · 2 queued"))).to_be_visible()
    shot(page, "units-queued")


def test_a_plain_user_has_no_cluster_page(
        page: Page, login: Login, busy_cluster: dict[str, Unit]) -> None:
    page.goto("/")
    login(page, "alice", "alice-password")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Units")).to_be_visible()
    expect(nav.get_by_role("link", name="SSH keys")).to_be_visible()
    expect(nav.get_by_role("link", name="Cluster")).to_have_count(0)
    # Asked for by address, it sends her home.
    page.goto("/#/cluster")
    expect(page).to_have_url(re.compile(r"#/environments$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Environments")
    # Her own queued unit says why it waits.
    page.goto("/#/units")
    row = page.get_by_test_id("unit-row").filter(has_text="sweep")
    expect(row.get_by_test_id("unit-queue")).to_have_text(
        f"#2 — {busy_cluster['sweep']['reason']}")
