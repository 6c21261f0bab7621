"""Dataset sources and where each dataset is looked for.

`open_source` searches each data dir, in the order given, for the local layouts listed in
`_candidates`, and falls back to TFDS only when none is found. The caller orders the dirs
(--data-dir, then LG_DATA_DIR, then /usr/share/datasets); this package reads no flags or
environment variables.
"""

import logging
import os
from typing import Callable, NamedTuple, Sequence

from lg_keras.errors import DataError
from lg_keras.sources.base import FORMATS, SPLITS, RawExample, Source
from lg_keras.sources.cifar import CIFAR10_CLASS_NAMES, Cifar10Source, Cifar100Source
from lg_keras.sources.folder import ImageFolderSource
from lg_keras.sources.idx import FashionMnistSource, has_idx_files
from lg_keras.sources.tfds_source import IMAGENET_MANUAL_FILES, TfdsSource

__all__ = [
    "FORMATS", "SPLITS", "RawExample", "Source", "dataset_names",
    "open_source",
]

_DATASETS = ("cifar10", "cifar100", "fashion_mnist", "imagenet2012")
_FOLDER_PREFIX = "folder:"
_HINTS = {
    "cifar10": "put cifar-10-binary.tar.gz (or cifar-10-jpg.tar.gz) in DIR",
    "cifar100": "put cifar-100-binary.tar.gz in DIR",
    "fashion_mnist": (
        "put the four *-idx*-ubyte.gz files in DIR (or DIR/fashion-mnist/), or "
        "`apt install dataset-fashion-mnist` (installs /usr/share/datasets/fashion-mnist)"
    ),
    "imagenet2012": (
        "create the image folders DIR/imagenet/{train,val}/<synset>/, or put "
        f"{' and '.join(IMAGENET_MANUAL_FILES)} in DIR or in the TFDS manual_dir "
        "(<tfds data dir>/downloads/manual)"
    ),
}


class _Candidate(NamedTuple):
    """One place a dataset may be: `test(path)` says it is there, `open(path)` opens it."""

    path: str
    test: Callable[[str], bool]
    open: Callable[[str], Source]
    layout: str  # What is looked for, for the error message.


def dataset_names() -> list[str]:
    """Returns the named datasets `open_source` accepts (besides `folder:PATH`)."""
    return list(_DATASETS)


def _has_splits(path: str) -> bool:
    return os.path.isdir(os.path.join(path, "train")) and any(
        os.path.isdir(os.path.join(path, d)) for d in ("test", "val")
    )


def _has_imagenet_tars(path: str) -> bool:
    return all(os.path.isfile(os.path.join(path, f)) for f in IMAGENET_MANUAL_FILES)


def _cifar10_folder(path: str) -> Source:
    return ImageFolderSource(path, class_names=CIFAR10_CLASS_NAMES, name="cifar10")


def _imagenet_folder(path: str) -> Source:
    return ImageFolderSource(path, name="imagenet2012")


def _candidates(dataset: str, data_dir: str, tfds_data_dir: str | None) -> list[_Candidate]:
    """Lists where `dataset` may be under `data_dir`, in search order."""
    join, isdir, isfile = os.path.join, os.path.isdir, os.path.isfile
    folder, archive, tars = "folder", "archive", " + ".join(IMAGENET_MANUAL_FILES)
    if dataset == "cifar100":
        return [
            _Candidate(join(data_dir, "cifar-100-binary"), isdir, Cifar100Source, folder),
            _Candidate(join(data_dir, "cifar-100-binary.tar.gz"), isfile, Cifar100Source, archive),
        ]
    if dataset == "cifar10":
        return [
            _Candidate(join(data_dir, "cifar-10-batches-bin"), isdir, Cifar10Source, folder),
            _Candidate(join(data_dir, "cifar-10-binary"), isdir, Cifar10Source, folder),
            _Candidate(join(data_dir, "cifar-10-binary.tar.gz"), isfile, Cifar10Source, archive),
            _Candidate(join(data_dir, "cifar-10-jpg"), isdir, _cifar10_folder, "image folder"),
            _Candidate(join(data_dir, "cifar-10-jpg.tar.gz"), isfile, _cifar10_folder, archive),
        ]
    if dataset == "fashion_mnist":
        idx = "IDX files"
        return [
            _Candidate(data_dir, has_idx_files, FashionMnistSource, idx),
            _Candidate(join(data_dir, "fashion-mnist"), has_idx_files, FashionMnistSource, idx),
        ]

    def from_manual_dir(path: str) -> Source:
        return TfdsSource("imagenet2012", data_dir=tfds_data_dir, manual_dir=path)

    return [
        _Candidate(join(data_dir, "imagenet"), isdir, _imagenet_folder, "image folder"),
        _Candidate(join(data_dir, "ILSVRC2012"), isdir, _imagenet_folder, "image folder"),
        _Candidate(data_dir, _has_splits, _imagenet_folder, "train/ and test/ or val/"),
        _Candidate(data_dir, _has_imagenet_tars, from_manual_dir, tars),
    ]


def open_source(
    dataset: str,
    data_dirs: Sequence[str],
    *,
    allow_download: bool = True,
    tfds_data_dir: str | None = None,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> Source:
    """Opens the first local copy of `dataset` found in `data_dirs`, else its TFDS version.

    Args:
        dataset: one of `dataset_names()`, or `folder:PATH` for an image folder or its archive.
        data_dirs: directories to search, in order (empty entries are skipped).
        allow_download: whether TFDS may download the dataset when no copy is found.
        tfds_data_dir: TFDS data dir; None for TFDS's default.
        test_fraction: `folder:PATH` only: the share of each class held out as the test split
            when the folder has no test split (`ImageFolderSource`); 0 requires one.
        seed: `folder:PATH` only: the held-out split's seed.

    Returns:
        The source.

    Raises:
        DataError: unknown dataset; a copy that is found but broken; or no copy anywhere, with
            every place looked at and how to provide the data.
    """
    if dataset.startswith(_FOLDER_PREFIX):
        return ImageFolderSource(dataset[len(_FOLDER_PREFIX):], test_fraction=test_fraction,
                                 seed=seed)
    if test_fraction:
        raise DataError(f"A test fraction applies to image folders (folder:PATH) only; "
                        f"{dataset!r} has its own test split (got test_fraction={test_fraction!r}).")
    if dataset not in _DATASETS:
        raise DataError(
            f"Unknown dataset {dataset!r}. Available: {', '.join(_DATASETS)}, folder:PATH."
        )
    looked = []
    for data_dir in dict.fromkeys(d for d in data_dirs if d):
        for candidate in _candidates(dataset, data_dir, tfds_data_dir):
            if candidate.test(candidate.path):
                logging.info("Reading %s from %s.", dataset, candidate.path)
                return candidate.open(candidate.path)
            looked.append(f"{candidate.path} ({candidate.layout})")
    try:
        return TfdsSource(dataset, data_dir=tfds_data_dir, allow_download=allow_download)
    except DataError as e:
        places = "\n  ".join(looked) or "(no data dirs given)"
        raise DataError(
            f"No copy of {dataset} found. Looked for:\n  {places}\nTFDS: {e}\n"
            f"To provide it, {_HINTS[dataset]} and pass --data-dir DIR or set LG_DATA_DIR=DIR."
        ) from e
