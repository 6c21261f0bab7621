"""Two writers on one output directory: the second refuses, naming the holder, and touches nothing.

This process holds the lock (`lg_keras.outputs.exclusive_lock`) as a first `lg` would; the second
`lg reproduce`, `lg data build` and `lg train` run as real subprocesses (concurrently, to save
time) and must exit 2 with the lock's message. A lock whose holder is dead is taken over.
"""

import os
import subprocess

from lg_keras import outputs
from tests.helpers import datagen
from tests.helpers import processes

_TRAIN = ["--labels", "fine", "--model", "preact_resnet18", "--width", "4", "--batch-size", "32",
          "--epochs", "1"]


def test_a_second_writer_refuses_a_locked_output(tmp_path, grid_dataset, counts):
    images = tmp_path / "images"
    datagen.write_image_folder(images, ["a", "b"], 2, 1)
    hierarchy = datagen.write_hierarchy(tmp_path / "h.yaml", {"a": ["a"], "b": ["b"]})
    targets = {"reproduce": str(tmp_path / "runs"), "build": str(tmp_path / "dataset"),
               "train": str(tmp_path / "run")}
    commands = {
        "reproduce": ["reproduce", "--profile", "smoke", "--only", "table1", "--datasets",
                      "cifar10", "--data-dir", str(images), "--out", targets["reproduce"]],
        "build": ["data", "build", "--dataset", f"folder:{images}", "--hierarchy", hierarchy,
                  "--out", targets["build"]],
        "train": ["train", "--data", grid_dataset, *_TRAIN, "--out", targets["train"]],
    }
    for target in targets.values():
        os.makedirs(target)
    with outputs.exclusive_lock(targets["reproduce"]), outputs.exclusive_lock(
            targets["build"]), outputs.exclusive_lock(targets["train"]):
        started = {name: processes.start(argv, tmp_path / f"{name}.log")
                   for name, argv in commands.items()}
        for name, process in started.items():
            try:
                process.wait(timeout=300)
            except subprocess.TimeoutExpired:
                processes.kill(process)
            log = (tmp_path / f"{name}.log").read_text()
            assert process.returncode == 2, (name, log[-3000:])
            assert (f"error: {targets[name]!r} is in use by another process (pid {os.getpid()}, "
                    f"lock file {targets[name] + '.lock'!r})") in log, (name, log[-3000:])
            assert "Traceback" not in log
            assert os.listdir(targets[name]) == [], name  # nothing written
            counts["concurrent_writers_refused"] += 1


def test_a_dead_holders_lock_is_taken_over(tmp_path):
    target = str(tmp_path / "out")
    holder = subprocess.run(
        [*processes.LG[:1], "-c", "import os; from lg_keras.outputs import exclusive_lock\n"
         f"lock = exclusive_lock({target!r}); lock.__enter__(); os._exit(0)"],
        cwd=processes.REPO, env=processes.ENV, check=True)
    del holder
    assert os.path.exists(target + ".lock")  # left by a holder that died without cleaning up
    with outputs.exclusive_lock(target):
        with open(target + ".lock") as f:
            assert int(f.read()) == os.getpid()
    assert not os.path.exists(target + ".lock")
