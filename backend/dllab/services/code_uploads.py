"""Job code uploaded as a .tar.gz: checked, unpacked once under the artifact root in
``code/<owner id>/<upload id>/`` (and copied to the S3 store when there is one), and given
read-only to every replica of the jobs that name it. An archive that is not a gzipped tar,
holds links, devices or paths leading out of its folder, or unpacks to more than
``MAX_UNPACKED`` bytes is refused whole.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import uuid
from pathlib import Path

from dllab.config import Settings
from dllab.db.models import User
from dllab.errors import BadRequest
from dllab.schemas.jobs import CodeUpload
from dllab.services import artifacts

MAX_UPLOAD = 256 * 1024 * 1024  # bytes, compressed
MAX_UNPACKED = 2 * 1024 * 1024 * 1024
MAX_FILES = 50_000


def _owner_dir(settings: Settings, owner: User) -> Path:
    return settings.artifacts_dir / "code" / str(owner.id)


def folder(settings: Settings, owner: User, upload_id: str) -> Path:
    path = _owner_dir(settings, owner) / upload_id
    if not path.is_dir():
        raise BadRequest(f"no code upload {upload_id} of yours (POST /api/v1/jobs/code)",
                         reason="unknown_code_upload")
    return path


def store(settings: Settings, owner: User, archive: Path) -> CodeUpload:
    """Check and unpack ``archive``; nothing is kept when it is refused."""
    members = check_archive(archive, "the code")
    upload_id = uuid.uuid4().hex
    parent = _owner_dir(settings, owner)
    parent.mkdir(parents=True, exist_ok=True)
    for level in (parent.parent, parent):
        level.chmod(0o711)  # reached by id, not listed
    partial = parent / f".{upload_id}.partial"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(partial, filter="data")
        for root, dirs, files in os.walk(partial):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
            for name in files:
                path = os.path.join(root, name)
                os.chmod(path, os.stat(path).st_mode & 0o777 | 0o444)
        partial.chmod(0o755)
        artifacts.store(settings).keep_code(partial, f"{owner.id}/{upload_id}")
        partial.replace(parent / upload_id)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return CodeUpload(id=upload_id, files=sum(m.isfile() for m in members),
                      bytes=sum(m.size for m in members if m.isfile()))


def check_archive(archive: Path, what: str) -> list[tarfile.TarInfo]:
    """Refuse an archive that is not a gzipped tar of files and folders within its own
    folder, or unpacks too big (``what`` it holds names it in the errors)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BadRequest(f"{what} must be a .tar.gz archive: {exc}",
                         reason="bad_archive") from exc
    if len(members) > MAX_FILES:
        raise BadRequest(f"the archive holds {len(members)} entries; at most {MAX_FILES}",
                         reason="bad_archive")
    for member in members:
        name = member.name
        parts = Path(name).parts
        if name.startswith("/") or ".." in parts:
            raise BadRequest(f"{name!r} in the archive leads out of its folder",
                             reason="bad_archive")
        if not (member.isfile() or member.isdir()):
            raise BadRequest(f"{name!r} in the archive is a link or a special file; only "
                             "files and folders may be uploaded", reason="bad_archive")
    size = sum(m.size for m in members if m.isfile())
    if size > MAX_UNPACKED:
        raise BadRequest(f"the archive unpacks to {size} bytes; at most {MAX_UNPACKED}",
                         reason="bad_archive")
    return members
