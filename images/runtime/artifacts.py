#!/opt/dllab/bin/python
"""dllab-artifacts: keep a job replica's artifacts in step with the S3 artifact store.

DLLAB_ARTIFACTS_S3 is JSON: {endpoint, region, bucket, prefix, code_prefix, access_key,
secret_key}. ``prefix`` holds the job's checkpoints/, logs/ and output/, mirrored in
/dllab/artifacts; ``code_prefix`` (optional) the job's code, copied to /dllab/code.

    dllab-artifacts pull [--every S] [--only DIR]    S3 -> local (TensorBoard follows logs;
                                                     a service replica pulls its model
                                                     version's folder)
    dllab-artifacts push [--every S]                 local -> S3, what changed since synced

What was last pulled or pushed is remembered (size and modification time) in
/dllab/.artifacts-synced.json: a push sends only files written since, so replicas that
only read (workers keep their checkpoints elsewhere) send nothing. Each file is sent from
a copy, so that one still being written goes whole as it was. TensorFlow's
``checkpoint`` index files go last in each push, after the files they name, so whoever
pulls never finds an index pointing at a checkpoint not yet there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ARTIFACTS = Path("/dllab/artifacts")
CODE = Path("/dllab/code")
SYNCED = Path("/dllab/.artifacts-synced.json")


def client(spec: dict):
    return boto3.client(
        "s3", endpoint_url=spec.get("endpoint") or None,
        region_name=spec.get("region") or "us-east-1",
        aws_access_key_id=spec["access_key"], aws_secret_access_key=spec["secret_key"],
        config=Config(signature_version="s3v4", retries={"max_attempts": 5}))


def load_synced() -> dict[str, list[float]]:
    try:
        return json.loads(SYNCED.read_text())
    except (OSError, ValueError):
        return {}


def save_synced(synced: dict[str, list[float]]) -> None:
    partial = SYNCED.with_name(f".{SYNCED.name}.partial")
    partial.write_text(json.dumps(synced))
    partial.replace(SYNCED)


def stamp(path: Path) -> list[float]:
    info = path.stat()
    return [info.st_size, info.st_mtime]


def pull(s3, spec: dict, prefix: str, target: Path, synced: dict | None, only: str | None) -> int:
    """Copy the objects under ``prefix`` that differ from what is here; return how many."""
    root = prefix.rstrip("/") + "/"
    copied = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=spec["bucket"],
                                                             Prefix=root):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(root):]
            if not relative or relative.endswith("/") or (only and not relative.startswith(
                    only.rstrip("/") + "/")):
                continue
            path = target / relative
            if not path.resolve().is_relative_to(target.resolve()):
                raise ValueError(f"object key {obj['Key']!r} leads out of {target}")
            modified = obj["LastModified"].timestamp()
            if path.is_file() and path.stat().st_size == obj["Size"] \
                    and path.stat().st_mtime >= modified:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            s3.download_file(spec["bucket"], obj["Key"], str(partial))
            partial.replace(path)
            os.utime(path, (modified, modified))
            if synced is not None:
                synced[relative] = stamp(path)
            copied += 1
    return copied


def push(s3, spec: dict, synced: dict) -> int:
    """Send what changed under /dllab/artifacts since it was last synced."""
    changed = []
    for path in sorted(ARTIFACTS.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            relative = path.relative_to(ARTIFACTS).as_posix()
            if synced.get(relative) != stamp(path):
                changed.append((path.name == "checkpoint", relative, path))
    for _, relative, path in sorted(changed):  # index files last
        before = stamp(path)
        # Sent from a copy: a file that grows while it is sent (an event file) would not
        # match the length announced, and the server would wait for the rest for good.
        with tempfile.NamedTemporaryFile(dir=SYNCED.parent, prefix=".push-") as snapshot:
            with path.open("rb") as source:
                shutil.copyfileobj(source, snapshot)
            snapshot.flush()
            s3.upload_file(snapshot.name, spec["bucket"],
                           f"{spec['prefix'].rstrip('/')}/{relative}")
        synced[relative] = before
    return len(changed)


def main() -> int:
    parser = argparse.ArgumentParser(prog="dllab-artifacts")
    parser.add_argument("command", choices=["pull", "push"])
    parser.add_argument("--every", type=float, default=0, help="repeat every S seconds")
    parser.add_argument("--only", default=None,
                        help="pull only this folder (logs, a model version)")
    args = parser.parse_args()
    spec = json.loads(os.environ["DLLAB_ARTIFACTS_S3"])
    s3 = client(spec)
    where = f"s3://{spec['bucket']}/{spec['prefix']}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            synced = load_synced()
            if args.command == "pull":
                count = pull(s3, spec, spec["prefix"], ARTIFACTS, synced, args.only)
                if spec.get("code_prefix") and not args.only:
                    code = pull(s3, spec, spec["code_prefix"], CODE, None, None)
                    print(f"dllab-artifacts: code from s3://{spec['bucket']}/"
                          f"{spec['code_prefix']}: {code} files", flush=True)
            else:
                count = push(s3, spec, synced)
            save_synced(synced)
            if count or not args.every:
                verb = "pulled from" if args.command == "pull" else "pushed to"
                print(f"dllab-artifacts: {count} files {verb} {where}", flush=True)
        except (BotoCoreError, ClientError, OSError) as exc:
            print(f"dllab-artifacts: {args.command} {where} failed: {exc}", file=sys.stderr,
                  flush=True)
            if not args.every:
                return 3
        if not args.every:
            return 0
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
