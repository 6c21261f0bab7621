"""The Beam dataset builder: records, labels, noise, fractions, atomic output, real archives."""

import argparse
import collections
import contextlib
import hashlib
import io
import json
import os
import shutil

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
import numpy as np
import pytest
import tensorflow as tf

from components.example_gen import __main__ as example_gen_main
from components.example_gen import executor, shards, transforms
from components.example_gen.source_access import SourceAccess
from lg_keras import (data, dataset_info, hierarchy_files, inspection, label_variants, records,
                      sources)
from lg_keras.config import BuildConfig
from lg_keras.config_io import config_hash
from lg_keras.errors import ConfigError, HierarchyError, RunDirError
from lg_keras.sources.base import RawExample
from tests.helpers import datagen
from tests.helpers.data_copies import require_copy

CLASSES = ["ant", "bee", "cat", "dog", "eel", "fox"]
COARSE = {"small": ["ant", "bee"], "pets": ["cat", "dog"], "wild": ["eel", "fox"]}


def read_records(path):
    info = dataset_info.load_dataset_info(path)
    out = {}
    for split in ("train", "test"):
        for file in info.files(split):
            for raw in tf.data.TFRecordDataset(file, compression_type=info.compression):
                fields = records.decode_example(raw.numpy())
                out[fields[records.ID].decode()] = fields
    return info, out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    pixels = datagen.write_image_folder(root / "images", CLASSES, 30, 10, size=(6, 5))
    yaml_path = datagen.write_hierarchy(root / "h.yaml", COARSE, name="toy")
    return root, pixels, yaml_path


@pytest.fixture(scope="module")
def built(folder):
    root, pixels, yaml_path = folder
    cfg = BuildConfig(dataset=f"folder:{root / 'images'}", hierarchy=yaml_path,
                      noise=(0.3, 1.0), seed=3)
    out = root / "built"
    executor.run(cfg, SourceAccess(), {"examples": str(out)})
    return cfg, str(out), pixels


def test_round_trip_pixels_and_labels(built):
    cfg, out, pixels = built
    info, recs = read_records(out)
    assert len(recs) == len(pixels) == 6 * 40
    h = hierarchy_files.load_hierarchy(cfg.hierarchy).aligned_to(CLASSES)
    for example_id, fields in recs.items():
        np.testing.assert_array_equal(records.decode_pixels(fields), pixels[example_id])
        fine_name = example_id.split("/")[1]
        assert info.fine_names[fields[records.FINE]] == fine_name
        assert fields[records.COARSE] == h.fine_to_coarse[h.fine_names.index(fine_name)]
        assert fields[records.SOURCE_LABEL] == CLASSES.index(fine_name)
    assert info.meta["counts"]["train"]["total"] == 180
    assert info.meta["counts"]["test"]["coarse"] == {"small": 20, "pets": 20, "wild": 20}
    assert info.fixed_size == (6, 5) and info.channels == 3


@pytest.mark.parametrize("rate", [0.3, 1.0])
def test_noise_equals_reference_loop_exactly(built, rate):
    cfg, out, _ = built
    info, recs = read_records(out)
    name = records.noise_feature(f"{rate:g}")
    for split, seed in (("train", cfg.seed), ("test", cfg.seed + transforms.TEST_NOISE_SEED_OFFSET)):
        ids = sorted(i for i in recs if i.startswith(split + "/"))
        fine = np.array([recs[i][records.FINE] for i in ids])
        coarse = np.array([recs[i][records.COARSE] for i in ids])
        expected = label_variants.inject_fine_label_noise(ids, fine, coarse, rate, seed)
        got = np.array([recs[i][name] for i in ids])
        np.testing.assert_array_equal(got, expected)
        # Fine counts preserved, coarse never changed by the noise.
        assert collections.Counter(got.tolist()) == collections.Counter(fine.tolist())
        np.testing.assert_array_equal(info.fine_to_coarse[got], coarse)
        changed = float(np.mean(got != fine))
        assert info.meta["noise"]["changed_fraction"][split][f"{rate:g}"] == pytest.approx(changed)
        assert changed > 0


