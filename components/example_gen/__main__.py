"""`python -m components.example_gen` (also `lg data build`): argv -> BuildConfig -> executor.run."""

import argparse
import logging
import os
import sys

from components.entrypoint import main_with
from components.example_gen.source_access import SourceAccess
from lg_keras.config import BuildConfig
from lg_keras.errors import ConfigError
from lg_keras.label_views import NOISE_KINDS

# Searched after --data-dir and LG_DATA_DIR: Debian's dataset packages and the project's cache.
DEFAULT_DATA_DIRS = ("/usr/share/datasets", os.path.expanduser("~/.cache/lg_keras/data"))


def data_dirs(cli_dirs) -> list[str]:
    """Where local dataset copies are looked for: --data-dir, then $LG_DATA_DIR, then defaults."""
    dirs = list(cli_dirs or [])
    env = os.environ.get("LG_DATA_DIR")
    if env:
        dirs += [d for d in env.split(os.pathsep) if d]
    return dirs + list(DEFAULT_DATA_DIRS)


def add_source_arguments(parser: argparse.ArgumentParser, *, containers: bool = False,
                         download: bool = True, beam: bool = True,
                         without_copy: str = "datasets without a local copy are skipped") -> None:
    """The source-access options, which `source_access_from_args` makes one `SourceAccess`.

    Args:
        parser: the command's parser.
        containers: the directories are paths inside a compiled pipeline's containers, passed
            as given (this machine's $LG_DATA_DIR and default dirs mean nothing there).
        download: offer --no-download (without it, TFDS may download).
        beam: offer --beam-args (without it, Beam runs in process).
        without_copy: what --no-download means for a dataset without a local copy.
    """
    where = ("inside the containers (repeatable)" if containers else
             "(repeatable); searched before $LG_DATA_DIR and /usr/share/datasets, before any "
             "download")
    parser.add_argument("--data-dir", action="append", default=[],
                        help=f"directory holding local dataset copies {where}")
    parser.add_argument("--tfds-data-dir", default=None,
                        help="TFDS data_dir, the manual_dir root (its downloads/manual may hold "
                             "the ImageNet tars)")
    if download:
        parser.add_argument("--no-download", action="store_true",
                            help=f"never download through TFDS; {without_copy}")
    else:
        parser.set_defaults(no_download=False)
    if beam:
        parser.add_argument("--beam-args", default="",
                            help="extra Beam options for the dataset builds, e.g. "
                                 "'--runner=DataflowRunner --project=P --region=R "
                                 "--temp_location=gs://B/tmp'")
    else:
        parser.set_defaults(beam_args="")
    parser.set_defaults(data_dirs_in_containers=containers)


def source_access_from_args(args) -> SourceAccess:
    """The SourceAccess of parsed `add_source_arguments` options, built once per command.

    Data dirs: --data-dir, then (on this machine) $LG_DATA_DIR and the defaults (`data_dirs`).
    """
    dirs = args.data_dir if args.data_dirs_in_containers else data_dirs(args.data_dir)
    return SourceAccess(data_dirs=tuple(dirs), tfds_data_dir=args.tfds_data_dir or None,
                        allow_download=not args.no_download,
                        beam_args=tuple(args.beam_args.split()))


def parse_rates(text: str) -> tuple[float, ...]:
    """'0.01,0.1' -> (0.01, 0.1); raises ConfigError naming --noise on bad input."""
    if not text:
        return ()
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise ConfigError(f"--noise must be comma-separated numbers in (0, 1]; got {text!r}.") from e


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `lg data build`."""
    parser.add_argument("--dataset", required=True,
                        help="cifar10, cifar100, fashion_mnist, imagenet2012, or folder:PATH for an "
                             "image folder laid out PATH/{train,test}/<class>/*.jpg|png (without "
                             "a test split, see --test-fraction)")
    parser.add_argument("--hierarchy", required=True,
                        help="built-in hierarchy name (see `lg data hierarchies`) or a YAML file")
    parser.add_argument("--out", required=True, help="output dataset directory (written atomically)")
    parser.add_argument("--noise", default="",
                        help="comma-separated randomness factors r for noisy fine-label variants, "
                             "e.g. 0.01,0.03,0.1,0.3 (paper Table VII)")
    parser.add_argument("--noise-kind", default="within_coarse", choices=NOISE_KINDS,
                        help="within_coarse (default): swaps inside a coarse class, features "
                             "fine_label_noise_<r>; launched: the authors' loop as it stood when "
                             "their Table VII runs were launched (swap partner a position in the "
                             "whole training set, so swaps cross coarse classes; training split "
                             "only), features fine_label_noise_launched_<r>")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of noise, fraction ranks and a held-out test split")
    parser.add_argument("--test-fraction", type=float, default=0.0,
                        help="folder:PATH without a test/ or val/ split (PATH/train/<class>/ or "
                             "PATH/<class>/): hold out this share of each class as the test split, "
                             "chosen by --seed and each image's path (default 0: the folder must "
                             "have a test split)")
    parser.add_argument("--max-train-per-class", type=int, default=None,
                        help="keep at most N training examples per fine class (small builds)")
    parser.add_argument("--max-test-per-class", type=int, default=None,
                        help="keep at most N test examples per fine class")
    parser.add_argument("--train-shards", type=int, default=0, help="train shards (0: by size)")
    parser.add_argument("--test-shards", type=int, default=0, help="test shards (0: by size)")
    parser.add_argument("--compression", default="none", choices=("none", "gzip"),
                        help="TFRecord compression")
    parser.add_argument("--image-encoding", default="auto", choices=("auto", "raw", "png"),
                        help="auto keeps the source's bytes (raw pixels, original JPEG/PNG); raw "
                             "stores decoded pixels; png re-encodes losslessly")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing dataset built from a different config")
    add_source_arguments(parser, without_copy="fail if no local copy is found")


def build_config(args) -> BuildConfig:
    """The build config from parsed arguments (ConfigError naming the option on a bad value)."""
    return BuildConfig(dataset=args.dataset, hierarchy=args.hierarchy,
                       noise=parse_rates(args.noise), noise_kind=args.noise_kind, seed=args.seed,
                       max_train_per_class=args.max_train_per_class,
                       max_test_per_class=args.max_test_per_class, train_shards=args.train_shards,
                       test_shards=args.test_shards, compression=args.compression,
                       image_encoding=args.image_encoding, test_fraction=args.test_fraction)


def run_from_args(args) -> dict:
    """Builds the config from parsed args and runs the executor."""
    # Beam is imported here, not at the top: `lg --help` builds this parser without needing it.
    from components.example_gen import executor  # pylint: disable=import-outside-toplevel
    cfg = build_config(args)
    logging.info("Build config: %s", cfg)
    return executor.run(cfg, source_access_from_args(args), {"examples": args.out},
                        overwrite=args.overwrite)


def main(argv=None) -> int:
    """`python -m components.example_gen`: the same options as `lg data build`."""
    return main_with(argv, "python -m components.example_gen", __doc__, add_arguments,
                     run_from_args, formatter_class=argparse.HelpFormatter)


if __name__ == "__main__":
    sys.exit(main())
