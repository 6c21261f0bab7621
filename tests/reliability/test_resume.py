"""An interrupted run resumes to exactly the uninterrupted run's numbers, dropout included.

Keras keeps the dropout RNG (a SeedGenerator's state) outside `model.weights`, so a .keras
checkpoint lacks it; `lg_keras.train` saves it in checkpoint/state.json (`lg_keras.run_files`). Without that, a resumed
run of the 'dropout' head (paper Table V) drew other masks and ended elsewhere (accuracy 0.211
against 0.190 after the second epoch in the run that found it).
"""

import json
import os

import keras
import pytest
import tensorflow as tf

from lg_keras import run_files, train
from lg_keras.config import DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lg_keras.dataset_info import load_dataset_info
from lg_keras.errors import RunDirError


class _StopAt(keras.callbacks.Callback):
    """Interrupts training as epoch `epoch` (0-based) begins, after the previous checkpoint."""

    def __init__(self, epoch):
        super().__init__()
        self._epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self._epoch:
            raise KeyboardInterrupt


def _config(dataset_dir):
    return ExperimentConfig(
        data=DataConfig(dataset_dir=dataset_dir, labels="fine", batch_size=64),
        model=ModelConfig(name="preact_resnet18", width=4, head="dropout", dropout=0.5),
        train=TrainConfig(epochs=2, schedule="warmup_cosine", warmup_epochs=0.5, eval_every=0,
                          deterministic=True))


@pytest.mark.slow  # three short trainings under op determinism: about a minute on 2 cores
def test_resumed_dropout_run_equals_the_uninterrupted_one(grid_dataset, tmp_path, counts):
    info, cfg = load_dataset_info(grid_dataset), _config(grid_dataset)
    strategy = tf.distribute.get_strategy()
    straight = train.train(cfg, info, str(tmp_path / "straight"), strategy=strategy)
    run_dir = str(tmp_path / "resumed")
    with pytest.raises(KeyboardInterrupt):
        train.train(cfg, info, run_dir, strategy=strategy, callbacks=[_StopAt(1)])
    with open(os.path.join(run_dir, "checkpoint", "state.json")) as f:
        state = json.load(f)
    assert state["epoch"] == 1 and len(state["rng_states"]) == 1  # the dropout head's RNG
    assert run_files.epochs_completed(run_dir) == 1
    resumed = train.train(cfg, info, run_dir, strategy=strategy)
    drop = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731
    assert [drop(h) for h in resumed] == [drop(h) for h in straight]
    counts["resumed_runs_equal_to_uninterrupted"] += 1


def test_a_damaged_checkpoint_state_is_a_clear_error(grid_dataset, tmp_path):
    info, cfg = load_dataset_info(grid_dataset), _config(grid_dataset)
    run_dir = tmp_path / "run"
    (run_dir / "checkpoint").mkdir(parents=True)
    (run_dir / "checkpoint" / "state.json").write_text(json.dumps(
        {"epoch": 1, "checkpoint": "epoch-00001.keras", "config_hash": train.config_hash(cfg)}))
    assert run_files.epochs_completed(str(tmp_path)) == 0
    assert run_files.epochs_completed(str(run_dir)) == 1  # what the runner's time-left estimate reads
    with pytest.raises(RunDirError, match="checkpoint state .* is damaged"):
        train.train(cfg, info, str(run_dir), strategy=tf.distribute.get_strategy())
