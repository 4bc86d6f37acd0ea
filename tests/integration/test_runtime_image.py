"""The runtime image (images/runtime, built by ``make images``): what environments and
jobs will run. Checked from the inside (the user, the frameworks, JupyterHub's single-user
server, sshd's configuration) and from the outside: SSH lets in the given keys only."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from dllab.jobs.tf_config import Replica, Role, Strategy, tf_configs

RUNTIME_IMAGE = os.environ.get("DLLAB_TEST_RUNTIME_IMAGE", "dllab/runtime:tf-cpu")

pytestmark = pytest.mark.docker

CHECK = r"""
set -e
id -un; id -u
python -c "import tensorflow as tf; print('tf', tf.__version__)" 2>/dev/null
python -c "import jupyterlab, jupyter_server_proxy, tensorboard; print('lab')"
jupyterhub-singleuser --version >/dev/null && echo singleuser
ssh-keygen -q -t ed25519 -N '' -f /tmp/hostkey
/usr/sbin/sshd -t -h /tmp/hostkey -o Port=2222 && echo sshd-config-ok
/usr/sbin/sshd -T -h /tmp/hostkey -o Port=2222 \
    | grep -E '^(passwordauthentication|permitrootlogin|allowusers) '
test -d /home/dev/work && test -w /home/dev/work && echo workspace
"""


def test_runtime_image_has_what_environments_need(docker_client):
    try:
        docker_client.images.get(RUNTIME_IMAGE)
    except Exception as exc:  # the image is built by `make images`, which CI runs
        pytest.fail(f"{RUNTIME_IMAGE} is missing ({exc}): build it with `make images`")
    output = docker_client.containers.run(RUNTIME_IMAGE, ["bash", "-c", CHECK], remove=True,
                                          network_disabled=True).decode()
    lines = output.split()
    assert lines[:2] == ["dev", "1000"]  # not root
    assert "tf" in lines and lines[lines.index("tf") + 1].startswith("2.")
    for needed in ("lab", "singleuser", "sshd-config-ok", "workspace"):
        assert needed in lines, output
    assert "passwordauthentication no" in output
    assert "permitrootlogin no" in output
    assert "allowusers dev" in output


def test_ssh_lets_in_the_given_keys_only(docker_client, tmp_path, wait_until):
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    container = docker_client.containers.run(
        RUNTIME_IMAGE, ["sleep", "120"], detach=True, init=True,
        name=f"dllab-test-ssh-{key.stat().st_ino}",
        environment={"DLLAB_SSH_KEYS": key.with_suffix(".pub").read_text()},
        ports={"2222/tcp": ("127.0.0.1", None)})
    try:
        container.reload()
        port = container.ports["2222/tcp"][0]["HostPort"]

        def ssh(*options: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["ssh", "-p", port, "-o", "StrictHostKeyChecking=no", "-o",
                 "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o",
                 "ConnectTimeout=5", *options, "dev@127.0.0.1", "id -un; ls -a work"],
                capture_output=True, text=True, timeout=30)

        wait_until(lambda: ssh("-i", str(key)).returncode == 0, timeout=20, what="ssh login")
        answer = ssh("-i", str(key))
        assert answer.stdout.split()[0] == "dev"
        assert ".dllab" in answer.stdout.split()  # the host key lives in the workspace
        refused = ssh("-o", "PubkeyAuthentication=no")
        assert refused.returncode != 0 and "Permission denied" in refused.stderr
        other = tmp_path / "other"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                       check=True)
        assert ssh("-i", str(other), "-o", "IdentitiesOnly=yes").returncode != 0
    finally:
        container.remove(force=True)


def test_tensorflow_reads_the_tf_config_dllab_writes(docker_client):
    """Each replica's TF_CONFIG, as TensorFlow's own resolver reads it in the runtime image."""
    replicas = [Replica(Role.chief, 0, "chief-0:2222"), Replica(Role.worker, 0, "w-0:2222"),
                Replica(Role.worker, 1, "w-1:2222"), Replica(Role.ps, 0, "ps-0:2222"),
                Replica(Role.evaluator, 0, "ev-0:2222")]
    configs = tf_configs(Strategy.parameter_server, replicas)
    script = (
        "import json, os\n"
        "import tensorflow as tf\n"
        "for config in json.loads(os.environ['CONFIGS']):\n"
        "    os.environ['TF_CONFIG'] = config\n"
        "    r = tf.distribute.cluster_resolver.TFConfigClusterResolver()\n"
        "    print(json.dumps([r.task_type, r.task_id, r.cluster_spec().as_dict()]))\n")
    output = docker_client.containers.run(
        RUNTIME_IMAGE, ["python", "-c", script], remove=True, network_disabled=True,
        environment={"CONFIGS": json.dumps(list(configs.values())),
                     "TF_CPP_MIN_LOG_LEVEL": "3"}).decode()
    seen = [json.loads(line) for line in output.splitlines() if line.startswith("[")]
    training = {"chief": ["chief-0:2222"], "worker": ["w-0:2222", "w-1:2222"],
                "ps": ["ps-0:2222"]}
    assert seen == [["chief", 0, training], ["worker", 0, training], ["worker", 1, training],
                    ["ps", 0, training], ["evaluator", 0, {"evaluator": ["ev-0:2222"]}]]
