"""pipelines.cli: `lg --help`, `lg advise` and `lg report` print their output and nothing else.

Each command runs as a user runs it, in a fresh process without TF_CPP_MIN_LOG_LEVEL, so an
eager import of Beam (`WARNING:root:apitools not found ...`) or TensorFlow (its C++ start-up
lines) shows up on stderr.
"""

import math
import os
import re
import subprocess
import sys

import pytest

from components.example_gen.__main__ import DEFAULT_DATA_DIRS, source_access_from_args
from components.example_gen.source_access import SourceAccess
from lg_keras.errors import ConfigError
from pipelines import cli, reproduce
from tests.helpers import report_fixtures as rf

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
# A log line of the entry point's own format (components.entrypoint.configure_logging).
INFO_LINE = re.compile(r"\d\d:\d\d:\d\d INFO \S")


_PARSER_ONLY = ("import sys\nfrom pipelines import cli\ncli.build_parser()\n"
                "print(sorted(m for m in ('apache_beam', 'kfp', 'tensorflow')\n"
                "             if m in sys.modules))")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return rf.build_runs_dir(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def commands(runs_dir) -> dict[str, subprocess.CompletedProcess]:
    """Each command, run once in a fresh process; started together, as each imports for seconds."""
    argvs = {"parser": ["-c", _PARSER_ONLY], "help": ["-m", "pipelines.cli", "--help"],
             "advise": ["-m", "pipelines.cli", "advise", runs_dir],
             "report": ["-m", "pipelines.cli", "report", runs_dir]}
    started = {name: subprocess.Popen([sys.executable, *argv], cwd=REPO, env=ENV, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for name, argv in argvs.items()}
    done = {}
    for name, process in started.items():
        out, err = process.communicate(timeout=300)
        done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done


def test_building_the_parser_imports_no_beam_kfp_or_tensorflow(commands):
    done = commands["parser"]
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert done.stderr == ""


def test_help_prints_only_the_help(commands):
    done = commands["help"]
    assert done.returncode == 0
    assert done.stdout.startswith("usage: lg") and "lg advise" in done.stdout
    assert done.stderr == ""


def test_advise_prints_only_the_verdict(commands):
    done = commands["advise"]
    assert done.returncode == 0, done.stderr
    assert "CIFAR-10 (cifar10), full training data" in done.stdout
    assert done.stderr == ""


def test_report_prints_the_path_and_only_its_own_log_lines(commands, runs_dir):
    done = commands["report"]
    assert done.returncode == 0, done.stderr
    assert done.stdout == os.path.join(runs_dir, "report.md") + "\n"
    lines = done.stderr.splitlines()
    assert lines and all(INFO_LINE.match(line) for line in lines), done.stderr


SOURCE_FLAGS = ["--data-dir", "/d", "--tfds-data-dir", "/t", "--no-download",
                "--beam-args=--runner=R --project=P"]


def test_every_command_makes_the_same_source_access(monkeypatch):
    monkeypatch.delenv("LG_DATA_DIR", raising=False)
    parser = cli.build_parser()
    local = SourceAccess(data_dirs=("/d", *DEFAULT_DATA_DIRS), tfds_data_dir="/t",
                         allow_download=False, beam_args=("--runner=R", "--project=P"))
    for command in (["reproduce"], ["study", "--dataset", "cifar10", "--hierarchy", "cifar10"],
                    ["data", "build", "--dataset", "cifar10", "--hierarchy", "cifar10",
                     "--out", "o"]):
        assert source_access_from_args(parser.parse_args(command + SOURCE_FLAGS)) == local
    # run-local has no --beam-args; compile has no --no-download and takes the containers' paths.
    assert source_access_from_args(parser.parse_args(
        ["pipeline", "run-local", "--pipeline-root", "r"] + SOURCE_FLAGS[:5])) == \
        SourceAccess(data_dirs=local.data_dirs, tfds_data_dir="/t", allow_download=False)
    assert source_access_from_args(parser.parse_args(
        ["pipeline", "compile", *SOURCE_FLAGS[:4], SOURCE_FLAGS[5]])) == SourceAccess(
            data_dirs=("/d",), tfds_data_dir="/t", beam_args=local.beam_args)


@pytest.mark.parametrize("argv,budget_seconds", [
    ([], 10 * 3600.0),  # the cpu profile's own budget
    (["--budget-hours", "2.5"], 2.5 * 3600),
    (["--budget-hours", "inf"], math.inf),
])
def test_reproduce_budget_flag(argv, budget_seconds):
    args = cli.build_parser().parse_args(["reproduce", "--profile", "cpu", "--only", "table1",
                                          *argv])
    assert reproduce.plan_from_args(args, SourceAccess()).budget_seconds == budget_seconds


@pytest.mark.parametrize("hours", ["-1", "0", "nan"])
def test_reproduce_rejects_a_budget_that_is_not_positive(hours):
    """-1 is an ordinary number, not a code for the profile's budget."""
    args = cli.build_parser().parse_args(["reproduce", "--budget-hours", hours])
    with pytest.raises(ConfigError, match=f"--budget-hours must be > 0; got {float(hours)}"):
        reproduce.plan_from_args(args, SourceAccess())
