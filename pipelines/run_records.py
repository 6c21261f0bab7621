"""A runs directory's records without its weights: what `lg records save` keeps and `restore` puts back.

A finished run of `lg reproduce` is its records (config.json, train_state.json, history.json,
metrics.json, its figures) plus its weights (checkpoint/, model.keras) and TensorBoard logs. The
records are a few hundred kilobytes where the weights are megabytes, and they hold every number the
report uses. So:

- `lg records save RUNS_DIR DEST` copies plan.json, the report (md, tables, figures), each
  build's dataset.json and each run's records into DEST, same layout (history.json without its
  per-epoch fine confusion matrices, which metrics.json already holds as ACR): small enough for git
  (`results/cpu` in this repository), and `lg report DEST` rebuilds the report, its HTML
  rendering included, from it.
- `lg records restore SRC RUNS_DIR` copies them back without overwriting anything, builds'
  dataset.json aside (a build is rebuilt when a run needs it). `lg reproduce`
  then keeps a restored run whose records match its plan entry (`restored_metrics`) as finished,
  weights or not, and trains only what is missing: hours of CPU that a fresh machine (or one whose
  disk was reset) need not repeat. Such a run cannot be evaluated again (no weights): to change its
  evaluation, delete its directory and let it train.
"""

import argparse
import logging
import os
import shutil

from lg_keras import outputs, run_files
from lg_keras.config import ExperimentConfig
from lg_keras.config_io import from_dict, to_dict
from lg_keras.errors import ConfigError, RunDirError

# File kinds that are records; everything else (TFRecords, weights, event files, and report.html,
# a rendering of report.md with its figures inlined that `lg report` writes again) stays behind.
RECORD_SUFFIXES = (".json", ".md", ".csv", ".png")


def _finished_run(directory: str, files) -> bool:
    """Whether a directory holding config.json is a finished, evaluated run."""
    return run_files.METRICS_FILE in files and run_files.read_records(directory).finished


def _record_files(runs_dir: str):
    """Relative paths of the record files under runs_dir, sorted.

    A run directory (one holding config.json) counts only when finished and evaluated: an
    interrupted run's records would restore as a run directory without its checkpoint.
    """
    out = []
    for root, dirs, files in os.walk(runs_dir):
        dirs[:] = sorted(d for d in dirs if d not in run_files.NON_RECORD_DIRS
                         and ".partial-" not in d and not d.startswith("."))
        if run_files.CONFIG_FILE in files and not _finished_run(root, files):
            dirs[:] = []
            continue
        for name in sorted(files):
            if name.endswith(RECORD_SUFFIXES) and not name.endswith(".lock"):
                out.append(os.path.relpath(os.path.join(root, name), runs_dir))
    return out


def save(runs_dir: str, dest: str) -> list[str]:
    """Copies the records of runs_dir into dest (same relative layout), replacing older copies.

    Returns:
        The relative paths copied.

    Raises:
        RunDirError: when runs_dir has no plan.json (not a directory of `lg reproduce`), or dest
            lies inside runs_dir.
    """
    runs_dir, dest = os.path.abspath(runs_dir), os.path.abspath(dest)
    if not os.path.isfile(run_files.plan_path(runs_dir)):
        raise RunDirError(f"{runs_dir!r} has no plan.json: records are saved from a directory "
                          f"written by `lg reproduce`.")
    if dest == runs_dir or dest.startswith(runs_dir + os.sep):
        raise RunDirError(f"records destination {dest!r} must lie outside {runs_dir!r}.")
    files = _record_files(runs_dir)
    for rel in files:
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.basename(rel) == run_files.HISTORY_FILE:
            outputs.write_json_atomic(target, _history_record(os.path.join(runs_dir, rel)))
            continue
        tmp = f"{target}.partial"
        shutil.copyfile(os.path.join(runs_dir, rel), tmp)
        os.replace(tmp, target)
    return files


