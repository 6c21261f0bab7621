"""Output directories that never appear half-written, and locks that keep two writers apart.

A builder writes into a private `<out>.partial-<pid>-<token>` sibling and renames it over `<out>`
only when everything is written (a rename within one file system is atomic). A lock file
`<out>.lock` holding the owner's pid refuses a second writer; a lock whose process is gone is stale
and is taken over.
"""

import contextlib
import errno
import glob
import json
import logging
import os
import re
import shutil
import uuid

from lg_keras.errors import LgError, RunDirError

# Write errors that mean the output's file system is full or refuses writes (never a read error).
_STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (the process's file size limit or the file system's)",
    errno.EROFS: "read-only file system",
}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def exclusive_lock(target: str):
    """Holds `<target>.lock` for the duration of the block.

    Raises:
        RunDirError: when another live process holds the lock, or the parent cannot be written.
    """
    lock = os.path.abspath(target.rstrip("/")) + ".lock"
    parent = os.path.dirname(lock)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"Cannot create the output's parent directory {parent!r}: {e}.") from e
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(lock)
            if owner is not None and owner != os.getpid() and _pid_alive(owner):
                raise RunDirError(
                    f"{target!r} is in use by another process (pid {owner}, lock file {lock!r}). "
                    f"Wait for it to finish, or remove the lock file if that process is gone.")
            logging.warning("Taking over stale lock %s (pid %s is gone).", lock, owner)
            with contextlib.suppress(FileNotFoundError):
                os.remove(lock)
            continue
        except OSError as e:
            raise RunDirError(f"Cannot write to {parent!r} ({e.strerror}): the output directory's "
                              f"parent must be writable.") from e
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        break
    else:
        raise RunDirError(f"Could not take the lock {lock!r}.")
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            if _owner(lock) == os.getpid():
                os.remove(lock)


def new_partial_dir(target: str) -> str:
    """Creates a private sibling directory to write `target`'s content into."""
    target = os.path.abspath(target.rstrip("/"))
    remove_stale_partials(target)
    path = f"{target}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        os.makedirs(path)
    except OSError as e:
        raise RunDirError(f"Cannot create {path!r} ({e.strerror}).") from e
    return path


def remove_stale_partials(target: str) -> list[str]:
    """Deletes partial siblings of `target` left by processes that are gone; returns them."""
    target = os.path.abspath(target.rstrip("/"))
    parent, base = os.path.split(target)
    removed = []
    if not os.path.isdir(parent):
        return removed
    for name in os.listdir(parent):
        for marker in (".partial-", ".old-"):
            if name.startswith(base + marker):
                pid = name[len(base + marker):].split("-")[0]
                if pid.isdigit() and not _pid_alive(int(pid)):
                    shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
                    removed.append(name)
    return removed


def remove_stale_private_dirs(parent: str, prefix: str) -> list[str]:
    """Deletes directories `parent/<prefix><pid>-*` whose process is gone; returns their names.

    For a process's private scratch directory (e.g. a non-chief worker's, `<prefix><pid>-XXXX`
    from `tempfile.mkdtemp`) that a SIGKILL left behind.
    """
    removed = []
    for path in glob.glob(os.path.join(glob.escape(parent), glob.escape(prefix) + "*")):
        pid = os.path.basename(path)[len(prefix):].split("-")[0]
        if os.path.isdir(path) and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(os.path.basename(path))
    return removed


def publish(partial: str, target: str) -> None:
    """Atomically replaces `target` by the finished `partial` directory."""
    target = os.path.abspath(target.rstrip("/"))
    old = None
    if os.path.exists(target):
        old = f"{target}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(target, old)
    os.rename(partial, target)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def discard(partial: str) -> None:
    """Removes a partial directory after a failure."""
    shutil.rmtree(partial, ignore_errors=True)


def storage_error(exc: BaseException, path: str) -> RunDirError | None:
    """A RunDirError naming `path` when `exc` comes from a full or read-only file system.

    Looks through the exception's chain (`__cause__`, `__context__`) for an OSError whose errno is
    ENOSPC, EDQUOT, EFBIG or EROFS, and through the messages for '[Errno N]' (Beam re-raises a
    worker's OSError as a RuntimeError holding only its text) or the error's text ('No space left
    on device': how TensorFlow's file writers report it). An LgError in the chain is already
    a clear message: None.

    Args:
        exc: the exception raised while writing.
        path: the output being written, named in the message.

    Returns:
        The RunDirError to raise instead, or None when `exc` is something else.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, LgError):
            return None
        code = exc.errno if isinstance(exc, OSError) else None
        if code not in _STORAGE_ERRNOS:
            match = re.search(r"\[Errno (\d+)\]", str(exc))
            code = int(match.group(1)) if match else None
        if code not in _STORAGE_ERRNOS:  # TensorFlow's file errors quote only strerror's text
            code = next((c for c in _STORAGE_ERRNOS if os.strerror(c) in str(exc)), None)
        if code in _STORAGE_ERRNOS:
            return RunDirError(f"Cannot write {path!r}: {_STORAGE_ERRNOS[code]} "
                               f"({errno.errorcode[code]}). Nothing partial was kept; free space "
                               f"or choose another output directory, then rerun.")
        exc = exc.__cause__ or exc.__context__
    return None


def remove_stale_temp_files(directory: str) -> list[str]:
    """Deletes the temporary files of killed writers in `directory`; returns their names.

    They are `<name>.tmp-<pid>` (from `write_json_atomic`) and `tmp-<pid>.keras` (model saves)
    whose process is gone.
    """
    removed = []
    for path in glob.glob(os.path.join(glob.escape(directory), "*")):
        name = os.path.basename(path)
        match = re.fullmatch(r".+\.tmp-(\d+)|tmp-(\d+)\.keras", name)
        if match and os.path.isfile(path) and not _pid_alive(int(match.group(1) or match.group(2))):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            removed.append(name)
    return removed


def write_json_atomic(path: str, data) -> None:
    """Writes JSON to `path` through a temporary file and a rename, so readers never see half.

    Raises:
        RunDirError: when the file cannot be written (the temporary file is removed).
    """
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise storage_error(e, path) or RunDirError(
            f"Cannot write {path!r} ({e.strerror}).") from e
