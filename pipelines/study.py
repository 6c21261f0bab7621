"""`lg study`: the paper's question on your own dataset, in one command.

    lg study --dataset folder:PATH --hierarchy H.yaml --profile cpu --seeds 3 --out RUNS_DIR
    lg study --dataset folder:PATH --hierarchy H.yaml --fractions 0.2,1.0 --clusters 2,5 --dry-run

Would training on the hierarchy's fine labels, and mapping the predictions back, give a better
coarse classifier than training on the coarse labels? `lg study` builds the dataset (a folder
without a test split gets a held-out one, `--test-fraction`), trains a coarse- and a fine-trained
network from scratch per seed, optionally on shares of the training data (`--fractions`) and on
k-means cluster labels (`--clusters`, the `cluster_labels` machinery), evaluates them and writes
RUNS_DIR/report.md (`components.reporter.report_study`): ΔA with its interval over seeds, the
equivalence verdict at `--margin`, `lg advise`'s verdict, and the rest.

It is one more kind of experiment, not a second code path: `study_experiment` makes an
`plan.Experiment` of `RunRequest`s for the user's dataset (a `StudyDatasetSpec`, which
carries the counted size the planner's estimates use), `planner.plan_experiments` merges and
orders it into a `Plan` (with `Plan.study` for the report), and `local_runner.run_plan` runs it
exactly as `lg reproduce` runs the paper: the same components, RUNS_DIR locked, finished work
skipped, an interrupted run resumed. The recipe follows `pipelines.study_recipe`'s rule, printed
with the plan. Bad input (`pipelines.study_dataset`) is one error before anything is built.
"""

import argparse
import dataclasses
import logging
import math
import os
import re
import shlex

from components.example_gen.__main__ import source_access_from_args
from components.reporter import report_stats
from lg_keras import hierarchy_files
from lg_keras.config import BuildConfig
from lg_keras.errors import ConfigError
from pipelines import estimates, planner, reproduce
from pipelines.cluster_experiment import ClusteredDatasetSpec
from pipelines.plan import DatasetSpec, Experiment, Plan, RunRequest
from pipelines.profiles import PROFILES, Profile, Recipe, get_profile
from pipelines.study_dataset import DatasetSurvey, survey_dataset
from pipelines.study_recipe import RecipeChoice, choose_recipe

STUDY = "study"
# Build speed of an image folder here: the CIFAR-10 JPEG folder's (estimates.SOURCE_SIZES).
FOLDER_BUILD_IMAGES_PER_S = estimates.SOURCE_SIZES["cifar10"].build_images_per_s
DEFAULT_SEEDS = 3
DEFAULT_TEST_FRACTION = 0.2
# Percentage points: the reporter's margin for the paper's negligible differences.
DEFAULT_MARGIN_POINTS = report_stats.NEGLIGIBLE_MARGIN * 100


@dataclasses.dataclass(frozen=True)
class StudyDatasetSpec(DatasetSpec):
    """A user's dataset build, with its counted size (planner estimates use `source_size`).

    Attributes:
        source_size: images per class, side and total, counted by `survey_dataset`.
    """

    source_size: estimates.SourceSize | None = dataclasses.field(default=None, compare=False)


