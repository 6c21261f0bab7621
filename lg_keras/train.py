"""The one training loop: a built dataset and an `ExperimentConfig` in, a trained run directory out.

It reads top to bottom in sections: setup (checks, seeds, config.json), data, model, loop
(`model.fit` with a checkpoint after every epoch) and finish. The recipe is the authors': SGD with
momentum, PyTorch-style weight decay carried by the model's L2 regularisers (added to the gradient
of every parameter, BatchNorm included), a schedule in optimizer steps (`schedules.py`) and
cross-entropy on the logits of the chosen label view.

The run directory it writes (config.json, checkpoint/, history.json, model.keras,
train_state.json), its readers and its checks are in `lg_keras.run_files`.

Resuming: a run directory whose checkpoint/state.json exists (same config) continues after the
epoch it records, with the optimizer state (momentum, step counter, so the schedule) and the
dropout RNG states restored. Data order and augmentation are keyed by (seed, epoch) in
`data.train_dataset`, so a resumed run sees the batches an uninterrupted run would. Keras 3 `fit` with `steps_per_epoch` keeps one iterator over
the multi-epoch dataset across epochs (it resets only when a dataset of known length runs out), so
fit's epoch e consumes exactly data epoch e (tests/lg_keras/test_train.py checks it).

Differences from PyTorch that remain: Keras SGD applies the learning rate when updating the
momentum (m = 0.9 m - lr g), PyTorch when applying it (w -= lr b); they agree at constant rates and
differ for a few steps after a cut, unless the momentum restarts at the cut: with
`train.restart_momentum` (the authors' new SGD every epoch, `RestartMomentum`) and the 'milestones'
schedule, whose cuts fall on epoch starts, the two give the same updates. Under a mirrored strategy BatchNorm uses per-replica statistics.

Several workers (MultiWorkerMirroredStrategy, `lg_keras.distribute`): every worker runs this loop
on the same run directory and resumes from its checkpoint; only the chief writes it, the others
write the same files to a `write_dir` of their own. A lost worker ends the run with a
ClusterError, leaving the last completed epoch's checkpoint and no train_state.json.
"""

import contextlib
import datetime
import importlib.metadata
import logging
import math
import os
import platform
import sys
import time
import zipfile

import keras
import numpy as np
import tensorflow as tf

from lg_keras import (authors_protocol, data, distribute, keras_metrics, keras_multi_worker,
                      outputs, run_files, schedules)
from lg_keras.config import ExperimentConfig, TrainConfig
from lg_keras.config_io import config_hash, to_dict
from lg_keras.dataset_info import DatasetInfo
from lg_keras.errors import RunDirError
from lg_keras.models import build_model
from lg_keras.models.layers import policy_scope


# --------------------------------------------------------------------------- run directory

def _run_record(cfg, chash, info, strategy, policy, steps, epochs) -> dict:
    """config.json: what every number of the run traces back to."""
    return {
        "experiment": to_dict(cfg),
        "config_hash": chash,
        "dataset": {"path": info.path, "config_hash": info.meta.get("config_hash"),
                    "hierarchy": info.meta["hierarchy"].get("name")},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "lg_keras": importlib.metadata.version("lg_keras"),
                     "python": platform.python_version()},
        "strategy": distribute.strategy_name(strategy),
        "num_replicas": strategy.num_replicas_in_sync,
        "mixed_precision": policy != "float32",
        "dtype_policy": policy,
        "label_view_num_classes": info.num_classes(cfg.data.labels),
        "epochs_to_run": epochs,
        "steps_per_epoch": steps,
        "total_steps": epochs * steps,
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _fit_verbosity() -> int:
    """A progress bar on a terminal; one line per epoch in a log file (a bar per step bloats it)."""
    return 1 if sys.stdout.isatty() else 2


