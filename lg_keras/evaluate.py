"""Evaluation of a finished run: coarse accuracy, fine confusion, ACR, per-hierarchy views.

`evaluate_run` has `predictions.predict_run` load `RUN_DIR/model.keras` and predict the test split
and a clean pass over the training split (no augmentation, inference mode, the data fraction the
run trained on), and returns the metrics as a JSON-ready dict. It writes nothing;
`components/evaluator` writes it.

The paper's figures, and which key holds them:

- `coarse_test_accuracy`: A_FC (Sec. III) when the run trained on a fine, noisy or cluster view
  (argmax class mapped to its coarse class), A_CC when it trained on coarse labels. Final epoch.
- `coarse_train_accuracy`: the same rule on the clean pass over the training data.
  `running_train_accuracy` / `running_coarse_train_accuracy` are the last epoch's running figures
  over augmented batches in training mode (history.json), the curves the paper plots (Fig. 3).
- `acr`: ACR (Sec. V) of the fine confusion matrix against the CLEAN test fine labels;
  `acr_noisy_test_labels` (within-coarse noise views) against the test split's noisy labels of the
  same rate, as the authors' fixed code does for Fig. 7b; None for launched-noise views, whose test
  labels are clean (the authors' test-noise block was commented out when those runs were
  launched). An undefined ACR (inf or nan by `metrics.average_confusion_ratio`) is stored as None
  with an explanation in `acr_note`, never as a NaN.
- `best_epoch_val_coarse_accuracy`: the best per-epoch test-split figure from history.json. The
  authors' code keeps the checkpoint with the best TEST accuracy; this selects on the test set and
  is optimistic, so it is kept apart from the final-epoch figures.
- `authors_protocol`: runs with `train.authors_test_passes` (the paper profile's ImageNet subsets)
  scored the test split through the random training augmentation every epoch, as the authors'
  ImageNet script did; their best epoch and final-epoch pooled ACR (`authors_protocol.summary`,
  whose 'description' says which figure is which). None for other runs.
"""

import math

import numpy as np

from lg_keras import authors_protocol, data, metrics, predictions, records, run_files
from lg_keras.dataset_info import DatasetInfo
from lg_keras.errors import ConfigError, HierarchyError
from lg_keras.label_views import parse_label_view
from lg_keras.labels import Hierarchy

BEST_EPOCH_NOTE = (
    "Best epoch selected on the per-epoch test-split (val_*) figures in history.json, as the "
    "authors' code keeps the checkpoint with the best TEST accuracy. Optimistic; the final-epoch "
    "coarse_test_accuracy is the primary figure.")
RUNNING_NOTE = ("running_* figures: last epoch's running accuracy over augmented batches in "
                "training mode (the paper's training curves); coarse_train_accuracy is a clean "
                "pass.")


def acr_or_none(confusion: np.ndarray, fine_to_coarse) -> tuple[float | None, str | None]:
    """ACR (authors' orientation) as a JSON-safe value and, when undefined, why.

    Returns:
        (acr, None) when finite; (None, note) when `metrics.average_confusion_ratio` gives inf
        (no within-coarse confusion but some across), nan (no confusion at all) or the hierarchy has
        no same-coarse or no different-coarse pair.
    """
    try:
        value = metrics.average_confusion_ratio(confusion, fine_to_coarse)
    except HierarchyError as e:
        return None, f"ACR undefined for this hierarchy: {e}"
    if math.isinf(value):
        return None, ("ACR undefined (inf): no confusion between fine classes of the same coarse "
                      "class, while some across coarse classes.")
    if math.isnan(value):
        return None, "ACR undefined (0/0): no confusion between any two fine classes."
    return value, None


def history_summary(history: list[dict], label_view: str) -> dict:
    """Running training accuracies of the last epoch and the test-selected best epoch."""
    last = history[-1] if history else {}
    coarse_key = "coarse_accuracy" if "coarse_accuracy" in last or label_view != "coarse" \
        else "accuracy"
    val_key = "val_" + coarse_key
    scored = [(e.get(val_key), e.get("epoch", i + 1)) for i, e in enumerate(history)]
    scored = [(float(v), int(epoch)) for v, epoch in scored
              if isinstance(v, (int, float)) and math.isfinite(v)]
    best = max(scored, key=lambda item: (item[0], -item[1])) if scored else (None, None)
    return {
        "num_epochs": len(history),
        "running_train_accuracy": run_files.finite(last.get("accuracy")),
        "running_coarse_train_accuracy": run_files.finite(last.get(coarse_key)),
        "running_note": RUNNING_NOTE,
        "best_epoch_val_coarse_accuracy": best[0],
        "best_epoch": best[1],
        "best_epoch_note": BEST_EPOCH_NOTE,
    }


def _correct_string(correct: np.ndarray) -> str:
    return "".join("1" if c else "0" for c in correct)


