"""Keras 3 metrics for fine-label training: coarse accuracy, fine confusion matrix and ACR.

Each class computes with `keras.ops` the same math as its numpy twin in `lg_keras.metrics`
(`coarse_accuracy`, `confusion_matrix`, `average_confusion_ratio`), so it can go in
`model.compile(metrics=[...])` while a model trains on fine labels. Inputs, as Keras passes them:
y_true integer fine labels of shape (batch,) or (batch, 1); y_pred logits or probabilities of shape
(batch, num_fine_classes); optional sample_weight of shape (batch,) or (batch, 1).

State variables use aggregation 'sum', so under tf.distribute.MirroredStrategy the per-replica
counts are summed before `result()` (checked against numpy in the tests).

`FineConfusionMatrix.result()` is a matrix, not a scalar: `fit` and `evaluate` return it as an array
in their logs (History keeps one per epoch), the progress bar prints the mean of its entries, and
`keras.callbacks.TensorBoard` fails with "Expected scalar shape". Use it in `evaluate` (or compile it
only without a TensorBoard callback); `AverageConfusionRatio` is its scalar summary and is safe
everywhere.
"""

import keras
import numpy as np
from keras import ops

from lg_keras import metrics


def _flat(values, name: str):
    """Flattens (batch,) or (batch, 1) to (batch,); rejects one-hot or other 2-D shapes."""
    # A tf.function retraced with relaxed shapes can pass an unknown rank (None): unchecked then.
    rank = values.shape.rank if hasattr(values.shape, "rank") else len(values.shape)
    if rank == 2 and values.shape[-1] not in (1, None):
        raise ValueError(f"{name} must have shape (batch,) or (batch, 1) (integer labels, not one-hot); "
                         f"got shape {tuple(values.shape)}.")
    return ops.reshape(values, (-1,))


def _labels_and_predictions(y_true, y_pred):
    """Integer true labels and argmax predictions, both int32 of shape (batch,)."""
    y_true = _flat(ops.convert_to_tensor(y_true), "y_true")
    return ops.cast(y_true, "int32"), ops.cast(ops.argmax(y_pred, axis=-1), "int32")


def _weights(sample_weight, like, dtype):
    """Per-example weights of shape (batch,): ones when sample_weight is None."""
    if sample_weight is None:
        return ops.ones_like(like, dtype=dtype)
    return _flat(ops.cast(ops.convert_to_tensor(sample_weight), dtype), "sample_weight")


@keras.saving.register_keras_serializable(package="lg_keras")
class CoarseAccuracy(keras.metrics.Metric):
    """Coarse accuracy of a model trained on fine labels (the paper's A_FC rule).

    The argmax fine class and the fine label are both mapped to coarse classes and compared, as
    `lg_keras.metrics.coarse_accuracy` does. For a model trained on coarse labels pass the identity
    map, `list(range(num_coarse_classes))`.

        metric = CoarseAccuracy(fine_to_coarse=[0, 0, 1])
        model.compile(loss="sparse_categorical_crossentropy", metrics=[metric])
        model.evaluate(images, fine_labels)  # logs 'coarse_accuracy'

    Args:
        fine_to_coarse: the coarse class of each fine class, shape (num_fine_classes,).
        name: the metric's name in logs.
        dtype: dtype of the state and the result.
    """

    def __init__(self, fine_to_coarse, name="coarse_accuracy", dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.fine_to_coarse = [int(c) for c in metrics.as_fine_to_coarse(fine_to_coarse)]
        self.total = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch: y_true (batch,) or (batch, 1) fine labels, y_pred (batch, num_fine)."""
        labels, predictions = _labels_and_predictions(y_true, y_pred)
        lookup = ops.convert_to_tensor(np.asarray(self.fine_to_coarse, dtype=np.int32))
        correct = ops.cast(ops.equal(ops.take(lookup, predictions), ops.take(lookup, labels)),
                           self.dtype)
        weights = _weights(sample_weight, correct, self.dtype)
        self.total.assign_add(ops.sum(correct * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        """The weighted fraction correct so far; 0 before any example."""
        return ops.divide_no_nan(self.total, self.count)

    def get_config(self):
        return {**super().get_config(), "fine_to_coarse": list(self.fine_to_coarse)}


class _ConfusionState(keras.metrics.Metric):
    """Accumulates a (num_classes, num_classes) confusion matrix: rows true, columns predicted.

    Counts are held in `dtype` (float32 by default: exact up to 2**24 per cell). Labels outside
    [0, num_classes) are not counted (one_hot gives them an all-zero row).
    """

    def __init__(self, num_classes, name, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if int(num_classes) != num_classes or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}.")
        self.num_classes = int(num_classes)
        self.confusion = self.add_variable(shape=(self.num_classes, self.num_classes),
                                           initializer="zeros", dtype=self.dtype, name="confusion")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch: y_true (batch,) or (batch, 1) labels, y_pred (batch, num_classes)."""
        labels, predictions = _labels_and_predictions(y_true, y_pred)
        true_rows = ops.one_hot(labels, self.num_classes, dtype=self.dtype)
        weights = _weights(sample_weight, labels, self.dtype)
        predicted_rows = ops.one_hot(predictions, self.num_classes, dtype=self.dtype)
        # (num_classes, batch) @ (batch, num_classes): weighted counts of (true, predicted) pairs.
        self.confusion.assign_add(ops.matmul(ops.transpose(true_rows * weights[:, None]),
                                             predicted_rows))


@keras.saving.register_keras_serializable(package="lg_keras")
class FineConfusionMatrix(_ConfusionState):
    """The fine confusion matrix, as `lg_keras.metrics.confusion_matrix` computes it.

    Its result is a (num_classes, num_classes) matrix: use it in `evaluate`, not with a
    TensorBoard callback, which writes scalars only (see the module docstring).

        metric = FineConfusionMatrix(num_classes=10)
        model.compile(loss="sparse_categorical_crossentropy", metrics=[metric])
        model.evaluate(images, fine_labels, return_dict=True)["fine_confusion"]  # (10, 10)

    Args:
        num_classes: the number of fine classes.
        name: the metric's name in logs.
        dtype: dtype of the counts and the result.
    """

    def __init__(self, num_classes, name="fine_confusion", dtype=None, **kwargs):
        super().__init__(num_classes, name=name, dtype=dtype, **kwargs)

    def result(self):
        """The (weighted) counts, shape (num_classes, num_classes); rows true, columns predicted."""
        return ops.convert_to_tensor(self.confusion)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="lg_keras")
