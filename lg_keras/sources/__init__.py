"""Dataset sources and where each dataset is looked for.

`open_source` searches each data dir, in the order given, for the local layouts of the source's
entry in the table of sources (`catalog`), and falls back to TFDS only when none is found. The
caller orders the dirs (--data-dir, then LG_DATA_DIR, then /usr/share/datasets); this package
reads no flags or environment variables.
"""

import logging
from typing import Sequence

from lg_keras.errors import ConfigError, DataError
from lg_keras.sources import catalog
from lg_keras.sources.base import FORMATS, SPLITS, RawExample, Source
from lg_keras.sources.folder import ImageFolderSource
from lg_keras.sources.tfds_source import TfdsSource

__all__ = [
    "FORMATS", "SPLITS", "RawExample", "Source", "dataset_names",
    "open_source",
]

_FOLDER_PREFIX = "folder:"


def dataset_names() -> list[str]:
    """Returns the named datasets `open_source` accepts (besides `folder:PATH`)."""
    return catalog.source_names()


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
    try:
        entry = catalog.source_entry(dataset)
    except ConfigError as e:
        raise DataError(str(e)) from None
    looked = []
    for data_dir in dict.fromkeys(d for d in data_dirs if d):
        for candidate in entry.layouts(data_dir, tfds_data_dir):
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
            f"To provide it, {entry.hint} and pass --data-dir DIR or set LG_DATA_DIR=DIR."
        ) from e
