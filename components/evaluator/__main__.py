"""`python -m components.evaluator` (also `lg evaluate`): argv -> EvaluatorConfig -> executor.run.

The executor (TensorFlow, Keras) is imported only when the command runs, so `lg --help` stays fast.
"""

import argparse
import logging
import os
import sys

from components.entrypoint import add_command, main_with
from lg_keras import run_files
from lg_keras.component_configs import EvaluatorConfig
from lg_keras.config_io import from_dict
from lg_keras.errors import RunDirError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `lg evaluate`."""
    parser.add_argument("--run", required=True, help="a finished run directory (from `lg train`)")
    parser.add_argument("--data", default=None,
                        help="the dataset directory the run trained on (default: the "
                             "data.dataset_dir recorded in RUN/config.json)")
    parser.add_argument("--hierarchy", action="append", default=[],
                        help="also score the same predictions under this hierarchy (built-in "
                             "name or YAML path over the same fine classes; repeatable), e.g. the "
                             "ten cifar10_custom_<i> mappings of paper Table VI")
    parser.add_argument("--no-embeddings", action="store_true",
                        help="skip the t-SNE figure and the TensorBoard projector files")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="inference batch size (0: max(the run's batch size, 256))")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute even if metrics.json already holds this evaluation")


def _dataset_dir(run_dir: str, given: str | None) -> str:
    if given:
        return given
    try:
        return run_files.load_json(os.path.join(run_dir, run_files.CONFIG_FILE))[
            "experiment"]["data"]["dataset_dir"]
    except (RunDirError, KeyError, TypeError) as e:
        raise RunDirError(f"Cannot find the dataset of run {run_dir!r} in its config.json ({e!r}); "
                          f"pass --data DATASET_DIR.") from e


def run_from_args(args) -> dict:
    """Builds the config from parsed args and runs the executor on --run, writing into it."""
    from components.evaluator import executor  # pylint: disable=g-import-not-at-top

    cfg = from_dict(EvaluatorConfig, {"hierarchies": args.hierarchy,
                                      "embeddings": not args.no_embeddings,
                                      "batch_size": args.batch_size})
    logging.info("Evaluator config: %s", cfg)
    return executor.run(cfg, {"model": args.run, "examples": _dataset_dir(args.run, args.data)},
                        {"metrics": args.run}, overwrite=args.overwrite)


def _evaluate(args) -> None:
    from components.evaluator import executor  # pylint: disable=g-import-not-at-top

    result = run_from_args(args)
    print(f"{args.run}: {executor.summary(result)}")
    print(f"wrote {os.path.join(args.run, run_files.METRICS_FILE)}; TensorBoard: "
          f"lg tensorboard {os.path.join(args.run, run_files.LOG_DIR)}")


def register(commands, data_commands) -> None:  # pylint: disable=unused-argument
    """Adds `lg evaluate` to the `lg` command."""
    add_command(commands, "evaluate", add_arguments, _evaluate,
                summary="metrics, confusion matrix, ACR, t-SNE and projector files of a run",
                description="Evaluates a finished run: coarse test/train accuracy (A_FC or A_CC), "
                            "fine confusion matrix and ACR, optional per-hierarchy scores, t-SNE "
                            "and TensorBoard projector files. Writes RUN/metrics.json, "
                            "RUN/figures/, RUN/logs/evaluation/.")


def main(argv=None) -> int:
    """`python -m components.evaluator`: the same options as `lg evaluate`."""
    return main_with(argv, "python -m components.evaluator", __doc__, add_arguments, _evaluate,
                     formatter_class=argparse.HelpFormatter)


if __name__ == "__main__":
    sys.exit(main())
