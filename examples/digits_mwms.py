"""Synchronous data-parallel training (MultiWorkerMirroredStrategy) on the digits, with a
custom training loop: every replica runs the same steps on its share of each batch and the
gradients are averaged across all of them at each update.

Run it as a DLLab job (examples/digits-mwms.yaml): DLLab writes each replica's TF_CONFIG.
Checkpoints every DLLAB_CHECKPOINT_EVERY_STEPS steps, named by step; a restarted job
resumes from the newest one. The chief also writes TensorBoard summaries (loss, accuracy)
to DLLAB_LOG_DIR and, at the end, a SavedModel to DLLAB_OUTPUT_DIR/model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import digits
import tensorflow as tf


def is_writer(resolver: tf.distribute.cluster_resolver.ClusterResolver) -> bool:
    """The chief writes; without a chief, worker 0 does (and so does a lone process)."""
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type is None or task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def main() -> None:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    writer = is_writer(strategy.cluster_resolver)
    replicas = strategy.num_replicas_in_sync
    x_train, x_test, y_train, y_test = digits.data()

    dataset = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
               .shuffle(len(x_train), seed=0).repeat().batch(digits.BATCH))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batches = iter(strategy.experimental_distribute_dataset(dataset.with_options(options)))

    with strategy.scope():
        # MEAN: each replica's update is averaged across replicas as it is applied.
        model = digits.Classifier(tf.VariableAggregation.MEAN)
        step = tf.Variable(0, dtype=tf.int64, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
    checkpoint = tf.train.Checkpoint(model=model, step=step)
    # Every replica saves (MWMS may need them all to take part); only the writer's copy is
    # kept, in the job's checkpoint folder; the others write to a scratch folder.
    folder = digits.CHECKPOINT_DIR if writer else tempfile.mkdtemp(prefix="ckpt-")
    manager = tf.train.CheckpointManager(checkpoint, folder, max_to_keep=3)
    newest = tf.train.latest_checkpoint(digits.CHECKPOINT_DIR)
    if newest:
        checkpoint.restore(newest)
        print(f"resumed from step {int(step.numpy())} ({newest})", flush=True)
    else:
        print("starting from step 0", flush=True)

    @tf.function
    def train_step(batch: tuple[tf.Tensor, tf.Tensor]) -> tf.Tensor:
        losses = strategy.run(lambda x, y: digits.sgd_step(model, x, y), args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, losses, axis=None)

    summaries = tf.summary.create_file_writer(digits.LOG_DIR if writer else
                                              tempfile.mkdtemp(prefix="logs-"))
    print(f"training {digits.STEPS} steps on {replicas} replicas "
          f"(TF_CONFIG task: {json.loads(os.environ.get('TF_CONFIG', '{}')).get('task')})",
          flush=True)
    while int(step.numpy()) < digits.STEPS:
        loss = train_step(next(batches))
        step.assign_add(1)
        current = int(step.numpy())
        if current % 20 == 0:
            print(f"step {current} loss {float(loss):.4f}", flush=True)
            with summaries.as_default():
                tf.summary.scalar("loss", loss, step=current)
        if current % digits.EVERY == 0 or current == digits.STEPS:
            manager.save(checkpoint_number=current)
            with summaries.as_default():
                tf.summary.scalar("accuracy", digits.accuracy(model, x_test, y_test),
                                  step=current)
            print(f"checkpoint saved at step {current}", flush=True)
    summaries.flush()

    test_accuracy = digits.accuracy(model, x_test, y_test)
    print(f"test accuracy {test_accuracy:.4f}", flush=True)
    export = os.path.join(digits.OUTPUT_DIR, "model") if writer else tempfile.mkdtemp()
    tf.saved_model.save(model, export, signatures=model.__call__)
    if writer:
        with open(os.path.join(digits.OUTPUT_DIR, "metrics.json"), "w") as file:
            json.dump({"test_accuracy": test_accuracy, "steps": int(step.numpy())}, file)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(export, ignore_errors=True)


if __name__ == "__main__":
    main()
