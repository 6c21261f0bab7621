"""A finished run's model over its dataset: the run's config checked against the build, the model
loaded, and the logits (and penultimate features) of the test split and of a clean pass over the
training split (no augmentation, inference mode, the data fraction the run trained on).

`lg_keras.evaluate` turns a `RunPredictions` into metrics; the cluster component reads features
through `load_model` and `load_run_config` too.
"""

import dataclasses
import logging
import os

import keras
import numpy as np
import tensorflow as tf

from lg_keras import data, records, run_files
from lg_keras.config import DataConfig
from lg_keras.config_io import from_dict
from lg_keras.dataset_info import DatasetInfo
from lg_keras.errors import DataError, RunDirError
# Importing the model modules registers their classes with Keras, so model.keras loads (the
# models package itself loads them only when a model is built).
from lg_keras.models import preact_resnet, wide_resnet  # noqa: F401  pylint: disable=unused-import


@dataclasses.dataclass(frozen=True)
class RunPredictions:
    """What one pass of a run's model over the data produced.

    Attributes:
        run_dir: the run directory.
        config: the parsed RUN_DIR/config.json.
        data_cfg: the run's DataConfig, `dataset_dir` pointing at the evaluated dataset.
        history: per-epoch dicts of history.json (possibly empty).
        test_logits: float32 [num_test, num_classes], test split in file order.
        test_features: float32 [num_test, D] penultimate features, or None if not requested.
        train_logits: float32 [num_kept_train, num_classes], the run's training fraction.
    """

    run_dir: str
    config: dict
    data_cfg: DataConfig
    history: list
    test_logits: np.ndarray
    test_features: np.ndarray | None
    train_logits: np.ndarray

    @property
    def label_view(self) -> str:
        return self.data_cfg.labels


def _required(record, path: str, what: str):
    if record is None:
        raise RunDirError(f"{what} {path!r} is missing; is this a finished run directory?")
    return record


def load_run_config(run_dir: str, info: DatasetInfo) -> tuple[dict, DataConfig]:
    """Reads RUN_DIR/config.json and checks the run is finished and fits the dataset.

    Returns:
        (config dict, the run's DataConfig with dataset_dir = info.path).

    Raises:
        RunDirError: when files are missing or the run has not finished.
        DataError: when the run was trained on a different dataset build.
    """
    state = _required(run_files.read_train_state(run_dir),
                      os.path.join(run_dir, run_files.TRAIN_STATE_FILE), "Training state")
    if not state.get("finished"):
        raise RunDirError(f"Run {run_dir!r} has not finished training (train_state.json: "
                          f"finished={state.get('finished')!r}); resume it with `lg train` first.")
    config = _required(run_files.read_config(run_dir),
                       os.path.join(run_dir, run_files.CONFIG_FILE), "Run config")
    try:
        data_cfg = from_dict(DataConfig, config["experiment"]["data"], "experiment.data")
    except (KeyError, TypeError) as e:
        raise RunDirError(f"{run_dir}/config.json lacks experiment.data: {e!r}.") from e
    trained_on = (config.get("dataset") or {}).get("config_hash")
    if trained_on and trained_on != info.meta.get("config_hash"):
        raise DataError(f"Run {run_dir!r} was trained on dataset build {trained_on}, but "
                        f"{info.path!r} is build {info.meta.get('config_hash')}; pass the dataset "
                        f"the run was trained on.")
    data.check_label_view(info, data_cfg.labels)
    return config, dataclasses.replace(data_cfg, dataset_dir=info.path)


def train_fraction_mask(info: DatasetInfo, fraction: float) -> np.ndarray:
    """Which training examples (file order) a class-balanced fraction keeps, as data.py selects."""
    spec = {records.RANK: tf.io.FixedLenFeature([], tf.int64),
            records.FINE: tf.io.FixedLenFeature([], tf.int64)}
    ds = tf.data.TFRecordDataset(info.files("train"), compression_type=info.compression)
    ds = ds.batch(4096).map(lambda s: tf.io.parse_example(s, spec))
    thresholds = data.fraction_thresholds(info, fraction)
    masks = [b[records.RANK].numpy() < thresholds[b[records.FINE].numpy()] for b in ds]
    return np.concatenate(masks) if masks else np.zeros([0], bool)


def _images(info, split, data_cfg, batch_size, mask=None) -> tf.data.Dataset:
    """Image batches of a split in file order, only the examples `mask` keeps (if given)."""
    ds = data.eval_dataset(info, split, data_cfg, (), batch_size).map(lambda x, _: x)
    count = info.num_examples(split)
    if mask is not None:
        keep = tf.data.Dataset.from_tensor_slices(mask)
        ds = tf.data.Dataset.zip(ds.unbatch(), keep).filter(lambda _, k: k).map(lambda x, _: x)
        ds = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
        count = int(np.sum(mask))
    # A known length lets Keras' predict stop without its "ran out of data" warning.
    return ds.apply(tf.data.experimental.assert_cardinality(-(-count // batch_size)))


def load_model(run_dir: str) -> keras.Model:
    """Loads RUN_DIR/model.keras without its training configuration."""
    path = run_files.model_path(run_dir)
    if not os.path.exists(path):
        raise RunDirError(f"Run {run_dir!r} has no model.keras; has it finished training?")
    return keras.saving.load_model(path, compile=False)


def predict_run(run_dir: str, info: DatasetInfo, *, batch_size: int | None = None,
                with_features: bool = False) -> RunPredictions:
    """Predicts the test split (and optionally its penultimate features) and the clean train pass.

    Raises:
        RunDirError, DataError: see `load_run_config`; DataError also when the model's output
            width does not match the label view's number of classes.
    """
    config, data_cfg = load_run_config(run_dir, info)
    batch_size = batch_size or max(data_cfg.batch_size, 256)
    model = load_model(run_dir)
    num_classes = info.num_classes(data_cfg.labels)
    if model.output_shape[-1] != num_classes:
        raise DataError(f"Model of {run_dir!r} outputs {model.output_shape[-1]} classes, but label "
                        f"view {data_cfg.labels!r} of {info.path!r} has {num_classes}.")
    outputs = model.outputs + ([model.get_layer("penultimate").output] if with_features else [])
    net = keras.Model(model.inputs, outputs)
    test = net.predict(_images(info, "test", data_cfg, batch_size), verbose=0)
    test = test if isinstance(test, (list, tuple)) else [test]
    mask = None if data_cfg.fraction >= 1.0 else train_fraction_mask(info, data_cfg.fraction)
    train = model.predict(_images(info, "train", data_cfg, batch_size, mask), verbose=0)
    logging.info("Predicted %d test and %d train examples of %s.", len(test[0]), len(train),
                 run_dir)
    return RunPredictions(run_dir=run_dir, config=config, data_cfg=data_cfg,
                          history=run_files.read_history(run_dir), test_logits=np.asarray(test[0]),
                          test_features=np.asarray(test[1]) if with_features else None,
                          train_logits=np.asarray(train))
