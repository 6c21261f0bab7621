"""Numpy label metrics: accuracies, confusion matrices and the Average Confusion Ratio.

Arrays in, numbers out; no state and no I/O (STYLE.md section 5). The Keras metric classes that
compute the same math with `keras.ops` live in `lg_keras.keras_metrics`, so this module imports
numpy only. The inference statistics over these numbers (intervals, McNemar, equivalence and rank
tests) live in `lg_keras.statistics`.

Conventions: logits are (num_examples, num_classes) arrays; labels are integer arrays of shape
(num_examples,) or (num_examples, 1); `fine_to_coarse[f]` is the coarse class of fine class `f`.
"""

import math

import numpy as np

from lg_keras.errors import HierarchyError

ORIENTATIONS = ("code", "paper_equation")


def as_labels(labels, name: str) -> np.ndarray:
    """One value per example as a 1-D array: shape (n,) or (n, 1) -> (n,).

    Args:
        labels: per-example values (class ids, or correctness flags for `lg_keras.statistics`).
        name: the argument's name, for the error message.

    Returns:
        The values as an array of shape (n,).

    Raises:
        ValueError: for any other shape.
    """
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(f"{name} must have shape (n,) or (n, 1); got shape {np.shape(labels)}.")
    return array


def _as_logits(logits, name: str) -> np.ndarray:
    array = np.asarray(logits)
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n, num_classes) with n >= 1; "
                         f"got shape {array.shape}.")
    return array


def _check_same_length(a: np.ndarray, a_name: str, b: np.ndarray, b_name: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{a_name} and {b_name} must have the same length; got {len(a)} and {len(b)}.")


def as_fine_to_coarse(fine_to_coarse) -> np.ndarray:
    """Checks a fine-to-coarse map and returns it as an int64 array.

    Args:
        fine_to_coarse: sequence of non-negative integers, one per fine class.

    Returns:
        int64 array of shape (num_fine_classes,).

    Raises:
        HierarchyError: if it is not a non-empty 1-D sequence of non-negative integers.
    """
    array = np.asarray(fine_to_coarse)
    if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer) or (
            array.min() < 0):
        raise HierarchyError("fine_to_coarse must be a non-empty 1-D sequence of non-negative "
                             f"integers; got {fine_to_coarse!r}.")
    return array.astype(np.int64)


