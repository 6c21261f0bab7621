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


# -- held-out test split of a folder without one (lg study) ----------------------------------------


def _naive_held_out(ids, labels, fraction, seed):
    """Per class: sort by sha256('held_out:<seed>:<id>'), take round-half-up(f * n) first."""
    import hashlib  # pylint: disable=import-outside-toplevel
    out = np.zeros(len(ids), bool)
    for label in set(labels.tolist()):
        members = [i for i in range(len(ids)) if labels[i] == label]
        members.sort(key=lambda i: (hashlib.sha256(f"held_out:{seed}:{ids[i]}".encode())
                                    .hexdigest(), ids[i]))
        for i in members[:int(np.floor(fraction * len(members) + 0.5))]:
            out[i] = True
    return out


@pytest.mark.parametrize("fraction,seed", [(0.2, 0), (0.5, 3), (0.25, 11)])
def test_held_out_mask_equals_the_naive_loop_and_ignores_order(fraction, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, 97)
    ids = np.array([f"c{label}/{i:03d}.png" for i, label in enumerate(labels)])
    want = _naive_held_out(ids, labels, fraction, seed)
    got = label_variants.held_out_mask(ids, labels, fraction, seed)
    np.testing.assert_array_equal(got, want)
    perm = rng.permutation(len(ids))
    np.testing.assert_array_equal(
        label_variants.held_out_mask(ids[perm], labels[perm], fraction, seed), want[perm])
    counts = np.bincount(labels)
    np.testing.assert_array_equal(np.bincount(labels[got], minlength=4),
                                  [label_variants.held_out_count(int(n), fraction) for n in counts])


def test_held_out_split_is_seeded_and_not_the_fractions_permutation():
    labels = np.repeat(np.arange(2), 50)
    ids = [f"x/{i}.png" for i in range(100)]
    a = label_variants.held_out_mask(ids, labels, 0.2, 0)
    assert not np.array_equal(a, label_variants.held_out_mask(ids, labels, 0.2, 1))
    fraction_first = label_variants.class_balanced_ranks(ids, labels, 0) < 10
    assert not np.array_equal(a, fraction_first)  # another salt: not the fractions' first 20 %
    assert label_variants.held_out_count(7, 0.2) == 1 and label_variants.held_out_count(8, 0.2) == 2
    assert label_variants.held_out_count(2, 0.2) == 0  # no clipping: the caller names the class
    with pytest.raises(label_variants.HierarchyError, match="test fraction must lie in"):
        label_variants.held_out_count(10, 1.0)
