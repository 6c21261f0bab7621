"""Tests of lg_keras/outputs.py not covered by the reliability suite (locks, partials, kills)."""

import os
import subprocess

from lg_keras import outputs


def test_private_dirs_of_gone_processes_are_removed_and_live_ones_kept(tmp_path):
    gone = _gone_pid()
    for name in (f"lg-worker-worker-0-{gone}-abc", f"lg-worker-worker-0-{os.getpid()}-def",
                 "lg-worker-worker-0-notapid-ghi", f"other-{gone}-jkl"):
        (tmp_path / name).mkdir()
    removed = outputs.remove_stale_private_dirs(str(tmp_path), "lg-worker-worker-0-")
    assert removed == [f"lg-worker-worker-0-{gone}-abc"]
    assert sorted(os.listdir(tmp_path)) == sorted([
        f"lg-worker-worker-0-{os.getpid()}-def", "lg-worker-worker-0-notapid-ghi",
        f"other-{gone}-jkl"])


def _gone_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
