"""Tests of lg_keras/train.py: the optimizer step, the data/epoch alignment of fit, resuming."""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from lg_keras import data, train
from lg_keras.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lg_keras.config_io import config_hash
from lg_keras.dataset_info import load_dataset_info
from lg_keras.errors import RunDirError
from tests.helpers.fixtures import grid_dataset  # noqa: F401  pylint: disable=unused-import
from tests.helpers import sgd_step_check

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _expected_steps(restart_momentum=False):
    """The authors' (PyTorch) SGD on the same problem in numpy: weights after 0, 1, 2 steps.

    With `restart_momentum` a new SGD starts the second step (epoch), so its buffer is g alone.
    """
    x, y, kernel, bias = sgd_step_check.problem()
    lr, mu, wd, b = (sgd_step_check.LEARNING_RATE, sgd_step_check.MOMENTUM,
                     sgd_step_check.WEIGHT_DECAY, sgd_step_check.GLOBAL_BATCH)
    params = [kernel.astype(np.float64), bias.astype(np.float64)]
    buffers = [np.zeros_like(p) for p in params]
    weights, losses = [[p.copy() for p in params]], []
    for step in range(2):
        xs, ys = x[step * b:(step + 1) * b].astype(np.float64), y[step * b:(step + 1) * b]
        probs = _softmax(xs @ params[0] + params[1])
        onehot = np.eye(params[1].size)[ys]
        losses.append(-np.mean(np.log(probs[np.arange(b), ys]))
                      + wd / 2 * sum(np.sum(p ** 2) for p in params))
        dlogits = (probs - onehot) / b  # gradient of the MEAN cross-entropy
        grads = [xs.T @ dlogits + wd * params[0], dlogits.sum(0) + wd * params[1]]
        for i, g in enumerate(grads):  # torch.optim.SGD(momentum=0.9, weight_decay=wd)
            buffers[i] = g if step == 0 or restart_momentum else mu * buffers[i] + g
            params[i] = params[i] - lr * buffers[i]
        weights.append([p.copy() for p in params])
    return weights, losses


def _check_steps(result, restart_momentum=False):
    weights, losses = _expected_steps(restart_momentum)
    assert len(result["weights"]) == 3
    for got, want in zip(result["weights"], weights):
        for g, w in zip(got, want):
            np.testing.assert_allclose(np.asarray(g), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result["losses"], losses, rtol=1e-5)


def test_sgd_step_matches_pytorch_update_on_one_replica():
    _check_steps(sgd_step_check.run_steps(tf.distribute.get_strategy()))


def test_restarted_momentum_matches_a_new_pytorch_sgd_each_epoch():
    _check_steps(sgd_step_check.run_steps(tf.distribute.get_strategy(), restart_momentum=True),
                 restart_momentum=True)
    with pytest.raises(AssertionError):  # the restart is visible: momentum kept differs
        _check_steps(sgd_step_check.run_steps(tf.distribute.get_strategy()),
                     restart_momentum=True)


