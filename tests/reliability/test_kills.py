"""SIGKILL at seeded random moments: builds, training runs and `lg reproduce` survive and resume.

Each test starts the real `lg` command as a subprocess, kills its whole process group with
SIGKILL at a seeded moment (a delay, or when a file it writes appears), checks what is on disk,
and finally lets the same command finish. While polling, it also reads the sockets the command
listens on (none may be bound to anything but the loopback interface).
"""

import hashlib
import json
import os
import random
import re
import shutil
import time

import pytest

from lg_keras import data
from lg_keras.dataset_info import load_dataset_info
from tests.helpers.fixtures import write_grid_folder
from tests.helpers import processes

pytestmark = pytest.mark.slow

_TRAIN = ["--labels", "fine", "--model", "preact_resnet18", "--width", "4", "--batch-size", "32"]


class _Sockets:
    """Polls a process's listening sockets; remembers any bound beyond the loopback interface."""

    def __init__(self, counts):
        self.counts, self.exposed = counts, []

    def watch(self, process):
        def poll():
            self.exposed += processes.non_loopback(processes.listening_sockets(process.pid))
        return poll


def _run(argv, log_path, timeout_s=900, sockets=None):
    """Runs `lg ARGV` to the end; returns (exit status, log)."""
    process = processes.start(argv, log_path)
    processes.wait_for(lambda: False, process, timeout_s, poll_s=0.5,
                       on_poll=sockets.watch(process) if sockets else None)
    if process.poll() is None:
        processes.kill(process)
    with open(log_path) as f:
        return process.returncode, f.read()


def _digest(directory: str) -> dict[str, str]:
    """{relative path: sha256} of every file under `directory`."""
    out = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _siblings(path: str) -> list[str]:
    base = os.path.basename(path)
    return sorted(n for n in os.listdir(os.path.dirname(path)) if n.startswith(base) and n != base)


# --------------------------------------------------------------------------- lg data build

def test_killed_builds_leave_the_old_dataset_or_none_never_a_partial(tmp_path, counts):
    """Build once; rebuild with --overwrite and kill it at seeded moments; then let it finish."""
    folder = str(tmp_path / "grid")
    hierarchy = write_grid_folder(folder)
    out = str(tmp_path / "dataset")
    build = ["data", "build", "--dataset", f"folder:{folder}", "--hierarchy", hierarchy,
             "--out", out]
    sockets = _Sockets(counts)
    code, log = _run([*build, "--seed", "0"], tmp_path / "first.log", sockets=sockets)
    assert code == 0, log[-3000:]
    before = _digest(out)

    rng = random.Random(20180)
    partial = lambda: any(".partial-" in n for n in _siblings(out))  # noqa: E731
    # Fixed delays, then moments keyed to the partial directory's appearance (seeded jitter).
    moments = [("delay", 0.5), ("delay", 2.0), ("delay", 5.0), ("partial", 0.0)] + [
        ("partial", round(rng.uniform(0.2, 4.0), 2)) for _ in range(3)]
    outcomes = []
    for i, (kind, delay) in enumerate(moments):
        process = processes.start([*build, "--seed", "1", "--overwrite"], tmp_path / f"k{i}.log")
        if kind == "partial":
            assert processes.wait_for(partial, process, 300, on_poll=sockets.watch(process)), (
                (tmp_path / f"k{i}.log").read_text()[-3000:])
        processes.wait_for(lambda: False, process, delay, on_poll=sockets.watch(process))
        processes.kill(process)
        if not os.path.exists(out):
            outcomes.append("absent")  # killed between publish's two renames
        elif _digest(out) == before:
            outcomes.append("old")
        else:  # killed after the rename: then it must be the new dataset, complete
            info = load_dataset_info(out)
            assert info.meta["build"]["seed"] == 1, f"partial output after kill {i}"
            assert sum(data.verify_shards(info, "train").values()) == 384
            outcomes.append("new")
            shutil.rmtree(out)
            assert _run([*build, "--seed", "0"], tmp_path / f"r{i}.log")[0] == 0
            before = _digest(out)
        counts["kills_survived"] += 1
        counts["kills_survived_data_build"] += 1

    # A rerun of the finished config is a no-op, yet clears what the killed builds left.
    assert _run([*build, "--seed", "0"], tmp_path / "noop.log")[0] == 0
    assert _siblings(out) == [], _siblings(out)
    code, log = _run([*build, "--seed", "1", "--overwrite"], tmp_path / "last.log",
                     sockets=sockets)
    assert code == 0, log[-3000:]
    info = load_dataset_info(out)
    assert info.meta["build"]["seed"] == 1
    assert sum(data.verify_shards(info, "train").values()) == 384
    assert _siblings(out) == []
    assert not sockets.exposed, sockets.exposed
    counts["servers_checked_loopback"] += 1
    print("build kill outcomes:", outcomes)


