"""TensorBoard over run directories, on the loopback interface unless told otherwise.

`serve(logdir)` starts `tensorboard --logdir DIR --host 127.0.0.1 --port N` as a subprocess (on a
free port when port=0) and returns once it answers HTTP. TensorBoard has no `--bind_all false`:
the host flag alone decides the interface (FACTS.md), so the default stays 127.0.0.1 and another
address is used only when passed explicitly (`lg tensorboard DIR --host 0.0.0.0`).

    process, url = serve("runs/cpu")
    ...                      # scalars: url + "/data/plugin/scalars/tags"
    stop(process)
"""

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from lg_keras.errors import LgError, RunDirError

DEFAULT_HOST = "127.0.0.1"
START_TIMEOUT_S = 120.0


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free on `host` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def serve(logdir: str, host: str = DEFAULT_HOST, port: int = 0, *,
          timeout_s: float = START_TIMEOUT_S, extra_args=(),
          quiet: bool = True) -> tuple[subprocess.Popen, str]:
    """Starts TensorBoard on logdir and waits until it answers.

    Args:
        logdir: directory of event files (searched recursively: a run directory's logs/, or a
            directory of many run directories).
        host: interface to bind; 127.0.0.1 by default.
        port: TCP port; 0 picks a free one.
        timeout_s: how long to wait for TensorBoard to answer.
        extra_args: more TensorBoard flags, e.g. ('--reload_interval', '1').
        quiet: send TensorBoard's output to a temporary file (quoted if it fails to start)
            rather than to this process's stdout and stderr.

    Returns:
        (the TensorBoard process, its base URL such as 'http://127.0.0.1:6006').

    Raises:
        RunDirError: when logdir does not exist.
        LgError: when TensorBoard exits or does not answer within timeout_s (its output is quoted).
    """
    if not os.path.isdir(logdir):
        raise RunDirError(f"TensorBoard logdir {logdir!r} does not exist.")
    port = port or free_port(host)
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", os.path.abspath(logdir),
               "--host", host, "--port", str(port), *extra_args]
    logging.info("Starting %s", " ".join(command))
    # A file, not a pipe: a pipe nobody reads would stall TensorBoard once it filled up.
    output = tempfile.TemporaryFile() if quiet else None
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT if quiet else None,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    process.output_file = output
    url = _url(host, port)
    try:
        _wait_until_answering(process, url, timeout_s)
    except BaseException:  # a timeout, Ctrl-C or SIGTERM while waiting: never leave it running
        stop(process)
        raise
    return process, url


def _wait_until_answering(process: subprocess.Popen, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LgError(f"TensorBoard exited with status {process.returncode} before answering "
                          f"on {url}:\n{_tail(process)}")
        try:
            with urllib.request.urlopen(f"{url}/data/environment", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    raise LgError(f"TensorBoard did not answer on {url} within {timeout_s:.0f} s.")


def _tail(process: subprocess.Popen) -> str:
    output = getattr(process, "output_file", None)
    if output is None:
        return "(its output went to the console)"
    output.seek(0)
    return output.read().decode(errors="replace")[-2000:]


def stop(process: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Stops a TensorBoard process started by `serve` (terminate, then kill)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output = getattr(process, "output_file", None)
    if output is not None:
        output.close()


def _tensorboard(args) -> None:
    # A plain `kill` must stop TensorBoard too, not leave it running without its parent.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    # Its output goes to the console, so warnings about unreadable runs stay visible.
    process, url = serve(args.logdir, args.host, args.port, quiet=False)
    print(f"TensorBoard on {url} (logdir {args.logdir}); Ctrl-C stops it.", flush=True)
    try:
        process.wait()
    finally:
        stop(process)


def register(commands, data_commands) -> None:  # pylint: disable=unused-argument
    """Adds `lg tensorboard DIR [--port N] [--host 127.0.0.1]` to the `lg` command."""
    parser = commands.add_parser(
        "tensorboard", help="TensorBoard on 127.0.0.1 over run directories",
        description="Starts TensorBoard over DIR (a run's logs/ or a directory of runs): scalars "
                    "and HParams from training, the evaluator's confusion matrix and projector.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("logdir", metavar="DIR", help="log directory, searched recursively")
    parser.add_argument("--port", type=int, default=6006, help="port (0: a free one)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="interface to bind; only a non-loopback address exposes it to others")
    parser.set_defaults(func=_tensorboard)
