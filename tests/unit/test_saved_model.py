"""SavedModel signatures read without TensorFlow: checked against what TensorFlow itself
says of real SavedModels (the fixtures, from data/saved_models/make.py), and against
hand-made protocol buffers for what exports rarely hold (other wire types, sparse tensors,
other tag sets) and for corrupt files."""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dllab.serving import saved_model
from dllab.serving.saved_model import SavedModelError, parse_signatures, read_signatures

FIXTURES = Path(__file__).parent / "data" / "saved_models"
MODELS = sorted(path.name for path in FIXTURES.iterdir() if path.is_dir())


# A protocol buffer writer, just enough to make saved_model.pb files by hand

def varint(number: int) -> bytes:
    number &= (1 << 64) - 1  # negative int64s: ten bytes of two's complement
    out = bytearray()
    while number >= 0x80:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    return bytes(out + bytes([number]))


def field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def tensor_info(name: str, dtype: int = 1, dims: list[int] | None = None) -> bytes:
    shape = (field(3, 1) if dims is None
             else b"".join(field(2, field(1, size)) for size in dims))
    return field(1, name) + field(2, dtype) + field(3, shape)


def tensor_map(number: int, tensors: dict[str, bytes]) -> bytes:
    return b"".join(field(number, field(1, key) + field(2, value))
                    for key, value in tensors.items())


def signature_def(inputs: dict[str, bytes], outputs: dict[str, bytes],
                  method: str = "tensorflow/serving/predict") -> bytes:
    return tensor_map(1, inputs) + tensor_map(2, outputs) + field(3, method)


def meta_graph(tags: list[str], signatures: dict[str, bytes]) -> bytes:
    info = b"".join(field(4, tag) for tag in tags)
    return field(1, info) + tensor_map(5, signatures)


def saved_model_pb(*meta_graphs: bytes) -> bytes:
    return field(1, 1) + b"".join(field(2, graph) for graph in meta_graphs)


PREDICT = signature_def({"x": tensor_info("serving_default_x:0", 9, [-1, 3])},
                        {"y": tensor_info("StatefulPartitionedCall:0", 1, [-1])})
EXPECTED = {"serving_default": {
    "method_name": "tensorflow/serving/predict",
    "inputs": {"x": {"dtype": "int64", "shape": [-1, 3], "tensor": "serving_default_x:0"}},
    "outputs": {"y": {"dtype": "float32", "shape": [-1], "tensor": "StatefulPartitionedCall:0"}}}}


# Real SavedModels

def test_every_model_of_make_py_has_a_fixture():
    assert MODELS == ["fixed_shape", "keras_dense", "several_signatures", "strings",
                      "tf1_builder", "two_inputs"]


@pytest.mark.parametrize("model", MODELS)
def test_signatures_are_those_tensorflow_reads(model: str):
    expected = json.loads((FIXTURES / model / "expected.json").read_text())
    assert read_signatures(FIXTURES / model) == expected


def test_another_tag_set_reads_that_meta_graph():
    pb = (FIXTURES / "tf1_builder" / "saved_model.pb").read_bytes()
    signatures = parse_signatures(pb, tags="train")
    assert list(signatures) == ["training"]
    assert signatures["training"]["inputs"] == {
        "x": {"dtype": "float32", "shape": [-1, 3], "tensor": "x:0"}}


# Hand-made ones

def test_a_hand_made_saved_model_reads_as_written():
    pb = saved_model_pb(meta_graph(["serve"], {"serving_default": PREDICT}))
    assert field(1, -1) == b"\x08" + b"\xff" * 9 + b"\x01"  # a -1 size, as TF writes it
    assert parse_signatures(pb) == EXPECTED


def test_init_op_and_other_double_underscore_signatures_are_left_out():
    init = signature_def({}, {}, method="")
    pb = saved_model_pb(meta_graph(["serve"], {"__saved_model_init_op": init,
                                               "serving_default": PREDICT}))
    assert list(parse_signatures(pb)) == ["serving_default"]


def unknown_fields(number: int) -> bytes:
    """One unknown field of each wire type, a group holding a group among them."""
    key = number << 3
    group = (varint(key | 3) + field(1, 5) + varint((number + 1) << 3 | 3) + field(2, b"x")
             + varint((number + 1) << 3 | 4) + varint(key | 4))
    return (field(number, 300) + varint(key | 1) + bytes(8) + field(number, b"\x01\x02")
            + varint(key | 5) + bytes(4) + group)


