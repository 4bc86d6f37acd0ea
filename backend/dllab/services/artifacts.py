"""The artifact store: where each job's code, checkpoints, TensorBoard logs and outputs
live, and outlive it, and the model registry's versions (``models/<model id>/<version>/``,
a SavedModel each). Two kinds, one interface (``store(settings)``):

- ``LocalStore`` (the default): folders under DLLAB_ARTIFACT_ROOT, bind-mounted into the
  replicas (shared storage such as NFS where there are several hosts);
- ``S3Store`` (DLLAB_ARTIFACT_S3_URL): objects under s3://BUCKET/PREFIX/. Replicas get
  their place in it (``DLLAB_ARTIFACTS_S3``) and the runtime image's dllab-artifacts
  copies code and checkpoints in at start and sends what they write back as they run. The
  control plane reads it through boto3: the newest checkpoint's step, the event files.

Inside a replica it is the same either way: /dllab/code and /dllab/artifacts; a serving
replica finds its model version at /dllab/artifacts/<version>.
"""

from __future__ import annotations

import json
import shutil
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dllab.config import Settings
from dllab.errors import BadRequest, Unavailable
from dllab.jobs.checkpoints import newest_step
from dllab.jobs.events import Point, read_scalars
from dllab.protocol import Mount
from dllab.schemas.jobs import ARTIFACTS_PATH, CODE_PATH

# Inside a serving replica: the model's versions, one folder each (TF Serving's base path).
MODELS_PATH = ARTIFACTS_PATH


class ArtifactStore(Protocol):
    def location(self, job_id: str) -> str:
        """Where a job's artifacts are, for people: a folder or an s3:// URL."""

    def prepare(self, job_id: str) -> None:
        """Make room for a new job's artifacts."""

    def forget(self, job_id: str) -> None:
        """Remove what ``prepare`` made (a submission that did not go through)."""

    def replica(self, job_id: str, code: Path | None,
                read_only: bool = False) -> tuple[list[Mount], dict[str, str]]:
        """The mounts and env that give a unit the job's artifacts (and ``code``, a folder
        of the control plane's) at ARTIFACTS_PATH and CODE_PATH."""

    def keep_code(self, folder: Path, key: str) -> None:
        """Keep an uploaded code folder where replicas find it."""

    def newest_step(self, job_id: str) -> int | None:
        """The step of the job's newest checkpoint."""

    def scalars(self, job_id: str) -> dict[str, list[Point]]:
        """The scalars in the job's TensorBoard logs."""

    def fetch_job_output(self, job_id: str, path: str, into: Path) -> None:
        """Copy a folder of the job's output (a SavedModel) to ``into``, a local folder."""

    def model_location(self, model_id: str, version: int) -> str:
        """Where a model version is, for people."""

    def keep_model(self, folder: Path, model_id: str, version: int) -> None:
        """Keep a SavedModel folder as a model's version."""

    def forget_model(self, model_id: str, version: int | None = None) -> None:
        """Remove one version of a model, or all of them."""

    def model_replica(self, model_id: str, version: int) -> tuple[list[Mount], dict[str, str]]:
        """The mounts and env that put a model version at MODELS_PATH/<version> in a
        serving replica (TensorFlow Serving's layout)."""


def store(settings: Settings) -> ArtifactStore:
    return S3Store(settings) if settings.artifact_s3_url else LocalStore(settings)


