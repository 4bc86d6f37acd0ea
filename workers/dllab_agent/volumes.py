"""Which host paths a unit may mount: only those under the roots this host's admin allowed
(``dllab agent --volume-root``). The agent checks every start itself, whatever the command
says, so a forged or mistaken command cannot reach the rest of the host."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dllab.protocol import UnitSpec


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
