"""What the digits examples share: scikit-learn's bundled digits (8x8 images, no download),
a small classifier built from plain ``tf.Variable``s (no Keras: its ``model.fit`` fails under
the multi-worker strategies on Keras 3), and DLLab's job settings read from the environment.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HIDDEN = 64
CLASSES = 10

STEPS = int(os.environ.get("STEPS", "600"))
BATCH = int(os.environ.get("BATCH", "64"))  # global batch: split over the replicas
LEARNING_RATE = float(os.environ.get("LEARNING_RATE", "0.2"))
EVERY = int(os.environ.get("DLLAB_CHECKPOINT_EVERY_STEPS", "100"))
CHECKPOINT_DIR = os.environ.get("DLLAB_CHECKPOINT_DIR", "/tmp/digits/checkpoints")
LOG_DIR = os.environ.get("DLLAB_LOG_DIR", "/tmp/digits/logs")
OUTPUT_DIR = os.environ.get("DLLAB_OUTPUT_DIR", "/tmp/digits/output")


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test splits, always the same: pixels scaled to [0, 1]."""
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int64")
    return tuple(train_test_split(x, y, test_size=0.2, random_state=0, stratify=y))


class Classifier(tf.Module):
    """64 pixels -> 64 ReLU units -> 10 logits."""

    def __init__(self, aggregation: tf.VariableAggregation = tf.VariableAggregation.NONE):
        super().__init__()
        init = tf.random.stateless_normal
        self.w1 = tf.Variable(init([64, HIDDEN], seed=[1, 2]) * 0.1, aggregation=aggregation,
                              name="w1")
        self.b1 = tf.Variable(tf.zeros([HIDDEN]), aggregation=aggregation, name="b1")
        self.w2 = tf.Variable(init([HIDDEN, CLASSES], seed=[3, 4]) * 0.1,
                              aggregation=aggregation, name="w2")
        self.b2 = tf.Variable(tf.zeros([CLASSES]), aggregation=aggregation, name="b2")

    @tf.function(input_signature=[tf.TensorSpec([None, 64], tf.float32)])
    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        hidden = tf.nn.relu(x @ self.w1 + self.b1)
        return hidden @ self.w2 + self.b2

    def loss(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=self(x)))


def sgd_step(model: Classifier, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """One plain SGD update of ``model`` on a batch; returns the batch's loss."""
    with tf.GradientTape() as tape:
        loss = model.loss(x, y)
    grads = tape.gradient(loss, model.trainable_variables)
    for variable, grad in zip(model.trainable_variables, grads, strict=True):
        variable.assign_sub(LEARNING_RATE * grad)
    return loss


def accuracy(model: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    predicted = tf.argmax(model(tf.constant(x)), axis=1).numpy()
    return float(np.mean(predicted == y))


def newest_step(directory: str) -> int:
    """The step of the newest checkpoint in ``directory`` (saved as ckpt-<step>), or 0."""
    path = tf.train.latest_checkpoint(directory)
    return int(path.rsplit("-", 1)[1]) if path else 0
