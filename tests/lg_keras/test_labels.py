"""Tests for lg_keras.labels: hierarchies, YAML validation, noise and data fractions."""

import hashlib
import importlib.resources
import json

import numpy as np
import pytest

from lg_keras import hierarchy_files, label_variants, labels
from lg_keras.errors import HierarchyError

CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# Official CIFAR-100 names and fine -> coarse map, read from cifar-100-binary.tar.gz
# (fine_label_names.txt, coarse_label_names.txt, and bytes 0/1 of the train.bin records).
CIFAR100_FINE = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly "
    "camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup "
    "dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower "
    "leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid "
    "otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray "
    "road rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel streetcar "
    "sunflower sweet_pepper table tank telephone television tiger tractor train trout tulip turtle "
    "wardrobe whale willow_tree wolf woman worm").split()
CIFAR100_COARSE = (
    "aquatic_mammals fish flowers food_containers fruit_and_vegetables household_electrical_devices "
    "household_furniture insects large_carnivores large_man-made_outdoor_things "
    "large_natural_outdoor_scenes large_omnivores_and_herbivores medium_mammals non-insect_invertebrates "
    "people reptiles small_mammals trees vehicles_1 vehicles_2").split()
CIFAR100_FINE_TO_COARSE = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3, 15,
    0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4,
    18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19, 2, 4, 6, 19,
    5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13)

# Paper Table VI, columns in CIFAR-10 label order; rows (3) and (6) as corrected (see FACTS.md).
TABLE_VI = {
    1: "0 0 1 1 1 1 1 1 0 0", 2: "1 0 1 1 1 1 0 1 0 0", 3: "0 0 0 1 1 1 1 1 1 0",
    4: "0 0 1 0 1 0 1 1 1 1", 5: "0 0 1 0 0 1 1 1 1 1", 6: "0 0 0 1 1 1 1 1 0 0",
    7: "0 0 1 0 1 1 1 1 0 0", 8: "0 1 0 1 0 1 1 1 0 0", 9: "0 0 1 0 0 1 0 1 1 1",
    10: "1 0 0 0 0 1 1 1 0 1",
}


