"""What experiments ask for and what the planner makes of it: the datasets to build and the
training runs to execute, shared.

An experiment (a table or figure of the paper, `Experiment`) asks for runs (`RunRequest`s); the
registry of named experiments is `pipelines.experiments`. The planner merges identical runs
across experiments (same dataset build and same ExperimentConfig => one run), so Table I's runs are
also Fig. 2's full-data points and Table VI's row (1), and one fine-trained CIFAR-10 model serves
all ten Table VI mappings through extra evaluation hierarchies.

On disk (RUNS_DIR/plan.json) the plan is `Plan.to_dict()`; the reporter reads it with the runs'
config.json / metrics.json / history.json.
"""

import dataclasses
import re

from lg_keras.config import BuildConfig, ExperimentConfig
from lg_keras.config_io import config_hash, to_dict


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset build the plan needs.

    Attributes:
        key: short stable name, e.g. 'cifar10' or 'cifar100_animals'.
        build: the BuildConfig.
        paper_name: the dataset's name in the paper's tables (e.g. 'CIFAR-100 animals').
        estimated_seconds: the planner's estimate of the build's time on this machine.
        parent: for a dataset derived from another build rather than built from its source (the
            cluster labels of `pipelines.cluster_experiment.ClusteredDatasetSpec`, which says
            how), that build: the runners obtain it first, and `--datasets` selects a derived
            dataset with its parent; None for a build of example_gen. Not part of plan.json.
    """

    key: str
    build: BuildConfig
    paper_name: str
    estimated_seconds: float = dataclasses.field(default=0.0, compare=False)
    parent: "DatasetSpec | None" = None

    @property
    def build_hash(self) -> str:
        return config_hash(self.build)


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """One training run an experiment needs, plus its evaluation.

    Attributes:
        dataset: the dataset build it trains on.
        experiment: the ExperimentConfig (data.dataset_dir is filled in by the runner).
        hierarchies: extra hierarchies to score the model under (Table VI mappings).
        group: requests of one experiment sharing a group are kept or dropped together.
        priority: None ranks the request with its experiment; a number ranks it (and its group)
            on its own, e.g. extra seeds that only run by name or in what a budget leaves over.
    """

    dataset: DatasetSpec
    experiment: ExperimentConfig
    hierarchies: tuple[str, ...] = ()
    group: str = ""
    priority: int | None = None


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A registered table or figure with the runs it needs under one profile.

    Attributes:
        name: registry name ('table1', 'fig2', ...).
        title: the paper's table or figure and what it shows.
        doc: the function's docstring: the claim, the paper's numbers and the command.
        priority: lower runs first and survives a run budget longer.
        runs: the requests, in the order the experiment wants them.
    """

    name: str
    title: str
    doc: str
    priority: int
    runs: tuple[RunRequest, ...]

    @property
    def command(self) -> str:
        """The `lg reproduce` command quoted in the docstring."""
        match = re.search(r"lg reproduce[^\n`]*", self.doc)
        return match.group(0).strip() if match else ""

    def metadata(self) -> dict:
        """JSON-ready description for plan.json and the report."""
        return {"title": self.title, "priority": self.priority, "command": self.command,
                "claim": self.doc.strip().split("\n\n")[0].replace("\n", " ")}


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run plus its evaluation.

    Attributes:
        dataset: DatasetSpec.key of the data it trains on.
        experiment: the ExperimentConfig (data.dataset_dir is filled in by the runner).
        hierarchies: extra hierarchies to evaluate the same model under (Table VI mappings).
        experiments: names of the registry entries that use this run.
        estimated_seconds: the planner's time estimate on this machine.
        priority: the highest priority (lowest number) of the experiments using it.
    """

    dataset: str
    experiment: ExperimentConfig
    hierarchies: tuple[str, ...] = ()
    experiments: tuple[str, ...] = ()
    estimated_seconds: float = 0.0
    priority: int = 0

    @property
    def key(self) -> str:
        """Stable id of the run: dataset key + hash of its (dataset-independent) config."""
        cfg = dataclasses.replace(self.experiment,
                                  data=dataclasses.replace(self.experiment.data, dataset_dir=""))
        return f"{self.dataset}-{self.experiment.data.labels}-{config_hash(cfg)[:10]}"


@dataclasses.dataclass(frozen=True)
class Plan:
    """Datasets and runs of a profile, in execution (priority) order.

    Attributes:
        profile: the profile name.
        datasets: the builds the runs need, in first-use order.
        runs: the runs, in execution order.
        skipped: (what, reason) pairs of what the plan leaves out: a dataset key, or a run key
            followed by the experiments that wanted it.
        experiments: registry name -> metadata (title, priority, command, claim) of the
            experiments asked for.
        budget_seconds: the run budget the planner enforced (None: none).
        evaluator: evaluator config fields shared by every run (the runs add 'hierarchies').
        notes: what the profile trims relative to the paper, one line each.
        study: for a plan of `lg study` (a user's dataset), what the report needs beyond the
            runs: the dataset key, the equivalence margin, the recipe rule's choice, the
            command; empty for the paper's plans (and then absent from plan.json).
    """

    profile: str
    datasets: tuple[DatasetSpec, ...]
    runs: tuple[RunSpec, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    experiments: dict = dataclasses.field(default_factory=dict)
    budget_seconds: float | None = None
    evaluator: dict = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    study: dict = dataclasses.field(default_factory=dict)

    @property
    def estimated_seconds(self) -> float:
        """Estimated time of every build and run of the plan."""
        return (sum(d.estimated_seconds for d in self.datasets)
                + sum(r.estimated_seconds for r in self.runs))

    def evaluator_config(self, run: RunSpec) -> dict:
        """The evaluator config of one run: the plan's shared fields and the run's hierarchies."""
        return {**self.evaluator, "hierarchies": list(run.hierarchies)}

    def to_dict(self) -> dict:
        study = {"study": self.study} if self.study else {}
        return {
            "profile": self.profile,
            "datasets": {d.key: {"build": to_dict(d.build), "build_hash": d.build_hash,
                                 "paper_name": d.paper_name,
                                 "estimated_seconds": d.estimated_seconds}
                         for d in self.datasets},
            "runs": [{"key": r.key, "dataset": r.dataset, "experiment": to_dict(r.experiment),
                      "hierarchies": list(r.hierarchies), "experiments": list(r.experiments),
                      "estimated_seconds": r.estimated_seconds, "priority": r.priority}
                     for r in self.runs],
            "skipped": [list(s) for s in self.skipped],
            "experiments": self.experiments,
            "budget_seconds": self.budget_seconds,
            "evaluator": self.evaluator,
            "estimated_seconds": self.estimated_seconds,
            "notes": list(self.notes),
            **study,
        }
