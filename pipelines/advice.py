"""`lg advise RUNS_DIR [--dataset KEY]`: did fine labels pay off on the datasets you ran?

The summary is `components.reporter.report_advice.summarize`: per dataset, ΔA of each fine-type
label view against coarse training with its interval over seed pairs, ACR, McNemar's p as a
secondary figure, and the verdict in plain words. The verdict is the report's own
(`components.reporter.report_stats.Verdict`, rendered by `Verdict.advice`; the study report quotes
it too).
"""

from components.reporter.report_advice import summarize


def _advise(args) -> None:
    print(summarize(args.runs_dir, args.dataset))


def register(commands, data_commands) -> None:  # pylint: disable=unused-argument
    """Adds `lg advise RUNS_DIR [--dataset KEY]` to the `lg` command."""
    parser = commands.add_parser(
        "advise", help="plain-language verdict: did fine labels pay off on your datasets?",
        description="For each dataset with finished runs, compares fine-type labels (human, "
                    "cluster-derived, noisy) with coarse labels: ΔA with its interval over "
                    "seeds, ACR, and McNemar's p as a secondary figure.")
    parser.add_argument("runs_dir", metavar="RUNS_DIR", help="a directory of run directories")
    parser.add_argument("--dataset", default=None,
                        help="only this dataset (hierarchy name such as cifar10, or plan key)")
    parser.set_defaults(func=_advise)
