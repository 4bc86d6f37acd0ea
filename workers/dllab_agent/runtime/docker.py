"""The docker runtime: each unit is one container, found again by its ``dllab.unit`` label.

The docker SDK blocks. That is fine here: the agent calls drivers from Celery worker
threads, never from async code.

GPUs reach a container through a device request for their physical indices; the NVIDIA
container toolkit then shows them inside as 0..n-1. With simulated GPUs no request is
sent (the engine has no NVIDIA runtime to honour it), only ``NVIDIA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import math
import os
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import DeviceRequest
from docker.types import Mount as DockerMount

from dllab.protocol import (
    LABEL_AGENT,
    LABEL_GPUS,
    LABEL_UNIT,
    ObservedState,
    RuntimeKind,
    UnitReport,
    UnitSpec,
)
from dllab_agent.runtime.base import (
    Holding,
    Runtime,
    RuntimeStartError,
    Usage,
    gpu_label,
    labelled_gpus,
    process_tree_usage,
)

DOCKER_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")

_OBSERVED = {
    "created": ObservedState.starting,
    "running": ObservedState.running,
    "restarting": ObservedState.running,
    "paused": ObservedState.running,
    "removing": ObservedState.exited,
    "exited": ObservedState.exited,
    "dead": ObservedState.exited,
}
_NEVER = "0001-01-01T00:00:00Z"  # how the engine writes a time that has not happened


def container_kwargs(spec: UnitSpec) -> dict[str, Any]:
    """The arguments of ``containers.create`` for ``spec``; raises RuntimeStartError."""
    if spec.image is None:
        raise RuntimeStartError(f"unit {spec.name} names no image")
    env = dict(spec.env)
    device_requests = []
    if spec.gpus:
        ids = [str(gpu) for gpu in spec.gpus]
        env["NVIDIA_VISIBLE_DEVICES"] = ",".join(ids)
        # Inside the container CUDA must number the GPUs as NVML does, or 0..n-1 could
        # name them in another order than the scheduler and nvidia-smi.
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        if not spec.gpus_simulated:
            device_requests.append(
                DeviceRequest(driver="nvidia", device_ids=ids, capabilities=[["gpu"]])
            )
    else:
        # CUDA images set NVIDIA_VISIBLE_DEVICES=all; where nvidia is the default runtime
        # that would hand every GPU of the host to a unit that was given none.
        env["NVIDIA_VISIBLE_DEVICES"] = "void"
    return {
        "image": spec.image,
        "command": spec.command,
        "name": spec.name,
        "labels": {**spec.labels, **gpu_label(spec.gpus), LABEL_UNIT: spec.unit_id},
        "environment": env,
        "working_dir": spec.working_dir,
        "init": True,  # docker-init as PID 1 passes SIGTERM on, so stop is not a timeout
        "detach": True,
        "ports": {f"{port}/tcp": None for port in spec.ports}
        | ({f"{spec.host_port}/tcp": spec.host_port} if spec.host_port else {}),
        # As on Docker Desktop: units reach services of their host (JupyterHub's API, say).
        "extra_hosts": {"host.docker.internal": "host-gateway"},
        "mounts": [_mount(m.source, m.target, m.read_only) for m in spec.mounts],
        "device_requests": device_requests,
        "nano_cpus": None if spec.cpus is None else int(spec.cpus * 1e9),
        "mem_limit": None if spec.memory_mib is None else spec.memory_mib * 1024 * 1024,
    }


def _mount(source: str, target: str, read_only: bool) -> DockerMount:
    if not source.startswith("/"):
        return DockerMount(target, source, type="volume", read_only=read_only)
    real = os.path.realpath(source)
    for socket in DOCKER_SOCKETS:
        inside = os.path.realpath(socket)
        if inside == real or inside.startswith(real.rstrip("/") + "/"):
            raise RuntimeStartError(
                f"mount {source} would give the unit the docker socket, and with it the host"
            )
    return DockerMount(target, source, type="bind", read_only=read_only)


class DockerRuntime(Runtime):
    kind = RuntimeKind.docker

    def __init__(self, state_dir: Path, client: docker.DockerClient | None = None) -> None:
        self._client = client or docker.from_env()
        self._saved_logs = state_dir / "logs"
        self._agent = _agent_id(state_dir)
        self._pids: dict[str, int] = {}  # container id -> its init's pid, for usage()

    def start(self, spec: UnitSpec) -> UnitReport:
        existing = self._find(spec.unit_id)
        if existing is not None:
            return _report(spec.unit_id, existing)
        kwargs = container_kwargs(spec)
        kwargs["labels"][LABEL_AGENT] = self._agent
        try:
            container = self._client.containers.create(**kwargs)
        except ImageNotFound as exc:
            raise RuntimeStartError(f"image {spec.image} is not on this host") from exc
        except APIError as exc:
            if exc.status_code == 409:  # name taken: a concurrent start of this unit won?
                existing = self._find(spec.unit_id)
                if existing is not None:
                    return _report(spec.unit_id, existing)
            raise RuntimeStartError(f"unit {spec.name} could not be created: {_why(exc)}") from exc
        except DockerException as exc:
            raise RuntimeStartError(f"unit {spec.name} could not be created: {exc}") from exc
        try:
            container.start()
            container.reload()
        except DockerException as exc:
            _remove(container)
            why = _why(exc)
            if kwargs["device_requests"]:
                why = (
                    f"GPUs {spec.gpus} could not be attached ({why});"
                    " is the NVIDIA container toolkit installed?"
                )
            raise RuntimeStartError(f"unit {spec.name} could not start: {why}") from exc
        return _report(spec.unit_id, container)

    def stop(self, unit_id: str, timeout: float = 10.0) -> None:
        container = self._find(unit_id)
        if container is None:
            return
        try:
            container.stop(timeout=math.ceil(timeout))  # the engine takes whole seconds
            self._save_log(unit_id, container)
        except NotFound:
            return
        except APIError as exc:
            if not _removing(exc):
                raise
            return
        _remove(container)

    def inspect(self, unit_id: str) -> UnitReport:
        container = self._find(unit_id)
        if container is None:
            return UnitReport(unit_id=unit_id, state=ObservedState.missing)
        return _report(unit_id, container)

    def logs(self, unit_id: str, follow: bool = False, tail: int | None = None) -> Iterator[str]:
        container = self._find(unit_id)
        output = None
        if container is not None:
            lines = "all" if tail is None else tail
            with suppress(NotFound):  # removed since: its log was saved on the way out
                output = container.logs(stream=follow, follow=follow, timestamps=True, tail=lines)
        if isinstance(output, bytes):
            yield from _lines([output])
        elif output is not None:
            try:
                yield from _lines(output)
            finally:
                # A follower may stop reading long before the unit ends. The SDK's close()
                # leaves the socket referenced by the response, so close that as well.
                output.close()
                output._response.close()
        else:
            saved = self._saved_logs / f"{unit_id}.log"
            if saved.exists():
                with saved.open("rb") as file:
                    yield from _lines(deque(file, maxlen=tail) if tail is not None else file)

    def list(self) -> list[UnitReport]:
        containers = self._client.containers.list(
            all=True, filters={"label": [LABEL_UNIT, f"{LABEL_AGENT}={self._agent}"]},
            ignore_removed=True,
        )
        return [_report(c.labels[LABEL_UNIT], c) for c in containers]

    def holdings(self) -> list[Holding]:
        # The low-level call: the SDK's list() inspects every container once more.
        found = self._client.api.containers(filters={
            "label": [LABEL_GPUS, f"{LABEL_AGENT}={self._agent}"], "status": "running"})
        self._pids = {k: v for k, v in self._pids.items() if k in {c["Id"] for c in found}}
        return [Holding(unit_id=c["Labels"][LABEL_UNIT], runtime_id=c["Id"],
                        gpus=labelled_gpus(c["Labels"]), labels=c["Labels"])
                for c in found if LABEL_UNIT in c["Labels"]]

    def usage(self, holding: Holding) -> Usage | None:
        # Read from /proc, under the container's init: the engine's stats call waits a
        # second for a second reading, and the sampler asks every second for every unit.
        pid = self._pids.get(holding.runtime_id)
        if pid is None:
            try:
                pid = self._client.api.inspect_container(holding.runtime_id)["State"]["Pid"]
            except DockerException:
                return None
            if not pid:
                return None
            self._pids[holding.runtime_id] = pid
        return process_tree_usage(pid)

    def _find(self, unit_id: str) -> Container | None:
        found = self._client.containers.list(
            all=True,
            filters={"label": [f"{LABEL_UNIT}={unit_id}", f"{LABEL_AGENT}={self._agent}"]},
            ignore_removed=True,
        )
        return found[0] if found else None

    def _save_log(self, unit_id: str, container: Container) -> None:
        """Copy the log out of the container, which is about to be removed with it."""
        self._saved_logs.mkdir(parents=True, exist_ok=True)
        partial = self._saved_logs / f".{unit_id}.log.partial"
        with partial.open("wb") as file:
            for chunk in container.logs(stream=True, timestamps=True):
                file.write(chunk)
        partial.replace(self._saved_logs / f"{unit_id}.log")


def _agent_id(state_dir: Path) -> str:
    """This agent's id, made once and kept in its state dir, so that a restarted agent
    finds the containers it made."""
    path = state_dir / "agent-id"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        partial = state_dir / ".agent-id.partial"
        partial.write_text(uuid.uuid4().hex)
        partial.replace(path)
    return path.read_text().strip()


def _report(unit_id: str, container: Container) -> UnitReport:
    state = container.attrs["State"]
    observed = _OBSERVED.get(state["Status"], ObservedState.exited)
    exited = observed is ObservedState.exited
    error = state.get("Error") or None
    if exited and state.get("OOMKilled"):
        error = "killed: out of memory"
    ports = {}
    for key, bindings in (container.attrs["NetworkSettings"].get("Ports") or {}).items():
        port, _, protocol = key.partition("/")
        if protocol == "tcp" and bindings:
            ports[int(port)] = int(bindings[0]["HostPort"])
    return UnitReport(
        unit_id=unit_id,
        state=observed,
        exit_code=state["ExitCode"] if exited else None,
        error=error,
        runtime_id=container.id,
        ports=ports,
        started_at=_epoch(state.get("StartedAt")),
        finished_at=_epoch(state.get("FinishedAt")) if exited else None,
    )


def _epoch(rfc3339: str | None) -> float | None:
    if not rfc3339 or rfc3339 == _NEVER:
        return None
    return datetime.fromisoformat(rfc3339).timestamp()


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Whole lines out of chunks that may split or join them."""
    rest = b""
    for chunk in chunks:
        *whole, rest = (rest + chunk).split(b"\n")
        for line in whole:
            yield line.decode("utf-8", "replace")
    if rest:
        yield rest.decode("utf-8", "replace")


def _remove(container: Container) -> None:
    try:
        container.remove(force=True)
    except NotFound:
        pass
    except APIError as exc:
        if not _removing(exc):
            raise


def _removing(exc: APIError) -> bool:
    return exc.status_code == 409 and "already in progress" in _why(exc)


def _why(exc: DockerException) -> str:
    return str(getattr(exc, "explanation", None) or exc)