def _history_record(path: str):
    """history.json without its per-epoch fine confusion matrices: the evaluator has already
    turned them into metrics.json's `val_acr_by_epoch`, and at 200 classes they are 5 MB a run."""
    history = run_files.load_json(path)
    if not isinstance(history, list):
        return history
    return [{k: v for k, v in record.items() if k != run_files.VAL_CONFUSION_KEY}
            if isinstance(record, dict) else record for record in history]


def restore(src: str, runs_dir: str) -> list[str]:
    """Copies records from src into runs_dir, never overwriting a file runs_dir already has.

    Returns:
        The relative paths copied (files already present are left alone and not listed).

    Raises:
        RunDirError: when src holds no plan.json.
    """
    src, runs_dir = os.path.abspath(src), os.path.abspath(runs_dir)
    if not os.path.isfile(run_files.plan_path(src)):
        raise RunDirError(f"{src!r} has no plan.json: it is not a directory of saved records.")
    copied = []
    for rel in _record_files(src):
        target = os.path.join(runs_dir, rel)
        # A build's dataset.json without its shards would pass for a finished build (example_gen
        # skips a directory whose dataset.json has its config hash): builds are rebuilt instead.
        if os.path.exists(target) or os.path.basename(rel) == "dataset.json":
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.partial"
        shutil.copyfile(os.path.join(src, rel), tmp)
        os.replace(tmp, target)
        copied.append(rel)
    return copied


def _without_dataset_dir(cfg: ExperimentConfig) -> dict:
    """The config as a dict, its dataset directory blanked. Compared as values, not hashed: a
    config read back from JSON may hold 2.0 where the plan holds 2, which hash differently."""
    import dataclasses  # pylint: disable=import-outside-toplevel
    return to_dict(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset_dir="")))


def restored_metrics(run_dir: str, cfg: ExperimentConfig, build_hash: str) -> dict | None:
    """The metrics of a run restored from records (no weights), if its records match; else None.

    A restored run is one without model.keras or checkpoint/ whose train_state.json says
    finished, whose config.json holds this experiment (the dataset directory aside: records move
    between machines) on the build `build_hash`, and whose metrics.json evaluated that run.
    """
    if run_files.has_weights(run_dir):
        return None
    records = run_files.read_records(run_dir)
    if not (records.finished and records.evaluated):
        return None
    config, metrics = records.config or {}, records.metrics
    try:
        recorded = from_dict(ExperimentConfig, config.get("experiment") or {})
    except (ConfigError, TypeError, ValueError):
        return None
    if (_without_dataset_dir(recorded) != _without_dataset_dir(cfg)
            or (config.get("dataset") or {}).get("config_hash") != build_hash
            or metrics.get("run_config_hash") != config.get("config_hash")):
        logging.warning("%s holds records of another run or build; they are not used.", run_dir)
        return None
    return metrics


def _save(args) -> None:
    files = save(args.runs_dir, args.dest)
    size = sum(os.path.getsize(os.path.join(args.dest, f)) for f in files)
    print(f"saved {len(files)} record files ({size / 1e6:.1f} MB) of {args.runs_dir} to {args.dest}")


def _restore(args) -> None:
    copied = restore(args.src, args.runs_dir)
    print(f"restored {len(copied)} record files from {args.src} into {args.runs_dir}")


def register(commands, data_commands) -> None:
    """Adds `lg records save|restore`."""
    del data_commands
    records = commands.add_parser(
        "records", help="save or restore a runs directory's records (no weights)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = records.add_subparsers(dest="records_command", required=True, metavar="SUBCOMMAND")
    save_cmd = sub.add_parser("save", help="copy RUNS_DIR's records into DEST")
    save_cmd.add_argument("runs_dir", metavar="RUNS_DIR")
    save_cmd.add_argument("dest", metavar="DEST")
    save_cmd.set_defaults(func=_save)
    restore_cmd = sub.add_parser("restore", help="copy saved records into RUNS_DIR "
                                                 "(never overwriting)")
    restore_cmd.add_argument("src", metavar="SRC")
    restore_cmd.add_argument("runs_dir", metavar="RUNS_DIR")
    restore_cmd.set_defaults(func=_restore)
