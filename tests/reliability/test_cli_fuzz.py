"""Property tests of the `lg train` and `lg data build` command lines: parsed and turned into a
config (nothing is built or trained). Each argv is refused by argparse (SystemExit 2, a syntax
error), refused with a ConfigError naming the field, or accepted as a valid config.
"""

import contextlib
import io

from hypothesis import example, given
from hypothesis import strategies as st
import pytest

from components.example_gen import __main__ as example_gen_main
from components.trainer import __main__ as trainer_main
from lg_keras.errors import ConfigError
from pipelines import cli
from tests.helpers.fuzz import EDGE_NUMBERS, fuzz, names_any

PARSER = cli.build_parser()

# Option values: numbers at the configs' bounds and their text forms, choices and near misses.
_NUMBER_TEXT = st.sampled_from([str(x) for x in EDGE_NUMBERS] + [
    "1e400", "-0", "0x10", "1_000", "", " 3", "٣", "2.", ".5", "nan", "-inf", "1/2", "3e0"])
_VALUE = st.one_of(_NUMBER_TEXT, st.integers(-5, 300).map(str), st.floats(-2, 2).map(repr),
                   st.sampled_from(["fine", "coarse", "fine_noise_0.1", "fine_cluster_3", "x",
                                    "preact_resnet18", "wide_resnet", "linear", "dropout", "step",
                                    "warmup_cosine", "mirrored", "default", "none", "gzip", "png",
                                    "raw", "auto", "launched", "within_coarse", "0.1,0.3",
                                    "0.1,,0.3", "0.5,0.5", "1,2",
                                    "a,b", "-1", "--", "--out"]),
                   st.text(max_size=8).filter(lambda t: t not in ("-h", "--help")))
_SET_VALUES = st.sampled_from([
    "train.epochs=2", "train.epochs=0", "train.eval_every=-1", "data.augment=none",
    "data.augment=crop", "model.depth=16", "model.depth=17", "train.lr_drop_at=[0.5,0.25]",
    "train.warmup_epochs=500", "data=5", "nope", "train.x=1", "data.labels=[1]", "=1",
    "train.lr_drop_at=" + "[" * 5000])

TRAIN_FLAGS = {"--data": None, "--labels": None, "--model": None, "--epochs": "train.epochs",
               **{flag: f"{section}.{field}" for flag, section, field, _, _ in
                  trainer_main._OPTIONS}}  # pylint: disable=protected-access
BUILD_FLAGS = ("--dataset", "--hierarchy", "--out", "--noise", "--noise-kind", "--seed",
               "--max-train-per-class", "--max-test-per-class", "--train-shards", "--test-shards",
               "--compression", "--image-encoding", "--data-dir", "--beam-args")