def _save_model(model: keras.Model, path: str) -> None:
    """Saves a .keras file through a temporary name and a rename (readers never see half).

    Raises:
        RunDirError: the disk is full or read-only (the temporary file is removed).
    """
    tmp = os.path.join(os.path.dirname(path), f"tmp-{os.getpid()}.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        error = outputs.storage_error(e, path)
        if error is not None:
            raise error from e
        raise


# --------------------------------------------------------------------------- building blocks

def has_acr(view_to_coarse: np.ndarray) -> bool:
    """Whether ACR is defined: two coarse classes and a coarse class with two classes."""
    counts = np.bincount(view_to_coarse)
    return bool(np.count_nonzero(counts) >= 2 and counts.max() >= 2)


def compile_model(model: keras.Model, train_cfg: TrainConfig, total_steps: int,
                  view_to_coarse: np.ndarray, label_view: str, schedule=None) -> None:
    """Compiles with the authors' SGD, the step schedule and the paper's training metrics.

    Metrics: 'accuracy' (of the label view), 'coarse_accuracy' (argmax class mapped to its coarse
    class) and, for fine/noisy/cluster views, 'acr'. During `fit` they are running values over
    the augmented training batches in training mode, what Keras (and the authors' code) report as
    training accuracy; a clean pass over the training set is a different number (the evaluator).

    Args:
        model: the network (float32 logits).
        train_cfg: momentum, nesterov, learning rate and schedule.
        total_steps: optimizer steps of the whole run.
        view_to_coarse: coarse class of each class of the label view.
        label_view: the training label view.
        schedule: the run's learning-rate schedule (`schedules.run_schedule`); None builds
            `train_cfg`'s over `total_steps` (not for 'milestones', which needs the epochs).
    """
    if schedule is None:
        schedule = schedules.build_schedule(train_cfg, total_steps)
    optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=train_cfg.momentum,
                                     nesterov=train_cfg.nesterov)
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
               keras_metrics.CoarseAccuracy(view_to_coarse, name="coarse_accuracy")]
    if label_view != "coarse" and has_acr(view_to_coarse):
        metrics.append(keras_metrics.AverageConfusionRatio(view_to_coarse, name="acr"))
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=metrics)


def training_dataset(info: DatasetInfo, cfg: ExperimentConfig, *, start_epoch: int,
                     end_epoch: int, steps_per_epoch: int) -> tf.data.Dataset:
    """Batches of epochs [start_epoch, end_epoch), `steps_per_epoch` of each.

    When `steps_per_epoch` caps the epoch (`train.max_steps_per_epoch`), each epoch's first
    batches are kept and the rest skipped, so epoch e still starts with data epoch e's batches.
    """
    ds = data.train_dataset(info, cfg.data, seed=cfg.train.seed, start_epoch=start_epoch,
                            end_epoch=end_epoch)
    full = data.steps_per_epoch(info, cfg.data)
    if steps_per_epoch < full:
        ds = (ds.enumerate()
              .filter(lambda i, batch: i % full < steps_per_epoch)
              .map(lambda i, batch: batch)
              .prefetch(tf.data.AUTOTUNE))
    return ds


def validation_dataset(info: DatasetInfo, cfg: ExperimentConfig) -> tf.data.Dataset:
    """The test split as (image, label of the training view) batches."""
    view = cfg.data.labels
    ds = data.eval_dataset(info, "test", cfg.data, label_views=(view,))
    # A known length lets Keras end the evaluation without an "input ran out of data" warning.
    batches = math.ceil(info.num_examples("test") / cfg.data.batch_size)
    return (ds.map(lambda image, labels: (image, labels[view]))
            .apply(tf.data.experimental.assert_cardinality(batches)))


def _acr_confusion(model: keras.Model) -> list[list[int]] | None:
    """The fine confusion matrix held by the model's ACR metric (None without one)."""
    stack = list(model.metrics)
    while stack:
        metric = stack.pop()
        if isinstance(metric, keras_metrics.AverageConfusionRatio):
            return np.rint(keras.ops.convert_to_numpy(metric.confusion)).astype(np.int64).tolist()
        stack += list(getattr(metric, "metrics", []) or [])
    return None


