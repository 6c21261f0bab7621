"""Process helpers of the reliability suite: run the `lg` command, kill it, see its sockets."""

import os
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LG = [sys.executable, "-m", "pipelines.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
_LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 in /proc/net


def start(argv, log_path, **kwargs) -> subprocess.Popen:
    """Starts `lg ARGV` from the repository root with stdout and stderr to `log_path`."""
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([*LG, *argv], cwd=REPO, env=ENV, stdout=log, stderr=log,
                                start_new_session=True, **kwargs)


def kill(process: subprocess.Popen) -> None:
    """SIGKILLs the process (and anything it started in its session) and reaps it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_for(condition, process: subprocess.Popen, timeout_s: float, poll_s: float = 0.02,
             on_poll=None) -> bool:
    """Polls `condition()` until true (True), the process exits or the time is up (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        if on_poll is not None:
            on_poll()
        if condition():
            return True
        time.sleep(poll_s)
    return bool(condition())


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(hex local address, port) of every TCP socket in LISTEN state that `pid` holds."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    found = []
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: TCP_LISTEN
                found.append((address, int(port, 16)))
    return found


def non_loopback(sockets) -> list[tuple[str, int]]:
    """The sockets of `listening_sockets` bound to anything but 127.0.0.1 or ::1."""
    return [s for s in sockets if s[0] not in _LOOPBACK]
