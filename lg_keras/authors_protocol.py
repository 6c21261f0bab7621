"""The authors' test protocol on the ImageNet subsets, as a labelled option beside ours.

main_f2c_imagenet.py loaded its test split with the TRAINING transform (RandomResizedCrop(224) +
RandomHorizontalFlip; commit 7768abf, "imagenet use train transform for test"). After every epoch
it scored the test split once, a fresh random augmentation each time, and kept the checkpoint with
the best test accuracy; a fine-label run scored the fine accuracy and the coarse-from-fine accuracy
against one shared `best_acc`. A fine-label run then made 5 more random passes, each giving the
inter- and intra-coarse means of a column-normalised, symmetrised confusion matrix
(utils_confmat.confusion), and logged ACR = sum(inter) / sum(intra) over the 5 passes, for each
epoch's network.

`train.authors_test_passes` = N > 0 adds `AuthorsTestProtocol` to the training loop: at the end of
every epoch it makes N passes over the test split through the training augmentation
(`data.augmented_dataset`), pass p of epoch e drawn from the stateless key `pass_key(seed, e, p)`,
and puts into the epoch's logs (so history.json):

    authors_test_accuracy          pass 1: accuracy on the label view's test labels
    authors_test_coarse_accuracy   pass 1: the predicted class mapped to its coarse class
    authors_test_acr               fine-type views: ACR pooled over the N passes
                                   (`metrics.pooled_average_confusion_ratio`)

Where the authors drew separate augmentations for the fine accuracy, the coarse-from-fine accuracy
and each of the 5 ACR passes, we score both accuracies on pass 1 and pool ACR over passes 1..N. On
one pass the coarse-from-view accuracy is never below the view accuracy (a correct class has the
correct coarse class), so the shared best_acc is the best coarse-from-view figure.

`summary` turns those history entries into metrics.json['authors_protocol'] (the evaluator). Our
primary figures (deterministic centre crop, final epoch) are not touched.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from lg_keras import data, metrics, run_files
from lg_keras.config import ExperimentConfig
from lg_keras.dataset_info import DatasetInfo
from lg_keras.errors import HierarchyError

ACCURACY_KEY = "authors_test_accuracy"
COARSE_ACCURACY_KEY = "authors_test_coarse_accuracy"
ACR_KEY = "authors_test_acr"
# Passes per epoch stay below this (config allows at most 100), so keys never repeat.
_PASS_STRIDE = 128


def pass_key(seed: int, epoch: int, pass_index: int) -> int:
    """The augmentation key of pass `pass_index` (0-based) of epoch `epoch` (0-based).

    One value per (seed, epoch, pass). Training keys (`data.train_dataset`: seed * 1000003 + epoch,
    and that + 1 for flips) are >= 0; these are <= -2, so a test pass never repeats a training draw.
    """
    assert 0 <= pass_index < _PASS_STRIDE, pass_index
    return -2 - ((seed * 1_000_003 + epoch) * _PASS_STRIDE + pass_index)


def pass_dataset(info: DatasetInfo, cfg: ExperimentConfig, *, epoch: int,
                      pass_index: int) -> tf.data.Dataset:
    """The test split's images, file order, through the training augmentation of one pass."""
    ds = data.augmented_dataset(info, "test", cfg.data,
                                augment_key=pass_key(cfg.train.seed, epoch, pass_index))
    # A known length lets predict stop without Keras' "input ran out of data" warning.
    batches = math.ceil(info.num_examples("test") / cfg.data.batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(batches))


def _defines_acr(view: str, view_to_coarse: np.ndarray) -> bool:
    """train.has_acr's rule for a fine-type view: two coarse classes, one with two classes."""
    if view == "coarse":
        return False
    try:
        metrics.coarse_pair_masks(view_to_coarse)
    except HierarchyError:
        return False
    return True


