"""Tests for lg_keras.keras_metrics: each Keras metric agrees with its numpy twin in lg_keras.metrics.

Checked eagerly (update_state/result), inside model.fit and model.evaluate, and under a 2-replica
CPU MirroredStrategy (in a subprocess, see mirrored_metrics_check.py).
"""

import json
import math
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from lg_keras import keras_metrics, metrics
from lg_keras.errors import HierarchyError

FINE_TO_COARSE = [0, 0, 1, 1, 1, 2]
NUM_FINE = len(FINE_TO_COARSE)
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def _random_batch(seed, size=37):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, NUM_FINE, size=size),
            rng.normal(size=(size, NUM_FINE)).astype("float32"),
            rng.uniform(0.0, 2.0, size=size).astype("float32"))


def _numpy_values(labels, logits):
    """The three metrics computed by lg_keras.metrics."""
    coarse_labels = np.asarray(FINE_TO_COARSE)[labels]
    confusion = metrics.confusion_matrix(labels, metrics.predicted_classes(logits), NUM_FINE)
    return {"coarse_accuracy": metrics.coarse_accuracy(logits, coarse_labels, FINE_TO_COARSE),
            "fine_confusion": confusion,
            "acr": metrics.average_confusion_ratio(confusion, FINE_TO_COARSE)}


def _make_metrics():
    return [keras_metrics.CoarseAccuracy(FINE_TO_COARSE), keras_metrics.FineConfusionMatrix(NUM_FINE),
            keras_metrics.AverageConfusionRatio(FINE_TO_COARSE)]


def _assert_matches_numpy(values, labels, logits):
    expected = _numpy_values(labels, logits)
    np.testing.assert_allclose(values["coarse_accuracy"], expected["coarse_accuracy"], rtol=1e-6)
    np.testing.assert_array_equal(values["fine_confusion"], expected["fine_confusion"])
    np.testing.assert_allclose(values["acr"], expected["acr"], rtol=1e-5)


# ---------------------------------------------------------------- eager


@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_eager_updates_match_numpy(label_shape):
    batches = [_random_batch(seed) for seed in (0, 1)]
    metric_objects = _make_metrics()
    for labels, logits, _ in batches:
        fed = labels if label_shape == "flat" else labels[:, None]
        for metric in metric_objects:
            metric.update_state(fed, logits)
    values = {metric.name: np.asarray(metric.result()) for metric in metric_objects}
    _assert_matches_numpy(values, np.concatenate([b[0] for b in batches]),
                          np.concatenate([b[1] for b in batches]))


@pytest.mark.parametrize("weight_shape", ["flat", "column"])
def test_sample_weight(weight_shape):
    labels, logits, weights = _random_batch(2)
    fed_weights = weights if weight_shape == "flat" else weights[:, None]
    accuracy = keras_metrics.CoarseAccuracy(FINE_TO_COARSE)
    confusion = keras_metrics.FineConfusionMatrix(NUM_FINE)
    accuracy.update_state(labels, logits, sample_weight=fed_weights)
    confusion.update_state(labels[:, None], logits, sample_weight=fed_weights)
    coarse = np.asarray(FINE_TO_COARSE)
    correct = coarse[logits.argmax(axis=1)] == coarse[labels]
    np.testing.assert_allclose(accuracy.result(), np.sum(correct * weights) / np.sum(weights),
                               rtol=1e-6)
    expected = np.zeros((NUM_FINE, NUM_FINE))
    np.add.at(expected, (labels, logits.argmax(axis=1)), weights)
    np.testing.assert_allclose(confusion.result(), expected, rtol=1e-6)


def test_acr_hand_worked_case():
    # The hand-worked matrix of test_metrics.py: ACR = 7/36 (code orientation).
    confusion = np.array([[5, 3, 0, 1], [1, 4, 0, 0], [0, 1, 6, 2], [0, 2, 4, 3]])
    labels, predictions = np.nonzero(confusion)
    counts = confusion[labels, predictions]
    metric = keras_metrics.AverageConfusionRatio([0, 0, 1, 1])
    metric.update_state(np.repeat(labels, counts), np.eye(4)[np.repeat(predictions, counts)])
    np.testing.assert_allclose(metric.result(), 7 / 36, rtol=1e-6)


