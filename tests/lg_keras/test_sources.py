"""Tests for lg_keras.sources on small generated CIFAR, image-folder and IDX inputs.

Tests that read the real archives use the `shared_data_dir` fixture (skipped unless LG_DATA_DIR is
set); the Fashion-MNIST one runs when Debian's dataset-fashion-mnist is installed.
"""

import collections
import gzip
import io
import os
import socket
import struct
import tarfile
import threading

import numpy as np
import pytest
from PIL import Image

from components.example_gen.__main__ import DEFAULT_DATA_DIRS
from lg_keras.errors import DataError
from lg_keras.sources import archives, dataset_names, open_source, tfds_source
from lg_keras.sources.cifar import (
    CIFAR10_CLASS_NAMES,
    CIFAR100_COARSE_NAMES,
    CIFAR100_FINE_NAMES,
    CIFAR100_FINE_TO_COARSE,
    Cifar10Source,
    Cifar100Source,
)
from lg_keras.sources.folder import ImageFolderSource
from lg_keras.sources.idx import FASHION_MNIST_CLASS_NAMES, FashionMnistSource
from lg_keras.sources.tfds_source import TfdsSource, can_connect

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
SYNSETS = ("n02085620", "n02085782", "n02086240")


# -- generators ------------------------------------------------------------------------------------


def _cifar_records(rng, n, num_labels, coarse=False):
    """Returns (labels, HWC images, record bytes) for n random CIFAR records."""
    labels = rng.integers(0, num_labels, n).astype(np.uint8)
    images = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
    chw = images.transpose(0, 3, 1, 2).reshape(n, -1)
    header = labels[:, None]
    if coarse:
        header = np.stack([np.asarray(CIFAR100_FINE_TO_COARSE, np.uint8)[labels], labels], 1)
    return labels, images, np.concatenate([header, chw], 1).tobytes()


def _write_cifar100(directory, rng, n_train=7, n_test=3):
    os.makedirs(directory)
    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels, images, blob = _cifar_records(rng, n, 100, coarse=True)
        (directory / f"{split}.bin").write_bytes(blob)
        data[split] = (labels, images)
    (directory / "fine_label_names.txt").write_text("\n".join(CIFAR100_FINE_NAMES) + "\n")
    (directory / "coarse_label_names.txt").write_text("\n".join(CIFAR100_COARSE_NAMES) + "\n")
    return data


def _write_cifar10(directory, rng, per_batch=2):
    os.makedirs(directory)
    data = {"train": [], "test": []}
    files = [("train", f"data_batch_{i}.bin") for i in range(1, 6)] + [("test", "test_batch.bin")]
    for split, filename in files:
        labels, images, blob = _cifar_records(rng, per_batch, 10)
        (directory / filename).write_bytes(blob)
        data[split].append((labels, images))
    (directory / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASS_NAMES) + "\n\n")
    return {s: tuple(np.concatenate(x) for x in zip(*v)) for s, v in data.items()}


