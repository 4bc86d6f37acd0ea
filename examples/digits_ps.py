"""Asynchronous training with parameter servers (ParameterServerStrategy) on the digits:
the chief coordinates (``ClusterCoordinator.schedule``), workers run the steps it sends
them, the variables live on the parameter servers. Workers and parameter servers only
serve: they never exit by themselves, and DLLab stops them once the chief has finished.
An evaluator, if the job has one, scores each new checkpoint until it is stopped.

Run it as a DLLab job (examples/digits-ps.yaml). The chief checkpoints every
DLLAB_CHECKPOINT_EVERY_STEPS steps (named by step) and resumes from the newest; it writes
TensorBoard summaries to DLLAB_LOG_DIR and a SavedModel to DLLAB_OUTPUT_DIR/model.
"""

from __future__ import annotations

import json
import os
import time

import digits
import tensorflow as tf


def serve(resolver: tf.distribute.cluster_resolver.ClusterResolver) -> None:
    # Workers wait for the chief rather than fail while it (re)starts.
    os.environ["GRPC_FAIL_FAST"] = "use_caller"
    server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                  task_index=resolver.task_id, protocol="grpc", start=True)
    print(f"{resolver.task_type} {resolver.task_id} serving", flush=True)
    server.join()


def evaluate() -> None:
    """Score each new checkpoint on the test split, until stopped."""
    _, x_test, _, y_test = digits.data()
    model = digits.Classifier()
    step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(model=model, step=step)
    summaries = tf.summary.create_file_writer(os.path.join(digits.LOG_DIR, "eval"))
    seen = None
    while True:
        newest = tf.train.latest_checkpoint(digits.CHECKPOINT_DIR)
        if newest and newest != seen:
            checkpoint.restore(newest).expect_partial()
            score = digits.accuracy(model, x_test, y_test)
            print(f"evaluated step {int(step.numpy())}: accuracy {score:.4f}", flush=True)
            with summaries.as_default():
                tf.summary.scalar("accuracy", score, step=int(step.numpy()))
            seen = newest
        time.sleep(2)


def coordinate(resolver: tf.distribute.cluster_resolver.ClusterResolver) -> None:
    strategy = tf.distribute.ParameterServerStrategy(resolver)
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    x_train, x_test, y_train, y_test = digits.data()

    with strategy.scope():
        model = digits.Classifier()
        step = tf.Variable(0, dtype=tf.int64)
    checkpoint = tf.train.Checkpoint(model=model, step=step)
    manager = tf.train.CheckpointManager(checkpoint, digits.CHECKPOINT_DIR, max_to_keep=3)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint)
        print(f"resumed from step {int(step.numpy())} ({manager.latest_checkpoint})", flush=True)
    else:
        print("starting from step 0", flush=True)

    def dataset_fn() -> tf.data.Dataset:
        return (tf.data.Dataset.from_tensor_slices((x_train, y_train))
                .shuffle(len(x_train)).repeat().batch(digits.BATCH))

    batches = iter(coordinator.create_per_worker_dataset(dataset_fn))

    @tf.function
    def train_step(iterator: tf.data.Iterator) -> tf.Tensor:
        def replica_step(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
            loss = digits.sgd_step(model, x, y)  # on the ps' variables, asynchronously
            step.assign_add(1)
            return loss

        return strategy.run(replica_step, args=next(iterator))

    summaries = tf.summary.create_file_writer(digits.LOG_DIR)
    print(f"training {digits.STEPS} steps on {strategy.num_replicas_in_sync} workers "
          f"(TF_CONFIG task: {json.loads(os.environ.get('TF_CONFIG', '{}')).get('task')})",
          flush=True)
    while (done := int(step.numpy())) < digits.STEPS:
        chunk = min(digits.EVERY - done % digits.EVERY, digits.STEPS - done)
        losses = [coordinator.schedule(train_step, args=(batches,)) for _ in range(chunk)]
        coordinator.join()
        current = int(step.numpy())
        loss = float(losses[-1].fetch())
        manager.save(checkpoint_number=current)
        score = digits.accuracy(model, x_test, y_test)
        with summaries.as_default():
            tf.summary.scalar("loss", loss, step=current)
            tf.summary.scalar("accuracy", score, step=current)
        print(f"step {current} loss {loss:.4f} accuracy {score:.4f}; checkpoint saved at "
              f"step {current}", flush=True)
    summaries.flush()

    test_accuracy = digits.accuracy(model, x_test, y_test)
    print(f"test accuracy {test_accuracy:.4f}", flush=True)
    tf.saved_model.save(model, os.path.join(digits.OUTPUT_DIR, "model"),
                        signatures=model.__call__)
    with open(os.path.join(digits.OUTPUT_DIR, "metrics.json"), "w") as file:
        json.dump({"test_accuracy": test_accuracy, "steps": int(step.numpy())}, file)


def main() -> None:
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    if resolver.task_type in ("worker", "ps"):
        serve(resolver)
    elif resolver.task_type == "evaluator":
        evaluate()
    else:
        coordinate(resolver)


if __name__ == "__main__":
    main()