class AuthorsTestProtocol(keras.callbacks.Callback):
    """Scores the test split through the training augmentation at the end of every epoch.

    Adds ACCURACY_KEY, COARSE_ACCURACY_KEY and (fine-type views) ACR_KEY to the epoch's logs; an
    undefined ACR is nan there (None in history.json). Place it before the callbacks that read
    the logs (the trainer's history writer, TensorBoard). Works under any tf.distribute strategy:
    the passes go through `model.predict`.

    Args:
        info: the built dataset.
        cfg: the experiment (`cfg.train.authors_test_passes` passes, keyed by `cfg.train.seed`).
    """

    def __init__(self, info: DatasetInfo, cfg: ExperimentConfig):
        super().__init__()
        assert cfg.train.authors_test_passes > 0
        self._info, self._cfg = info, cfg
        view = cfg.data.labels
        self._view_to_coarse = info.view_to_coarse(view)
        self._acr = _defines_acr(view, self._view_to_coarse)
        labels = data.read_labels(info, "test", tuple(dict.fromkeys((view, "coarse"))))
        self._labels, self._coarse = labels[view], labels["coarse"]

    def score(self, epoch: int) -> dict[str, float]:
        """The figures of epoch `epoch` (0-based) for the current weights."""
        confusions, figures = [], {}
        for pass_index in range(self._cfg.train.authors_test_passes):
            ds = pass_dataset(self._info, self._cfg, epoch=epoch, pass_index=pass_index)
            predicted = metrics.predicted_classes(self.model.predict(ds, verbose=0))
            assert len(predicted) == len(self._labels)
            if pass_index == 0:
                figures[ACCURACY_KEY] = float(np.mean(predicted == self._labels))
                figures[COARSE_ACCURACY_KEY] = float(
                    np.mean(self._view_to_coarse[predicted] == self._coarse))
            if not self._acr:
                break
            confusions.append(metrics.confusion_matrix(self._labels, predicted,
                                                       len(self._view_to_coarse)))
        if self._acr:
            figures[ACR_KEY] = metrics.pooled_average_confusion_ratio(confusions,
                                                                      self._view_to_coarse)
        return figures

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.score(epoch))


def callbacks(info: DatasetInfo, cfg: ExperimentConfig) -> list[keras.callbacks.Callback]:
    """[AuthorsTestProtocol] when `cfg.train.authors_test_passes` > 0, else []."""
    return [AuthorsTestProtocol(info, cfg)] if cfg.train.authors_test_passes else []


SUMMARY_DESCRIPTION = (
    "The authors' ImageNet-subset protocol (main_f2c_imagenet.py): the test split scored through "
    "the random TRAINING augmentation (random-resized crop + flip), one draw per epoch. "
    "best_test_coarse_accuracy: the maximum over epochs of pass 1's coarse-from-view accuracy and, "
    "for views other than coarse, pass 1's label-view accuracy (the authors' shared best_acc; on "
    "one pass the coarse figure is never below the view figure, so this is the best coarse "
    "figure), first epoch at ties; best_epoch: that epoch. Selected on noisy draws of the test "
    "split, so biased upwards. final_epoch_acr: ACR of the FINAL epoch's network (the network of "
    "every other figure here), pooled over {passes} random passes as sum(inter) / sum(intra); the "
    "authors logged it every epoch and the paper does not say which epoch it plots. The primary "
    "figures (centre crop, final epoch) are coarse_test_accuracy and acr.")


def summary(history: list[dict], label_view: str, passes: int) -> dict | None:
    """metrics.json['authors_protocol'] from a run's history, or None if it has no such figures.

    Args:
        history: history.json's per-epoch dicts.
        label_view: the view the run trained on.
        passes: `train.authors_test_passes` of the run.

    Returns:
        {'passes', 'best_epoch', 'best_test_coarse_accuracy', 'final_epoch', 'final_epoch_acr',
        'description'} (see SUMMARY_DESCRIPTION); the ACR is None for a coarse view or when
        undefined.
    """
    keys = (COARSE_ACCURACY_KEY,) + ((ACCURACY_KEY,) if label_view != "coarse" else ())
    scored = []
    for i, record in enumerate(history):
        values = [v for v in (run_files.finite(record.get(k)) for k in keys) if v is not None]
        if values:
            scored.append((max(values), int(record.get("epoch", i + 1))))
    if not scored:
        return None
    best, best_epoch = max(scored, key=lambda item: (item[0], -item[1]))
    last = history[-1]
    return {"passes": passes, "best_epoch": best_epoch, "best_test_coarse_accuracy": best,
            "final_epoch": int(last.get("epoch", len(history))),
            "final_epoch_acr": run_files.finite(last.get(ACR_KEY)),
            "description": SUMMARY_DESCRIPTION.format(passes=passes)}
