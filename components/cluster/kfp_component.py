"""The cluster component as a kfp v2 lightweight component: Input[Dataset] (+ Input[Model]) ->
Output[Dataset] with the cluster label views, and the agreement figures on an Output[Metrics].

The config crosses kfp as one JSON string ({'k': [2, 5, 10], 'features': 'run'|'pixels',
'seed': 0}), decoded and validated by `executor.run` (`lg_keras.config_io.parse_config` ->
`ClusterConfig`). `features_run` (a trainer run directory) is optional: needed for
features='run', left unconnected for 'pixels'. The image holds this repository
installed; nothing is installed at run time (`install_kfp_package=False`, no
`packages_to_install`, FACTS.md).

    cluster_op = make_cluster_component(base_image="REGISTRY/lg-keras:0.1.0")
    task = cluster_op(examples=build_task.outputs["examples"],
                      features_run=coarse_task.outputs["model"],
                      config_json=json.dumps({"k": [2, 5, 10], "features": "run", "seed": 0}))
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

# The same image as the trainer's (components/trainer/kfp_component.py).
DEFAULT_BASE_IMAGE = "lg-keras:latest"


def make_cluster_component(base_image: str = DEFAULT_BASE_IMAGE):
    """The cluster component running in `base_image` (an image with lg_keras installed)."""

    @dsl.component(base_image=base_image, install_kfp_package=False)
    def cluster(examples: Input[Dataset], config_json: str, clustered: Output[Dataset],
                metrics: Output[Metrics], features_run: Input[Model] = None):
        """Writes `examples` with cluster labels added into `clustered`."""
        # Imported inside: kfp runs the function's body alone in the component's process.
        from components.cluster import executor  # pylint: disable=import-outside-toplevel

        meta = executor.run(config_json, {"examples": examples.path,
                                          "features_run": features_run.path if features_run
                                          else None},
                            {"examples": clustered.path})
        clustered.metadata["config_hash"] = meta["config_hash"]
        for k, entry in meta["clusters"].items():
            for split, scores in entry["agreement"].items():
                for name, value in scores.items():
                    metrics.log_metric(f"k{k}/{split}/{name}", value)

    return cluster


cluster = make_cluster_component()
