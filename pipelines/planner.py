"""The planner: the runs a profile's experiments need, merged, ordered, estimated and budgeted.

`plan('cpu', only=['table1', 'table6'], ...)` asks every selected experiment for its runs, merges
identical ones (same dataset build, same ExperimentConfig: one run, with the union of the
evaluation hierarchies and of the experiment names), orders them by priority (Table I, VI, VII
first; then Table VIII / Fig. 6, Fig. 2, Table IV, Table V), estimates each build and run
(`pipelines.estimates`) and drops whole groups past the profile's run budget, listing them as
skipped. The plan (its runs, their order, the budget cut, plan.json) uses the fixed speeds; the
printout (`format_plan`) may use this machine's measured ones (`pipelines.speeds`:
bench/latest.json), and says which. An unknown experiment, dataset, source or model is an error
listing the known ones.
"""

import dataclasses
import enum
import os
from typing import Sequence

from lg_keras.config import ExperimentConfig
from lg_keras.config_io import config_hash
from lg_keras.errors import ConfigError
from lg_keras.sources import catalog
from lg_keras.sources.tfds_source import IMAGENET_MANUAL_FILES
from pipelines import experiments as registry
from pipelines.estimates import estimate_build_seconds, estimate_run_seconds
from pipelines.plan import DatasetSpec, Plan, RunSpec
from pipelines.profiles import Profile, get_profile
from pipelines.speeds import BENCH_FILE, Speeds, read_bench

IMAGENET_HINT = (f"no ImageNet (ILSVRC-2012) copy found. To provide it, "
                 f"{catalog.source_entry('imagenet2012').hint}, then pass --data-dir DIR or set "
                 f"LG_DATA_DIR=DIR")


# --------------------------------------------------------------------------- availability


def find_imagenet(data_dirs: Sequence[str], tfds_data_dir: str | None = None) -> str | None:
    """Where an ImageNet copy is, in the layouts `lg_keras.sources` reads, or None.

    A cheap look (no file listing), so `--dry-run` stays fast; the build itself still reports a
    copy it cannot read, and the runner then skips its runs.
    """
    tars = IMAGENET_MANUAL_FILES
    tfds_root = tfds_data_dir or os.path.expanduser("~/tensorflow_datasets")
    places = [os.path.join(tfds_root, "downloads", "manual")]
    for d in (d for d in data_dirs if d):
        for sub in ("imagenet", "ILSVRC2012"):
            if os.path.isdir(os.path.join(d, sub, "train")):
                return os.path.join(d, sub)
        places.append(d)
    for place in places:
        if all(os.path.isfile(os.path.join(place, t)) for t in tars):
            return place
    prepared = os.path.join(tfds_root, "imagenet2012")
    return prepared if os.path.isdir(prepared) else None


# --------------------------------------------------------------------------- planning


def resolve_names(only: Sequence[str] | None) -> list[str]:
    """The experiment names to run: all of them, or `only` (comma-split) checked by name.

    Raises:
        ConfigError: for an unknown name, listing the choices.
    """
    names = registry.experiment_names()
    if not only:
        return names
    asked = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in asked if n not in names]
    if unknown:
        raise ConfigError(f"Unknown experiment {unknown[0]!r} in --only. Available: "
                          f"{', '.join(names)}.")
    return [n for n in names if n in asked]


@dataclasses.dataclass
class _Merged:
    dataset: DatasetSpec
    experiment: ExperimentConfig
    hierarchies: list
    experiments: list
    priority: int


def _merge_key(request) -> tuple[str, str]:
    return request.dataset.build_hash, config_hash(request.experiment)


def _experiments(profile, names):
    chosen = [registry.get_experiment(n, profile) for n in names]
    order = {n: i for i, n in enumerate(registry.experiment_names())}
    return sorted(chosen, key=lambda e: (e.priority, order[e.name]))


