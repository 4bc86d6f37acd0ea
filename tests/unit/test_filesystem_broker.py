"""The embedded broker's transport: a message appears in the queue folder only whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from celery import Celery

from dllab import protocol


def test_a_message_appears_only_once_written_whole(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch):
    app = Celery("test")
    app.conf.update(protocol.celery_config(f"filesystem://{tmp_path}"))
    queue = tmp_path / "queue"
    seen_before_rename: list[list[str]] = []
    replace = os.replace

    def watching(src: str, dst: str) -> None:
        seen_before_rename.append(sorted(p.name for p in queue.glob("*.msg")))
        assert Path(src).read_bytes(), "renamed before it was written"
        replace(src, dst)

    monkeypatch.setattr(os, "replace", watching)
    app.send_task(protocol.TASK_STOP_UNIT, args=["u-1"], queue=protocol.host_queue("gpu-1"))
    assert seen_before_rename == [[]]  # nothing a reader could take early
    [message] = queue.glob("*.msg")
    assert message.name.endswith(".host.gpu-1.msg")
    assert b"u-1" in message.read_bytes()
    assert not list(queue.glob(".*"))  # no partial file left behind
