"""Scalars (loss, accuracy, ...) read from TensorBoard event files, for the job page's
charts, without TensorFlow or TensorBoard in the control plane.

An event file is a sequence of TFRecords (``uint64 length, uint32 crc, data, uint32 crc``)
whose data is an ``Event`` protocol buffer. The fields read here:

    Event:       wall_time = 1 (double), step = 2 (int64), summary = 5 (Summary)
    Summary:     value = 1 (repeated Value)
    Value:       tag = 1 (string), simple_value = 2 (float), tensor = 8 (TensorProto)
    TensorProto: dtype = 1, tensor_content = 4 (bytes), float_val = 5, double_val = 6

TF2's ``tf.summary.scalar`` writes a scalar tensor; TF1 and Keras 2 write simple_value.
A record cut short (a file being written) ends the reading of that file. CRCs are not
checked: a torn write shows as a short record, and a chart tolerates the rest.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

Point = tuple[int, float]  # (step, value)

_DT_FLOAT, _DT_DOUBLE = 1, 2


def read_scalars(directory: Path, most: int = 500) -> dict[str, list[Point]]:
    """Every scalar series under ``directory`` by tag, in step order; the tags of event
    files in a subfolder are prefixed with it ("eval/accuracy"). At most ``most`` points
    a series, evenly thinned, the last one kept."""
    series: dict[str, dict[int, float]] = {}
    for path in sorted(directory.rglob("events.out.tfevents.*")):
        folder = path.parent.relative_to(directory).as_posix()
        prefix = "" if folder == "." else f"{folder}/"
        for step, tag, value in _scalars(path):
            series.setdefault(prefix + tag, {})[step] = value
    return {tag: _thin(sorted(points.items()), most) for tag, points in sorted(series.items())}


def _thin(points: list[Point], most: int) -> list[Point]:
    if len(points) <= most:
        return points
    stride = len(points) / (most - 1)
    return [points[int(i * stride)] for i in range(most - 1)] + [points[-1]]


def _records(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while len(header := file.read(12)) == 12:
            (length,) = struct.unpack("<Q", header[:8])
            data = file.read(length)
            if len(data) < length or len(file.read(4)) < 4:
                return
            yield data


def _scalars(path: Path) -> Iterator[tuple[int, str, float]]:
    for record in _records(path):
        step, summary = 0, None
        for number, value in _fields(record):
            if number == 2 and isinstance(value, int):
                step = value
            elif number == 5 and isinstance(value, bytes):
                summary = value
        if summary is None:
            continue
        for number, value in _fields(summary):
            if number == 1 and isinstance(value, bytes):
                found = _scalar_value(value)
                if found is not None:
                    yield step, found[0], found[1]


def _scalar_value(value: bytes) -> tuple[str, float] | None:
    tag, number_found = None, None
    for number, field in _fields(value):
        if number == 1 and isinstance(field, bytes):
            tag = field.decode("utf-8", "replace")
        elif number == 2 and isinstance(field, float):
            number_found = field
        elif number == 8 and isinstance(field, bytes):
            number_found = _tensor_scalar(field)
    return (tag, number_found) if tag is not None and number_found is not None else None


def _tensor_scalar(tensor: bytes) -> float | None:
    dtype, content, values = None, None, []
    for number, field in _fields(tensor):
        if number == 1 and isinstance(field, int):
            dtype = field
        elif number == 4 and isinstance(field, bytes):
            content = field
        elif number == 5:  # float_val: packed (bytes) or one fixed32 (float)
            values += (list(struct.unpack(f"<{len(field) // 4}f", field))
                       if isinstance(field, bytes) else [field])
        elif number == 6:
            values += (list(struct.unpack(f"<{len(field) // 8}d", field))
                       if isinstance(field, bytes) else [field])
    if values:
        return float(values[0])
    if content and dtype == _DT_FLOAT and len(content) == 4:
        return float(struct.unpack("<f", content)[0])
    if content and dtype == _DT_DOUBLE and len(content) == 8:
        return float(struct.unpack("<d", content)[0])
    return None


def _fields(data: bytes) -> Iterator[tuple[int, int | float | bytes]]:
    """(field number, value) of a protocol buffer message: varints as int, fixed64 as a
    double, fixed32 as a float, length-delimited as bytes."""
    at, end = 0, len(data)
    while at < end:
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 1:
            yield number, struct.unpack_from("<d", data, at)[0]
            at += 8
        elif wire == 2:
            length, at = _varint(data, at)
            yield number, data[at:at + length]
            at += length
        elif wire == 5:
            yield number, struct.unpack_from("<f", data, at)[0]
            at += 4
        else:
            return  # groups (3, 4) are not used by these messages


def _varint(data: bytes, at: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7
