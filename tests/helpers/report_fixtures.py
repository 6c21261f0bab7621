"""A fake but realistic RUNS_DIR for the reporter and advice tests.

The reporter only aggregates files, so the tests write them with chosen numbers: plan.json
(`Plan.to_dict()` plus 'run_dir' and 'dataset_dir'), and per run config.json, metrics.json,
history.json and train_state.json in the layouts the trainer and evaluator write.
`build_runs_dir` writes the directory both test modules use: finished runs with chosen gains
and losses, pending, running, trained-but-unevaluated, skipped and unplanned runs.
`build_verdict_runs_dir` writes one whose numbers hit each verdict outcome (VERDICT_CASES).
"""

import json
import os

from PIL import Image

from lg_keras.config import BuildConfig, DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lg_keras.config_io import config_hash, to_dict
from components.reporter import paper_numbers

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
              experiments=("table1",), state: str = "done", seconds: float = 60.0,
              key_suffix: str = "") -> dict:
    """Writes one run directory; returns its plan entry.

    Args:
        test: final coarse test accuracy in [0, 1] (None with state != 'done').
        state: 'done' (evaluated), 'trained' (no metrics.json), 'running' (history only) or
            'pending' (nothing written).
    """
    cfg = ExperimentConfig(data=DataConfig(labels=labels, fraction=fraction),
                           model=ModelConfig(width=16, head=head),
                           train=TrainConfig(epochs=epochs, seed=seed))
    key = f"{dataset}-{labels}-{head}-{fraction:g}-s{seed}{key_suffix}"
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
        # Records written before dtype_policy existed say only whether precision was mixed.
        **({"dtype_policy": "mixed_bfloat16", "mixed_precision": True} if seed == 1
           else {"mixed_precision": False}),
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


# Coarse test accuracy per seed: (fine, coarse). CIFAR-10 is a clear gain, CIFAR-100 a clear
# loss (the paper: +0.01), CIFAR-100 animals an interval across 0, dog vs. cat one seed.
NUMBERS = {
    "cifar10": ([0.992, 0.990, 0.991], [0.984, 0.983, 0.985]),
    "cifar100": ([0.800, 0.790, 0.805], [0.830, 0.825, 0.835]),
    "cifar100_animals": ([0.800, 0.820, 0.790], [0.810, 0.800, 0.805]),
    "imagenet_dogcat": ([0.950], [0.930]),
}
MAPPING_FINE, MAPPING_COARSE = [0.980, 0.979, 0.981], [0.970, 0.971, 0.969]