def _selected(request, datasets: set[str] | None) -> bool:
    """Whether --datasets (None: all) keeps a request."""
    # A derived dataset (the clustered copy of a build) goes with its parent: `--datasets cifar10`
    # keeps cifar10's cluster-label runs.
    parent = request.dataset.parent
    keys = {request.dataset.key} | ({parent.key} if parent is not None else set())
    return datasets is None or bool(keys & datasets)


def _unavailable(request, imagenet_available: bool) -> str | None:
    """Why a selected request cannot run, for the plan's 'Skipped' (None when it can)."""
    if request.dataset.build.dataset == "imagenet2012" and not imagenet_available:
        return IMAGENET_HINT
    return None


class ProfileBudget(enum.Enum):
    """`plan`'s default run budget: the profile's own (`Profile.budget_hours`)."""

    PROFILE = "the profile's budget"


PROFILE_BUDGET = ProfileBudget.PROFILE


def plan(profile_name: str, only: Sequence[str] | None = None,
         imagenet_available: bool = False, *, datasets: Sequence[str] | None = None,
         budget_hours: float | None | ProfileBudget = PROFILE_BUDGET,
         portable: bool = False) -> Plan:
    """Plans a profile's registered experiments: merged, ordered, estimated, budgeted runs.

    Args:
        profile_name: 'smoke', 'cpu' or 'paper'.
        only: experiment names (items may be comma-separated); None or empty for all.
        imagenet_available: whether an ImageNet copy exists (`find_imagenet`); without one the
            ImageNet subsets' runs are skipped with how to provide it.
        datasets: restrict to these dataset keys (None: all).
        budget_hours: the run budget in estimated hours (> 0; inf is a budget nothing exceeds),
            None for no budget, or PROFILE_BUDGET (the default) for the profile's.
        portable: plan for other machines (a compiled pipeline): choices that depend on the
            training machine stay unresolved (`profiles.get_profile`), so neither the configs
            nor the estimates depend on this one.

    Returns:
        The Plan.

    Raises:
        ConfigError: unknown profile, experiment or dataset key (listing the choices), or an
            invalid budget.
    """
    profile = get_profile(profile_name, portable=portable)
    chosen = _experiments(profile, resolve_names(only))
    if datasets is not None:
        datasets = _check_datasets(datasets, chosen)
    if budget_hours is PROFILE_BUDGET:
        budget_hours = profile.budget_hours
    return plan_experiments(profile, chosen, imagenet_available=imagenet_available,
                            datasets=datasets, budget_hours=budget_hours,
                            notes=tuple(profile.trims()))


