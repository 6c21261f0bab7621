"""Tests of lg_keras/run_files.py: the run directory's names, readers, checks, checkpoint state."""

import json
import logging
import os

import numpy as np
import pytest

from lg_keras import run_files
from lg_keras.errors import RunDirError


def _write(path, content):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content))


def test_the_layout_keeps_the_names_saved_records_were_written_with():
    # results/cpu and every run directory on disk hold these names; renaming one orphans them.
    assert (run_files.CONFIG_FILE, run_files.HISTORY_FILE, run_files.TRAIN_STATE_FILE,
            run_files.METRICS_FILE, run_files.MODEL_FILE) == (
        "config.json", "history.json", "train_state.json", "metrics.json", "model.keras")
    assert (run_files.CHECKPOINT_DIR, run_files.CHECKPOINT_STATE_FILE, run_files.FIGURES_DIR,
            run_files.LOG_DIR, run_files.EVALUATION_LOG_DIR) == (
        "checkpoint", "state.json", "figures", "logs", os.path.join("logs", "evaluation"))
    assert run_files.checkpoint_path("r", 7) == os.path.join("r", "checkpoint", "epoch-00007.keras")
    assert run_files.VAL_CONFUSION_KEY == "val_fine_confusion"


def test_read_history_accepts_lists_keras_dicts_and_reports_damage(tmp_path):
    run = str(tmp_path)
    assert run_files.read_history(run) == []  # a run that has not finished an epoch
    _write(os.path.join(run, "history.json"), {"accuracy": [0.1, 0.2], "loss": [2, 1]})
    assert run_files.read_history(run) == [{"accuracy": 0.1, "loss": 2},
                                           {"accuracy": 0.2, "loss": 1}]
    _write(os.path.join(run, "history.json"), {"epochs": [{"epoch": 1}, "junk"]})
    assert run_files.read_history(run) == [{"epoch": 1}]
    _write(os.path.join(run, "history.json"), "[{\"epoch\": 1}")
    with pytest.raises(RunDirError, match="history.json.*damaged"):
        run_files.read_history(run)


def test_read_json_reads_a_damaged_record_as_missing_and_says_so(tmp_path, caplog):
    path = str(tmp_path / "metrics.json")
    assert run_files.read_json(path, {"d": 1}) == {"d": 1}
    _write(path, "{not json")
    with caplog.at_level(logging.WARNING):
        assert run_files.read_json(path, None) is None
    assert "metrics.json" in caplog.text
    with pytest.raises(RunDirError, match="metrics.json"):
        run_files.load_json(path)
    assert run_files.read_metrics(str(tmp_path)) is None
    _write(path, [1, 2])  # not a metrics dict
    assert run_files.read_metrics(str(tmp_path)) is None and run_files.has_metrics(str(tmp_path))


def test_finite_keeps_finite_numbers_only():
    assert run_files.finite(3) == 3.0 and isinstance(run_files.finite(3), float)
    assert run_files.finite(np.float32(0.5)) == 0.5
    assert run_files.finite(np.array(2.0)) == 2.0
    for value in (None, float("nan"), float("inf"), np.float32("nan"), "0.5", True, [1.0]):
        assert run_files.finite(value) is None, value


def test_check_run_dir_refuses_another_run_and_a_file(tmp_path):
    run = str(tmp_path / "run")
    assert run_files.check_run_dir(run, "a" * 16) is None  # a new run
    _write(os.path.join(run, "config.json"), {"config_hash": "b" * 16, "dataset": {}})
    with pytest.raises(RunDirError, match="b{16}.*a{16}"):
        run_files.check_run_dir(run, "a" * 16)
    assert run_files.check_run_dir(run, "b" * 16)["config_hash"] == "b" * 16
    _write(str(tmp_path / "file"), "x")
    with pytest.raises(RunDirError, match="not a directory"):
        run_files.check_run_dir(str(tmp_path / "file"), "a" * 16)


def test_finished_history_only_for_a_finished_run_of_this_config(tmp_path):
    run = str(tmp_path)
    history = [{"epoch": 1, "loss": 2.0}]
    _write(os.path.join(run, "history.json"), history)
    assert run_files.finished_history(run, "h") is None  # no train_state.json
    run_files.write_train_state(run, {"finished": False, "config_hash": "h"})
    assert run_files.finished_history(run, "h") is None
    run_files.write_train_state(run, {"finished": True, "config_hash": "h"})
    assert run_files.finished_history(run, "other") is None
    assert run_files.finished_history(run, "h") == history


def test_write_epoch_then_read_checkpoint_round_trips_and_keeps_one_checkpoint(tmp_path):
    run = str(tmp_path)
    assert run_files.read_checkpoint(run, "h") is None and run_files.epochs_completed(run) == 0
    os.makedirs(run_files.checkpoint_dir(run))
    mine = os.path.join(run_files.checkpoint_dir(run), f"tmp-{os.getpid()}.keras")
    _write(mine, "being written")
    history = []
    for epoch in (1, 2):
        _write(run_files.checkpoint_path(run, epoch), "weights")
        history.append({"epoch": epoch, "loss": 1.0 / epoch})
        run_files.write_epoch(run, epoch, history, step=10 * epoch, chash="h",
                              rng_states=[[epoch, 0]])
    assert sorted(os.listdir(run_files.checkpoint_dir(run))) == sorted(
        ["epoch-00002.keras", "state.json", os.path.basename(mine)])
    with open(os.path.join(run, "checkpoint", "state.json")) as f:
        assert json.load(f) == {"epoch": 2, "checkpoint": "epoch-00002.keras", "step": 20,
                                "config_hash": "h", "rng_states": [[2, 0]]}
    # history.json written after the state (an interrupted epoch 3) is cut back to the checkpoint.
    _write(os.path.join(run, "history.json"), history + [{"epoch": 3}])
    checkpoint = run_files.read_checkpoint(run, "h")
    assert (checkpoint.epoch, checkpoint.rng_states, checkpoint.history) == (2, [[2, 0]], history)
    assert checkpoint.path == run_files.checkpoint_path(run, 2)
    assert run_files.epochs_completed(run) == 2
    with pytest.raises(RunDirError, match="belongs to config_hash 'h'"):
        run_files.read_checkpoint(run, "other")
    os.remove(run_files.checkpoint_path(run, 2))
    with pytest.raises(RunDirError, match="checkpoint state .* is damaged"):
        run_files.read_checkpoint(run, "h")


def test_records_of_a_run_restored_without_weights(tmp_path):
    run = str(tmp_path)
    records = run_files.read_records(run)
    assert (records.config, records.finished, records.evaluated) == (None, False, False)
    _write(os.path.join(run, "config.json"), ["not", "a", "record"])
    run_files.write_train_state(run, {"finished": True})
    run_files.write_metrics(run, {"coarse_test_accuracy": 0.5})
    records = run_files.read_records(run)
    assert records.config is None and records.finished and records.evaluated
    assert not run_files.has_weights(run)
    os.makedirs(run_files.checkpoint_dir(run))
    assert run_files.has_weights(run)
