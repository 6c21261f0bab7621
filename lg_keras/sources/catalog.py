"""The table of named dataset sources: what each is, how big, where its local copies may lie.

One `SourceEntry` per source `open_source` accepts by name (besides `folder:PATH`): its display
name, its official sizes and build speed (what the planner estimates with), the local layouts
searched in each data dir, in order, and the hint printed when no copy is found. Adding a source is one `register_source` call here plus its reader module.

    from lg_keras.sources import catalog
    catalog.source_entry("cifar100").size.train_per_class  # 500
"""

import dataclasses
import os
from typing import Callable, NamedTuple

from lg_keras.errors import ConfigError
from lg_keras.sources.base import Source
from lg_keras.sources.cifar import CIFAR10_CLASS_NAMES, Cifar10Source, Cifar100Source
from lg_keras.sources.folder import ImageFolderSource
from lg_keras.sources.idx import FashionMnistSource, has_idx_files
from lg_keras.sources.tfds_source import IMAGENET_MANUAL_FILES, TfdsSource


@dataclasses.dataclass(frozen=True)
class SourceSize:
    """What the planner knows of a source: images per class, stored size, build speed.

    Attributes:
        train_per_class: training images per fine class.
        test_per_class: test images per fine class.
        side: stored image side in pixels (0: varies, the recipe's image_size applies).
        total_images: images the builder reads (it reads the whole source, then subsets).
        build_images_per_s: builder throughput on the reference machine (2 CPU cores).
    """

    train_per_class: int
    test_per_class: int
    side: int
    total_images: int
    build_images_per_s: float


class Candidate(NamedTuple):
    """One place a dataset may be: `test(path)` says it is there, `open(path)` opens it."""

    path: str
    test: Callable[[str], bool]
    open: Callable[[str], Source]
    layout: str  # What is looked for, for the error message.


@dataclasses.dataclass(frozen=True)
class SourceEntry:
    """One named source.

    Attributes:
        name: the name `open_source` and `BuildConfig.dataset` use.
        display_name: how people call it.
        num_classes: fine classes of the official label set.
        size: official split sizes and build speed.
        layouts: `layouts(data_dir, tfds_data_dir)` lists where a copy may be under `data_dir`,
            in search order.
        hint: how to provide it, with DIR for the data dir (ends a sentence "To provide it, ...").
    """

    name: str
    display_name: str
    num_classes: int
    size: SourceSize
    layouts: Callable[[str, str | None], list[Candidate]]
    hint: str


_SOURCES: dict[str, SourceEntry] = {}


def register_source(entry: SourceEntry) -> SourceEntry:
    """Adds `entry` to the table.

    Raises:
        ConfigError: if a source of that name is already registered.
    """
    if entry.name in _SOURCES:
        raise ConfigError(f"Source {entry.name!r} is registered twice.")
    _SOURCES[entry.name] = entry
    return entry


def unregister_source(name: str) -> None:
    """Removes a source registered by `register_source` (tests)."""
    del _SOURCES[name]


def source_names() -> list[str]:
    """The registered source names, in registration order."""
    return list(_SOURCES)


