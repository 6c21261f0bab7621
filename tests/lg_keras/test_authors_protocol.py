"""Tests of lg_keras/authors_protocol.py: the authors' ImageNet test protocol in the trainer."""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from lg_keras import authors_protocol, data, metrics, run_files
from lg_keras.dataset_info import load_dataset_info
from tests.helpers.authors_fixtures import (PASSES, authors_dataset, authors_run,  # noqa: F401
                                    experiment)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = (authors_protocol.ACCURACY_KEY, authors_protocol.COARSE_ACCURACY_KEY,
        authors_protocol.ACR_KEY)


def test_pass_keys_are_distinct_and_never_training_keys():
    keys = [authors_protocol.pass_key(seed, epoch, p)
            for seed in (0, 1, 2**31 - 1) for epoch in (0, 1, 224) for p in range(100)]
    assert len(set(keys)) == len(keys)
    assert max(keys) <= -2 and min(keys) >= -2**63  # flips use key + 1 < 0 <= training keys


def _images(info, cfg, epoch, pass_index):
    ds = authors_protocol.pass_dataset(info, cfg, epoch=epoch, pass_index=pass_index)
    return np.concatenate([batch.numpy() for batch in ds])


def test_passes_are_random_crops_keyed_by_seed_epoch_and_pass(authors_dataset):
    info = load_dataset_info(authors_dataset)
    cfg = experiment(authors_dataset)
    assert info.fixed_size is None
    assert data.augmentation(info, cfg.data, 32) == "resized_crop_flip"
    first = _images(info, cfg, 0, 0)
    assert first.shape == (info.num_examples("test"), 32, 32, 3)
    np.testing.assert_array_equal(first, _images(info, cfg, 0, 0))  # reproducible
    centre = np.concatenate([x.numpy() for x, _ in data.eval_dataset(info, "test", cfg.data, ())])
    for other in (_images(info, cfg, 0, 1), _images(info, cfg, 1, 0), centre):
        assert np.abs(first - other).mean(axis=(1, 2, 3)).min() > 1e-3  # every image differs
    other_seed = experiment(authors_dataset, seed=1)
    assert np.abs(first - _images(info, other_seed, 0, 0)).max() > 1e-3


def test_history_has_the_figures_every_epoch_and_keeps_them_on_resume(authors_run):
    run = authors_run
    with open(os.path.join(run.run_dir, run_files.HISTORY_FILE)) as f:
        written = json.load(f)
    assert written == run.history and [h["epoch"] for h in written] == [1, 2]
    for record in written:
        for key in KEYS[:2]:
            assert 0.0 <= record[key] <= 1.0, (key, record)
        acr = record[authors_protocol.ACR_KEY]
        assert acr is None or (isinstance(acr, float) and acr >= 0.0)
        # One pass: the coarse figure is never below the fine one.
        assert record[KEYS[1]] >= record[KEYS[0]]
    # The resumed run kept epoch 1's figures as they were written before the crash.
    assert [h["epoch"] for h in run.history_before_crash] == [1]
    assert {k: written[0][k] for k in KEYS} == {k: run.history_before_crash[0][k] for k in KEYS}


def test_figures_are_reproducible_from_the_weights_and_the_keys(authors_run):
    """Scoring the final network again with epoch 2's keys gives history.json's epoch 2 figures,
    and the ACR is the pooled ACR of the passes' confusion matrices."""
    run = authors_run
    info = load_dataset_info(run.cfg.data.dataset_dir)
    model = keras.saving.load_model(os.path.join(run.run_dir, run_files.MODEL_FILE), compile=False)
    callback = authors_protocol.AuthorsTestProtocol(info, run.cfg)
    callback.set_model(model)
    figures = callback.score(epoch=1)
    for key in KEYS:
        expected = run.history[1][key]
        got = figures[key]
        assert (expected is None and not math.isfinite(got)) or got == pytest.approx(expected), key
    labels = data.read_labels(info, "test", ("fine", "coarse"))
    confusions = []
    for p in range(PASSES):
        ds = authors_protocol.pass_dataset(info, run.cfg, epoch=1, pass_index=p)
        predicted = metrics.predicted_classes(model.predict(ds, verbose=0))
        confusions.append(metrics.confusion_matrix(labels["fine"], predicted, 4))
        if p == 0:
            assert figures[KEYS[0]] == pytest.approx(np.mean(predicted == labels["fine"]))
            assert figures[KEYS[1]] == pytest.approx(
                np.mean(info.fine_to_coarse[predicted] == labels["coarse"]))
    pooled = metrics.pooled_average_confusion_ratio(confusions, info.fine_to_coarse)
    assert (math.isnan(pooled) and math.isnan(figures[KEYS[2]])) or \
        figures[KEYS[2]] == pytest.approx(pooled)


