#!/opt/dllab/bin/python
"""dllab-s3-copy: copy an environment's S3 volumes in before JupyterLab starts.

DLLAB_S3_VOLUMES is a JSON list of {endpoint, region, bucket, prefix, mount_path,
read_only, access_key, secret_key}. Each prefix is copied under its mount_path, with
progress lines on the unit's log. Files already there with the same size, and not older
than the object, are kept: a restarted environment copies only what changed. Exits 3,
saying why, when a copy fails.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

MB = 1024 * 1024


def copy(volume: dict) -> None:
    where = f"s3://{volume['bucket']}/{volume['prefix']}"
    client = boto3.client(
        "s3", endpoint_url=volume.get("endpoint") or None,
        region_name=volume.get("region") or "us-east-1",
        aws_access_key_id=volume["access_key"], aws_secret_access_key=volume["secret_key"],
        config=Config(signature_version="s3v4", retries={"max_attempts": 5}))
    objects = []
    for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=volume["bucket"], Prefix=volume["prefix"]):
        objects += [o for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    total = sum(o["Size"] for o in objects)
    target = Path(volume["mount_path"])
    target.mkdir(parents=True, exist_ok=True)
    print(f"s3 copy {where} -> {target}: {len(objects)} files, {total / MB:.1f} MB", flush=True)
    done = copied = 0
    last = time.monotonic()
    for n, obj in enumerate(objects, 1):
        relative = obj["Key"][len(volume["prefix"]):].lstrip("/")
        path = target / relative
        if not path.resolve().is_relative_to(target.resolve()):
            raise ValueError(f"object key {obj['Key']!r} leads out of {target}")
        modified = obj["LastModified"].timestamp()
        if not (path.is_file() and path.stat().st_size == obj["Size"]
                and path.stat().st_mtime >= modified):
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            client.download_file(volume["bucket"], obj["Key"], str(partial))
            partial.replace(path)
            os.utime(path, (modified, modified))
            copied += 1
        done += obj["Size"]
        if time.monotonic() - last > 2 or n == len(objects):
            print(f"s3 copy {where}: {n}/{len(objects)} files, {done / MB:.1f}/{total / MB:.1f} "
                  f"MB ({copied} copied, {n - copied} unchanged)", flush=True)
            last = time.monotonic()
    if volume.get("read_only"):
        for path in [target, *target.rglob("*")]:
            mode = path.stat().st_mode
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def main() -> None:
    for volume in json.loads(os.environ["DLLAB_S3_VOLUMES"]):
        try:
            copy(volume)
        except (BotoCoreError, ClientError, OSError, ValueError) as exc:
            print(f"s3 copy of s3://{volume['bucket']}/{volume['prefix']} failed: {exc}",
                  file=sys.stderr, flush=True)
            sys.exit(3)


if __name__ == "__main__":
    main()
