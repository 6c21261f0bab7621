"""Fashion-MNIST from its original IDX files (gzipped or not), e.g. Debian's dataset-fashion-mnist.

IDX layout (http://yann.lecun.com/exdb/mnist/), big-endian:
  images: magic 0x00000803, count, rows, cols, then count*rows*cols uint8 pixels, row-major;
  labels: magic 0x00000801, count, then count uint8 labels.
Examples are 'raw' (28, 28, 1) uint8 payloads with ids `{split}/{index:06d}`.
"""

import gzip
import logging
import os
import struct
import zlib
from typing import Iterator

from lg_keras.errors import DataError
from lg_keras.sources.base import SPLITS, RawExample

# Label order of the Fashion-MNIST release (github.com/zalandoresearch/fashion-mnist), spelled
# as identifiers.
FASHION_MNIST_CLASS_NAMES = (
    "t_shirt_top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle_boot",
)
# The release's file stems per split: (images, labels).
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGES_MAGIC = 0x00000803
_LABELS_MAGIC = 0x00000801
_IMAGE_SIZE = (28, 28)


def find_idx_file(directory: str, stem: str) -> str | None:
    """Returns `directory/stem.gz` or `directory/stem`, whichever exists first, else None."""
    for candidate in (f"{stem}.gz", stem):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def has_idx_files(directory: str) -> bool:
    """Returns whether `directory` holds all four Fashion-MNIST IDX files (gzipped or not)."""
    stems = [stem for pair in IDX_FILES.values() for stem in pair]
    return all(find_idx_file(directory, stem) for stem in stems)


def _read(path: str, size: int = -1) -> bytes:
    """Reads `size` bytes (all when -1) of a file, decompressing it when it ends in .gz."""
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read(size)
        with open(path, "rb") as f:
            return f.read(size)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"Cannot read {path}: {e}. Re-download or reinstall the file.") from e


def parse_idx_header(path: str, data: bytes, magic: int) -> tuple[int, ...]:
    """Parses an IDX header and returns its dimensions.

    Args:
        path: the file, named in errors.
        data: the file's bytes (at least the header).
        magic: the expected magic number (0x803 images, 0x801 labels).

    Returns:
        (count, rows, cols) for images, (count,) for labels.

    Raises:
        DataError: a short header or a wrong magic number.
    """
    ndim = magic & 0xFF
    header_size = 4 * (1 + ndim)
    if len(data) < header_size:
        raise DataError(f"{path} is too short for an IDX header ({len(data)} bytes).")
    found, *dims = struct.unpack(f">{1 + ndim}I", data[:header_size])
    if found != magic:
        raise DataError(
            f"{path} has IDX magic 0x{found:08x}, expected 0x{magic:08x} "
            f"({'images' if ndim == 3 else 'labels'})."
        )
    return tuple(dims)


class FashionMnistSource:
    """Fashion-MNIST from the four IDX files in one directory.

    Usage:
        source = FashionMnistSource("/usr/share/datasets/fashion-mnist")
        first = next(source.examples("test"))  # shape (28, 28, 1), format 'raw'

    Attributes:
        name: 'fashion_mnist'.
        class_names: the 10 class names in label order.
        directory: the directory holding the files.
    """

    name = "fashion_mnist"
    class_names = FASHION_MNIST_CLASS_NAMES

    def __init__(self, directory: str):
        """Finds the files and checks their headers agree.

        Args:
            directory: holds train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz),
                t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz).

        Raises:
            DataError: a file is missing, a magic number is wrong, the images are not 28x28, or
                the image and label counts differ.
        """
        self.directory = directory
        self._paths = {}
        for split, stems in IDX_FILES.items():
            paths = tuple(find_idx_file(directory, stem) for stem in stems)
            missing = [stem for stem, p in zip(stems, paths) if p is None]
            if missing:
                raise DataError(
                    f"Fashion-MNIST file(s) {', '.join(missing)} (.gz) not found in {directory}."
                )
            self._paths[split] = paths
            self._check_headers(_read(paths[0], 16), _read(paths[1], 8), split)

    def describe(self) -> dict:
        """Returns where the data comes from, for dataset.json."""
        return {"kind": "fashion_mnist_idx", "path": os.path.abspath(self.directory)}

    def examples(self, split: str) -> Iterator[RawExample]:
        """Yields the examples of `split` as 'raw' (28, 28, 1) uint8 images.

        Raises:
            DataError: unknown split, a file whose size does not match its header, or a label
                out of range.
        """
        if split not in SPLITS:
            raise DataError(f"Unknown split {split!r}. Available: {', '.join(SPLITS)}.")
        images_path, labels_path = self._paths[split]
        images, labels = _read(images_path), _read(labels_path)
        count, rows, cols = self._check_headers(images, labels, split)
        pixels = rows * cols
        for path, data, expected in (
            (images_path, images, 16 + count * pixels),
            (labels_path, labels, 8 + count),
        ):
            if len(data) != expected:
                raise DataError(
                    f"{path} has {len(data)} bytes; its header promises {count} items, "
                    f"{expected} bytes. The file is truncated or corrupt."
                )
        num_classes = len(self.class_names)
        bad = next((i for i, label in enumerate(labels[8:]) if label >= num_classes), None)
        if bad is not None:
            raise DataError(f"{labels_path}: label {bad} is {labels[8 + bad]}, expected 0..9.")
        logging.info("%s: %d images.", images_path, count)
        for i in range(count):
            yield RawExample(
                id=f"{split}/{i:06d}",
                label=labels[8 + i],
                format="raw",
                payload=images[16 + i * pixels: 16 + (i + 1) * pixels],
                shape=(rows, cols, 1),
            )

    def _check_headers(self, images: bytes, labels: bytes, split: str) -> tuple[int, int, int]:
        images_path, labels_path = self._paths[split]
        count, rows, cols = parse_idx_header(images_path, images, _IMAGES_MAGIC)
        (label_count,) = parse_idx_header(labels_path, labels, _LABELS_MAGIC)
        if (rows, cols) != _IMAGE_SIZE:
            raise DataError(f"{images_path} holds {rows}x{cols} images, expected 28x28.")
        if count != label_count:
            raise DataError(
                f"{images_path} holds {count} images but {labels_path} holds {label_count} "
                "labels; the counts must match."
            )
        return count, rows, cols