def _png(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(path)


def build_runs_dir(root) -> str:
    """A RUNS_DIR with finished, pending, running, skipped and unplanned runs."""
    d = str(root)
    entries = []
    for dataset, (fine, coarse) in NUMBERS.items():
        experiments = ("table1", "fig3", "fig6") + (("table6", "table7")
                                                    if dataset == "cifar10" else ())
        for seed, (f, c) in enumerate(zip(fine, coarse)):
            by_hierarchy = None
            if dataset == "cifar10":
                by_hierarchy = {"cifar10_custom_3": {
                    "coarse_test_accuracy": MAPPING_FINE[seed], "coarse_train_accuracy": 1.0,
                    "acr": 0.2, "test_correct": correct_string(MAPPING_FINE[seed]),
                    "val_acr_by_epoch": [{"epoch": e, "val_acr": 0.5 - 0.02 * e}
                                         for e in range(1, 9)]}}
            entries.append(write_run(d, dataset, "fine", seed, f, acr=0.12 + 0.01 * seed,
                                        by_hierarchy=by_hierarchy, val_acr=(0.3, 0.12),
                                        experiments=experiments))
            entries.append(write_run(d, dataset, "coarse", seed, c, experiments=experiments))
    for seed, c in enumerate(MAPPING_COARSE):
        entries.append(write_run(d, "cifar10_custom_3", "coarse", seed, c,
                                    experiments=("table6",)))
    entries.append(write_run(d, "cifar10", "fine_noise_0.1", 0, 0.983, acr=0.15,
                                acr_noisy=0.11, val_acr=(0.4, 0.15), experiments=("table7",)))
    entries.append(write_run(d, "fashion_mnist", "fine", 0, 0.97, acr=0.3,
                                experiments=("table1", "fig6")))
    entries.append(write_run(d, "fashion_mnist", "coarse", 0, 0.96,
                                experiments=("table1", "fig6")))
    entries.append(write_run(d, "imagenet_fruitveg", "fine", 0, None, state="pending"))
    entries.append(write_run(d, "imagenet_fruitveg", "coarse", 0, None, state="running"))
    entries.append(write_run(d, "cifar100_5", "fine", 0, None, state="trained",
                                experiments=("table8",)))
    skipped_entry = write_run(d, "cifar100_15", "fine", 0, None, state="pending",
                                 experiments=("table8",))
    entries.append({**skipped_entry, "status": "skipped"})
    # Cluster-derived labels trained by hand, not in the plan: found by scanning RUNS_DIR.
    for seed, a in enumerate([0.987, 0.986, 0.988]):
        write_run(d, "cifar10", "fine_cluster_3", seed, a, acr=0.25, experiments=())
    _png(os.path.join(entries[0]["run_dir"], "figures", "tsne.png"))
    _png(os.path.join(entries[0]["run_dir"], "figures", "confusion.png"))
    write_plan(d, entries, skipped=[("cifar100_15", "cannot obtain the dataset: test"),
                                       ("cifar10-coarse-x (table4, table5)", "over the budget")])
    return d


# Coarse test accuracy per seed, (fine, coarse), chosen so each claim lands on one verdict. ΔA in
# points per seed pair in the comments; the margin of the negligible claims is +-0.5 points.
VERDICT_CASES = {
    # +0.8, +0.7, +0.6: 95% interval [+0.45, +0.95] above 0 (paper +0.78) -> reproduced.
    "cifar10": ([0.992, 0.990, 0.991], [0.984, 0.983, 0.985]),
    # -3.0, -3.0, -3.0 (paper +2.02; also Table VIII with 10 coarse classes) -> not reproduced.
    "cifar100_animals": ([0.800, 0.795, 0.805], [0.830, 0.825, 0.835]),
    # -0.5, +2.0, -1.5: the interval covers 0 (paper +1.99) -> inconclusive.
    "imagenet_dogcat": ([0.940, 0.960, 0.935], [0.945, 0.940, 0.950]),
    # One seed pair, +3.0 (paper +3.50) -> inconclusive (one seed).
    "imagenet_fruitveg": ([0.930], [0.900]),
    # Negligible claims. CIFAR-100 (Table I and Table VIII with 20 classes): +0.02, -0.03, +0.03,
    # 90% interval [-0.05, +0.06] inside +-0.5 -> reproduced (negligible).
    "cifar100": ([0.8502, 0.8498, 0.8505], [0.8500, 0.8501, 0.8502]),
    # CIFAR-100-15: +0.5, +1.2, +0.1, 90% interval [-0.34, +1.54] across +0.5 -> inconclusive.
    "cifar100_15": ([0.855, 0.862, 0.851], [0.850, 0.850, 0.850]),
}
# Table VII on top of the CIFAR-10 pair: r -> (A_FC of one seed-0 run, ACR on clean test labels,
# ACR on noisy test labels). ΔA falls with r (+0.70 at r=0, then +0.65, +0.50, +0.30, +0.10) and
# both ACRs fall with it, so all three rank tests are at their exact minimum p = 1/5! = 0.008.
VERDICT_NOISE = {0.01: (0.9905, 0.125, 0.11), 0.03: (0.989, 0.12, 0.09),
                 0.1: (0.987, 0.11, 0.06), 0.3: (0.985, 0.10, 0.03)}


# The launched noise, seed 0: r -> (final A_FC, best-epoch A_FC, coarse targets changed). Against
# the seed-0 coarse run (0.984) ΔA is +0.4, +0.1, -0.4, -1.4: negative from r = 0.1.
VERDICT_LAUNCHED = {0.01: (0.988, 0.990, 0.009), 0.03: (0.985, 0.989, 0.028),
                    0.1: (0.980, 0.986, 0.089), 0.3: (0.970, 0.981, 0.22)}


def build_verdict_runs_dir(root) -> str:
    """A RUNS_DIR of finished runs whose verdicts cover every outcome (VERDICT_CASES)."""
    d = str(root)
    entries = []
    for dataset, (fine, coarse) in VERDICT_CASES.items():
        experiments = ("table1", "table7") if dataset == "cifar10" else ("table1", "table8")
        for seed, (f, c) in enumerate(zip(fine, coarse)):
            entries.append(write_run(d, dataset, "fine", seed, f, acr=0.12 + 0.01 * seed,
                                     val_acr=(0.3, 0.12), experiments=experiments))
            entries.append(write_run(d, dataset, "coarse", seed, c, experiments=experiments))
    for rate, (accuracy, acr, acr_noisy) in VERDICT_NOISE.items():
        entries.append(write_run(d, "cifar10", f"fine_noise_{rate:g}", 0, accuracy, acr=acr,
                                 acr_noisy=acr_noisy, val_acr=(0.4, 0.15),
                                 experiments=("table7",)))
    shares = {}
    for rate, (accuracy, best, share) in VERDICT_LAUNCHED.items():
        entries.append(write_run(d, "cifar10_launched", f"fine_noise_launched_{rate:g}", 0,
                                 accuracy, best=best, acr=0.1, experiments=("table7",)))
        shares[f"launched_{rate:g}"] = share
    os.makedirs(os.path.join(d, "data", "cifar10_launched"))
    _dump(os.path.join(d, "data", "cifar10_launched", "dataset.json"), {"noise": {
        "kind": "launched", "coarse_changed_fraction": {"train": shares, "test": {
            k: 0.0 for k in shares}}}})
    for labels, accuracy, running in (("fine", 0.990, 0.99), ("fine_noise_0.3", 0.980, 0.95)):
        entries.append(write_run(d, "cifar10", labels, 0, accuracy, running=running, epochs=32,
                                 experiments=("table7_memorisation",), key_suffix="-long"))
    write_plan(d, entries, hierarchies={"cifar10_launched": "cifar10"})
    return d