def _has_labels(info: DatasetInfo, view: str) -> bool:
    """Whether the dataset's records carry the view's labels (cluster labels may be train-only)."""
    listed = info.meta.get("features", {}).get("int64")
    return listed is None or records.label_feature(view) in listed


def trained_class_names(info: DatasetInfo, label_view: str) -> list[str]:
    """Names of the classes a label view trains on (cluster views: cluster_<i>)."""
    kind = parse_label_view(label_view).kind
    if kind == "coarse":
        return list(info.coarse_names)
    if kind == "cluster":
        return [f"cluster_{i}" for i in range(info.num_classes(label_view))]
    return list(info.fine_names)


def compute_metrics(pred: predictions.RunPredictions, info: DatasetInfo,
                    hierarchies: list[Hierarchy] | None = None) -> dict:
    """The metrics of `evaluate_run` from a run's predictions (see the module docstring)."""
    view = pred.label_view
    parsed = parse_label_view(view)
    fine_view = parsed.trains_fine
    view_to_coarse = info.view_to_coarse(view)
    view_labels = parsed.kind != "coarse" and _has_labels(info, view)
    test_views = ("fine", "coarse") + ((view,) if view_labels and parsed.kind != "fine" else ())
    test = data.read_labels(info, "test", test_views)
    train = data.read_labels(info, "train", ("fine", "coarse"), pred.data_cfg.fraction)
    assert len(test["fine"]) == len(pred.test_logits)
    assert len(train["fine"]) == len(pred.train_logits)
    predicted = metrics.predicted_classes(pred.test_logits)
    coarse_predicted = view_to_coarse[predicted]
    out = {
        "label_view": view,
        "trained_classes": trained_class_names(info, view),
        "fine_names": list(info.fine_names),
        "coarse_names": list(info.coarse_names),
        "train_fraction": pred.data_cfg.fraction,
        "dataset_config_hash": info.meta.get("config_hash"),
        "run_config_hash": pred.config.get("config_hash"),
        "num_test_examples": int(len(predicted)),
        "num_train_examples": int(len(pred.train_logits)),
        "coarse_test_accuracy": metrics.coarse_accuracy(pred.test_logits, test["coarse"],
                                                        view_to_coarse),
        "coarse_train_accuracy": metrics.coarse_accuracy(pred.train_logits, train["coarse"],
                                                         view_to_coarse),
        "test_correct": _correct_string(coarse_predicted == test["coarse"]),
        "coarse_confusion_matrix": metrics.confusion_matrix(
            test["coarse"], coarse_predicted, info.num_coarse_classes).tolist(),
        "fine_test_accuracy": None, "fine_train_accuracy": None, "fine_confusion_matrix": None,
        "acr": None, "acr_labels": None, "acr_note": None,
        "acr_noisy_test_labels": None, "acr_noisy_test_labels_note": None,
        **history_summary(pred.history, view),
        "authors_protocol": authors_protocol.summary(pred.history, view, (
            pred.config["experiment"].get("train") or {}).get("authors_test_passes", 0)),
    }
    if fine_view:
        confusion = metrics.confusion_matrix(test["fine"], predicted, info.num_fine_classes)
        out["fine_test_accuracy"] = metrics.accuracy(pred.test_logits, test["fine"])
        out["fine_train_accuracy"] = metrics.accuracy(pred.train_logits, train["fine"])
        out["fine_confusion_matrix"] = confusion.tolist()
        out["acr"], out["acr_note"] = acr_or_none(confusion, info.fine_to_coarse)
        out["acr_labels"] = "fine"
        if parsed.noise_kind == "launched":
            out["acr_noisy_test_labels_note"] = (
                "Launched noise touches the training split only (the authors' test-noise block was "
                "commented out when those runs were launched), so there are no noisy test labels.")
        elif parsed.kind == "noise" and view_labels:
            noisy = metrics.confusion_matrix(test[view], predicted, info.num_fine_classes)
            out["acr_noisy_test_labels"], out["acr_noisy_test_labels_note"] = acr_or_none(
                noisy, info.fine_to_coarse)
    elif view_labels:  # a cluster view: its classes are clusters, its test labels the assignments
        confusion = metrics.confusion_matrix(test[view], predicted, len(view_to_coarse))
        out["acr"], out["acr_note"] = acr_or_none(confusion, view_to_coarse)
        out["acr_labels"] = view
    elif parsed.kind != "coarse":
        out["acr_note"] = (f"The test split has no {view!r} labels, so the confusion between its "
                           f"classes (and the ACR) cannot be counted.")
    else:
        out["acr_note"] = ("Run trained on coarse labels: it predicts no fine classes, so there is "
                           "no fine confusion matrix to take the ACR of.")
    if hierarchies:
        out["by_hierarchy"] = _by_hierarchy(pred, info, hierarchies, predicted, test, train)
    return out


