"""lg_keras.evaluate: every metric recomputed in plain numpy from model.predict on the same data."""

import json
import math
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from components.example_gen.source_access import SourceAccess
from lg_keras import data, evaluate, hierarchy_files, label_variants, metrics, records
from lg_keras.config import DataConfig
from lg_keras.dataset_info import load_dataset_info
from lg_keras.errors import ConfigError, HierarchyError
from tests.helpers.evaluator_fixtures import (CROSSED_YAML, FINE_FRACTION, HIERARCHY_YAML,  # noqa: F401
                                      NOISE_RATE, tiny_dataset, tiny_runs, write_hierarchy)

NOISE_VIEW = f"fine_noise_{NOISE_RATE:g}"


def _run_config(run_dir):
    with open(os.path.join(run_dir, "config.json")) as f:
        return json.load(f)


def _reference(run_dir, info):
    """Logits and labels computed without lg_keras.evaluate: whole splits, own fraction mask."""
    cfg = DataConfig(**dict(_run_config(run_dir)["experiment"]["data"], dataset_dir=info.path))
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"), compile=False)
    out = {}
    for split in ("test", "train"):
        views = ("fine", "coarse") + ((cfg.labels,) if cfg.labels.startswith("fine_noise") else ())
        images, label_lists = [], {v: [] for v in views}
        for x, y in data.eval_dataset(info, split, cfg, views):
            images.append(x.numpy())
            for v in views:
                label_lists[v].append(y[v].numpy())
        x = np.concatenate(images)
        split_labels = {v: np.concatenate(label_lists[v]) for v in views}
        if split == "train":
            keep = _fraction_mask(info, cfg.fraction)
            x = x[keep]
            split_labels = {v: a[keep] for v, a in split_labels.items()}
        out[split] = (model.predict(x, verbose=0), split_labels)
    return out


def _fraction_mask(info, fraction):
    """A naive loop over the train records: keep rank < the fraction threshold of its class."""
    counts = info.fine_counts("train")
    keep = []
    for path in info.files("train"):
        for serialized in tf.data.TFRecordDataset(path):
            record = records.decode_example(serialized.numpy())
            keep.append(record[records.RANK]
                        < label_variants.fraction_threshold(int(counts[record[records.FINE]]), fraction))
    return np.asarray(keep)


def _naive_confusion(true, predicted, k):
    matrix = np.zeros((k, k), np.int64)
    for t, p in zip(true, predicted):
        matrix[t, p] += 1
    return matrix


def _naive_accuracy(predicted, true):
    return sum(int(p == t) for p, t in zip(predicted, true)) / len(true)


@pytest.fixture(scope="module")
def info(tiny_dataset):
    return load_dataset_info(tiny_dataset)


