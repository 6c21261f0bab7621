"""The run directory: its file names, their readers and writers, and the checkpoint state.

Every module that reads or writes a run directory does it through this one. Records saved long ago
(`lg records`, results/cpu) are read with it, so the layout stays exactly:

    config.json          the trainer's record: the config, its hash, the dataset, library versions,
                         strategy, step counts (`lg_keras.train`)
    checkpoint/          epoch-NNNNN.keras (model + optimizer state, written to a temporary name and
                         renamed) and state.json {'epoch': completed epochs, 'checkpoint': that
                         file, 'step', 'config_hash', 'rng_states' (the dropout RNGs, which .keras
                         files lack)}, written last
    history.json         one dict per completed epoch (`lg_keras.train.train`)
    model.keras          the final model, written when training finishes
    train_state.json     {'finished': true, 'epochs', 'seconds', 'config_hash', 'finished_at'},
                         written last
    logs/                the trainer component's TensorBoard files; logs/evaluation/ the evaluator's
    metrics.json         the evaluator's numbers (`lg_keras.evaluate`), written last
    figures/             the evaluator's confusion.png and tsne.png

A run's records are config.json, train_state.json, history.json, metrics.json and figures/: what
the reporter reads and `lg records` keeps. Its weights (checkpoint/, model.keras) and logs/ are not.

Readers come in two strengths. The trainer and the evaluator need a file: `load_json` and the
readers built on it turn a damaged one into a RunDirError naming it. A report lists whatever runs
it finds: `read_json` and `read_records` log a damaged file and read it as missing.

A runs directory (`lg reproduce --out`, a pipeline root) holds plan.json, each build under
example_gen/examples/<build hash> and each run under trainer/model/<run key>: `plan_path`,
`build_path`, `run_path`.

This module imports no TensorFlow: the reporter and the CLI's argument parsing load it.
"""

import dataclasses
import glob
import json
import logging
import math
import os

from lg_keras import outputs
from lg_keras.errors import RunDirError

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_STATE_FILE = "state.json"
HISTORY_FILE = "history.json"
MODEL_FILE = "model.keras"
TRAIN_STATE_FILE = "train_state.json"
METRICS_FILE = "metrics.json"
FIGURES_DIR = "figures"
CONFUSION_FIGURE = "confusion.png"
TSNE_FIGURE = "tsne.png"
LOG_DIR = "logs"
EVALUATION_LOG_DIR = os.path.join(LOG_DIR, "evaluation")
# `outputs.exclusive_lock` target that keeps two evaluators of one run apart (<run>/metrics.lock).
METRICS_LOCK = "metrics"
# Per validated epoch of a fine-label run, in history.json: the validation fine confusion matrix.
VAL_CONFUSION_KEY = "val_fine_confusion"
# The trainer's records (metrics.json and figures/ are the evaluator's).
TRAINER_RECORDS = (CONFIG_FILE, TRAIN_STATE_FILE, HISTORY_FILE)
# What holds a run's weights; a run restored from records has neither.
WEIGHTS = (MODEL_FILE, CHECKPOINT_DIR)
# Directories of a run that hold weights or TensorBoard files, never records.
NON_RECORD_DIRS = (CHECKPOINT_DIR, LOG_DIR)


# A runs directory: plan.json and one TFX-style folder per component output.
PLAN_FILE = "plan.json"
BUILDS_SUBDIR = os.path.join("example_gen", "examples")
RUNS_SUBDIR = os.path.join("trainer", "model")


def plan_path(runs_dir: str) -> str:
    """RUNS_DIR/plan.json: the plan `lg reproduce` (or `lg study`) runs and its statuses."""
    return os.path.join(runs_dir, PLAN_FILE)


def build_path(runs_dir: str, build_hash: str) -> str:
    """Where example_gen writes a build: RUNS_DIR/example_gen/examples/<build hash>."""
    return os.path.join(runs_dir, BUILDS_SUBDIR, build_hash)


def run_path(runs_dir: str, key: str) -> str:
    """Where the trainer writes a run: RUNS_DIR/trainer/model/<run key>."""
    return os.path.join(runs_dir, RUNS_SUBDIR, key)


# --------------------------------------------------------------------------- JSON

def load_json(path: str):
    """A JSON file the caller needs: its content, or None when it is missing.

    Raises:
        RunDirError: the file exists but cannot be read or parsed.
    """
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as e:
        raise RunDirError(f"Cannot read {path!r} ({e}); it is damaged. Remove the run directory "
                          f"or choose another --out.") from e


def read_json(path: str, default=None):
    """A JSON record to list: its content, or `default` when missing or unreadable (logged)."""
    try:
        return load_json(path) if os.path.exists(path) else default
    except RunDirError as e:
        logging.warning("Cannot read %s (%s); treating it as missing.", path, e.__cause__)
        return default


