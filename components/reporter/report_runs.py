"""The runs of a RUNS_DIR as one pandas DataFrame, and how the report picks the runs of a setting.

A run directory is read, never written (`lg_keras.run_files`): config.json (the experiment,
versions), metrics.json (the evaluator's numbers), history.json (per-epoch figures) and
train_state.json (wall time). The plan
(RUNS_DIR/plan.json, `pipelines.plan.Plan.to_dict()` plus each run's 'run_dir' and
'dataset_dir') says which runs exist, which are still to come and what was skipped. Run
directories found under RUNS_DIR but missing from the plan (ad-hoc `lg train` runs) are listed too.

Each setting is identified by its dataset's label hierarchy (`paper_dataset`, the key of
`components.reporter.paper_numbers`), its label view, data fraction and head; seeds of one setting are the
rows whose experiment config differs in `train.seed` only.
"""

import json
import logging
import math
import os

import numpy as np
import pandas as pd

from lg_keras import metrics as lg_metrics, run_files
from lg_keras.config import ExperimentConfig
from lg_keras.config_io import from_dict, hashed_fields
from lg_keras.errors import ConfigError, RunDirError
from lg_keras.fingerprints import fingerprint
from lg_keras.label_views import LabelView, noise_variant, parse_label_view
# read_json is part of this module's API (report.py, report_study.py read plan.json with it).
from lg_keras.run_files import read_json
from components.reporter import paper_numbers
from components.reporter.report_stats import NOT_RUN, PENDING

DONE = "done"
SKIPPED = "skipped"  # the runner could not obtain the run's dataset (plan.json run status)
# Status of a run directory: evaluated; trained but not evaluated; started; not started.
STATUSES = (DONE, "trained, not evaluated", "running or interrupted", "pending", SKIPPED)
METRIC_COLUMNS = ("coarse_test_accuracy", "coarse_train_accuracy", "running_train_accuracy",
                  "running_coarse_train_accuracy", "fine_test_accuracy", "fine_train_accuracy",
                  "acr", "acr_noisy_test_labels", "best_epoch_val_coarse_accuracy", "best_epoch",
                  "num_epochs", "num_test_examples")
# metrics.json['authors_protocol'] (runs scored with the authors' ImageNet test protocol, see
# lg_keras.authors_protocol): column -> key. NaN for the other runs.
AUTHORS_COLUMNS = {"authors_best_test_coarse_accuracy": "best_test_coarse_accuracy",
                   "authors_final_epoch_acr": "final_epoch_acr", "authors_passes": "passes"}
_SCAN_DEPTH = 3


def read_plan(runs_dir: str) -> dict:
    """RUNS_DIR/plan.json, or an empty plan when there is none."""
    plan = read_json(run_files.plan_path(runs_dir), None)
    if not isinstance(plan, dict):
        return {"profile": None, "datasets": {}, "runs": [], "skipped": [], "notes": []}
    return {"profile": plan.get("profile"), "datasets": plan.get("datasets") or {},
            "runs": plan.get("runs") or [], "skipped": plan.get("skipped") or [],
            "notes": plan.get("notes") or []}


def _history(run_dir: str) -> list[dict]:
    """The run's history.json; [] when it is missing or damaged (logged): the row stays."""
    try:
        return run_files.read_history(run_dir)
    except RunDirError as e:
        logging.warning("%s Treating it as missing.", e)
        return []


def condition_id(experiment: dict) -> str:
    """A short hash of an experiment config without its seed and dataset path (one setting).

    The config is read as the hash reads it (`config_io.hashed_fields`): a field added later and
    recorded at its default counts as absent, so a run recorded before the field existed and one
    recorded after it are the same setting. A record this version cannot read is hashed as is.
    """
    data = json.loads(json.dumps(experiment or {}))
    try:
        data = json.loads(json.dumps(hashed_fields(from_dict(ExperimentConfig, data))))
    except (ConfigError, TypeError, ValueError):
        pass
    data.get("train", {}).pop("seed", None)
    data.get("data", {}).pop("dataset_dir", None)
    return fingerprint(data, length=10)


