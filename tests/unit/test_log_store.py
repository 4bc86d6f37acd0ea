"""``dllab.services.logs.LogStore``: numbered batches stored once, tails, and following."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from dllab.services.logs import LogStore

UNIT = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def store(tmp_path) -> LogStore:
    return LogStore(tmp_path / "logs" / "units")


def test_directory_is_created(tmp_path):
    LogStore(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()


@pytest.mark.parametrize("batches, expected", [
    # (offset, lines) sent in turn; the stored count after each; then the stored lines.
    ([(0, ["a", "b"])], ([2], ["a", "b"])),
    ([(0, ["a", "b"]), (2, ["c"])], ([2, 3], ["a", "b", "c"])),
    # The same batch twice (an agent that restarted) is stored once.
    ([(0, ["a", "b"]), (0, ["a", "b"])], ([2, 2], ["a", "b"])),
    # Overlapping: only the part past what is stored is kept.
    ([(0, ["a", "b"]), (1, ["b", "c", "d"])], ([2, 4], ["a", "b", "c", "d"])),
    # A batch entirely behind what is stored changes nothing.
    ([(0, ["a", "b", "c"]), (1, ["b"])], ([3, 3], ["a", "b", "c"])),
    # A gap is refused: nothing kept, and the count says where to resume.
    ([(0, ["a"]), (3, ["d", "e"])], ([1, 1], ["a"])),
    ([(2, ["c"])], ([0], [])),
    # An empty batch only asks where to resume.
    ([(0, [])], ([0], [])),
    ([(0, ["a"]), (1, [])], ([1, 1], ["a"])),
])
def test_append(store, batches, expected):
    count, stored = 0, []
    for offset, lines in batches:
        count = store.append(UNIT, count, offset, lines)
        stored.append(count)
    assert (stored, store.read(UNIT)) == expected


def test_a_line_with_newlines_stays_one_line(store):
    assert store.append(UNIT, 0, 0, ["one\ntwo", "three"]) == 2
    assert store.read(UNIT) == ["one two", "three"]
    assert store.read(UNIT, tail=1) == ["three"]


@pytest.mark.parametrize("separator", ["\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"])
def test_a_line_with_other_line_breaks_stays_one_line(store, separator):
    """Progress bars write ``\\r``; ``str.splitlines`` also splits on ``\\x0b``, ``\\x85``,
    ``\\u2028``... Each stored line must be read back as one line, or tails and counts
    disagree with the agent's offsets."""
    assert store.append(UNIT, 0, 0, [f"10%{separator}100%", "done"]) == 2
    lines = store.read(UNIT)
    assert len(lines) == 2
    assert lines[1] == "done"
    assert store.read(UNIT, tail=2) == lines


def test_unicode_round_trips(store):
    store.append(UNIT, 0, 0, ["Ünïcødé ✓", "日本語"])
    assert store.read(UNIT) == ["Ünïcødé ✓", "日本語"]


@pytest.mark.parametrize("tail, expected", [
    (None, ["l0", "l1", "l2", "l3", "l4"]),
    (1, ["l4"]),
    (2, ["l3", "l4"]),
    (5, ["l0", "l1", "l2", "l3", "l4"]),
    (50, ["l0", "l1", "l2", "l3", "l4"]),
])
def test_read_tail(store, tail, expected):
    store.append(UNIT, 0, 0, [f"l{i}" for i in range(5)])
    assert store.read(UNIT, tail) == expected


def test_read_upto_bytes(store):
    store.append(UNIT, 0, 0, ["abc", "def"])
    assert store.read(UNIT, upto=4) == ["abc"]


def test_unknown_unit_has_no_lines(store):
    assert store.read("f" * 32) == []
    assert store.read("f" * 32, tail=3) == []


def test_units_are_kept_apart(store):
    store.append(UNIT, 0, 0, ["mine"])
    store.append("f" * 32, 0, 0, ["theirs"])
    assert store.read(UNIT) == ["mine"]
    assert store.path(UNIT) != store.path("f" * 32)


# follow: the stored lines, then new ones, until the unit has ended.


def collect(store: LogStore, tail: int | None,
            rounds: list[Callable[[], bool]]) -> tuple[list[str], int]:
    """Follow the unit; the n-th poll of "still running?" runs ``rounds[n]`` (which may
    append lines) and answers its result. Returns the lines yielded and the polls made."""
    polls = 0

    async def still_running() -> bool:
        nonlocal polls
        polls += 1
        assert polls <= len(rounds), "follow kept polling after the unit ended"
        return rounds[polls - 1]()

    async def run() -> list[str]:
        return [line async for line in store.follow(UNIT, tail, still_running)]

    return asyncio.run(run()), polls


def test_follow_yields_stored_then_new_lines_until_the_unit_ends(store):
    store.append(UNIT, 0, 0, ["a", "b", "c"])

    def more() -> bool:
        store.append(UNIT, 3, 3, ["d", "e"])
        return True

    lines, polls = collect(store, 2, [more, lambda: False])
    assert lines == ["b\n", "c\n", "d\n", "e\n"]
    assert polls == 2


def test_follow_of_an_ended_unit_ends_at_once(store):
    store.append(UNIT, 0, 0, ["a"])
    assert collect(store, None, [lambda: False]) == (["a\n"], 1)


def test_follow_keeps_lines_written_just_before_the_end(store):
    def last_words() -> bool:
        store.append(UNIT, 0, 0, ["bye"])
        return False  # ended, but its last lines arrived meanwhile

    lines, _ = collect(store, None, [last_words, lambda: False])
    assert lines == ["bye\n"]


def test_follow_waits_for_a_half_written_line(store):
    def half() -> bool:
        with store.path(UNIT).open("a") as f:
            f.write("par")
        return True

    def rest() -> bool:
        with store.path(UNIT).open("a") as f:
            f.write("tial\n")
        return False

    lines, _ = collect(store, None, [half, rest, lambda: False])
    assert lines == ["partial\n"]


def test_follow_yields_each_stored_line_once_with_carriage_returns(store):
    def progress() -> bool:
        store.append(UNIT, 0, 0, ["10%\r100%"])
        return False

    lines, _ = collect(store, None, [progress, lambda: False])
    assert len(lines) == 1 and lines[0].endswith("100%\n")
