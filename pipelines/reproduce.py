"""`lg reproduce` (the paper's tables and figures, in-process) and `lg report RUNS_DIR`.

    lg reproduce --profile smoke --out runs/smoke             # every experiment at toy size
    lg reproduce --profile cpu --only table1,table6 --dry-run # the plan and its time estimate
    LG_DATA_DIR=../shared/data lg reproduce --profile cpu --out runs/cpu

The plan is printed first; rerunning the same command resumes (only missing work is done).
"""

import logging
import os

from components.example_gen.__main__ import add_source_arguments, source_access_from_args
from components.example_gen.source_access import SourceAccess
from pipelines import planner
from pipelines.plan import Plan
from pipelines.profiles import PROFILES


def add_plan_arguments(parser, *, default_profile: str = "cpu") -> None:
    """The plan options of `lg reproduce` and `lg pipeline compile|run-local` (the source-access
    options are `add_source_arguments`')."""
    parser.add_argument("--profile", default=default_profile, choices=list(PROFILES),
                        help="; ".join(f"{p.name}: {p.summary}" for p in PROFILES.values()))
    parser.add_argument("--only", action="append", default=[], metavar="NAMES",
                        help="comma-separated experiments (default: all): "
                             + ", ".join(planner.registry.experiment_names()))
    parser.add_argument("--datasets", action="append", default=None, metavar="KEYS",
                        help="comma-separated dataset keys to restrict the runs to, e.g. cifar10 "
                             "(default: all the experiments need)")
    parser.add_argument("--budget-hours", type=float, default=planner.PROFILE_BUDGET,
                        help="override the profile's run budget in estimated hours on this "
                             "machine (cpu: 10; inf for none)")


def plan_from_args(args, access: SourceAccess) -> Plan:
    """The plan of the `add_plan_arguments` options, with ImageNet if `access` reaches a copy."""
    found = planner.find_imagenet(access.data_dirs, access.tfds_data_dir)
    if found:
        logging.info("ImageNet copy found at %s.", found)
    return planner.plan(args.profile, args.only, imagenet_available=bool(found),
                        datasets=args.datasets, budget_hours=args.budget_hours)


def print_skipped(summary: dict) -> None:
    """The work `local_runner.run_plan` skipped, one line each with its reason."""
    for what, reason in summary["skipped"]:
        print(f"skipped {what}: {reason}")


def _reproduce(args) -> None:
    access = source_access_from_args(args)
    plan = plan_from_args(args, access)
    print(planner.format_plan(plan), flush=True)
    if args.dry_run:
        return
    from pipelines import local_runner  # pylint: disable=import-outside-toplevel

    out = args.out or os.path.join("runs", args.profile)
    summary = local_runner.run_plan(plan, out, access=access)
    print(f"{summary['done']} of {summary['runs']} runs done ({summary['computed']} computed now) "
          f"in {summary['seconds'] / 60:.1f} min; plan and results in {os.path.abspath(out)}")
    print_skipped(summary)


def _report(args) -> None:
    from components.reporter import executor  # pylint: disable=import-outside-toplevel

    runs_dir = os.path.abspath(args.runs_dir)
    print(executor.run({}, {"runs": runs_dir}, {"report": runs_dir})["report"])


def add_local_command(commands, name: str, func, add_arguments, *, summary: str,
                      description: str, out_help: str, dry_run_help: str) -> None:
    """A command that plans, prints the plan and runs it in this process under --out, obtaining
    the datasets as the source-access options say: `lg reproduce` and `lg study`.

    Args:
        commands: the `lg` subparsers.
        name: the command.
        func: runs the parsed command.
        add_arguments: adds the command's own options (what to plan) to its parser, first.
        summary: one line for `lg --help`.
        description: the command's help.
        out_help: what --out RUNS_DIR holds.
        dry_run_help: what --dry-run prints.
    """
    parser = commands.add_parser(name, help=summary, description=description)
    add_arguments(parser)
    parser.add_argument("--out", default=None, metavar="RUNS_DIR", help=out_help)
    parser.add_argument("--dry-run", action="store_true", help=dry_run_help)
    add_source_arguments(parser)
    parser.set_defaults(func=func)


def register(commands, data_commands) -> None:
    """Adds `lg reproduce` and `lg report` to the `lg` command."""
    del data_commands
    add_local_command(
        commands, "reproduce", _reproduce, add_plan_arguments,
        summary="run the paper's tables and figures (resumable)",
        description="Plans the selected experiments (shared runs merged, ordered by priority, "
                    "within the profile's budget), prints the plan, then builds the datasets, "
                    "trains and evaluates in this process under --out. Rerun to resume.",
        out_help="pipeline root (default: runs/<profile>)", dry_run_help="print the plan only")
    report = commands.add_parser("report", help="write the report of a RUNS_DIR",
                                 description="Writes the report of `lg reproduce`'s results.")
    report.add_argument("runs_dir", metavar="RUNS_DIR")
    report.set_defaults(func=_report)