@pytest.mark.parametrize("restart", [False, True])
def test_sgd_step_is_the_same_on_two_replicas(restart):
    """The global batch split over 2 CPU replicas (MirroredStrategy) gives the same two steps,
    with the momentum restarted between epochs or not."""
    flags = ["--restart-momentum"] if restart else []
    out = subprocess.run([sys.executable, os.path.join(REPO, "tests", "helpers",
                                                       "sgd_step_check.py"), "--replicas", "2",
                          *flags],
                         cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    assert result["replicas"] == 2 and result["strategy"] == "mirrored"
    assert len(result["devices"]) == 2
    _check_steps(result, restart)


def _config(dataset_dir, **train_fields):
    fields = dict(epochs=3, schedule="warmup_cosine", warmup_epochs=1.0, eval_every=0)
    fields.update(train_fields)
    return ExperimentConfig(
        data=DataConfig(dataset_dir=dataset_dir, labels="fine", batch_size=64),
        model=ModelConfig(name="wide_resnet", depth=10, widen_factor=1, block_dropout=0.0),
        train=TrainConfig(**fields))


class _Recorder(keras.Model):
    """Records the (label, image-sum) batches fit feeds it, epoch by epoch; learns nothing."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.seen = []

    def call(self, x):
        return self.dense(x)

    def train_step(self, batch):
        images, labels = batch
        self.seen[-1].append((labels.numpy().tolist(),
                              np.round(tf.reduce_sum(images, [1, 2, 3]).numpy(), 3).tolist()))
        return {"n": tf.cast(tf.size(labels), tf.float32)}


@pytest.mark.parametrize("start_epoch,cap", [(0, 0), (1, 0), (0, 2)])
def test_fit_consumes_exactly_one_data_epoch_per_epoch(grid_dataset, start_epoch, cap):
    """Keras 3 fit with steps_per_epoch keeps one iterator over the multi-epoch dataset.

    Epoch e of fit must see data epoch e's batches (the order keyed by (seed, e)), whether the
    run starts at 0 or resumes at 1, and with max_steps_per_epoch capping each epoch.
    """
    tf.random.set_seed(None)  # as train() does: tf.data's shuffle seeds mix in a global seed
    info = load_dataset_info(grid_dataset)
    cfg = _config(grid_dataset, max_steps_per_epoch=cap)
    full = data.steps_per_epoch(info, cfg.data)
    steps = min(full, cap) if cap else full
    ds = train.training_dataset(info, cfg, start_epoch=start_epoch, end_epoch=3,
                                steps_per_epoch=steps)
    model = _Recorder()
    model.compile(optimizer="sgd", run_eagerly=True)
    mark = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: model.seen.append([]))
    model.fit(ds, epochs=3, initial_epoch=start_epoch, steps_per_epoch=steps, shuffle=False,
              verbose=0, callbacks=[mark])
    expected = []
    for epoch in range(start_epoch, 3):
        one = data.train_dataset(info, cfg.data, seed=cfg.train.seed, start_epoch=epoch,
                                 end_epoch=epoch + 1).take(steps)
        expected.append([(y.numpy().tolist(), np.round(tf.reduce_sum(x, [1, 2, 3]).numpy(),
                                                       3).tolist()) for x, y in one])
    assert full == 6 and len(model.seen) == 3 - start_epoch
    assert [len(epoch) for epoch in model.seen] == [steps] * (3 - start_epoch)
    for got, want in zip(model.seen, expected):
        assert [g[0] for g in got] == [w[0] for w in want]
        np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], rtol=1e-4)
    # Different epochs really are shuffled differently (so the check above can tell them apart).
    assert model.seen[0][0][0] != model.seen[1][0][0]


class _Crash(keras.callbacks.Callback):
    """Stops the process's training at the start of epoch `at` (after the previous checkpoint)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt(f"simulated crash at epoch {epoch}")


class _Epochs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.begun = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(epoch)


def test_interrupted_run_resumes_where_it_stopped_and_matches_an_uninterrupted_one(
        grid_dataset, tmp_path):
    info = load_dataset_info(grid_dataset)
    cfg = _config(grid_dataset, epochs=2)
    strategy = tf.distribute.get_strategy()
    straight = train.train(cfg, info, str(tmp_path / "straight"), strategy=strategy)

    run_dir = str(tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, info, run_dir, strategy=strategy, callbacks=[_Crash(1)])
    with open(os.path.join(run_dir, "checkpoint", "state.json")) as f:
        assert json.load(f)["epoch"] == 1
    assert not os.path.exists(os.path.join(run_dir, "train_state.json"))
    epochs = _Epochs()
    resumed = train.train(cfg, info, run_dir, strategy=strategy, callbacks=[epochs])

    assert epochs.begun == [1]  # only the remaining epoch was trained
    assert [h["epoch"] for h in resumed] == [1, 2]
    with open(os.path.join(run_dir, "history.json")) as f:
        assert [h["epoch"] for h in json.load(f)] == [1, 2]
    with open(os.path.join(run_dir, "train_state.json")) as f:
        state = json.load(f)
    assert state["finished"] and state["epochs"] == 2
    with open(os.path.join(run_dir, "checkpoint", "state.json")) as f:
        assert json.load(f)["step"] == 2 * 6  # the optimizer's step counter went on
    # Same data, restored momentum and schedule: the resumed run ends where the straight one does.
    for key in ("loss", "accuracy", "coarse_accuracy", "learning_rate"):
        assert resumed[1][key] == pytest.approx(straight[1][key], rel=1e-3, abs=1e-4), key
    a = keras.models.load_model(os.path.join(str(tmp_path / "straight"), "model.keras"))
    b = keras.models.load_model(os.path.join(run_dir, "model.keras"))
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-3, atol=1e-4)

    # A finished run is returned as it is, without training.
    epochs = _Epochs()
    again = train.train(cfg, info, run_dir, strategy=strategy, callbacks=[epochs])
    assert epochs.begun == [] and again == resumed