def _key(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "dataset"


def study_spec(survey: DatasetSurvey, hierarchy: str, profile: Profile) -> StudyDatasetSpec:
    """The build of the surveyed dataset under `profile` (its per-class caps apply).

    Args:
        survey: from `survey_dataset`.
        hierarchy: the hierarchy as given (a built-in name, or a path made absolute here).
        profile: the profile.
    """
    if hierarchy not in hierarchy_files.builtin_hierarchy_names():
        hierarchy = os.path.abspath(hierarchy)
    build = BuildConfig(dataset=survey.dataset, hierarchy=hierarchy,
                        test_fraction=survey.test_fraction,
                        max_train_per_class=profile.max_train_per_class,
                        max_test_per_class=profile.max_test_per_class)
    num_fine = survey.hierarchy.num_fine_classes
    size = estimates.SourceSize(
        train_per_class=math.ceil(sum(survey.counts["train"].values()) / num_fine),
        test_per_class=math.ceil(sum(survey.counts["test"].values()) / num_fine),
        side=survey.side, total_images=survey.total_images,
        build_images_per_s=(FOLDER_BUILD_IMAGES_PER_S if survey.is_folder
                            else estimates.SOURCE_SIZES[survey.dataset].build_images_per_s))
    where = (os.path.basename(survey.dataset.rstrip("/")) if survey.is_folder
             else survey.dataset)
    name = survey.hierarchy.name
    return StudyDatasetSpec(key=_key(name), build=build, source_size=size,
                            paper_name=where if where == name else f"{where}, hierarchy {name}")


def study_experiment(spec: DatasetSpec, recipe: Recipe, *, seeds: int,
                     fractions: tuple[float, ...] = (1.0,),
                     clusters: tuple[int, ...] = ()) -> Experiment:
    """The runs of a study: per seed, coarse and fine training; then cluster labels and fractions.

    Args:
        spec: the dataset build.
        recipe: the chosen recipe (`study_recipe.choose_recipe`).
        seeds: seeds 0 .. seeds - 1.
        fractions: shares of the training data; each below 1 adds a coarse/fine pair per seed.
        clusters: k values: per seed, a network on k k-means clusters per coarse class of the
            coarse-trained network's penultimate features (`cluster_experiment`).

    Returns:
        The Experiment 'study' (priority 0; groups per seed and setting).
    """
    runs = []
    for seed in range(seeds):
        runs += [RunRequest(spec, recipe.experiment(labels, seed=seed), group=f"seed{seed}")
                 for labels in ("coarse", "fine")]
    for seed in range(seeds if clusters else 0):
        # The coarse run of the seed comes first in the plan: its features are clustered.
        derived = ClusteredDatasetSpec(
            key=f"{spec.key}_clusters_seed{seed}", build=spec.build,
            paper_name=f"{spec.paper_name}, cluster labels (seed {seed})", parent=spec,
            features_experiment=recipe.experiment("coarse", seed=seed), k=tuple(clusters),
            cluster_seed=seed)
        runs += [RunRequest(derived, recipe.experiment(f"fine_cluster_{k}", seed=seed),
                            group=f"clusters/seed{seed}") for k in clusters]
    for fraction in sorted((f for f in fractions if f < 1), reverse=True):
        for seed in range(seeds):
            runs += [RunRequest(spec, recipe.experiment(labels, seed=seed, fraction=fraction),
                                group=f"fraction{fraction:g}/seed{seed}")
                     for labels in ("coarse", "fine")]
    return Experiment(name=STUDY, title=f"fine vs. coarse labels on {spec.paper_name}",
                      doc=__doc__, priority=0, runs=tuple(runs))


def _check_options(profile: str, seeds, fractions, clusters, margin, test_fraction) -> None:
    if profile not in PROFILES:
        raise ConfigError(f"Unknown profile {profile!r}. Available: {', '.join(PROFILES)}.")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"--seeds must be an integer >= 1 (2 or more give an interval); got "
                          f"{seeds!r}.")
    if not fractions or not all(isinstance(f, (int, float)) and 0 < f <= 1 for f in fractions):
        raise ConfigError(f"--fractions must be numbers in (0, 1]; got {list(fractions)!r}.")
    if not all(isinstance(k, int) and not isinstance(k, bool) and k >= 2 for k in clusters):
        raise ConfigError(f"--clusters must be integers >= 2 (clusters per coarse class); got "
                          f"{list(clusters)!r}.")
    if not (isinstance(margin, (int, float)) and 0 < margin < 100):
        raise ConfigError(f"--margin must be in (0, 100) percentage points; got {margin!r}.")
    if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
        raise ConfigError(f"--test-fraction must be in (0, 1); got {test_fraction!r}.")


