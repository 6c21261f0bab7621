"""example_gen as a Kubeflow Pipelines v2 component: a BuildConfig in, Output[Dataset] out.

The BuildConfig crosses kfp as one JSON string (`to_dict(cfg)`), decoded and validated here; the
`SourceAccess` as four string/bool parameters (`SourceAccess.kfp_arguments`), read back here. The
image holds this repository installed (`pip install -e .[gpu]`); nothing is installed at run time
(`install_kfp_package=False`, no `packages_to_install`), so it also runs offline under
`kfp.local.SubprocessRunner(use_venv=False)`. `beam_args` sends the Beam job elsewhere, e.g.
'--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp'.

    example_gen_op = make_example_gen_component(base_image="REGISTRY/lg-keras:0.1.0")
    task = example_gen_op(build_json=json.dumps(to_dict(build)),
                          **SourceAccess(data_dirs=("/data",)).kfp_arguments())
"""

from kfp import dsl
from kfp.dsl import Dataset, Output

# The same image as the trainer's (components/trainer/kfp_component.py).
DEFAULT_BASE_IMAGE = "lg-keras:latest"


def make_example_gen_component(base_image: str = DEFAULT_BASE_IMAGE):
    """The example_gen component running in `base_image` (an image with lg_keras installed)."""

    @dsl.component(base_image=base_image, install_kfp_package=False)
    def example_gen(build_json: str, examples: Output[Dataset], data_dirs_json: str = "[]",
                    tfds_data_dir: str = "", beam_args: str = "", allow_download: bool = True):
        """Builds the dataset `build_json` (a BuildConfig as JSON) into `examples`."""
        # Imported inside: kfp runs the function's body alone in the component's process.
        # pylint: disable=import-outside-toplevel
        import json

        from components.example_gen import executor
        from components.example_gen.source_access import SourceAccess
        from lg_keras.config import BuildConfig
        from lg_keras.config_io import from_dict

        cfg = from_dict(BuildConfig, json.loads(build_json))
        access = SourceAccess.from_kfp_arguments(data_dirs_json, tfds_data_dir, beam_args,
                                                 allow_download)
        meta = executor.run(cfg, access, {"examples": examples.path})
        examples.metadata["config_hash"] = meta["config_hash"]
        for split in ("train", "test"):
            examples.metadata[f"{split}_examples"] = meta["counts"][split]["total"]

    return example_gen


example_gen = make_example_gen_component()
