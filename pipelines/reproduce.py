"""`lg reproduce` (the paper's tables and figures, in-process) and `lg report RUNS_DIR`.

    lg reproduce --profile smoke --out runs/smoke             # every experiment at toy size
    lg reproduce --profile cpu --only table1,table6 --dry-run # the plan and its time estimate
    LG_DATA_DIR=../shared/data lg reproduce --profile cpu --out runs/cpu

The plan is printed first; rerunning the same command resumes (only missing work is done).
"""

import logging
import os

from pipelines import planner
from pipelines.profiles import PROFILES


def add_plan_arguments(parser, *, default_profile: str = "cpu") -> None:
    """The options shared by `lg reproduce` and `lg pipeline compile|run-local`."""
    parser.add_argument("--profile", default=default_profile, choices=list(PROFILES),
                        help="; ".join(f"{p.name}: {p.summary}" for p in PROFILES.values()))
    parser.add_argument("--only", action="append", default=[], metavar="NAMES",
                        help="comma-separated experiments (default: all): "
                             + ", ".join(planner.registry.experiment_names()))
    parser.add_argument("--datasets", action="append", default=None, metavar="KEYS",
                        help="comma-separated dataset keys to restrict the runs to, e.g. cifar10 "
                             "(default: all the experiments need)")
    parser.add_argument("--data-dir", action="append", default=[],
                        help="directory holding local dataset copies (repeatable); searched before "
                             "$LG_DATA_DIR and the defaults")
    parser.add_argument("--tfds-data-dir", default=None,
                        help="TFDS data_dir (its downloads/manual may hold the ImageNet tars)")
    parser.add_argument("--budget-hours", type=float, default=None,
                        help="override the profile's run budget in estimated hours on this "
                             "machine (cpu: 10; inf for none)")


def plan_from_args(args):
    """(plan, data_dirs) from the shared options."""
    from components.example_gen.__main__ import data_dirs  # pylint: disable=import-outside-toplevel

    dirs = data_dirs(args.data_dir)
    found = planner.find_imagenet(dirs, args.tfds_data_dir)
    if found:
        logging.info("ImageNet copy found at %s.", found)
    budget = -1.0 if args.budget_hours is None else args.budget_hours
    plan = planner.plan(args.profile, args.only, dirs, imagenet_available=bool(found),
                        datasets=args.datasets, budget_hours=budget)
    return plan, dirs


def _reproduce(args) -> None:
    plan, dirs = plan_from_args(args)
    print(planner.format_plan(plan), flush=True)
    if args.dry_run:
        return
    from pipelines import local_runner  # pylint: disable=import-outside-toplevel

    out = args.out or os.path.join("runs", args.profile)
    summary = local_runner.run_plan(plan, out, data_dirs=dirs, tfds_data_dir=args.tfds_data_dir,
                                    beam_args=args.beam_args.split(),
                                    allow_download=not args.no_download)
    print(f"{summary['done']} of {summary['runs']} runs done ({summary['computed']} computed now) "
          f"in {summary['seconds'] / 60:.1f} min; plan and results in {os.path.abspath(out)}")
    for what, reason in summary["skipped"]:
        print(f"skipped {what}: {reason}")


def _report(args) -> None:
    from components.reporter import executor  # pylint: disable=import-outside-toplevel

    runs_dir = os.path.abspath(args.runs_dir)
    print(executor.run({}, {"runs": runs_dir}, {"report": runs_dir})["report"])


def register(commands, data_commands) -> None:
    """Adds `lg reproduce` and `lg report` to the `lg` command."""
    del data_commands
    parser = commands.add_parser(
        "reproduce", help="run the paper's tables and figures (resumable)",
        description="Plans the selected experiments (shared runs merged, ordered by priority, "
                    "within the profile's budget), prints the plan, then builds the datasets, "
                    "trains and evaluates in this process under --out. Rerun to resume.")
    add_plan_arguments(parser)
    parser.add_argument("--out", default=None, metavar="RUNS_DIR",
                        help="pipeline root (default: runs/<profile>)")
    parser.add_argument("--dry-run", action="store_true", help="print the plan only")
    parser.add_argument("--no-download", action="store_true",
                        help="never download through TFDS; datasets without a local copy are "
                             "skipped")
    parser.add_argument("--beam-args", default="",
                        help="extra Beam options for the dataset builds, e.g. "
                             "'--runner=DataflowRunner --project=P --region=R "
                             "--temp_location=gs://B/tmp'")
    parser.set_defaults(func=_reproduce)
    report = commands.add_parser("report", help="write the report of a RUNS_DIR",
                                 description="Writes the report of `lg reproduce`'s results.")
    report.add_argument("runs_dir", metavar="RUNS_DIR")
    report.set_defaults(func=_report)
