"""Regenerates the SavedModel fixtures of test_saved_model.py with TensorFlow.

Run in the runtime image, from the repository root (as any user: the models are saved
to a temporary folder, and only their copies land in /out):

    docker run --rm -v $PWD/tests/unit/data/saved_models:/out -w /out --user $(id -u) \\
        dllab/runtime:tf-cpu python make.py

Each model gets a folder with only its ``saved_model.pb`` (the variables are not needed to
read signatures, and would bloat the repository) and ``expected.json``: the signatures as
TensorFlow itself sees them once the model is loaded (dtypes and shapes from the loaded
signature functions, tensor names and method names from TensorFlow's own protobuf
classes), in the format of ``dllab.serving.saved_model.parse_signatures``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

OUT = Path(__file__).resolve().parent


def keras_dense(path: str) -> None:
    model = keras.Sequential([keras.Input((4,), name="features"), keras.layers.Dense(2)])
    tf.saved_model.save(model, path)


class TwoInputs(tf.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="features"),
                                  tf.TensorSpec([None], tf.int64, name="ids")])
    def __call__(self, features: tf.Tensor, ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scores": tf.reduce_sum(features, axis=1) * self.scale,
                "next_ids": ids + 1}


def two_inputs(path: str) -> None:
    tf.saved_model.save(TwoInputs(), path)


class Strings(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([None], tf.string, name="payload_bytes")])
    def __call__(self, text: tf.Tensor, payload_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"length": tf.strings.length(text) + tf.strings.length(payload_bytes),
                "upper": tf.strings.upper(text)}


def strings(path: str) -> None:
    tf.saved_model.save(Strings(), path)


class FixedShape(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([2, 2], tf.float64, name="matrix")])
    def __call__(self, matrix: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"row_sums": tf.reduce_sum(matrix, axis=1)}


def fixed_shape(path: str) -> None:
    tf.saved_model.save(FixedShape(), path)


class Several(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
    def predict(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": x * 2.0}

    @tf.function(input_signature=[tf.TensorSpec([None, 2, 2, 1], tf.uint8, name="pixels")])
    def scores(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"score": tf.reduce_mean(tf.cast(pixels, tf.float32), axis=[1, 2, 3])}

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float16, name="value")])
    def any_rank(self, value: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"doubled": value * 2}

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.bool, name="mask"),
                                  tf.TensorSpec([None], tf.int8, name="small")])
    def flags(self, mask: tf.Tensor, small: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"count": tf.math.count_nonzero(mask, axis=1),
                "wide": tf.cast(small, tf.uint16)}


def several_signatures(path: str) -> None:
    module = Several()
    tf.saved_model.save(module, path, signatures={
        "serving_default": module.predict, "scores": module.scores,
        "any_rank": module.any_rank, "flags": module.flags})


def tf1_builder(path: str) -> None:
    """A TF1-style export: two meta graphs ("train", "serve") and a classify signature."""
    v1 = tf.compat.v1
    with tf.Graph().as_default(), v1.Session() as session:
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        examples = v1.placeholder(tf.string, [None], name="tf_example")
        weight = tf.Variable(1.5, name="weight")
        y = tf.identity(x * weight, name="y")
        classes = tf.identity(tf.strings.as_string(tf.strings.length(examples)), name="classes")
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(path)
        builder.add_meta_graph_and_variables(session, ["train"], signature_def_map={
            "training": v1.saved_model.predict_signature_def({"x": x}, {"y": y})})
        builder.add_meta_graph(["serve"], signature_def_map={
            "serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": y}),
            "classify": v1.saved_model.classification_signature_def(examples, classes, None)})
        builder.save()


MODELS: dict[str, Callable[[str], None]] = {
    "keras_dense": keras_dense, "two_inputs": two_inputs, "strings": strings,
    "fixed_shape": fixed_shape, "several_signatures": several_signatures,
    "tf1_builder": tf1_builder}


def spec(tensor: tf.TensorSpec | tf.Tensor, name: str) -> dict:
    shape = None if tensor.shape.rank is None else [
        -1 if size is None else size for size in tensor.shape.as_list()]
    return {"dtype": tensor.dtype.name, "shape": shape, "tensor": name}


def expected(path: str) -> dict[str, dict]:
    """The signatures of the "serve" meta graph, per the loaded model and TF's protobufs."""
    saved = saved_model_pb2.SavedModel.FromString(Path(path, "saved_model.pb").read_bytes())
    (meta_graph,) = [m for m in saved.meta_graphs if list(m.meta_info_def.tags) == ["serve"]]
    loaded = tf.saved_model.load(path, tags=["serve"])
    found = {}
    for key, function in loaded.signatures.items():
        proto = meta_graph.signature_def[key]
        _, inputs = function.structured_input_signature
        found[key] = {
            "method_name": proto.method_name,
            "inputs": {name: spec(inputs[name], proto.inputs[name].name)
                       for name in sorted(inputs)},
            "outputs": {name: spec(tensor, proto.outputs[name].name)
                        for name, tensor in sorted(function.structured_outputs.items())}}
        assert set(proto.inputs) == set(inputs) and set(proto.outputs) == set(found[key]["outputs"])
    return dict(sorted(found.items()))


def main() -> None:
    for name, make in MODELS.items():
        with tempfile.TemporaryDirectory() as temporary:
            path = os.path.join(temporary, name)
            make(path)
            folder = OUT / name
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            shutil.copy(Path(path, "saved_model.pb"), folder / "saved_model.pb")
            (folder / "expected.json").write_text(json.dumps(expected(path), indent=2) + "\n")
        print(name, (folder / "saved_model.pb").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