def finite(value) -> float | None:
    """`value` as a float when it is a finite number (Python, numpy, a 0-d tensor), else None.

    history.json and metrics.json hold None where a figure is undefined (an ACR of 0/0), never
    NaN or inf; strings, booleans and None are not figures.
    """
    if value is None or isinstance(value, (bool, str, bytes)):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- records

def history_records(history) -> list[dict]:
    """history.json's content as per-epoch dicts (also accepts Keras' dict of lists)."""
    if isinstance(history, dict) and "epochs" in history:
        history = history["epochs"]
    if isinstance(history, dict):  # {'accuracy': [...], ...}
        length = max((len(v) for v in history.values() if isinstance(v, list)), default=0)
        history = [{k: v[e] for k, v in history.items() if isinstance(v, list) and e < len(v)}
                   for e in range(length)]
    return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []


def read_history(run_dir: str) -> list[dict]:
    """RUN_DIR/history.json as per-epoch dicts; [] when it is missing.

    Raises:
        RunDirError: history.json is damaged.
    """
    return history_records(load_json(os.path.join(run_dir, HISTORY_FILE)) or [])


def read_config(run_dir: str) -> dict | None:
    """RUN_DIR/config.json, None when missing (RunDirError when damaged)."""
    return load_json(os.path.join(run_dir, CONFIG_FILE))


def read_train_state(run_dir: str) -> dict | None:
    """RUN_DIR/train_state.json, None when missing (RunDirError when damaged)."""
    return load_json(os.path.join(run_dir, TRAIN_STATE_FILE))


def read_metrics(run_dir: str) -> dict | None:
    """RUN_DIR/metrics.json, None when missing or unreadable (logged)."""
    metrics = read_json(os.path.join(run_dir, METRICS_FILE))
    return metrics if isinstance(metrics, dict) else None


def has_metrics(run_dir: str) -> bool:
    """Whether the evaluator has written RUN_DIR/metrics.json."""
    return os.path.isfile(os.path.join(run_dir, METRICS_FILE))


def has_weights(run_dir: str) -> bool:
    """Whether RUN_DIR holds a model or a checkpoint (a run restored from records has neither)."""
    return any(os.path.exists(os.path.join(run_dir, name)) for name in WEIGHTS)


@dataclasses.dataclass(frozen=True)
class Records:
    """A run directory's JSON records as a report reads them: missing or damaged ones are None.

    Attributes:
        config: config.json.
        train_state: train_state.json.
        metrics: metrics.json.
    """

    config: dict | None
    train_state: dict | None
    metrics: dict | None

    @property
    def finished(self) -> bool:
        """Whether training finished (train_state.json says so)."""
        return bool((self.train_state or {}).get("finished"))

    @property
    def evaluated(self) -> bool:
        """Whether metrics.json holds the evaluator's headline figure."""
        return (self.metrics or {}).get("coarse_test_accuracy") is not None


def read_records(run_dir: str) -> Records:
    """config.json, train_state.json and metrics.json of RUN_DIR (history: `read_history`)."""
    def read(name):
        value = read_json(os.path.join(run_dir, name))
        return value if isinstance(value, dict) else None

    return Records(config=read(CONFIG_FILE), train_state=read(TRAIN_STATE_FILE),
                   metrics=read(METRICS_FILE))


# --------------------------------------------------------------------------- the trainer's checks

def check_run_dir(run_dir: str, chash: str) -> dict | None:
    """RUN_DIR/config.json (None for a new run), if RUN_DIR may hold the run of config hash `chash`.

    Raises:
        RunDirError: RUN_DIR is not a directory, holds a run of another config, or is damaged.
    """
    if os.path.exists(run_dir) and not os.path.isdir(run_dir):
        raise RunDirError(f"Output {run_dir!r} exists and is not a directory.")
    saved = read_config(run_dir)
    if saved is not None and saved.get("config_hash") != chash:
        raise RunDirError(
            f"Run directory {run_dir!r} holds a different run: its config_hash is "
            f"{saved.get('config_hash')!r}, this config's is {chash!r}. Choose another "
            f"--out, or remove the directory to retrain.")
    return saved


def finished_history(run_dir: str, chash: str) -> list[dict] | None:
    """The history of a finished run of config hash `chash` in RUN_DIR, else None."""
    state = read_train_state(run_dir)
    if not state or not state.get("finished") or state.get("config_hash") != chash:
        return None
    return read_history(run_dir)


# --------------------------------------------------------------------------- checkpoint

@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """An interrupted run's last checkpoint.

    Attributes:
        epoch: epochs completed.
        path: the .keras file (model and optimizer state).
        rng_states: the dropout RNG states saved beside it, or None (older checkpoints).
        history: history.json's records of those epochs.
    """

    epoch: int
    path: str
    rng_states: list | None
    history: list[dict]


