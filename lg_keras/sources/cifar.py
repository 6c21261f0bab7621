"""CIFAR-10 and CIFAR-100 "binary version" releases, from a folder or the .tar.gz read in place.

Record layouts (https://www.cs.toronto.edu/~kriz/cifar.html):
  CIFAR-10:  1 byte label, then 3,072 bytes of pixels.
  CIFAR-100: 1 byte coarse label, 1 byte fine label, then 3,072 bytes of pixels.
The pixels are 1,024 red, 1,024 green, then 1,024 blue bytes, each 32x32 row-major; they are
yielded as HWC uint8 'raw' payloads. Example ids are `{split}/{index:06d}`, the record's index in
its split (CIFAR-10's five train batches count on from one another).
"""

import logging
import os
import tarfile
from typing import Iterator, Sequence

import numpy as np

from lg_keras.errors import DataError
from lg_keras.sources.base import SPLITS, RawExample
from lg_keras.sources.archives import is_tar_path, iter_tar_members

IMAGE_SHAPE = (32, 32, 3)
_PIXELS = 32 * 32 * 3

CIFAR10_CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# Official label order of the CIFAR-100 release (fine_label_names.txt, coarse_label_names.txt).
CIFAR100_FINE_NAMES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar",
    "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile",
    "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox", "girl", "hamster",
    "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion", "lizard", "lobster",
    "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy",
    "porcupine", "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal",
    "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar",
    "sunflower", "sweet_pepper", "table", "tank", "telephone", "television", "tiger", "tractor",
    "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf", "woman",
    "worm",
)
CIFAR100_COARSE_NAMES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)
# The coarse label of each fine label, as every record of the official release pairs them
# (e.g. fine 0 'apple' -> coarse 4 'fruit_and_vegetables').
CIFAR100_FINE_TO_COARSE = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
)


class _ReleaseFiles:
    """The named files of a binary release, in a directory or (by base name) in a tar archive."""

    def __init__(self, path: str, filenames: Sequence[str]):
        self.path = path
        self._members = None
        if os.path.isdir(path):
            missing = [f for f in filenames if not os.path.isfile(os.path.join(path, f))]
        elif os.path.isfile(path) and is_tar_path(path):
            self._members = {}
            for _, member, name in iter_tar_members(path):
                base = name.rsplit("/", 1)[-1]
                if member.isreg() and base in filenames:
                    if base in self._members:
                        raise DataError(f"{path} holds {base} twice ({name}); expected one copy.")
                    self._members[base] = member
            missing = [f for f in filenames if f not in self._members]
        else:
            raise DataError(f"CIFAR binary release {path} not found (a folder or a .tar.gz).")
        if missing:
            raise DataError(f"{path} lacks {', '.join(missing)}; expected {', '.join(filenames)}.")

    def where(self, filename: str) -> str:
        if self._members is None:
            return os.path.join(self.path, filename)
        return f"{self.path}:{self._members[filename].name}"

    def size(self, filename: str) -> int:
        if self._members is None:
            return os.path.getsize(os.path.join(self.path, filename))
        return self._members[filename].size

    def read(self, filename: str) -> bytes:
        try:
            if self._members is None:
                with open(os.path.join(self.path, filename), "rb") as f:
                    return f.read()
            with tarfile.open(self.path, "r:*") as tar:
                return tar.extractfile(self._members[filename]).read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DataError(f"Cannot read {self.where(filename)}: {e}.") from e

    def read_names(self, filename: str, official: Sequence[str]) -> tuple[str, ...]:
        """Reads a label-names file (one name a line) and checks it is the official list."""
        names = tuple(line.strip() for line in self.read(filename).decode().splitlines())
        names = tuple(n for n in names if n)
        if names != tuple(official):
            i = next((i for i, (a, b) in enumerate(zip(names, official)) if a != b), None)
            found = f"line {i + 1} is {names[i]!r}" if i is not None else f"{len(names)} names"
            raise DataError(
                f"{self.where(filename)} must list the {len(official)} official label names in "
                f"order ({', '.join(official[:2])}, ...); {found}."
            )
        return names


