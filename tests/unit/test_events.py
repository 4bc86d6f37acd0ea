"""Scalars read from real TensorBoard event files.

``data/events`` was written by TensorFlow 2.21 in the runtime image:
``tf.summary.scalar`` (TF2: a float32 "loss" and a float64 "accuracy" tensor at steps
10, 20, 30) and, in ``eval/``, ``tf.compat.v1.summary.FileWriter`` with a simple_value
(how TF1 and Keras 2 write), accuracy 0.5 at step 30.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dllab.jobs.events import read_scalars

DATA = Path(__file__).parent / "data" / "events"


def test_tf2_tensors_and_tf1_simple_values_are_read_by_tag_and_folder():
    scalars = read_scalars(DATA)
    assert set(scalars) == {"loss", "accuracy", "eval/accuracy"}
    assert [step for step, _ in scalars["loss"]] == [10, 20, 30]
    assert [v for _, v in scalars["loss"]] == pytest.approx([0.1, 0.05, 1 / 30])
    assert scalars["accuracy"] == [(10, 0.25), (20, 0.5), (30, 0.75)]
    assert scalars["eval/accuracy"] == [(30, 0.5)]


def test_a_file_cut_short_while_being_written_gives_what_is_whole(tmp_path):
    [source] = DATA.glob("events.out.tfevents.*")
    data = source.read_bytes()
    (tmp_path / source.name).write_bytes(data[:-10])  # the last record torn
    torn = read_scalars(tmp_path)
    assert torn["loss"][:2] == read_scalars(DATA)["loss"][:2]
    assert len(torn["loss"]) + len(torn["accuracy"]) == 5


def test_long_series_are_thinned_keeping_the_last_point(tmp_path):
    for name in ("a", "b"):
        shutil.copytree(DATA, tmp_path / name)
    assert read_scalars(tmp_path, most=2)["a/loss"] == [(10, pytest.approx(0.1)),
                                                       (30, pytest.approx(1 / 30))]
    assert read_scalars(tmp_path / "nothing") == {}
