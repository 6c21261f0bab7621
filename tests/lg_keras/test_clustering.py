"""Tests of lg_keras.clustering: k-means within coarse classes, assignment, agreement, pixels."""

import numpy as np
import pytest

from lg_keras import clustering
from lg_keras.errors import ConfigError, DataError


def _blobs(seed=0, per_blob=30, num_coarse=3, blobs_per_coarse=2, dim=4):
    """Gaussian blobs: coarse class c holds `blobs_per_coarse` well-separated fine blobs."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, size=(num_coarse * blobs_per_coarse, dim))
    fine = np.repeat(np.arange(num_coarse * blobs_per_coarse), per_blob)
    features = centres[fine] + rng.normal(0, 0.3, size=(len(fine), dim))
    coarse = fine // blobs_per_coarse
    order = rng.permutation(len(fine))
    return features[order], coarse[order], fine[order]


def _naive_assign(model, features, coarse):
    out = []
    for x, c in zip(features, coarse):
        z = (np.asarray(x, np.float64) - model.mean) / model.scale
        best, best_d = None, None
        for j in range(model.k):
            d = float(np.sum((z - model.centroids[c, j]) ** 2))
            if best_d is None or d < best_d:
                best, best_d = j, d
        out.append(c * model.k + best)
    return np.array(out)


def test_same_seed_gives_identical_labels():
    features, coarse, _ = _blobs()
    a = clustering.cluster_within_coarse(features, coarse, 3, seed=7)
    b = clustering.cluster_within_coarse(features, coarse, 3, seed=7)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    np.testing.assert_array_equal(clustering.assign(a, features, coarse),
                                  clustering.assign(b, features, coarse))


def test_labels_map_exactly_to_their_coarse_class():
    features, coarse, _ = _blobs(num_coarse=4)
    k = 3
    model = clustering.cluster_within_coarse(features, coarse, k, seed=0)
    fine_to_coarse = clustering.cluster_fine_to_coarse(4, k)
    np.testing.assert_array_equal(fine_to_coarse, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    test_features, test_coarse, _ = _blobs(seed=1, num_coarse=4)
    for x, c in ((features, coarse), (test_features, test_coarse)):
        labels = clustering.assign(model, x, c)
        np.testing.assert_array_equal(fine_to_coarse[labels], c)
        assert labels.dtype == np.int64


def test_recovers_separated_fine_blobs():
    features, coarse, fine = _blobs()
    model = clustering.cluster_within_coarse(features, coarse, 2, seed=0)
    scores = clustering.agreement(clustering.assign(model, features, coarse), fine)
    assert scores == {"adjusted_rand_index": pytest.approx(1.0),
                      "normalized_mutual_info": pytest.approx(1.0)}


def test_clusters_are_numbered_by_decreasing_size():
    rng = np.random.default_rng(0)
    features = np.r_[rng.normal(0, 0.1, (5, 2)), rng.normal(5, 0.1, (20, 2))]
    model = clustering.cluster_within_coarse(features, np.zeros(25, np.int64), 2, seed=3)
    labels = clustering.assign(model, features, np.zeros(25, np.int64))
    np.testing.assert_array_equal(labels, [1] * 5 + [0] * 20)


def test_assign_matches_a_naive_loop():
    features, coarse, _ = _blobs(seed=2)
    model = clustering.cluster_within_coarse(features, coarse, 4, seed=1)
    test_features, test_coarse, _ = _blobs(seed=5)
    test_features = test_features + np.random.default_rng(9).normal(0, 3, test_features.shape)
    np.testing.assert_array_equal(clustering.assign(model, test_features, test_coarse),
                                  _naive_assign(model, test_features, test_coarse))


def test_test_examples_never_move_the_centroids():
    # Coarse 0: train blobs at x=0 and x=10; coarse 1: at y=0 and y=10 (x = 50).
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [50, 0], [50, 10]], np.float64)
    fine = np.repeat(np.arange(4), 25)
    train = centres[fine] + rng.normal(0, 0.5, (100, 2))
    coarse = fine // 2
    model = clustering.cluster_within_coarse(train, coarse, 2, seed=0)
    before = model.centroids.copy()
    train_labels = clustering.assign(model, train, coarse)
    blob_label = {f: int(np.bincount(train_labels[fine == f]).argmax()) for f in range(4)}
    # Far-away test points: a refit would put a centroid on them; the train centroids label them
    # by the nearest train blob of their own coarse class.
    far = np.array([[1000.0, 0.0], [-1000.0, 0.0], [1000.0, 0.0], [50.0, 1000.0]])
    far_coarse = np.array([0, 0, 1, 1])
    got = clustering.assign(model, far, far_coarse)
    # [1000, 0] is nearest coarse 0's blob at x=10, but as coarse 1 it gets coarse 1's nearest.
    np.testing.assert_array_equal(got, [blob_label[1], blob_label[0], blob_label[2], blob_label[3]])
    assert [label // 2 for label in got] == [0, 0, 1, 1]
    np.testing.assert_array_equal(model.centroids, before)
    # Each example's label is independent of the rest of the split.
    for i in range(len(far)):
        assert clustering.assign(model, far[i:i + 1], far_coarse[i:i + 1])[0] == got[i]


def test_standardisation_stops_a_wide_dimension_from_dominating():
    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1], 100)
    features = np.c_[np.where(groups == 0, -1.0, 1.0) + rng.normal(0, 0.05, 200),
                     rng.normal(0, 1000, 200)]
    model = clustering.cluster_within_coarse(features, np.zeros(200, np.int64), 2, seed=0)
    labels = clustering.assign(model, features, np.zeros(200, np.int64))
    assert clustering.agreement(labels, groups)["adjusted_rand_index"] == pytest.approx(1.0)
    np.testing.assert_allclose(model.mean, features.mean(axis=0))
    np.testing.assert_allclose(model.scale, features.std(axis=0))


def test_constant_dimension_is_harmless():
    features, coarse, fine = _blobs()
    features = np.c_[features, np.full(len(features), 3.0)]
    model = clustering.cluster_within_coarse(features, coarse, 2, seed=0)
    assert model.scale[-1] == 1.0
    labels = clustering.assign(model, features, coarse)
    assert clustering.agreement(labels, fine)["adjusted_rand_index"] == pytest.approx(1.0)


def test_coarse_class_smaller_than_k_is_an_error_naming_both():
    features, coarse, _ = _blobs(per_blob=2)  # 4 training examples per coarse class
    with pytest.raises(DataError, match=r"k=5 .*coarse class 0 \('pets'\) has 4"):
        clustering.cluster_within_coarse(features, coarse, 5, seed=0,
                                         coarse_names=["pets", "wild", "small"])
    with pytest.raises(DataError, match=r"coarse class 3 has 0"):
        clustering.cluster_within_coarse(features, coarse, 2, seed=0, num_coarse_classes=4)
    clustering.cluster_within_coarse(features, coarse, 4, seed=0)  # exactly k is enough


def test_bad_inputs_are_rejected():
    features, coarse, _ = _blobs()
    with pytest.raises(ConfigError, match="k"):
        clustering.cluster_within_coarse(features, coarse, 0, seed=0)
    with pytest.raises(DataError, match="finite"):
        clustering.cluster_within_coarse(np.where(features > 5, np.nan, features), coarse, 2, 0)
    model = clustering.cluster_within_coarse(features, coarse, 2, seed=0)
    with pytest.raises(DataError, match="dimensions"):
        clustering.assign(model, features[:, :2], coarse)
    with pytest.raises(DataError, match="coarse labels"):
        clustering.assign(model, features, coarse + 1)


def test_agreement_known_answers():
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 10, 5000)
    permutation = rng.permutation(10) + 100
    same = clustering.agreement(permutation[fine], fine)
    assert same["adjusted_rand_index"] == pytest.approx(1.0)
    assert same["normalized_mutual_info"] == pytest.approx(1.0)
    independent = clustering.agreement(rng.integers(0, 10, 5000), fine)
    assert abs(independent["adjusted_rand_index"]) < 0.01
    assert independent["normalized_mutual_info"] < 0.01


def test_pixel_features_box_average():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    got = clustering.pixel_features(images)
    assert got.shape == (3, 8 * 8 * 3) and got.dtype == np.float32
    expected = images.astype(np.float64).reshape(3, 8, 2, 8, 2, 3).mean(axis=(2, 4)) / 255.0
    np.testing.assert_allclose(got, expected.reshape(3, -1), rtol=1e-6)
    np.testing.assert_allclose(clustering.pixel_features(images / 255.0), got, rtol=1e-6)


def test_pixel_features_uneven_and_small_images():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 12, 5, 1), dtype=np.uint8)
    got = clustering.pixel_features(images).reshape(2, 8, 8, 1)
    x = images.astype(np.float64) / 255.0
    for i in range(8):
        rows = slice((i * 12) // 8, ((i + 1) * 12) // 8)
        for j in range(8):
            start = (j * 5) // 8
            stop = max(((j + 1) * 5) // 8, start + 1)
            np.testing.assert_allclose(got[:, i, j, 0], x[:, rows, start:stop, 0].mean(axis=(1, 2)),
                                       rtol=1e-6)


def test_agreement_within_coarse_ignores_the_given_coarse_split():
    rng = np.random.default_rng(0)
    coarse = np.repeat([0, 1], 2000)
    fine = coarse * 5 + rng.integers(0, 5, 4000)
    random_within = coarse * 5 + rng.integers(0, 5, 4000)  # right coarse class, random inside
    whole = clustering.agreement(random_within, fine)
    within = clustering.agreement_within_coarse(random_within, fine, coarse)
    assert whole["normalized_mutual_info"] > 0.15  # credit for the coarse split alone
    assert abs(within["adjusted_rand_index"]) < 0.01
    assert within["normalized_mutual_info"] < 0.01
    # Naive reference: the mean of per-coarse-class scores.
    expected = np.mean([clustering.agreement(random_within[coarse == c], fine[coarse == c])[
        "adjusted_rand_index"] for c in (0, 1)])
    assert within["adjusted_rand_index"] == pytest.approx(expected)
    perfect = clustering.agreement_within_coarse(fine + 100, fine, coarse)
    assert perfect == {"adjusted_rand_index": pytest.approx(1.0),
                       "normalized_mutual_info": pytest.approx(1.0)}
