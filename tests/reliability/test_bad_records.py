"""Damaged TFRecord shards: `lg data inspect` names each bad file and exits non-zero, and
training refuses at once, naming the file, instead of training on part of the data.

Damage is seeded: bit flips anywhere in a shard, cuts inside a record, cuts exactly at a record
boundary (a shorter file that still reads without a CRC error: only the per-shard record counts
in dataset.json reveal it), emptied, deleted and stray shards, for plain and gzip shards.
"""

import gzip
import os
import random
import shutil
import struct

import pytest

from components.example_gen import executor as example_gen
from components.example_gen.source_access import SourceAccess
from lg_keras import data, records
from lg_keras.config import BuildConfig
from lg_keras.dataset_info import load_dataset_info
from lg_keras.errors import DataError
from pipelines import cli
from tests.helpers import datagen

KINDS = ("flip", "cut_inside", "cut_at_record", "empty", "delete", "stray")


@pytest.fixture(scope="module")
def gzip_dataset(tmp_path_factory):
    """A tiny gzip-compressed dataset (2 coarse x 2 fine classes, 3 shards a split)."""
    base = tmp_path_factory.mktemp("gzip")
    datagen.write_image_folder(base / "images", ["a", "b", "c", "d"], 6, 3, seed=1)
    hierarchy = datagen.write_hierarchy(base / "h.yaml", {"ab": ["a", "b"], "cd": ["c", "d"]})
    out = str(base / "dataset")
    example_gen.run(BuildConfig(dataset=f"folder:{base / 'images'}", hierarchy=hierarchy,
                                compression="gzip", train_shards=3, test_shards=3),
                    SourceAccess(), {"examples": out})
    return out


def _record_ends(payload: bytes) -> list[int]:
    ends, pos = [], 0
    while pos < len(payload):
        pos += 12 + struct.unpack("<Q", payload[pos:pos + 8])[0] + 4
        ends.append(pos)
    return ends


def damage(path: str, kind: str, gzipped: bool, rng: random.Random) -> str:
    """Damages the shard at `path` in place; returns the file a reader must name."""
    with open(path, "rb") as f:
        raw = f.read()
    if kind == "delete":
        os.remove(path)
        return path
    if kind == "stray":
        suffix = ".tfrecord.gz" if gzipped else ".tfrecord"
        stray = os.path.join(os.path.dirname(path), "data-stray" + suffix)
        shutil.copy(path, stray)
        return stray
    if kind == "flip":
        # The first 10 bytes of a gzip file are a header whose timestamp and OS bytes nobody checks.
        pos = rng.randrange(10 if gzipped else 0, len(raw))
        damaged = raw[:pos] + bytes([raw[pos] ^ (1 << rng.randrange(8))]) + raw[pos + 1:]
    elif kind == "cut_inside":
        damaged = raw[:rng.randrange(1, len(raw))]
        if not gzipped:  # keep it inside a record: a boundary cut is the next kind
            ends = _record_ends(raw)
            while len(damaged) in ends:
                damaged = raw[:rng.randrange(1, len(raw))]
    elif kind == "cut_at_record":
        plain = gzip.decompress(raw) if gzipped else raw
        ends = _record_ends(plain)
        plain = plain[:ends[rng.randrange(len(ends) - 1)]]
        damaged = gzip.compress(plain) if gzipped else plain
    else:
        assert kind == "empty"
        damaged = b""
    with open(path, "wb") as f:
        f.write(damaged)
    return path


def _check_damage(source, compressed, cases, tmp_path, capsys, counts):
    """Damages a copy of `source` once per (kind, split, seed); both readers must name the file."""
    for kind, split, seed in cases:
        rng = random.Random(seed)
        copy = str(tmp_path / f"{kind}-{split}-{seed}")
        shutil.copytree(source, copy)
        info = load_dataset_info(copy)
        victim = damage(rng.choice(info.files(split)), kind, compressed, rng)
        name = os.path.basename(victim)
        with pytest.raises(DataError, match=name.replace(".", r"\.")):
            data.verify_shards(info, split)
        assert cli.main(["data", "inspect", copy]) == 2
        out, err = capsys.readouterr()
        assert name in out[out.index("PROBLEMS:"):], (kind, split, out)
        assert "error: " in err and "Traceback" not in err
        shutil.rmtree(copy)
        counts["bad_files_detected"] += 1


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_inspect_and_verify_name_every_damaged_shard(compressed, grid_dataset, gzip_dataset,
                                                     tmp_path, capsys, counts):
    """Each kind of damage once (alternating splits), for plain and gzip shards."""
    source = gzip_dataset if compressed else grid_dataset
    cases = [(kind, ("train", "test")[i % 2], i) for i, kind in enumerate(KINDS)]
    _check_damage(source, compressed, cases, tmp_path, capsys, counts)
    assert cli.main(["data", "inspect", source]) == 0  # the undamaged dataset is clean
    assert "all shards readable" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_many_random_damages_are_all_named(compressed, grid_dataset, gzip_dataset, tmp_path,
                                           capsys, counts):
    """40 seeded random damages per compression (mostly bit flips, the commonest corruption)."""
    rng = random.Random(1234 + compressed)
    kinds = ["flip"] * 4 + list(KINDS)
    cases = [(rng.choice(kinds), rng.choice(["train", "test"]), 100 + i) for i in range(40)]
    _check_damage(gzip_dataset if compressed else grid_dataset, compressed, cases, tmp_path,
                  capsys, counts)


def test_dataset_json_lists_every_shard_with_its_records(grid_dataset):
    info = load_dataset_info(grid_dataset)
    for split in ("train", "test"):
        listed = info.expected_shards(split)
        assert sorted(listed) == sorted(os.path.basename(p) for p in info.files(split))
        assert sum(listed.values()) == info.num_examples(split)
        assert all(records.count_records(os.path.join(grid_dataset, split, name)) == n
                   for name, n in listed.items())


@pytest.mark.parametrize("kind, split", [("cut_at_record", "train"), ("flip", "train"),
                                         ("delete", "train"), ("flip", "test")])
def test_training_refuses_a_damaged_dataset_at_once(kind, split, grid_dataset, tmp_path, capsys,
                                                    counts):
    """`lg train` names the file and exits 2 before building a model or writing the run."""
    copy = str(tmp_path / "copy")
    shutil.copytree(grid_dataset, copy)
    rng = random.Random(7)
    victim = damage(rng.choice(load_dataset_info(copy).files(split)), kind, False, rng)
    run_dir = str(tmp_path / "run")
    code = cli.main(["train", "--data", copy, "--labels", "fine", "--model", "preact_resnet18",
                     "--width", "4", "--epochs", "1", "--batch-size", "32", "--out", run_dir])
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    assert f"error: " in err and os.path.basename(victim) in err, err[-2000:]
    assert "Traceback" not in err
    assert not os.path.exists(run_dir)  # nothing trained, nothing written
    counts["bad_files_detected"] += 1
    counts["training_refused_damaged_dataset"] += 1


def test_legacy_dataset_without_a_shard_listing_still_catches_a_short_split(grid_dataset,
                                                                            tmp_path):
    """Datasets built before dataset.json listed its shards: the split total still catches it."""
    copy = str(tmp_path / "copy")
    shutil.copytree(grid_dataset, copy)
    info = load_dataset_info(copy)
    del info.meta["shards"]
    damage(info.files("train")[0], "cut_at_record", False, random.Random(0))
    with pytest.raises(DataError, match=r"train: \d+ records in .*dataset.json says 384"):
        data.verify_shards(info, "train")
