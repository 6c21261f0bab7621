"""Image folders `ROOT/{train,test}/<class>/<image>`, from a directory or a tar archive in place.

The layout of public image-folder copies of CIFAR-10 and of ImageNet subsets (class folders may be
synset ids such as `n02085620`). When there is no `test/` folder, `val/` is used as the test split.
A directory or archive may hold the layout under a single top-level folder (`cifar-10-jpg/train/`).

A folder without a test split (`ROOT/train/<class>/`, or for a directory `ROOT/<class>/` directly)
is read with a `test_fraction`: each class's held-out share, chosen by a seeded hash of each
image's id (`label_variants.held_out_mask`), becomes the test split, so the split is
class-balanced and stable across listings and machines. `describe()` records it for dataset.json.

Nothing is ever extracted: a directory yields file paths (workers read the files themselves) and an
archive yields the member bytes, streamed in archive order. Each image's format comes from its magic
bytes, not its extension (`lg_keras.sources.archives`, with the tar-member checks).
"""

import logging
import os
from typing import Iterator, Sequence

from lg_keras import label_variants
from lg_keras.errors import DataError
from lg_keras.sources.archives import (detect_image_format, is_tar_path, iter_tar_members,
                                       tar_listing)
from lg_keras.sources.base import SPLITS, RawExample

# Folder names tried for each split, first match wins (ImageNet ships `val/`, not `test/`).
_SPLIT_DIRS = {"train": ("train",), "test": ("test", "val")}
# The split folder of a directory that holds its class folders directly (`ROOT/<class>/`).
_FLAT = "."


