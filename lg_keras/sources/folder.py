"""Image folders `ROOT/{train,test}/<class>/<image>`, from a directory or a tar archive in place.

The layout of public image-folder copies of CIFAR-10 and of ImageNet subsets (class folders may be
synset ids such as `n02085620`). When there is no `test/` folder, `val/` is used as the test split.
A directory or archive may hold the layout under a single top-level folder (`cifar-10-jpg/train/`).

Nothing is ever extracted: a directory yields file paths (workers read the files themselves) and an
archive yields the member bytes, streamed in archive order. Each image's format comes from its magic
bytes, not its extension. This module also holds the tar-member checks the other sources share.
"""

import logging
import os
import tarfile
from typing import Iterator, Sequence

from lg_keras.errors import DataError
from lg_keras.sources.base import SPLITS, RawExample

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG"
# Folder names tried for each split, first match wins (ImageNet ships `val/`, not `test/`).
_SPLIT_DIRS = {"train": ("train",), "test": ("test", "val")}
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def is_tar_path(path: str) -> bool:
    """Returns whether `path` names a tar archive (by suffix: .tar, .tar.gz, .tgz)."""
    return path.lower().endswith(TAR_SUFFIXES)


def detect_image_format(header: bytes, where: str) -> str:
    """Returns 'jpeg' or 'png' from an image's first bytes.

    Args:
        header: at least the first 4 bytes of the file.
        where: the file (path or `archive:member`) named in the error.

    Raises:
        DataError: the bytes are neither JPEG (FF D8 FF) nor PNG (89 50 4E 47).
    """
    if header.startswith(_JPEG_MAGIC):
        return "jpeg"
    if header.startswith(_PNG_MAGIC):
        return "png"
    raise DataError(
        f"{where} is not a JPEG or PNG image (first bytes {header[:4].hex(' ') or 'none'}); an "
        "image folder may hold only JPEG/PNG files under <split>/<class>/. Remove or convert it."
    )


def check_tar_member(member: tarfile.TarInfo, archive: str) -> str:
    """Checks that a tar member is safe to read in place and returns its normalised name.

    Args:
        member: the member header.
        archive: the archive path, named in the error.

    Returns:
        The member name without leading './' or a trailing '/' ('' for the archive root).

    Raises:
        DataError: an absolute name, a '..' component, a link, a device or other special file.
    """
    name = member.name
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"Refusing {archive}: member {name!r} has an absolute path.")
    if ".." in name.replace("\\", "/").split("/"):
        raise DataError(f"Refusing {archive}: member {name!r} has a '..' path component.")
    if member.issym() or member.islnk():
        raise DataError(
            f"Refusing {archive}: member {name!r} is a link (to {member.linkname!r}); "
            "archives must hold regular files and folders only."
        )
    if not (member.isreg() or member.isdir()):
        raise DataError(
            f"Refusing {archive}: member {name!r} is a device or other special file; "
            "archives must hold regular files and folders only."
        )
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return "" if name == "." else name


def iter_tar_members(
    archive: str, stream: bool = False
) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo, str]]:
    """Yields (tar, member, normalised name) for every member, checked with `check_tar_member`.

    Args:
        archive: path of a .tar, .tar.gz or .tgz file.
        stream: open in stream mode ('r|*'): one forward pass, each member readable only while
            it is the one yielded.

    Raises:
        DataError: the archive is missing, unreadable or truncated, or a member is unsafe.
    """
    try:
        with tarfile.open(archive, "r|*" if stream else "r:*") as tar:
            for member in tar:
                yield tar, member, check_tar_member(member, archive)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"Cannot read tar archive {archive}: {e}. Check it is complete.") from e


