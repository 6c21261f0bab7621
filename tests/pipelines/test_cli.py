"""pipelines.cli: `lg --help`, `lg advise` and `lg report` print their output and nothing else.

Each command runs as a user runs it, in a fresh process without TF_CPP_MIN_LOG_LEVEL, so an
eager import of Beam (`WARNING:root:apitools not found ...`) or TensorFlow (its C++ start-up
lines) shows up on stderr.
"""

import os
import re
import subprocess
import sys

import pytest

from tests.components import report_fixtures as rf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
# A log line of the entry point's own format (components.entrypoint.configure_logging).
INFO_LINE = re.compile(r"\d\d:\d\d:\d\d INFO \S")


def _lg(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *argv], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return rf.build_runs_dir(tmp_path_factory.mktemp("runs"))


def test_building_the_parser_imports_no_beam_kfp_or_tensorflow():
    code = ("import sys\nfrom pipelines import cli\ncli.build_parser()\n"
            "print(sorted(m for m in ('apache_beam', 'kfp', 'tensorflow') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=300, check=True)
    assert done.stdout.strip() == "[]"
    assert done.stderr == ""


def test_help_prints_only_the_help():
    done = _lg("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: lg") and "lg advise" in done.stdout
    assert done.stderr == ""


def test_advise_prints_only_the_verdict(runs_dir):
    done = _lg("advise", runs_dir)
    assert done.returncode == 0, done.stderr
    assert "CIFAR-10 (cifar10), full training data" in done.stdout
    assert done.stderr == ""


def test_report_prints_the_path_and_only_its_own_log_lines(runs_dir):
    done = _lg("report", runs_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == os.path.join(runs_dir, "report.md") + "\n"
    lines = done.stderr.splitlines()
    assert lines and all(INFO_LINE.match(line) for line in lines), done.stderr
