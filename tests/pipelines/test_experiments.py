"""pipelines.experiments and pipelines.profiles: a complete registry; sizes-only profiles."""

import dataclasses

import pytest

from lg_keras import hierarchy_files
from lg_keras.config_io import config_hash
from lg_keras.errors import ConfigError
from pipelines import experiments
from pipelines.profiles import FAMILIES, PROFILES, Profile, family_of, get_profile

PAPER_ITEMS = ("table1", "fig2", "fig3", "table4", "fig4", "table5", "fig5", "fig6", "table6",
               "table7", "table8")


def test_every_table_and_figure_is_registered_with_a_documented_command():
    names = experiments.experiment_names()
    assert set(PAPER_ITEMS) <= set(names)
    for name in names:
        exp = experiments.get_experiment(name, get_profile("smoke"))
        assert exp.title and len(exp.doc.split()) > 30, name
        assert exp.command.startswith("lg reproduce --profile") and f"--only {name}" in exp.command
        meta = exp.metadata()
        assert meta["claim"] and meta["command"] == exp.command


def test_an_unknown_experiment_lists_the_choices():
    with pytest.raises(ConfigError, match=r"Unknown experiment 'table9'\. Available: table1, "):
        experiments.get_experiment("table9", get_profile("cpu"))
    with pytest.raises(ConfigError, match="Available: smoke, cpu, paper"):
        get_profile("laptop")


@pytest.mark.parametrize("profile", list(PROFILES))
def test_requests_are_valid_and_each_dataset_key_is_one_build(profile):
    builds, known = {}, set(hierarchy_files.builtin_hierarchy_names())
    for name in experiments.experiment_names():
        for request in experiments.get_experiment(name, PROFILES[profile]).runs:
            builds.setdefault(request.dataset.key, set()).add(request.dataset.build_hash)
            assert set(request.hierarchies) <= known
            assert request.experiment.data.dataset_dir == ""
            if request.hierarchies:
                assert request.experiment.data.labels == "fine"
    assert all(len(hashes) == 1 for hashes in builds.values()), builds
    assert experiments.dataset_spec("cifar10", PROFILES[profile]).build.noise == \
        experiments.NOISE_RATES


def _kinds(profile: Profile) -> set:
    """What a profile runs, without its sizes: experiment, dataset family, label kind, head,
    whether the data is reduced, whether extra hierarchies are scored."""
    out = set()
    for name in experiments.experiment_names():
        for r in experiments.get_experiment(name, profile).runs:
            view = r.experiment.data.labels.rsplit("_", 1)[0] if "_" in \
                r.experiment.data.labels else r.experiment.data.labels
            # A derived dataset (cluster labels) trains as its parent build does.
            key = (r.dataset.parent or r.dataset).key
            out.add((name, family_of(key), view, r.experiment.model.head,
                     r.experiment.data.fraction < 1, bool(r.hierarchies)))
    return out


def test_profiles_differ_only_in_sizes():
    smoke, cpu, paper = (_kinds(PROFILES[n]) for n in ("smoke", "cpu", "paper"))
    assert smoke == cpu
    # The paper profile adds Fig. 2 on more dataset families, nothing else.
    assert cpu <= paper
    assert paper - cpu and {k[0] for k in paper - cpu} == {"fig2"}, paper - cpu
    for profile in PROFILES.values():
        assert {getattr(profile, f).model.head for f in FAMILIES} == {"linear"}


def test_the_paper_profile_is_the_authors_recipe():
    paper = PROFILES["paper"]
    c10 = paper.recipe_for("cifar10").experiment("fine")
    assert (c10.model.name, c10.model.width, c10.train.epochs, c10.train.schedule,
            c10.train.lr_milestones, c10.train.learning_rate, c10.data.batch_size) == \
        ("preact_resnet18", 64, 200, "milestones", ((150, 0.1),), 0.1, 256)
    c100 = paper.recipe_for("cifar100_animals").experiment("coarse")
    assert (c100.model.name, c100.model.depth, c100.model.widen_factor,
            c100.model.block_dropout) == ("wide_resnet", 28, 10, 0.3)
    inet = paper.recipe_for("imagenet_fruitveg").experiment("fine", fraction=0.2)
    assert (inet.model.width, inet.train.learning_rate, inet.train.epochs, inet.data.image_size,
            inet.epochs_to_run()) == (16, 0.01, 225, 224, 1124)  # int(225 // 0.2)
    assert paper.seeds == 3 and paper.fractions == (0.2, 0.4, 0.6, 0.8, 1.0)
    assert paper.trims() == []


def test_the_cpu_and_smoke_profiles_say_what_they_trim():
    cpu = PROFILES["cpu"]
    run = cpu.recipe_for("cifar100").experiment("fine")
    assert (run.model.width, run.train.epochs, run.train.nesterov, run.train.schedule,
            run.train.warmup_epochs, run.data.batch_size) == (16, 12, True, "warmup_cosine", 2, 128)
    assert cpu.pair_seeds == 3 and cpu.seeds == 1 and cpu.budget_hours == 10
    text = "\n".join(cpu.trims())
    assert "wide_resnet 28-10" in text and "0.2,0.6,1 on cifar10 only" in text and "10 h" in text
    smoke = PROFILES["smoke"]
    assert smoke.max_train_per_class <= 30 and smoke.max_test_per_class <= 10
    assert smoke.recipe_for("cifar10").model.width == 4
    assert "rows [1, 6]" in "\n".join(smoke.trims())