class _CifarBinarySource:
    """Shared reading of CIFAR binary records; subclasses name the files and check the labels."""

    name: str
    class_names: tuple[str, ...]
    _split_files: dict[str, tuple[str, ...]]
    _label_bytes: int
    # Attribute -> (label-names file, the official names it must list), read in this order.
    _names_files: dict[str, tuple[str, tuple[str, ...]]]

    def __init__(self, path: str):
        """Finds the release files and checks their sizes and the label names.

        Args:
            path: a folder holding the files, or the .tar.gz (files under any one folder).

        Raises:
            DataError: a file is missing, truncated, or the names are not the official ones.
        """
        record_files = [f for split in SPLITS for f in self._split_files[split]]
        names_files = [filename for filename, _ in self._names_files.values()]
        self.path = path
        self._files = _ReleaseFiles(path, record_files + names_files)
        record_size = self._label_bytes + _PIXELS
        for filename in record_files:
            size = self._files.size(filename)
            if size == 0 or size % record_size:
                raise DataError(
                    f"{self._files.where(filename)} has {size} bytes, not a positive multiple of "
                    f"the {record_size}-byte record; the file is truncated or not a {self.name} "
                    "binary file. Re-download the binary release."
                )
        for attribute, (filename, official) in self._names_files.items():
            setattr(self, attribute, self._files.read_names(filename, official))

    def describe(self) -> dict:
        """Returns where the data comes from, for dataset.json."""
        return {
            "kind": f"{self.name}_binary",
            "path": os.path.abspath(self.path),
            "archive": not os.path.isdir(self.path),
        }

    def examples(self, split: str) -> Iterator[RawExample]:
        """Yields the records of `split` as 'raw' (32, 32, 3) uint8 HWC examples.

        Raises:
            DataError: unknown split, or a record whose labels are out of range or inconsistent.
        """
        if split not in SPLITS:
            raise DataError(f"Unknown split {split!r}. Available: {', '.join(SPLITS)}.")
        index = 0
        for filename in self._split_files[split]:
            records = np.frombuffer(self._files.read(filename), np.uint8)
            records = records.reshape(-1, self._label_bytes + _PIXELS)
            labels = self._check_labels(records[:, : self._label_bytes], filename)
            # CHW planes (R, G, B) -> HWC, contiguous so each image is one slice of bytes.
            pixels = records[:, self._label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            pixels = np.ascontiguousarray(pixels)
            logging.info("%s: %d records.", self._files.where(filename), len(records))
            for label, image in zip(labels.tolist(), pixels):
                yield RawExample(
                    id=f"{split}/{index:06d}",
                    label=label,
                    format="raw",
                    payload=image.tobytes(),
                    shape=IMAGE_SHAPE,
                )
                index += 1

    def _check_labels(self, header: np.ndarray, filename: str) -> np.ndarray:
        """Returns the class labels of the records; `header` is (records, label bytes) uint8."""
        raise NotImplementedError

    def _check_range(self, labels: np.ndarray, limit: int, what: str, filename: str) -> None:
        bad = np.flatnonzero(labels >= limit)
        if bad.size:
            raise DataError(
                f"{self._files.where(filename)}: record {bad[0]} has {what} label "
                f"{labels[bad[0]]}, expected 0..{limit - 1}."
            )


class Cifar10Source(_CifarBinarySource):
    """CIFAR-10 binary release: `data_batch_{1..5}.bin`, `test_batch.bin`, `batches.meta.txt`.

    Usage:
        source = Cifar10Source("data/cifar-10-binary.tar.gz")
        source.class_names[:2]  # ('airplane', 'automobile')

    Attributes:
        name: 'cifar10'.
        class_names: the 10 official class names in label order.
    """

    name = "cifar10"
    _split_files = {
        "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
        "test": ("test_batch.bin",),
    }
    _label_bytes = 1
    _names_files = {"class_names": ("batches.meta.txt", CIFAR10_CLASS_NAMES)}

    def _check_labels(self, header: np.ndarray, filename: str) -> np.ndarray:
        labels = header[:, 0]
        self._check_range(labels, len(CIFAR10_CLASS_NAMES), "class", filename)
        return labels


class Cifar100Source(_CifarBinarySource):
    """CIFAR-100 binary release: `train.bin`, `test.bin` and the fine/coarse label-names files.

    Every record's coarse label is checked against the official fine -> coarse map.

    Usage:
        source = Cifar100Source("data/cifar-100-binary.tar.gz")
        source.official_fine_to_coarse[0]  # 4: apple -> fruit_and_vegetables

    Attributes:
        name: 'cifar100'.
        class_names: the 100 fine label names in label order.
        coarse_label_names: the 20 coarse label names in label order.
        official_fine_to_coarse: the coarse label of each fine label.
    """

    name = "cifar100"
    _split_files = {"train": ("train.bin",), "test": ("test.bin",)}
    _label_bytes = 2
    _names_files = {
        "class_names": ("fine_label_names.txt", CIFAR100_FINE_NAMES),
        "coarse_label_names": ("coarse_label_names.txt", CIFAR100_COARSE_NAMES),
    }
    official_fine_to_coarse = CIFAR100_FINE_TO_COARSE

    def _check_labels(self, header: np.ndarray, filename: str) -> np.ndarray:
        coarse, fine = header[:, 0], header[:, 1]
        self._check_range(fine, len(CIFAR100_FINE_NAMES), "fine", filename)
        expected = np.asarray(CIFAR100_FINE_TO_COARSE, np.uint8)[fine]
        bad = np.flatnonzero(coarse != expected)
        if bad.size:
            i = bad[0]
            raise DataError(
                f"{self._files.where(filename)}: record {i} pairs fine label {fine[i]} "
                f"({CIFAR100_FINE_NAMES[fine[i]]}) with coarse label {coarse[i]}; the official "
                f"map gives {expected[i]} ({CIFAR100_COARSE_NAMES[expected[i]]})."
            )
        return fine