def test_acr_inf_and_nan_like_numpy():
    metric = keras_metrics.AverageConfusionRatio([0, 0, 1, 1])
    assert math.isnan(float(metric.result()))  # nothing seen yet: 0 / 0
    metric.update_state([0, 1, 2, 3], np.eye(4))  # all correct: still 0 / 0
    assert math.isnan(float(metric.result()))
    metric.update_state([0], np.eye(4)[[2]])  # confusion across coarse classes only
    assert float(metric.result()) == math.inf


def test_reset_state():
    labels, logits, _ = _random_batch(3)
    metric_objects = _make_metrics()
    for metric in metric_objects:
        metric.update_state(labels, logits)
        metric.reset_state()
    accuracy, confusion, acr = (metric.result() for metric in metric_objects)
    assert float(accuracy) == 0.0
    np.testing.assert_array_equal(confusion, np.zeros((NUM_FINE, NUM_FINE)))
    assert math.isnan(float(acr))


def test_config_round_trip():
    for metric in [*_make_metrics(), keras_metrics.CoarseAccuracy([0, 1], name="acc", dtype="float64")]:
        config = metric.get_config()
        clone = type(metric).from_config(config)
        assert clone.get_config() == config
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
        assert type(restored) is type(metric) and restored.get_config() == config
    assert keras_metrics.AverageConfusionRatio(FINE_TO_COARSE).get_config()["fine_to_coarse"] == (
        FINE_TO_COARSE)


def test_constructor_and_input_errors():
    with pytest.raises(HierarchyError, match="no same-coarse pair"):
        keras_metrics.AverageConfusionRatio([0, 1, 2])
    with pytest.raises(HierarchyError, match="fine_to_coarse"):
        keras_metrics.CoarseAccuracy([0.5, 1])
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        keras_metrics.FineConfusionMatrix(0)
    with pytest.raises(ValueError, match="not one-hot"):
        keras_metrics.CoarseAccuracy(FINE_TO_COARSE).update_state(np.eye(NUM_FINE), np.eye(NUM_FINE))


# ---------------------------------------------------------------- inside fit and evaluate


def _frozen_model():
    """A tiny model compiled with learning rate 0, so fit's predictions equal predict's."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(NUM_FINE)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=_make_metrics())
    return model


@pytest.mark.parametrize("label_shape", ["flat", "column"])
def test_fit_and_evaluate_match_numpy(label_shape):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(45, 4)).astype("float32")
    labels = rng.integers(0, NUM_FINE, size=45)
    fed = labels if label_shape == "flat" else labels[:, None]
    model = _frozen_model()
    # batch 8: the last batch of 45 is partial.
    evaluated = model.evaluate(x, fed, batch_size=8, return_dict=True, verbose=0)
    history = model.fit(x, fed, batch_size=8, epochs=2, shuffle=False, verbose=0).history
    logits = model.predict(x, verbose=0)
    _assert_matches_numpy(evaluated, labels, logits)
    # Every epoch starts from reset state (its matrix holds 45 examples, not 90).
    _assert_matches_numpy({key: values[-1] for key, values in history.items()}, labels, logits)


def test_confusion_matrix_is_not_a_tensorboard_scalar(tmp_path):
    # The progress bar shows the matrix's mean and History keeps the matrix, but the TensorBoard
    # callback writes scalars only: FineConfusionMatrix is for evaluate (see the module docstring).
    # If this starts passing, Keras handles non-scalar results and the docstring can say so.
    model = _frozen_model()
    x, labels = np.zeros((8, 4), "float32"), np.zeros(8, "int64")
    with pytest.raises(ValueError, match="Expected scalar shape"):
        model.fit(x, labels, epochs=1, verbose=0,
                  callbacks=[keras.callbacks.TensorBoard(str(tmp_path))])


# ---------------------------------------------------------------- MirroredStrategy


def test_mirrored_strategy_matches_numpy():
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    completed = subprocess.run([sys.executable, str(pathlib.Path(__file__).with_name(
        "mirrored_metrics_check.py"))], capture_output=True, text=True, env=env, timeout=300,
        check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    assert report["replicas"] == 2
    assert len(report["runs"]) == 2
    for run in report["runs"]:
        labels, logits = np.asarray(run["labels"]), np.asarray(run["logits"])
        _assert_matches_numpy(run["evaluate"], labels, logits)
        _assert_matches_numpy(run["fit"], labels, logits)
        assert np.sum(run["evaluate"]["fine_confusion"]) == len(labels)