def _tar_dir(directory, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return str(archive)


def _image_bytes(fmt, size, seed):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def _write_image_folder(root, classes=SYNSETS, test_dir="test"):
    """Writes 2 train and 1 test image per class, PNG and JPEG of varied sizes; returns formats."""
    formats = {}
    for s, split in enumerate(("train", test_dir)):
        for c, class_name in enumerate(classes):
            os.makedirs(root / split / class_name)
            for i in range(2 - s):
                fmt = "png" if (c + i) % 2 else "jpeg"
                # Extensions lie on purpose: the format comes from the magic bytes.
                name = f"img{i}.{'JPEG' if i else 'png'}"
                blob = _image_bytes(fmt.upper(), (20 + 7 * c, 9 + 5 * i), seed=c * 10 + i)
                (root / split / class_name / name).write_bytes(blob)
                formats[f"{'train' if s == 0 else 'test'}/{class_name}/{name}"] = fmt
    return formats


def _idx_images(images):
    return struct.pack(">IIII", 0x803, len(images), 28, 28) + images.tobytes()


def _idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + labels.tobytes()


def _write_idx(directory, rng, n_train=5, n_test=4, compress=True):
    os.makedirs(directory, exist_ok=True)
    data = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for stem, blob in ((f"{prefix}-images-idx3-ubyte", _idx_images(images)),
                           (f"{prefix}-labels-idx1-ubyte", _idx_labels(labels))):
            if compress:
                (directory / f"{stem}.gz").write_bytes(gzip.compress(blob))
            else:
                (directory / stem).write_bytes(blob)
        data[split] = (labels, images)
    return data


def _add_member(tar, name, data=b"x", kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


# -- CIFAR -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("archive", [False, True])
def test_cifar100_round_trips_pixels_and_labels(tmp_path, archive):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-100-binary"
    data = _write_cifar100(folder, rng)
    path = _tar_dir(folder, tmp_path / "cifar-100-binary.tar.gz") if archive else str(folder)
    source = Cifar100Source(path)
    assert source.class_names == CIFAR100_FINE_NAMES
    assert source.coarse_label_names == CIFAR100_COARSE_NAMES
    assert source.official_fine_to_coarse == CIFAR100_FINE_TO_COARSE
    assert source.describe()["archive"] is archive
    for split, (labels, images) in data.items():
        examples = list(source.examples(split))
        assert [e.id for e in examples] == [f"{split}/{i:06d}" for i in range(len(labels))]
        assert [e.label for e in examples] == labels.tolist()
        for example, image in zip(examples, images):
            assert (example.format, example.shape, example.path) == ("raw", (32, 32, 3), None)
            assert example.payload == image.tobytes()


def test_cifar100_official_map_sample():
    assert len(CIFAR100_FINE_TO_COARSE) == 100
    assert sorted(collections.Counter(CIFAR100_FINE_TO_COARSE).values()) == [5] * 20
    coarse_names = (CIFAR100_COARSE_NAMES[c] for c in CIFAR100_FINE_TO_COARSE)
    name = dict(zip(CIFAR100_FINE_NAMES, coarse_names))
    assert name["apple"] == "fruit_and_vegetables"
    assert name["whale"] == "aquatic_mammals"
    assert name["tractor"] == "vehicles_2"


def test_cifar100_refuses_coarse_label_off_the_official_map(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    _write_cifar100(folder, np.random.default_rng(1))
    blob = bytearray((folder / "test.bin").read_bytes())
    blob[3074] = (blob[3074] + 1) % 20  # Record 1's coarse label.
    (folder / "test.bin").write_bytes(bytes(blob))
    with pytest.raises(DataError, match=r"test\.bin: record 1 pairs fine label"):
        list(Cifar100Source(str(folder)).examples("test"))


def test_cifar100_refuses_truncated_file(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    _write_cifar100(folder, np.random.default_rng(2))
    blob = (folder / "train.bin").read_bytes()
    (folder / "train.bin").write_bytes(blob[:-10])
    with pytest.raises(DataError, match=r"train\.bin has \d+ bytes, not a positive multiple"):
        Cifar100Source(str(folder))
    archive = _tar_dir(folder, tmp_path / "c.tar.gz")
    with pytest.raises(DataError, match=r"cifar-100-binary/train\.bin has"):
        Cifar100Source(archive)


def test_cifar100_refuses_missing_file_and_wrong_names(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    _write_cifar100(folder, np.random.default_rng(3))
    (folder / "coarse_label_names.txt").write_text("\n".join(reversed(CIFAR100_COARSE_NAMES)))
    with pytest.raises(DataError, match=r"coarse_label_names\.txt must list the 20 official"):
        Cifar100Source(str(folder))
    os.remove(folder / "test.bin")
    with pytest.raises(DataError, match=r"lacks test\.bin"):
        Cifar100Source(str(folder))


@pytest.mark.parametrize("archive", [False, True])
def test_cifar10_numbers_train_records_across_batches(tmp_path, archive):
    folder = tmp_path / "cifar-10-batches-bin"
    data = _write_cifar10(folder, np.random.default_rng(4))
    path = _tar_dir(folder, tmp_path / "cifar-10-binary.tar.gz") if archive else str(folder)
    source = Cifar10Source(path)
    assert source.class_names == CIFAR10_CLASS_NAMES
    train = list(source.examples("train"))
    assert [e.id for e in train] == [f"train/{i:06d}" for i in range(10)]
    labels, images = data["train"]
    assert [e.label for e in train] == labels.tolist()
    assert [e.payload for e in train] == [image.tobytes() for image in images]
    assert len(list(source.examples("test"))) == 2


# -- unsafe archives -------------------------------------------------------------------------------


_UNSAFE_MEMBERS = {
    "traversal": dict(name="top/../../evil.bin"),
    "absolute": dict(name="/tmp/evil.bin"),
    "symlink": dict(name="top/link", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
    "hardlink": dict(name="top/hard", kind=tarfile.LNKTYPE, linkname="top/train/a/x.png"),
    "device": dict(name="top/dev", kind=tarfile.CHRTYPE),
}


@pytest.mark.parametrize("kind", sorted(_UNSAFE_MEMBERS))
@pytest.mark.parametrize("source_cls", [Cifar100Source, ImageFolderSource])
def test_archives_with_unsafe_members_are_refused(tmp_path, kind, source_cls):
    archive = tmp_path / "top.tar.gz"
    png = _image_bytes("PNG", (4, 4), 0)
    with tarfile.open(archive, "w:gz") as tar:
        for split in ("train", "test"):
            _add_member(tar, f"top/{split}/a/x.png", png)
        _add_member(tar, **_UNSAFE_MEMBERS[kind])
    with pytest.raises(DataError, match=r"Refusing .*top\.tar\.gz: member"):
        source_cls(str(archive))
    assert not os.path.exists(tmp_path / "evil.bin")


def test_an_archive_is_listed_once_while_it_is_unchanged(tmp_path):
    archive = tmp_path / "top.tar.gz"
    png = _image_bytes("PNG", (4, 4), 0)

    def write(names):
        with tarfile.open(archive, "w:gz") as tar:
            for name in names:
                _add_member(tar, name, png)

    write(["top/train/a/x.png", "top/test/a/x.png"])
    first = archives.tar_listing(str(archive))
    assert [name for name, _ in first] == ["top/train/a/x.png", "top/test/a/x.png"]
    assert archives.tar_listing(str(archive)) is first
    write(["top/train/a/x.png", "top/train/b/y.png", "top/test/a/x.png", "top/test/b/y.png"])
    assert "top/train/b/y.png" in [name for name, _ in archives.tar_listing(str(archive))]
    assert list(ImageFolderSource(str(archive)).class_names) == ["a", "b"]
    # A refused archive is refused again: errors are not kept.
    with tarfile.open(archive, "w:gz") as tar:
        _add_member(tar, **_UNSAFE_MEMBERS["traversal"])
    for _ in range(2):
        with pytest.raises(DataError, match="Refusing"):
            archives.tar_listing(str(archive))


# -- image folders ---------------------------------------------------------------------------------


def test_image_folder_directory_yields_paths_and_magic_formats(tmp_path):
    formats = _write_image_folder(tmp_path / "imagenet", test_dir="val")
    source = ImageFolderSource(str(tmp_path / "imagenet"))
    assert source.class_names == SYNSETS
    examples = list(source.examples("train")) + list(source.examples("test"))
    assert {e.id: e.format for e in examples} == formats
    for e in examples:
        assert e.payload is None and e.shape is None
        assert e.label == SYNSETS.index(e.id.split("/")[1])
        with open(e.path, "rb") as f:
            Image.open(f).verify()
    assert source.describe()["split_dirs"] == {"train": "train", "test": "val"}


def test_image_folder_archive_matches_directory(tmp_path):
    root = tmp_path / "cifar-10-jpg"
    _write_image_folder(root)
    archive = _tar_dir(root, tmp_path / "cifar-10-jpg.tar.gz")
    from_dir, from_tar = ImageFolderSource(str(root)), ImageFolderSource(archive)
    assert from_dir.class_names == from_tar.class_names == SYNSETS
    for split in ("train", "test"):
        expected = {}
        for e in from_dir.examples(split):
            with open(e.path, "rb") as f:
                expected[e.id] = (e.label, e.format, f.read())
        got = {e.id: (e.label, e.format, e.payload) for e in from_tar.examples(split)}
        assert got == expected
        assert all(e.path is None for e in from_tar.examples(split))


def test_image_folder_plain_tar_without_top_folder(tmp_path):
    png, jpeg = _image_bytes("PNG", (5, 3), 0), _image_bytes("JPEG", (3, 5), 1)
    archive = tmp_path / "flat.tar"
    with tarfile.open(archive, "w") as tar:
        _add_member(tar, "./train/b/1.png", png)
        _add_member(tar, "./train/a/2.jpg", jpeg)
        _add_member(tar, "test/a/3.jpg", jpeg)
        _add_member(tar, "test/b/4.png", png)
        _add_member(tar, "README", b"ignored")
    source = ImageFolderSource(str(archive))
    assert source.class_names == ("a", "b")
    train = [(e.id, e.label, e.format, e.payload) for e in source.examples("train")]
    assert train == [("train/b/1.png", 1, "png", png), ("train/a/2.jpg", 0, "jpeg", jpeg)]
    with tarfile.open(tmp_path / "nested.tar", "w") as tar:
        _add_member(tar, "train/a/deeper/1.png", png)
        _add_member(tar, "test/a/1.png", png)
    with pytest.raises(DataError, match=r"deeper/1\.png is not in a class folder"):
        ImageFolderSource(str(tmp_path / "nested.tar"))


def test_image_folder_uses_given_class_order(tmp_path):
    _write_image_folder(tmp_path / "f")
    order = tuple(reversed(SYNSETS))
    source = ImageFolderSource(str(tmp_path / "f"), class_names=order)
    assert source.class_names == order
    assert {e.label for e in source.examples("test") if SYNSETS[0] in e.id} == {2}
    with pytest.raises(DataError, match=r"missing \['n0'\], unexpected \[\]"):
        ImageFolderSource(str(tmp_path / "f"), class_names=SYNSETS + ("n0",))


def test_image_folder_refuses_empty_class_folder(tmp_path):
    _write_image_folder(tmp_path / "f")
    os.makedirs(tmp_path / "f" / "train" / "n09999999")
    os.makedirs(tmp_path / "f" / "test" / "n09999999")
    with pytest.raises(DataError, match=r"Class folder .*n09999999 is empty"):
        ImageFolderSource(str(tmp_path / "f"))
    archive = _tar_dir(tmp_path / "f", tmp_path / "f.tar.gz")
    with pytest.raises(DataError, match=r"Class folder .*n09999999/ is empty"):
        ImageFolderSource(archive)


@pytest.mark.parametrize("archive", [False, True])
def test_image_folder_refuses_non_image_file(tmp_path, archive):
    _write_image_folder(tmp_path / "f")
    (tmp_path / "f" / "train" / SYNSETS[1] / "notes.jpg").write_text("not an image")
    path = _tar_dir(tmp_path / "f", tmp_path / "f.tar.gz") if archive else str(tmp_path / "f")
    source = ImageFolderSource(path)
    with pytest.raises(DataError, match=r"notes\.jpg is not a JPEG or PNG image"):
        list(source.examples("train"))


def test_image_folder_refuses_symlink_outside_root(tmp_path):
    _write_image_folder(tmp_path / "f")
    outside = tmp_path / "outside.png"
    outside.write_bytes(_image_bytes("PNG", (3, 3), 1))
    os.symlink(outside, tmp_path / "f" / "train" / SYNSETS[0] / "link.png")
    source = ImageFolderSource(str(tmp_path / "f"))
    with pytest.raises(DataError, match=r"Refusing symlink .*link\.png .*outside"):
        list(source.examples("train"))
    os.symlink(tmp_path, tmp_path / "f" / "test" / "n01111111")
    with pytest.raises(DataError, match=r"Refusing symlink .*n01111111"):
        ImageFolderSource(str(tmp_path / "f"))


def test_image_folder_allows_symlink_inside_root(tmp_path):
    _write_image_folder(tmp_path / "f")
    target = tmp_path / "f" / "train" / SYNSETS[0] / "img0.png"
    os.symlink(target, tmp_path / "f" / "train" / SYNSETS[0] / "link.png")
    ids = [e.id for e in ImageFolderSource(str(tmp_path / "f")).examples("train")]
    assert f"train/{SYNSETS[0]}/link.png" in ids


@pytest.mark.parametrize("archive", [False, True])
def test_image_folder_refuses_test_classes_that_differ(tmp_path, archive):
    _write_image_folder(tmp_path / "f")
    os.rename(tmp_path / "f" / "test" / SYNSETS[2], tmp_path / "f" / "test" / "n07777777")
    path = _tar_dir(tmp_path / "f", tmp_path / "f.tar.gz") if archive else str(tmp_path / "f")
    with pytest.raises(DataError, match=rf"only in train: \['{SYNSETS[2]}'\], only in test: "
                                        r"\['n07777777'\]"):
        ImageFolderSource(path)


def test_image_folder_refuses_stray_files_and_missing_splits(tmp_path):
    _write_image_folder(tmp_path / "f")
    (tmp_path / "f" / "train" / "stray.png").write_bytes(b"\x89PNG")
    with pytest.raises(DataError, match=r"stray\.png is not in a class folder"):
        ImageFolderSource(str(tmp_path / "f"))
    os.makedirs(tmp_path / "g" / "train" / "a")
    with pytest.raises(DataError, match=r"No test/ or val/ folder"):
        ImageFolderSource(str(tmp_path / "g"))
    with pytest.raises(DataError, match=r"not found"):
        ImageFolderSource(str(tmp_path / "missing"))


# -- IDX -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_idx_round_trips(tmp_path, compress):
    data = _write_idx(tmp_path, np.random.default_rng(5), compress=compress)
    source = FashionMnistSource(str(tmp_path))
    assert source.class_names == FASHION_MNIST_CLASS_NAMES
    for split, (labels, images) in data.items():
        examples = list(source.examples(split))
        assert [e.id for e in examples] == [f"{split}/{i:06d}" for i in range(len(labels))]
        assert [e.label for e in examples] == labels.tolist()
        assert [e.payload for e in examples] == [image.tobytes() for image in images]
        assert {(e.format, e.shape) for e in examples} == {("raw", (28, 28, 1))}


def test_idx_refuses_count_mismatch_bad_magic_and_truncation(tmp_path):
    _write_idx(tmp_path, np.random.default_rng(6))
    labels_path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels_path.write_bytes(gzip.compress(_idx_labels(np.zeros(3, np.uint8))))
    with pytest.raises(DataError, match=r"4 images but .*t10k-labels.* 3 labels"):
        FashionMnistSource(str(tmp_path))
    labels_path.write_bytes(gzip.compress(struct.pack(">II", 0x803, 4) + bytes(4)))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz has IDX magic 0x00000803"):
        FashionMnistSource(str(tmp_path))
    labels_path.write_bytes(gzip.compress(_idx_labels(np.zeros(4, np.uint8))[:-1]))
    source = FashionMnistSource(str(tmp_path))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz has 11 bytes"):
        list(source.examples("test"))
    labels_path.write_bytes(gzip.compress(_idx_labels(np.zeros(4, np.uint8)))[:-12])
    with pytest.raises(DataError, match=r"Cannot read .*t10k-labels"):
        list(FashionMnistSource(str(tmp_path)).examples("test"))
    os.remove(labels_path)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte \(\.gz\) not found"):
        FashionMnistSource(str(tmp_path))


# -- resolution ------------------------------------------------------------------------------------


def test_open_source_prefers_folder_then_archive_then_later_dirs(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    _write_cifar100(second / "cifar-100-binary", np.random.default_rng(7))
    _tar_dir(second / "cifar-100-binary", second / "cifar-100-binary.tar.gz")
    os.makedirs(first)
    source = open_source("cifar100", [str(first), "", str(second)], allow_download=False)
    assert source.describe()["path"] == str(second / "cifar-100-binary")
    os.rename(second / "cifar-100-binary", tmp_path / "moved")
    source = open_source("cifar100", [str(first), str(second)], allow_download=False)
    assert source.describe()["path"] == str(second / "cifar-100-binary.tar.gz")
    _write_cifar100(first / "cifar-100-binary", np.random.default_rng(8))
    source = open_source("cifar100", [str(first), str(second)], allow_download=False)
    assert source.describe()["path"] == str(first / "cifar-100-binary")


def test_open_source_cifar10_binary_before_jpg_folder_in_official_order(tmp_path):
    classes = tuple(sorted(CIFAR10_CLASS_NAMES, reverse=True))
    _write_image_folder(tmp_path / "cifar-10-jpg", classes=classes)
    source = open_source("cifar10", [str(tmp_path)], allow_download=False)
    assert source.name == "cifar10"
    assert source.class_names == CIFAR10_CLASS_NAMES
    assert source.describe()["kind"] == "image_folder"
    _write_cifar10(tmp_path / "cifar-10-binary", np.random.default_rng(9))
    source = open_source("cifar10", [str(tmp_path)], allow_download=False)
    assert source.describe()["kind"] == "cifar10_binary"


def test_open_source_fashion_mnist_in_dir_or_subfolder(tmp_path):
    _write_idx(tmp_path / "a" / "fashion-mnist", np.random.default_rng(10))
    source = open_source("fashion_mnist", [str(tmp_path / "a")], allow_download=False)
    assert source.describe()["path"] == str(tmp_path / "a" / "fashion-mnist")
    _write_idx(tmp_path / "a", np.random.default_rng(11), compress=False)
    source = open_source("fashion_mnist", [str(tmp_path / "a")], allow_download=False)
    assert source.describe()["path"] == str(tmp_path / "a")


def test_open_source_imagenet_folders(tmp_path):
    _write_image_folder(tmp_path / "plain", test_dir="val")
    source = open_source("imagenet2012", [str(tmp_path / "plain")], allow_download=False)
    assert (source.name, source.class_names) == ("imagenet2012", SYNSETS)
    _write_image_folder(tmp_path / "plain" / "ILSVRC2012")
    source = open_source("imagenet2012", [str(tmp_path / "plain")], allow_download=False)
    assert source.describe()["path"] == str(tmp_path / "plain" / "ILSVRC2012")


def test_open_source_folder_and_unknown_names(tmp_path):
    _write_image_folder(tmp_path / "f")
    assert open_source(f"folder:{tmp_path / 'f'}", []).class_names == SYNSETS
    with pytest.raises(DataError, match=r"Unknown dataset 'cifar1000'\. Available: cifar10, "):
        open_source("cifar1000", [])
    assert dataset_names() == ["cifar10", "cifar100", "fashion_mnist", "imagenet2012"]


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_can_connect_probe(monkeypatch):
    assert not can_connect("127.0.0.1", _closed_port(), timeout=3.0)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert can_connect("127.0.0.1", server.getsockname()[1], timeout=3.0)
    # A connection attempt that never ends (a resolver or SYN that hangs) is abandoned at the
    # timeout: the probe answers False while the attempt is still blocked.
    release, entered = threading.Event(), threading.Event()

    def hanging_connect(address, timeout=None):
        entered.set()
        release.wait()
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hanging_connect)
    try:
        assert not can_connect("download.example", 443, timeout=0.2)
        assert entered.is_set() and not release.is_set()
    finally:
        release.set()


@pytest.mark.parametrize("dataset", ["cifar100", "cifar10", "fashion_mnist", "imagenet2012"])
def test_missing_data_fails_fast_listing_every_place(tmp_path, monkeypatch, dataset):
    monkeypatch.setitem(tfds_source.DOWNLOAD_HOSTS, dataset, ("127.0.0.1", _closed_port()))
    # Failing fast means: one bounded probe of the download host, never a download attempt
    # (which would retry for minutes before failing).
    import tensorflow_datasets as tfds

    probes = []
    real_probe = tfds_source.can_connect
    monkeypatch.setattr(tfds_source, "can_connect",
                        lambda *args: probes.append(args) or real_probe(*args))
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                        lambda *a, **k: pytest.fail("a download was attempted"))
    dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
    for allow_download in (False, True):
        with pytest.raises(DataError) as info:
            open_source(dataset, dirs, allow_download=allow_download,
                        tfds_data_dir=str(tmp_path / "tfds"))
        message = str(info.value)
        assert all(d in message for d in dirs) and "LG_DATA_DIR" in message
        assert str(tmp_path / "tfds") in message
    if dataset == "imagenet2012":
        assert "manual_dir" in message and probes == []
    else:
        assert "No network to download" in message
        assert probes == [(*tfds_source.DOWNLOAD_HOSTS[dataset], 3.0)]
    if dataset == "fashion_mnist":
        assert "apt install dataset-fashion-mnist" in message


def test_broken_local_copy_is_reported_not_skipped(tmp_path):
    (tmp_path / "cifar-100-binary.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match=r"Cannot read tar archive"):
        open_source("cifar100", [str(tmp_path)], allow_download=False)


# -- TFDS (mocked data, offline) -------------------------------------------------------------------


def test_tfds_source_with_mocked_data(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")
    # The mock makes download_and_prepare a no-op; pretend the download host answers.
    monkeypatch.setattr(tfds_source, "can_connect", lambda host, port, timeout: True)
    with tfds.testing.mock_data(num_examples=20):
        cifar10 = TfdsSource("cifar10")
        assert cifar10.class_names == CIFAR10_CLASS_NAMES
        examples = list(cifar10.examples("test"))
        assert [e.id for e in examples] == [f"test/{i:06d}" for i in range(20)]
        kinds = {(e.format, e.shape, len(e.payload)) for e in examples}
        assert kinds == {("raw", (32, 32, 3), 3072)}
        fashion = TfdsSource("fashion_mnist")
        assert fashion.class_names == FASHION_MNIST_CLASS_NAMES
        assert next(fashion.examples("train")).shape == (28, 28, 1)
        # The mock's coarse labels are random, so they break the official fine -> coarse map.
        cifar100 = TfdsSource("cifar100")
        assert cifar100.official_fine_to_coarse == CIFAR100_FINE_TO_COARSE
        with pytest.raises(DataError, match=r"pairs fine label \d+ with coarse label"):
            list(cifar100.examples("train"))


# -- real data (LG_DATA_DIR, Debian package) -------------------------------------------------------


def _count(source, split):
    counts = collections.Counter()
    for example in source.examples(split):
        counts[example.label] += 1
    return counts


def test_real_cifar100_archive(shared_data_dir):
    source = open_source("cifar100", [shared_data_dir], allow_download=False)
    assert source.describe()["archive"]
    assert source.official_fine_to_coarse == CIFAR100_FINE_TO_COARSE
    train, test = _count(source, "train"), _count(source, "test")
    assert sum(train.values()) == 50_000 and sum(test.values()) == 10_000
    assert set(train.values()) == {500} and set(test.values()) == {100}
    assert len(train) == 100


def test_real_cifar10_jpg_archive(shared_data_dir):
    source = open_source("cifar10", [shared_data_dir], allow_download=False)
    assert source.describe()["path"] == os.path.join(shared_data_dir, "cifar-10-jpg.tar.gz")
    assert source.class_names == CIFAR10_CLASS_NAMES
    # Sorted folder names happen to be the official order too.
    assert ImageFolderSource(source.path).class_names == CIFAR10_CLASS_NAMES
    train, test = _count(source, "train"), _count(source, "test")
    assert train == {label: 5000 for label in range(10)}
    assert test == {label: 1000 for label in range(10)}
    first = next(source.examples("test"))
    assert first.format == "jpeg" and first.payload[:2] == b"\xff\xd8"


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR), reason="apt install dataset-fashion-mnist")
def test_real_fashion_mnist_package():
    # The builder's default dirs (after --data-dir and LG_DATA_DIR) find Debian's package.
    source = open_source("fashion_mnist", list(DEFAULT_DATA_DIRS), allow_download=False)
    assert source.describe()["path"] == FASHION_DIR
    train, test = _count(source, "train"), _count(source, "test")
    assert train == {label: 6000 for label in range(10)}
    assert test == {label: 1000 for label in range(10)}


# -- image folders without a test split: the held-out split ---------------------------------------


def _flat_folder(root, per_class=(10, 10, 5)):
    """ROOT/<class>/<i>.png with `per_class` images (no split folders)."""
    for c, n in enumerate(per_class):
        os.makedirs(root / f"k{c}")
        for i in range(n):
            (root / f"k{c}" / f"{i:02d}.png").write_bytes(_image_bytes("PNG", (4, 3), c * 50 + i))


def test_held_out_split_of_a_flat_folder_is_class_balanced_and_stable(tmp_path):
    _flat_folder(tmp_path / "flat")
    source = ImageFolderSource(str(tmp_path / "flat"), test_fraction=0.2, seed=4)
    assert source.class_names == ("k0", "k1", "k2") and source.held_out
    assert source.class_counts() == {"train": {"k0": 8, "k1": 8, "k2": 4},
                                     "test": {"k0": 2, "k1": 2, "k2": 1}}
    test = [e.id for e in source.examples("test")]
    train = [e.id for e in source.examples("train")]
    assert not set(test) & set(train) and len(test) + len(train) == 25
    assert all(e.startswith("k") for e in test)  # ids are paths below ROOT
    again = ImageFolderSource(str(tmp_path / "flat"), test_fraction=0.2, seed=4)
    assert [e.id for e in again.examples("test")] == test
    other = ImageFolderSource(str(tmp_path / "flat"), test_fraction=0.2, seed=5)
    assert [e.id for e in other.examples("test")] != test
    held = source.describe()["held_out"]
    assert held["test_fraction"] == 0.2 and held["seed"] == 4 and "sha256" in held["rule"]
    assert "held out" in source.class_dir("test", "k2")
    firsts = [next(i for i in train if i.startswith(f"k{c}/")) for c in range(3)]
    assert [e.id for e in source.sample(1)] == firsts  # first training image of each class


def test_held_out_split_of_train_only_directory_and_archive_agree(tmp_path):
    root = tmp_path / "pets"
    _flat_folder(root / "train")
    archive = _tar_dir(root, tmp_path / "pets.tar.gz")
    from_dir = ImageFolderSource(str(root), test_fraction=0.3)
    from_tar = ImageFolderSource(archive, test_fraction=0.3)
    for split in ("train", "test"):
        assert ([e.id for e in from_dir.examples(split)]
                == sorted(e.id for e in from_tar.examples(split)))
    assert from_dir.class_counts() == from_tar.class_counts()
    assert from_dir.describe()["held_out"]["from"] == "train/"
    with pytest.raises(DataError, match=r"No test/ or val/ folder .*--test-fraction"):
        ImageFolderSource(str(root))  # no fraction: a test split is required, as before


def test_a_folder_with_a_test_split_ignores_the_test_fraction(tmp_path):
    _write_image_folder(tmp_path / "f")
    source = ImageFolderSource(str(tmp_path / "f"), test_fraction=0.5)
    assert not source.held_out and "held_out" not in source.describe()
    assert source.class_counts()["test"] == dict.fromkeys(SYNSETS, 1)


def test_held_out_split_names_a_class_too_small_and_a_single_class_folder(tmp_path):
    _flat_folder(tmp_path / "small", per_class=(10, 2))
    with pytest.raises(DataError, match=r"Class 'k1' has 2 image\(s\) in .*small/k1/: holding out "
                                        r"a test fraction of 0.2 leaves 2 for training and 0"):
        ImageFolderSource(str(tmp_path / "small"), test_fraction=0.2)
    _flat_folder(tmp_path / "one", per_class=(10,))
    # ROOT/<class>/ with one class: that folder is a class, not a wrapper to descend into.
    assert ImageFolderSource(str(tmp_path / "one"), test_fraction=0.2).class_names == ("k0",)
    with pytest.raises(DataError, match=r"test_fraction must be a number in \[0, 1\)"):
        ImageFolderSource(str(tmp_path / "one"), test_fraction=1.0)
    with pytest.raises(DataError, match=r"applies to image folders"):
        open_source("cifar10", [], test_fraction=0.2)
