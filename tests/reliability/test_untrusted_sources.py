"""Untrusted archives and folders through the whole `lg data build` command.

tests/lg_keras/test_sources.py checks the sources themselves; here each bad input goes through
`lg data build` (in-process): the exit status is 2, the one-line message names the member or file,
nothing is written outside the archive's reading (no extraction), and no output, partial
directory or lock is left behind.
"""

import io
import os
import struct
import tarfile
import zlib

import numpy as np
from PIL import Image
import pytest

from lg_keras import images
from lg_keras.errors import DataError
from lg_keras.sources.base import RawExample
from lg_keras.sources.cifar import CIFAR10_CLASS_NAMES
from pipelines import cli
from tests.helpers import datagen

CLASSES = ("a", "b", "c", "d")


def _png(size=(4, 4), seed=0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels (a decompression-bomb shape)."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b""))


def _archive(path, extra: dict) -> str:
    """A .tar.gz image folder `top/{train,test}/<class>/0.png` plus `extra` members."""
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for c in CLASSES:
                _member(tar, f"top/{split}/{c}/0.png", data=_png())
        _member(tar, **extra)
    return str(path)


def _member(tar, name, data=b"x", kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def _hierarchy(tmp_path) -> str:
    return datagen.write_hierarchy(tmp_path / "h.yaml", {"ab": ["a", "b"], "cd": ["c", "d"]})


def _build(tmp_path, dataset: str, capsys, *extra) -> str:
    """Runs `lg data build`; asserts exit 2, no traceback and nothing left; returns the message."""
    out = tmp_path / "out"
    code = cli.main(["data", "build", "--dataset", dataset, "--hierarchy", _hierarchy(tmp_path),
                     "--out", str(out), "--no-download", *extra])
    err = capsys.readouterr().err
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out")] == []
    return err[err.index("error: "):]


_UNSAFE = {
    "traversal": (dict(name="top/../../evil.png", data=_png()), "has a '..' path component"),
    "absolute": (dict(name="/tmp/lg-evil.png", data=_png()), "has an absolute path"),
    "symlink": (dict(name="top/train/a/link.png", kind=tarfile.SYMTYPE, linkname="/etc/passwd"),
                "is a link (to '/etc/passwd')"),
    "hardlink": (dict(name="top/train/a/hard.png", kind=tarfile.LNKTYPE,
                      linkname="top/train/b/0.png"), "is a link"),
    "device": (dict(name="top/train/a/dev", kind=tarfile.CHRTYPE), "is a device or other special"),
    "fifo": (dict(name="top/train/a/fifo", kind=tarfile.FIFOTYPE), "is a device or other special"),
}


@pytest.mark.parametrize("kind", sorted(_UNSAFE))
def test_build_refuses_unsafe_archive_members(kind, tmp_path, capsys, counts):
    member, rule = _UNSAFE[kind]
    archive = _archive(tmp_path / "images.tar.gz", member)
    message = _build(tmp_path, f"folder:{archive}", capsys)
    assert f"Refusing {archive}: member {member['name']!r} {rule}" in message, message
    assert not os.path.exists(tmp_path.parent / "evil.png")
    assert not os.path.exists("/tmp/lg-evil.png")
    counts["bad_inputs_refused_by_name"] += 1


def test_build_refuses_symlinks_out_of_an_image_folder(tmp_path, capsys, counts):
    root = tmp_path / "images"
    datagen.write_image_folder(root, CLASSES, 2, 1)
    outside = tmp_path / "elsewhere"
    datagen.write_image_folder(outside, ["a"], 1, 1)
    (root / "train" / "a").rename(tmp_path / "moved")
    os.symlink(outside / "train" / "a", root / "train" / "a")
    message = _build(tmp_path, f"folder:{root}", capsys)
    assert f"Refusing symlink {root / 'train' / 'a'} -> {outside / 'train' / 'a'}" in message
    counts["bad_inputs_refused_by_name"] += 1


@pytest.mark.parametrize("archived", [False, True], ids=["folder", "archive"])
def test_build_refuses_an_empty_class_folder(archived, tmp_path, capsys, counts):
    root = tmp_path / "images"
    datagen.write_image_folder(root, CLASSES, 2, 1)
    for f in (root / "test" / "c").iterdir():
        f.unlink()
    dataset = str(root)
    if archived:
        dataset = str(tmp_path / "images.tar.gz")
        with tarfile.open(dataset, "w:gz") as tar:
            tar.add(root, arcname="top")
    message = _build(tmp_path, f"folder:{dataset}", capsys)
    assert "Class folder" in message and "test/c" in message and "is empty" in message, message
    counts["bad_inputs_refused_by_name"] += 1


@pytest.mark.parametrize("payload, rule", [
    (b"\x89PNG\r\n\x1a\n" + b"broken" * 10, "does not decode as png"),
    (b"GIF89a....", "is not a JPEG or PNG image"),
    (b"", "is not a JPEG or PNG image"),
    (_png_header_only(20_000, 20_000), "decompression bomb"),  # PIL's error was uncaught
    (_png_header_only(11_000, 10_000), "over the limit"),  # PIL only warned
], ids=["truncated_png", "gif", "empty", "bomb", "large"])
def test_build_names_an_image_that_does_not_decode(payload, rule, tmp_path, capsys, counts):
    root = tmp_path / "images"
    datagen.write_image_folder(root, CLASSES, 2, 1)
    bad = root / "train" / "b" / "0001.png"
    bad.write_bytes(payload)
    message = _build(tmp_path, f"folder:{root}", capsys)
    assert "0001.png" in message and rule in message, message
    counts["bad_inputs_refused_by_name"] += 1


def test_build_names_a_truncated_cifar10_batch(tmp_path, capsys, counts):
    data_dir = tmp_path / "data" / "cifar-10-batches-bin"
    data_dir.mkdir(parents=True)
    record = bytes(1 + 3072)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (data_dir / name).write_bytes(record * 2)
    (data_dir / "data_batch_3.bin").write_bytes(record * 2 + record[:100])
    (data_dir / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASS_NAMES) + "\n")
    out = tmp_path / "out"
    code = cli.main(["data", "build", "--dataset", "cifar10", "--hierarchy", "cifar10", "--out",
                     str(out), "--data-dir", str(tmp_path / "data"), "--no-download"])
    err = capsys.readouterr().err
    assert code == 2 and "data_batch_3.bin" in err and "Traceback" not in err, err[-3000:]
    assert not out.exists()
    counts["bad_inputs_refused_by_name"] += 1


@pytest.mark.parametrize("size", [47, 49, 0])
def test_raw_payload_of_the_wrong_size_is_named(size, counts):
    """Raw pixels must fill their declared shape exactly (sources that yield raw: CIFAR, IDX)."""
    raw = RawExample(id="train/000042", label=0, format="raw", payload=bytes(size),
                     shape=(4, 4, 3))
    with pytest.raises(DataError, match=r"example 'train/000042'.* has %d bytes; shape "
                                        r"\(4, 4, 3\) needs 48" % size):
        images.prepare_image(raw, "auto")
    counts["bad_inputs_refused_by_name"] += 1
