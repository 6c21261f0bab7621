"""Where example_gen finds a dataset's source and how it may build it: one frozen value.

The command line builds a `SourceAccess` once (`__main__.source_access_from_args`: --data-dir,
$LG_DATA_DIR and the default dirs, --tfds-data-dir, --no-download, --beam-args), and every layer
passes it whole: `lg reproduce` / `lg study` -> `local_runner.run_plan` -> `executor.run`, or
`lg pipeline` -> `kubeflow.pipeline_from_plan`. A kfp task's parameters stay strings: the pipeline
writes them with `kfp_arguments` and the component reads them back with `from_kfp_arguments`.

    access = SourceAccess(data_dirs=("/data",), allow_download=False)
    executor.run(build, access, {"examples": out})
"""

import dataclasses
import json

from lg_keras.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class SourceAccess:
    """How example_gen obtains sources; the defaults are TFDS's, with downloads allowed.

    Attributes:
        data_dirs: directories searched for local copies, in order (empty entries are skipped).
        tfds_data_dir: TFDS data dir (and manual_dir root); None for TFDS's default.
        allow_download: whether TFDS may download a dataset no local copy of which is found.
        beam_args: extra Beam pipeline options, one per item, e.g. ('--runner=DataflowRunner',).
    """

    data_dirs: tuple[str, ...] = ()
    tfds_data_dir: str | None = None
    allow_download: bool = True
    beam_args: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("data_dirs", "beam_args"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"SourceAccess.{name} must be a tuple of strings; got "
                                  f"{value!r}.")
        if self.tfds_data_dir is not None and not (
                isinstance(self.tfds_data_dir, str) and self.tfds_data_dir):
            raise ConfigError(f"SourceAccess.tfds_data_dir must be a non-empty path or None "
                              f"(TFDS's default); got {self.tfds_data_dir!r}.")
        if not isinstance(self.allow_download, bool):
            raise ConfigError(f"SourceAccess.allow_download must be a bool; got "
                              f"{self.allow_download!r}.")

    def kfp_arguments(self) -> dict:
        """The example_gen kfp component's parameters (`kfp_component.example_gen`)."""
        return {"data_dirs_json": json.dumps(list(self.data_dirs)),
                "tfds_data_dir": self.tfds_data_dir or "",
                "beam_args": " ".join(self.beam_args), "allow_download": self.allow_download}

    @classmethod
    def from_kfp_arguments(cls, data_dirs_json: str, tfds_data_dir: str, beam_args: str,
                           allow_download: bool) -> "SourceAccess":
        """The inverse of `kfp_arguments`, at the component's entry.

        Raises:
            ConfigError: `data_dirs_json` is not a JSON list of paths.
        """
        try:
            data_dirs = json.loads(data_dirs_json)
        except json.JSONDecodeError:
            data_dirs = None
        if not isinstance(data_dirs, list) or not all(isinstance(d, str) for d in data_dirs):
            raise ConfigError(f"data_dirs_json must be a JSON list of paths; got "
                              f"{data_dirs_json!r}.")
        return cls(data_dirs=tuple(data_dirs), tfds_data_dir=tfds_data_dir or None,
                   allow_download=allow_download, beam_args=tuple(beam_args.split()))
