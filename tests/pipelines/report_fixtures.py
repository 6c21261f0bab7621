"""A fake but realistic RUNS_DIR for the reporter and advice tests.

The reporter only aggregates files, so the tests write them with chosen numbers: plan.json
(`Plan.to_dict()` plus 'run_dir' and 'dataset_dir'), and per run config.json, metrics.json,
history.json and train_state.json in the layouts the trainer and evaluator write.
"""

import json
import os

from lg_keras.config import (BuildConfig, DataConfig, ExperimentConfig, ModelConfig, TrainConfig,
                             config_hash, to_dict)
from pipelines import paper_numbers

NUM_TEST = 1000
VERSIONS = {"tensorflow": "2.21.0", "keras": "3.15.1", "lg_keras": "0.1.0", "python": "3.11.9"}


def correct_string(accuracy: float, offset: int = 0, n: int = NUM_TEST) -> str:
    """n test images, round(accuracy * n) of them correct, the wrong ones starting at offset."""
    wrong = n - round(accuracy * n)
    return "".join("0" if offset <= i < offset + wrong else "1" for i in range(n))


def history(epochs: int, final_train: float, final_test: float, acr_start: float | None = None,
            acr_end: float | None = None) -> list[dict]:
    """Per-epoch records rising linearly to the final figures (val_acr from start to end)."""
    out = []
    for e in range(1, epochs + 1):
        t = e / epochs
        record = {"epoch": e, "loss": 1.0 - 0.5 * t, "learning_rate": 0.1, "seconds": 10.0,
                  "accuracy": final_train * (0.8 + 0.2 * t),
                  "coarse_accuracy": final_train * (0.8 + 0.2 * t),
                  "val_coarse_accuracy": final_test * (0.8 + 0.2 * t),
                  "val_accuracy": final_test * (0.8 + 0.2 * t)}
        if acr_start is not None:
            record["acr"] = acr_start + (acr_end - acr_start) * t
            record["val_acr"] = acr_start + (acr_end - acr_start) * t
        out.append(record)
    return out


def write_run(runs_dir: str, dataset: str, labels: str, seed: int, test: float | None, *,
              fraction: float = 1.0, head: str = "linear", train: float = 0.999,
              running: float = 0.998, best: float | None = None, acr: float | None = None,
              acr_noisy: float | None = None, correct: str | None = None,
              by_hierarchy: dict | None = None, epochs: int = 8, val_acr=(None, None),
              experiments=("table1",), state: str = "done", seconds: float = 60.0) -> dict:
    """Writes one run directory; returns its plan entry.

    Args:
        test: final coarse test accuracy in [0, 1] (None with state != 'done').
        state: 'done' (evaluated), 'trained' (no metrics.json), 'running' (history only) or
            'pending' (nothing written).
    """
    cfg = ExperimentConfig(data=DataConfig(labels=labels, fraction=fraction),
                           model=ModelConfig(width=16, head=head),
                           train=TrainConfig(epochs=epochs, seed=seed))
    key = f"{dataset}-{labels}-{head}-{fraction:g}-s{seed}"
    run_dir = os.path.join(runs_dir, "runs", key)
    entry = {"key": key, "dataset": dataset, "experiment": to_dict(cfg), "hierarchies": [],
             "experiments": list(experiments), "estimated_seconds": seconds,
             "run_dir": run_dir, "dataset_dir": os.path.join(runs_dir, "data", dataset)}
    if state == "pending":
        return entry
    os.makedirs(run_dir, exist_ok=True)
    _dump(os.path.join(run_dir, "config.json"), {
        "experiment": to_dict(cfg), "config_hash": config_hash(cfg),
        "dataset": {"path": entry["dataset_dir"], "config_hash": "abc", "hierarchy": dataset},
        "versions": VERSIONS, "strategy": "default", "num_replicas": 1,
        "label_view_num_classes": 2 if labels == "coarse" else 10})
    final_test = test if test is not None else 0.9
    hist = history(cfg.epochs_to_run(), running, final_test, *val_acr)
    _dump(os.path.join(run_dir, "history.json"), hist)
    if state == "running":
        return entry
    _dump(os.path.join(run_dir, "train_state.json"), {"finished": True, "epochs": len(hist),
                                                      "seconds": seconds, "config_hash": "x"})
    if state == "trained":
        return entry
    _dump(os.path.join(run_dir, "metrics.json"), {
        "label_view": labels, "trained_classes": ["c"] * (2 if labels == "coarse" else 10),
        "coarse_test_accuracy": test, "coarse_train_accuracy": train,
        "running_train_accuracy": running, "running_coarse_train_accuracy": running,
        "fine_test_accuracy": None if labels == "coarse" else test - 0.1,
        "acr": acr, "acr_noisy_test_labels": acr_noisy,
        "acr_note": "coarse run" if acr is None else None,
        "best_epoch_val_coarse_accuracy": best if best is not None else test + 0.002,
        "best_epoch": len(hist), "num_epochs": len(hist), "num_test_examples": NUM_TEST,
        "test_correct": correct or correct_string(test), "by_hierarchy": by_hierarchy or {},
        "evaluation_seconds": 5.0})
    return entry


def write_plan(runs_dir: str, entries: list, skipped=(), profile: str = "test",
               hierarchies: dict | None = None) -> None:
    """RUNS_DIR/plan.json for the entries (dataset hierarchy = dataset key unless given)."""
    hierarchies = hierarchies or {}
    datasets = {}
    for e in entries:
        name = hierarchies.get(e["dataset"], e["dataset"])
        build = BuildConfig(dataset="cifar10", hierarchy=name)
        datasets[e["dataset"]] = {"build": to_dict(build), "build_hash": config_hash(build),
                                  "paper_name": paper_numbers.DATASET_NAMES.get(name, name)}
    _dump(os.path.join(runs_dir, "plan.json"), {
        "profile": profile, "datasets": datasets, "runs": entries,
        "skipped": [list(s) for s in skipped]})


def _dump(path: str, data) -> None:
    with open(path, "w") as f:
        json.dump(data, f)
