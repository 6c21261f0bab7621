"""The label variants of the paper's experiments: noisy fine labels and data fractions.

Within-coarse fine-label noise (Table VII) swaps fine labels between examples of the same coarse
class; class-balanced, nested data fractions (Fig. 2) keep the lowest seeded-hash ranks of each
fine class. Both are pure numpy and depend only on seeds and example ids, never on input order,
so a Beam job and a plain loop give the same labels.
"""

import hashlib
import math
from typing import Sequence

import numpy as np

from lg_keras.errors import HierarchyError
from lg_keras.labels import int_labels, is_int


def _check_rate(rate: float) -> None:
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating)) or not 0 <= rate <= 1:
        raise HierarchyError(f"rate must be a probability in [0, 1]; got {rate!r}.")


def noise_group_rng(seed: int, coarse_label: int, rate: float) -> np.random.Generator:
    """Returns the random generator for one coarse class's fine-label noise.

    Shared by `inject_fine_label_noise` and per-group callers (a Beam job), so both draw the same
    numbers. It depends only on the seed, the coarse class and the rate (to 1e-6).

    Args:
        seed: non-negative experiment seed.
        coarse_label: non-negative coarse class index.
        rate: noise rate in [0, 1].

    Returns:
        `np.random.default_rng([seed, coarse_label, round(rate * 1_000_000)])`.
    """
    return np.random.default_rng([int(seed), int(coarse_label), round(rate * 1_000_000)])