def _data_line(survey: DatasetSurvey, profile: Profile) -> str:
    h = survey.hierarchy
    train, test = (sum(survey.counts[s].values()) for s in ("train", "test"))
    split = (f"test split held out: {survey.test_fraction:g} of each class, seed 0"
             if survey.test_fraction else "the dataset's own test split")
    cut = (f"; the {profile.name} profile cuts each class to {profile.max_train_per_class} "
           f"train / {profile.max_test_per_class} test images"
           if profile.max_train_per_class or profile.max_test_per_class else "")
    return (f"data: {h.num_fine_classes} fine classes in {h.num_coarse_classes} coarse; "
            f"{train:,} training / {test:,} test images ({split}){cut}")


def plan_study(dataset: str, hierarchy: str, *, profile: str = "cpu",
               seeds: int = DEFAULT_SEEDS, fractions: tuple[float, ...] = (1.0,),
               clusters: tuple[int, ...] = (), margin: float = DEFAULT_MARGIN_POINTS,
               test_fraction: float = DEFAULT_TEST_FRACTION, imagenet_available: bool = False,
               portable: bool = False, command: str = "lg study"
               ) -> tuple[Plan, DatasetSurvey, RecipeChoice]:
    """Checks the input, applies the recipe rule and plans a study.

    Args:
        dataset: 'folder:PATH' or a named dataset.
        hierarchy: a built-in hierarchy name or a YAML path.
        profile: 'smoke', 'cpu' or 'paper'.
        seeds: seeds per setting.
        fractions: shares of the training data (1.0 is always run).
        clusters: k values for cluster-label runs (empty: none).
        margin: the equivalence margin in percentage points.
        test_fraction: a folder without a test split holds out this share of each class.
        imagenet_available: whether an ImageNet copy exists (dataset 'imagenet2012').
        portable: plan for other machines (`profiles.get_profile`), e.g. a compiled pipeline.
        command: the command line, recorded for the report.

    Returns:
        (plan, survey, recipe choice).

    Raises:
        LgError: bad options or bad input (`study_dataset`), before anything is built.
    """
    _check_options(profile, seeds, fractions, clusters, margin, test_fraction)
    chosen = get_profile(profile, portable=portable)
    survey = survey_dataset(dataset, hierarchy, test_fraction=test_fraction)
    choice = choose_recipe(chosen, side=survey.side, fixed_size=survey.fixed_size,
                           train_images=survey.train_images(chosen.max_train_per_class))
    spec = study_spec(survey, hierarchy, chosen)
    experiment = study_experiment(spec, choice.recipe, seeds=seeds,
                                  fractions=tuple(fractions), clusters=tuple(clusters))
    study = {"dataset": spec.key, "margin": margin / 100, "seeds": seeds,
             "fractions": sorted(set(fractions) | {1.0}), "clusters": list(clusters),
             "test_fraction": survey.test_fraction, "command": command,
             "recipe": [_data_line(survey, chosen)] + choice.lines()}
    plan = planner.plan_experiments(chosen, [experiment], imagenet_available=imagenet_available,
                                    study=study)
    return plan, survey, choice


# --------------------------------------------------------------------------- command line

def _numbers(text: str, kind, option: str) -> tuple:
    try:
        return tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise ConfigError(f"{option} must be comma-separated {kind.__name__}s; got "
                          f"{text!r}.") from e


def _command(args) -> str:
    """The study's command line (its options as parsed), for the report."""
    words = ["lg", "study", "--dataset", args.dataset, "--hierarchy", args.hierarchy,
             "--profile", args.profile, "--seeds", str(args.seeds)]
    for option, value, default in (("--fractions", args.fractions, "1.0"),
                                   ("--clusters", args.clusters, ""),
                                   ("--margin", f"{args.margin:g}", f"{DEFAULT_MARGIN_POINTS:g}"),
                                   ("--test-fraction", f"{args.test_fraction:g}",
                                    f"{DEFAULT_TEST_FRACTION:g}")):
        if value != default:
            words += [option, value]
    return shlex.join(words + (["--out", args.out] if args.out else []))