class ImageFolderSource:
    """Labelled JPEG/PNG images in `ROOT/{train,test}/<class>/`, from a directory or tar archive.

    Usage:
        source = ImageFolderSource("data/cifar-10-jpg.tar.gz")
        first = next(source.examples("train"))  # RawExample(id='train/bird/0001.jpg', ...)

    Attributes:
        name: the dataset name recorded in dataset.json.
        class_names: class folder names in label order.
        path: the directory or archive given.
    """

    def __init__(
        self, path: str, class_names: Sequence[str] | None = None, name: str | None = None
    ):
        """Lists the class folders (and, for an archive, every member) and checks them.

        Args:
            path: a directory, or a .tar/.tar.gz/.tgz archive.
            class_names: the classes in label order (e.g. a dataset's official order); default:
                the sorted class folder names of the train split.
            name: dataset name; default `folder:<path>`.

        Raises:
            DataError: missing path or split folder, an unsafe archive member or symlink, an empty
                class folder, a file outside a class folder, or classes that differ between the
                splits or from `class_names`.
        """
        self.path = path
        self.name = name or f"folder:{path}"
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
        logging.info("Image folder %s: %d classes.", path, len(self.class_names))

    def describe(self) -> dict:
        """Returns where the data comes from, for dataset.json."""
        return {
            "kind": "image_folder",
            "path": os.path.abspath(self.path),
            "archive": self._is_tar,
            "split_dirs": dict(self._split_dirs),
        }

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

    def _pick_split_dirs(self, present: set[str], where: str) -> dict[str, str]:
        split_dirs = {}
        for split, candidates in _SPLIT_DIRS.items():
            found = [c for c in candidates if c in present]
            if not found:
                raise DataError(
                    f"No {' or '.join(c + '/' for c in candidates)} folder in {where}; an image "
                    "folder needs train/<class>/ and test/<class>/ (or val/<class>/)."
                )
            split_dirs[split] = found[0]
        return split_dirs

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
        if not os.path.isdir(os.path.join(root, "train")) and len(subdirs) == 1:
            root = subdirs[0]  # A single top-level folder, as archives usually have.
        self._root, self._real_root = root, os.path.realpath(self.path)
        self._check_inside(root)
        with os.scandir(root) as entries:
            present = {e.name for e in entries if e.is_dir()}
        split_dirs = self._pick_split_dirs(present, root)
        classes = {}
        for split, dirname in split_dirs.items():
            split_path = os.path.join(root, dirname)
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

    def _directory_examples(self, split: str) -> Iterator[RawExample]:
        split_path = os.path.join(self._root, self._split_dirs[split])
        for class_name in sorted(self._label):
            class_path = os.path.join(split_path, class_name)
            for filename in sorted(os.listdir(class_path)):
                path = os.path.join(class_path, filename)
                self._check_inside(path)
                if not os.path.isfile(path):
                    raise DataError(f"{path} is not an image file; expected {class_path}/<image>.")
                with open(path, "rb") as f:
                    fmt = detect_image_format(f.read(8), path)
                yield RawExample(
                    id=f"{split}/{class_name}/{filename}",
                    label=self._label[class_name],
                    format=fmt,
                    path=path,
                )

    # -- tar archive -------------------------------------------------------------------------------

    def _scan_tar(self) -> tuple[str, dict[str, str], dict[str, set[str]]]:
        entries = [(n, m.isdir()) for _, m, n in iter_tar_members(self.path) if n]
        tops = {name.split("/")[0] for name, _ in entries}
        prefix = ""
        if "train" not in tops and len(tops) == 1:
            prefix = tops.pop() + "/"  # A single top-level folder, e.g. cifar-10-jpg/.
        below = [(n[len(prefix):].split("/"), d) for n, d in entries if n.startswith(prefix)]
        present = {parts[0] for parts, is_dir in below if len(parts) > 1 or is_dir}
        split_dirs = self._pick_split_dirs(present, f"{self.path}:{prefix or '/'}")
        by_dir = {d: s for s, d in split_dirs.items()}
        counts = {s: {} for s in SPLITS}
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
        for split, per_class in counts.items():
            for class_name, n in per_class.items():
                if n == 0:
                    raise DataError(
                        f"Class folder {self.path}:{prefix}{split_dirs[split]}/{class_name}/ is "
                        "empty; every class needs an image."
                    )
        return prefix, split_dirs, {s: set(c) for s, c in counts.items()}

    def _tar_examples(self, split: str) -> Iterator[RawExample]:
        split_prefix = f"{self._prefix}{self._split_dirs[split]}/"
        for tar, member, name in iter_tar_members(self.path, stream=True):
            if not (member.isreg() and name.startswith(split_prefix)):
                continue
            class_name, filename = name[len(split_prefix):].split("/")
            payload = tar.extractfile(member).read()
            fmt = detect_image_format(payload[:8], f"{self.path}:{name}")
            yield RawExample(
                id=f"{split}/{class_name}/{filename}",
                label=self._label[class_name],
                format=fmt,
                payload=payload,
            )
