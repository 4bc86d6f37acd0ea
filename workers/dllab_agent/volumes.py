"""What a unit may mount from this host.

Host paths: only those under the roots this host's admin allowed (``dllab agent
--volume-root``). The agent checks every start itself, whatever the command says, so a
forged or mistaken command cannot reach the rest of the host.

Workspaces: folders the agent makes under its workspace root (``--workspace-root``; put it
on shared storage such as NFS and an environment keeps its files on whichever host it
starts next).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from dllab.protocol import WORKSPACE_UID, Mount, UnitSpec


def refused_mount(spec: UnitSpec, roots: Iterable[Path]) -> str | None:
    """Why one of the unit's mounts may not be made, or None when all may. A source that is
    not a path names an engine-managed volume (docker) and is allowed."""
    allowed = [os.path.realpath(root) for root in roots]
    for mount in spec.mounts:
        if not mount.source.startswith("/"):
            continue
        # Resolved, so that neither '..' nor a symlink leads out of a root.
        real = os.path.realpath(mount.source)
        if not any(real == root or real.startswith(root.rstrip("/") + "/") for root in allowed):
            where = ", ".join(allowed) if allowed else "none: start the agent with --volume-root"
            return f"mount {mount.source} is outside this host's volume roots ({where})"
    return None


def with_workspace(spec: UnitSpec, root: Path) -> UnitSpec:
    """``spec`` with its workspace (if any) made under ``root`` and added as a mount. The
    folder is given to WORKSPACE_UID where the agent may (as root), so that ``dev`` in the
    runtime image can write to it."""
    if spec.workspace is None:
        return spec
    path = root / spec.workspace.id
    if not path.exists():
        path.mkdir(parents=True, mode=0o750)
        if os.geteuid() == 0:
            os.chown(path, WORKSPACE_UID, WORKSPACE_UID)
    mounts = [*spec.mounts, Mount(source=str(path.resolve()), target=spec.workspace.target)]
    return spec.model_copy(update={"mounts": mounts, "workspace": None})


def remove_workspace(root: Path, workspace_id: str) -> bool:
    """Remove a workspace and all it holds; False when there was none."""
    if not re.fullmatch(r"[0-9a-f]{32}", workspace_id):  # never a path out of the root
        raise ValueError(f"not a workspace id: {workspace_id!r}")
    path = root / workspace_id
    if not path.exists():
        return False
    shutil.rmtree(path)
    return True