class ImageFolderSource:
    """Labelled JPEG/PNG images in `ROOT/{train,test}/<class>/`, from a directory or tar archive.

    Usage:
        source = ImageFolderSource("data/cifar-10-jpg.tar.gz")
        first = next(source.examples("train"))  # RawExample(id='train/bird/0001.jpg', ...)
        pets = ImageFolderSource("data/pets", test_fraction=0.2)  # pets/<class>/, no test split

    Attributes:
        name: the dataset name recorded in dataset.json.
        class_names: class folder names in label order.
        path: the directory or archive given.
        test_fraction: the share of each class held out as the test split when the folder has
            none (0: the folder must have one).
        seed: the held-out split's seed.
    """

    def __init__(
        self, path: str, class_names: Sequence[str] | None = None, name: str | None = None, *,
        test_fraction: float = 0.0, seed: int = 0
    ):
        """Lists the class folders (and, for an archive, every member) and checks them.

        Args:
            path: a directory, or a .tar/.tar.gz/.tgz archive.
            class_names: the classes in label order (e.g. a dataset's official order); default:
                the sorted class folder names of the train split.
            name: dataset name; default `folder:<path>`.
            test_fraction: for a folder without test/ or val/ (a directory `ROOT/train/<class>/`
                or `ROOT/<class>/`, an archive `train/<class>/`): the share of each class held
                out as the test split, in [0, 1); ignored when the folder has a test split.
            seed: seed of the held-out split.

        Raises:
            DataError: missing path or split folder, an unsafe archive member or symlink, an empty
                class folder, a file outside a class folder, classes that differ between the
                splits or from `class_names`, or a class too small for `test_fraction`.
        """
        if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not (
                0 <= test_fraction < 1):
            raise DataError(f"test_fraction must be a number in [0, 1); got {test_fraction!r}.")
        self.path = path
        self.name = name or f"folder:{path}"
        self.test_fraction, self.seed = float(test_fraction), seed
        # When the test split is held out: split folder it comes from, and per class the file
        # names that form it.
        self._pool: str | None = None
        self._held_out: dict[str, frozenset[str]] | None = None
        self._is_tar = not os.path.isdir(path)
        if self._is_tar and not (os.path.isfile(path) and is_tar_path(path)):
            raise DataError(
                f"Image folder {path} not found: expected a directory or a .tar/.tar.gz archive "
                "holding train/<class>/ and test/<class>/ (or val/<class>/) image folders."
            )
        if self._is_tar:
            self._prefix, self._split_dirs, classes = self._scan_tar()
        else:
            self._root, self._split_dirs, classes = self._scan_directory()
        self.class_names = self._check_classes(classes, class_names)
        self._label = {c: i for i, c in enumerate(self.class_names)}
        if self._pool is not None:
            self._hold_out()
        logging.info("Image folder %s: %d classes.", path, len(self.class_names))

    def describe(self) -> dict:
        """Returns where the data comes from, for dataset.json (with the held-out split's rule)."""
        out = {
            "kind": "image_folder",
            "path": os.path.abspath(self.path),
            "archive": self._is_tar,
            "split_dirs": dict(self._split_dirs),
        }
        if self._held_out is not None:
            out["held_out"] = {
                "test_fraction": self.test_fraction, "seed": self.seed, "from": f"{self._pool}/",
                "rule": "per class, the round(test_fraction * n) images of lowest "
                        "sha256('held_out:<seed>:<example id>') form the test split"}
        return out

    @property
    def held_out(self) -> bool:
        """Whether the test split is held out of the training images (the folder has none)."""
        return self._held_out is not None

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Images per class in each split (after any hold-out), from the listing: none is read.

        Returns:
            {'train': {class: n}, 'test': {class: n}}, classes in label order.
        """
        if self._is_tar:
            listed = self._tar_counts
        else:
            splits = ("train",) if self._held_out is not None else SPLITS
            listed = {split: {c: len(self._list_class(split, c)) for c in self.class_names}
                      for split in splits}
        if self._held_out is None:
            return {split: {c: listed[split][c] for c in self.class_names} for split in SPLITS}
        test = {c: len(self._held_out[c]) for c in self.class_names}
        return {"train": {c: listed["train"][c] - test[c] for c in self.class_names},
                "test": test}

    def class_dir(self, split: str, class_name: str) -> str:
        """Where a class's images of `split` are, for messages ('held out of ...' when so)."""
        where = (f"{self.path}:{self._prefix}" if self._is_tar else f"{self._root}/")
        folder = os.path.normpath(f"{self._split_dirs[split]}/{class_name}")
        if split == "test" and self._held_out is not None:
            return (f"{where}{folder}/ (held out: test_fraction {self.test_fraction:g}, "
                    f"seed {self.seed})")
        return f"{where}{folder}/"

    def sample(self, per_class: int) -> Iterator[RawExample]:
        """The first `per_class` training examples of each class (id order for a directory,
        archive order for an archive), e.g. to measure image sizes without reading them all."""
        if self._is_tar:
            taken = dict.fromkeys(self.class_names, 0)
            for example in self._tar_examples("train"):
                name = self.class_names[example.label]
                if taken[name] < per_class:
                    taken[name] += 1
                    yield example
                if min(taken.values()) >= per_class:
                    return
        else:
            for class_name in self.class_names:
                yield from self._directory_class_examples("train", class_name, per_class)

    def examples(self, split: str) -> Iterator[RawExample]:
        """Yields the examples of `split`: `path=` for a directory, `payload=` for an archive.

        A directory is listed in sorted order; an archive is streamed in archive order.

        Raises:
            DataError: unknown split, or a file that is not a JPEG/PNG image.
        """
        if split not in SPLITS:
            raise DataError(f"Unknown split {split!r}. Available: {', '.join(SPLITS)}.")
        if self._is_tar:
            yield from self._tar_examples(split)
        else:
            yield from self._directory_examples(split)

    # -- checks ------------------------------------------------------------------------------------

    def _check_classes(
        self, classes: dict[str, set[str]], class_names: Sequence[str] | None
    ) -> tuple[str, ...]:
        train, test = classes["train"], classes["test"]
        if train != test:
            raise DataError(
                f"Image folder {self.path}: the test split ({self._split_dirs['test']}/) must "
                f"have the same classes as train/; only in train: {sorted(train - test)}, "
                f"only in test: {sorted(test - train)}."
            )
        if class_names is None:
            return tuple(sorted(train))
        wanted = set(class_names)
        if len(wanted) != len(class_names) or wanted != train:
            raise DataError(
                f"Image folder {self.path}: class folders must be exactly the given "
                f"{len(class_names)} classes; missing {sorted(wanted - train)}, "
                f"unexpected {sorted(train - wanted)}."
            )
        return tuple(class_names)

    def _pick_split_dirs(self, present: set[str], where: str, flat: bool = False) -> dict[str, str]:
        """The folder of each split; without a test folder and with a test fraction, the test
        split is held out of train/ (or, when `flat` allows it, of the class folders at `where`).
        """
        tests = [c for c in _SPLIT_DIRS["test"] if c in present]
        if self.test_fraction and not tests:
            pool = "train" if "train" in present else _FLAT if flat and present else None
            if pool is not None:
                self._pool = pool
                return {"train": pool, "test": pool}
        split_dirs = {}
        for split, candidates in _SPLIT_DIRS.items():
            found = [c for c in candidates if c in present]
            if not found:
                raise DataError(
                    f"No {' or '.join(c + '/' for c in candidates)} folder in {where}; an image "
                    "folder needs train/<class>/ and test/<class>/ (or val/<class>/), or a test "
                    "fraction to hold out of train/<class>/ (`--test-fraction`)."
                )
            split_dirs[split] = found[0]
        return split_dirs

    def _hold_out(self) -> None:
        """Draws the held-out test split (`label_variants.held_out_mask`) and checks each class
        keeps an image in both splits."""
        prefix = self._id_prefix("train")
        names = {c: self._pool_names(c) for c in self.class_names}
        ids = [f"{prefix}{c}/{f}" for c in self.class_names for f in names[c]]
        labels = [self._label[c] for c in self.class_names for _ in names[c]]
        mask = label_variants.held_out_mask(ids, labels, self.test_fraction, self.seed)
        held = {c: set() for c in self.class_names}
        for example_id, label, test in zip(ids, labels, mask.tolist()):
            if test:
                held[self.class_names[label]].add(example_id.rsplit("/", 1)[1])
        self._held_out = {c: frozenset(v) for c, v in held.items()}
        for c in self.class_names:
            n, test = len(names[c]), len(held[c])
            if test == 0 or test == n:
                raise DataError(
                    f"Class {c!r} has {n} image(s) in {self.class_dir('train', c)}: holding out "
                    f"a test fraction of {self.test_fraction:g} leaves {n - test} for training "
                    f"and {test} for testing; every class needs images in both splits. Add "
                    f"images to it, or change the test fraction.")

    def _id_prefix(self, split: str) -> str:
        """Ids are paths below ROOT named by split ('test/' for a val/ folder too); a held-out
        test image keeps the id of its file in the folder it was held out of."""
        if self._pool is None:
            return f"{split}/"
        return "" if self._pool == _FLAT else f"{self._pool}/"

    def _pool_names(self, class_name: str) -> list[str]:
        if self._is_tar:
            return sorted(self._tar_names[class_name])
        return self._list_class("train", class_name)

    # -- directory ---------------------------------------------------------------------------------

    def _check_inside(self, path: str) -> None:
        if os.path.islink(path):
            target = os.path.realpath(path)
            if os.path.commonpath([target, self._real_root]) != self._real_root:
                raise DataError(
                    f"Refusing symlink {path} -> {target}: it points outside the image folder "
                    f"{self._root}."
                )

    def _scan_directory(self) -> tuple[str, dict[str, str], dict[str, set[str]]]:
        root = self.path
        with os.scandir(root) as entries:
            subdirs = [e.path for e in entries if e.is_dir()]
        # A single top-level folder, as archives usually have; with a test fraction, not when
        # it is itself the one class folder of ROOT/<class>/ (it holds files, not folders).
        if (not os.path.isdir(os.path.join(root, "train")) and len(subdirs) == 1
                and not (self.test_fraction and _holds_files_only(subdirs[0]))):
            root = subdirs[0]
        self._root, self._real_root = root, os.path.realpath(self.path)
        self._check_inside(root)
        with os.scandir(root) as entries:
            present = {e.name for e in entries if e.is_dir()}
        flat = not present & {"train", *_SPLIT_DIRS["test"]}
        split_dirs = self._pick_split_dirs(present, root, flat=flat)
        classes = {}
        for split, dirname in split_dirs.items():
            split_path = os.path.normpath(os.path.join(root, dirname))
            self._check_inside(split_path)
            with os.scandir(split_path) as entries:
                class_entries = list(entries)
            classes[split] = set()
            for entry in class_entries:
                self._check_inside(entry.path)
                if not entry.is_dir():
                    raise DataError(
                        f"{entry.path} is not in a class folder; expected "
                        f"{split_path}/<class>/<image>."
                    )
                with os.scandir(entry.path) as files:
                    empty = next(files, None) is None
                if empty:
                    raise DataError(
                        f"Class folder {entry.path} is empty; every class needs an image."
                    )
                classes[split].add(entry.name)
        return root, split_dirs, classes

    def _list_class(self, split: str, class_name: str) -> list[str]:
        """The sorted file names of a class folder of `split` (before any hold-out)."""
        return sorted(os.listdir(os.path.join(self._root, self._split_dirs[split], class_name)))

    def _directory_examples(self, split: str) -> Iterator[RawExample]:
        for class_name in sorted(self._label):
            yield from self._directory_class_examples(split, class_name)

    def _directory_class_examples(self, split: str, class_name: str,
                                  limit: int | None = None) -> Iterator[RawExample]:
        dirname = self._split_dirs[split]
        class_path = os.path.normpath(os.path.join(self._root, dirname, class_name))
        prefix = self._id_prefix(split)
        held = None if self._held_out is None else self._held_out[class_name]
        count = 0
        for filename in self._list_class(split, class_name):
            if held is not None and (filename in held) != (split == "test"):
                continue
            if limit is not None and count >= limit:
                return
            count += 1
            path = os.path.join(class_path, filename)
            self._check_inside(path)
            if not os.path.isfile(path):
                raise DataError(f"{path} is not an image file; expected {class_path}/<image>.")
            with open(path, "rb") as f:
                fmt = detect_image_format(f.read(8), path)
            yield RawExample(
                id=f"{prefix}{class_name}/{filename}",
                label=self._label[class_name],
                format=fmt,
                path=path,
            )

    # -- tar archive -------------------------------------------------------------------------------

    def _scan_tar(self) -> tuple[str, dict[str, str], dict[str, set[str]]]:
        entries = tar_listing(self.path)
        tops = {name.split("/")[0] for name, _ in entries}
        prefix = ""
        if "train" not in tops and len(tops) == 1:
            prefix = tops.pop() + "/"  # A single top-level folder, e.g. cifar-10-jpg/.
        below = [(n[len(prefix):].split("/"), d) for n, d in entries if n.startswith(prefix)]
        present = {parts[0] for parts, is_dir in below if len(parts) > 1 or is_dir}
        split_dirs = self._pick_split_dirs(present, f"{self.path}:{prefix or '/'}")
        # Held out, both splits name train/: its members are listed as the train split's.
        by_dir = {split_dirs["test"]: "test", split_dirs["train"]: "train"}
        counts = {s: {} for s in SPLITS}
        self._tar_names = {}
        seen = set()
        for parts, is_dir in below:
            split = by_dir.get(parts[0])
            if split is None or len(parts) == 1:
                continue  # Files next to the split folders (README, LICENSE) are not examples.
            where = f"{self.path}:{prefix}{'/'.join(parts)}"
            if is_dir and len(parts) == 2:
                counts[split].setdefault(parts[1], 0)
            elif len(parts) != 3:
                raise DataError(
                    f"{where} is not in a class folder; expected {parts[0]}/<class>/<image>."
                )
            elif is_dir:
                raise DataError(f"{where} is a folder inside a class folder; expected images.")
            elif tuple(parts) in seen:
                raise DataError(f"{where} appears twice in the archive.")
            else:
                seen.add(tuple(parts))
                counts[split][parts[1]] = counts[split].get(parts[1], 0) + 1
                if self._pool is not None:
                    self._tar_names.setdefault(parts[1], []).append(parts[2])
        if self._pool is not None:
            counts["test"] = dict(counts["train"])
        self._tar_counts = counts
        for split, per_class in counts.items():
            for class_name, n in per_class.items():
                if n == 0:
                    raise DataError(
                        f"Class folder {self.path}:{prefix}{split_dirs[split]}/{class_name}/ is "
                        "empty; every class needs an image."
                    )
        return prefix, split_dirs, {s: set(c) for s, c in counts.items()}

    def _tar_examples(self, split: str) -> Iterator[RawExample]:
        dirname = self._split_dirs[split]
        split_prefix = f"{self._prefix}{dirname}/"
        for tar, member, name in iter_tar_members(self.path, stream=True):
            if not (member.isreg() and name.startswith(split_prefix)):
                continue
            class_name, filename = name[len(split_prefix):].split("/")
            if (self._held_out is not None
                    and (filename in self._held_out[class_name]) != (split == "test")):
                continue
            payload = tar.extractfile(member).read()
            fmt = detect_image_format(payload[:8], f"{self.path}:{name}")
            yield RawExample(
                id=f"{self._id_prefix(split)}{class_name}/{filename}",
                label=self._label[class_name],
                format=fmt,
                payload=payload,
            )


def _holds_files_only(path: str) -> bool:
    """Whether a directory holds no folder (an image class folder rather than a wrapper)."""
    with os.scandir(path) as entries:
        return not any(e.is_dir() for e in entries)
