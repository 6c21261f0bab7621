"""lg_keras.predictions: a finished run's logits and features, checked against the run's build."""

import json
import os
import shutil

import keras
import numpy as np
import pytest

from lg_keras import data, label_variants, predictions
from lg_keras.dataset_info import load_dataset_info
from lg_keras.errors import DataError, RunDirError
from tests.helpers.evaluator_fixtures import FINE_FRACTION, tiny_dataset, tiny_runs  # noqa: F401


@pytest.fixture(scope="module")
def info(tiny_dataset):
    return load_dataset_info(tiny_dataset)


def test_the_fraction_mask_keeps_each_fine_class_s_balanced_share(info):
    fine = data.read_labels(info, "train", ("fine",))["fine"]
    mask = predictions.train_fraction_mask(info, FINE_FRACTION)
    assert mask.shape == fine.shape and 0 < mask.sum() < len(mask)
    for cls, count in enumerate(info.fine_counts("train")):
        kept = int(np.sum(mask & (fine == cls)))
        assert kept == label_variants.fraction_threshold(int(count), FINE_FRACTION), cls
    assert predictions.train_fraction_mask(info, 1.0).all()


def test_predict_run_gives_the_models_logits_in_file_order(tiny_runs, info):
    run = tiny_runs("fine", FINE_FRACTION)
    pred = predictions.predict_run(run, info, batch_size=7, with_features=True)
    assert pred.label_view == "fine" and pred.data_cfg.dataset_dir == info.path
    model = keras.saving.load_model(os.path.join(run, "model.keras"), compile=False)
    images = np.concatenate([x.numpy() for x, _ in data.eval_dataset(info, "test", pred.data_cfg,
                                                                      ())])
    np.testing.assert_allclose(pred.test_logits, model.predict(images, verbose=0), atol=1e-4)
    assert pred.test_features.shape[0] == info.num_examples("test")
    assert len(pred.train_logits) == predictions.train_fraction_mask(info, FINE_FRACTION).sum()
    assert pred.history and predictions.predict_run(run, info).test_features is None


def test_unfinished_or_mismatched_runs_are_refused(tiny_runs, info, tmp_path):
    run = str(tmp_path / "run")
    shutil.copytree(tiny_runs("coarse"), run)
    (tmp_path / "run" / "train_state.json").write_text('{"finished": false}')
    with pytest.raises(RunDirError, match="not finished"):
        predictions.predict_run(run, info)
    (tmp_path / "run" / "train_state.json").write_text('{"finished": true}')
    with open(os.path.join(run, "config.json")) as f:
        config = json.load(f)
    config["dataset"]["config_hash"] = "0123456789abcdef"
    (tmp_path / "run" / "config.json").write_text(json.dumps(config))
    with pytest.raises(DataError, match="0123456789abcdef"):
        predictions.load_run_config(run, info)
    os.remove(os.path.join(run, "config.json"))
    with pytest.raises(RunDirError, match="config.json"):
        predictions.load_run_config(run, info)
    os.remove(os.path.join(run, "model.keras"))
    with pytest.raises(RunDirError, match="model.keras"):
        predictions.load_model(run)