def _study(args) -> None:
    from pipelines import local_runner  # pylint: disable=import-outside-toplevel

    if not args.dry_run and not args.out:
        raise ConfigError("--out RUNS_DIR is required (except with --dry-run).")
    access = source_access_from_args(args)
    imagenet = args.dataset == "imagenet2012" and bool(
        planner.find_imagenet(access.data_dirs, access.tfds_data_dir))
    plan = plan_from_args(args, imagenet_available=imagenet)
    print(planner.format_plan(plan), flush=True)
    if args.dry_run:
        return
    summary = local_runner.run_plan(plan, args.out, access=access)
    print(f"{summary['done']} of {summary['runs']} runs done ({summary['computed']} computed now) "
          f"in {summary['seconds'] / 60:.1f} min; report: "
          f"{os.path.join(os.path.abspath(args.out), 'report.md')}")
    reproduce.print_skipped(summary)
    logging.info("Study finished: %s", summary)


def add_study_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """The options that define a study (dataset, hierarchy, seeds, fractions, clusters, margin,
    held-out share): `lg study` and `lg pipeline compile --study` share them."""
    parser.add_argument("--dataset", required=required,
                        help="folder:PATH (PATH/<class>/*.png|jpg, or PATH/{train,test}/<class>/"
                             "), or a named dataset: cifar10, cifar100, fashion_mnist, "
                             "imagenet2012")
    parser.add_argument("--hierarchy", required=required,
                        help="built-in hierarchy name or YAML file: coarse classes and the fine "
                             "classes (class folder names) each holds")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                        help=f"seeds per setting (default {DEFAULT_SEEDS}; 2 or more give ΔA an "
                             f"interval)")
    parser.add_argument("--fractions", default="1.0",
                        help="comma-separated shares of the training data, e.g. 0.2,0.6,1.0 "
                             "(full data is always run)")
    parser.add_argument("--clusters", default="",
                        help="comma-separated k: also train on k k-means clusters per coarse "
                             "class of the coarse network's features, e.g. 2,5")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN_POINTS,
                        help=f"equivalence margin in percentage points of coarse accuracy "
                             f"(default {DEFAULT_MARGIN_POINTS:g}): differences within it count "
                             f"as negligible")
    parser.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION,
                        help=f"a folder without a test split holds out this share of each class "
                             f"(seeded, class-balanced; default {DEFAULT_TEST_FRACTION:g})")


def plan_from_args(args, *, portable: bool = False, imagenet_available: bool = False) -> Plan:
    """The study plan of parsed `add_study_arguments` options (and --profile)."""
    if not (args.dataset and args.hierarchy):
        raise ConfigError("A study needs --dataset and --hierarchy.")
    plan, _, _ = plan_study(
        args.dataset, args.hierarchy, profile=args.profile, seeds=args.seeds,
        fractions=_numbers(args.fractions, float, "--fractions"),
        clusters=_numbers(args.clusters, int, "--clusters"), margin=args.margin,
        test_fraction=args.test_fraction, imagenet_available=imagenet_available,
        portable=portable, command=_command(args))
    return plan


def register(commands, data_commands) -> None:
    """Adds `lg study` to the `lg` command."""
    del data_commands
    reproduce.add_local_command(
        commands, "study", _study, _add_arguments,
        summary="the paper's question on your dataset: fine vs. coarse labels (resumable)",
        description="Builds your dataset, trains coarse- and fine-trained networks from scratch "
                    "per seed (optionally on data fractions and k-means cluster labels), "
                    "evaluates them and writes RUNS_DIR/report.md: ΔA with its interval over "
                    "seeds, the equivalence verdict at --margin and lg advise's verdict. The "
                    "recipe follows an explicit rule (printed with the plan). Rerun to resume.",
        out_help="runs directory (locked while it runs; rerun to resume)",
        dry_run_help="print the plan (recipe rule, runs, estimated time) only")


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    add_study_arguments(parser, required=True)
    parser.add_argument("--profile", default="cpu", choices=list(PROFILES),
                        help="; ".join(f"{p.name}: {p.summary}" for p in PROFILES.values()))