def write_yaml(tmp_path, text, name="h.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------------------------------------
# Built-in hierarchies
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", hierarchy_files.builtin_hierarchy_names())
def test_every_builtin_loads_and_round_trips(name):
    h = hierarchy_files.load_hierarchy(name)
    assert h.name == name
    assert h.dataset in ("cifar10", "cifar100", "imagenet", "fashion_mnist")
    assert h.description
    assert sorted(set(h.fine_to_coarse)) == list(range(h.num_coarse_classes))
    assert labels.Hierarchy.from_dict(json.loads(json.dumps(h.to_dict())), "dataset.json") == h


def test_builtin_names_cover_the_paper():
    expected = {"cifar10", "cifar100", "cifar100_animals", "cifar100_5", "cifar100_15", "imagenet_dogcat",
                "imagenet_fruitveg", "fashion_mnist"} | {f"cifar10_custom_{i}" for i in range(1, 11)}
    assert set(hierarchy_files.builtin_hierarchy_names()) == expected


@pytest.mark.parametrize("name, num_fine, num_coarse", [
    ("cifar10", 10, 2), ("cifar100", 100, 20), ("cifar100_animals", 50, 10), ("cifar100_5", 25, 5),
    ("cifar100_15", 75, 15), ("imagenet_dogcat", 10, 2), ("imagenet_fruitveg", 17, 2),
    ("fashion_mnist", 10, 2)])
def test_builtin_counts(name, num_fine, num_coarse):
    h = hierarchy_files.load_hierarchy(name)
    assert (h.num_fine_classes, h.num_coarse_classes) == (num_fine, num_coarse)


def test_cifar10_aligned_to_label_order():
    h = hierarchy_files.load_hierarchy("cifar10").aligned_to(CIFAR10_NAMES)
    assert h.fine_names == CIFAR10_NAMES
    assert h.coarse_names == ("animal", "vehicle")
    np.testing.assert_array_equal(h.fine_to_coarse_array(), [1, 1, 0, 0, 0, 0, 0, 0, 1, 1])
    assert h.fine_to_coarse_array().dtype == np.int32


@pytest.mark.parametrize("name", ["cifar100", "cifar100_animals", "cifar100_5", "cifar100_15"])
def test_cifar100_builtins_match_the_official_mapping(name):
    h = hierarchy_files.load_hierarchy(name).aligned_to(CIFAR100_FINE)
    assert list(h.fine_names) == [f for f in CIFAR100_FINE if f in set(h.fine_names)]
    source = h.source_indices(CIFAR100_FINE)
    official_coarse = [CIFAR100_COARSE[CIFAR100_FINE_TO_COARSE[i]] for i in source]
    assert [h.coarse_names[c] for c in h.fine_to_coarse] == official_coarse
    # Coarse classes keep the official coarse label order.
    assert list(h.coarse_names) == [c for c in CIFAR100_COARSE if c in set(h.coarse_names)]


def test_cifar100_full_uses_official_coarse_indices():
    h = hierarchy_files.load_hierarchy("cifar100").aligned_to(CIFAR100_FINE)
    assert list(h.coarse_names) == CIFAR100_COARSE
    assert h.fine_to_coarse == CIFAR100_FINE_TO_COARSE


def test_cifar100_subsets_are_nested():
    coarse = {n: set(hierarchy_files.load_hierarchy(n).coarse_names)
              for n in ("cifar100_5", "cifar100_animals", "cifar100_15", "cifar100")}
    assert coarse["cifar100_5"] < coarse["cifar100_animals"] < coarse["cifar100_15"] < coarse["cifar100"]


@pytest.mark.parametrize("row", range(1, 11))
def test_table_vi_rows(row):
    h = hierarchy_files.load_hierarchy(f"cifar10_custom_{row}").aligned_to(CIFAR10_NAMES)
    assert h.coarse_names == ("group_0", "group_1")
    assert " ".join(map(str, h.fine_to_coarse)) == TABLE_VI[row]
    sizes = sorted(np.bincount(h.fine_to_coarse_array()).tolist())
    assert sizes == ([4, 6] if row <= 5 else [5, 5])


@pytest.mark.parametrize("row, printed", [(3, "0 0 0 1 1 1 1 1 0 0"), (6, "0 0 0 1 1 1 1 0 0 0")])
def test_corrected_rows_say_what_the_paper_printed(row, printed):
    name = f"cifar10_custom_{row}"
    assert printed in hierarchy_files.load_hierarchy(name).description
    text = (importlib.resources.files("lg_keras") / "hierarchies" / f"{name}.yaml").read_text()
    comments = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "CORRECTED" in comments and printed in comments


def test_imagenet_builtins_carry_ilsvrc_indices_and_display_names():
    dogcat = hierarchy_files.load_hierarchy("imagenet_dogcat")
    assert dogcat.fine_indices == (151, 153, 154, 157, 161, 281, 282, 283, 284, 285)
    assert dict(dogcat.display_names)["n02085620"] == "Chihuahua"
    fruitveg = hierarchy_files.load_hierarchy("imagenet_fruitveg")
    by_coarse = {c: sorted(i for i, k in zip(fruitveg.fine_indices, fruitveg.fine_to_coarse) if k == n)
                 for n, c in enumerate(fruitveg.coarse_names)}
    assert by_coarse == {"fruit": list(range(949, 957)),
                         "vegetable": [936, 937, 938, 939, 942, 943, 944, 945, 947]}
    # Sorted synset folders: aligning reorders indices and display names with the fine classes.
    aligned = fruitveg.aligned_to(sorted(fruitveg.fine_names))
    assert list(aligned.fine_indices) == sorted(fruitveg.fine_indices)
    assert [k for k, _ in aligned.display_names] == list(aligned.fine_names)


# ---------------------------------------------------------------------------------------------
# YAML validation
# ---------------------------------------------------------------------------------------------


def test_user_yaml_loads_in_yaml_order(tmp_path):
    path = write_yaml(tmp_path, "coarse:\n  loops: [zero, six]\n  no_loops: [one, two]\n", "digits.yaml")
    h = hierarchy_files.load_hierarchy(path)
    assert h.name == "digits"
    assert h.fine_names == ("zero", "six", "one", "two")
    assert h.fine_to_coarse == (0, 0, 1, 1)
    assert h.dataset is None
    aligned = h.aligned_to(["zero", "one", "two", "three", "four", "five", "six"])
    assert aligned.fine_names == ("zero", "one", "two", "six")
    assert aligned.fine_to_coarse == (0, 1, 1, 0)


@pytest.mark.parametrize("text, pattern", [
    ("", "file is empty"),
    ("- a\n- b\n", "must be a non-empty mapping"),
    ("name: x\n", "'coarse' must be a non-empty mapping"),
    ("coarse: {}\n", "'coarse' must be a non-empty mapping"),
    ("coarse:\n  a: []\n  b: [y]\n", "coarse class 'a' has no fine class"),
    ("coarse:\n  a:\n  b: [y]\n", "coarse class 'a' has no fine class"),
    ("coarse:\n  a: [cat, x]\n  b: [cat]\n",
     r"fine class 'cat' is listed under two coarse classes \('a', 'b'\); each fine class must belong"),
    ("coarse:\n  a: [x]\n  b: [y]\n  a: [z]\n", "coarse class 'a' appears twice"),
    ("coarse:\n  a: [x, x]\n  b: [y]\n", "fine class 'x' is listed twice under coarse class 'a'"),
    ("coarse:\n  a: [x, 7]\n  b: [y]\n", "fine class 7 .int. under coarse class 'a' is not"),
    ("coarse:\n  a: [x, no]\n  b: [y]\n", "fine class False .bool.*quote"),
    ("coarse:\n  1: [x]\n  b: [y]\n", "coarse class name 1 is not a string"),
    ("coarse:\n  a: [x]\n  b: [y]\ncolour: red\n", r"unknown top-level keys \['colour'\]"),
    ("coarse:\n  a: [x, y]\n", "needs at least 2 coarse classes, got 1"),
    ("coarse:\n  a: [x]\n  b: [y]\ncoarse:\n  c: [z]\n", "top-level key 'coarse' appears twice"),
    ("coarse:\n  a: [x]\n  b: [y]\ndisplay_names:\n  q: Q\n", "display_names names 'q'"),
    ("coarse:\n  a: [x]\n  b: [y]\nfine_indices:\n  x: 1\n", r"fine_indices must cover .*missing \['y'\]"),
    ("coarse:\n  a: [x\n", "not valid YAML"),
])
def test_invalid_yaml_is_rejected(tmp_path, text, pattern):
    path = write_yaml(tmp_path, text)
    with pytest.raises(HierarchyError, match=pattern) as info:
        hierarchy_files.load_hierarchy(path)
    assert "h.yaml" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_path_names_path_and_builtins(tmp_path):
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(HierarchyError, match="no file exists") as info:
        hierarchy_files.load_hierarchy(missing)
    assert missing in str(info.value) and "cifar100_animals" in str(info.value)
    with pytest.raises(HierarchyError, match="Built-in: cifar10, "):
        hierarchy_files.load_hierarchy("cifar1000")


def test_unknown_class_name_when_aligning():
    h = hierarchy_files.parse_hierarchy({"coarse": {"a": ["airplane", "automobil"], "b": ["cat"]}}, "typo.yaml")
    with pytest.raises(HierarchyError, match=r"'automobil' \(did you mean 'automobile'\?\)") as info:
        h.aligned_to(CIFAR10_NAMES)
    assert "Valid names include: airplane" in str(info.value)


def test_fine_classes_must_be_a_subset_of_the_dataset():
    with pytest.raises(HierarchyError, match="fine classes must be a subset") as info:
        hierarchy_files.load_hierarchy("cifar100_5").aligned_to(CIFAR10_NAMES)
    assert "and 15 more" in str(info.value)


def test_aligning_rejects_repeated_class_names():
    with pytest.raises(HierarchyError, match="'cat' twice"):
        hierarchy_files.load_hierarchy("cifar10").aligned_to(CIFAR10_NAMES + ("cat",))


def test_from_dict_validates(tmp_path):
    good = hierarchy_files.load_hierarchy("cifar10").to_dict()
    with pytest.raises(HierarchyError, match=r"dataset.json.*unknown keys \['extra'\]"):
        labels.Hierarchy.from_dict({**good, "extra": 1}, "dataset.json")
    with pytest.raises(HierarchyError, match=r"dataset.json.*fine_to_coarse .* integers in \[0, 2\)"):
        labels.Hierarchy.from_dict({**good, "fine_to_coarse": [0] * 9 + [2]}, "dataset.json")
    with pytest.raises(HierarchyError, match="coarse classes \\['vehicle'\\] have no fine class"):
        labels.Hierarchy.from_dict({**good, "fine_to_coarse": [0] * 10}, "dataset.json")


def test_constructor_checks_lengths():
    with pytest.raises(HierarchyError, match="one entry per fine class"):
        labels.Hierarchy("h", ("a", "b"), ("x", "y"), (0,))


# ---------------------------------------------------------------------------------------------
# Label mapping
# ---------------------------------------------------------------------------------------------


def test_coarsen_labels_matches_loop():
    rng = np.random.default_rng(0)
    fine_to_coarse = rng.integers(0, 4, size=12)
    fine = rng.integers(0, 12, size=(5, 7))
    expected = np.array([[fine_to_coarse[f] for f in row] for row in fine])
    np.testing.assert_array_equal(labels.coarsen_labels(fine, fine_to_coarse), expected)
    np.testing.assert_array_equal(labels.coarsen_labels(np.array([2, 0]), np.array([1, 0, 1])), [1, 1])
    with pytest.raises(HierarchyError, match=r"fine_labels must lie in \[0, 3\); got 3"):
        labels.coarsen_labels(np.array([0, 3]), np.array([1, 0, 1]))
    with pytest.raises(HierarchyError, match="got -1"):
        labels.coarsen_labels(np.array([-1]), np.array([1, 0, 1]))


def test_relabel_to_hierarchy_drops_unused_classes():
    h = hierarchy_files.load_hierarchy("cifar100_5").aligned_to(CIFAR100_FINE)
    mapping = np.full(len(CIFAR100_FINE), -1)
    mapping[h.source_indices(CIFAR100_FINE)] = np.arange(h.num_fine_classes)
    source = np.random.default_rng(1).integers(0, 100, size=500)
    fine = labels.relabel_to_hierarchy(source, mapping)
    for s, f in zip(source, fine):
        name = CIFAR100_FINE[s]
        assert f == (h.fine_names.index(name) if name in h.fine_names else -1)
    kept = fine >= 0
    coarse = labels.coarsen_labels(fine[kept], h.fine_to_coarse_array())
    expected = [h.coarse_names.index(CIFAR100_COARSE[CIFAR100_FINE_TO_COARSE[s]]) for s in source[kept]]
    np.testing.assert_array_equal(coarse, expected)
    with pytest.raises(HierarchyError, match="source_labels"):
        labels.relabel_to_hierarchy(np.array([100]), mapping)


# ---------------------------------------------------------------------------------------------
# Fine-label noise (Table VII)
# ---------------------------------------------------------------------------------------------


def naive_noise(ids, fine, coarse, rate, seed):
    """Independent reference: the loop from the paper reproduction's definition."""
    result = dict(zip(ids, fine))
    for c in sorted(set(coarse)):
        group = sorted(i for i, k in zip(ids, coarse) if k == c)
        values = [result[i] for i in group]
        rng = np.random.default_rng([seed, c, round(rate * 1_000_000)])
        n = len(values)
        for i in range(n):
            if rng.random() < rate:
                j = rng.integers(n)
                values[i], values[j] = values[j], values[i]
        result.update(zip(group, values))
    return np.array([result[i] for i in ids])


def noise_inputs(n, seed=0):
    """n examples, 2 coarse classes of 5 fine classes each (fine f -> coarse f // 5)."""
    rng = np.random.default_rng(seed)
    fine = rng.integers(0, 10, size=n)
    ids = [f"train/{i:06d}" for i in rng.permutation(n)]
    return ids, fine, fine // 5


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.3, 1.0])
def test_noise_matches_naive_loop(rate):
    ids, fine, coarse = noise_inputs(300)
    noisy = label_variants.inject_fine_label_noise(ids, fine, coarse, rate, seed=7)
    np.testing.assert_array_equal(noisy, naive_noise(ids, fine.tolist(), coarse.tolist(), rate, 7))


