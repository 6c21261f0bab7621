"""The `paper` profile against the authors' scripts, written out here independently of it.

Each regime below is the dict of the authors' main_f2c*.py as they wrote it, with the epochs
divided by the data fraction f as `int(E // f)`; their `adjust_optimizer(optimizer, epoch, regime)`
applied every entry with a key <= epoch at the start of each epoch. The tests compare the rate at
the first optimizer step of every epoch of our schedule with that rule, so moving one milestone by
one epoch, or rounding one epoch count the other way, fails them.
"""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from components.example_gen import executor as example_gen
from components.example_gen.source_access import SourceAccess
from lg_keras import data, machine, schedules, train
from lg_keras.config import BuildConfig, ExperimentConfig
from lg_keras.dataset_info import load_dataset_info
from pipelines import cli, estimates, planner, profiles
from pipelines.profiles import PROFILES
from tests.helpers import datagen

FRACTIONS = (1.0, 0.8, 0.6, 0.2)


def _cifar10_regime(f):  # main_f2c.py
    return {0: 0.1, int(150 // f): 0.01}, int(200 // f)


def _cifar100_regime(f):  # main_f2c_cifar100.py
    return {0: 0.1, int(60 // f): 0.02, int(120 // f): 0.004, int(160 // f): 0.0008}, int(200 // f)


def _imagenet_regime(f):  # main_f2c_imagenet.py
    return ({0: 0.01, int(90 // f): 1e-3, int(135 // f): 1e-4, int(180 // f): 1e-5,
             int(210 // f): 1e-6}, int(225 // f))


# dataset key, the authors' regime, batch, weight decay (the regime's, not the paper's text)
FAMILIES = [("cifar10", _cifar10_regime, 256, 5e-4),
            ("cifar100_animals", _cifar100_regime, 128, 5e-4),
            ("imagenet_dogcat", _imagenet_regime, 32, 1e-4)]


def _authors_rate(regime: dict, epoch: int) -> float:
    """adjust_optimizer's sticky rule: the last entry with a key <= epoch."""
    rate = None
    for e in range(epoch + 1):
        if e in regime:
            rate = regime[e]
    return rate


def _run(dataset: str, fraction: float) -> ExperimentConfig:
    return PROFILES["paper"].recipe_for(dataset).experiment("fine", fraction=fraction)


@pytest.mark.parametrize("fraction", FRACTIONS)
@pytest.mark.parametrize("dataset,regime,batch,weight_decay", FAMILIES)
def test_the_rate_at_each_epoch_start_is_the_authors_regime(dataset, regime, batch, weight_decay,
                                                           fraction):
    cfg = _run(dataset, fraction)
    rates, epochs = regime(fraction)
    assert cfg.epochs_to_run() == epochs
    assert (cfg.data.batch_size, cfg.model.weight_decay) == (batch, weight_decay)
    steps = 3  # any count: boundaries sit at the first step of an epoch
    schedule = schedules.run_schedule(cfg, steps)
    got = np.asarray(schedule(np.arange(epochs) * steps))
    want = np.array([_authors_rate(rates, e) for e in range(epochs)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # Within an epoch the rate does not move (the authors set it once per epoch).
    np.testing.assert_allclose(np.asarray(schedule(np.arange(epochs) * steps + steps - 1)), want,
                               rtol=1e-6)


def test_epoch_counts_use_the_authors_float_floor_division():
    assert _run("cifar10", 0.2).epochs_to_run() == 999  # 200 // 0.2, not 1000
    assert _run("cifar100", 0.8).scaled_epoch(60) == 74
    assert _run("imagenet_fruitveg", 0.6).epochs_to_run() == 375


@pytest.mark.parametrize("dataset,normalize", [
    ("cifar10", "cifar10_authors"), ("cifar10_custom_3", "cifar10_authors"),
    ("cifar100", "cifar100_authors"), ("cifar100_animals", "cifar100_authors"),
    ("cifar100_5", "cifar100_authors"), ("imagenet_dogcat", "imagenet"),
    ("fashion_mnist", "dataset")])
def test_the_paper_profile_normalises_with_the_authors_constants(dataset, normalize):
    assert _run(dataset, 1.0).data.normalize == normalize


def test_the_authors_constants_are_as_they_wrote_them():
    assert data.FIXED_NORMALIZATIONS["cifar10_authors"] == (
        (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
    assert data.FIXED_NORMALIZATIONS["cifar100_authors"] == (
        (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "imagenet_fruitveg"])
def test_every_paper_recipe_restarts_momentum_and_starts_as_pytorch_0_3(dataset):
    cfg = _run(dataset, 1.0)
    assert cfg.train.restart_momentum and cfg.model.init == "authors"
    assert (cfg.train.momentum, cfg.train.nesterov) == (0.9, False)


def test_only_the_imagenet_recipe_adds_the_authors_test_protocol():
    assert _run("imagenet_dogcat", 1.0).train.authors_test_passes == 5
    assert _run("cifar10", 1.0).train.authors_test_passes == 0


def test_the_dry_run_prints_one_line_per_family(capsys):
    assert cli.main(["reproduce", "--profile", "paper", "--only", "table1", "--dry-run"]) == 0
    lines = {line.strip().split(":")[0]: line for line in capsys.readouterr().out.splitlines()
             if line.startswith("  cifar10:") or line.startswith("  cifar100:")
             or line.startswith("  imagenet:")}
    assert "batch 256, lr 0.1 x0.1 from epoch 150, 200 epochs" in lines["cifar10"]
    assert ("batch 128, lr 0.1 x0.2 from epoch 60, x0.2 from epoch 120, x0.2 from epoch 160, "
            "200 epochs") in lines["cifar100"]
    assert ("batch 32, lr 0.01 x0.1 from epoch 90, x0.1 from epoch 135, x0.1 from epoch 180, "
            "x0.1 from epoch 210, 225 epochs") in lines["imagenet"]
    assert "weight decay 1e-4" in lines["imagenet"] and "weight decay 5e-4" in lines["cifar10"]
    assert all("int(E // f)" in line for line in lines.values())


@pytest.mark.parametrize("native,planned", [(True, "bfloat16"), (False, "auto")])
def test_local_planning_resolves_the_cpu_precision_and_a_portable_plan_does_not(
        monkeypatch, native, planned):
    """`lg reproduce` keeps its plan-time choice (the finished runs' hashes, test_config.py); a
    compiled pipeline carries the rule and never asks this machine."""
    monkeypatch.setattr(machine, "native_bfloat16", lambda *_: native)
    local = planner.plan("cpu", ["table1"], datasets=["cifar10"])
    assert {r.experiment.train.mixed_precision for r in local.runs} == {planned}
    assert profiles.CPU_MIXED_PRECISION == planned

    def ask(*_):
        raise AssertionError("a portable plan asked this machine about bfloat16")

    monkeypatch.setattr(machine, "native_bfloat16", ask)
    portable = planner.plan("cpu", ["table1"], datasets=["cifar10"], portable=True)
    assert {r.experiment.train.mixed_precision for r in portable.runs} == {"native_bfloat16"}
    assert [r.estimated_seconds for r in portable.runs] == pytest.approx([
        estimates.estimate_run_seconds(r.experiment, portable.datasets[0]) for r in portable.runs],
        abs=0.05)  # the planner rounds to 0.1 s
    assert PROFILES["cpu"] == profiles.get_profile("cpu", portable=True)


def _build(root, size, per_class, classes=4):
    """A generated image folder of `classes` fine classes (two coarse), built with example_gen."""
    names = [f"c{i}" for i in range(classes)]
    datagen.write_image_folder(os.path.join(root, "images"), names, per_class, 2, size=size)
    hierarchy = datagen.write_hierarchy(os.path.join(root, "h.yaml"),
                                        {"a": names[:classes // 2], "b": names[classes // 2:]})
    out = os.path.join(root, "dataset")
    example_gen.run(BuildConfig(dataset=f"folder:{os.path.join(root, 'images')}",
                                hierarchy=hierarchy), SourceAccess(), {"examples": out})
    return out


@pytest.mark.slow
@pytest.mark.parametrize("dataset,size", [("cifar10", (32, 32)), ("cifar100", (32, 32)),
                                          ("imagenet_dogcat", (64, 64))])
def test_each_paper_recipe_trains_two_steps_and_checkpoints(tmp_path, dataset, size):
    """The recipe's own network, batch, init, normalisation and restart, for 2 optimizer steps:
    ResNet-18 width 64 at batch 256, WRN-28-10 at 128, the 224 px ImageNet recipe at 32."""
    cfg = _run(dataset, 1.0)
    batch = cfg.data.batch_size
    dataset_dir = _build(str(tmp_path), size, per_class=batch // 4)
    normalize = "dataset" if cfg.data.normalize.endswith("_authors") else cfg.data.normalize
    # Two epochs of one step each, with a milestone between them (a generated folder is no CIFAR,
    # so the CIFAR constants would be wrong for it: the recipe's normalisation path is the same).
    cfg = dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, dataset_dir=dataset_dir, normalize=normalize),
        train=dataclasses.replace(cfg.train, epochs=2, lr_milestones=((1, 0.1),),
                                  max_steps_per_epoch=1, eval_every=0, authors_test_passes=0,
                                  strategy="default"))
    info = load_dataset_info(dataset_dir)
    history = train.train(cfg, info, str(tmp_path / "run"),
                          strategy=tf.distribute.get_strategy())
    tf.random.set_seed(None)
    assert [h["epoch"] for h in history] == [1, 2]
    assert [h["learning_rate"] for h in history] == pytest.approx(
        [cfg.train.learning_rate, cfg.train.learning_rate * 0.1])
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())
    assert state["epoch"] == 2 and state["step"] == 2
    assert (tmp_path / "run" / "checkpoint" / state["checkpoint"]).is_file()
    assert (tmp_path / "run" / "model.keras").is_file()