def _hierarchy_name(spec: str | None) -> str | None:
    if not spec:
        return None
    base = os.path.basename(str(spec))
    return base[:-5] if base.endswith(".yaml") else base[:-4] if base.endswith(".yml") else base


def _paper_dataset(hierarchy: str | None, dataset: str | None) -> str:
    for name in (hierarchy, dataset):
        if name and (name in paper_numbers.DATASET_NAMES or name.startswith("cifar10_custom_")):
            return name
    return hierarchy or dataset or "unknown"


def _label_view(labels: str) -> LabelView | None:
    """The parsed label view; None for a run directory from another tool (its row stays)."""
    try:
        return parse_label_view(labels)
    except ConfigError:
        return None


def _label_kind(labels: str, view: LabelView | None) -> tuple[str, float, float, str]:
    """(kind, noise rate, cluster k, noise kind) of a label view; NaN where it does not apply."""
    if view is None:  # unclassified
        return labels, math.nan, math.nan, ""
    return (view.kind, math.nan if view.rate is None else view.rate,
            math.nan if view.clusters is None else float(view.clusters), view.noise_kind)


def _dataset_dirs(runs_dir: str, entry: dict, config: dict) -> list[str]:
    """Where the run's build may be: the plan's directory under RUNS_DIR (which moves with saved
    records, `lg records`), then the path the trainer recorded."""
    dirs = [os.path.join(runs_dir, entry["dataset_dir"])] if entry.get("dataset_dir") else []
    return dirs + [p for p in [(config.get("dataset") or {}).get("path")] if p]


def _coarse_targets_changed(dataset_dirs: list[str], view: LabelView | None) -> float:
    """The share of the run's training images whose noisy fine label maps to another coarse
    class (its build's dataset.json), NaN for other views or a build that does not record it."""
    paths = [os.path.join(d, "dataset.json") for d in dataset_dirs]
    path = next((p for p in paths if os.path.isfile(p)), None)
    if view is None or view.kind != "noise" or path is None:
        return math.nan
    meta = read_json(path, {}) or {}
    shares = ((meta.get("noise") or {}).get("coarse_changed_fraction") or {}).get("train") or {}
    value = shares.get(noise_variant(view.rate, view.noise_kind))
    return float(value) if isinstance(value, (int, float)) else math.nan


def _status(run_dir: str, records: run_files.Records, planned: str | None) -> str:
    if records.evaluated:
        return DONE
    if planned == SKIPPED:
        return SKIPPED
    if records.finished:
        return STATUSES[1]
    if os.path.exists(os.path.join(run_dir, run_files.HISTORY_FILE)):
        return STATUSES[2]
    return STATUSES[3]