def test_run_dir_of_another_config_is_refused(grid_dataset, tmp_path):
    info = load_dataset_info(grid_dataset)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"config_hash": "0123456789abcdef"}))
    cfg = _config(grid_dataset)
    with pytest.raises(RunDirError, match="0123456789abcdef") as e:
        train.train(cfg, info, str(run_dir), strategy=tf.distribute.get_strategy())
    assert config_hash(cfg) in str(e.value)


def test_has_acr():
    assert train.has_acr(np.array([0, 0, 1]))
    assert not train.has_acr(np.array([0, 1, 2]))  # no coarse class with two classes
    assert not train.has_acr(np.array([0, 0, 0]))  # one coarse class


def test_bfloat16_training_keeps_float32_state_and_agrees_with_float32_inference(
        grid_dataset, tmp_path):
    """Mixed bfloat16 (the cpu profile on AMX CPUs): layers compute in bfloat16, while weights,
    BatchNorm statistics and logits stay float32, and the trained weights mean the same network in
    float32."""
    info = load_dataset_info(grid_dataset)
    cfg = dataclasses.replace(_config(grid_dataset, epochs=2, mixed_precision="bfloat16"),
                              model=ModelConfig(name="preact_resnet18", width=4))
    run_dir = str(tmp_path / "bf16")
    history = train.train(cfg, info, run_dir, strategy=tf.distribute.get_strategy())
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    with open(os.path.join(run_dir, "config.json")) as f:
        record = json.load(f)
    assert (record["dtype_policy"], record["mixed_precision"]) == ("mixed_bfloat16", True)
    assert all(np.isfinite(h["loss"]) for h in history)

    model = keras.models.load_model(os.path.join(run_dir, "model.keras"))
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    norms = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert convs and norms
    assert {l.compute_dtype for l in convs} == {"bfloat16"}
    assert {w.dtype for w in model.weights} == {"float32"}
    for layer in norms:
        assert np.all(np.isfinite(layer.moving_variance.numpy()))
        assert np.all(layer.moving_variance.numpy() > 0)

    images, _ = next(iter(data.eval_dataset(info, "test", cfg.data)))
    logits = model(images, training=False)
    assert logits.dtype == tf.float32
    exact = keras.models.clone_model(model, clone_function=_float32_clone)
    exact.set_weights(model.get_weights())
    agree = np.mean(np.argmax(logits, -1) == np.argmax(exact(images, training=False), -1))
    assert agree >= 0.9, agree


def _float32_clone(layer):
    config = layer.get_config()
    config["dtype"] = "float32"
    return layer.__class__.from_config(config)


def test_mixed_float16_the_gpu_path_trains_on_cpu(grid_dataset, tmp_path):
    """`train.mixed_precision=auto` on a GPU is mixed float16 with a loss-scale optimizer; no GPU
    runs here, so its code path (with the paper profile's momentum restart reaching through the
    LossScaleOptimizer) is trained on the CPU."""
    info = load_dataset_info(grid_dataset)
    cfg = dataclasses.replace(
        _config(grid_dataset, epochs=2, mixed_precision="on", restart_momentum=True),
        model=ModelConfig(name="preact_resnet18", width=4))
    run_dir = str(tmp_path / "fp16")
    history = train.train(cfg, info, run_dir, strategy=tf.distribute.get_strategy())
    with open(os.path.join(run_dir, "config.json")) as f:
        assert json.load(f)["dtype_policy"] == "mixed_float16"
    assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)
    model = keras.models.load_model(os.path.join(run_dir, "model.keras"))
    assert {l.compute_dtype for l in model.layers if isinstance(l, keras.layers.Conv2D)} == \
        {"float16"}
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    restart = train.RestartMomentum()
    restart.set_model(model)
    momentums = model.optimizer.inner_optimizer.momentums
    assert momentums and any(np.any(np.asarray(v) != 0) for v in momentums)
    restart.on_epoch_begin(2)
    assert all(np.all(np.asarray(v) == 0) for v in momentums)