def test_within_coarse_build_keeps_its_labels_hash_and_feature_names(built):
    """Launched noise came in as a second kind; a within-coarse build is what it was before."""
    _, out, _ = built
    info, recs = read_records(out)
    keys = [records.FINE, records.COARSE, records.RANK, "fine_label_noise_0.3",
            "fine_label_noise_1"]
    rows = [[i] + [recs[i][k] for k in keys] for i in sorted(recs)]
    # Digest of this fixture's labels, recorded with the builder before noise kinds existed.
    assert hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16] == "33a1681ad4f43d9f"
    assert {k for k in next(iter(recs.values())) if k.startswith(records.NOISE_PREFIX)} == {
        "fine_label_noise_0.3", "fine_label_noise_1"}
    noise = info.meta["noise"]
    assert noise["kind"] == "within_coarse" and noise["rates"] == noise["variants"] == ["0.3", "1"]
    assert noise["noisy_splits"] == ["train", "test"] and "note" not in noise
    assert noise["coarse_changed_fraction"] == {split: {"0.3": 0.0, "1": 0.0}
                                                for split in ("train", "test")}
    assert info.meta["features"]["int64"][-2:] == ["fine_label_noise_0.3", "fine_label_noise_1"]
    assert info.label_views() == ["fine", "coarse", "fine_noise_0.3", "fine_noise_1"]
    # A CIFAR-10 subset build's hash, recorded before BuildConfig.noise_kind existed.
    assert config_hash(BuildConfig(dataset="cifar10", hierarchy="cifar10", noise=(0.01, 0.1, 0.3),
                                   max_train_per_class=300, max_test_per_class=100)
                       ) == "55a8fe3133a1b272"


@pytest.fixture(scope="module")
def launched(folder):
    root, _, yaml_path = folder
    cfg = BuildConfig(dataset=f"folder:{root / 'images'}", hierarchy=yaml_path, noise=(0.3, 1.0),
                      noise_kind="launched", seed=3, max_train_per_class=25)
    out = root / "launched"
    executor.run(cfg, SourceAccess(), {"examples": str(out)})
    return cfg, str(out)


def _noisy_labels(recs, split, name):
    ids = sorted(i for i in recs if i.startswith(split + "/"))
    return (ids, np.array([recs[i][records.FINE] for i in ids]),
            np.array([recs[i][records.noise_feature(name)] for i in ids]))


@pytest.mark.parametrize("rate", [0.3, 1.0])
def test_launched_noise_equals_reference_loop_on_kept_train_examples(launched, rate):
    cfg, out = launched
    info, recs = read_records(out)
    name = f"launched_{rate:g}"
    ids, fine, got = _noisy_labels(recs, "train", name)
    assert len(ids) == 6 * 25  # the subset is drawn first; the loop runs over the kept examples
    want = label_variants.inject_launched_noise(ids, fine, info.fine_to_coarse, rate, cfg.seed)
    np.testing.assert_array_equal(got, want)
    assert collections.Counter(got.tolist()) == collections.Counter(fine.tolist())
    coarse_changed = label_variants.coarse_changed_share(fine, got, info.fine_to_coarse)
    assert coarse_changed > 0  # the launched loop's swaps cross coarse classes
    test_ids, test_fine, test_got = _noisy_labels(recs, "test", name)
    assert len(test_ids) == 60
    np.testing.assert_array_equal(test_got, test_fine)  # training split only
    for fields in recs.values():
        assert fields[records.COARSE] == info.fine_to_coarse[fields[records.FINE]]
    noise = info.meta["noise"]
    assert noise["changed_fraction"]["train"][name] == pytest.approx(np.mean(got != fine))
    assert noise["coarse_changed_fraction"]["train"][name] == pytest.approx(coarse_changed)
    assert noise["changed_fraction"]["test"][name] == 0
    assert noise["coarse_changed_fraction"]["test"][name] == 0