def coarse_pair_masks(fine_to_coarse) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the fine-class pairs i < j in the same and in different coarse classes.

    Args:
        fine_to_coarse: the coarse class of each fine class, shape (num_fine_classes,).

    Returns:
        (same, different): boolean arrays of shape (num_fine_classes, num_fine_classes), True only
        above the diagonal.

    Raises:
        HierarchyError: if fine_to_coarse is malformed, if no coarse class holds two fine classes
            (no same-coarse pair) or if all fine classes share one coarse class (no different pair).
    """
    mapping = as_fine_to_coarse(fine_to_coarse)
    upper = np.triu(np.ones((len(mapping), len(mapping)), dtype=bool), k=1)
    equal = mapping[:, None] == mapping[None, :]
    same, different = upper & equal, upper & ~equal
    if not same.any():
        raise HierarchyError("fine_to_coarse must put at least two fine classes in one coarse class "
                             f"for ACR (no same-coarse pair); got {fine_to_coarse!r}.")
    if not different.any():
        raise HierarchyError("fine_to_coarse must have at least two coarse classes for ACR (no "
                             f"different-coarse pair); got {fine_to_coarse!r}.")
    return same, different


def predicted_classes(logits) -> np.ndarray:
    """The argmax class over the last axis (ties go to the lowest index, as np.argmax does).

    Args:
        logits: array of shape (..., num_classes); logits or probabilities.

    Returns:
        int64 array of shape (...).
    """
    return np.argmax(np.asarray(logits), axis=-1).astype(np.int64)


def accuracy(logits, labels) -> float:
    """Top-1 accuracy: the fraction of examples whose argmax class equals the label.

    Args:
        logits: shape (n, num_classes).
        labels: integer labels, shape (n,) or (n, 1).

    Returns:
        The accuracy in [0, 1].

    Raises:
        ValueError: on bad shapes or n == 0.
    """
    logits, labels = _as_logits(logits, "logits"), as_labels(labels, "labels")
    _check_same_length(logits, "logits", labels, "labels")
    return float(np.mean(predicted_classes(logits) == labels))


def _fine_logits_and_coarse_labels(fine_logits, coarse_labels, fine_to_coarse):
    """The checked arrays of a coarse-accuracy call: (fine_logits, coarse_labels, mapping)."""
    fine_logits = _as_logits(fine_logits, "fine_logits")
    coarse_labels = as_labels(coarse_labels, "coarse_labels")
    mapping = as_fine_to_coarse(fine_to_coarse)
    _check_same_length(fine_logits, "fine_logits", coarse_labels, "coarse_labels")
    _check_same_length(fine_logits.T, "fine_logits columns", mapping, "fine_to_coarse")
    return fine_logits, coarse_labels, mapping


def coarse_accuracy(fine_logits, coarse_labels, fine_to_coarse) -> float:
    """Coarse accuracy of a fine-label model, the paper's A_FC rule.

    The predicted (argmax) fine class is mapped to its coarse class and compared with the coarse
    label. See `coarse_accuracy_from_prob_sum` for the different rule that sums probabilities.

    Args:
        fine_logits: shape (n, num_fine_classes); logits or probabilities.
        coarse_labels: integer coarse labels, shape (n,) or (n, 1).
        fine_to_coarse: the coarse class of each fine class, shape (num_fine_classes,).

    Returns:
        The coarse accuracy in [0, 1].

    Raises:
        ValueError: on bad shapes, n == 0 or a fine_to_coarse of the wrong length.
    """
    fine_logits, coarse_labels, mapping = _fine_logits_and_coarse_labels(
        fine_logits, coarse_labels, fine_to_coarse)
    return float(np.mean(mapping[predicted_classes(fine_logits)] == coarse_labels))


def coarse_accuracy_from_prob_sum(fine_logits, coarse_labels, fine_to_coarse) -> float:
    """Coarse accuracy when the coarse prediction is the group with the largest summed probability.

    Softmax over the fine logits, sum the probabilities of the fine classes of each coarse class,
    take the argmax. This is NOT the paper's rule (`coarse_accuracy`): with probabilities
    (0.3, 0.3, 0.4) and fine_to_coarse (0, 0, 1) the argmax fine class says coarse 1, the sums
    (0.6, 0.4) say coarse 0.

    Args:
        fine_logits: shape (n, num_fine_classes); pre-softmax logits (pass np.log(p) for
            probabilities p).
        coarse_labels: integer coarse labels, shape (n,) or (n, 1).
        fine_to_coarse: the coarse class of each fine class, shape (num_fine_classes,).

    Returns:
        The coarse accuracy in [0, 1].

    Raises:
        ValueError: on bad shapes, n == 0 or a fine_to_coarse of the wrong length.
    """
    fine_logits, coarse_labels, mapping = _fine_logits_and_coarse_labels(
        fine_logits, coarse_labels, fine_to_coarse)
    fine_logits = fine_logits.astype(np.float64)
    shifted = np.exp(fine_logits - fine_logits.max(axis=1, keepdims=True))
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    coarse_probs = probs @ np.eye(mapping.max() + 1)[mapping]
    return float(np.mean(predicted_classes(coarse_probs) == coarse_labels))


def confusion_matrix(labels, predictions, num_classes) -> np.ndarray:
    """Counts of (true, predicted) class pairs.

    Args:
        labels: integer true classes, shape (n,) or (n, 1).
        predictions: integer predicted classes, shape (n,) or (n, 1).
        num_classes: the number of classes.

    Returns:
        int64 array of shape (num_classes, num_classes); rows are true classes, columns predicted.

    Raises:
        ValueError: on bad shapes or a class outside [0, num_classes).
    """
    labels, predictions = as_labels(labels, "labels"), as_labels(predictions, "predictions")
    _check_same_length(labels, "labels", predictions, "predictions")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (not np.issubdtype(values.dtype, np.integer) or values.min() < 0
                            or values.max() >= num_classes):
            raise ValueError(f"{name} must be integers in [0, num_classes={num_classes}); got dtype "
                             f"{values.dtype}, range [{values.min()}, {values.max()}].")
    flat = labels.astype(np.int64) * num_classes + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def balanced_accuracy(confusion) -> float:
    """Mean over true classes of the share of the class predicted right (recall).

    The accuracy a classifier would have on a test split with equally many images per class: the
    figure to read beside plain accuracy when the classes are imbalanced. Classes with no test
    image (an all-zero row) are left out of the mean.

    Args:
        confusion: (num_classes, num_classes) counts, rows true classes (`confusion_matrix`).

    Returns:
        The balanced accuracy in [0, 1]; nan when no row has a count.

    Raises:
        ValueError: if `confusion` is not a square 2-D array.
    """
    confusion = np.asarray(confusion, np.float64)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be a square matrix; got shape {confusion.shape}.")
    totals = confusion.sum(axis=1)
    present = totals > 0
    if not present.any():
        return math.nan
    return float(np.mean(np.diag(confusion)[present] / totals[present]))


def average_confusion_ratio(confusion, fine_to_coarse, *, orientation="code") -> float:
    """Average Confusion Ratio (ACR) of a fine confusion matrix (paper Section V).

    As in the authors' code: normalise each column of the confusion matrix C by its sum (a column
    with no predictions contributes zero confusion: its normalised column is all zeros), symmetrise
    S = (C + C^T) / 2, and over the pairs i < j take

        ACR = mean(S_ij, pairs in different coarse classes) / mean(S_ij, pairs in the same one).

    The paper's prose agrees ("average inter-class confusion divided by average intra-class
    confusion"; "lower ACR means lower relative confusion across coarse-grain classes"), but its
    equation (1) as printed puts the same-coarse set A in the numerator and the different-coarse set
    B in the denominator, the reciprocal. orientation='paper_equation' computes equation (1) as
    printed: mean(same) / mean(different).

    If the denominator mean is 0, the result is math.inf when the numerator is positive and nan when
    both are 0 (no division warning); callers check with math.isfinite. A coarse class with a single
    fine class adds no same-coarse pair.

    Args:
        confusion: non-negative counts, shape (num_fine, num_fine); rows true, columns predicted.
        fine_to_coarse: the coarse class of each fine class, shape (num_fine,).
        orientation: 'code' (the authors' code and the prose) or 'paper_equation'.

    Returns:
        The ACR, a float (possibly inf or nan as above).

    Raises:
        ValueError: if confusion is not square, not finite and non-negative, or fine_to_coarse has
            the wrong length, or orientation is unknown.
        HierarchyError: if fine_to_coarse has no same-coarse pair (every coarse class has one fine
            class) or no different-coarse pair (one coarse class).
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"Unknown orientation {orientation!r}. Available: {', '.join(ORIENTATIONS)}.")
    inter, intra = _confusion_means(confusion, fine_to_coarse)
    return _ratio(*((inter, intra) if orientation == "code" else (intra, inter)))