def source_entry(name: str) -> SourceEntry:
    """The entry of source `name`.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    if name not in _SOURCES:
        raise ConfigError(f"Unknown dataset {name!r}. Available: "
                          f"{', '.join(_SOURCES)}, folder:PATH.")
    return _SOURCES[name]


# --------------------------------------------------------------------------- the sources

_join, _isdir, _isfile = os.path.join, os.path.isdir, os.path.isfile


def _has_splits(path: str) -> bool:
    return _isdir(_join(path, "train")) and any(_isdir(_join(path, d)) for d in ("test", "val"))


def _has_imagenet_tars(path: str) -> bool:
    return all(_isfile(_join(path, f)) for f in IMAGENET_MANUAL_FILES)


def _cifar10_folder(path: str) -> Source:
    return ImageFolderSource(path, class_names=CIFAR10_CLASS_NAMES, name="cifar10")


def _imagenet_folder(path: str) -> Source:
    return ImageFolderSource(path, name="imagenet2012")


def _cifar10_layouts(data_dir: str, tfds_data_dir: str | None) -> list[Candidate]:
    del tfds_data_dir
    return [
        Candidate(_join(data_dir, "cifar-10-batches-bin"), _isdir, Cifar10Source, "folder"),
        Candidate(_join(data_dir, "cifar-10-binary"), _isdir, Cifar10Source, "folder"),
        Candidate(_join(data_dir, "cifar-10-binary.tar.gz"), _isfile, Cifar10Source, "archive"),
        Candidate(_join(data_dir, "cifar-10-jpg"), _isdir, _cifar10_folder, "image folder"),
        Candidate(_join(data_dir, "cifar-10-jpg.tar.gz"), _isfile, _cifar10_folder, "archive"),
    ]


def _cifar100_layouts(data_dir: str, tfds_data_dir: str | None) -> list[Candidate]:
    del tfds_data_dir
    return [
        Candidate(_join(data_dir, "cifar-100-binary"), _isdir, Cifar100Source, "folder"),
        Candidate(_join(data_dir, "cifar-100-binary.tar.gz"), _isfile, Cifar100Source, "archive"),
    ]


def _fashion_mnist_layouts(data_dir: str, tfds_data_dir: str | None) -> list[Candidate]:
    del tfds_data_dir
    return [
        Candidate(data_dir, has_idx_files, FashionMnistSource, "IDX files"),
        Candidate(_join(data_dir, "fashion-mnist"), has_idx_files, FashionMnistSource,
                  "IDX files"),
    ]


def _imagenet_layouts(data_dir: str, tfds_data_dir: str | None) -> list[Candidate]:
    def from_manual_dir(path: str) -> Source:
        return TfdsSource("imagenet2012", data_dir=tfds_data_dir, manual_dir=path)

    return [
        Candidate(_join(data_dir, "imagenet"), _isdir, _imagenet_folder, "image folder"),
        Candidate(_join(data_dir, "ILSVRC2012"), _isdir, _imagenet_folder, "image folder"),
        Candidate(data_dir, _has_splits, _imagenet_folder, "train/ and test/ or val/"),
        Candidate(data_dir, _has_imagenet_tars, from_manual_dir, " + ".join(IMAGENET_MANUAL_FILES)),
    ]


# Official split sizes; build speeds measured on an idle 2-core machine (CIFAR-10 from the JPEG
# folder archive ~2,500 images/s, CIFAR-100 binary ~6,000/s, Fashion-MNIST IDX ~20,000/s);
# ImageNet (JPEG tars) assumed 500/s.
register_source(SourceEntry(
    "cifar10", "CIFAR-10", 10, SourceSize(5000, 1000, 32, 60_000, 2500.0), _cifar10_layouts,
    "put cifar-10-binary.tar.gz (or cifar-10-jpg.tar.gz) in DIR"))
register_source(SourceEntry(
    "cifar100", "CIFAR-100", 100, SourceSize(500, 100, 32, 60_000, 6000.0), _cifar100_layouts,
    "put cifar-100-binary.tar.gz in DIR"))
register_source(SourceEntry(
    "fashion_mnist", "Fashion-MNIST", 10, SourceSize(6000, 1000, 28, 70_000, 20_000.0),
    _fashion_mnist_layouts,
    "put the four *-idx*-ubyte.gz files in DIR (or DIR/fashion-mnist/), or "
    "`apt install dataset-fashion-mnist` (installs /usr/share/datasets/fashion-mnist)"))
register_source(SourceEntry(
    "imagenet2012", "ImageNet (ILSVRC-2012)", 1000, SourceSize(1300, 50, 0, 1_331_167, 500.0),
    _imagenet_layouts,
    "create the image folders DIR/imagenet/{train,val}/<synset>/ (or DIR/ILSVRC2012/...), or put "
    f"{' and '.join(IMAGENET_MANUAL_FILES)} in DIR or in the TFDS manual_dir "
    "(<tfds data dir>/downloads/manual)"))
