"""What the runtime drivers ask of the engine and the OS, checked without running anything."""

import pytest
from docker.types import DeviceRequest

from dllab.protocol import LABEL_UNIT, LABEL_WORKLOAD, Mount, UnitSpec
from dllab_agent.runtime import docker_available
from dllab_agent.runtime.base import RuntimeStartError
from dllab_agent.runtime.docker import container_kwargs
from dllab_agent.runtime.process import unit_env


def spec(**fields) -> UnitSpec:
    defaults = {"unit_id": "u-1", "name": "dllab-u-1", "image": "img:1", "command": ["run"]}
    return UnitSpec(**(defaults | fields))


def test_real_gpus_reach_the_engine_as_a_device_request():
    kwargs = container_kwargs(spec(gpus=[2, 3], env={"A": "1"}))

    assert kwargs["device_requests"] == [
        DeviceRequest(driver="nvidia", device_ids=["2", "3"], capabilities=[["gpu"]])
    ]
    assert kwargs["environment"] == {
        "A": "1",
        "NVIDIA_VISIBLE_DEVICES": "2,3",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }


def test_simulated_gpus_send_no_device_request_but_keep_the_env():
    kwargs = container_kwargs(spec(gpus=[2, 3], gpus_simulated=True))

    assert kwargs["device_requests"] == []
    assert kwargs["environment"]["NVIDIA_VISIBLE_DEVICES"] == "2,3"


def test_a_unit_without_gpus_gets_none_even_from_a_cuda_image():
    kwargs = container_kwargs(spec(env={"NVIDIA_VISIBLE_DEVICES": "all"}))

    assert kwargs["device_requests"] == []
    assert kwargs["environment"]["NVIDIA_VISIBLE_DEVICES"] == "void"


def test_the_spec_becomes_a_labelled_limited_unprivileged_container():
    kwargs = container_kwargs(
        spec(
            labels={LABEL_WORKLOAD: "job-7", LABEL_UNIT: "spoofed"},
            ports=[8888, 6006],
            cpus=1.5,
            memory_mib=512,
            working_dir="/work",
        )
    )

    assert kwargs["name"] == "dllab-u-1"
    assert kwargs["labels"] == {LABEL_WORKLOAD: "job-7", LABEL_UNIT: "u-1"}
    assert kwargs["ports"] == {"8888/tcp": None, "6006/tcp": None}
    assert kwargs["nano_cpus"] == 1_500_000_000
    assert kwargs["mem_limit"] == 512 * 1024 * 1024
    assert kwargs["init"] is True
    assert kwargs["working_dir"] == "/work"
    assert "privileged" not in kwargs


def test_mounts_become_binds_or_named_volumes():
    kwargs = container_kwargs(
        spec(
            mounts=[
                Mount(source="/srv/data", target="/data", read_only=True),
                Mount(source="checkpoints", target="/ckpt"),
            ]
        )
    )

    bind, volume = kwargs["mounts"]
    assert (bind["Type"], bind["Source"], bind["Target"], bind["ReadOnly"]) == (
        "bind",
        "/srv/data",
        "/data",
        True,
    )
    assert (volume["Type"], volume["Source"], volume["Target"]) == (
        "volume",
        "checkpoints",
        "/ckpt",
    )


@pytest.mark.parametrize("source", ["/var/run/docker.sock", "/run/docker.sock", "/run", "/"])
def test_the_docker_socket_is_never_mounted(source):
    with pytest.raises(RuntimeStartError, match="docker socket"):
        container_kwargs(spec(mounts=[Mount(source=source, target="/x")]))


def test_a_docker_unit_needs_an_image():
    with pytest.raises(RuntimeStartError, match="no image"):
        container_kwargs(spec(image=None))


def test_process_units_see_their_gpus_renumbered_by_cuda():
    env = unit_env(spec(gpus=[2, 3]), {"PATH": "/usr/bin"})

    assert env["CUDA_VISIBLE_DEVICES"] == "2,3"
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["PATH"] == "/usr/bin"


def test_a_process_unit_without_gpus_sees_none():
    env = unit_env(spec(), {"CUDA_VISIBLE_DEVICES": "0,1,2,3"})

    assert env["CUDA_VISIBLE_DEVICES"] == ""


def test_the_gpus_given_win_over_the_spec_env_and_agent_settings_stay_out():
    base = {"HOME": "/root", "DLLAB_AGENT_TOKEN": "secret"}
    env = unit_env(spec(gpus=[1], env={"CUDA_VISIBLE_DEVICES": "0", "DLLAB_JOB": "7"}), base)

    assert env == {
        "HOME": "/root",
        "DLLAB_JOB": "7",
        "CUDA_VISIBLE_DEVICES": "1",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }


def test_a_process_unit_inherits_only_what_finds_programs_and_the_locale():
    base = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C", "AWS_SECRET_ACCESS_KEY": "k",
            "SSH_AUTH_SOCK": "/tmp/agent", "DOCKER_HOST": "unix:///run/docker.sock"}
    env = unit_env(spec(), base)

    assert {k: env[k] for k in ("PATH", "LANG", "LC_ALL")} == {
        "PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C"}
    assert not {"AWS_SECRET_ACCESS_KEY", "SSH_AUTH_SOCK", "DOCKER_HOST"} & env.keys()


def test_no_engine_means_no_docker(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")

    assert docker_available(timeout=1) is False