def test_fraction_runs_keep_the_update_count_and_the_number_of_test_passes():
    recipe = PROFILES["cpu"].recipe_for("cifar10")
    full, fifth = recipe.experiment("fine"), recipe.experiment("fine", fraction=0.2)
    assert fifth.epochs_to_run() == 5 * full.epochs_to_run()
    assert fifth.epochs_to_run() // fifth.train.eval_every == full.epochs_to_run()
    assert dataclasses.replace(fifth.train, eval_every=1) == full.train


def test_table1_doubles_seeds_for_the_cifar10_pair_and_table6_scores_ten_mappings():
    cpu = PROFILES["cpu"]
    runs = experiments.get_experiment("table1", cpu).runs
    seeds = {(r.dataset.key, r.experiment.data.labels): set() for r in runs}
    for r in runs:
        seeds[(r.dataset.key, r.experiment.data.labels)].add(r.experiment.train.seed)
    assert seeds[("cifar10", "fine")] == {0, 1, 2} and seeds[("fashion_mnist", "coarse")] == {0}
    # The CIFAR-100 pairs' extra seeds (claim_seeds) rank below every paper table.
    assert seeds[("cifar100", "coarse")] == seeds[("cifar100_animals", "fine")] == {0, 1, 2}
    assert {r.priority for r in runs if r.experiment.train.seed and r.dataset.key != "cifar10"} \
        == {experiments.EXTRA_SEED_PRIORITY}
    assert {r.priority for r in runs if not r.experiment.train.seed} == {None}
    table6 = experiments.get_experiment("table6", cpu).runs
    fine = [r for r in table6 if r.experiment.data.labels == "fine"]
    assert {r.hierarchies for r in fine} == {experiments.TABLE6_HIERARCHIES}
    coarse_keys = [r.dataset.key for r in table6 if r.experiment.data.labels == "coarse"]
    assert coarse_keys == ["cifar10"] + [f"cifar10_custom_{i}" for i in range(2, 11)]
    table7 = {r.experiment.data.labels for r in experiments.get_experiment("table7", cpu).runs}
    assert table7 == {"coarse", "fine", "fine_noise_0.01", "fine_noise_0.03", "fine_noise_0.1",
                      "fine_noise_0.3", "fine_noise_launched_0.01", "fine_noise_launched_0.03",
                      "fine_noise_launched_0.1", "fine_noise_launched_0.3"}


def test_table7_pairs_launched_runs_with_the_coarse_run_of_their_seed_on_cifar10():
    runs = experiments.get_experiment("table7", PROFILES["cpu"]).runs
    by_group = {}
    for r in runs:
        by_group.setdefault(r.group, []).append(r)
    seeds = {}
    for group, members in by_group.items():
        coarse = [r for r in members if r.experiment.data.labels == "coarse"]
        fine = [r for r in members if r.experiment.data.labels != "coarse"]
        assert len(coarse) == len(fine) == 1, group
        assert coarse[0].dataset.key == "cifar10"  # the launched build has no coarse run
        assert coarse[0].experiment.train.seed == fine[0].experiment.train.seed
        labels = fine[0].experiment.data.labels
        launched = labels.startswith("fine_noise_launched_")
        assert fine[0].dataset.key == ("cifar10_launched" if launched else "cifar10")
        seeds.setdefault(labels, set()).add(fine[0].experiment.train.seed)
    # Seeds 1 and 2 at r = 0.1 and 0.3 for both kinds (ranked last), seed 0 elsewhere.
    for kind in ("fine_noise_", "fine_noise_launched_"):
        assert seeds[f"{kind}0.01"] == seeds[f"{kind}0.03"] == {0}
        assert seeds[f"{kind}0.1"] == seeds[f"{kind}0.3"] == {0, 1, 2}
    assert {r.priority for r in runs if r.experiment.train.seed} == {
        experiments.EXTRA_SEED_PRIORITY}


def test_the_launched_build_is_cifar10_with_the_launched_noise_and_leaves_cifar10_alone():
    cpu = PROFILES["cpu"]
    launched = experiments.dataset_spec("cifar10_launched", cpu)
    plain = experiments.dataset_spec("cifar10", cpu)
    assert launched.build == dataclasses.replace(plain.build, noise_kind="launched")
    assert launched.build.noise_variants == ("launched_0.01", "launched_0.03", "launched_0.1",
                                             "launched_0.3")
    assert plain.build.noise_variants == ("0.01", "0.03", "0.1", "0.3")
    assert launched.build_hash != plain.build_hash


def test_memorisation_runs_train_four_times_the_cpu_epochs_and_are_table7s_own_in_paper():
    cpu = experiments.get_experiment("table7_memorisation", PROFILES["cpu"]).runs
    assert [(r.experiment.data.labels, r.experiment.train.epochs) for r in cpu] == [
        ("fine", 48), ("fine_noise_0.3", 48)]
    paper = PROFILES["paper"]
    table7 = {config_hash(r.experiment)
              for r in experiments.get_experiment("table7", paper).runs}
    assert {config_hash(r.experiment) for r in
            experiments.get_experiment("table7_memorisation", paper).runs} <= table7