def test_unknown_fields_of_every_wire_type_are_skipped_at_every_level():
    extra = unknown_fields(15)
    x = (extra + field(1, "serving_default_x:0") + field(2, 9)
         + field(3, field(2, field(1, -1) + extra) + field(2, field(1, 3)) + extra))
    y = tensor_info("StatefulPartitionedCall:0", 1, [-1]) + extra
    signature = (tensor_map(1, {"x": x}) + extra + tensor_map(2, {"y": y})
                 + field(3, "tensorflow/serving/predict"))
    graph = (extra + field(1, field(4, "serve") + extra) + field(2, b"graph" * 100)
             + field(5, field(1, "serving_default") + extra + field(2, signature)))
    assert parse_signatures(extra + saved_model_pb(graph) + extra) == EXPECTED


def test_a_field_of_an_unexpected_wire_type_counts_as_unknown():
    info = field(1, 7) + tensor_info("t:0", 3, [2])  # name as a varint: not the name
    pb = saved_model_pb(meta_graph(["serve"], {"s": signature_def({"a": info}, {})}))
    assert parse_signatures(pb)["s"]["inputs"]["a"] == {
        "dtype": "int32", "shape": [2], "tensor": "t:0"}


def test_a_message_field_given_twice_merges_as_protobuf_merges():
    graph = (field(1, field(4, "serve")) + field(1, field(4, "gpu"))
             + tensor_map(5, {"serving_default": PREDICT}))
    assert parse_signatures(saved_model_pb(graph), tags="gpu,serve") == EXPECTED


@pytest.mark.parametrize(("number", "name"), [
    (1, "float32"), (2, "float64"), (7, "string"), (10, "bool"), (14, "bfloat16"),
    (19, "float16"), (23, "uint64"), (33, "float4_e2m1fn"), (101, "float32_ref"),
    (0, "invalid"), (99, "unknown_99"), (-1, f"unknown_{(1 << 64) - 1}")])
def test_dtype_names_are_tensorflows(number: int, name: str):
    pb = saved_model_pb(meta_graph(["serve"], {"s": signature_def(
        {"a": tensor_info("a:0", number, [])}, {})}))
    assert parse_signatures(pb)["s"]["inputs"]["a"]["dtype"] == name


def test_unknown_rank_is_none_and_no_shape_a_scalar():
    inputs = {"any": tensor_info("any:0", 1, None), "scalar": field(1, "s:0") + field(2, 1)}
    pb = saved_model_pb(meta_graph(["serve"], {"s": signature_def(inputs, {})}))
    shapes = {key: spec["shape"] for key, spec in parse_signatures(pb)["s"]["inputs"].items()}
    assert shapes == {"any": None, "scalar": []}


def test_sparse_and_composite_tensors_say_their_encoding():
    sparse = (field(4, field(1, "values:0") + field(2, "indices:0") + field(3, "shape:0"))
              + field(2, 1) + field(3, field(2, field(1, -1))))
    composite = field(5, field(1, b"type spec")) + field(2, 7)
    pb = saved_model_pb(meta_graph(["serve"], {"s": signature_def(
        {"sparse": sparse, "ragged": composite}, {})}))
    assert parse_signatures(pb)["s"]["inputs"] == {
        "ragged": {"dtype": "string", "shape": [], "tensor": None, "encoding": "composite"},
        "sparse": {"dtype": "float32", "shape": [-1], "tensor": "values:0",
                   "encoding": "coo_sparse"}}


def test_the_tag_set_matches_in_any_order_but_whole():
    pb = saved_model_pb(meta_graph(["train"], {"t": PREDICT}),
                        meta_graph(["serve", "gpu"], {"serving_default": PREDICT}))
    assert parse_signatures(pb, tags="gpu, serve") == EXPECTED
    with pytest.raises(SavedModelError, match="tagged 'serve'.* tagged: train; serve, gpu"):
        parse_signatures(pb)


# Errors

def test_no_serve_meta_graph_lists_the_tag_sets_there_are():
    pb = saved_model_pb(meta_graph(["train"], {"t": PREDICT}), meta_graph([], {"u": PREDICT}))
    with pytest.raises(SavedModelError, match=r"no meta graph tagged 'serve'.*train; \(no tags\)"):
        parse_signatures(pb)


def test_no_signatures_says_to_export_with_some():
    pb = saved_model_pb(meta_graph(["serve"], {"__saved_model_init_op": PREDICT}))
    with pytest.raises(SavedModelError, match=r"no signatures.*signatures="):
        parse_signatures(pb)


@pytest.mark.parametrize("pb", [b"", field(1, 1), b"\x0a\x00"])
def test_no_meta_graph_is_not_a_saved_model(pb: bytes):
    with pytest.raises(SavedModelError, match="no meta graph: it is not"):
        parse_signatures(pb)


