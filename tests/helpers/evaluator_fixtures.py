"""Tiny datasets and trained run directories for the evaluator, embedding and TensorBoard tests.

`tiny_dataset` builds a 4-fine / 2-coarse PNG image folder (8x8 pixels, classes told apart by
colour) into TFRecords with the real example_gen, with one noisy fine-label view (r = 0.3).
`train_tiny_run` trains a width-4 pre-activation ResNet-18 with the real trainer component
(components.trainer.executor.run), which writes the run directory: config.json, model.keras,
history.json, train_state.json and a TensorBoard logdir with scalars and HParams. To keep the
suite fast, the `tiny_runs` fixture trains only the 'fine' run (fraction 0.5, so two epochs); the
noisy-view run reuses its network (same classes) under its own config.json, and the coarse run is an
untrained 2-class network in the same layout with a hand-written history: the evaluator only reads
these files, and the tests recompute every number from them.

Builds are cached per pytest session (keyed by the session's base temp dir), so test modules that
import these fixtures share one dataset and one run per (label view, fraction).
"""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image
import tensorflow as tf

from components.evaluator import executor as evaluator
from components.example_gen import executor as example_gen
from components.example_gen.source_access import SourceAccess
from components.trainer import executor as trainer
from lg_keras import data, models
from lg_keras.config import BuildConfig, DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lg_keras.config_io import config_hash, to_dict
from lg_keras.dataset_info import load_dataset_info

FINE_CLASSES = ("cat", "dog", "car", "ship")
HIERARCHY_YAML = """\
name: tiny_pets_vehicles
coarse:
  animal: [cat, dog]
  vehicle: [car, ship]
"""
# The same fine classes under a different mapping (a Table VI-style custom hierarchy).
CROSSED_YAML = """\
name: tiny_crossed
coarse:
  first: [cat, car]
  second: [dog, ship]
"""
NOISE_RATE = 0.3
# The trained run uses half the training split, so the clean train pass must apply the fraction.
FINE_FRACTION = 0.5
IMAGE_SIZE = 8
_COLOURS = {"cat": (200, 40, 40), "dog": (170, 90, 40), "car": (40, 40, 200),
            "ship": (40, 150, 190)}
_CACHE = {}


def write_image_folder(root: str, per_class: dict[str, int], seed: int = 0) -> str:
    """Writes ROOT/{train,test}/<class>/<i>.png: class colour plus seeded noise."""
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for name in FINE_CLASSES:
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                base = np.asarray(_COLOURS[name], np.float64)
                pixels = base + rng.normal(0, 45, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                    os.path.join(folder, f"{i:03d}.png"))
    return root


def write_hierarchy(path: str, text: str = HIERARCHY_YAML) -> str:
    """Writes a hierarchy YAML file and returns its path."""
    with open(path, "w") as f:
        f.write(text)
    return path


def build_tiny_dataset(root: str) -> str:
    """Builds the tiny dataset under root/dataset with example_gen; returns its directory."""
    images = write_image_folder(os.path.join(root, "images"), {"train": 12, "test": 6})
    hierarchy = write_hierarchy(os.path.join(root, "hierarchy.yaml"))
    out = os.path.join(root, "dataset")
    example_gen.run(BuildConfig(dataset=f"folder:{images}", hierarchy=hierarchy,
                                noise=(NOISE_RATE,), train_shards=2, test_shards=1),
                    SourceAccess(), {"examples": out})
    return out


def train_tiny_run(dataset_dir: str, run_dir: str, labels: str = "fine",
                   fraction: float = 1.0, epochs: int = 1) -> str:
    """Trains a width-4 network with the real trainer component; returns run_dir.

    `epochs` counts full-data epochs: a run on fraction f trains ceil(epochs / f) epochs.
    """
    cfg = ExperimentConfig(
        data=DataConfig(dataset_dir=dataset_dir, labels=labels, fraction=fraction, batch_size=8),
        model=ModelConfig(width=4),
        train=TrainConfig(epochs=epochs, learning_rate=0.05, schedule="constant",
                          strategy="default", mixed_precision="off"))
    trainer.run(cfg, {"examples": dataset_dir}, {"model": run_dir})
    # The trainer leaves TensorFlow's global seed set (keras.utils.set_random_seed), under which
    # data.train_dataset fails to trace; clear it so later tests in this process are unaffected.
    tf.random.set_seed(None)
    return run_dir