def plan_experiments(profile: Profile, chosen: Sequence[registry.Experiment], *,
                     imagenet_available: bool = False, datasets: set[str] | None = None,
                     budget_hours: float | None = None, notes: Sequence[str] = (),
                     study: dict | None = None) -> Plan:
    """Plans given experiments (registered or not) under a profile: merged, ordered, estimated.

    `plan` calls it with the registry's experiments; `pipelines.study` with the one experiment it
    makes for a user's dataset. Identical requests (same build, same ExperimentConfig) become one
    run; groups run in priority order (stable, so equal priorities keep `chosen`'s order) and a
    budget drops whole groups from the first that does not fit.

    Args:
        profile: the profile the experiments were made for.
        chosen: the experiments, in priority order.
        imagenet_available: whether an ImageNet copy exists (else its runs are skipped).
        datasets: restrict to these dataset keys (None: all).
        budget_hours: the run budget in estimated hours (None: none).
        notes: what the plan trims, one line each (the profile's trims for the paper).
        study: `lg study`'s description of the plan (Plan.study), or None.

    Returns:
        The Plan.

    Raises:
        ConfigError: an invalid budget.
    """
    if budget_hours is not None and not budget_hours > 0:
        raise ConfigError(f"--budget-hours must be > 0; got {budget_hours!r}.")
    budget = None if budget_hours is None else budget_hours * 3600.0

    merged, groups, skipped = {}, [], {}
    for exp in chosen:
        exp_groups = {}
        for i, request in enumerate(exp.runs):
            if not _selected(request, datasets):
                continue
            reason = _unavailable(request, imagenet_available)
            if reason is not None:
                skipped.setdefault(request.dataset.key, reason)
                continue
            key = _merge_key(request)
            entry = merged.get(key)
            if entry is None:
                build_seconds = estimate_build_seconds(request.dataset)
                spec = dataclasses.replace(request.dataset, estimated_seconds=build_seconds)
                entry = merged[key] = _Merged(spec, request.experiment, [], [],
                                              exp.priority if request.priority is None
                                              else request.priority)
            entry.hierarchies += [h for h in request.hierarchies if h not in entry.hierarchies]
            if exp.name not in entry.experiments:
                entry.experiments.append(exp.name)
            priority = exp.priority if request.priority is None else request.priority
            entry.priority = min(entry.priority, priority)
            group = exp_groups.setdefault(request.group or f"#{i}", [priority, []])
            group[0] = min(group[0], priority)
            group[1].append(key)
        groups += [(priority, exp.name, keys) for priority, keys in exp_groups.values()]
    # A request may rank below its experiment (RunRequest.priority: extra seeds, variants that
    # run by name); sorting is stable, so equal priorities keep the experiments' order.
    groups = [(name, keys) for _, name, keys in sorted(groups, key=lambda g: g[0])]

    # Groups in priority order; the first that does not fit ends the plan (strictly by
    # priority: no lower-priority group fills the gap), except groups already paid for.
    accepted, built, total, dropped, full = [], set(), 0.0, {}, False
    runs = {key: _run_spec(entry) for key, entry in merged.items()}
    for exp_name, keys in groups:
        new = [k for k in dict.fromkeys(keys) if k not in accepted]
        new_builds = {runs[k].dataset: merged[k].dataset for k in new
                      if runs[k].dataset not in built}
        cost = (sum(runs[k].estimated_seconds for k in new)
                + sum(d.estimated_seconds for d in new_builds.values()))
        full = full or (budget is not None and total + cost > budget)
        if not new or not full:
            accepted += new
            built |= set(new_builds)
            total += cost
        else:
            for k in new:
                dropped.setdefault(k, exp_name)
    accepted_runs = tuple(runs[k] for k in accepted)
    dataset_specs = {}
    for k in accepted:
        dataset_specs.setdefault(merged[k].dataset.key, merged[k].dataset)
    reasons = list(skipped.items())
    for k, exp_name in dropped.items():
        if k in accepted:
            continue
        run = runs[k]
        reasons.append((f"{run.key} ({', '.join(run.experiments)})",
                        f"over the {profile.name} profile's run budget of {budget_hours:g} h "
                        f"(first needed by {exp_name}; estimated "
                        f"{_duration(run.estimated_seconds)})"))
    return Plan(profile=profile.name, datasets=tuple(dataset_specs.values()), runs=accepted_runs,
                skipped=tuple(reasons), experiments={e.name: e.metadata() for e in chosen},
                budget_seconds=budget, notes=tuple(notes),
                evaluator={"max_embedding_examples": profile.embedding_examples},
                study=dict(study or {}))


def _run_spec(entry: _Merged) -> RunSpec:
    seconds = estimate_run_seconds(entry.experiment, entry.dataset)
    return RunSpec(dataset=entry.dataset.key, experiment=entry.experiment,
                   hierarchies=tuple(entry.hierarchies), experiments=tuple(entry.experiments),
                   estimated_seconds=round(seconds, 1), priority=entry.priority)


def _check_datasets(datasets: Sequence[str], chosen) -> set[str]:
    asked = {d.strip() for item in datasets for d in item.split(",") if d.strip()}
    known = list(dict.fromkeys(r.dataset.key for e in chosen for r in e.runs))
    unknown = sorted(asked - set(known))
    if unknown:
        raise ConfigError(f"Unknown dataset {unknown[0]!r} in --datasets for these experiments. "
                          f"Available: {', '.join(known)}.")
    return asked