class AverageConfusionRatio(_ConfusionState):
    """Average Confusion Ratio (paper Section V) of the fine confusion matrix seen so far.

    Follows `lg_keras.metrics.average_confusion_ratio` with orientation='code' (the authors' code;
    see there for the paper's reciprocal equation (1)): columns normalised by their sums (a column
    with no predictions contributes zero confusion), symmetrised, then over pairs i < j
    mean(different-coarse pairs) / mean(same-coarse pairs); inf if only the numerator is positive,
    nan if both means are 0 (also before any example).

        metric = AverageConfusionRatio(fine_to_coarse=[0, 0, 1, 1])
        model.compile(loss="sparse_categorical_crossentropy", metrics=[metric])
        model.evaluate(images, fine_labels)  # logs 'acr'

    Args:
        fine_to_coarse: the coarse class of each fine class, shape (num_fine_classes,); needs a
            coarse class with two fine classes and at least two coarse classes.
        name: the metric's name in logs.
        dtype: dtype of the counts and the result.

    Raises:
        HierarchyError: if fine_to_coarse is malformed or has no same- or no different-coarse pair.
    """

    def __init__(self, fine_to_coarse, name="acr", dtype=None, **kwargs):
        same, different = metrics.coarse_pair_masks(fine_to_coarse)
        super().__init__(len(same), name=name, dtype=dtype, **kwargs)
        self.fine_to_coarse = [int(c) for c in metrics.as_fine_to_coarse(fine_to_coarse)]
        self._same_mask = same.astype(np.float32) / same.sum()
        self._different_mask = different.astype(np.float32) / different.sum()

    def result(self):
        """The scalar ACR of the accumulated confusion matrix."""
        confusion = ops.convert_to_tensor(self.confusion)
        column_sums = ops.sum(confusion, axis=0)
        normalised = confusion / ops.where(column_sums > 0, column_sums, ops.ones_like(column_sums))
        symmetric = (normalised + ops.transpose(normalised)) / 2
        inter = ops.sum(symmetric * ops.cast(self._different_mask, self.dtype))
        intra = ops.sum(symmetric * ops.cast(self._same_mask, self.dtype))
        degenerate = ops.where(inter > 0, float("inf"), float("nan"))
        ratio = inter / ops.where(intra > 0, intra, ops.ones_like(intra))
        return ops.cast(ops.where(intra > 0, ratio, degenerate), self.dtype)

    def get_config(self):
        return {**super().get_config(), "fine_to_coarse": list(self.fine_to_coarse)}
