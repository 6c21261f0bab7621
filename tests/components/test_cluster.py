"""The cluster component: a clustered copy of a built dataset, the Beam relabelling, the CLI."""

import hashlib
import json
import os

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from components.cluster import executor, kfp_component, transforms
from components.example_gen import executor as example_gen
from components.example_gen.source_access import SourceAccess
from lg_keras import data, dataset_info, records
from lg_keras.component_configs import ClusterConfig
from lg_keras.config import BuildConfig, DataConfig
from lg_keras.errors import ConfigError, DataError, RunDirError
from pipelines import cli
from tests.helpers import datagen
# Session fixtures shared with the evaluator tests (one tiny trained run per session).
from tests.helpers.evaluator_fixtures import (  # noqa: F401  pylint: disable=unused-import
    FINE_FRACTION, tiny_dataset, tiny_runs)

# Two fine classes per coarse class, each a flat colour plus a little noise: pixel clusters with
# k=2 must recover the fine classes exactly.
COLOURS = {"ant": (220, 30, 30), "bee": (30, 220, 30), "cat": (30, 30, 220),
           "dog": (220, 220, 30), "eel": (30, 220, 220), "fox": (220, 30, 220)}
COARSE = {"small": ["ant", "bee"], "pets": ["cat", "dog"], "wild": ["eel", "fox"]}
TRAIN_PER_CLASS, TEST_PER_CLASS = 10, 4


def write_colour_folder(root, seed=0):
    rng = np.random.default_rng(seed)
    for split, count in (("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)):
        for name, colour in COLOURS.items():
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for i in range(count):
                pixels = np.asarray(colour, np.float64) + rng.normal(0, 12, (8, 8, 3))
                Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                    os.path.join(folder, f"{i:03d}.png"))
    return root


def read_by_id(path):
    """{id: decoded record} and [(split, shard name, [ids in file order])] of a dataset."""
    info = dataset_info.load_dataset_info(path)
    recs, layout = {}, []
    for split in ("train", "test"):
        for file in info.files(split):
            ids = []
            for raw in tf.data.TFRecordDataset(file, compression_type=info.compression):
                fields = records.decode_example(raw.numpy())
                recs[fields[records.ID].decode()] = fields
                ids.append(fields[records.ID].decode())
            layout.append((split, os.path.basename(file), ids))
    return recs, layout


def tree_digest(path):
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(path)):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                digest.update(name.encode() + f.read())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster_src")
    images = write_colour_folder(str(root / "images"))
    hierarchy = datagen.write_hierarchy(root / "h.yaml", COARSE, name="colours")
    out = str(root / "dataset")
    example_gen.run(BuildConfig(dataset=f"folder:{images}", hierarchy=hierarchy, train_shards=2,
                                test_shards=1, noise=(0.5,)),
                    SourceAccess(), {"examples": out})
    return out


@pytest.fixture(scope="module")
def clustered(source, tmp_path_factory):
    before = tree_digest(source)
    out = str(tmp_path_factory.mktemp("cluster_out") / "clustered")
    meta = executor.run({"k": [2, 3], "features": "pixels", "seed": 4}, {"examples": source},
                        {"examples": out})
    return out, meta, before


