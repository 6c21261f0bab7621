"""reporter: writes report.md, report.html, tables/*.csv and figures/*.png for a runs directory.

`run(cfg, inputs, outputs)` reads `inputs['runs']` (plan.json and the run directories written by
the trainer and evaluator) and writes into `outputs['report']` (the runs directory itself when
called after each run by the local runner). The work is `report.write_report` in this package;
this module is its entry point for the CLI and for Kubeflow.
"""

import json
import logging
import os

from lg_keras.errors import ConfigError, RunDirError

_DEFAULTS = {"confidence": 0.95}


def parse_config(cfg: str | dict | None) -> dict:
    """Validates the reporter config {'confidence': float in (0, 1)}, a dict or its JSON string.

    Raises:
        ConfigError: for malformed JSON, a non-mapping, an unknown key or a bad confidence.
    """
    if isinstance(cfg, str):
        try:
            cfg = json.loads(cfg or "{}")
        except json.JSONDecodeError as e:
            raise ConfigError(f"The reporter config must be a JSON object; got {cfg!r:.200} "
                              f"({e}).") from e
    if cfg is not None and not isinstance(cfg, dict):
        raise ConfigError(f"The reporter config must be a mapping; got {cfg!r:.200}.")
    cfg = {**_DEFAULTS, **(cfg or {})}
    unknown = sorted(set(cfg) - set(_DEFAULTS))
    if unknown:
        raise ConfigError(f"Unknown reporter config key {unknown[0]!r}. Available: "
                          f"{', '.join(sorted(_DEFAULTS))}.")
    confidence = cfg["confidence"]
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not (
            0 < confidence < 1):
        raise ConfigError(f"confidence must be a number in (0, 1); got {confidence!r}.")
    return cfg


def run(cfg: str | dict | None, inputs: dict, outputs: dict) -> dict:
    """Writes the report of `inputs['runs']` into `outputs['report']`.

    Args:
        cfg: {'confidence': coverage of the intervals (default 0.95)}, or that as JSON.
        inputs: {'runs': RUNS_DIR}.
        outputs: {'report': output directory} (may be RUNS_DIR itself).

    Returns:
        {'report': path of report.md, 'html': path of report.html, 'out_dir': the directory}.

    Raises:
        RunDirError: when the runs directory does not exist.
        ConfigError: for a bad config.
    """
    from components.reporter import report  # pylint: disable=import-outside-toplevel

    cfg = parse_config(cfg)
    runs_dir = inputs["runs"]
    if not os.path.isdir(runs_dir):
        raise RunDirError(f"Runs directory {runs_dir!r} does not exist.")
    out_dir = outputs.get("report") or runs_dir
    os.makedirs(out_dir, exist_ok=True)
    path = report.write_report(runs_dir, out_dir=out_dir, confidence=cfg["confidence"])
    logging.info("Report of %s written to %s.", runs_dir, path)
    return {"report": path, "html": os.path.join(os.path.dirname(path), "report.html"),
            "out_dir": os.path.dirname(path)}