def test_coarse_view_scores_one_pass_without_acr(authors_dataset):
    info = load_dataset_info(authors_dataset)
    cfg = experiment(authors_dataset, labels="coarse")
    callback = authors_protocol.AuthorsTestProtocol(info, cfg)
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2)])
    callback.set_model(model)
    logs = {"loss": 1.0}
    callback.on_epoch_end(0, logs)
    assert set(logs) == {"loss", KEYS[0], KEYS[1]} and logs[KEYS[0]] == logs[KEYS[1]]
    assert authors_protocol.callbacks(info, experiment(authors_dataset, authors_test_passes=0)) \
        == []


def test_summary_takes_the_best_epoch_over_both_accuracies_and_the_final_acr():
    history = [
        {"epoch": 1, KEYS[0]: 0.5, KEYS[1]: 0.70, KEYS[2]: 1.5},
        {"epoch": 2, KEYS[0]: 0.6, KEYS[1]: 0.80, KEYS[2]: None},
        {"epoch": 3, KEYS[0]: 0.9, KEYS[1]: 0.75, KEYS[2]: 0.25},  # a fine figure above coarse
        {"epoch": 4, KEYS[0]: 0.7, KEYS[1]: 0.90, KEYS[2]: 0.5},
    ]
    out = authors_protocol.summary(history, "fine", 5)
    assert (out["best_epoch"], out["best_test_coarse_accuracy"]) == (3, 0.9)
    assert (out["final_epoch"], out["final_epoch_acr"], out["passes"]) == (4, 0.5, 5)
    assert "5 random passes" in out["description"] and "FINAL epoch" in out["description"]
    # A coarse run's accuracy is its coarse accuracy; the first epoch wins ties.
    coarse = authors_protocol.summary(history[:2] + [{"epoch": 3, KEYS[0]: 0.8, KEYS[1]: 0.8}],
                                      "coarse", 5)
    assert (coarse["best_epoch"], coarse["best_test_coarse_accuracy"]) == (2, 0.8)
    assert coarse["final_epoch_acr"] is None
    assert authors_protocol.summary([{"epoch": 1, "loss": 1.0}], "fine", 0) is None


_MIRRORED = """
import json, sys
from lg_keras import distribute
distribute.split_cpu(2)  # before anything initialises TensorFlow's devices
import keras
from lg_keras import authors_protocol
from lg_keras.config import ExperimentConfig, TrainConfig
from lg_keras.config_io import from_dict
from lg_keras.dataset_info import load_dataset_info
from lg_keras.models import preact_resnet  # registers the class model.keras names
with open(sys.argv[1] + "/config.json") as f:
    cfg = from_dict(ExperimentConfig, json.load(f)["experiment"], "experiment")
strategy = distribute.make_strategy(TrainConfig(strategy="mirrored", num_cpu_replicas=2))
with strategy.scope():
    model = keras.saving.load_model(sys.argv[1] + "/model.keras", compile=False)
callback = authors_protocol.AuthorsTestProtocol(load_dataset_info(cfg.data.dataset_dir), cfg)
callback.set_model(model)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "figures": callback.score(1)}))
"""


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="splits the CPU")
def test_figures_agree_under_a_two_replica_mirrored_strategy(authors_run):
    run = authors_run
    out = subprocess.run(
        [sys.executable, "-c", _MIRRORED, run.run_dir], cwd=REPO, capture_output=True, text=True,
        timeout=300, env={**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for key in KEYS:
        expected, got = run.history[1][key], result["figures"][key]
        assert (expected is None and not math.isfinite(got)) or \
            got == pytest.approx(expected, abs=1e-6), key
