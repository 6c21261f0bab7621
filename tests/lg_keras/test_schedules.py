"""Tests of lg_keras/schedules.py: values at the boundaries, fractions keep the update count."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from lg_keras import schedules
from lg_keras.config import DataConfig, ExperimentConfig, TrainConfig


def _values(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_step_decay_cuts_at_each_boundary():
    schedule = schedules.StepDecay(0.1, boundaries=[600, 700], factor=0.1)
    np.testing.assert_allclose(_values(schedule, [0, 599, 600, 699, 700, 10_000]),
                               [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_step_schedule_of_the_authors_cuts_once_at_three_quarters():
    """CIFAR-10 recipe: lr 0.1 cut by 10 at epoch 150 of 200 (in steps: 150 * steps_per_epoch)."""
    steps_per_epoch = 196  # ceil(50000 / 256)
    cfg = TrainConfig(epochs=200, learning_rate=0.1, schedule="step")
    schedule = schedules.build_schedule(cfg, 200 * steps_per_epoch)
    boundary = 150 * steps_per_epoch
    np.testing.assert_allclose(_values(schedule, [0, boundary - 1, boundary, 200 * 196 - 1]),
                               [0.1, 0.1, 0.01, 0.01], rtol=1e-6)


@pytest.mark.parametrize("fraction", [1.0, 0.5, 0.2, 0.1, 0.05])
def test_a_fraction_keeps_the_number_of_updates_and_the_cut(fraction):
    """Fig. 2: epochs scale by 1/fraction, so total steps and the cut stay (up to rounding)."""
    examples, batch = 50_000, 256
    cfg = ExperimentConfig(data=DataConfig(fraction=fraction, batch_size=batch),
                           train=TrainConfig(epochs=200, schedule="step"))
    steps_per_epoch = math.ceil(examples * fraction / batch)
    total = cfg.epochs_to_run() * steps_per_epoch
    full_total = 200 * math.ceil(examples / batch)
    assert cfg.epochs_to_run() == round(200 / fraction)
    assert abs(total - full_total) <= cfg.epochs_to_run()  # one partial batch per epoch at most
    schedule = schedules.build_schedule(cfg.train, total)
    cut = schedule.boundaries[0]
    # The authors cut at epoch int(150 / f) of int(200 / f).
    assert abs(cut / steps_per_epoch - int(150 / fraction)) <= 1
    assert float(schedule(cut - 1)) == pytest.approx(0.1)
    assert float(schedule(cut)) == pytest.approx(0.01)


def test_warmup_cosine_values():
    schedule = schedules.WarmupCosine(0.1, warmup_steps=10, total_steps=110)
    np.testing.assert_allclose(_values(schedule, [0, 4, 9, 10, 60, 110, 500]),
                               [0.01, 0.05, 0.1, 0.1, 0.05, 0.0, 0.0], rtol=1e-5, atol=1e-7)
    after = _values(schedule, range(10, 110))
    assert np.all(np.diff(after) < 0)


def test_warmup_cosine_warmup_is_counted_in_full_data_epochs():
    cfg = TrainConfig(epochs=12, learning_rate=0.1, schedule="warmup_cosine", warmup_epochs=2)
    for total in (12 * 391, 120 * 40):  # full data, and fraction 0.1 (120 epochs of 40 steps)
        schedule = schedules.build_schedule(cfg, total)
        assert schedule.warmup_steps == round(total / 6)
        assert schedule.total_steps == total


def test_warmup_cosine_without_warmup_starts_at_the_peak():
    cfg = TrainConfig(epochs=3, learning_rate=0.2, schedule="warmup_cosine", warmup_epochs=0)
    schedule = schedules.build_schedule(cfg, 30)
    assert float(schedule(0)) == pytest.approx(0.2)


def test_constant():
    schedule = schedules.build_schedule(TrainConfig(learning_rate=0.05, schedule="constant"), 10)
    np.testing.assert_allclose(_values(schedule, [0, 5, 10**6]), [0.05] * 3, rtol=1e-6)


@pytest.mark.parametrize("schedule", [schedules.StepDecay(0.1, [5, 8], 0.5),
                                      schedules.WarmupCosine(0.1, 3, 10),
                                      schedules.Constant(0.3)])
def test_round_trip_and_graph_mode(schedule):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
    steps = list(range(12))
    graph = tf.function(lambda step: schedule(step))
    np.testing.assert_allclose([float(graph(tf.constant(s, tf.int64))) for s in steps],
                               _values(restored, steps), rtol=1e-5, atol=1e-7)


def test_optimizer_with_schedule_survives_save_and_load(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedules.StepDecay(0.1, [1], 0.1), momentum=0.9),
                  loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), batch_size=2, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert int(loaded.optimizer.iterations) == 2
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.01)


def test_bad_warmup_is_rejected():
    with pytest.raises(ValueError, match="warmup_steps"):
        schedules.WarmupCosine(0.1, warmup_steps=10, total_steps=10)
