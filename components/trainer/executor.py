"""trainer: trains one `ExperimentConfig` on a built dataset into a run directory.

`run(cfg, inputs, outputs)` reads the dataset at `inputs['examples']` and writes the run directory
`outputs['model']` (layout in `lg_keras.run_files`). It returns at once for a finished run of the
same config, validates the dataset, label view and image size before training, and holds the run
directory's lock while training so a second trainer refuses. `lg_keras.train.train` checks the
run directory itself (another config's run, a damaged checkpoint) and resumes an interrupted run
from its last checkpoint; the component does not repeat those checks.

On several workers (`--strategy multi_worker`, TF_CONFIG) every worker runs the same command with
the same run directory. The chief holds the lock and writes the run directory; every other worker
writes its files to a temporary directory (`lg-worker-<task>-<pid>-*` under TMPDIR) that is
removed when it returns or fails, or, after a SIGKILL, when a worker of that task starts again.

The component owns the TensorBoard output (the library never picks log paths): RUN_DIR/logs gets
the Keras TensorBoard callback's scalars (loss, accuracy, coarse_accuracy, acr, learning_rate under
train/ and validation/) and an HParams summary of the flattened config with the final metrics.
"""

import contextlib
import dataclasses
import logging
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from lg_keras import data, distribute, outputs as outputs_lib, run_files, train as train_lib
from lg_keras.config import ExperimentConfig
from lg_keras.config_io import config_hash, to_dict
from lg_keras.dataset_info import load_dataset_info

# Final figures shown in TensorBoard's HParams dashboard, as (tag, description).
FINAL_METRICS = (
    ("final/loss", "training loss of the last epoch"),
    ("final/accuracy", "running training accuracy of the last epoch (label view)"),
    ("final/coarse_accuracy", "running training coarse accuracy of the last epoch"),
    ("final/val_accuracy", "test accuracy (label view) at the last evaluation"),
    ("final/val_coarse_accuracy", "test coarse accuracy at the last evaluation"),
    ("final/val_acr", "test ACR (fine views) at the last evaluation"),
)


def flat_config(cfg: ExperimentConfig) -> dict:
    """The config as {'section.field': bool|int|float|str} (tuples as strings), for HParams."""
    flat = {}
    for section, fields in to_dict(cfg).items():
        for name, value in fields.items():
            if not isinstance(value, (bool, int, float, str)):
                value = str(value)
            flat[f"{section}.{name}"] = value
    return flat


class HParamsSummary(keras.callbacks.Callback):
    """Writes the HParams plugin's session (flattened config) and the final metrics to `log_dir`.

    The session's trial id is the run's config hash.
    """

    def __init__(self, cfg: ExperimentConfig, log_dir: str, trial_id: str):
        super().__init__()
        self._cfg, self._log_dir, self._trial_id = cfg, log_dir, trial_id
        self._last = {}

    def on_train_begin(self, logs=None):
        flat = flat_config(self._cfg)
        writer = tf.summary.create_file_writer(self._log_dir)
        with writer.as_default():
            hp.hparams_config(
                hparams=[hp.HParam(name) for name in flat],
                metrics=[hp.Metric(tag, description=text) for tag, text in FINAL_METRICS]
                + [hp.Metric("epoch_coarse_accuracy", group="validation"),
                   hp.Metric("epoch_accuracy", group="validation")])
            hp.hparams(flat, trial_id=self._trial_id)
        writer.close()

    def on_epoch_end(self, epoch, logs=None):
        self._last.update({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
        self._last["epoch"] = epoch + 1

    def on_train_end(self, logs=None):
        writer = tf.summary.create_file_writer(self._log_dir)
        with writer.as_default():
            for tag, _ in FINAL_METRICS:
                key = tag.split("/", 1)[1]
                if key in self._last:
                    tf.summary.scalar(tag, self._last[key], step=self._last["epoch"])
        writer.close()


def run(cfg: ExperimentConfig, inputs: dict, outputs: dict, *, callbacks=()) -> dict:
    """Trains `cfg` on the dataset `inputs['examples']` into the run directory `outputs['model']`.

    Args:
        cfg: the experiment; its `data.dataset_dir` is replaced by the absolute
            `inputs['examples']` (the dataset the component was given).
        inputs: {'examples': a directory written by `lg data build`}.
        outputs: {'model': the run directory}.
        callbacks: extra Keras callbacks, after the TensorBoard ones.

    Returns:
        {'run_dir', 'config_hash', 'skipped' (True for a run already finished), 'history'
        (per-epoch dicts, see `lg_keras.train.train`), 'final' (the last of them or {})}.

    Raises:
        DataError: the dataset is missing, of another format version, or has a corrupt shard.
        ConfigError: the dataset has no such label view, or a model setting is invalid.
        RunDirError: the run directory holds another run or another trainer holds it.
    """
    dataset_dir = os.path.abspath(inputs["examples"])
    run_dir = os.path.abspath(outputs["model"])
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset_dir=dataset_dir))
    chash = config_hash(cfg)
    # A finished run needs neither its dataset nor a strategy.
    history = run_files.finished_history(run_dir, chash)
    if history is not None:
        logging.info("Run %s is already finished (config_hash %s); not retraining.", run_dir, chash)
        return _result(run_dir, chash, history, skipped=True)
    info = load_dataset_info(dataset_dir)
    data.check_label_view(info, cfg.data.labels)
    data.input_shape(info, cfg.data)
    strategy = distribute.make_strategy(cfg.train)
    chief = distribute.is_chief(strategy)
    with _write_dir(strategy, run_dir) as write_dir:
        log_dir = os.path.join(run_dir, run_files.LOG_DIR)
        board = [keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False),
                 HParamsSummary(cfg, log_dir, chash)] if chief else []
        history = train_lib.train(cfg, info, run_dir, strategy=strategy,
                                  callbacks=[*board, *callbacks], write_dir=write_dir)
    return _result(run_dir, chash, history, skipped=False)


@contextlib.contextmanager
def _write_dir(strategy, run_dir: str):
    """The chief: `run_dir`, locked. Another worker: a temporary directory, removed at the end."""
    if distribute.is_chief(strategy):
        with outputs_lib.exclusive_lock(run_dir):
            yield run_dir
        return
    prefix = f"lg-worker-{distribute.task_name(strategy)}-"
    for name in outputs_lib.remove_stale_private_dirs(tempfile.gettempdir(), prefix):
        logging.info("Removed %s, left by a killed worker.", name)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}{os.getpid()}-") as write_dir:
        logging.info("Not the chief: writing to %s (removed at the end), not %s.", write_dir,
                     run_dir)
        yield write_dir


def _result(run_dir, chash, history, skipped):
    return {"run_dir": run_dir, "config_hash": chash, "skipped": skipped, "history": history,
            "final": history[-1] if history else {}}