@pytest.fixture(scope="module")
def hierarchies(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hierarchies")
    return [hierarchy_files.load_hierarchy(write_hierarchy(str(folder / "own.yaml"), HIERARCHY_YAML)),
            hierarchy_files.load_hierarchy(write_hierarchy(str(folder / "crossed.yaml"), CROSSED_YAML))]


@pytest.fixture(scope="module")
def fine_result(tiny_runs, info, hierarchies):
    run = tiny_runs("fine", FINE_FRACTION)
    return run, evaluate.evaluate_run(run, info, hierarchies), _reference(run, info)


def test_fine_run_metrics_equal_numpy_recomputation(fine_result, info):
    run, m, ref = fine_result
    (test_logits, test), (train_logits, train) = ref["test"], ref["train"]
    f2c = info.fine_to_coarse
    predicted, train_predicted = test_logits.argmax(1), train_logits.argmax(1)
    assert m["label_view"] == "fine" and m["trained_classes"] == list(info.fine_names)
    assert m["num_test_examples"] == len(test["fine"]) == info.num_examples("test")
    assert m["num_train_examples"] == len(train["fine"]) < info.num_examples("train")
    assert m["num_train_examples"] == len(data.read_labels(info, "train", ("fine",),
                                                           FINE_FRACTION)["fine"])
    assert m["coarse_test_accuracy"] == pytest.approx(
        _naive_accuracy([f2c[p] for p in predicted], test["coarse"]))
    assert m["coarse_train_accuracy"] == pytest.approx(
        _naive_accuracy([f2c[p] for p in train_predicted], train["coarse"]))
    assert m["fine_test_accuracy"] == pytest.approx(_naive_accuracy(predicted, test["fine"]))
    assert m["fine_train_accuracy"] == pytest.approx(_naive_accuracy(train_predicted,
                                                                     train["fine"]))
    confusion = _naive_confusion(test["fine"], predicted, info.num_fine_classes)
    assert m["fine_confusion_matrix"] == confusion.tolist()
    assert m["coarse_confusion_matrix"] == _naive_confusion(
        test["coarse"], f2c[predicted], info.num_coarse_classes).tolist()
    expected_acr = metrics.average_confusion_ratio(confusion, f2c)
    if math.isfinite(expected_acr):
        assert m["acr"] == pytest.approx(expected_acr) and m["acr_note"] is None
    else:
        assert m["acr"] is None and "undefined" in m["acr_note"]
    assert m["acr_labels"] == "fine" and m["acr_noisy_test_labels"] is None
    assert m["test_correct"] == "".join(str(int(f2c[p] == c))
                                        for p, c in zip(predicted, test["coarse"]))
    json.dumps(m, allow_nan=False)


def test_history_figures_are_the_last_epoch_and_the_test_selected_best(fine_result):
    run, m, _ = fine_result
    with open(os.path.join(run, "history.json")) as f:
        history = json.load(f)
    assert m["num_epochs"] == len(history)
    assert m["running_train_accuracy"] == pytest.approx(history[-1]["accuracy"])
    assert m["running_coarse_train_accuracy"] == pytest.approx(history[-1]["coarse_accuracy"])
    best = max(history, key=lambda e: e["val_coarse_accuracy"])
    assert m["best_epoch_val_coarse_accuracy"] == pytest.approx(best["val_coarse_accuracy"])
    assert "TEST" in m["best_epoch_note"] and "running" in m["running_note"]


def test_by_hierarchy_own_mapping_repeats_top_level_and_crossed_mapping_is_recomputed(
        fine_result, info, hierarchies):
    _, m, ref = fine_result
    own, crossed = m["by_hierarchy"]["tiny_pets_vehicles"], m["by_hierarchy"]["tiny_crossed"]
    for key in ("coarse_test_accuracy", "coarse_train_accuracy", "acr", "acr_note", "test_correct"):
        assert own[key] == m[key]
    (test_logits, test), (train_logits, train) = ref["test"], ref["train"]
    f2c = np.asarray([{"cat": 0, "car": 0, "dog": 1, "ship": 1}[n] for n in info.fine_names])
    assert crossed["fine_to_coarse"] == f2c.tolist()
    assert crossed["coarse_test_accuracy"] == pytest.approx(
        _naive_accuracy(f2c[test_logits.argmax(1)], f2c[test["fine"]]))
    assert crossed["coarse_train_accuracy"] == pytest.approx(
        _naive_accuracy(f2c[train_logits.argmax(1)], f2c[train["fine"]]))
    confusion = _naive_confusion(test["fine"], test_logits.argmax(1), info.num_fine_classes)
    value = metrics.average_confusion_ratio(confusion, f2c)
    assert crossed["acr"] == (pytest.approx(value) if math.isfinite(value) else None)
    # Per-epoch ACR under each mapping, from the trainer's validation confusion matrices.
    with open(os.path.join(fine_result[0], "history.json")) as f:
        history = [h for h in json.load(f) if "val_fine_confusion" in h]
    assert history and [e["epoch"] for e in crossed["val_acr_by_epoch"]] == [
        h["epoch"] for h in history]
    for record, mine, other in zip(history, own["val_acr_by_epoch"], crossed["val_acr_by_epoch"]):
        confusion = np.asarray(record["val_fine_confusion"])
        assert confusion.sum() == info.num_examples("test")
        for entry, mapping in ((mine, info.fine_to_coarse), (other, f2c)):
            value = metrics.average_confusion_ratio(confusion, mapping)
            assert entry["val_acr"] == (pytest.approx(value) if math.isfinite(value) else None)
        if mine["val_acr"] is not None:  # the Keras metric saw the same confusion
            assert record["val_acr"] == pytest.approx(mine["val_acr"], rel=1e-4)


def test_hierarchy_with_other_fine_classes_is_rejected(tiny_runs, info, tmp_path):
    missing = hierarchy_files.load_hierarchy(write_hierarchy(
        str(tmp_path / "three.yaml"), "coarse:\n  a: [cat, dog]\n  b: [car]\n"))
    with pytest.raises(HierarchyError, match="missing \\['ship'\\]"):
        evaluate.check_hierarchies(info, [missing])
    unknown = hierarchy_files.load_hierarchy(write_hierarchy(
        str(tmp_path / "other.yaml"), "coarse:\n  a: [cat, dog]\n  b: [car, truck]\n"))
    with pytest.raises(HierarchyError, match="truck"):
        evaluate.evaluate_run(tiny_runs("fine", FINE_FRACTION), info, [unknown])


def test_coarse_run_gives_a_cc_and_no_fine_metrics(tiny_runs, info, hierarchies):
    run = tiny_runs("coarse")
    m = evaluate.evaluate_run(run, info)
    ref = _reference(run, info)
    (test_logits, test), (train_logits, train) = ref["test"], ref["train"]
    assert m["trained_classes"] == list(info.coarse_names)
    assert m["coarse_test_accuracy"] == pytest.approx(_naive_accuracy(test_logits.argmax(1),
                                                                      test["coarse"]))
    assert m["coarse_train_accuracy"] == pytest.approx(_naive_accuracy(train_logits.argmax(1),
                                                                       train["coarse"]))
    assert m["num_train_examples"] == info.num_examples("train")
    assert m["fine_test_accuracy"] is None and m["fine_confusion_matrix"] is None
    assert m["acr"] is None and "coarse labels" in m["acr_note"]
    # The hand-written history has no coarse_accuracy: a coarse run's accuracy is its coarse one.
    assert m["running_coarse_train_accuracy"] == 0.625
    assert (m["best_epoch"], m["best_epoch_val_coarse_accuracy"]) == (1, 0.75)
    with pytest.raises(ConfigError, match="fine labels"):
        evaluate.evaluate_run(run, info, hierarchies)


def test_noise_run_reports_acr_on_clean_and_on_noisy_test_labels(tiny_runs, info):
    run = tiny_runs(NOISE_VIEW)
    m = evaluate.evaluate_run(run, info)
    (test_logits, test), _ = _reference(run, info).values()
    predicted = test_logits.argmax(1)
    assert not np.array_equal(test[NOISE_VIEW], test["fine"])  # the noisy test labels differ
    for key, true in (("acr", test["fine"]), ("acr_noisy_test_labels", test[NOISE_VIEW])):
        expected, note = evaluate.acr_or_none(_naive_confusion(true, predicted, 4),
                                              info.fine_to_coarse)
        assert m[key] == (pytest.approx(expected) if expected is not None else None)
        assert m[key + "_note" if key != "acr" else "acr_note"] == note
    assert m["fine_test_accuracy"] == pytest.approx(_naive_accuracy(predicted, test["fine"]))


def test_a_launched_noise_run_reports_acr_on_clean_test_labels_only(tiny_runs, tmp_path):
    """The launched noise touches the training split only: no noisy-test-label ACR, a note why."""
    from components.example_gen import executor as example_gen  # pylint: disable=import-outside-toplevel
    from lg_keras.config import BuildConfig  # pylint: disable=import-outside-toplevel
    from tests.helpers.evaluator_fixtures import derive_run, write_image_folder, write_run_files

    images = write_image_folder(str(tmp_path / "images"), {"train": 12, "test": 6})
    out = str(tmp_path / "launched")
    example_gen.run(BuildConfig(dataset=f"folder:{images}",
                                hierarchy=write_hierarchy(str(tmp_path / "h.yaml")),
                                noise=(NOISE_RATE,), noise_kind="launched"),
                    SourceAccess(), {"examples": out})
    info = load_dataset_info(out)
    view = f"fine_noise_launched_{NOISE_RATE:g}"
    assert view in info.label_views()
    run = derive_run(tiny_runs("fine", FINE_FRACTION), str(tmp_path / "run"), view, 1.0)
    with open(os.path.join(run, "config.json")) as f:
        experiment = json.load(f)["experiment"]
    write_run_files(run, experiment, "launched-run", info.meta["config_hash"], 1)
    m = evaluate.evaluate_run(run, info)
    test = data.read_labels(info, "test", ("fine", view))
    np.testing.assert_array_equal(test[view], test["fine"])  # the test split stays clean
    (test_logits, _), _ = _reference(run, info).values()
    expected, _ = evaluate.acr_or_none(_naive_confusion(test["fine"], test_logits.argmax(1), 4),
                                       info.fine_to_coarse)
    assert m["acr"] == (pytest.approx(expected) if expected is not None else None)
    assert m["acr_noisy_test_labels"] is None
    assert "training split only" in m["acr_noisy_test_labels_note"]


def test_acr_or_none_turns_undefined_ratios_into_none_with_a_note():
    f2c = [0, 0, 1, 1]
    value, note = evaluate.acr_or_none(np.array([[5, 1, 1, 0], [1, 5, 0, 1], [1, 0, 5, 1],
                                                 [0, 1, 1, 5]]), f2c)
    assert value == pytest.approx(metrics.average_confusion_ratio(
        np.array([[5, 1, 1, 0], [1, 5, 0, 1], [1, 0, 5, 1], [0, 1, 1, 5]]), f2c)) and note is None
    across_only = np.array([[5, 0, 1, 0], [0, 5, 0, 0], [0, 0, 5, 0], [0, 0, 0, 5]])
    assert math.isinf(metrics.average_confusion_ratio(across_only, f2c))
    value, note = evaluate.acr_or_none(across_only, f2c)
    assert value is None and "inf" in note
    value, note = evaluate.acr_or_none(np.diag([3, 3, 3, 3]), f2c)
    assert value is None and "0/0" in note
    value, note = evaluate.acr_or_none(np.diag([3, 3]), [0, 1])
    assert value is None and "same-coarse pair" in note


def test_history_summary_handles_ties_and_missing_values():
    history = [{"accuracy": 0.1, "coarse_accuracy": 0.5, "val_coarse_accuracy": 0.7},
               {"accuracy": 0.2, "coarse_accuracy": 0.6},
               {"accuracy": 0.3, "coarse_accuracy": float("nan"), "val_coarse_accuracy": 0.7}]
    summary = evaluate.history_summary(history, "fine")
    assert (summary["best_epoch"], summary["best_epoch_val_coarse_accuracy"]) == (1, 0.7)
    assert summary["running_coarse_train_accuracy"] is None  # NaN never reaches JSON
    assert evaluate.history_summary([], "fine")["best_epoch"] is None


def test_assert_json_finite_names_the_bad_key():
    with pytest.raises(ValueError, match=r"metrics.by_hierarchy.x.acr"):
        evaluate.assert_json_finite({"by_hierarchy": {"x": {"acr": float("inf")}}})
    evaluate.assert_json_finite({"acr": None, "m": [[1, 2]], "s": "1010"})


def test_cluster_run_takes_acr_against_the_test_cluster_assignments(tiny_runs, tiny_dataset,
                                                                    tmp_path):
    from components.cluster import executor as cluster  # pylint: disable=g-import-not-at-top

    clustered = str(tmp_path / "clustered")
    cluster.run({"k": [2], "features": "pixels"}, {"examples": tiny_dataset},
                {"examples": clustered})
    info = load_dataset_info(clustered)
    run = str(tmp_path / "run")
    shutil.copytree(tiny_runs("fine", FINE_FRACTION), run)  # 4 outputs = 2 coarse x 2 clusters
    config = _run_config(run)
    config["experiment"]["data"].update(labels="fine_cluster_2", dataset_dir=clustered)
    config["dataset"]["config_hash"] = info.meta["config_hash"]
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    m = evaluate.evaluate_run(run, info)
    view_to_coarse = info.view_to_coarse("fine_cluster_2")
    logits = keras.saving.load_model(os.path.join(run, "model.keras"), compile=False).predict(
        np.concatenate([x.numpy() for x, _ in data.eval_dataset(
            info, "test", DataConfig(**config["experiment"]["data"]), ())]), verbose=0)
    test = data.read_labels(info, "test", ("coarse", "fine_cluster_2"))
    predicted = logits.argmax(1)
    assert m["trained_classes"] == ["cluster_0", "cluster_1", "cluster_2", "cluster_3"]
    assert m["coarse_test_accuracy"] == pytest.approx(
        _naive_accuracy(view_to_coarse[predicted], test["coarse"]))
    assert m["fine_test_accuracy"] is None and m["acr_labels"] == "fine_cluster_2"
    expected, note = evaluate.acr_or_none(
        _naive_confusion(test["fine_cluster_2"], predicted, 4), view_to_coarse)
    assert m["acr"] == (pytest.approx(expected) if expected is not None else None)
    assert m["acr_note"] == note
