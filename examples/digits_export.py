"""Train a small Keras classifier on scikit-learn's bundled digits and export it for serving.

    python digits_export.py OUT_DIR [--version N] [--epochs E] [--scale S]

writes a SavedModel to OUT_DIR/N (TensorFlow Serving's layout: one numbered folder per
version, what ``dllab-serve --model-base-path OUT_DIR`` loads) and prints the test accuracy.
Its ``serving_default`` signature takes ``pixels`` (float32 [None, 64]: an 8x8 image, values
0..16 scaled to 0..1) and returns ``probabilities`` (float32 [None, 10]) and ``digit``
(int64 [None]). ``--scale`` multiplies the hidden layers' width, for a heavier model.
Trains in a few seconds on a CPU; importable (``export``) so that one Python process can
export several versions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HIDDEN = 64


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test splits, always the same: pixels scaled to [0, 1]."""
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int64")
    return tuple(train_test_split(x, y, test_size=0.2, random_state=0, stratify=y))


class Served(tf.Module):
    """What is saved: the model behind one named signature, so clients see named tensors."""

    def __init__(self, model: keras.Model) -> None:
        super().__init__()
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32, name="pixels")])
    def serve(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = self.model(pixels, training=False)
        return {"probabilities": probabilities, "digit": tf.argmax(probabilities, axis=1)}


def train(epochs: int, scale: int) -> tuple[keras.Model, float]:
    """A 64 -> hidden -> hidden -> 10 softmax model; returns it and its test accuracy."""
    x_train, x_test, y_train, y_test = data()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(HIDDEN * scale, activation="relu"),
        keras.layers.Dense(HIDDEN * scale, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return model, float(accuracy)


def export(out_dir: Path, version: int = 1, epochs: int = 5, scale: int = 1) -> float:
    """Train and save version ``version`` under ``out_dir``; returns the test accuracy."""
    model, accuracy = train(epochs, scale)
    served = Served(model)
    tf.saved_model.save(served, str(out_dir / str(version)),
                        signatures={"serving_default": served.serve})
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="the model's folder (versions inside)")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=1, help="hidden width x S")
    args = parser.parse_args()
    accuracy = export(args.out_dir, args.version, args.epochs, args.scale)
    print(f"digits version {args.version}: test accuracy {accuracy:.3f}, saved to "
          f"{args.out_dir / str(args.version)}", flush=True)


if __name__ == "__main__":
    main()