class LocalStore:
    def __init__(self, settings: Settings) -> None:
        self.root = settings.artifacts_dir

    def folder(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def location(self, job_id: str) -> str:
        return str(self.folder(job_id))

    def prepare(self, job_id: str) -> None:
        """Checkpoints, logs and outputs, open to every user of the host: replicas run as
        the image's own user, whatever uid runs the control plane."""
        folder = self.folder(job_id)
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.parent.chmod(0o711)  # jobs' folders can be reached by id, not listed
        for name in ("checkpoints", "logs", "output"):
            (folder / name).mkdir(parents=True)
            (folder / name).chmod(0o777)

    def forget(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def replica(self, job_id: str, code: Path | None,
                read_only: bool = False) -> tuple[list[Mount], dict[str, str]]:
        mounts = [Mount(source=str(self.folder(job_id)), target=ARTIFACTS_PATH,
                        read_only=read_only)]
        if code is not None:
            mounts.append(Mount(source=str(code), target=CODE_PATH, read_only=True))
        return mounts, {}

    def keep_code(self, folder: Path, key: str) -> None:
        pass  # replicas mount it where it is

    def newest_step(self, job_id: str) -> int | None:
        return newest_step(self.folder(job_id) / "checkpoints")

    def scalars(self, job_id: str) -> dict[str, list[Point]]:
        return read_scalars(self.folder(job_id) / "logs")

    def fetch_job_output(self, job_id: str, path: str, into: Path) -> None:
        source = (self.folder(job_id) / "output" / path).resolve()
        if not source.is_relative_to((self.folder(job_id) / "output").resolve()):
            raise BadRequest(f"{path} leads out of the job's output folder",
                             reason="bad_model_path")
        if not source.is_dir():
            raise BadRequest(f"the job's output has no folder {path or '/'} "
                             f"({self.location(job_id)}/output)", reason="no_saved_model")
        shutil.copytree(source, into, symlinks=True, dirs_exist_ok=True)  # refused later

    def model_folder(self, model_id: str, version: int) -> Path:
        return self.root / "models" / model_id / str(version)

    def model_location(self, model_id: str, version: int) -> str:
        return str(self.model_folder(model_id, version))

    def keep_model(self, folder: Path, model_id: str, version: int) -> None:
        """Readable by every user of the host: replicas run as the image's own user."""
        target = self.model_folder(model_id, version)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{version}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(folder, partial, symlinks=False)
        for path in [partial, *partial.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        partial.replace(target)

    def forget_model(self, model_id: str, version: int | None = None) -> None:
        folder = self.root / "models" / model_id
        shutil.rmtree(folder if version is None else folder / str(version), ignore_errors=True)

    def model_replica(self, model_id: str, version: int) -> tuple[list[Mount], dict[str, str]]:
        return [Mount(source=str(self.model_folder(model_id, version)),
                      target=f"{MODELS_PATH}/{version}", read_only=True)], {}


class S3Store:
    def __init__(self, settings: Settings) -> None:
        assert settings.artifact_s3_url is not None
        bucket, _, prefix = settings.artifact_s3_url.removeprefix("s3://").partition("/")
        self.settings, self.bucket, self.prefix = settings, bucket, prefix.strip("/")
        self.cache = settings.artifacts_dir / "s3-cache"  # event files, read locally

    @cached_property
    def client(self) -> Any:
        """Made on first use: showing a job (its location) needs none."""
        return boto3.client(
            "s3", endpoint_url=self.settings.artifact_s3_endpoint or None,
            region_name=self.settings.artifact_s3_region or "us-east-1",
            aws_access_key_id=self.settings.artifact_s3_access_key,
            aws_secret_access_key=self.settings.artifact_s3_secret_key,
            config=Config(signature_version="s3v4", retries={"max_attempts": 3},
                          connect_timeout=5, read_timeout=30))

    def key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def location(self, job_id: str) -> str:
        return f"s3://{self.bucket}/{self.key('jobs', job_id)}/"

    def prepare(self, job_id: str) -> None:
        pass  # objects need no folders

    def forget(self, job_id: str) -> None:
        pass  # nothing was written

    def replica(self, job_id: str, code: Path | None,
                read_only: bool = False) -> tuple[list[Mount], dict[str, str]]:
        spec = self._spec(self.key("jobs", job_id))
        if code is not None:
            spec["code_prefix"] = self.key("code", code.parent.name, code.name)
        env = {"DLLAB_ARTIFACTS_S3": json.dumps(spec)}
        if read_only:
            env["DLLAB_ARTIFACTS_SYNC"] = "pull"
        return [], env

    def keep_code(self, folder: Path, key: str) -> None:
        try:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                self.client.upload_file(str(path), self.bucket,
                                        self.key("code", key, path.relative_to(folder)
                                                 .as_posix()))
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from exc

    def newest_step(self, job_id: str) -> int | None:
        folder = self.cache / job_id / "checkpoints"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            self.client.download_file(self.bucket, self.key("jobs", job_id, "checkpoints",
                                                            "checkpoint"),
                                      str(folder / "checkpoint"))
        except ClientError:
            return None  # none saved yet
        except BotoCoreError as exc:
            raise _unavailable(exc) from exc
        return newest_step(folder)

    def scalars(self, job_id: str) -> dict[str, list[Point]]:
        """Copy the event files that changed into the cache, then read them there."""
        folder = self.cache / job_id / "logs"
        root = self.key("jobs", job_id, "logs") + "/"
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=root):
                for obj in page.get("Contents", []):
                    relative = obj["Key"][len(root):]
                    path = (folder / relative).resolve()
                    if not relative or not path.is_relative_to(folder.resolve()):
                        continue
                    if path.is_file() and path.stat().st_size == obj["Size"]:
                        continue
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self.client.download_file(self.bucket, obj["Key"], str(path))
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from exc
        return read_scalars(folder)

    def _spec(self, prefix: str) -> dict[str, Any]:
        return {"endpoint": self.settings.artifact_s3_endpoint,
                "region": self.settings.artifact_s3_region, "bucket": self.bucket,
                "prefix": prefix, "access_key": self.settings.artifact_s3_access_key,
                "secret_key": self.settings.artifact_s3_secret_key}

    def fetch_job_output(self, job_id: str, path: str, into: Path) -> None:
        root = self.key("jobs", job_id, "output", path.strip("/")) + "/"
        count = 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=root):
                for obj in page.get("Contents", []):
                    target = (into / obj["Key"][len(root):]).resolve()
                    if obj["Key"].endswith("/") or not target.is_relative_to(into.resolve()):
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self.client.download_file(self.bucket, obj["Key"], str(target))
                    count += 1
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from exc
        if count == 0:
            raise BadRequest(f"the job's output has no folder {path or '/'} "
                             f"(s3://{self.bucket}/{root})", reason="no_saved_model")

    def model_location(self, model_id: str, version: int) -> str:
        return f"s3://{self.bucket}/{self.key('models', model_id, str(version))}/"

    def keep_model(self, folder: Path, model_id: str, version: int) -> None:
        try:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                self.client.upload_file(str(path), self.bucket, self.key(
                    "models", model_id, str(version), path.relative_to(folder).as_posix()))
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from exc

    def forget_model(self, model_id: str, version: int | None = None) -> None:
        root = self.key("models", model_id, *([] if version is None else [str(version)])) + "/"
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=root):
                keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
                if keys:
                    self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        except (BotoCoreError, ClientError) as exc:
            raise _unavailable(exc) from exc

    def model_replica(self, model_id: str, version: int) -> tuple[list[Mount], dict[str, str]]:
        """The replica pulls its version once at start (dllab-artifacts), then serves."""
        return [], {"DLLAB_ARTIFACTS_S3": json.dumps(self._spec(self.key("models", model_id))),
                    "DLLAB_ARTIFACTS_SYNC": "once", "DLLAB_ARTIFACTS_ONLY": str(version)}


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable("the S3 artifact store cannot be reached; try again shortly",
                       reason="artifact_store_unavailable", log=f"S3 artifact store: {exc!r}")
