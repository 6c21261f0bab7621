"""The launched noise of Table VII (issue 14): the authors' loop as it stood when the noisy runs
were launched, against a naive reference, with the coarse-label damage FACTS.md measured."""

import numpy as np
import pytest

from lg_keras import label_variants

# CIFAR-10-like: 50,000 labels, 6:4 between two coarse classes, 5,000 per fine class.
FINE_TO_COARSE = np.array([0, 0, 1, 1, 1, 1, 1, 1, 0, 0])


def _synthetic(seed=0):
    rng = np.random.default_rng(seed)
    fine = rng.permutation(np.repeat(np.arange(10), 5000))
    ids = np.array([f"train/{i:05d}" for i in range(len(fine))])
    return ids, fine


def _naive(ids, fine, fine_to_coarse, rate, seed):
    """The authors' f6a81c2 loop, literally, over launched_order's file order."""
    order = list(label_variants.launched_order(ids, seed, rate))
    labels = [int(fine[i]) for i in order]  # the training set in file order
    pools = {c: [p for p in range(len(labels)) if fine_to_coarse[labels[p]] == c]
             for c in set(fine_to_coarse.tolist())}
    rng = np.random.default_rng([seed, round(rate * 1_000_000), 2 ** 31 - 1, 1])
    draws = rng.random(len(labels))
    for i in range(len(labels)):
        if draws[i] < rate:
            pool = pools[fine_to_coarse[labels[i]]]
            swap = rng.integers(len(pool))  # a POSITION in the whole set: the bug
            labels[i], labels[swap] = labels[swap], labels[i]
    out = np.empty(len(labels), dtype=np.int64)
    out[order] = labels
    return out


@pytest.mark.parametrize("rate,share", [(0.01, 0.9), (0.03, 2.8), (0.1, 8.9), (0.3, 22.0)])
def test_launched_noise_changes_the_coarse_label_as_the_authors_loop_did(rate, share):
    ids, fine = _synthetic()
    noisy = label_variants.inject_launched_noise(ids, fine, FINE_TO_COARSE, rate, seed=1234)
    changed = 100 * label_variants.coarse_changed_share(fine, noisy, FINE_TO_COARSE)
    assert changed == pytest.approx(share, abs=0.5)
    assert np.array_equal(np.bincount(noisy, minlength=10), np.bincount(fine, minlength=10))


def test_within_coarse_noise_changes_no_coarse_label():
    ids, fine = _synthetic()
    noisy = label_variants.inject_fine_label_noise(ids, fine, FINE_TO_COARSE[fine], 0.3, seed=0)
    assert label_variants.coarse_changed_share(fine, noisy, FINE_TO_COARSE) == 0.0
    assert np.mean(noisy != fine) > 0.2


def test_launched_noise_equals_the_naive_loop_for_any_input_order():
    ids, fine = _synthetic(1)
    ids, fine = ids[:3000], fine[:3000]
    want = _naive(ids, fine, FINE_TO_COARSE, 0.3, seed=7)
    np.testing.assert_array_equal(
        label_variants.inject_launched_noise(ids, fine, FINE_TO_COARSE, 0.3, seed=7), want)
    perm = np.random.default_rng(3).permutation(len(ids))
    shuffled = label_variants.inject_launched_noise(ids[perm], fine[perm], FINE_TO_COARSE, 0.3,
                                                    seed=7)
    np.testing.assert_array_equal(shuffled, want[perm])


def test_launched_noise_is_seeded_and_zero_rate_is_a_copy():
    ids, fine = _synthetic()
    ids, fine = ids[:2000], fine[:2000]
    a = label_variants.inject_launched_noise(ids, fine, FINE_TO_COARSE, 0.1, seed=1)
    assert np.array_equal(a, label_variants.inject_launched_noise(ids, fine, FINE_TO_COARSE, 0.1,
                                                                  seed=1))
    assert not np.array_equal(a, label_variants.inject_launched_noise(ids, fine, FINE_TO_COARSE,
                                                                      0.1, seed=2))
    assert np.array_equal(label_variants.inject_launched_noise(ids, fine, FINE_TO_COARSE, 0, 1),
                          fine)
