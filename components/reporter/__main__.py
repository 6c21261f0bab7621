"""`python -m components.reporter RUNS_DIR [--out DIR]`: the reproduction report of RUNS_DIR.

Writes DIR/report.md, DIR/report.html, DIR/tables/*.csv and DIR/figures/*.png (DIR defaults to
RUNS_DIR). Works on partial results: unfinished runs show as pending.
"""

import argparse
import sys

from components.entrypoint import main_with
from lg_keras.component_configs import ReporterConfig
from lg_keras.config_io import from_dict


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the reporter's command line."""
    parser.add_argument("runs_dir", metavar="RUNS_DIR",
                        help="a directory written by `lg reproduce` (plan.json and run dirs)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="where to write the report (default: RUNS_DIR)")
    parser.add_argument("--confidence", type=float, default=0.95,
                        help="coverage of the intervals over seeds")


def run_from_args(args) -> dict:
    """Runs the executor from parsed arguments."""
    from components.reporter import executor  # pylint: disable=import-outside-toplevel

    cfg = from_dict(ReporterConfig, {"confidence": args.confidence})
    return executor.run(cfg, {"runs": args.runs_dir}, {"report": args.out or args.runs_dir})


def _report(args) -> None:
    result = run_from_args(args)
    print(f"wrote {result['report']} and {result['html']}")


def main(argv=None) -> int:
    """Entry point of `python -m components.reporter`; returns the exit status."""
    return main_with(argv, "python -m components.reporter", __doc__, add_arguments, _report)


if __name__ == "__main__":
    sys.exit(main())
