"""Tar archives read in place, and image formats told by their magic bytes.

Shared by the sources that read archives (image folders, CIFAR binaries) and those that meet
encoded images (image folders, TFDS): a member is checked before it is read (no absolute paths,
no '..', no links or devices), and nothing is ever extracted to disk.
"""

import functools
import os
import tarfile
from typing import Iterator

from lg_keras.errors import DataError

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG"
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


def tar_listing(archive: str) -> tuple[tuple[str, bool], ...]:
    """(normalised name, is a folder) of every member but the root, checked, in archive order.

    Listing a compressed archive reads all of it (CIFAR-10's 60,000 JPEGs: ~1.5 s), and one
    `lg reproduce` opens the same archive for several builds (CIFAR-10, its launched-noise and
    6-class variants), so a listing is kept for the process while the file's size, mtime and
    inode stay the same.

    Raises:
        DataError: as `iter_tar_members`.
    """
    try:
        stat = os.stat(archive)
    except OSError:
        stat = None
    if stat is None:  # iter_tar_members names the problem
        return tuple((n, m.isdir()) for _, m, n in iter_tar_members(archive) if n)
    return _cached_listing(os.path.abspath(archive), stat.st_size, stat.st_mtime_ns, stat.st_ino)


@functools.lru_cache(maxsize=8)
def _cached_listing(archive: str, size: int, mtime_ns: int, inode: int):
    del size, mtime_ns, inode  # the cache key only
    return tuple((n, m.isdir()) for _, m, n in iter_tar_members(archive) if n)