def _row(runs_dir: str, entry: dict, plan: dict) -> dict:
    run_dir = entry.get("run_dir") or os.path.join(runs_dir, entry.get("key", "run"))
    run_dir = run_dir if os.path.isabs(run_dir) else os.path.join(runs_dir, run_dir)
    records = run_files.read_records(run_dir)
    config, state = records.config or {}, records.train_state
    experiment = config.get("experiment") or entry.get("experiment") or {}
    data, model, train = (experiment.get(k, {}) for k in ("data", "model", "train"))
    dataset = entry.get("dataset") or (config.get("dataset") or {}).get("hierarchy") or "unknown"
    spec = (plan["datasets"].get(dataset) or {})
    build = spec.get("build") or {}
    hierarchy = _hierarchy_name(build.get("hierarchy")
                                or (config.get("dataset") or {}).get("hierarchy"))
    labels = data.get("labels", "fine")
    view = _label_view(labels)
    kind, noise_rate, cluster_k, noise_kind = _label_kind(labels, view)
    head = model.get("head", "linear")
    paper_dataset = _paper_dataset(hierarchy, dataset)
    metrics = records.metrics or {}
    row = {
        "run_key": entry.get("key") or os.path.basename(run_dir.rstrip("/")),
        "run_dir": run_dir,
        "dataset": dataset,
        "hierarchy": hierarchy,
        "paper_dataset": paper_dataset,
        "paper_name": spec.get("paper_name") or paper_numbers.DATASET_NAMES.get(paper_dataset,
                                                                              paper_dataset),
        "max_train_per_class": build.get("max_train_per_class"),
        "labels": labels,
        "label_kind": kind,
        "noise_rate": noise_rate,
        "noise_kind": noise_kind,
        "coarse_targets_changed": _coarse_targets_changed(
            _dataset_dirs(runs_dir, entry, config), view),
        "cluster_k": cluster_k,
        "fraction": float(data.get("fraction", 1.0)),
        "model": model.get("name"),
        "width": model.get("width"),
        "head": head,
        "dropout": float(model.get("dropout", 0.0)) if head == "dropout" else 0.0,
        "epochs": train.get("epochs"),
        "seed": int(train.get("seed", 0)),
        "condition": condition_id(experiment),
        "experiments": tuple(entry.get("experiments") or ()),
        "in_plan": bool(entry.get("_in_plan", True)),
        "status": _status(run_dir, records, entry.get("status")),
        "estimated_seconds": entry.get("estimated_seconds"),
        "train_seconds": (state or {}).get("seconds"),
        "eval_seconds": metrics.get("evaluation_seconds"),
        "versions": config.get("versions") or {},
        "strategy": config.get("strategy"),
        "precision": config.get("dtype_policy") or (
            ("mixed_float16" if config.get("mixed_precision") else "float32") if config else None),
        "num_trained_classes": (len(metrics["trained_classes"]) if metrics.get("trained_classes")
                                else config.get("label_view_num_classes")),
        "acr_note": metrics.get("acr_note"),
        "test_correct": metrics.get("test_correct"),
        "by_hierarchy": metrics.get("by_hierarchy") or {},
        "history": _history(run_dir),
        "figures_dir": os.path.join(run_dir, run_files.FIGURES_DIR),
    }
    for name in METRIC_COLUMNS:
        value = metrics.get(name)
        row[name] = float(value) if isinstance(value, (int, float)) else math.nan
    confusion = metrics.get("coarse_confusion_matrix")
    row["balanced_coarse_test_accuracy"] = (lg_metrics.balanced_accuracy(confusion)
                                            if confusion else math.nan)
    authors = metrics.get("authors_protocol") or {}
    for column, key in AUTHORS_COLUMNS.items():
        value = authors.get(key)
        row[column] = float(value) if isinstance(value, (int, float)) else math.nan
    return row


def authors_passes(runs: pd.DataFrame) -> int:
    """The most test passes of any run scored with the authors' protocol (0: no such run)."""
    if runs.empty or "authors_passes" not in runs:
        return 0
    passes = runs["authors_passes"].dropna()
    return int(passes.max()) if len(passes) else 0


def _discover(runs_dir: str, known: set[str]) -> list[dict]:
    """Run directories under runs_dir (config.json with an 'experiment') missing from the plan."""
    found = []
    base_depth = runs_dir.rstrip(os.sep).count(os.sep)
    for root, dirs, files in os.walk(runs_dir):
        if root.count(os.sep) - base_depth >= _SCAN_DEPTH:
            dirs[:] = []
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and ".partial-" not in d)
        if run_files.CONFIG_FILE in files:
            dirs[:] = []  # a run directory's subdirectories hold no other runs
            config = read_json(os.path.join(root, run_files.CONFIG_FILE), {})
            if (os.path.abspath(root) not in known and isinstance(config, dict)
                    and isinstance(config.get("experiment"), dict)):
                found.append({"run_dir": os.path.abspath(root), "_in_plan": False})
    return found


