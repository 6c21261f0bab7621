"""Tests for lg_keras.metrics: each function against a deliberately naive loop and hand-worked cases.

The inference statistics (McNemar, t intervals) live in lg_keras.statistics, tested in
tests/lg_keras/test_statistics.py.
"""

import math
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from lg_keras import metrics
from lg_keras.errors import HierarchyError


# ---------------------------------------------------------------- naive references


def naive_predicted_classes(logits):
    out = []
    for row in logits:
        best = 0
        for j in range(len(row)):
            if row[j] > row[best]:
                best = j
        out.append(best)
    return np.array(out)


def naive_accuracy(logits, labels):
    predicted = naive_predicted_classes(logits)
    return sum(int(predicted[i] == labels[i]) for i in range(len(labels))) / len(labels)


def naive_coarse_accuracy(fine_logits, coarse_labels, fine_to_coarse):
    predicted = naive_predicted_classes(fine_logits)
    hits = sum(int(fine_to_coarse[predicted[i]] == coarse_labels[i]) for i in range(len(predicted)))
    return hits / len(predicted)


def naive_prob_sum_accuracy(fine_logits, coarse_labels, fine_to_coarse):
    hits = 0
    for row, label in zip(fine_logits, coarse_labels):
        exps = [math.exp(v - max(row)) for v in row]
        sums = [0.0] * (max(fine_to_coarse) + 1)
        for fine, value in enumerate(exps):
            sums[fine_to_coarse[fine]] += value / sum(exps)
        hits += int(sums.index(max(sums)) == label)
    return hits / len(coarse_labels)


def naive_confusion_matrix(labels, predictions, num_classes):
    matrix = [[0] * num_classes for _ in range(num_classes)]
    for true, predicted in zip(labels, predictions):
        matrix[true][predicted] += 1
    return np.array(matrix)


def naive_acr(confusion, fine_to_coarse, paper_equation=False):
    n = len(confusion)
    column_sums = [sum(confusion[i][j] for i in range(n)) for j in range(n)]

    def normalised(i, j):
        return confusion[i][j] / column_sums[j] if column_sums[j] else 0.0

    same, different = [], []
    for i in range(n):
        for j in range(i + 1, n):
            value = (normalised(i, j) + normalised(j, i)) / 2
            (same if fine_to_coarse[i] == fine_to_coarse[j] else different).append(value)
    numerator, denominator = sum(different) / len(different), sum(same) / len(same)
    if paper_equation:
        numerator, denominator = denominator, numerator
    return numerator / denominator


# ---------------------------------------------------------------- accuracies


def test_predicted_classes_matches_naive():
    tiny = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(metrics.predicted_classes(tiny), [1, 0, 2])
    logits = np.random.default_rng(0).normal(size=(50, 7))
    np.testing.assert_array_equal(metrics.predicted_classes(logits), naive_predicted_classes(logits))