# --------------------------------------------------------------------------- lg train

def _epochs_done(run_dir: str) -> int:
    try:
        with open(os.path.join(run_dir, "checkpoint", "state.json")) as f:
            return json.load(f)["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def _lock_owner(path: str) -> int | None:
    try:
        with open(path + ".lock") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def _final(run_dir: str) -> tuple[list, dict]:
    with open(os.path.join(run_dir, "history.json")) as f:
        history = json.load(f)
    return history, {k: v for k, v in history[-1].items() if k != "seconds"}


def test_killed_training_resumes_to_the_same_result(tmp_path, grid_dataset, counts):
    """--deterministic: killed in several epochs and resumed, the run ends exactly where an
    uninterrupted one does: every metric of every epoch, evaluations included. The dropout head
    makes the dropout RNG state part of what must be restored."""
    epochs = 6
    argv = ["train", "--data", grid_dataset, *_TRAIN, "--head", "dropout", "--epochs",
            str(epochs), "--deterministic", "--set", "train.eval_every=2"]
    sockets = _Sockets(counts)
    reference = str(tmp_path / "straight")
    code, log = _run([*argv, "--out", reference], tmp_path / "straight.log", sockets=sockets)
    assert code == 0, log[-3000:]

    run_dir = str(tmp_path / "killed")
    rng = random.Random(2018)
    kills, attempt = 0, 0
    while kills < 3 and _epochs_done(run_dir) < epochs - 1:
        attempt += 1
        process = processes.start([*argv, "--out", run_dir], tmp_path / f"a{attempt}.log")
        # Kill during a seeded epoch at least one past the last checkpoint, a seeded fraction
        # of an epoch after that epoch's start (one epoch here takes about a second).
        target = min(epochs - 1, _epochs_done(run_dir) + rng.randint(1, 2))
        reached = processes.wait_for(lambda: _epochs_done(run_dir) >= target, process, 600,
                                     on_poll=sockets.watch(process))
        assert reached, (tmp_path / f"a{attempt}.log").read_text()[-3000:]
        time.sleep(rng.uniform(0.0, 0.8))
        if process.poll() is not None:
            break
        processes.kill(process)
        kills += 1
        done = _epochs_done(run_dir)
        state_checkpoint = json.load(open(os.path.join(run_dir, "checkpoint", "state.json")))
        assert os.path.isfile(os.path.join(run_dir, "checkpoint", state_checkpoint["checkpoint"]))
        assert not os.path.exists(os.path.join(run_dir, "train_state.json")) or done == epochs
        counts["kills_survived"] += 1
        counts["kills_survived_train"] += 1
    assert kills >= 2, kills

    code, log = _run([*argv, "--out", run_dir], tmp_path / "final.log", sockets=sockets)
    assert code == 0, log[-3000:]
    resumed_from = re.findall(r"after epoch (\d+)", log)
    trained = [int(n) for n in re.findall(r"INFO epoch (\d+)/%d " % epochs, log)]
    assert trained == list(range(int(resumed_from[0]) + 1, epochs + 1)) if resumed_from else trained
    history, last = _final(run_dir)
    assert [h["epoch"] for h in history] == list(range(1, epochs + 1))
    reference_history, reference_last = _final(reference)
    # Same batches (keyed by seed and epoch), restored weights, optimizer and step counter, op
    # determinism: every logged figure of every epoch is the uninterrupted run's.
    for mine, theirs in zip(history, reference_history):
        mine = {k: v for k, v in mine.items() if k != "seconds"}
        theirs = {k: v for k, v in theirs.items() if k != "seconds"}
        assert mine == theirs, (mine, theirs)
    assert last == reference_last
    leftovers = [n for _, _, names in os.walk(run_dir) for n in names
                 if n.startswith("tmp-") or ".tmp-" in n]
    assert leftovers == []
    assert not sockets.exposed, sockets.exposed
    counts["servers_checked_loopback"] += 1
    counts["resumed_runs_equal_to_uninterrupted"] += 1


# --------------------------------------------------------------------------- lg reproduce

def test_killed_reproduce_does_only_the_missing_work(tmp_path, shared_data_dir, counts):
    """Kill `lg reproduce --profile smoke` during the dataset build, between the two runs and
    during the second run's training; a second `lg reproduce` meanwhile is refused by the lock;
    the final rerun builds nothing twice, retrains nothing finished and completes the report."""
    out = str(tmp_path / "runs")
    argv = ["reproduce", "--profile", "smoke", "--only", "table1", "--datasets", "cifar10",
            "--data-dir", shared_data_dir, "--no-download", "--out", out]
    sockets = _Sockets(counts)
    examples = os.path.join(out, "example_gen", "examples")
    models = os.path.join(out, "trainer", "model")

    def building():
        return os.path.isdir(examples) and any(".partial-" in n for n in os.listdir(examples))

    def run_dirs():
        return sorted(os.listdir(models)) if os.path.isdir(models) else []

    def metrics_written():
        return sum(os.path.isfile(os.path.join(models, d, "metrics.json")) for d in run_dirs())

    def second_run_training():
        return metrics_written() == 1 and any(
            _epochs_done(os.path.join(models, d)) >= 1 for d in run_dirs()
            if not os.path.isfile(os.path.join(models, d, "metrics.json")))

    rng = random.Random(7)
    stages = [("during the build", building, rng.uniform(0.5, 3.0)),
              ("between the runs", lambda: metrics_written() >= 1, 0.0),
              ("during the second run", second_run_training, rng.uniform(0.0, 0.5))]
    for i, (stage, condition, delay) in enumerate(stages):
        process = processes.start(argv, tmp_path / f"stage{i}.log")
        if i == 1:  # while it holds the lock, a second reproduce on the same directory refuses
            assert processes.wait_for(lambda: _lock_owner(out) == process.pid, process, 300)
            code, log = _run(argv, tmp_path / "second.log")
            assert code == 2 and f"is in use by another process (pid {process.pid}" in log, log
            counts["concurrent_writers_refused"] += 1
        reached = processes.wait_for(condition, process, 900, on_poll=sockets.watch(process))
        assert reached, (stage, (tmp_path / f"stage{i}.log").read_text()[-3000:])
        time.sleep(delay)
        processes.kill(process)
        trained_at_kill = [os.path.isfile(os.path.join(models, d, "train_state.json"))
                           for d in run_dirs()]
        counts["kills_survived"] += 1
        counts["kills_survived_reproduce"] += 1
        for name in os.listdir(examples):  # finished datasets, or leftovers the rerun removes
            assert (".partial-" in name or name.endswith(".lock")
                    or os.path.isfile(os.path.join(examples, name, "dataset.json"))), name

    code, log = _run(argv, tmp_path / "final.log", sockets=sockets)
    assert code == 0, log[-3000:]
    assert "is already built from this config; nothing to do" in log
    assert "is already finished" in log or "Already finished" in log
    if not all(trained_at_kill):  # killed inside the second run's training: it resumes
        assert re.search(r"Resuming .* after epoch \d", log), log[-3000:]
    assert re.search(r"2 of 2 runs done \(1 computed now\)", log), log[-2000:]
    with open(os.path.join(out, "plan.json")) as f:
        plan = json.load(f)
    assert [r["status"] for r in plan["runs"]] == ["done", "done"]
    assert os.path.isfile(os.path.join(out, "report.md"))
    assert not [n for n in os.listdir(examples) if ".partial-" in n or n.endswith(".lock")]
    assert not sockets.exposed, sockets.exposed
    counts["servers_checked_loopback"] += 1
