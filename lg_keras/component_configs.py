"""The evaluator, cluster and reporter components' configs: frozen, self-validating dataclasses.

They sit beside the experiment configs of `lg_keras.config` and are built the same way: from a
dict or its JSON string with `config_io.parse_config` (which calls `config_io.from_dict`), at the
component's entry (its CLI, its kfp wrapper, or `executor.run` for a dict from the planner). Past
that point the executors trust them.

    cfg = parse_config(EvaluatorConfig, '{"hierarchies": ["cifar10_custom_1"]}')
    cfg = parse_config(ClusterConfig, {"k": [2, 5, 10], "features": "run", "seed": 0})
"""

import dataclasses

from lg_keras.config_checks import choice, is_int, is_number, require

# TensorBoard's projector handles a few thousand points well; `lg_keras.embeddings` exports at most
# this many, and the evaluator config may not ask for more.
MAX_PROJECTOR_EXAMPLES = 2000
# What the cluster component clusters: a run's penultimate features, or box-averaged pixels.
FEATURE_KINDS = ("run", "pixels")


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
    """What the evaluator computes besides the metrics.

    Attributes:
        hierarchies: built-in hierarchy names or YAML paths over the dataset's fine classes; each
            adds metrics['by_hierarchy'][name] from the same predictions (paper Table VI).
        embeddings: write the t-SNE figure and the projector files (one extra feature output).
        batch_size: inference batch size; 0 = max(the run's batch size, 256).
        tsne_seed: seed of the t-SNE.
        max_embedding_examples: the class-balanced subset size for t-SNE and the projector, in
            [2, MAX_PROJECTOR_EXAMPLES].
    """

    hierarchies: tuple[str, ...] = ()
    embeddings: bool = True
    batch_size: int = 0
    tsne_seed: int = 0
    max_embedding_examples: int = MAX_PROJECTOR_EXAMPLES

    def __post_init__(self):
        require(isinstance(self.hierarchies, (list, tuple)), "hierarchies",
                 "must be a list of hierarchy names or YAML paths", self.hierarchies)
        object.__setattr__(self, "hierarchies", tuple(self.hierarchies))
        require(all(isinstance(h, str) and h for h in self.hierarchies), "hierarchies",
                 "must be non-empty strings (names or YAML paths)", list(self.hierarchies))
        require(isinstance(self.embeddings, bool), "embeddings", "must be true or false",
                 self.embeddings)
        for name in ("batch_size", "tsne_seed"):
            value = getattr(self, name)
            require(is_int(value) and value >= 0, name, "must be an integer >= 0", value)
        require(is_int(self.max_embedding_examples)
                 and 2 <= self.max_embedding_examples <= MAX_PROJECTOR_EXAMPLES,
                 "max_embedding_examples", f"must be an integer in [2, {MAX_PROJECTOR_EXAMPLES}]",
                 self.max_embedding_examples)


@dataclasses.dataclass(frozen=True)
class ClusterConfig:
    """What `lg data cluster` computes (paper Sec. VI-B's automatic fine labels).

    Attributes:
        k: clusters per coarse class; each gives a label view `fine_cluster_<k>` with
            k * num_coarse_classes classes.
        features: 'run' (penultimate features of the cluster component's inputs['features_run'])
            or 'pixels' (`lg_keras.clustering.pixel_features`).
        seed: seed of every k-means initialisation.
    """

    k: tuple[int, ...] = (2, 5, 10)
    features: str = "run"
    seed: int = 0

    def __post_init__(self):
        require(isinstance(self.k, (list, tuple)) and bool(self.k), "k",
                 "must be a non-empty list of integers >= 1", self.k)
        object.__setattr__(self, "k", tuple(self.k))
        require(all(is_int(k) and k >= 1 for k in self.k), "k",
                 "must be a list of integers >= 1", list(self.k))
        require(len(set(self.k)) == len(self.k), "k", "must not repeat a value", list(self.k))
        choice("features", self.features, FEATURE_KINDS)
        require(is_int(self.seed) and self.seed >= 0, "seed", "must be a non-negative integer",
                 self.seed)


@dataclasses.dataclass(frozen=True)
class ReporterConfig:
    """How the reporter summarises the runs.

    Attributes:
        confidence: coverage of the intervals over seeds, in (0, 1).
    """

    confidence: float = 0.95

    def __post_init__(self):
        require(is_number(self.confidence) and 0 < self.confidence < 1, "confidence",
                 "must be a number in (0, 1)", self.confidence)
