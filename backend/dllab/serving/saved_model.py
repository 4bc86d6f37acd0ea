"""A SavedModel's signatures (input and output names, dtypes, shapes), read from its
``saved_model.pb`` without TensorFlow, as a model version is registered.

``saved_model.pb`` is a ``SavedModel`` protocol buffer. The fields read here, from
tensorflow/core/protobuf/saved_model.proto and meta_graph.proto, and
tensorflow/core/framework/tensor_shape.proto and types.proto:

    SavedModel:       meta_graphs = 2 (repeated MetaGraphDef)
    MetaGraphDef:     meta_info_def = 1, signature_def = 5 (map<string, SignatureDef>)
    MetaInfoDef:      tags = 4 (repeated string)
    SignatureDef:     inputs = 1, outputs = 2 (map<string, TensorInfo>), method_name = 3
    TensorInfo:       dtype = 2 (DataType), tensor_shape = 3, and one encoding of
                      name = 1 (dense), coo_sparse = 4 (CooSparse), composite_tensor = 5
    CooSparse:        values_tensor_name = 1
    TensorShapeProto: dim = 2 (repeated Dim), unknown_rank = 3 (bool)
    Dim:              size = 1 (int64, -1 when unknown)

A map is a repeated message of entries ``{key = 1, value = 2}``. Everything else (the
graph and its functions: nearly all of the file) is skipped by its length, not decoded.
A field whose wire type is not the one expected counts as an unknown field, as protobuf
itself does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

MAX_BYTES = 1 << 30  # protobuf's own limit is 2 GiB; real signatures files are far smaller

# DataType numbers 0..33 (types.proto) by the name TensorFlow's Python API gives them;
# the reference types are these plus 100.
_DTYPES = (
    "invalid", "float32", "float64", "int32", "uint8", "int16", "int8", "string", "complex64",
    "int64", "bool", "qint8", "quint8", "qint32", "bfloat16", "qint16", "quint16", "uint16",
    "complex128", "float16", "resource", "variant", "uint32", "uint64", "float8_e5m2",
    "float8_e4m3fn", "float8_e4m3fnuz", "float8_e4m3b11fnuz", "float8_e5m2fnuz", "int4",
    "uint4", "int2", "uint2", "float4_e2m1fn")
_REFERENCE = 100

_VARINT, _FIXED64, _LENGTH, _START_GROUP, _END_GROUP, _FIXED32 = range(6)
_MASK64 = (1 << 64) - 1
_KERAS_FILES = {".keras", ".h5", ".hdf5"}

Fields = dict[int, list[int | memoryview]]


class SavedModelError(ValueError):
    """The folder or its saved_model.pb is not a servable SavedModel; the message says why
    and what to do about it."""


def read_signatures(folder: Path) -> dict[str, dict]:
    """The signatures of the meta graph tagged "serve" of the SavedModel in ``folder``."""
    try:
        pb = _read(_saved_model_pb(folder))
    except OSError as error:
        raise SavedModelError(f"cannot read {error.filename or folder}: "
                              f"{error.strerror}") from error
    return parse_signatures(pb)


def parse_signatures(pb: bytes, tags: str = "serve") -> dict[str, dict]:
    """The signatures, by name, of the meta graph of ``pb`` (a saved_model.pb's bytes)
    whose tag set is ``tags`` (comma-separated, as TF Serving's and saved_model_cli's tag
    sets: the same tags, in any order), the first such as TF Serving takes; those whose
    name starts with "__" (TF2's ``__saved_model_init_op``) left out::

        {"serving_default": {"method_name": "tensorflow/serving/predict",
            "inputs": {"x": {"dtype": "float32", "shape": [-1, 64],
                             "tensor": "serving_default_x:0"}},
            "outputs": {...}}}

    ``shape`` is None for an unknown rank, a size -1 for an unknown dimension. A sparse or
    composite tensor has an ``encoding`` ("coo_sparse", "composite") too, and the name of
    its values tensor or None as ``tensor``.
    """
    wanted = frozenset(tag.strip() for tag in tags.split(",") if tag.strip())
    meta_graphs = [_meta_graph(view) for view in _messages(_fields(memoryview(pb)), 2)]
    if not meta_graphs:
        raise SavedModelError("saved_model.pb holds no meta graph: it is not a SavedModel's")
    found = [fields for fields, tag_set in meta_graphs if frozenset(tag_set) == wanted]
    named = ", ".join(sorted(wanted))
    if not found:
        there = "; ".join(", ".join(tag_set) or "(no tags)" for _, tag_set in meta_graphs)
        raise SavedModelError(
            f"saved_model.pb has no meta graph tagged {named!r}, only ones tagged: {there}. "
            "TF Serving loads the one tagged 'serve', as tf.saved_model.save tags it")
    signatures = {name: _signature(value) for name, value in _map(found[0], 5)
                  if not name.startswith("__")}
    if not signatures:
        raise SavedModelError(
            f"the meta graph tagged {named!r} has no signatures, so there is nothing to "
            "serve: export with signatures, e.g. tf.saved_model.save(model, path, "
            "signatures=model.serve.get_concrete_function(tf.TensorSpec(...)))")
    return dict(sorted(signatures.items()))


def _read(path: Path) -> bytes:
    # The size first, for a clear message; then a bounded read, for a file that grows or
    # is not a regular file after all.
    if (size := path.stat().st_size) > MAX_BYTES:
        raise SavedModelError(f"{path} is {size / (1 << 30):.1f} GiB, over the "
                              f"{MAX_BYTES >> 30} GiB a SavedModel's saved_model.pb may be")
    with path.open("rb") as file:
        pb = file.read(MAX_BYTES + 1)
    if len(pb) > MAX_BYTES:
        raise SavedModelError(f"{path} is over the {MAX_BYTES >> 30} GiB a SavedModel's "
                              "saved_model.pb may be")
    return pb


def _saved_model_pb(folder: Path) -> Path:
    if folder.is_file():
        raise SavedModelError(_keras_hint(folder, f"{folder} is a file, not a SavedModel folder"))
    if not folder.is_dir():
        raise SavedModelError(f"{folder} does not exist or is not a folder")
    path = folder / "saved_model.pb"
    if path.is_file():
        return path
    raise SavedModelError(_missing_pb(folder))


def _missing_pb(folder: Path) -> str:
    entries = sorted(folder.iterdir())
    message = f"{folder} has no saved_model.pb, so it is not a SavedModel folder"
    versions = sorted(int(entry.name) for entry in entries
                      if entry.is_dir() and entry.name.isascii() and entry.name.isdigit())
    if versions:
        listed = ", ".join(map(str, versions))
        return (f"{message}: it looks like a TF Serving base folder, whose subfolders "
                f"({listed}) are the versions; register one version's folder, "
                f"e.g. {folder / str(versions[-1])}")
    if (folder / "saved_model.pbtxt").is_file():
        return (f"{message}: its saved_model.pbtxt is the text format, which is not read; "
                "save in the binary format (tf.saved_model.save's)")
    keras = [entry for entry in entries if entry.suffix.lower() in _KERAS_FILES]
    return _keras_hint(keras[0], message) if keras else message


def _keras_hint(path: Path, message: str) -> str:
    if path.suffix.lower() not in _KERAS_FILES:
        return message
    return (f"{message}: {path.name} is a Keras file, which TF Serving does not load; export "
            "a SavedModel with model.export(folder) (Keras 3) or tf.saved_model.save(model, "
            "folder)")


def _meta_graph(view: memoryview) -> tuple[Fields, list[str]]:
    fields = _fields(view)
    info = _fields(_message(fields, 1))
    return fields, [_text(tag) for tag in _messages(info, 4)]


def _signature(view: memoryview) -> dict:
    fields = _fields(view)
    return {"method_name": _string(fields, 3),
            "inputs": dict(sorted((key, _tensor_info(value)) for key, value in _map(fields, 1))),
            "outputs": dict(sorted((key, _tensor_info(value))
                                   for key, value in _map(fields, 2)))}


def _tensor_info(view: memoryview) -> dict:
    fields = _fields(view)
    info = {"dtype": _dtype(_integer(fields, 2)), "shape": _shape(_message(fields, 3)),
            "tensor": _string(fields, 1) if 1 in fields else None}
    if 4 in fields:
        info["encoding"] = "coo_sparse"
        info["tensor"] = _string(_fields(_message(fields, 4)), 1)
    elif 5 in fields:
        info["encoding"] = "composite"
    return info


def _dtype(number: int) -> str:
    if number < len(_DTYPES):
        return _DTYPES[number]
    if 0 < number - _REFERENCE < len(_DTYPES):
        return f"{_DTYPES[number - _REFERENCE]}_ref"
    return f"unknown_{number}"


def _shape(view: memoryview) -> list[int] | None:
    fields = _fields(view)
    if _integer(fields, 3):
        return None
    return [_signed(_integer(_fields(dim), 1)) for dim in _messages(fields, 2)]


def _signed(number: int) -> int:
    return number - (1 << 64) if number >> 63 else number


def _map(fields: Fields, number: int) -> Iterator[tuple[str, memoryview]]:
    """A map field's entries, in file order (a repeated key: the last one counts)."""
    for entry in _messages(fields, number):
        entry_fields = _fields(entry)
        yield _string(entry_fields, 1), _message(entry_fields, 2)


def _messages(fields: Fields, number: int) -> list[memoryview]:
    return [value for value in fields.get(number, ()) if isinstance(value, memoryview)]


def _message(fields: Fields, number: int) -> memoryview:
    """A message field; several occurrences merge, as protobuf merges them: parsing their
    concatenation is merging."""
    parts = _messages(fields, number)
    return parts[0] if len(parts) == 1 else memoryview(b"".join(parts))


def _string(fields: Fields, number: int) -> str:
    parts = _messages(fields, number)
    return _text(parts[-1]) if parts else ""


def _integer(fields: Fields, number: int) -> int:
    values = [value for value in fields.get(number, ()) if isinstance(value, int)]
    return values[-1] if values else 0


def _text(view: memoryview) -> str:
    try:
        return str(view, "utf-8")
    except UnicodeDecodeError as error:
        raise _corrupt("a name is not UTF-8") from error


def _fields(view: memoryview) -> Fields:
    """A message's fields by number, in file order: varints as int, length-delimited ones
    as views into ``view``; fixed-size fields and groups (none read here) skipped."""
    fields: Fields = {}
    at, end = 0, len(view)
    while at < end:
        key, at = _varint(view, at)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _corrupt("a field numbered 0")
        if wire == _VARINT:
            value, at = _varint(view, at)
            fields.setdefault(number, []).append(value)
        elif wire == _LENGTH:
            length, at = _varint(view, at)
            if length > end - at:
                raise _corrupt("a field runs past the end of its message")
            fields.setdefault(number, []).append(view[at:at + length])
            at += length
        else:
            at = _skip(view, at, number, wire)
    return fields


def _skip(view: memoryview, at: int, number: int, wire: int) -> int:
    """Past a fixed-size field or a whole group (whose fields may be groups themselves)."""
    groups = []
    while True:
        if wire in (_FIXED64, _FIXED32):
            at += 8 if wire == _FIXED64 else 4
            if at > len(view):
                raise _corrupt("a field runs past the end of its message")
        elif wire == _START_GROUP:
            groups.append(number)
        elif wire == _END_GROUP:
            if not groups or groups.pop() != number:
                raise _corrupt("a group ends that did not start")
        elif wire == _VARINT:
            _, at = _varint(view, at)
        elif wire == _LENGTH:
            length, at = _varint(view, at)
            at += length
            if at > len(view):
                raise _corrupt("a field runs past the end of its message")
        else:
            raise _corrupt(f"wire type {wire}, which protobuf does not have")
        if not groups:
            return at
        key, at = _varint(view, at)
        number, wire = key >> 3, key & 7


def _varint(view: memoryview, at: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 70, 7):  # 10 bytes at most: 64 bits
        if at >= len(view):
            raise _corrupt("it ends within a number")
        byte = view[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _MASK64, at
    raise _corrupt("a number longer than 10 bytes")


def _corrupt(why: str) -> SavedModelError:
    return SavedModelError(f"saved_model.pb is truncated or corrupt ({why}): copy or export "
                           "it again")
