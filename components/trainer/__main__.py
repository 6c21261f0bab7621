"""`python -m components.trainer` (also `lg train`): argv -> ExperimentConfig -> executor.run.

    lg train --data runs/data/cifar10 --labels fine --model preact_resnet18 --width 16
        --epochs 12 --schedule warmup_cosine --set train.warmup_epochs=2 --out runs/cifar10_fine

Options left out keep the config's defaults (lg_keras/config.py); `--set section.field=value`
reaches every field. With `--strategy mirrored` on a machine without GPUs the CPU is split into
`train.num_cpu_replicas` logical devices here, before TensorFlow initialises its devices (the
executor, which imports Keras, is imported only afterwards).
"""

import argparse
import logging
import sys

from components.entrypoint import add_command, main_with
from lg_keras.config import (HEAD_NAMES, MODEL_NAMES, SCHEDULES, STRATEGIES, DataConfig,
                             ExperimentConfig, ModelConfig, TrainConfig)
from lg_keras.config_io import apply_overrides, from_dict, to_dict

# (flag, config section, field, type, help). Flags left out keep the config's default.
_OPTIONS = (
    ("--fraction", "data", "fraction", float,
     "class-balanced fraction of the training split, in (0, 1]; epochs are scaled by 1/fraction "
     "so the number of weight updates stays the same (paper Fig. 2)"),
    ("--width", "model", "width", int,
     "base width of preact_resnet18 (64: the CIFAR-10 network, 16: the ImageNet-subset one)"),
    ("--head", "model", "head", str,
     f"classifier head: {', '.join(HEAD_NAMES)} (paper Tables IV and V)"),
    ("--seed", "train", "seed", int, "seed of initialisation, data order and augmentation"),
    ("--batch-size", "data", "batch_size", int, "global batch size (split across replicas)"),
    ("--lr", "train", "learning_rate", float,
     "peak learning rate (0.1 for CIFAR, 0.01 for the ImageNet subsets)"),
    ("--schedule", "train", "schedule", str,
     f"learning-rate schedule: {', '.join(SCHEDULES)} (step: cut by 10 at 3/4 of the steps)"),
    ("--image-size", "data", "image_size", int,
     "model input size in pixels; 0 keeps the stored size (required for variable-size images)"),
    ("--strategy", "train", "strategy", str,
     f"tf.distribute strategy: {', '.join(STRATEGIES)} (mirrored on a CPU-only machine uses "
     f"train.num_cpu_replicas logical CPUs)"),
)
_DEFAULTS = {"data": DataConfig(), "model": ModelConfig(), "train": TrainConfig()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `lg train`."""
    parser.add_argument("--data", required=True, metavar="DATASET_DIR",
                        help="a dataset directory written by `lg data build`")
    parser.add_argument("--labels", required=True,
                        help="training label view: coarse, fine, fine_noise_<r> (a noise rate the "
                             "dataset was built with), fine_noise_launched_<r> (a build with "
                             "--noise-kind launched) or fine_cluster_<k> (from `lg data cluster`)")
    parser.add_argument("--model", required=True,
                        help=f"network: {', '.join(MODEL_NAMES)}")
    parser.add_argument("--epochs", required=True, type=int,
                        help="training epochs at fraction 1.0 (the paper: 200)")
    for flag, section, field, kind, text in _OPTIONS:
        default = getattr(_DEFAULTS[section], field)
        parser.add_argument(flag, type=kind, default=None,
                            help=f"{text} (default: {default}; config field {section}.{field})")
    parser.add_argument("--deterministic", action="store_true", default=None,
                        help="enable TensorFlow op determinism (slower; same results every run)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override any config field, e.g. --set train.eval_every=5 "
                             "--set data.augment=none (repeatable; applied last)")
    parser.add_argument("--out", required=True, metavar="RUN_DIR",
                        help="run directory; rerunning the same command resumes an interrupted "
                             "run and returns at once for a finished one")


def build_config(args) -> ExperimentConfig:
    """The experiment config from parsed arguments (ConfigError on a bad value)."""
    tree = to_dict(ExperimentConfig())
    tree["data"].update(dataset_dir=args.data, labels=args.labels)
    tree["model"]["name"] = args.model
    tree["train"]["epochs"] = args.epochs
    for flag, section, field, _, _ in _OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            tree[section][field] = value
    if args.deterministic:
        tree["train"]["deterministic"] = True
    return apply_overrides(from_dict(ExperimentConfig, tree), args.set)


def prepare_devices(cfg: ExperimentConfig) -> None:
    """Splits the CPU into logical devices for a CPU-only mirrored run (before TF starts)."""
    if cfg.train.strategy != "mirrored":
        return
    from lg_keras import distribute  # pylint: disable=g-import-not-at-top
    if not distribute.gpus():
        try:
            devices = distribute.split_cpu(cfg.train.num_cpu_replicas)
        except RuntimeError as e:  # make_strategy reports it as a ConfigError
            logging.warning("%s", e)
        else:
            logging.info("Split the CPU into %d logical devices for MirroredStrategy.",
                         len(devices))


def run_from_args(args) -> dict:
    """Builds the config, prepares the devices and runs the executor."""
    cfg = build_config(args)
    prepare_devices(cfg)
    from components.trainer import executor  # pylint: disable=g-import-not-at-top
    result = executor.run(cfg, {"examples": args.data}, {"model": args.out})
    final = result["final"]
    logging.info("%s %s: %s", "Already finished" if result["skipped"] else "Trained",
                 result["run_dir"], {k: final[k] for k in sorted(final) if "accuracy" in k})
    return result


def _train(args) -> None:
    run_from_args(args)


def register(commands, data_commands) -> None:
    """Adds `lg train` to the `lg` command's subparsers."""
    del data_commands  # `lg train` is a top-level command
    add_command(commands, "train", add_arguments, _train,
                summary="train one network on one label view (resumable)",
                description="Trains a network on a built dataset's label view (fine, coarse, "
                            "noisy or cluster-derived fine labels) and writes RUN_DIR/{config.json, "
                            "checkpoint/, history.json, model.keras, train_state.json, logs/}.")


def main(argv=None) -> int:
    """`python -m components.trainer`: the same options as `lg train`."""
    return main_with(argv, "python -m components.trainer", __doc__, add_arguments, run_from_args)


if __name__ == "__main__":
    sys.exit(main())