def test_noise_preserves_counts_and_coarse_labels():
    ids, fine, coarse = noise_inputs(2000)
    noisy = label_variants.inject_fine_label_noise(ids, fine, coarse, 0.3, seed=3)
    np.testing.assert_array_equal(np.bincount(noisy, minlength=10), np.bincount(fine, minlength=10))
    np.testing.assert_array_equal(labels.coarsen_labels(noisy, np.arange(10) // 5), coarse)
    assert (noisy != fine).any()


def test_noise_is_independent_of_input_order():
    ids, fine, coarse = noise_inputs(1000)
    noisy = label_variants.inject_fine_label_noise(ids, fine, coarse, 0.1, seed=5)
    perm = np.random.default_rng(9).permutation(len(ids))
    shuffled = label_variants.inject_fine_label_noise([ids[i] for i in perm], fine[perm], coarse[perm], 0.1, seed=5)
    np.testing.assert_array_equal(shuffled, noisy[perm])


def test_noise_groups_match_swap_within_group():
    ids, fine, coarse = noise_inputs(400)
    noisy = label_variants.inject_fine_label_noise(ids, fine, coarse, 0.3, seed=2)
    for c in (0, 1):
        group = sorted((i, k) for i, k in enumerate(ids) if coarse[i] == c)
        members = [i for i, _ in sorted(group, key=lambda p: p[1])]
        swapped = label_variants.swap_within_group(fine[members], 0.3, label_variants.noise_group_rng(2, c, 0.3))
        np.testing.assert_array_equal(noisy[members], swapped)


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_noise_changes_about_the_expected_fraction(rate):
    ids, fine, coarse = noise_inputs(10_000)
    changed = (label_variants.inject_fine_label_noise(ids, fine, coarse, rate, seed=11) != fine).mean()
    # A swap changes both partners with probability 4/5 (5 fine classes per coarse); later swaps can
    # move a label back, so the fraction lies between rate * 4/5 and 2 * rate * 4/5.
    assert rate * 0.8 < changed < 2 * rate * 0.8 + 0.02


def test_full_noise_makes_labels_nearly_independent():
    ids, fine, coarse = noise_inputs(10_000)
    noisy = label_variants.inject_fine_label_noise(ids, fine, coarse, 1.0, seed=13)
    for f in range(10):
        same_coarse = noisy[fine == f]
        shares = np.bincount(same_coarse, minlength=10)[5 * (f // 5): 5 * (f // 5) + 5] / len(same_coarse)
        np.testing.assert_allclose(shares, 0.2, atol=0.05)


def test_noise_rate_zero_copies_and_bad_rates_fail():
    ids, fine, coarse = noise_inputs(50)
    out = label_variants.inject_fine_label_noise(ids, fine, coarse, 0, seed=1)
    np.testing.assert_array_equal(out, fine)
    assert out is not fine
    for rate in (-0.1, 1.5, float("nan")):
        with pytest.raises(HierarchyError, match="rate must be a probability in"):
            label_variants.inject_fine_label_noise(ids, fine, coarse, rate, seed=1)
    with pytest.raises(HierarchyError, match="ids must be unique"):
        label_variants.inject_fine_label_noise(["a", "a"], np.array([0, 1]), np.array([0, 0]), 0.1, seed=1)


def test_swap_within_group_does_not_modify_input():
    fine = np.arange(20)
    out = label_variants.swap_within_group(fine, 1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(fine, np.arange(20))
    assert sorted(out.tolist()) == list(range(20))


# ---------------------------------------------------------------------------------------------
# Data fractions (Fig. 2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count, fraction, expected", [
    (10, 0.5, 5), (10, 0.25, 3), (10, 0.24, 2), (3, 0.1, 1), (5000, 0.1, 500), (5000, 0.2, 1000),
    (10, 1.0, 10), (1, 0.01, 1), (0, 0.5, 0)])
def test_fraction_threshold(count, fraction, expected):
    assert label_variants.fraction_threshold(count, fraction) == expected


@pytest.mark.parametrize("fraction", [0, 0.0, -0.5, 1.01, float("nan")])
def test_fraction_threshold_rejects_bad_fractions(fraction):
    with pytest.raises(HierarchyError, match=r"fraction must lie in \(0, 1\]"):
        label_variants.fraction_threshold(10, fraction)


def test_class_balanced_ranks_match_naive_sort():
    ids, fine, _ = noise_inputs(200)
    ranks = label_variants.class_balanced_ranks(ids, fine, seed=4)
    for f in range(10):
        members = sorted((hashlib.sha256(f"4:{ids[i]}".encode()).hexdigest(), i)
                         for i in range(len(ids)) if fine[i] == f)
        assert [ranks[i] for _, i in members] == list(range(len(members)))


def test_fractions_are_balanced_nested_and_order_independent():
    ids, fine, _ = noise_inputs(3000)
    ranks = label_variants.class_balanced_ranks(ids, fine, seed=0)
    counts = np.bincount(fine)
    kept = {}
    for fraction in (0.2, 0.4, 1.0):
        thresholds = np.array([label_variants.fraction_threshold(int(c), fraction) for c in counts])
        kept[fraction] = ranks < thresholds[fine]
        np.testing.assert_array_equal(np.bincount(fine[kept[fraction]], minlength=10), thresholds)
    assert not (kept[0.2] & ~kept[0.4]).any()
    assert kept[1.0].all()
    perm = np.random.default_rng(3).permutation(len(ids))
    np.testing.assert_array_equal(
        label_variants.class_balanced_ranks([ids[i] for i in perm], fine[perm], seed=0), ranks[perm])
    assert (label_variants.class_balanced_ranks(ids, fine, seed=1) != ranks).any()
    assert label_variants.class_balanced_ranks([], np.zeros(0, dtype=int), seed=0).shape == (0,)
