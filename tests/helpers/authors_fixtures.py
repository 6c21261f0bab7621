"""A tiny run trained with the authors' ImageNet test protocol, shared by its trainer and evaluator
tests.

`authors_dataset` builds a 4-fine / 2-coarse image folder of PNGs 40 to 79 pixels on a side (so
the 'auto' augmentation resolves to random-resized crop + flip, the ImageNet-subset case) with the
real example_gen. `authors_run` trains a width-4 pre-activation ResNet-18 on it for 2 epochs at
image_size 32 with `train.authors_test_passes` = 3, interrupted after epoch 1 and resumed, so the
run also shows that a resumed run keeps epoch 1's figures. Both are built once per pytest session.
"""

import dataclasses
import json
import os

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from components.example_gen import executor as example_gen
from components.example_gen.source_access import SourceAccess
from lg_keras import run_files, train
from lg_keras.config import BuildConfig, DataConfig, ExperimentConfig, ModelConfig, TrainConfig
from lg_keras.dataset_info import load_dataset_info
from tests.helpers import datagen

PASSES = 3
_CACHE = {}


# Each class has its colour (plus pixel noise), so even a 2-epoch network predicts several classes.
_COLOURS = {"cat": (200, 40, 40), "dog": (180, 70, 40), "car": (40, 40, 200),
            "ship": (40, 80, 190)}


def write_folder(folder: str, per_split: dict, seed: int = 1) -> None:
    """ROOT/{train,test}/<class>/<i>.png of a random size in [40, 80) pixels a side."""
    rng = np.random.default_rng(seed)
    for split, count in per_split.items():
        for name, colour in _COLOURS.items():
            os.makedirs(os.path.join(folder, split, name), exist_ok=True)
            for i in range(count):
                h, w = rng.integers(40, 80, size=2)
                pixels = np.asarray(colour) + rng.normal(0, 60, size=(h, w, 3))
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                    os.path.join(folder, split, name, f"{i:03d}.png"))


def build_dataset(root: str) -> str:
    """Writes the image folder and builds it; returns the dataset directory."""
    folder = os.path.join(root, "images")
    write_folder(folder, {"train": 8, "test": 5})
    hierarchy = datagen.write_hierarchy(os.path.join(root, "hierarchy.yaml"),
                                        {"animal": ["cat", "dog"], "vehicle": ["car", "ship"]},
                                        name="tiny_large_images")
    out = os.path.join(root, "dataset")
    example_gen.run(BuildConfig(dataset=f"folder:{folder}", hierarchy=hierarchy, train_shards=1,
                                test_shards=1), SourceAccess(), {"examples": out})
    return out


def experiment(dataset_dir: str, labels: str = "fine", **train_fields) -> ExperimentConfig:
    """The run's config: width 4, 2 epochs, image_size 32, 3 authors' passes."""
    fields = dict(epochs=2, learning_rate=0.05, schedule="constant", eval_every=0,
                  strategy="default", mixed_precision="off", authors_test_passes=PASSES)
    fields.update(train_fields)
    return ExperimentConfig(
        data=DataConfig(dataset_dir=dataset_dir, labels=labels, batch_size=8, image_size=32),
        model=ModelConfig(width=4), train=TrainConfig(**fields))


class _Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt("simulated crash at epoch 1")


def train_interrupted(cfg: ExperimentConfig, run_dir: str) -> tuple[list[dict], list[dict]]:
    """Trains epoch 1, crashes, resumes; returns (history.json after the crash, final history)."""
    info = load_dataset_info(cfg.data.dataset_dir)
    strategy = tf.distribute.get_strategy()
    try:
        train.train(cfg, info, run_dir, strategy=strategy, callbacks=[_Crash()])
    except KeyboardInterrupt:
        pass
    with open(os.path.join(run_dir, run_files.HISTORY_FILE)) as f:
        before = json.load(f)
    history = train.train(cfg, info, run_dir, strategy=strategy)
    # train() leaves TensorFlow's global seed set; clear it for later tests in this process.
    tf.random.set_seed(None)
    return before, history


@pytest.fixture(scope="session")
def authors_dataset(tmp_path_factory):
    """Directory of the built large-image dataset (4 fine, 2 coarse classes)."""
    key = (str(tmp_path_factory.getbasetemp()), "dataset")
    if key not in _CACHE:
        _CACHE[key] = build_dataset(str(tmp_path_factory.mktemp("authors_data")))
    return _CACHE[key]


@dataclasses.dataclass(frozen=True)
class AuthorsRun:
    cfg: ExperimentConfig
    run_dir: str
    history_before_crash: list
    history: list


@pytest.fixture(scope="session")
def authors_run(tmp_path_factory, authors_dataset):
    """The fine-label run (interrupted after epoch 1 and resumed): an AuthorsRun."""
    key = (str(tmp_path_factory.getbasetemp()), "run")
    if key not in _CACHE:
        cfg = experiment(authors_dataset)
        run_dir = os.path.join(str(tmp_path_factory.mktemp("authors_run")), "run")
        before, history = train_interrupted(cfg, run_dir)
        _CACHE[key] = AuthorsRun(cfg, run_dir, before, history)
    return _CACHE[key]