def test_launched_dataset_json_and_readers(launched):
    _, out = launched
    info, recs = read_records(out)
    noise = info.meta["noise"]
    assert noise["kind"] == "launched" and noise["rates"] == ["0.3", "1"]
    assert noise["variants"] == ["launched_0.3", "launched_1"]
    assert noise["noisy_splits"] == ["train"] and "true fine label" in noise["note"]
    assert info.meta["features"]["int64"][-2:] == ["fine_label_noise_launched_0.3",
                                                   "fine_label_noise_launched_1"]
    assert {k for k in next(iter(recs.values())) if k.startswith(records.NOISE_PREFIX)} == {
        "fine_label_noise_launched_0.3", "fine_label_noise_launched_1"}
    assert info.noise_kind == "launched"
    assert info.label_views() == ["fine", "coarse", "fine_noise_launched_0.3",
                                  "fine_noise_launched_1"]
    labels = data.read_labels(info, "train", ("fine", "fine_noise_launched_1"))
    ids = data.read_ids(info, "train")
    np.testing.assert_array_equal(labels["fine_noise_launched_1"],
                                  [recs[i]["fine_label_noise_launched_1"] for i in ids])
    text = inspection.format_report(info, inspection.inspect_dataset(info))
    assert "noise kind: launched" in text and "to another coarse class" in text, text
    assert "fine_noise_launched_0.3" in text


def test_launched_build_does_not_depend_on_chunking(launched, folder, tmp_path, monkeypatch):
    cfg, out = launched
    monkeypatch.setattr(transforms, "CHUNK_SIZE", 7)
    source = sources.open_source(cfg.dataset, [])
    assert {len(chunk) for _, _, chunk in transforms.read_chunks("train", source)} == {7, 5}
    executor.run(cfg, SourceAccess(), {"examples": str(tmp_path / "chunked")})
    _, recs = read_records(out)
    _, chunked = read_records(str(tmp_path / "chunked"))
    assert chunked == recs