def test_accuracy_matches_naive():
    tiny = np.array([[0.1, 2.0], [3.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert metrics.accuracy(tiny, [1, 0, 0, 0]) == 0.75
    assert metrics.accuracy(tiny, np.array([[1], [0], [0], [0]])) == 0.75  # (n, 1) labels
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(200, 5)), rng.integers(0, 5, size=200)
    np.testing.assert_allclose(metrics.accuracy(logits, labels), naive_accuracy(logits, labels))


def test_coarse_accuracy_matches_naive():
    fine_to_coarse = [0, 0, 1, 1, 1]
    # Predicted fine 1 -> coarse 0 (right), fine 4 -> coarse 1 (wrong), fine 2 -> coarse 1 (right).
    tiny = np.array([[0, 5, 0, 0, 0], [0, 0, 0, 0, 5], [0, 0, 5, 0, 0]], dtype=float)
    np.testing.assert_allclose(metrics.coarse_accuracy(tiny, [0, 0, 1], fine_to_coarse), 2 / 3)
    rng = np.random.default_rng(2)
    logits, coarse = rng.normal(size=(300, 5)), rng.integers(0, 2, size=300)
    np.testing.assert_allclose(metrics.coarse_accuracy(logits, coarse, fine_to_coarse),
                               naive_coarse_accuracy(logits, coarse, fine_to_coarse))


def test_prob_sum_matches_naive():
    rng = np.random.default_rng(3)
    fine_to_coarse = [0, 2, 1, 0, 2, 2]
    logits, coarse = rng.normal(size=(300, 6)) * 3, rng.integers(0, 3, size=300)
    np.testing.assert_allclose(
        metrics.coarse_accuracy_from_prob_sum(logits, coarse, fine_to_coarse),
        naive_prob_sum_accuracy(logits, coarse, fine_to_coarse))


def test_prob_sum_and_argmax_rules_disagree():
    # Probabilities (0.3, 0.3, 0.4), fine 0 and 1 in coarse 0: the argmax fine class (2) says
    # coarse 1, the summed probabilities (0.6 vs 0.4) say coarse 0.
    fine_logits = np.log([[0.3, 0.3, 0.4]])
    assert metrics.coarse_accuracy(fine_logits, [0], [0, 0, 1]) == 0.0
    assert metrics.coarse_accuracy_from_prob_sum(fine_logits, [0], [0, 0, 1]) == 1.0


def test_accuracy_input_errors():
    with pytest.raises(ValueError, match="same length"):
        metrics.accuracy(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="logits must have shape"):
        metrics.accuracy(np.zeros(3), [0, 1, 0])
    with pytest.raises(ValueError, match="fine_to_coarse"):
        metrics.coarse_accuracy(np.zeros((2, 3)), [0, 1], [0, 1])
    with pytest.raises(HierarchyError, match="fine_to_coarse"):
        metrics.coarse_accuracy(np.zeros((2, 3)), [0, 1], [0, -1, 1])


# ---------------------------------------------------------------- confusion matrix


def test_confusion_matrix_matches_naive():
    tiny = metrics.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(tiny, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert tiny.dtype == np.int64
    rng = np.random.default_rng(4)
    labels, predictions = rng.integers(0, 6, size=500), rng.integers(0, 6, size=500)
    np.testing.assert_array_equal(metrics.confusion_matrix(labels, predictions, 6),
                                  naive_confusion_matrix(labels, predictions, 6))


def test_confusion_matrix_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"predictions must be integers in \[0, num_classes=3\)"):
        metrics.confusion_matrix([0, 1], [0, 3], 3)


def naive_balanced_accuracy(labels, predictions):
    """Per true class present: the share predicted right; then their plain mean."""
    recalls = []
    for c in sorted(set(int(x) for x in labels)):
        members = [p for t, p in zip(labels, predictions) if t == c]
        recalls.append(sum(p == c for p in members) / len(members))
    return sum(recalls) / len(recalls)


def test_balanced_accuracy_matches_naive():
    # 3 of class 0 (2 right), 1 of class 1 (right): plain 3/4, balanced (2/3 + 1) / 2 = 5/6.
    tiny = metrics.confusion_matrix([0, 0, 0, 1], [0, 0, 1, 1], 2)
    assert metrics.balanced_accuracy(tiny) == pytest.approx(5 / 6)
    rng = np.random.default_rng(5)
    labels = rng.choice(5, size=400, p=[0.5, 0.2, 0.2, 0.1, 0.0])  # class 4 absent: left out
    predictions = np.where(rng.random(400) < 0.7, labels, rng.integers(0, 5, 400))
    confusion = metrics.confusion_matrix(labels, predictions, 5)
    assert metrics.balanced_accuracy(confusion) == pytest.approx(
        naive_balanced_accuracy(labels, predictions))
    assert math.isnan(metrics.balanced_accuracy(np.zeros((2, 2))))
    with pytest.raises(ValueError, match="square"):
        metrics.balanced_accuracy(np.zeros((2, 3)))


# ---------------------------------------------------------------- ACR

# Hand-worked: 4 fine classes, fine 0, 1 -> coarse 0 and fine 2, 3 -> coarse 1.
HAND_CONFUSION = np.array([[5, 3, 0, 1],
                           [1, 4, 0, 0],
                           [0, 1, 6, 2],
                           [0, 2, 4, 3]])
# Column sums 6, 10, 10, 6, so the column-normalised matrix N is
#   [[5/6, .3,  0, 1/6],
#    [1/6, .4,  0,   0],
#    [0,   .1, .6, 1/3],
#    [0,   .2, .4,  .5]]
# and S_ij = (N_ij + N_ji) / 2 over i < j:
#   same coarse:      (0,1) = (.3 + 1/6)/2 = 7/30, (2,3) = (1/3 + .4)/2 = 11/30 -> mean 0.3
#   different coarse: (0,2) = 0, (0,3) = 1/12, (1,2) = 1/20, (1,3) = 1/10   -> mean 7/120
# ACR (code) = (7/120) / 0.3 = 7/36; equation (1) as printed = 36/7.
HAND_FINE_TO_COARSE = [0, 0, 1, 1]


def test_acr_hand_worked_both_orientations():
    code = metrics.average_confusion_ratio(HAND_CONFUSION, HAND_FINE_TO_COARSE)
    paper = metrics.average_confusion_ratio(HAND_CONFUSION, HAND_FINE_TO_COARSE,
                                            orientation="paper_equation")
    np.testing.assert_allclose(code, 7 / 36)
    np.testing.assert_allclose(paper, 36 / 7)
    np.testing.assert_allclose(paper, 1 / code)
    np.testing.assert_allclose(code, naive_acr(HAND_CONFUSION, HAND_FINE_TO_COARSE))


def test_acr_never_predicted_class_contributes_zero():
    # Class 3 is never predicted (column 3 sums to 0). Column sums 3, 6, 6, 0 give
    #   N = [[2/3, 1/3, 0, 0], [0, 2/3, 0, 0], [0, 0, .5, 0], [1/3, 0, .5, 0]]
    # same: (0,1) = 1/6, (2,3) = 1/4 -> mean 5/24; different: (0,3) = 1/6, others 0 -> mean 1/24.
    confusion = np.array([[2, 2, 0, 0], [0, 4, 0, 0], [0, 0, 3, 0], [1, 0, 3, 0]])
    with np.errstate(all="raise"):
        acr = metrics.average_confusion_ratio(confusion, HAND_FINE_TO_COARSE)
    np.testing.assert_allclose(acr, 0.2)


def test_acr_zero_denominator_gives_inf_or_nan():
    # No confusion within a coarse class, some across: code orientation inf, equation (1) 0.
    across_only = np.diag([3, 3, 2, 2])
    across_only[0, 2] = 1
    with np.errstate(all="raise"):
        assert metrics.average_confusion_ratio(across_only, HAND_FINE_TO_COARSE) == math.inf
        assert metrics.average_confusion_ratio(across_only, HAND_FINE_TO_COARSE,
                                               orientation="paper_equation") == 0.0
        # No confusion at all: 0 / 0 is nan in both orientations.
        for orientation in metrics.ORIENTATIONS:
            assert math.isnan(metrics.average_confusion_ratio(np.diag([1, 2, 3, 4]),
                                                              HAND_FINE_TO_COARSE,
                                                              orientation=orientation))


def test_acr_matches_naive_on_random_matrices():
    rng = np.random.default_rng(5)
    for trial in range(20):
        num_fine = int(rng.integers(3, 12))
        fine_to_coarse = np.concatenate([[0, 0, 1], rng.integers(0, 4, size=num_fine - 3)])
        confusion = rng.integers(0, 20, size=(num_fine, num_fine))
        confusion[:, rng.integers(0, num_fine)] = 0  # a never-predicted class
        for paper_equation in (False, True):
            orientation = "paper_equation" if paper_equation else "code"
            np.testing.assert_allclose(
                metrics.average_confusion_ratio(confusion, fine_to_coarse, orientation=orientation),
                naive_acr(confusion, fine_to_coarse, paper_equation), rtol=1e-12,
                err_msg=f"trial {trial}")


def test_acr_singleton_coarse_classes():
    # Coarse 1 has a single fine class: only the pair (0, 1) is same-coarse.
    confusion = np.array([[4, 2, 1], [2, 4, 0], [1, 1, 5]])
    np.testing.assert_allclose(metrics.average_confusion_ratio(confusion, [0, 0, 1]),
                               naive_acr(confusion, [0, 0, 1]))
    with pytest.raises(HierarchyError, match=r"no same-coarse pair\); got \[0, 1, 2\]"):
        metrics.average_confusion_ratio(confusion, [0, 1, 2])
    with pytest.raises(HierarchyError, match="no different-coarse pair"):
        metrics.average_confusion_ratio(confusion, [0, 0, 0])


def test_acr_input_errors():
    with pytest.raises(ValueError, match="confusion must be a square matrix"):
        metrics.average_confusion_ratio(np.zeros((3, 4)), [0, 0, 1])
    with pytest.raises(ValueError, match=r"fine_to_coarse must have one entry per row.*\(3\)"):
        metrics.average_confusion_ratio(np.eye(3), [0, 0, 1, 1])
    with pytest.raises(ValueError, match="non-negative"):
        metrics.average_confusion_ratio(-np.eye(3), [0, 0, 1])
    with pytest.raises(ValueError, match="Unknown orientation 'paper'"):
        metrics.average_confusion_ratio(np.eye(3), [0, 0, 1], orientation="paper")


def test_module_imports_numpy_only():
    # STYLE.md section 5: the numpy metrics must not pull in TensorFlow or Keras.
    code = ("import sys, lg_keras.metrics; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True, cwd=pathlib.Path(__file__).resolve().parents[2])
    assert completed.stdout.strip() == "[]"


# ---------------------------------------------------------------- pooled ACR (authors' ImageNet)


def naive_pooled_acr(confusions, fine_to_coarse):
    inter_sum = intra_sum = 0.0
    for confusion in confusions:
        n = len(confusion)
        column_sums = [sum(confusion[i][j] for i in range(n)) for j in range(n)]
        inter, intra = [], []
        for i in range(n):
            for j in range(i + 1, n):
                a = confusion[i][j] / column_sums[j] if column_sums[j] else 0.0
                b = confusion[j][i] / column_sums[i] if column_sums[i] else 0.0
                (intra if fine_to_coarse[i] == fine_to_coarse[j] else inter).append((a + b) / 2)
        inter_sum += sum(inter) / len(inter)
        intra_sum += sum(intra) / len(intra)
    return inter_sum / intra_sum


def test_pooled_acr_matches_naive_and_is_not_the_acr_of_the_summed_matrix():
    f2c = [0, 0, 1, 1]
    first = np.array([[6, 2, 1, 0], [1, 7, 0, 1], [0, 1, 5, 3], [1, 0, 2, 6]])
    second = np.array([[9, 0, 0, 0], [4, 3, 1, 1], [0, 0, 8, 1], [3, 0, 0, 5]])
    pooled = metrics.pooled_average_confusion_ratio([first, second], f2c)
    np.testing.assert_allclose(pooled, naive_pooled_acr([first, second], f2c))
    summed = metrics.average_confusion_ratio(first + second, f2c)
    mean_of_ratios = np.mean([metrics.average_confusion_ratio(c, f2c) for c in (first, second)])
    assert abs(pooled - summed) > 0.01 and abs(pooled - mean_of_ratios) > 0.01
    # One pass is the plain ACR.
    np.testing.assert_allclose(metrics.pooled_average_confusion_ratio([first], f2c),
                               metrics.average_confusion_ratio(first, f2c))


def test_pooled_acr_matches_naive_on_random_passes():
    rng = np.random.default_rng(3)
    for trial in range(5):
        f2c = rng.permutation([0, 0, 0, 1, 1, 2, 2])
        passes = [rng.integers(0, 6, size=(7, 7)) for _ in range(int(rng.integers(1, 6)))]
        passes[0][:, trial % 7] = 0  # a class never predicted: its column counts zero confusion
        np.testing.assert_allclose(metrics.pooled_average_confusion_ratio(passes, f2c),
                                   naive_pooled_acr(passes, f2c))


def test_pooled_acr_edge_cases():
    assert math.isinf(metrics.pooled_average_confusion_ratio([np.eye(4) + np.eye(4)[::-1]] * 2,
                                                              [0, 0, 1, 1]))
    assert math.isnan(metrics.pooled_average_confusion_ratio([np.eye(4)] * 3, [0, 0, 1, 1]))
    with pytest.raises(ValueError, match="at least one confusion matrix"):
        metrics.pooled_average_confusion_ratio([], [0, 0, 1, 1])
