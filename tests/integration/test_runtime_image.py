"""The runtime image (images/runtime, built by ``make images``): what environments and
jobs will run. Checked from the inside: the user, the frameworks, JupyterHub's
single-user server, and an SSH server that takes keys only and runs as that user."""

from __future__ import annotations

import os

import pytest

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
