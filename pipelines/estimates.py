"""Time estimates of builds and runs: the planner's budget cut and the printed plan.

A run's estimate is images x epochs / training throughput, plus a per-epoch test evaluation, a
final evaluation pass and fixed per-run costs. Each network's throughput is its formula in the
model registry (`lg_keras.models`, measured on this 2-core CPU, FACTS.md); the cost scales with
the input's pixel count. The planner orders and budgets with the fixed speeds (`speeds.FIXED`);
printouts may pass this machine's measured ones (`pipelines.speeds`). A build's size and speed
are its source's entry in the table of sources (`lg_keras.sources.catalog`).
"""

import math
import types

from lg_keras import hierarchy_files, models
from lg_keras.config import ExperimentConfig, ModelConfig
from lg_keras.errors import LgError
from lg_keras.sources import catalog
from pipelines.plan import DatasetSpec
from pipelines.speeds import FIXED, THIN_TRAIN_IMAGES_PER_S, Speeds

# Training images/s: each model's formula in the model registry (`lg_keras.models`), at 32 x 32
# on the reference 2-core CPU (FACTS.md); the thin network's is the reference
# (THIN_TRAIN_IMAGES_PER_S), mixed bfloat16 BFLOAT16_SPEEDUP times faster (`pipelines.speeds`).
# Smaller networks are bound by the input pipeline and per-step costs: none measured faster than
# width 16 (width 4 at batch 32: about 570 images/s).
MAX_TRAIN_IMAGES_PER_S = THIN_TRAIN_IMAGES_PER_S
INFERENCE_SPEEDUP = 3.0  # inference (no backward pass) vs. training images/s
# Fixed costs measured on an idle machine at smoke size: model building and tracing, the final
# save; a checkpoint per epoch; the evaluator's model load, t-SNE and figures (whose confusion
# matrix grows with the number of classes).
RUN_OVERHEAD_S = 6.0
EPOCH_OVERHEAD_S = 1.3
EVAL_OVERHEAD_S = 2.0
EVAL_SECONDS_PER_CLASS = 0.04
BUILD_OVERHEAD_S = 5.0

# A source's sizes and build speed live in the table of sources (`lg_keras.sources.catalog`);
# these names stay for the modules that count a user's dataset (pipelines.study).
SourceSize = catalog.SourceSize
SOURCE_SIZES = types.MappingProxyType(
    {name: catalog.source_entry(name).size for name in catalog.source_names()})


def _size(spec: DatasetSpec) -> SourceSize:
    """A spec's own `source_size` (a user's dataset, counted: `pipelines.study`), its parent's
    for a derived dataset, else the source's official sizes."""
    for candidate in (spec, spec.parent):
        size = getattr(candidate, "source_size", None)
        if size is not None:
            return size
    return catalog.source_entry(spec.build.dataset).size


def _num_fine(spec: DatasetSpec) -> int:
    try:
        return hierarchy_files.load_hierarchy(spec.build.hierarchy).num_fine_classes
    except (LgError, OSError):
        return 10  # a hierarchy the estimate cannot read: the build will say why


def split_sizes(spec: DatasetSpec) -> tuple[int, int]:
    """Estimated (train, test) images of a build: fine classes x images per class, capped."""
    size, num_fine = _size(spec), _num_fine(spec)
    train = min(size.train_per_class, spec.build.max_train_per_class or math.inf)
    test = min(size.test_per_class, spec.build.max_test_per_class or math.inf)
    return int(num_fine * train), int(num_fine * test)


def train_images_per_second(model: ModelConfig, side: int, mixed_precision: str = "auto",
                            speeds: Speeds = FIXED) -> float:
    """Estimated training throughput of a network at side x side inputs on this machine.

    Args:
        model: the network.
        side: input height = width.
        mixed_precision: the run's `train.mixed_precision` ('bfloat16' is faster here).
        speeds: the fixed speeds (the plan's) or measured ones (`speeds.read_bench`, printouts).
    """
    speedup = speeds.bfloat16_speedup if mixed_precision == "bfloat16" else 1.0
    rate = models.model_entry(model.name).train_images_per_s(model) * speeds.scale
    return speedup * min(rate * (32 * 32) / (side * side), MAX_TRAIN_IMAGES_PER_S * speeds.scale)


def estimate_build_seconds(spec: DatasetSpec) -> float:
    """Estimated seconds to build a dataset (the builder reads the whole source)."""
    size = _size(spec)
    return BUILD_OVERHEAD_S + size.total_images / size.build_images_per_s


def estimate_run_seconds(cfg: ExperimentConfig, spec: DatasetSpec,
                         speeds: Speeds = FIXED) -> float:
    """Estimated seconds to train and evaluate one run at `speeds` (train_images_per_second)."""
    train, test = split_sizes(spec)
    side = cfg.data.image_size or _size(spec).side or 224
    rate = train_images_per_second(cfg.model, side, cfg.train.mixed_precision, speeds)
    epochs = cfg.epochs_to_run()
    steps = cfg.train.max_steps_per_epoch
    per_epoch = train * cfg.data.fraction
    if steps:
        per_epoch = min(per_epoch, steps * cfg.data.batch_size)
    evals = epochs // cfg.train.eval_every if cfg.train.eval_every else 0
    infer = rate * INFERENCE_SPEEDUP
    return (RUN_OVERHEAD_S + epochs * (EPOCH_OVERHEAD_S + per_epoch / rate)
            + evals * test / infer + (train * cfg.data.fraction + test) / infer
            + EVAL_OVERHEAD_S + EVAL_SECONDS_PER_CLASS * _num_fine(spec))