def checkpoint_dir(run_dir: str) -> str:
    """RUN_DIR/checkpoint."""
    return os.path.join(run_dir, CHECKPOINT_DIR)


def _checkpoint_state(run_dir: str):
    return load_json(os.path.join(checkpoint_dir(run_dir), CHECKPOINT_STATE_FILE))


def epochs_completed(run_dir: str) -> int:
    """Epochs an interrupted run in RUN_DIR has checkpointed so far (0 if it has no checkpoint).

    Raises:
        RunDirError: checkpoint/state.json is unreadable.
    """
    state = _checkpoint_state(run_dir) or {}
    epoch = state.get("epoch") if isinstance(state, dict) else None
    return epoch if isinstance(epoch, int) and epoch > 0 else 0


def read_checkpoint(run_dir: str, chash: str) -> Checkpoint | None:
    """The last checkpoint of an interrupted run of config hash `chash`, None when there is none.

    Raises:
        RunDirError: the checkpoint belongs to another config, or its state, file or history is
            damaged.
    """
    state = _checkpoint_state(run_dir)
    if not state:
        return None
    if state.get("config_hash") != chash:
        raise RunDirError(f"The checkpoint in {run_dir!r} belongs to config_hash "
                          f"{state.get('config_hash')!r}, not {chash!r}; remove it to retrain.")
    history = load_json(os.path.join(run_dir, HISTORY_FILE)) or []
    name = state.get("checkpoint")
    if (not isinstance(state.get("epoch"), int) or not isinstance(name, str)
            or not os.path.isfile(os.path.join(checkpoint_dir(run_dir), name))
            or not isinstance(history, list)
            or not all(isinstance(h, dict) and isinstance(h.get("epoch"), int) for h in history)):
        raise RunDirError(f"The checkpoint state in {run_dir!r} is damaged ({state!r:.200}); "
                          f"remove {checkpoint_dir(run_dir)!r} to train from scratch.")
    done = state["epoch"]
    return Checkpoint(epoch=done, path=os.path.join(checkpoint_dir(run_dir), name),
                      rng_states=state.get("rng_states"),
                      history=[h for h in history if h["epoch"] <= done])


def checkpoint_path(run_dir: str, epoch: int) -> str:
    """RUN_DIR/checkpoint/epoch-NNNNN.keras, the checkpoint after `epoch` completed epochs."""
    return os.path.join(checkpoint_dir(run_dir), f"epoch-{epoch:05d}.keras")


def model_path(run_dir: str) -> str:
    """RUN_DIR/model.keras, the finished run's model."""
    return os.path.join(run_dir, MODEL_FILE)


def remove_stale_temp_files(run_dir: str) -> list[str]:
    """Deletes the temporary files killed writers left in RUN_DIR and its checkpoint/."""
    return [name for directory in (run_dir, checkpoint_dir(run_dir))
            for name in outputs.remove_stale_temp_files(directory)]


# --------------------------------------------------------------------------- writers

def write_config(run_dir: str, record: dict) -> None:
    """Writes RUN_DIR/config.json (once, when a run starts)."""
    outputs.write_json_atomic(os.path.join(run_dir, CONFIG_FILE), record)


def write_epoch(write_dir: str, epoch: int, history: list[dict], *, step: int, chash: str,
                rng_states: list) -> None:
    """Records completed epoch `epoch`, its model already saved at `checkpoint_path`.

    Writes history.json, then checkpoint/state.json (a checkpoint counts once its state names
    it), then removes the older checkpoints (this process's temporary file stays).

    Args:
        write_dir: the run directory (a non-chief worker's own directory).
        epoch: epochs completed.
        history: the records of epochs 1..`epoch`.
        step: the optimizer's step counter.
        chash: the run's config hash.
        rng_states: the dropout RNG states (lists), which the .keras file lacks.
    """
    ckpt, name = checkpoint_dir(write_dir), os.path.basename(checkpoint_path(write_dir, epoch))
    outputs.write_json_atomic(os.path.join(write_dir, HISTORY_FILE), history)
    outputs.write_json_atomic(os.path.join(ckpt, CHECKPOINT_STATE_FILE), {
        "epoch": epoch, "checkpoint": name, "step": step, "config_hash": chash,
        "rng_states": rng_states})
    for path in glob.glob(os.path.join(glob.escape(ckpt), "*.keras")):
        if os.path.basename(path) != name and not path.endswith(f"tmp-{os.getpid()}.keras"):
            os.remove(path)


def write_train_state(write_dir: str, state: dict) -> None:
    """Writes train_state.json (last: the run counts as finished once it exists)."""
    outputs.write_json_atomic(os.path.join(write_dir, TRAIN_STATE_FILE), state)


def write_metrics(run_dir: str, metrics: dict) -> None:
    """Writes RUN_DIR/metrics.json (the evaluator's, last)."""
    outputs.write_json_atomic(os.path.join(run_dir, METRICS_FILE), metrics)