def check_hierarchies(info: DatasetInfo, hierarchies: list[Hierarchy]) -> list[Hierarchy]:
    """Aligns hierarchies to the dataset's fine classes, requiring exactly the same fine classes.

    Raises:
        HierarchyError: when a hierarchy's fine classes differ from the dataset's, or two share a
            name.
    """
    aligned, names = [], set()
    for h in hierarchies:
        if h.name in names:
            raise HierarchyError(f"Two hierarchies are named {h.name!r}; by_hierarchy needs "
                                 f"distinct names.")
        names.add(h.name)
        a = h.aligned_to(info.fine_names)
        if tuple(a.fine_names) != tuple(info.fine_names):
            missing = sorted(set(info.fine_names) - set(a.fine_names))
            raise HierarchyError(f"Hierarchy {h.name!r} must cover the dataset's fine classes "
                                 f"exactly; missing {missing} (dataset {info.path!r} has "
                                 f"{info.num_fine_classes} fine classes).")
        aligned.append(a)
    return aligned


def require_fine_view(run_dir: str, label_view: str) -> None:
    """Raises ConfigError unless the run predicts the dataset's fine classes (for by_hierarchy)."""
    if not parse_label_view(label_view).trains_fine:
        raise ConfigError(f"Evaluating under other hierarchies needs a run trained on fine labels "
                          f"(data.labels 'fine', 'fine_noise_<r>' or 'fine_noise_launched_<r>'); "
                          f"run {run_dir!r} trained on "
                          f"{label_view!r}, whose predictions cannot be remapped.")


def _by_hierarchy(pred, info, hierarchies, predicted, test, train) -> dict:
    require_fine_view(pred.run_dir, pred.label_view)
    confusion = metrics.confusion_matrix(test["fine"], predicted, info.num_fine_classes)
    out = {}
    for h in check_hierarchies(info, hierarchies):
        f2c = np.asarray(h.fine_to_coarse, np.int64)
        acr, note = acr_or_none(confusion, f2c)
        out[h.name] = {
            "coarse_names": list(h.coarse_names),
            "fine_to_coarse": list(h.fine_to_coarse),
            "coarse_test_accuracy": metrics.coarse_accuracy(pred.test_logits, f2c[test["fine"]],
                                                            f2c),
            "coarse_train_accuracy": metrics.coarse_accuracy(pred.train_logits, f2c[train["fine"]],
                                                             f2c),
            "test_correct": _correct_string(f2c[predicted] == f2c[test["fine"]]),
            "acr": acr,
            "acr_note": note,
            "val_acr_by_epoch": _acr_by_epoch(pred.history, f2c),
        }
    return out


def _acr_by_epoch(history: list[dict], fine_to_coarse: np.ndarray) -> list[dict]:
    """[{'epoch', 'val_acr'}] under `fine_to_coarse` from the per-epoch validation confusions."""
    out = []
    for i, record in enumerate(history):
        confusion = record.get(run_files.VAL_CONFUSION_KEY)
        if confusion is not None:
            out.append({"epoch": int(record.get("epoch", i + 1)),
                        "val_acr": acr_or_none(np.asarray(confusion), fine_to_coarse)[0]})
    return out


def evaluate_run(run_dir: str, info: DatasetInfo, hierarchies: list[Hierarchy] | None = None,
                 batch_size: int | None = None) -> dict:
    """Evaluates a finished run on its dataset; writes nothing.

    Args:
        run_dir: a run directory written by the trainer (config.json, model.keras, history.json,
            train_state.json).
        info: the dataset the run was trained on.
        hierarchies: optional hierarchies over the dataset's fine classes (e.g. the ten Table VI
            mappings of CIFAR-10); each adds `by_hierarchy[name]` computed from the same
            predictions.
        batch_size: inference batch size (default: max(the run's batch size, 256)).

    Returns:
        A JSON-ready dict (no NaN or inf): see the module docstring for the keys.

    Raises:
        RunDirError, DataError: for an unfinished or mismatched run.
        HierarchyError: for a hierarchy whose fine classes differ from the dataset's.
        ConfigError: for hierarchies on a run trained on coarse or cluster labels.
    """
    if hierarchies:  # fail before the (long) predictions
        check_hierarchies(info, hierarchies)
        require_fine_view(run_dir, predictions.load_run_config(run_dir, info)[1].labels)
    pred = predictions.predict_run(run_dir, info, batch_size=batch_size)
    return compute_metrics(pred, info, hierarchies)


def assert_json_finite(value, path: str = "metrics") -> None:
    """Raises ValueError naming the first NaN or inf in a nested JSON-ready value."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path} is {value}; store None with a note instead.")
    if isinstance(value, dict):
        for k, v in value.items():
            assert_json_finite(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            assert_json_finite(v, f"{path}[{i}]")