def _parse(argv):
    """Parses with the `lg` parser: (namespace, None) or (None, SystemExit code)."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return PARSER.parse_args(argv), None
        except SystemExit as e:
            return None, e.code


@st.composite
def train_argv(draw):
    """`lg train` argv: the required options (now and then one left out), options, --set, junk."""
    argv = ["train"]
    required = {"--data": st.just("/nonexistent/data") | _VALUE,
                "--labels": st.sampled_from(["fine", "coarse", "fine_noise_0.1"]) | _VALUE,
                "--model": st.sampled_from(["preact_resnet18", "wide_resnet"]) | _VALUE,
                "--epochs": st.integers(1, 20).map(str) | _VALUE,
                "--out": st.just("/nonexistent/run")}
    for flag, value in required.items():
        if draw(st.integers(0, 15)):
            argv += [flag, draw(value)]
    for flag in draw(st.lists(st.sampled_from(sorted(TRAIN_FLAGS)), max_size=4)):
        argv += [flag, draw(_VALUE)]
    for item in draw(st.lists(_SET_VALUES, max_size=2)):
        argv += ["--set", item]
    if draw(st.integers(0, 3)) == 0:
        argv.append("--deterministic")
    if draw(st.integers(0, 10)) == 0:
        argv.insert(draw(st.integers(1, len(argv))), draw(_VALUE))
    return argv


@st.composite
def build_argv(draw):
    """`lg data build` argv: the required options (now and then one left out), options, junk."""
    argv = ["data", "build"]
    for flag in ("--dataset", "--hierarchy", "--out"):
        if draw(st.integers(0, 15)):
            argv += [flag, draw(st.sampled_from(["cifar10", "folder:/x", "/x.yaml"]) | _VALUE)]
    for flag in draw(st.lists(st.sampled_from(BUILD_FLAGS[3:]), max_size=4)):
        argv += [flag, draw(_VALUE)]
    for flag in draw(st.lists(st.sampled_from(["--no-download", "--overwrite"]), max_size=2)):
        argv.append(flag)
    if draw(st.integers(0, 10)) == 0:
        argv.insert(draw(st.integers(2, len(argv))), draw(_VALUE))
    return argv


def _fields_named_by(argv, flags):
    """Config fields (and flags) the argv sets: what a ConfigError may name."""
    named = []
    for i, arg in enumerate(argv):
        if arg in flags:
            named.append(arg)
            named.append(flags[arg] if isinstance(flags, dict) and flags[arg] else
                         arg[2:].replace("-", "_"))
        if arg == "--set" and i + 1 < len(argv):
            path = argv[i + 1].split("=", 1)[0].strip()
            named += [argv[i + 1], path, path.split(".")[0], "--set"]
    return named


@fuzz(110)
@given(argv=train_argv())
@example(argv=["train", "--data", "d", "--labels", "fine", "--model", "wide_resnet", "--epochs",
               "2", "--out", "o", "--lr", "nan"])
def test_lg_train_argv(argv, counts):
    counts["generated_argv"] += 1
    args, code = _parse(argv)
    if args is None:
        assert code == 2, (argv, code)
        counts["generated_inputs_rejected_cleanly"] += 1
        return
    try:
        cfg = trainer_main.build_config(args)
    except ConfigError as e:
        assert names_any(str(e), _fields_named_by(argv, TRAIN_FLAGS)), (str(e), argv)
        counts["generated_inputs_rejected_cleanly"] += 1
        return
    assert cfg.data.dataset_dir == args.data
    counts["generated_inputs_accepted"] += 1


@fuzz(110)
@given(argv=build_argv())
@example(argv=["data", "build", "--dataset", "cifar10", "--hierarchy", "cifar10", "--out", "o",
               "--noise", "0.1,nan"])
def test_lg_data_build_argv(argv, counts):
    counts["generated_argv"] += 1
    args, code = _parse(argv)
    if args is None:
        assert code == 2, (argv, code)
        counts["generated_inputs_rejected_cleanly"] += 1
        return
    try:
        cfg = example_gen_main.build_config(args)
    except ConfigError as e:
        assert names_any(str(e), _fields_named_by(argv, BUILD_FLAGS)), (str(e), argv)
        counts["generated_inputs_rejected_cleanly"] += 1
        return
    assert (cfg.dataset, cfg.hierarchy, cfg.seed) == (args.dataset, args.hierarchy, args.seed)
    counts["generated_inputs_accepted"] += 1


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "d", "--labels", "fine", "--model", "resnet", "--epochs", "2", "--out",
      "o"], "Unknown model.name 'resnet'. Available: preact_resnet18, wide_resnet."),
    (["data", "build", "--dataset", "cifar10", "--hierarchy", "cifar10", "--out", "o",
      "--noise", "0.1,x"], "--noise must be comma-separated numbers"),
])
def test_cli_prints_the_message_and_exits_2(argv, message, capsys):
    """The whole `lg` entry point: a ConfigError is one 'error:' line, exit status 2."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in err and "Traceback" not in err, err
