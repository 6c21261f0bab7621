"""Extension experiment `cluster_labels`: fine labels from k-means instead of annotators.

Paper Sec. VI-B leaves "automatically generating fine labels by clustering" as future work. Here
each coarse class of CIFAR-10 and CIFAR-100 is split into k clusters (k = 2, 5, 10) by k-means on
the penultimate features of the coarse-trained network of the same profile and seed
(`components/cluster`), and a network of the same recipe is trained on the k x (coarse classes)
cluster labels. The report's `cluster_labels` section compares each with coarse training and with
human fine labels (intervals over seeds, as the paper's tables) and lists each run's ACR, so one
can see whether a higher ACR marks the k that helps most.

A clustered dataset is a `ClusteredDatasetSpec`: a `DatasetSpec` whose `build` is its parent's
(so the reporter files its runs under the parent's dataset) and whose `build_hash` also covers the
features run and the cluster config. `pipelines.experiments` imports this module after the
paper's tables, so the registry always holds `cluster_labels`:

    from pipelines import experiments, profiles
    exp = experiments.get_experiment("cluster_labels", profiles.get_profile("smoke"))
"""

import dataclasses

from lg_keras.component_configs import ClusterConfig
from lg_keras.config import ExperimentConfig
from lg_keras.config_io import to_dict
from lg_keras.fingerprints import fingerprint
from pipelines import experiments
from pipelines.plan import DatasetSpec, RunRequest, RunSpec
from pipelines.profiles import Profile

# Clusters per coarse class; CIFAR-100's human labels have 5 per coarse class, CIFAR-10's 4 or 6.
CLUSTER_KS = (2, 5, 10)
CLUSTER_DATASETS = ("cifar10", "cifar100")


@dataclasses.dataclass(frozen=True)
class ClusteredDatasetSpec(DatasetSpec):
    """A dataset the cluster component derives from a built one (`lg data cluster`).

    Its `parent` (a `DatasetSpec` field) is the source build.

    Attributes:
        features_experiment: the config of the run whose penultimate features are clustered,
            trained on `parent` (the coarse-trained run of the same profile and seed).
        k: clusters per coarse class, one label view fine_cluster_<k> each.
        cluster_seed: seed of the k-means initialisations.
    """

    features_experiment: ExperimentConfig | None = None
    k: tuple[int, ...] = CLUSTER_KS
    cluster_seed: int = 0

    @property
    def build_hash(self) -> str:
        return fingerprint({"parent": self.parent.build_hash, "features_run": self.features_run.key,
                            "cluster": self.cluster_config()})

    @property
    def features_run(self) -> RunSpec:
        """The features run as the plan names it (its key locates its run directory)."""
        return RunSpec(dataset=self.parent.key, experiment=self.features_experiment)

    def cluster_config(self) -> dict:
        """The cluster component's config, as the dict of a `ClusterConfig`."""
        return to_dict(ClusterConfig(k=self.k, features="run", seed=self.cluster_seed))


def clustered_spec(parent: DatasetSpec, features_experiment: ExperimentConfig,
                   seed: int) -> ClusteredDatasetSpec:
    """The clustered copy of `parent` made from the run `features_experiment` with k-means seed."""
    return ClusteredDatasetSpec(key=f"{parent.key}_clusters_seed{seed}", build=parent.build,
                                paper_name=f"{parent.paper_name}, cluster labels (seed {seed})",
                                parent=parent, features_experiment=features_experiment,
                                k=CLUSTER_KS, cluster_seed=seed)


def build_clustered_dataset(spec: ClusteredDatasetSpec, parent_dir: str, features_run_dir: str,
                            out_dir: str, beam_args=()) -> dict:
    """Runs the cluster component for `spec` (a no-op when `out_dir` already holds it).

    Args:
        spec: the clustered dataset.
        parent_dir: the built parent dataset.
        features_run_dir: the finished run directory of `spec.features_run`.
        out_dir: where the clustered dataset goes.
        beam_args: extra Beam options.

    Returns:
        The clustered dataset's dataset.json.
    """
    from components.cluster import executor  # pylint: disable=import-outside-toplevel

    return executor.run(spec.cluster_config(),
                        {"examples": parent_dir, "features_run": features_run_dir},
                        {"examples": out_dir}, beam_args=list(beam_args))


@experiments.experiment("cluster_labels",
                        title="Extension (Sec. VI-B): k-means cluster labels vs. human fine labels",
                        priority=7)
def cluster_labels(profile: Profile) -> list[RunRequest]:
    """Do automatically found fine labels help coarse classification like human ones?

    Not a paper table: Sec. VI-B proposes clustering each coarse class as future work. For
    CIFAR-10 and CIFAR-100, per seed: the coarse-trained and fine-trained runs (Table I's), and
    runs on k = 2, 5, 10 k-means clusters per coarse class of the coarse run's penultimate
    features (fitted on the training split, test examples assigned to the nearest training
    centroid of their coarse class). Reported as coarse test accuracy with intervals, the gain
    over coarse training next to the human-label gain, and each run's ACR (against its own
    cluster labels). cpu: about 1.5 h beyond Table I (six 12-epoch runs).

        lg reproduce --profile cpu --only cluster_labels
    """
    runs = []
    for key in CLUSTER_DATASETS:
        parent = experiments.dataset_spec(key, profile)
        recipe = profile.recipe_for(key)
        for seed in range(profile.seeds):
            group = f"{key}/seed{seed}"
            coarse = recipe.experiment("coarse", seed=seed)
            spec = clustered_spec(parent, coarse, seed)
            # The coarse run comes first: the clustered dataset needs it finished.
            runs += [RunRequest(parent, coarse, group=group),
                     RunRequest(parent, recipe.experiment("fine", seed=seed),
                                            group=group)]
            runs += [RunRequest(spec, recipe.experiment(f"fine_cluster_{k}",
                                                                    seed=seed), group=group)
                     for k in CLUSTER_KS]
    return runs