def load_runs(runs_dir: str) -> pd.DataFrame:
    """One row per run (each run is one seed of a setting), finished or not.

    Args:
        runs_dir: a directory written by `lg reproduce` (plan.json and run directories), or any
            directory holding run directories.

    Returns:
        A DataFrame with the setting (dataset, hierarchy, paper_dataset, labels, label_kind,
        noise_rate, noise_kind, coarse_targets_changed, cluster_k, fraction, model, width, head,
        dropout, epochs, seed, condition),
        balanced_coarse_test_accuracy (from metrics.json's coarse confusion matrix),
        the plan's bookkeeping (run_key, run_dir, experiments, in_plan, status (one of STATUSES),
        estimated_seconds), timings (train_seconds, eval_seconds), versions, every scalar of
        metrics.json in METRIC_COLUMNS and of its 'authors_protocol' in AUTHORS_COLUMNS (NaN
        when missing), and object columns test_correct,
        by_hierarchy and history. Empty (with these columns) when there are no runs. attrs holds
        the plan's 'profile', 'skipped' ([what, reason] pairs) and 'notes' (the profile's trims).
    """
    runs_dir = os.path.abspath(runs_dir)
    plan = read_plan(runs_dir)
    entries = [dict(e) for e in plan["runs"] if isinstance(e, dict)]
    rows = [_row(runs_dir, e, plan) for e in entries]
    known = {os.path.abspath(r["run_dir"]) for r in rows}
    rows += [_row(runs_dir, e, plan) for e in _discover(runs_dir, known)]
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=list(_row(runs_dir, {"run_dir": runs_dir}, plan)))
    frame.attrs["profile"] = plan["profile"]
    frame.attrs["skipped"] = [list(s) for s in plan["skipped"]]
    frame.attrs["notes"] = list(plan["notes"])
    return frame


def select(runs: pd.DataFrame, dataset: str, labels: str, *, fraction: float = 1.0,
           head: str = "linear", experiment: str | None = None) -> pd.DataFrame:
    """The runs (all seeds, any status) of one setting.

    When several settings match (e.g. two profiles' runs in one directory), the one serving
    `experiment` is preferred, then the one with most finished seeds.

    Args:
        runs: the frame of `load_runs`.
        dataset: paper_dataset key, e.g. 'cifar10' or 'cifar10_custom_3'.
        labels: label view, e.g. 'fine', 'coarse', 'fine_noise_0.1'.
        fraction: data fraction.
        head: model head ('linear', 'extra_layer', 'dropout').
        experiment: registry name to prefer, e.g. 'table1'.

    Returns:
        The matching rows (possibly empty).
    """
    if runs.empty:
        return runs
    mask = ((runs["paper_dataset"] == dataset) & (runs["labels"] == labels)
            & np.isclose(runs["fraction"].astype(float), fraction) & (runs["head"] == head))
    matched = runs[mask]
    if matched["condition"].nunique() <= 1:
        return matched

    def preference(group: pd.DataFrame):
        """Serves the experiment, then finished seeds, then planned seeds."""
        serves = experiment is not None and any(experiment in e for e in group["experiments"])
        return (serves, int((group["status"] == DONE).sum()), len(group))

    groups = [g for _, g in matched.groupby("condition", sort=True)]
    return max(groups, key=preference)


def state_of(rows: pd.DataFrame) -> str:
    """'done' when a seed of the setting has results, else PENDING (planned) or NOT_RUN (not
    planned, or every seed skipped by the runner)."""
    if rows.empty or (rows["status"] == SKIPPED).all():
        return NOT_RUN
    return DONE if (rows["status"] == DONE).any() else PENDING


def values_by_seed(rows: pd.DataFrame, metric: str, hierarchy: str | None = None) -> dict:
    """{seed: value} of a finished setting's metric; under by_hierarchy[hierarchy] if given.

    Args:
        rows: rows of one setting (`select`).
        metric: a metrics.json key, e.g. 'coarse_test_accuracy', 'acr', 'test_correct'.
        hierarchy: read metrics.json['by_hierarchy'][hierarchy][metric] instead (Table VI).

    Returns:
        Seeds with a value (None and NaN left out).
    """
    done = rows[rows["status"] == DONE]
    if hierarchy is not None:
        values = [(entry or {}).get(hierarchy, {}).get(metric) for entry in done["by_hierarchy"]]
    else:
        values = done[metric].tolist()
    return {int(seed): value for seed, value in zip(done["seed"].tolist(), values)
            if value is not None and not (isinstance(value, float) and math.isnan(value))}