def untrained_run(dataset_dir: str, run_dir: str, labels: str) -> str:
    """An untrained width-4 network in the trainer's layout, with a fixed two-epoch history.

    The history has no coarse_accuracy, so a coarse run's figures fall back to its accuracy.
    """
    info = load_dataset_info(dataset_dir)
    cfg = ExperimentConfig(data=DataConfig(dataset_dir=dataset_dir, labels=labels, batch_size=8),
                           model=ModelConfig(width=4))
    model = models.build_model(cfg.model, info.num_classes(labels),
                               data.input_shape(info, cfg.data))
    os.makedirs(run_dir, exist_ok=True)
    model.save(os.path.join(run_dir, "model.keras"))
    with open(os.path.join(run_dir, "history.json"), "w") as f:
        json.dump([{"epoch": 1, "accuracy": 0.5, "loss": 0.7, "val_accuracy": 0.75},
                   {"epoch": 2, "accuracy": 0.625, "loss": 0.6, "val_accuracy": 0.5}], f)
    write_run_files(run_dir, to_dict(cfg), config_hash(cfg), info.meta["config_hash"], 2)
    return run_dir


def write_run_files(run_dir, experiment: dict, run_hash: str, dataset_hash: str, epochs: int):
    """Writes config.json and a finished train_state.json as the trainer does."""
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        json.dump({"experiment": experiment, "config_hash": run_hash,
                   "dataset": {"config_hash": dataset_hash}}, f)
    with open(os.path.join(run_dir, "train_state.json"), "w") as f:
        json.dump({"finished": True, "epoch": epochs}, f)


def derive_run(source_run: str, run_dir: str, labels: str, fraction: float) -> str:
    """A run directory with source_run's network and history under another label view/fraction."""
    shutil.copytree(source_run, run_dir)
    with open(os.path.join(source_run, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(source_run, "history.json")) as f:
        epochs = len(json.load(f))
    config["experiment"]["data"].update(labels=labels, fraction=fraction)
    write_run_files(run_dir, config["experiment"], f"derived-{labels}-{fraction}",
                    config["dataset"]["config_hash"], epochs)
    return run_dir


def _cached(tmp_path_factory, key, make):
    full_key = (str(tmp_path_factory.getbasetemp()), key)
    if full_key not in _CACHE:
        _CACHE[full_key] = make()
    return _CACHE[full_key]


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """Directory of the tiny built dataset (4 fine, 2 coarse, noise view fine_noise_0.3)."""
    return _cached(tmp_path_factory, "dataset",
                   lambda: build_tiny_dataset(str(tmp_path_factory.mktemp("tiny_data"))))


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, tiny_dataset):
    """A function (labels, fraction) -> run directory for that view, built once per session.

    ('fine', FINE_FRACTION) is trained; other views derive from it or are untrained (see above).
    """

    def get(labels="fine", fraction=1.0):
        def make():
            run_dir = os.path.join(str(tmp_path_factory.mktemp(f"run_{labels}")), "run")
            if labels == "fine" and fraction == FINE_FRACTION:
                return train_tiny_run(tiny_dataset, run_dir, labels, fraction)
            if labels == "coarse":
                return untrained_run(tiny_dataset, run_dir, labels)
            return derive_run(get("fine", FINE_FRACTION), run_dir, labels, fraction)

        return _cached(tmp_path_factory, ("run", labels, fraction), make)

    return get


@pytest.fixture(scope="session")
def evaluated_run(tmp_path_factory, tiny_runs, tiny_dataset):
    """(run_dir, metrics): a copy of the trained fine run after the evaluator wrote into it.

    Evaluated under the dataset's own hierarchy and a crossed one, with embeddings.
    """

    def make():
        root = tmp_path_factory.mktemp("evaluated")
        run_dir = str(root / "run")
        shutil.copytree(tiny_runs("fine", FINE_FRACTION), run_dir)
        specs = [write_hierarchy(str(root / "own.yaml"), HIERARCHY_YAML),
                 write_hierarchy(str(root / "crossed.yaml"), CROSSED_YAML)]
        result = evaluator.run({"hierarchies": specs}, {"model": run_dir, "examples": tiny_dataset},
                              {"metrics": run_dir})
        return run_dir, result

    return _cached(tmp_path_factory, "evaluated", make)