class _EpochEnd(keras.callbacks.Callback):
    """Records each epoch, logs one line, and checkpoints (model, optimizer, history, state)."""

    def __init__(self, write_dir, schedule, history, epochs, chash):
        super().__init__()
        self._write_dir = write_dir
        self._schedule, self.history = schedule, history
        self._epochs, self._hash, self._start = epochs, chash, time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        step = int(self.model.optimizer.iterations.numpy())
        record = {"epoch": completed,
                  "learning_rate": float(self._schedule(max(step - 1, 0))),
                  "seconds": round(time.time() - self._start, 3)}
        record.update({key: run_files.finite(value) for key, value in (logs or {}).items()
                       if np.ndim(value) == 0})
        confusion = _acr_confusion(self.model) if any(k.startswith("val_") for k in logs or {}) else None
        if confusion is not None:
            # Right after validation the metric holds the validation split's fine confusion: the
            # evaluator turns it into per-epoch ACR under any other hierarchy (Table VI).
            record[run_files.VAL_CONFUSION_KEY] = confusion
        self.history.append(record)
        logging.info("epoch %d/%d %s", completed, self._epochs, " ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in record.items() if k not in ("epoch", run_files.VAL_CONFUSION_KEY)))
        os.makedirs(run_files.checkpoint_dir(self._write_dir), exist_ok=True)
        _save_model(self.model, run_files.checkpoint_path(self._write_dir, completed))
        run_files.write_epoch(self._write_dir, completed, self.history, step=step,
                              chash=self._hash,
                              rng_states=[v.numpy().tolist() for v in _rng_states(self.model)])


class RestartMomentum(keras.callbacks.Callback):
    """Zeroes the SGD momentum buffers at the start of every epoch (`train.restart_momentum`).

    The authors' `train()` called `adjust_optimizer(optimizer, epoch, regime)` every epoch, and
    their regimes' epoch-0 entry holds 'optimizer': 'SGD', so each epoch built a new SGD over the
    same parameter groups: its momentum buffers started empty. With a zero buffer Keras' first
    update (m = -lr g) equals PyTorch's first (buf = g, w -= lr buf).
    """

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
        for variable in getattr(optimizer, "momentums", None) or []:
            variable.assign(keras.ops.zeros_like(variable))


def _rng_states(model: keras.Model) -> list:
    """The state variables of the model's SeedGenerators (dropout masks), in a fixed order.

    They are not among `model.weights`, so a .keras checkpoint lacks them; checkpoint/state.json
    keeps them, so a resumed run draws the dropout masks an uninterrupted one would.
    """
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _restore(model: keras.Model, run_dir: str, checkpoint: run_files.Checkpoint) -> None:
    """Loads a checkpoint's weights, optimizer state (momentum, step counter) and RNG states."""
    model.optimizer.build(model.trainable_variables)
    path = checkpoint.path
    rng_states, saved = _rng_states(model), checkpoint.rng_states
    try:
        model.load_weights(path)
        if saved is not None:
            if len(saved) != len(rng_states):
                raise ValueError(f"{len(saved)} RNG states saved, the model has {len(rng_states)}")
            for variable, value in zip(rng_states, saved):
                variable.assign(np.asarray(value, variable.dtype))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        raise RunDirError(f"Cannot restore the checkpoint {path!r} ({type(e).__name__}: "
                          f"{str(e)[:200]}); it is damaged or from another model. Remove "
                          f"{os.path.dirname(path)!r} to train from scratch.") from e
    logging.info("Resuming %s after epoch %d (optimizer step %d).", run_dir, checkpoint.epoch,
                 int(model.optimizer.iterations.numpy()))


# --------------------------------------------------------------------------- the loop

def train(cfg: ExperimentConfig, info: DatasetInfo, run_dir: str, *,
          strategy: tf.distribute.Strategy, callbacks=(),
          write_dir: str | None = None) -> list[dict]:
    """Trains (or resumes, or returns a finished run of) `cfg` on `info` into `run_dir`.

    Args:
        cfg: the experiment; `cfg.data` selects the label view, fraction and input pipeline.
        info: the built dataset (`dataset_info.load_dataset_info(cfg.data.dataset_dir)`).
        run_dir: the run directory (layout in the module docstring); created if missing. Every
            worker of a multi-worker run reads the chief's checkpoint from it.
        strategy: the tf.distribute strategy (`distribute.make_strategy(cfg.train)`).
        callbacks: extra Keras callbacks (e.g. the trainer component's TensorBoard).
        write_dir: where this process writes the run's files; None is `run_dir`. A non-chief
            worker of a multi-worker run must pass a directory of its own (the trainer component
            passes a temporary one), so that only the chief writes `run_dir`.

    Returns:
        One dict per epoch: 'epoch' (1-based), 'loss' (cross-entropy plus the L2 term),
        'accuracy', 'coarse_accuracy', 'acr' (fine-type views; running values over the augmented
        training batches in training mode), 'learning_rate' (of the epoch's last update),
        'seconds' (wall time, evaluation included) and, on evaluated epochs, 'val_loss',
        'val_accuracy', 'val_coarse_accuracy', 'val_acr' on the test split with the view's
        labels. With `train.authors_test_passes`, also 'authors_test_accuracy',
        'authors_test_coarse_accuracy' and 'authors_test_acr' (`lg_keras.authors_protocol`).
        Non-finite values (an undefined ACR) are None.

    Raises:
        ConfigError: for a label view the dataset lacks or an invalid model setting.
        DataError: for a corrupt, truncated or missing shard (training split, and the test split
            when evaluating during training).
        RunDirError: if `run_dir` holds a run of another config or dataset, its checkpoint is
            damaged, or the disk is full or read-only.
        ClusterError: a multi-worker run lost a worker, or its workers disagree on the epoch to
            resume after (they do not share `run_dir`).
    """
    # ----------------------------------------------------------------------- setup
    # The run directory's checks, once: a finished run, another config's run, a damaged one.
    run_dir, chash = os.path.abspath(run_dir), config_hash(cfg)
    done_history = run_files.finished_history(run_dir, chash)
    if done_history is not None:
        logging.info("Run %s is already finished (config_hash %s).", run_dir, chash)
        return done_history
    saved = run_files.check_run_dir(run_dir, chash)
    view = cfg.data.labels
    data.check_label_view(info, view)
    shape = data.input_shape(info, cfg.data)
    steps = data.steps_per_epoch(info, cfg.data)
    if cfg.train.max_steps_per_epoch:
        steps = min(steps, cfg.train.max_steps_per_epoch)
    epochs = cfg.epochs_to_run()
    policy = distribute.mixed_precision_policy(cfg.train)
    if saved and saved["dataset"]["config_hash"] != info.meta.get("config_hash"):
        raise RunDirError(f"Run {run_dir!r} started on a dataset with config_hash "
                          f"{saved['dataset']['config_hash']!r}; {info.path!r} now holds "
                          f"{info.meta.get('config_hash')!r}. Remove the run to retrain.")
    checkpoint = run_files.read_checkpoint(run_dir, chash)
    done, history = (checkpoint.epoch, checkpoint.history) if checkpoint else (0, [])
    logging.info("Training config (hash %s): %s", chash, to_dict(cfg))
    # Read every shard first: a damaged one fails here, naming it, not mid-run or silently short.
    scores_test = cfg.train.eval_every or cfg.train.authors_test_passes
    for split in ("train", "test") if scores_test else ("train",):
        data.verify_shards(info, split)
    chief = distribute.is_chief(strategy)
    write_dir = run_dir if write_dir is None else os.path.abspath(write_dir)
    if not chief and write_dir == run_dir:
        raise ValueError(f"{distribute.task_name(strategy)} is not the chief: pass a write_dir "
                         f"of its own, not the run directory {run_dir!r}.")
    if chief:  # another machine's pids say nothing about the chief's temporary files
        for name in run_files.remove_stale_temp_files(run_dir):
            logging.info("Removed %s, left by an interrupted run.", name)
    os.makedirs(write_dir, exist_ok=True)
    if distribute.is_multi_worker(strategy):
        keras_multi_worker.install()
        distribute.check_workers_agree(strategy, done, "the epoch to resume after")
    if chief and saved is None:
        run_files.write_config(run_dir, _run_record(cfg, chash, info, strategy, policy, steps, epochs))
    if cfg.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    logging.info("Training %s on %s (%s, %d classes): %d epochs x %d steps, %d replica(s), %s.",
                 cfg.model.name, info.path, view, info.num_classes(view), epochs, steps,
                 strategy.num_replicas_in_sync, policy)

    # ----------------------------------------------------------------------- data
    # Order and augmentation come from stateless ops keyed by (seed, epoch) in data.py; the
    # global seed set below only drives weight initialisation and dropout.
    train_ds = training_dataset(info, cfg, start_epoch=done, end_epoch=max(done, epochs),
                                steps_per_epoch=steps)
    val_ds = validation_dataset(info, cfg) if cfg.train.eval_every else None
    keras.utils.set_random_seed(cfg.train.seed)

    # ----------------------------------------------------------------------- model
    with policy_scope(policy), strategy.scope():
        model = build_model(cfg.model, info.num_classes(view), shape,
                            num_fine_classes=info.num_fine_classes)
        schedule = schedules.run_schedule(cfg, steps)
        compile_model(model, cfg.train, epochs * steps, info.view_to_coarse(view), view,
                      schedule=schedule)
        if checkpoint:
            _restore(model, run_dir, checkpoint)

    # ----------------------------------------------------------------------- loop
    epoch_end = _EpochEnd(write_dir, schedule, history, epochs, chash)
    restart = [RestartMomentum()] if cfg.train.restart_momentum else []
    if done < epochs:
        try:
            model.fit(train_ds, epochs=epochs, initial_epoch=done, steps_per_epoch=steps,
                      validation_data=val_ds, validation_freq=cfg.train.eval_every or 1,
                      callbacks=[*restart, *authors_protocol.callbacks(info, cfg), *callbacks,
                                 epoch_end], shuffle=False,
                      verbose=_fit_verbosity())
        except distribute.PEER_ERRORS as e:
            if not distribute.is_multi_worker(strategy):
                raise
            completed = history[-1]["epoch"] if history else 0
            raise distribute.lost_worker_error(e, strategy, run_dir, completed,
                                                 cfg.train.collective_timeout_s) from e

    # ----------------------------------------------------------------------- finish
    _save_model(model, run_files.model_path(write_dir))
    seconds = round(sum(h.get("seconds") or 0 for h in history), 3)
    run_files.write_train_state(write_dir, {
        "finished": True, "epochs": epochs, "seconds": seconds, "config_hash": chash,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
    logging.info("Finished %s: %d epochs in %.1f s.", run_dir, epochs, seconds)
    return history