def swap_within_group(fine_labels: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Swaps fine labels within one coarse class (paper Table VII's randomness factor).

    Each example in turn, with probability `rate`, swaps its fine label with that of a uniformly
    random example of the group (possibly itself). Fine-class counts are preserved.

    Args:
        fine_labels: 1-D array of the group's fine labels, examples sorted by id.
        rate: swap probability in [0, 1].
        rng: from `noise_group_rng`.

    Returns:
        A new array with the swapped labels; `fine_labels` is not modified.

    Raises:
        HierarchyError: if `rate` is outside [0, 1].
    """
    _check_rate(rate)
    labels = np.array(fine_labels, copy=True)
    if rate == 0:
        return labels
    n = len(labels)
    for i in range(n):
        if rng.random() < rate:
            j = rng.integers(n)
            labels[i], labels[j] = labels[j], labels[i]
    return labels


def inject_fine_label_noise(ids: Sequence[str], fine_labels: np.ndarray, coarse_labels: np.ndarray,
                            rate: float, seed: int) -> np.ndarray:
    """Adds within-coarse fine-label noise (paper Table VII), independent of input order.

    For each coarse class c, its examples sorted by id get `swap_within_group` with
    `noise_group_rng(seed, c, rate)`. Coarse labels never change.

    Args:
        ids: unique example ids, one per example.
        fine_labels: int array [n] of fine labels.
        coarse_labels: non-negative int array [n] of coarse labels (the groups).
        rate: swap probability in [0, 1]; 0 returns a copy.
        seed: non-negative seed.

    Returns:
        Noisy fine labels, int array [n] in the input order.

    Raises:
        HierarchyError: if `rate` is outside [0, 1], ids repeat, or the lengths differ.
    """
    _check_rate(rate)
    fine_labels = np.asarray(fine_labels)
    coarse_labels = int_labels(coarse_labels, "coarse_labels", np.iinfo(np.int64).max)
    ids = _check_ids(ids, len(fine_labels))
    if len(coarse_labels) != len(fine_labels):
        raise HierarchyError(
            f"coarse_labels must match fine_labels in length; got {len(coarse_labels)} and "
            f"{len(fine_labels)}.")
    noisy = fine_labels.copy()
    if rate == 0:
        return noisy
    order = np.argsort(ids, kind="stable")
    for c in np.unique(coarse_labels):
        members = order[coarse_labels[order] == c]
        noisy[members] = swap_within_group(fine_labels[members], rate, noise_group_rng(seed, c, rate))
    return noisy


def launched_order(ids: Sequence[str], seed: int, rate: float) -> np.ndarray:
    """The fixed, class-mixed order the launched noise loop runs in (see `inject_launched_noise`).

    A seeded permutation of the examples sorted by id, so it depends on the seed, the rate and the
    ids only: any input order, and any source of the same images, gives the same order.

    Returns:
        int array [n]: order[p] is the input index of the example at position p.
    """
    by_id = np.argsort(np.asarray(list(ids), dtype=str), kind="stable")
    rng = np.random.default_rng([int(seed), round(rate * 1_000_000), _LAUNCHED_STREAM])
    return by_id[rng.permutation(len(by_id))]


# Distinguishes the launched loop's random stream from the within-coarse groups' (coarse >= 0).
_LAUNCHED_STREAM = 2 ** 31 - 1


def inject_launched_noise(ids: Sequence[str], fine_labels: np.ndarray, fine_to_coarse: np.ndarray,
                          rate: float, seed: int) -> np.ndarray:
    """Fine-label noise as the authors' loop stood when the Table VII runs were launched.

    The authors' data code of 2018-06-02 (enyac-group/Label-Granularity f6a81c2, fixed the next
    morning in 4a0d53b) ran over the training examples in their file order and, for example i with
    probability `rate`, drew `swap = random.randint(0, len(pool) - 1)` where `pool` is the list of
    examples of the coarse class of i's current fine label, then swapped the fine labels of i and
    of the example at POSITION `swap` of the whole training set, not of the pool. So a swap
    crosses coarse classes whenever that position holds another coarse class: about half the time
    on CIFAR-10's class-mixed order. Here the file order is `launched_order` (seeded, class-mixed).

    Args:
        ids: unique example ids.
        fine_labels: int array [n] of fine labels.
        fine_to_coarse: int array [num_fine]: the coarse class of each fine class (the pools).
        rate: swap probability in [0, 1]; 0 returns a copy.
        seed: non-negative seed.

    Returns:
        Noisy fine labels, int array [n] in the input order. Fine-class counts are preserved;
        some examples' fine label now maps to another coarse class (`coarse_changed_share`).

    Raises:
        HierarchyError: if `rate` is outside [0, 1], ids repeat, or the lengths differ.
    """
    _check_rate(rate)
    labels = np.array(fine_labels, copy=True)
    ids = _check_ids(ids, len(labels))
    fine_to_coarse = np.asarray(fine_to_coarse)
    if rate == 0 or len(labels) == 0:
        return labels
    pool_sizes = np.bincount(fine_to_coarse[labels], minlength=int(fine_to_coarse.max()) + 1)
    order = launched_order(ids, seed, rate)
    rng = np.random.default_rng([int(seed), round(rate * 1_000_000), _LAUNCHED_STREAM, 1])
    draws = rng.random(len(order))
    for position, i in enumerate(order):
        if draws[position] < rate:
            j = order[rng.integers(pool_sizes[fine_to_coarse[labels[i]]])]
            labels[i], labels[j] = labels[j], labels[i]
    return labels


def coarse_changed_share(fine_labels: np.ndarray, noisy_labels: np.ndarray,
                         fine_to_coarse: np.ndarray) -> float:
    """The share of examples whose noisy fine label maps to another coarse class than the true one."""
    fine_to_coarse = np.asarray(fine_to_coarse)
    if len(fine_labels) == 0:
        return 0.0
    return float(np.mean(fine_to_coarse[np.asarray(fine_labels)]
                         != fine_to_coarse[np.asarray(noisy_labels)]))


def _check_ids(ids: Sequence[str], n: int) -> np.ndarray:
    ids = np.asarray(list(ids), dtype=str)
    if len(ids) != n:
        raise HierarchyError(f"ids must have one entry per label; got {len(ids)} ids for {n} labels.")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise HierarchyError(f"ids must be unique; {unique[counts > 1][:5].tolist()} repeat.")
    return ids


def class_balanced_ranks(ids: Sequence[str], fine_labels: np.ndarray, seed: int, *,
                         salt: str = "") -> np.ndarray:
    """Ranks each example within its fine class under a seeded, order-independent permutation.

    The permutation sorts by sha256(f"{salt}{seed}:{id}"), so it depends only on the salt, the
    seed and the ids. With `fraction_threshold`, this gives class-balanced, nested data fractions
    (paper Fig. 2).

    Args:
        ids: unique example ids.
        fine_labels: int array [n] of fine labels.
        seed: the seed.
        salt: separates permutations drawn for different purposes from one seed ('' for the
            fractions, `HELD_OUT_SALT` for a held-out test split).

    Returns:
        int64 array [n]: each example's rank (0-based) within its fine class, in the input order.

    Raises:
        HierarchyError: if ids repeat or their count differs from the labels'.
    """
    fine_labels = np.asarray(fine_labels)
    ids = _check_ids(ids, len(fine_labels))
    n = len(ids)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    keys = np.asarray([hashlib.sha256(f"{salt}{seed}:{i}".encode()).hexdigest()
                       for i in ids.tolist()])
    order = np.lexsort((ids, keys, fine_labels))  # by fine label, then hash (ids break ties)
    sorted_labels = fine_labels[order]
    is_start = np.r_[True, sorted_labels[1:] != sorted_labels[:-1]]
    group_start = np.maximum.accumulate(np.where(is_start, np.arange(n), 0))
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n) - group_start
    return ranks


def fraction_threshold(class_count: int, fraction: float) -> int:
    """Returns how many examples of a class a data fraction keeps (paper Fig. 2).

    Args:
        class_count: number of examples of the class (>= 0).
        fraction: fraction in (0, 1].

    Returns:
        floor(fraction * class_count + 0.5), clipped to [1, class_count] (0 for an empty class).

    Raises:
        HierarchyError: if `fraction` is outside (0, 1] or `class_count` is negative.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) \
            or not 0 < fraction <= 1:
        raise HierarchyError(f"fraction must lie in (0, 1]; got {fraction!r}.")
    if not is_int(class_count) or class_count < 0:
        raise HierarchyError(f"class_count must be a non-negative integer; got {class_count!r}.")
    return min(max(int(math.floor(fraction * class_count + 0.5)), 1), class_count)


