"""`python -m components.cluster` (also `lg data cluster`): argv -> ClusterConfig -> executor.run.

    lg data cluster --data runs/data/cifar10 --k 2,5,10 --features runs/cifar10_coarse \
        --out runs/data/cifar10_clustered
    lg data cluster --data runs/data/cifar10 --k 5 --pixels --out runs/data/cifar10_pixel_clusters

The new dataset has label views fine_cluster_<k> for `lg train --labels fine_cluster_<k>`.
"""

import argparse
import logging
import sys

from components.entrypoint import add_command, main_with
from lg_keras.component_configs import ClusterConfig
from lg_keras.config_io import from_dict
from lg_keras.errors import ConfigError


def parse_k(text: str) -> tuple[int, ...]:
    """'2,5,10' -> (2, 5, 10); raises ConfigError naming --k on bad input."""
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise ConfigError(f"--k must be comma-separated integers >= 1, e.g. 2,5,10; got "
                          f"{text!r}.") from e
    if not values:
        raise ConfigError(f"--k must name at least one k; got {text!r}.")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `lg data cluster`."""
    parser.add_argument("--data", required=True, metavar="DATASET_DIR",
                        help="a dataset directory written by `lg data build` (left unchanged)")
    parser.add_argument("--k", required=True, metavar="K[,K...]",
                        help="clusters per coarse class, e.g. 2,5,10; each adds the label view "
                             "fine_cluster_<k> with k * (number of coarse classes) classes")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--features", metavar="RUN_DIR",
                        help="cluster the penultimate features of this finished run (trained on "
                             "DATASET_DIR, e.g. on coarse labels)")
    source.add_argument("--pixels", action="store_true",
                        help="cluster 8x8 box-averaged raw pixels instead (no trained run needed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the k-means initialisations")
    parser.add_argument("--out", required=True, metavar="NEW_DATASET_DIR",
                        help="the new dataset directory (written atomically)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an output directory holding another dataset")
    parser.add_argument("--beam-args", default="",
                        help="extra Beam pipeline options, e.g. '--runner=DataflowRunner ...'")


def run_from_args(args) -> dict:
    """Builds the config from parsed args and runs the executor."""
    from components.cluster import executor  # pylint: disable=g-import-not-at-top

    cfg = from_dict(ClusterConfig, {"k": parse_k(args.k),
                                    "features": "pixels" if args.pixels else "run",
                                    "seed": args.seed})
    logging.info("Cluster config: %s", cfg)
    return executor.run(cfg, {"examples": args.data, "features_run": args.features},
                        {"examples": args.out}, beam_args=args.beam_args.split(),
                        overwrite=args.overwrite)


def _cluster(args) -> None:
    meta = run_from_args(args)
    for k, entry in sorted(meta["clusters"].items(), key=lambda kv: int(kv[0])):
        test = entry["agreement"]["test"]
        print(f"fine_cluster_{k}: {len(entry['fine_to_coarse'])} classes, test agreement with fine "
              f"labels ARI {test['adjusted_rand_index']:.3f} NMI "
              f"{test['normalized_mutual_info']:.3f}")


def register(commands, data_commands) -> None:
    """Adds `lg data cluster` to the `lg` command's subparsers."""
    del commands  # a `data` subcommand
    add_command(data_commands, "cluster", add_arguments, _cluster,
                summary="add automatic fine labels: k-means within each coarse class",
                description="Clusters each coarse class of a built dataset into k groups (k-means "
                            "on a run's penultimate features or on raw pixels, fitted on the "
                            "training split) and writes a new dataset with the label views "
                            "fine_cluster_<k> (paper Sec. VI-B).")


def main(argv=None) -> int:
    """`python -m components.cluster`: the same options as `lg data cluster`."""
    return main_with(argv, "python -m components.cluster", __doc__, add_arguments, run_from_args)


if __name__ == "__main__":
    sys.exit(main())
