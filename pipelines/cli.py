"""The `lg` command: one entry point whose subcommands call the components and pipelines.

  lg data build|inspect|hierarchies|cluster   datasets (Beam builder, checks, label hierarchies)
  lg train | lg evaluate                      one run (trainer and evaluator components)
  lg reproduce | lg report | lg advise        the paper's experiments, their report, a verdict
  lg study                                    the paper's question on your dataset, one command
  lg pipeline compile|run-local               the same components as a Kubeflow pipeline
  lg tensorboard DIR                          TensorBoard on 127.0.0.1
  lg records save|restore                     a runs directory's records without weights (for git)
"""

import argparse
import importlib
import sys

from components.entrypoint import run_guarded


def _data_build(args):
    from components.example_gen import __main__ as example_gen  # pylint: disable=g-import-not-at-top
    meta = example_gen.run_from_args(args)
    print(f"built {args.out}: " + ", ".join(
        f"{split} {meta['counts'][split]['total']:,}" for split in ("train", "test")))


def _data_inspect(args):
    from lg_keras import dataset_info, inspection  # pylint: disable=g-import-not-at-top
    from lg_keras.errors import DataError  # pylint: disable=g-import-not-at-top
    info = dataset_info.load_dataset_info(args.dataset_dir)
    report = inspection.inspect_dataset(info)
    print(inspection.format_report(info, report))
    if report["problems"]:
        raise DataError(f"{len(report['problems'])} problem(s) found in {args.dataset_dir!r}; see above.")


def _data_hierarchies(args):
    from lg_keras import hierarchy_files  # pylint: disable=g-import-not-at-top
    for name in hierarchy_files.builtin_hierarchy_names():
        h = hierarchy_files.load_hierarchy(name)
        print(f"{name:20s} {h.num_fine_classes:3d} fine -> {h.num_coarse_classes:2d} coarse  "
              f"{h.description.splitlines()[0] if h.description else ''}")
        if args.verbose:
            for c, coarse in enumerate(h.coarse_names):
                members = [f for f, k in zip(h.fine_names, h.fine_to_coarse) if k == c]
                print(f"    {coarse}: {', '.join(members)}")


def build_parser() -> argparse.ArgumentParser:
    """The full `lg` argument parser."""
    parser = argparse.ArgumentParser(prog="lg", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="build, inspect and label datasets")
    data_commands = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    from components.example_gen import __main__ as example_gen  # pylint: disable=g-import-not-at-top
    build = data_commands.add_parser(
        "build", help="build TFRecords with fine and coarse labels (Apache Beam)",
        description="Reads a source (local copy first, TFDS download otherwise), applies a label "
                    "hierarchy and writes OUT/{train,test}/*.tfrecord plus OUT/dataset.json.")
    example_gen.add_arguments(build)
    build.set_defaults(func=_data_build)
    inspect = data_commands.add_parser(
        "inspect", help="print counts and noise figures; validate records against dataset.json")
    inspect.add_argument("dataset_dir", help="a directory written by `lg data build`")
    inspect.set_defaults(func=_data_inspect)
    hierarchies = data_commands.add_parser("hierarchies", help="list the built-in hierarchies")
    hierarchies.add_argument("-v", "--verbose", action="store_true",
                             help="also list each coarse class's fine classes")
    hierarchies.set_defaults(func=_data_hierarchies)
    for register in _extra_commands():
        register(commands, data_commands)
    return parser


# Modules whose `register(commands, data_commands)` adds their subcommands.
_COMMAND_MODULES = ("components.trainer.__main__", "components.evaluator.__main__",
                    "pipelines.reproduce", "pipelines.kubeflow", "pipelines.tensorboard",
                    "components.cluster.__main__", "pipelines.advice",
                    "pipelines.run_records", "pipelines.study")


def _extra_commands():
    """Subcommands contributed by the other components and pipelines."""
    return [importlib.import_module(module).register for module in _COMMAND_MODULES]


def main(argv=None) -> int:
    """Entry point of the `lg` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_guarded(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