# The held-out split's permutation is not the fractions' one: a test split drawn with the
# fractions' ranks would take exactly the examples every fraction keeps first.
HELD_OUT_SALT = "held_out:"


def held_out_count(class_count: int, fraction: float) -> int:
    """How many images of a class a held-out test split takes: round(fraction * class_count).

    Rounds half up (floor(f * n + 0.5)), with no clipping: a class too small for the fraction
    gets 0 (or all) of its images, and the caller names it.

    Raises:
        HierarchyError: if `fraction` is outside (0, 1) or `class_count` is negative.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) \
            or not 0 < fraction < 1:
        raise HierarchyError(f"test fraction must lie in (0, 1); got {fraction!r}.")
    if not is_int(class_count) or class_count < 0:
        raise HierarchyError(f"class_count must be a non-negative integer; got {class_count!r}.")
    return int(math.floor(fraction * class_count + 0.5))


def held_out_mask(ids: Sequence[str], labels: np.ndarray, fraction: float,
                  seed: int) -> np.ndarray:
    """A seeded, class-balanced, order-independent held-out (test) split of labelled examples.

    Within each class, the `held_out_count(n, fraction)` examples of lowest sha256(
    f"held_out:{seed}:{id}") go to the test split. The choice depends only on the seed and the
    ids: listing order, other classes and the machine do not change it.

    Args:
        ids: unique example ids (an image folder's relative paths).
        labels: int array [n] of class labels.
        fraction: share of each class held out, in (0, 1).
        seed: the split's seed.

    Returns:
        bool array [n], True for the held-out (test) examples, in the input order.

    Raises:
        HierarchyError: bad fraction, repeated ids or a count mismatch.
    """
    labels = np.asarray(labels, np.int64)
    ranks = class_balanced_ranks(ids, labels, seed, salt=HELD_OUT_SALT)
    if not len(labels):
        return np.zeros(0, bool)
    counts = np.bincount(labels)
    take = np.asarray([held_out_count(int(n), fraction) for n in counts], np.int64)
    return ranks < take[labels]