def _label_table_parts(split, ids, fine, seed):
    """Per-group label tables as `_ranks_and_noise` leaves them for a launched build, split
    into random parts in a random order (noisy columns: the true labels)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(ids))
    cuts = np.sort(rng.choice(np.arange(1, len(ids)), size=4, replace=False))
    return [{split: (np.array(ids, object)[part], np.zeros(len(part), np.int64),
                     np.stack([fine[part]] * 2, axis=1), fine[part])}
            for part in np.split(order, cuts)]


def test_add_launched_noise_ignores_element_order_and_partition():
    fine_to_coarse = (0, 0, 1, 1, 1, 2)
    rng = np.random.default_rng(0)
    ids = [f"train/{i:04d}" for i in rng.permutation(600)]
    fine = rng.integers(0, 6, 600)
    test_ids = [f"test/{i:03d}" for i in range(50)]
    test_fine = rng.integers(0, 6, 50)
    by_id = np.argsort(ids)
    want = [label_variants.inject_launched_noise(np.array(ids)[by_id], fine[by_id],
                                                 np.array(fine_to_coarse), rate, 5)
            for rate in (0.1, 0.5)]
    results = []
    for seed in range(3):
        parts = _label_table_parts("train", ids, fine, seed) + _label_table_parts(
            "test", test_ids, test_fine, seed + 10)
        np.random.default_rng(seed).shuffle(parts)
        # Partial merges merged again, as a CombineGlobally may do.
        table = transforms.merge_label_tables([transforms.merge_label_tables(parts[:3]),
                                               transforms.merge_label_tables(parts[3:])])
        table = transforms.add_launched_noise(table, (0.1, 0.5), 5, fine_to_coarse)
        got_ids, _, noisy, got_fine = table["train"]
        assert got_ids.tolist() == sorted(ids)
        np.testing.assert_array_equal(noisy, np.stack(want, axis=1))
        np.testing.assert_array_equal(got_fine, fine[by_id])
        # The test split keeps its true labels in the noisy columns.
        np.testing.assert_array_equal(table["test"][2], np.stack([table["test"][3]] * 2, axis=1))
        assert table["test"][0].tolist() == sorted(test_ids)
        results.append(noisy)
    assert all(np.array_equal(r, results[0]) for r in results)


def test_launched_ranks_and_noise_with_test_pipeline():
    examples = [{records.ID: f"train/{i:03d}", records.FINE: i % 4, records.COARSE: (i % 4) // 2}
                for i in range(60)]
    ids = [e[records.ID] for e in examples]
    fine = np.array([e[records.FINE] for e in examples])
    ranks = label_variants.class_balanced_ranks(ids, fine, 11)
    kept = ranks < 12
    kept_ids = [i for i, k in zip(ids, kept) if k]
    noisy = label_variants.inject_launched_noise(kept_ids, fine[kept], np.array([0, 0, 1, 1]),
                                                 0.5, 11)
    expected = [(i, int(r), int(n)) for i, r, n in zip(kept_ids, ranks[kept], noisy)]

    def chunk(index, part):
        return ("train", index, {records.ID: [e[records.ID] for e in part],
                                 records.FINE: np.array([e[records.FINE] for e in part]),
                                 records.COARSE: np.array([e[records.COARSE] for e in part])})

    for size in (7, 60):
        chunks = [chunk(k, examples[k * size:(k + 1) * size][::-1])
                  for k in range(-(-60 // size))]
        with BeamTestPipeline() as p:
            got = (p | beam.Create(chunks[::-1])
                   | transforms.AssignRanksAndNoise((0.5,), 11, {"train": 12}, "launched")
                   | beam.CombineGlobally(transforms.merge_label_tables)
                   | beam.Map(transforms.add_launched_noise, (0.5,), 11, (0, 0, 1, 1))
                   | beam.FlatMap(lambda table: [(i, int(r), int(n[0]))
                                                 for i, r, n, _ in zip(*table["train"])]))
            assert_that(got, equal_to(expected))


def _parse_build_args(argv):
    parser = argparse.ArgumentParser()
    example_gen_main.add_arguments(parser)
    return parser.parse_args(["--dataset", "cifar10", "--hierarchy", "cifar10", "--out", "o",
                              "--noise", "0.1,0.3", *argv])


def test_cli_noise_kind_reaches_the_build_config():
    assert example_gen_main.build_config(_parse_build_args([])).noise_kind == "within_coarse"
    cfg = example_gen_main.build_config(_parse_build_args(["--noise-kind", "launched"]))
    assert cfg.noise_kind == "launched"
    assert cfg.noise_variants == ("launched_0.1", "launched_0.3")
    err = io.StringIO()
    with pytest.raises(SystemExit) as e, contextlib.redirect_stderr(err):
        _parse_build_args(["--noise-kind", "across"])
    assert e.value.code == 2
    assert "--noise-kind: invalid choice: 'across'" in err.getvalue(), err.getvalue()
    assert "within_coarse" in err.getvalue() and "launched" in err.getvalue()


def test_cli_source_flags_make_one_source_access(monkeypatch):
    monkeypatch.setenv("LG_DATA_DIR", os.pathsep.join(["/env/a", "", "/env/b"]))
    access = example_gen_main.source_access_from_args(_parse_build_args(
        ["--data-dir", "/x", "--data-dir", "/y", "--tfds-data-dir", "/tfds", "--no-download",
         "--beam-args", "--runner=DataflowRunner  --project=P"]))
    assert access == SourceAccess(
        data_dirs=("/x", "/y", "/env/a", "/env/b", *example_gen_main.DEFAULT_DATA_DIRS),
        tfds_data_dir="/tfds", allow_download=False,
        beam_args=("--runner=DataflowRunner", "--project=P"))
    monkeypatch.delenv("LG_DATA_DIR")
    # '' and an absent --tfds-data-dir both mean TFDS's default: one value, None.
    for argv in ([], ["--tfds-data-dir", ""]):
        assert example_gen_main.source_access_from_args(_parse_build_args(argv)) == SourceAccess(
            data_dirs=example_gen_main.DEFAULT_DATA_DIRS)


def test_container_source_flags_take_the_dirs_as_given(monkeypatch):
    """A compiled pipeline's dirs are the containers' paths: no $LG_DATA_DIR, no defaults."""
    monkeypatch.setenv("LG_DATA_DIR", "/here")
    parser = argparse.ArgumentParser()
    example_gen_main.add_source_arguments(parser, containers=True, download=False)
    access = example_gen_main.source_access_from_args(
        parser.parse_args(["--data-dir", "/data", "--beam-args=--runner=R"]))
    assert access == SourceAccess(data_dirs=("/data",), beam_args=("--runner=R",))
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        parser.parse_args(["--no-download"])


def test_source_access_crosses_kfp_as_the_component_parameters():
    access = SourceAccess(data_dirs=("/data", "/more"), tfds_data_dir="/tfds",
                          allow_download=False, beam_args=("--runner=R", "--project=P"))
    params = access.kfp_arguments()
    assert params == {"data_dirs_json": '["/data", "/more"]', "tfds_data_dir": "/tfds",
                      "beam_args": "--runner=R --project=P", "allow_download": False}
    assert SourceAccess.from_kfp_arguments(**params) == access
    # The defaults are the component's parameter defaults (kfp_component.example_gen).
    assert SourceAccess().kfp_arguments() == {"data_dirs_json": "[]", "tfds_data_dir": "",
                                              "beam_args": "", "allow_download": True}
    for bad in ('"/data"', "[1]", "{not json"):
        with pytest.raises(ConfigError, match="data_dirs_json must be a JSON list of paths"):
            SourceAccess.from_kfp_arguments(bad, "", "", True)


@pytest.mark.parametrize("kwargs,match", [
    ({"data_dirs": ["/data"]}, "data_dirs must be a tuple of strings; got \\['/data'\\]"),
    ({"beam_args": "--runner=R"}, "beam_args must be a tuple of strings"),
    ({"tfds_data_dir": ""}, "tfds_data_dir must be a non-empty path or None"),
    ({"allow_download": "no"}, "allow_download must be a bool; got 'no'"),
])
def test_source_access_rejects_loose_types(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SourceAccess(**kwargs)


def test_fractions_are_balanced_and_nested(built):
    _, out, _ = built
    info = dataset_info.load_dataset_info(out)
    ids_by_fraction = {}
    all_ids = data.read_ids(info, "train")
    fine_all = data.read_labels(info, "train", ("fine",))["fine"]
    for fraction in (0.2, 0.4, 0.6, 0.8, 1.0):
        kept = data.read_labels(info, "train", ("fine",), fraction=fraction)["fine"]
        counts = np.bincount(kept, minlength=6)
        assert (counts == label_variants.fraction_threshold(30, fraction)).all(), (fraction, counts)
        ids_by_fraction[fraction] = counts
    # Nesting: the examples of a smaller fraction are a subset of a larger one's (by rank).
    _, recs = read_records(out)
    ranks = {i: recs[i][records.RANK] for i in all_ids}
    for fine in range(6):
        members = sorted((ranks[i], i) for i, f in zip(all_ids, fine_all) if f == fine)
        assert [r for r, _ in members] == list(range(30))


def test_rebuild_same_config_is_skipped_and_different_config_refused(built, folder):
    cfg, out, _ = built
    before = os.path.getmtime(os.path.join(out, "dataset.json"))
    executor.run(cfg, SourceAccess(), {"examples": out})
    assert os.path.getmtime(os.path.join(out, "dataset.json")) == before
    with pytest.raises(RunDirError, match="different config"):
        executor.run(BuildConfig(dataset=cfg.dataset, hierarchy=cfg.hierarchy, seed=9),
                     SourceAccess(), {"examples": out})


def test_failed_build_leaves_nothing(folder, tmp_path):
    root, _, yaml_path = folder
    images = tmp_path / "images"
    datagen.write_image_folder(images, CLASSES, 3, 2)
    (images / "train" / "cat" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 10)
    out = tmp_path / "out"
    with pytest.raises(Exception, match="0001.png"):
        executor.run(BuildConfig(dataset=f"folder:{images}", hierarchy=yaml_path),
                     SourceAccess(), {"examples": str(out)})
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out")] == []


def test_subset_hierarchy_drops_classes_and_max_per_class(folder, tmp_path):
    root, _, _ = folder
    yaml_path = datagen.write_hierarchy(tmp_path / "sub.yaml", {"a": ["ant"], "b": ["fox", "dog"]})
    out = tmp_path / "sub"
    executor.run(BuildConfig(dataset=f"folder:{root / 'images'}", hierarchy=yaml_path,
                             max_train_per_class=7, max_test_per_class=2),
                 SourceAccess(), {"examples": str(out)})
    info, recs = read_records(out)
    assert info.fine_names == ["dog", "ant", "fox"] or sorted(info.fine_names) == ["ant", "dog", "fox"]
    assert info.meta["counts"]["train"]["total"] == 21 and info.meta["counts"]["test"]["total"] == 6
    assert all(f[records.RANK] < 7 for i, f in recs.items() if i.startswith("train/"))


def _shard_of_each_record(out):
    info = dataset_info.load_dataset_info(str(out))
    return {records.decode_example(raw.numpy())[records.ID].decode(): os.path.basename(file)
            for split in ("train", "test") for file in info.files(split)
            for raw in tf.data.TFRecordDataset(file)}


def test_a_subset_build_decodes_only_what_it_keeps_into_the_full_builds_shards(
        folder, built, tmp_path):
    """The subset is drawn on the labels alone, before any image is decoded.

    An image the subset leaves out is never read as an image (a broken one does not fail the
    build), and every kept record lies in the shard the full build puts it in.
    """
    root, _, yaml_path = folder
    _, full_dir, _ = built
    _, full = read_records(full_dir)
    dropped = sorted(i for i, f in full.items()
                     if i.startswith("train/cat/") and f[records.RANK] >= 7)
    images = tmp_path / "images"
    shutil.copytree(root / "images", images)
    (images / dropped[0]).write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 10)
    out = tmp_path / "sub"
    executor.run(BuildConfig(dataset=f"folder:{images}", hierarchy=yaml_path, noise=(0.3, 1.0),
                             seed=3, max_train_per_class=7, max_test_per_class=2),
                 SourceAccess(), {"examples": str(out)})
    _, sub = read_records(out)
    assert dropped[0] not in sub and len(sub) == 6 * (7 + 2)
    assert all(sub[i][records.IMAGE] == full[i][records.IMAGE] for i in sub)
    full_shards = _shard_of_each_record(full_dir)
    assert {i: full_shards[i] for i in sub} == _shard_of_each_record(out)


def test_prepare_chunk_decodes_the_label_tables_rows_and_keeps_their_places():
    raw = [RawExample(id=f"train/{i}", label=i % 3, payload=b"not an image", format="png")
           for i in range(6)]
    label_map = transforms.LabelMap(source_to_fine=(0, -1, 1), fine_to_coarse=(0, 0))
    decoded = []

    def fake_prepare(raw_example, split, encoding):
        decoded.append(raw_example.id)
        return dict.fromkeys(transforms._EXAMPLE_FIELDS, 0) | {records.ID: raw_example.id,
                                                               "moments": (0.0,) * 7}

    table = {"train": (np.array(["train/3", "train/5"], object), np.array([0, 1]),
                       np.zeros((2, 0), np.int64), np.array([0, 1]))}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transforms, "prepare_example", fake_prepare)
        _, _, columns = transforms.prepare_chunk(("train", 2, raw), label_map, "auto", table)
        assert decoded == ["train/3", "train/5"]
        # Rows in the hierarchy: 0, 2, 3, 5 (label 1 is dropped); 3 and 5 are its 3rd and 4th.
        assert columns[transforms.POSITION].tolist() == [2, 3]
        assert columns[records.FINE].tolist() == [0, 1]
        _, _, every = transforms.prepare_chunk(("train", 2, raw), label_map, "auto")
        assert every[records.ID] == ["train/0", "train/2", "train/3", "train/5"]
        assert every[transforms.POSITION].tolist() == [0, 1, 2, 3]
    _, _, labels_side = transforms.label_chunk(("train", 2, raw), label_map)
    assert labels_side[records.ID] == every[records.ID]
    assert labels_side[records.COARSE].tolist() == [0, 0, 0, 0]


def test_hierarchy_that_does_not_fit_the_dataset(folder, tmp_path):
    root, _, _ = folder
    yaml_path = datagen.write_hierarchy(tmp_path / "bad.yaml", {"a": ["ant"], "b": ["zebra"]})
    with pytest.raises(HierarchyError, match="zebra"):
        executor.run(BuildConfig(dataset=f"folder:{root / 'images'}", hierarchy=yaml_path),
                     SourceAccess(), {"examples": str(tmp_path / "o")})
    assert not (tmp_path / "o").exists()


def test_varied_size_jpeg_synset_folder_gzip(tmp_path):
    synsets = ["n02085620", "n02085936", "n02123045", "n02123159"]
    datagen.write_image_folder(tmp_path / "imagenet", synsets, 4, 2, size=(20, 24),
                               vary_size=True, fmt="jpeg")
    yaml_path = datagen.write_hierarchy(tmp_path / "dc.yaml", {"dog": synsets[:2], "cat": synsets[2:]})
    out = tmp_path / "out"
    executor.run(BuildConfig(dataset=f"folder:{tmp_path / 'imagenet'}", hierarchy=yaml_path,
                             compression="gzip"), SourceAccess(), {"examples": str(out)})
    info, recs = read_records(out)
    assert info.fixed_size is None and info.compression == "GZIP"
    shapes = {(f[records.HEIGHT], f[records.WIDTH]) for f in recs.values()}
    assert len(shapes) > 3
    assert all(f[records.IMAGE_FORMAT] == b"jpeg" for f in recs.values())


def test_ranks_and_noise_transform_with_test_pipeline():
    examples = [{"split": "train", records.ID: f"train/{i:03d}", records.FINE: i % 4,
                 records.COARSE: (i % 4) // 2} for i in range(40)]
    ids = [e[records.ID] for e in examples]
    fine = np.array([e[records.FINE] for e in examples])
    coarse = np.array([e[records.COARSE] for e in examples])
    ranks = label_variants.class_balanced_ranks(ids, fine, 11)
    kept = ranks < 8  # the subset is drawn first; the noise then runs over the kept examples
    kept_ids = [i for i, k in zip(ids, kept) if k]
    noisy = label_variants.inject_fine_label_noise(kept_ids, fine[kept], coarse[kept], 0.5, 11)
    expected = [(("train", i), int(r), int(n)) for i, r, n in zip(kept_ids, ranks[kept], noisy)]

    def chunk(index, part):  # the columns of `prepare_chunk` that the labels side reads
        return ("train", index, {records.ID: [e[records.ID] for e in part],
                                 records.FINE: np.array([e[records.FINE] for e in part]),
                                 records.COARSE: np.array([e[records.COARSE] for e in part])})

    # Chunks in reverse and uneven: the result may not depend on how examples are chunked.
    chunks = [chunk(0, examples[:7][::-1]), chunk(1, examples[7:][::-1])]
    with BeamTestPipeline() as p:
        got = (p | beam.Create(chunks[::-1])
               | transforms.AssignRanksAndNoise((0.5,), 11, {"train": 8})
               | beam.CombineGlobally(transforms.merge_label_tables)
               | beam.FlatMap(lambda table: [(("train", i), int(r), int(n[0]))
                                             for i, r, n, _ in zip(*table["train"])]))
        assert_that(got, equal_to(expected))


def test_lookup_labels_finds_kept_ids_only():
    table = transforms.merge_label_tables([
        {"train": (np.array(["b", "d"], object), np.array([1, 3]), np.array([[10], [30]]))},
        {"train": (np.array(["a"], object), np.array([0]), np.array([[0]]))}])
    kept, ranks, noisy = transforms.lookup_labels(table, "train", ["d", "c", "a", "z"])
    assert kept.tolist() == [True, False, True, False]
    assert ranks.tolist() == [3, 0] and noisy.tolist() == [[30], [0]]
    assert not transforms.lookup_labels(table, "test", ["a"])[0].any()


def test_stats_combine_fn_counts():
    fn = shards.DatasetStatsFn(("0.1",), fine_to_coarse=(0, 0, 1))
    rec = lambda f, n: ("train", {records.FINE: f, records.COARSE: f // 2, records.CHANNELS: 3,
                                   records.HEIGHT: 2, records.WIDTH: 2,
                                   records.noise_feature("0.1"): n}, np.ones(7))
    with BeamTestPipeline() as p:
        got = (p | beam.Create([rec(0, 0), rec(0, 1), rec(1, 1), rec(1, 2), rec(2, 0)])
               | beam.CombineGlobally(fn)
               | beam.Map(lambda acc: (acc["fine"], acc["changed"], acc["coarse_changed"],
                                       acc["moments"].tolist())))
        assert_that(got, equal_to([({"train": {0: 2, 1: 2, 2: 1}}, {"train": {"0.1": 3}},
                                    {"train": {"0.1": 2}}, [5.0] * 7)]))


@pytest.mark.parametrize("dataset,hierarchy,per_class,fine,coarse", [
    ("cifar100", "cifar100_animals", 4, 50, 10),
    ("cifar10", "cifar10_custom_3", 5, 10, 2),
    ("fashion_mnist", "fashion_mnist", 3, 10, 2),
])
def test_real_sources_subset_builds(shared_data_dir, tmp_path, dataset, hierarchy, per_class,
                                    fine, coarse):
    require_copy(dataset)
    out = tmp_path / dataset
    meta = executor.run(
        BuildConfig(dataset=dataset, hierarchy=hierarchy, noise=(0.1,),
                    max_train_per_class=per_class, max_test_per_class=per_class),
        SourceAccess(data_dirs=(shared_data_dir, "/usr/share/datasets"), allow_download=False),
        {"examples": str(out)})
    assert meta["counts"]["train"]["total"] == per_class * fine
    assert len(meta["hierarchy"]["coarse_names"]) == coarse
    info, recs = read_records(out)
    for fields in recs.values():
        assert fields[records.COARSE] == info.fine_to_coarse[fields[records.FINE]]


@pytest.mark.slow
@pytest.mark.parametrize("dataset,hierarchy,train,test,per_fine,per_coarse", [
    ("cifar100", "cifar100", 50_000, 10_000, (500, 100), (2_500, 500)),
    ("cifar100", "cifar100_animals", 25_000, 5_000, (500, 100), (2_500, 500)),
    ("cifar10", "cifar10", 50_000, 10_000, (5_000, 1_000), None),
    ("fashion_mnist", "fashion_mnist", 60_000, 10_000, (6_000, 1_000), None),
])
def test_real_full_builds(shared_data_dir, tmp_path, dataset, hierarchy, train, test, per_fine,
                          per_coarse):
    require_copy(dataset)
    out = tmp_path / "full"
    meta = executor.run(BuildConfig(dataset=dataset, hierarchy=hierarchy, noise=(0.1,)),
                        SourceAccess(data_dirs=(shared_data_dir, "/usr/share/datasets"),
                                     allow_download=False),
                        {"examples": str(out)})
    assert meta["counts"]["train"]["total"] == train and meta["counts"]["test"]["total"] == test
    for split, n in zip(("train", "test"), per_fine):
        assert set(meta["counts"][split]["fine"].values()) == {n}
    if per_coarse:
        for split, n in zip(("train", "test"), per_coarse):
            assert set(meta["counts"][split]["coarse"].values()) == {n}


def test_folder_without_test_split_builds_a_recorded_held_out_split(tmp_path):
    """A folder of class folders only: the builder holds out a seeded, class-balanced test split
    and records its rule in dataset.json; the same config rebuilds the same split."""
    datagen.write_image_folder(tmp_path / "src", CLASSES[:4], 10, 0, size=(4, 4))
    os.rename(tmp_path / "src" / "train", tmp_path / "flat")
    yaml_path = datagen.write_hierarchy(tmp_path / "h.yaml", {"a": CLASSES[:2], "b": CLASSES[2:4]})
    cfg = BuildConfig(dataset=f"folder:{tmp_path / 'flat'}", hierarchy=yaml_path, seed=2,
                      test_fraction=0.2)
    meta = executor.run(cfg, SourceAccess(), {"examples": str(tmp_path / "built")})
    assert meta["counts"]["test"]["fine"] == dict.fromkeys(CLASSES[:4], 2)
    assert meta["counts"]["train"]["fine"] == dict.fromkeys(CLASSES[:4], 8)
    assert meta["build"]["test_fraction"] == 0.2
    assert meta["source"]["held_out"] == {
        "test_fraction": 0.2, "seed": 2, "from": "./",
        "rule": "per class, the round(test_fraction * n) images of lowest "
                "sha256('held_out:<seed>:<example id>') form the test split"}
    info, recs = read_records(str(tmp_path / "built"))
    source = sources.open_source(cfg.dataset, [], test_fraction=0.2, seed=2)
    assert sorted(e.id for e in source.examples("test")) == sorted(data.read_ids(info, "test"))
    assert len(recs) == 40
    assert config_hash(BuildConfig(dataset=cfg.dataset, hierarchy=yaml_path, seed=2)) != (
        config_hash(cfg))
    with pytest.raises(ConfigError, match=r"test_fraction applies to image folders"):
        BuildConfig(dataset="cifar10", test_fraction=0.2)