def test_metadata_describes_the_cluster_views(source, clustered):
    out, meta, _ = clustered
    info = dataset_info.load_dataset_info(out)
    src = dataset_info.load_dataset_info(source)
    assert info.label_views() == ["fine", "coarse", "fine_noise_0.5", "fine_cluster_2",
                                  "fine_cluster_3"]
    assert info.num_classes("fine_cluster_3") == 9
    np.testing.assert_array_equal(info.view_to_coarse("fine_cluster_2"), [0, 0, 1, 1, 2, 2])
    entry = info.meta["clusters"]["2"]
    assert entry["features"] == "pixels" and entry["seed"] == 4 and entry["k"] == 2
    assert entry["feature_dim"] == 8 * 8 * 3 and entry["features_run_config_hash"] is None
    for split, total in (("train", 6 * TRAIN_PER_CLASS), ("test", 6 * TEST_PER_CLASS)):
        # Flat colours: the two clusters of each coarse class are its two fine classes.
        for kind in ("agreement", "agreement_within_coarse"):
            assert entry[kind][split] == {"adjusted_rand_index": pytest.approx(1.0),
                                          "normalized_mutual_info": pytest.approx(1.0)}
        assert entry["counts"][split] == [total // 6] * 6
        assert sum(info.meta["clusters"]["3"]["counts"][split]) == total
    assert info.meta["features"]["int64"][-2:] == ["fine_label_cluster_2", "fine_label_cluster_3"]
    assert info.meta["config_hash"] != src.meta["config_hash"]
    assert info.meta["derived_from"] == {"path": src.path, "config_hash": src.meta["config_hash"]}
    for key in ("hierarchy", "counts", "image", "build", "noise", "format_version"):
        assert info.meta[key] == src.meta[key]
    assert meta == info.meta


def test_records_are_the_source_records_plus_labels_in_the_same_layout(source, clustered):
    out, _, _ = clustered
    src_recs, src_layout = read_by_id(source)
    new_recs, new_layout = read_by_id(out)
    assert new_layout == src_layout  # same shard names, same records, same order
    k_of = {records.cluster_feature(2): 2, records.cluster_feature(3): 3}
    for example_id, fields in new_recs.items():
        extra = {key: fields.pop(key) for key in k_of}
        assert fields == src_recs[example_id]
        for key, k in k_of.items():
            assert extra[key] // k == fields[records.COARSE]


def test_source_dataset_is_untouched(source, clustered):
    _, _, before = clustered
    assert tree_digest(source) == before
    assert "clusters" not in dataset_info.load_dataset_info(source).meta


def test_cluster_view_trains_and_evaluates(clustered):
    out, _, _ = clustered
    info = dataset_info.load_dataset_info(out)
    cfg = DataConfig(dataset_dir=out, labels="fine_cluster_2", batch_size=16)
    labels = np.concatenate([y.numpy() for _, y in data.train_dataset(
        info, cfg, seed=0, start_epoch=0, end_epoch=1)])
    assert len(labels) == 6 * TRAIN_PER_CLASS and set(labels) == set(range(6))
    expected = data.read_labels(info, "train", ("fine_cluster_2", "fine"))
    np.testing.assert_array_equal(np.sort(labels), np.sort(expected["fine_cluster_2"]))
    batches = list(data.eval_dataset(info, "test", cfg, ("fine_cluster_2", "coarse")))
    test = {v: np.concatenate([b[1][v].numpy() for b in batches]) for v in batches[0][1]}
    np.testing.assert_array_equal(test["fine_cluster_2"] // 2, test["coarse"])


def test_same_seed_same_labels_and_rerun_is_a_no_op(source, clustered, tmp_path):
    out, meta, _ = clustered
    again = str(tmp_path / "again")
    meta2 = executor.run(ClusterConfig(k=(2, 3), features="pixels", seed=4),
                         {"examples": source}, {"examples": again})
    a, _ = read_by_id(out)
    b, _ = read_by_id(again)
    assert a == b
    assert meta2["config_hash"] == meta["config_hash"]
    assert {k: v for k, v in meta2["clusters"].items()} == meta["clusters"]
    # The same call on the finished output returns it without rebuilding.
    assert executor.run({"k": [2, 3], "features": "pixels", "seed": 4}, {"examples": source},
                        {"examples": out})["built_at"] == meta["built_at"]


def test_refusals_write_nothing(source, clustered, tmp_path):
    out, _, _ = clustered
    target = str(tmp_path / "nothing")
    with pytest.raises(DataError, match=r"k=21 .*coarse class 0 \('small'\) has 20"):
        executor.run({"k": [2, 21], "features": "pixels"}, {"examples": source},
                     {"examples": target})
    with pytest.raises(ConfigError, match="features_run"):
        executor.run({"k": [2], "features": "run"}, {"examples": source}, {"examples": target})
    with pytest.raises(ConfigError, match="must differ"):
        executor.run({"k": [2], "features": "pixels"}, {"examples": source}, {"examples": source})
    with pytest.raises(ConfigError, match="Unknown field 'kk'. Available: features, k, seed"):
        executor.run({"kk": [2]}, {"examples": source}, {"examples": target})
    with pytest.raises(ConfigError, match="k must be a list; got 5"):
        executor.run('{"k": 5}', {"examples": source}, {"examples": target})
    with pytest.raises(ConfigError, match="Unknown features 'pca'"):
        executor.run({"k": [2], "features": "pca"}, {"examples": source}, {"examples": target})
    assert not os.path.exists(target)
    with pytest.raises(RunDirError, match="already holds another dataset"):
        executor.run({"k": [2], "features": "pixels", "seed": 9}, {"examples": source},
                     {"examples": out})


def test_relabel_shards_transform(tmp_path):
    shard = str(tmp_path / "data-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(shard) as writer:
        for i in range(3):
            writer.write(records.encode_example({records.ID: f"train/x/{i}", records.FINE: i}))
    out_dir = tmp_path / "out"
    (out_dir / "train").mkdir(parents=True)
    jobs = transforms.shard_jobs({"train": [shard]}, str(out_dir))
    labels = [(("train", f"train/x/{i}"), {"fine_label_cluster_2": 10 + i}) for i in range(3)]
    with BeamTestPipeline() as p:
        counts = p | beam.Create(jobs) | transforms.RelabelShards(
            p | "Labels" >> beam.Create(labels), "")
        assert_that(counts, equal_to([("train", 3)]))
    written = [records.decode_example(r.numpy()) for r in
               tf.data.TFRecordDataset(str(out_dir / "train" / os.path.basename(shard)))]
    assert [(r[records.FINE], r["fine_label_cluster_2"]) for r in written] == [
        (0, 10), (1, 11), (2, 12)]
    with pytest.raises(Exception, match="has no cluster labels"):
        transforms.relabel_shard(("test", shard, str(tmp_path / "x.tfrecord")), "", {})


def test_add_labels_replaces_an_existing_value():
    serialized = records.encode_example({records.ID: "a", "fine_label_cluster_2": 1})
    fields = records.decode_example(transforms.add_labels(serialized, {"fine_label_cluster_2": 3}))
    assert fields == {records.ID: b"a", "fine_label_cluster_2": 3}


def test_cli(source, tmp_path, capsys):
    out = str(tmp_path / "cli")
    args = ["data", "cluster", "--data", source, "--k", "2", "--pixels", "--out", out]
    assert cli.main(args) == 0
    assert "fine_cluster_2: 6 classes" in capsys.readouterr().out
    assert dataset_info.load_dataset_info(out).label_views()[-1] == "fine_cluster_2"
    assert cli.main(["data", "cluster", "--data", source, "--k", "2,x", "--pixels", "--out",
                     str(tmp_path / "bad")]) == 2
    assert "--k must be comma-separated" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --features and --pixels exclude each other
        cli.main(["data", "cluster", "--data", source, "--k", "2", "--pixels", "--features", "r",
                  "--out", out])


def test_kfp_component_compiles(tmp_path):
    from kfp import compiler  # pylint: disable=import-outside-toplevel
    path = str(tmp_path / "cluster.yaml")
    compiler.Compiler().compile(kfp_component.cluster, path)
    with open(path) as f:
        text = f.read()
    assert "features_run" in text and "isOptional: true" in text


def test_features_from_a_real_run(tiny_dataset, tiny_runs, source, tmp_path):
    run_dir = tiny_runs("fine", FINE_FRACTION)
    out = str(tmp_path / "from_run")
    meta = executor.run({"k": [2], "features": "run", "seed": 1},
                        {"examples": tiny_dataset, "features_run": run_dir}, {"examples": out})
    entry = meta["clusters"]["2"]
    with open(os.path.join(run_dir, "config.json")) as f:
        run_config = json.load(f)
    assert entry["features"] == f"run:{os.path.abspath(run_dir)}"
    assert entry["features_run_config_hash"] == run_config["config_hash"]
    info = dataset_info.load_dataset_info(out)
    assert info.label_views()[-1] == "fine_cluster_2"
    cluster_labels = data.read_labels(info, "test", ("fine_cluster_2", "coarse"))
    np.testing.assert_array_equal(cluster_labels["fine_cluster_2"] // 2, cluster_labels["coarse"])
    # The feature width is the model's penultimate width.
    from lg_keras import predictions  # pylint: disable=import-outside-toplevel
    model = predictions.load_model(run_dir)
    assert entry["feature_dim"] == model.get_layer("penultimate").output.shape[-1]
    with pytest.raises(DataError, match="trained on dataset build"):
        executor.run({"k": [2], "features": "run"}, {"examples": source, "features_run": run_dir},
                     {"examples": str(tmp_path / "mismatch")})