@pytest.mark.parametrize("model", MODELS)
def test_a_truncated_file_is_reported_so(model: str):
    pb = (FIXTURES / model / "saved_model.pb").read_bytes()
    for end in (1, 5, 100, len(pb) // 2, len(pb) - 1):
        with pytest.raises(SavedModelError, match="truncated or corrupt|no meta graph"):
            parse_signatures(pb[:end])


@pytest.mark.parametrize(("pb", "why"), [
    (b"\x10" + b"\xff" * 11, "longer than 10 bytes"),
    (b"\x12\x05ab", "runs past the end"),
    (b"\x0e", "wire type 6"),
    (b"\x02\x00", "numbered 0"),
    (b"\x1b\x08\x01\x24", "group ends that did not start"),  # group 3 closed as group 4
    (b"\x1b\x08\x01", "ends within a number"),  # a group never closed
    (b"\x19\x00\x00", "runs past the end"),  # a fixed64 cut short
    (saved_model_pb(field(1, field(4, b"serve\xff"))), "not UTF-8"),
])
def test_corrupt_bytes_say_why(pb: bytes, why: str):
    with pytest.raises(SavedModelError, match=f"truncated or corrupt.*{why}"):
        parse_signatures(pb)


def test_random_bytes_are_not_a_saved_model():
    noise = random.Random(0)
    for _ in range(200):
        with pytest.raises(SavedModelError):
            parse_signatures(noise.randbytes(noise.randrange(1, 4000)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_read_or_raise_saved_model_error(pb: bytes):
    with contextlib.suppress(SavedModelError):
        assert_well_formed(parse_signatures(pb))


PB = {model: (FIXTURES / model / "saved_model.pb").read_bytes() for model in MODELS}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(MODELS), st.data())
def test_damaged_saved_models_read_or_raise_saved_model_error(model: str, data: st.DataObject):
    pb = bytearray(PB[model])
    for _ in range(data.draw(st.integers(1, 8))):
        pb[data.draw(st.integers(0, len(pb) - 1))] = data.draw(st.integers(0, 255))
    end = data.draw(st.integers(0, len(pb)))
    with contextlib.suppress(SavedModelError):
        assert_well_formed(parse_signatures(bytes(pb[:end])))


def assert_well_formed(signatures: dict[str, dict]) -> None:
    assert signatures
    for signature in signatures.values():
        assert isinstance(signature["method_name"], str)
        for spec in [*signature["inputs"].values(), *signature["outputs"].values()]:
            assert isinstance(spec["dtype"], str)
            assert spec["shape"] is None or all(isinstance(size, int) for size in spec["shape"])
    json.dumps(signatures)


# Folders

def test_a_folder_without_saved_model_pb(tmp_path: Path):
    (tmp_path / "variables").mkdir()
    with pytest.raises(SavedModelError, match="has no saved_model.pb, so it is not"):
        read_signatures(tmp_path)


def test_a_folder_that_does_not_exist(tmp_path: Path):
    with pytest.raises(SavedModelError, match="does not exist"):
        read_signatures(tmp_path / "nowhere")


def test_a_tf_serving_base_folder_points_to_its_latest_version(tmp_path: Path):
    for version in ("1", "10", "2"):
        (tmp_path / version).mkdir()
    with pytest.raises(SavedModelError, match=r"TF Serving base folder.*\(1, 2, 10\)") as error:
        read_signatures(tmp_path)
    assert str(tmp_path / "10") in str(error.value)


@pytest.mark.parametrize("name", ["model.keras", "weights.h5"])
def test_a_keras_file_says_how_to_export_a_saved_model(tmp_path: Path, name: str):
    (tmp_path / name).write_bytes(b"PK")
    with pytest.raises(SavedModelError, match=f"{name} is a Keras file.*model.export"):
        read_signatures(tmp_path / name)
    with pytest.raises(SavedModelError, match=f"no saved_model.pb.*{name} is a Keras file"):
        read_signatures(tmp_path)


def test_a_text_format_saved_model_is_named(tmp_path: Path):
    (tmp_path / "saved_model.pbtxt").write_text("saved_model_schema_version: 1\n")
    with pytest.raises(SavedModelError, match="pbtxt is the text format"):
        read_signatures(tmp_path)


def test_a_huge_saved_model_pb_is_refused_unread(tmp_path: Path):
    with (tmp_path / "saved_model.pb").open("wb") as file:
        file.truncate(saved_model.MAX_BYTES + 1)  # sparse: nothing written
    with pytest.raises(SavedModelError, match="1.0 GiB, over the 1 GiB"):
        read_signatures(tmp_path)


def test_an_unreadable_saved_model_pb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "saved_model.pb").write_bytes(b"")

    def refuse(path: Path, *args: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "open", refuse)  # root, as tests may run, reads any file
    with pytest.raises(SavedModelError, match="cannot read .*saved_model.pb: Permission denied"):
        read_signatures(tmp_path)