def independent_run_count(profile_name: str, imagenet_available: bool = False) -> int:
    """Runs needed if every experiment ran on its own (no sharing across experiments, no budget).

    The ratio `len(plan(profile).runs) / independent_run_count(profile)` is what merging saves.
    """
    profile = get_profile(profile_name)
    count = 0
    for name in registry.experiment_names():
        exp = registry.get_experiment(name, profile)
        count += len({_merge_key(r) for r in exp.runs
                      if _unavailable(r, imagenet_available) is None})
    return count


# --------------------------------------------------------------------------- printout


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _describe_run(run: RunSpec) -> str:
    cfg = run.experiment
    parts = [f"{run.dataset}", cfg.data.labels]
    if cfg.model.head != "linear":
        parts.append(f"head={cfg.model.head}")
    if cfg.data.fraction < 1:
        parts.append(f"fraction={cfg.data.fraction:g}")
    parts.append(f"seed={cfg.train.seed}")
    parts.append(f"{cfg.epochs_to_run()} ep")
    return " ".join(parts)


def _printed_run_seconds(plan_: Plan, speeds: Speeds) -> list[float]:
    """Each run's estimate at `speeds`: the plan's own for the fixed speeds, else recomputed."""
    if not speeds.measured:
        return [run.estimated_seconds for run in plan_.runs]
    specs = {d.key: d for d in plan_.datasets}
    return [round(estimate_run_seconds(run.experiment, specs[run.dataset], speeds), 1)
            for run in plan_.runs]


def format_plan(plan_: Plan, bench_file: str | None = None) -> str:
    """The plan as text: experiments, trims, datasets, runs with estimates, skipped work.

    Args:
        plan_: the plan.
        bench_file: the bench report whose measured speeds the printed run estimates use when it
            was measured on this machine (`speeds.read_bench`; None: bench/latest.json). The
            plan's runs, its budget cut and the budget's reasons in 'Skipped' keep the fixed
            speeds; a line under the header says which the estimates use.
    """
    speeds = read_bench(bench_file or BENCH_FILE)
    run_seconds = _printed_run_seconds(plan_, speeds)
    total = sum(d.estimated_seconds for d in plan_.datasets) + sum(run_seconds)
    budget = (f", budget {_duration(plan_.budget_seconds)}" if plan_.budget_seconds is not None
              else "")
    lines = [f"Plan '{plan_.profile}': {len(plan_.runs)} runs on {len(plan_.datasets)} dataset "
             f"builds, estimated {_duration(total)} on this machine{budget}."]
    if speeds.measured:
        lines.append(f"Estimates from {speeds.source}; the plan's runs and budget use the fixed "
                     f"constants (estimated {_duration(plan_.estimated_seconds)}).")
    else:
        lines.append(f"Estimates from {speeds.source}.")
    lines.append("Experiments:")
    lines += [f"  {name:7s} {meta['title']}" for name, meta in plan_.experiments.items()]
    if plan_.study.get("recipe"):
        lines.append("Recipe (lg study's rule, pipelines/study_recipe.py):")
        lines += [f"  {line}" for line in plan_.study["recipe"]]
    else:
        lines.append("Recipes (per dataset family):")
        lines += [f"  {line}" for line in get_profile(plan_.profile).recipe_lines()]
    if plan_.notes:
        lines.append("Trimmed relative to the paper profile:")
        lines += [f"  - {note}" for note in plan_.notes]
    lines.append("Datasets:")
    lines += [f"  {d.key:18s} {d.paper_name:28s} build {d.build_hash}  "
              f"~{_duration(d.estimated_seconds)}" for d in plan_.datasets]
    lines.append("Runs (execution order):")
    for i, (run, seconds) in enumerate(zip(plan_.runs, run_seconds), 1):
        extra = f" [+{len(run.hierarchies)} hierarchies]" if run.hierarchies else ""
        lines.append(f"  {i:3d}. {_describe_run(run):48s} ~{_duration(seconds):>7s}"
                     f"  {','.join(run.experiments)}{extra}")
    if plan_.skipped:
        lines.append("Skipped:")
        lines += [f"  - {what}: {reason}" for what, reason in plan_.skipped]
    return "\n".join(lines)
