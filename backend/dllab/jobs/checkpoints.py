"""The step a job resumes from: read from its newest checkpoint's name.

``tf.train.CheckpointManager`` records the newest checkpoint in a ``checkpoint`` file
(``model_checkpoint_path: "ckpt-1200"``); saved with ``checkpoint_number=step``, as the
examples do, the number is the training step.
"""

from __future__ import annotations

import re
from pathlib import Path

_NEWEST = re.compile(r'^model_checkpoint_path:\s*"(?:.*/)?[^"/]*?-(\d+)"\s*$', re.MULTILINE)


def newest_step(directory: Path) -> int | None:
    try:
        text = (directory / "checkpoint").read_text(errors="replace")
    except OSError:
        return None
    match = _NEWEST.search(text)
    return int(match.group(1)) if match else None