def _confusion_means(confusion, fine_to_coarse) -> tuple[float, float]:
    """(mean inter-coarse, mean intra-coarse) entry of the column-normalised symmetrised matrix."""
    matrix = np.asarray(confusion, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"confusion must be a square matrix; got shape {matrix.shape}.")
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
        raise ValueError("confusion must hold finite non-negative counts; got min "
                         f"{np.nanmin(matrix) if matrix.size else None}.")
    same, different = coarse_pair_masks(fine_to_coarse)
    if len(same) != len(matrix):
        raise ValueError(f"fine_to_coarse must have one entry per row of confusion "
                         f"({len(matrix)}); got length {len(same)}.")
    column_sums = matrix.sum(axis=0)
    normalised = matrix / np.where(column_sums > 0, column_sums, 1.0)
    symmetric = (normalised + normalised.T) / 2
    return float(symmetric[different].mean()), float(symmetric[same].mean())


def _ratio(numerator: float, denominator: float) -> float:
    if denominator == 0:
        return math.inf if numerator > 0 else math.nan
    return float(numerator / denominator)


def pooled_average_confusion_ratio(confusions, fine_to_coarse) -> float:
    """ACR pooled over several passes as the authors' ImageNet script did: a ratio of sums.

    For each pass's confusion matrix, `average_confusion_ratio`'s inter- and intra-coarse means
    (column-normalised, symmetrised matrix; authors' orientation); then

        sum(inter over passes) / sum(intra over passes).

    main_f2c_imagenet.py scored 5 passes of the test split through the random training transform
    and logged sum(inter_confusion_list) / sum(intra_confusion_list). This is neither the mean of
    the per-pass ACRs nor the ACR of the summed confusion matrix (whose column sums differ). One
    pass gives `average_confusion_ratio`. Undefined values follow it: inf, or nan for 0 / 0.

    Args:
        confusions: non-empty sequence of (num_fine, num_fine) count matrices, rows true.
        fine_to_coarse: the coarse class of each fine class, shape (num_fine,).

    Returns:
        The pooled ACR, a float (possibly inf or nan).

    Raises:
        ValueError: if `confusions` is empty, or a matrix is rejected by `average_confusion_ratio`.
        HierarchyError: as `average_confusion_ratio`.
    """
    if len(confusions) == 0:
        raise ValueError("confusions must hold at least one confusion matrix; got none.")
    means = [_confusion_means(confusion, fine_to_coarse) for confusion in confusions]
    return _ratio(sum(inter for inter, _ in means), sum(intra for _, intra in means))
