"""Full and read-only disks: a clear one-line error (exit 2), nothing partial left, and a rerun
on a healthy disk that succeeds.

Tests run as root, for whom chmod does not make a directory read-only. A read-only directory is
a small tmpfs remounted read-only (or, where `mount` is not permitted, `chattr +i`); a full disk is
a tmpfs of a few KiB, or, in a subprocess, RLIMIT_FSIZE with SIGXFSZ ignored so that write()
fails with EFBIG instead of killing the process (`run_with_file_size_limit`).
"""

import contextlib
import json
import os
import resource
import signal
import subprocess

import pytest

from lg_keras import outputs
from pipelines import cli
from tests.helpers import datagen
from tests.helpers import processes

CLASSES = ("a", "b", "c", "d")
_TRAIN = ["--labels", "fine", "--model", "preact_resnet18", "--width", "4", "--batch-size", "32"]


@contextlib.contextmanager
def tmpfs(path, size_kib: int):
    """Mounts a tmpfs of `size_kib` KiB at `path` for the block (skips where mount is refused)."""
    os.makedirs(path, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755",
                           "lg-reliability", str(path)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
    try:
        yield str(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody, root included, can create entries in: a read-only tmpfs, or +i."""
    path = tmp_path / "ro"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,ro", "lg-reliability",
                           str(path.mkdir() or path)], capture_output=True, text=True)
    if done.returncode == 0:
        yield str(path), "Read-only file system"
        subprocess.run(["umount", "-l", str(path)], check=False)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"neither a read-only tmpfs nor chattr +i works here ({done.stderr.strip()})")
    yield str(path), "Operation not permitted"
    subprocess.run(["chattr", "-i", str(path)], check=False)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    base = tmp_path_factory.mktemp("storage")
    datagen.write_image_folder(base / "images", CLASSES, 12, 4)
    hierarchy = datagen.write_hierarchy(base / "h.yaml", {"ab": ["a", "b"], "cd": ["c", "d"]})
    return str(base / "images"), hierarchy


def _main(argv, capsys) -> str:
    """Runs `lg ARGV` in-process; asserts exit 2 and a one-line error; returns stderr."""
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2, err[-3000:]
    assert "Traceback" not in err
    return err[err.index("error: "):]


def test_build_train_reproduce_refuse_a_read_only_directory(read_only_dir, image_folder,
                                                             grid_dataset, capsys, counts):
    path, reason = read_only_dir
    images, hierarchy = image_folder
    commands = {
        "build": ["data", "build", "--dataset", f"folder:{images}", "--hierarchy", hierarchy,
                  "--out", os.path.join(path, "dataset")],
        "train": ["train", "--data", grid_dataset, *_TRAIN, "--epochs", "1",
                  "--out", os.path.join(path, "run")],
        "reproduce": ["reproduce", "--profile", "smoke", "--only", "table1", "--datasets",
                      "cifar10", "--data-dir", images, "--out", os.path.join(path, "runs")],
    }
    for name, argv in commands.items():
        message = _main(argv, capsys)
        assert path in message and reason in message, (name, message)
        counts["storage_faults_reported"] += 1
    assert os.listdir(path) == []


def test_build_on_a_full_disk_leaves_nothing_and_reruns(tmp_path, image_folder, capsys, counts):
    images, hierarchy = image_folder
    argv = ["data", "build", "--dataset", f"folder:{images}", "--hierarchy", hierarchy]
    with tmpfs(tmp_path / "disk", 24) as disk:
        out = os.path.join(disk, "dataset")
        message = _main([*argv, "--out", out], capsys)
        assert f"Cannot write {out!r}: no space left on the device" in message, message
        assert os.listdir(disk) == []  # no partial directory, no lock
        remount(disk, "size=4m")
        assert cli.main([*argv, "--out", out]) == 0, capsys.readouterr().err[-3000:]
        assert sorted(os.listdir(disk)) == ["dataset"]
    counts["storage_faults_reported"] += 1


def test_write_json_atomic_on_a_full_disk_keeps_the_old_file(tmp_path):
    with tmpfs(tmp_path / "disk", 8) as disk:
        path = os.path.join(disk, "state.json")
        outputs.write_json_atomic(path, {"epoch": 1})
        with pytest.raises(outputs.RunDirError, match="no space left on the device"):
            outputs.write_json_atomic(path, {"epoch": 2, "pad": "x" * 20_000})
        with open(path) as f:
            assert json.load(f) == {"epoch": 1}
        assert os.listdir(disk) == ["state.json"]


def test_storage_error_finds_the_os_error_in_a_beam_chain():
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as e:
            raise RuntimeError(f"OSError: {e} [while running 'Write']") from None
    except RuntimeError as e:
        error = outputs.storage_error(e, "/data/out")
    assert "no space left on the device (ENOSPC)" in str(error)
    assert outputs.storage_error(RuntimeError("OSError: [Errno 27] File too large"), "x")
    assert outputs.storage_error(ValueError("bad value"), "x") is None
    # TensorFlow's writers quote strerror's text without an errno.
    tf_error = RuntimeError("ResourceExhaustedError: /d/x.tfrecord; No space left on device")
    assert "ENOSPC" in str(outputs.storage_error(tf_error, "/d"))
    assert outputs.storage_error(outputs.RunDirError("already clear [Errno 28]"), "x") is None


def run_with_file_size_limit(argv, limit_bytes: int, log_path):
    """Runs `lg ARGV` with RLIMIT_FSIZE: a write past `limit_bytes` fails with EFBIG."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    with open(log_path, "wb") as log:
        done = subprocess.run([*processes.LG, *argv], cwd=processes.REPO, env=processes.ENV,
                              stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit,
                              timeout=600, check=False)
    with open(log_path) as f:
        return done.returncode, f.read()


def _leftovers(directory):
    return [os.path.join(d, n) for d, _, names in os.walk(directory) for n in names
            if ".tmp-" in n or n.startswith("tmp-") or ".partial-" in d or n.endswith(".lock")]


@pytest.mark.slow
def test_build_past_the_file_size_limit(tmp_path, image_folder, counts):
    images, hierarchy = image_folder
    out = str(tmp_path / "dataset")
    argv = ["data", "build", "--dataset", f"folder:{images}", "--hierarchy", hierarchy,
            "--out", out, "--train-shards", "1"]
    code, log = run_with_file_size_limit(argv, 4096, tmp_path / "build.log")
    assert code == 2, log[-3000:]
    assert f"error: Cannot write {out!r}: file too large" in log and "Traceback" not in log
    assert os.listdir(tmp_path) == ["build.log"]
    code, log = run_with_file_size_limit(argv, resource.RLIM_INFINITY, tmp_path / "rerun.log")
    assert code == 0, log[-3000:]
    counts["storage_faults_reported"] += 1


@pytest.mark.slow
def test_train_past_the_file_size_limit_then_resume(tmp_path, grid_dataset, counts):
    """Checkpoints (.keras, ~0.3 MB) cannot be written: a clear error, no temporary file, and
    the same command without the limit trains the run to the end."""
    run_dir = str(tmp_path / "run")
    argv = ["train", "--data", grid_dataset, *_TRAIN, "--epochs", "2", "--out", run_dir]
    code, log = run_with_file_size_limit(argv, 100_000, tmp_path / "train.log")
    assert code == 2, log[-3000:]
    assert "error: Cannot write" in log and "file too large" in log and "Traceback" not in log
    assert _leftovers(run_dir) == [] and not os.path.exists(run_dir + ".lock")
    assert not os.path.exists(os.path.join(run_dir, "train_state.json"))
    code, log = run_with_file_size_limit(argv, resource.RLIM_INFINITY, tmp_path / "rerun.log")
    assert code == 0, log[-3000:]
    with open(os.path.join(run_dir, "history.json")) as f:
        assert [h["epoch"] for h in json.load(f)] == [1, 2]
    counts["storage_faults_reported"] += 1
