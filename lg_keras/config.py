"""Typed configuration: frozen dataclasses, the only config types of the project.

`BuildConfig` describes a dataset build (source, hierarchy, noise, subset size). `ExperimentConfig`
nests `DataConfig`, `ModelConfig` and `TrainConfig` for one training run. Each validates itself in
`__post_init__` and raises `ConfigError` naming the field, the rule and the value. Entry points build
a config once (from flags or `--set a.b=value` overrides), log it and write it to `config.json`
beside the results.

The components' own configs (evaluator, cluster, reporter) live in `lg_keras.component_configs`
and are built by the same `from_dict` (`parse_config` also takes their kfp JSON string).
`config_hash` is `lg_keras.fingerprints.fingerprint` of the hashed fields.
"""

import dataclasses
import json
import math
import re
import typing
from typing import Any

from lg_keras import models
from lg_keras.errors import ConfigError
from lg_keras.fingerprints import fingerprint

LABEL_VIEW_PATTERN = re.compile(
    r"^(coarse|fine|fine_noise_(launched_)?(\d+(\.\d+)?)|fine_cluster_(\d+))$")
NOISE_VIEW_PREFIX, CLUSTER_VIEW_PREFIX = "fine_noise_", "fine_cluster_"
# Fine-label noise kinds (Table VII): "within_coarse" swaps fine labels inside a coarse class (the
# authors' fixed code); "launched" is their loop as it stood when the Table VII runs were launched
# (swap partner a position in the whole training set, so swaps cross coarse classes).
NOISE_KINDS = ("within_coarse", "launched")
AUGMENTATIONS = ("auto", "none", "crop_flip", "resized_crop_flip")
# "cifar10_authors" / "cifar100_authors": the fixed constants of the authors' scripts (data.py).
NORMALIZATIONS = ("dataset", "imagenet", "none", "cifar10_authors", "cifar100_authors")
SCHEDULES = ("step", "warmup_cosine", "constant", "milestones")
EPOCH_ROUNDINGS = ("ceil", "floor")
INITIALIZATIONS = ("default", "authors")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
# "native_bfloat16" names the cpu profile's rule rather than its outcome, so a config compiled on
# one machine means the same on the one that trains it (lg_keras.distribute resolves it there).
MIXED_PRECISION = ("auto", "on", "bfloat16", "off", "native_bfloat16")
# Field metadata key: False for fields the config hash leaves out while at their default.
HASHED_WHEN_DEFAULT = "hashed_when_default"
IMAGE_ENCODINGS = ("auto", "raw", "png")
COMPRESSIONS = ("none", "gzip")
# Model and head names come from the model registry (`lg_keras.models`), validated here once.
MODEL_NAMES, HEAD_NAMES = models.MODEL_NAMES, models.HEAD_NAMES


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(ok: bool, field: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{field} {rule}; got {value!r}.")


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"Unknown {field} {value!r}. Available: {', '.join(choices)}.")


def format_rate(rate: float) -> str:
    """Formats a noise rate for feature and label-view names: 0.1 -> '0.1', 0.03 -> '0.03'."""
    return f"{rate:g}"


def noise_variant(rate: float, kind: str = "within_coarse") -> str:
    """The name of a noisy fine-label variant: 0.1 -> '0.1' (within_coarse), 'launched_0.1'.

    The label view is 'fine_noise_' + this name, the record feature 'fine_label_noise_' + it.
    """
    _choice("noise_kind", kind, NOISE_KINDS)
    return format_rate(rate) if kind == "within_coarse" else f"{kind}_{format_rate(rate)}"


@dataclasses.dataclass(frozen=True)
class LabelView:
    """A parsed label view: which labels a run trains on (`parse_label_view`).

    A label view is the string `DataConfig.labels` holds ('coarse', 'fine', 'fine_noise_<r>',
    'fine_noise_launched_<r>', 'fine_cluster_<k>'). Code parses it once, here, and reads the parts;
    `lg_keras.records.label_feature` derives the record feature from them.

    Attributes:
        name: the view as written, e.g. 'fine_noise_launched_0.1' (the string runs are keyed by).
        kind: 'coarse', 'fine', 'noise' or 'cluster'.
        noise_kind: for 'noise': 'within_coarse' or 'launched'; else ''.
        rate: for 'noise': the randomness factor r; else None.
        clusters: for 'cluster': k; else None.
    """

    name: str
    kind: str
    noise_kind: str = ""
    rate: float | None = None
    clusters: int | None = None

    @property
    def trains_fine(self) -> bool:
        """Whether the view's targets are fine classes of the hierarchy (fine or noisy fine)."""
        return self.kind in ("fine", "noise")

    @property
    def variant(self) -> str:
        """For 'noise': the noisy variant's name as written ('0.1', 'launched_0.1'), else ''.

        It names the build's variant (`noise_variant`) and, after 'fine_label_noise_', its record
        feature.
        """
        return self.name[len(NOISE_VIEW_PREFIX):] if self.kind == "noise" else ""

    @property
    def cluster_key(self) -> str:
        """For 'cluster': k as written ('5'), the key of dataset.json's 'clusters'; else ''."""
        return self.name[len(CLUSTER_VIEW_PREFIX):] if self.kind == "cluster" else ""


def parse_label_view(view: str) -> LabelView:
    """Parses 'coarse', 'fine', 'fine_noise_<r>', 'fine_noise_launched_<r>', 'fine_cluster_<k>'.

    Raises:
        ConfigError: naming the view when it matches none of these.
    """
    match = LABEL_VIEW_PATTERN.match(view) if isinstance(view, str) else None
    if match is None:
        raise ConfigError(f"data.labels must be 'coarse', 'fine', 'fine_noise_<r>', "
                          f"'fine_noise_launched_<r>' or 'fine_cluster_<k>'; got {view!r}.")
    if view in ("coarse", "fine"):
        return LabelView(view, view)
    if view.startswith(CLUSTER_VIEW_PREFIX):
        return LabelView(view, "cluster", clusters=int(match.group(5)))
    return LabelView(view, "noise", noise_kind="launched" if match.group(2) else "within_coarse",
                     rate=float(match.group(3)))


def noise_label_view(variant: str) -> LabelView:
    """The label view of a noisy variant: '0.1' -> 'fine_noise_0.1', 'launched_0.1' -> ...

    Args:
        variant: a variant name (`noise_variant`, `DatasetInfo.noise_variants`).
    """
    return parse_label_view(f"{NOISE_VIEW_PREFIX}{variant}")


def cluster_label_view(clusters: int | str) -> LabelView:
    """The label view of k clusters per coarse class: 5 -> 'fine_cluster_5'."""
    return parse_label_view(f"{CLUSTER_VIEW_PREFIX}{clusters}")


@dataclasses.dataclass(frozen=True)
class BuildConfig:
    """A dataset build: which source, which hierarchy, which noisy variants, how to write.

    Attributes:
        dataset: 'cifar10', 'cifar100', 'fashion_mnist', 'imagenet2012' or 'folder:PATH'.
        hierarchy: a built-in hierarchy name or a path to a hierarchy YAML file.
        noise: randomness factors r of noisy fine-label variants (paper Table VII), each in (0, 1].
        noise_kind: 'within_coarse' (swaps inside a coarse class; views 'fine_noise_<r>') or
            'launched' (the authors' loop as launched, swaps across coarse classes, training split
            only; views 'fine_noise_launched_<r>'). One kind per build.
        seed: seed of the noise and of the class-balanced ranks used for fractions.
        max_train_per_class: keep at most this many training examples per fine class (smoke-sized
            builds); None keeps all. The kept ones are the lowest ranks, so fractions stay nested.
        max_test_per_class: the same for the test split.
        train_shards: number of TFRecord shards of the train split (0 = by size).
        test_shards: number of TFRecord shards of the test split (0 = by size).
        compression: 'none' or 'gzip'.
        image_encoding: 'auto' keeps what the source gives (raw pixels or the original JPEG/PNG
            bytes), 'raw' stores decoded pixels, 'png' re-encodes losslessly.
        test_fraction: 'folder:PATH' only: for a folder without a test/ or val/ split, the share
            of each class held out as the test split, chosen by `seed` and each image's id
            (`label_variants.held_out_mask`); 0 requires the folder's own test split, which is
            used whenever there is one. Left out of the hash at 0.
    """

    dataset: str = "cifar10"
    hierarchy: str = "cifar10"
    noise: tuple[float, ...] = ()
    seed: int = 0
    max_train_per_class: int | None = None
    max_test_per_class: int | None = None
    train_shards: int = 0
    test_shards: int = 0
    compression: str = "none"
    image_encoding: str = "auto"
    noise_kind: str = dataclasses.field(default="within_coarse",
                                        metadata={HASHED_WHEN_DEFAULT: False})
    test_fraction: float = dataclasses.field(default=0.0, metadata={HASHED_WHEN_DEFAULT: False})

    def __post_init__(self):
        _require(isinstance(self.dataset, str) and bool(self.dataset), "dataset",
                 "must be a non-empty string", self.dataset)
        _require(isinstance(self.hierarchy, str) and bool(self.hierarchy), "hierarchy",
                 "must be a non-empty string", self.hierarchy)
        object.__setattr__(self, "noise", tuple(self.noise))
        for rate in self.noise:
            _require(_is_number(rate) and 0 < rate <= 1, "noise",
                     "rates must be numbers in (0, 1]", rate)
        _require(len(set(self.noise)) == len(self.noise), "noise", "must not repeat a rate",
                 self.noise)
        _require(_is_int(self.seed) and self.seed >= 0, "seed",
                 "must be a non-negative integer", self.seed)
        for name in ("max_train_per_class", "max_test_per_class"):
            value = getattr(self, name)
            _require(value is None or (_is_int(value) and value >= 1), name,
                     "must be None or an integer >= 1", value)
        for name in ("train_shards", "test_shards"):
            value = getattr(self, name)
            _require(_is_int(value) and 0 <= value <= 10_000, name,
                     "must be an integer in [0, 10000]", value)
        _choice("compression", self.compression, COMPRESSIONS)
        _choice("image_encoding", self.image_encoding, IMAGE_ENCODINGS)
        _choice("noise_kind", self.noise_kind, NOISE_KINDS)
        _require(_is_number(self.test_fraction) and 0 <= self.test_fraction < 1,
                 "test_fraction", "must be a number in [0, 1)", self.test_fraction)
        _require(not self.test_fraction or self.dataset.startswith("folder:"), "test_fraction",
                 "applies to image folders (dataset 'folder:PATH') only, which may lack a test "
                 f"split; dataset {self.dataset!r} has one", self.test_fraction)

    @property
    def noise_variants(self) -> tuple[str, ...]:
        """The build's noisy variant names, one per rate (`noise_variant`)."""
        return tuple(noise_variant(rate, self.noise_kind) for rate in self.noise)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """How a run reads a built dataset.

    Attributes:
        dataset_dir: a directory written by `lg data build` (holds dataset.json).
        labels: the training label view: 'coarse', 'fine', 'fine_noise_<r>' (within-coarse
            noise), 'fine_noise_launched_<r>' (the authors' launched noise) or 'fine_cluster_<k>'.
        fraction: class-balanced fraction of the training split, in (0, 1] (paper Fig. 2).
        image_size: model input size in pixels; 0 keeps the stored size (must then be fixed).
        augment: 'auto' (crop+flip for images up to 64 px, random-resized crop+flip above),
            'none', 'crop_flip' or 'resized_crop_flip'.
        normalize: per-channel normalisation: 'dataset' statistics, 'imagenet' mean/std, 'none',
            or the constants the authors' scripts wrote for every CIFAR-10 run
            ('cifar10_authors': std 0.2023/0.1994/0.2010, not CIFAR-10's true std) and every
            CIFAR-100 subset ('cifar100_authors': the full CIFAR-100 mean/std).
        batch_size: global batch size (split across replicas).
        cache: keep decoded images in memory after the first epoch.
    """

    dataset_dir: str = ""
    labels: str = "fine"
    fraction: float = 1.0
    image_size: int = 0
    augment: str = "auto"
    normalize: str = "dataset"
    batch_size: int = 128
    cache: bool = True

    def __post_init__(self):
        parse_label_view(self.labels)
        _require(_is_number(self.fraction) and 0 < self.fraction <= 1, "data.fraction",
                 "must be in (0, 1]", self.fraction)
        _require(_is_int(self.image_size) and 0 <= self.image_size <= 1024,
                 "data.image_size", "must be an integer in [0, 1024]", self.image_size)
        _choice("data.augment", self.augment, AUGMENTATIONS)
        _choice("data.normalize", self.normalize, NORMALIZATIONS)
        _require(_is_int(self.batch_size) and 1 <= self.batch_size <= 65536,
                 "data.batch_size", "must be an integer in [1, 65536]", self.batch_size)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network and its head (paper Table III, IV, V).

    Attributes:
        name: 'preact_resnet18' or 'wide_resnet'.
        width: base width of the pre-activation ResNet-18 (64: CIFAR-10 network, widest 512;
            16: the ImageNet-subset network, widest 128).
        head: 'linear', 'extra_layer' (Table IV, linear bottleneck as the authors' code),
            'extra_layer_relu' (the same with a ReLU) or 'dropout' (Table V).
        dropout: dropout rate of the 'dropout' head.
        weight_decay: PyTorch-style weight decay, applied as L2 of weight_decay / 2 on every weight.
        bn_momentum: BatchNorm moving-average momentum in Keras terms (PyTorch 0.1 = Keras 0.9).
        bn_epsilon: BatchNorm epsilon (PyTorch default 1e-5).
        depth: Wide ResNet depth.
        widen_factor: Wide ResNet widening factor.
        block_dropout: dropout inside Wide ResNet blocks.
        final_norm: preact_resnet18 only: BatchNorm-ReLU after the last stage, before pooling
            (He et al. 2016's pre-activation network). The authors' code (kuangliu's
            PreActResNet18) pools the last block's raw output: the paper profile sets False.
        init: 'default' (conv/linear kernels and biases U(+-1/sqrt(fan_in)), BatchNorm gamma 1;
            the Wide ResNet's convs use meliketoy's `conv_init`, xavier_uniform gain sqrt 2) or
            'authors' (what the authors' PyTorch 0.3 runs got: every conv and linear weight and
            bias U(+-1/sqrt(fan_in)), BatchNorm gamma U(0, 1) and beta 0, the Wide ResNet too,
            since their code never applied `conv_init`).
    """

    name: str = "preact_resnet18"
    width: int = 64
    head: str = "linear"
    dropout: float = 0.3
    weight_decay: float = 5e-4
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    depth: int = 28
    widen_factor: int = 10
    block_dropout: float = 0.3
    final_norm: bool = dataclasses.field(default=True, metadata={HASHED_WHEN_DEFAULT: False})
    init: str = dataclasses.field(default="default", metadata={HASHED_WHEN_DEFAULT: False})

    def __post_init__(self):
        _choice("model.name", self.name, models.model_names())
        _choice("model.init", self.init, INITIALIZATIONS)
        _require(isinstance(self.final_norm, bool), "model.final_norm", "must be true or false",
                 self.final_norm)
        _require(self.final_norm or self.name == "preact_resnet18", "model.final_norm",
                 "can be false only for preact_resnet18 (the Wide ResNet always ends with "
                 "BatchNorm-ReLU, as the authors' code does)", self.final_norm)
        _choice("model.head", self.head, HEAD_NAMES)
        _require(_is_int(self.width) and 1 <= self.width <= 1024, "model.width",
                 "must be an integer in [1, 1024]", self.width)
        for name in ("dropout", "block_dropout"):
            value = getattr(self, name)
            _require(_is_number(value) and 0 <= value < 1, f"model.{name}",
                     "must be in [0, 1)", value)
        _require(_is_number(self.weight_decay) and 0 <= self.weight_decay < 1,
                 "model.weight_decay", "must be in [0, 1)", self.weight_decay)
        _require(_is_number(self.bn_momentum) and 0 <= self.bn_momentum < 1,
                 "model.bn_momentum", "must be in [0, 1)", self.bn_momentum)
        _require(_is_number(self.bn_epsilon) and 0 < self.bn_epsilon < 1,
                 "model.bn_epsilon", "must be in (0, 1)", self.bn_epsilon)
        _require(_is_int(self.depth) and self.depth >= 10 and (self.depth - 4) % 6 == 0,
                 "model.depth", "must be an integer >= 10 with (depth - 4) divisible by 6", self.depth)
        _require(_is_int(self.widen_factor) and 1 <= self.widen_factor <= 32,
                 "model.widen_factor", "must be an integer in [1, 32]", self.widen_factor)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimisation recipe (the authors' code: SGD 0.9, lr 0.1, cut at fixed epochs).

    Schedules are defined in optimizer steps: `epochs` counts epochs of the FULL training split, so
    a run on fraction f trains about epochs / f epochs with the same number of weight updates
    (`epoch_rounding` says how that is rounded).

    Attributes:
        epochs: epochs at fraction 1.0.
        learning_rate: peak learning rate (0.1 CIFAR, 0.01 ImageNet subsets).
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        schedule: 'step' (multiply by lr_drop_factor at lr_drop_at of the steps), 'warmup_cosine'
            (linear warm-up then cosine decay to 0, for short CPU runs), 'constant', or
            'milestones' (the authors' regimes: `lr_milestones`).
        lr_drop_at: fractions of total steps where the 'step' schedule cuts the learning rate.
        lr_drop_factor: factor of each cut.
        lr_milestones: the 'milestones' schedule: (epoch, factor) pairs, epochs of the full
            split in increasing order. From the first step of epoch E' (0-based) the rate is
            multiplied by `factor`, where E' is epoch E scaled to the data fraction by
            `epoch_rounding` (the authors' int(E // f)). ((150, 0.1),) is the CIFAR-10 regime.
        epoch_rounding: how epochs scale to a data fraction f: 'ceil' (ceil(E / f)) or 'floor'
            (int(E // f) with Python's float floor division, as the authors' scripts wrote it:
            200 // 0.2 is 999, 60 // 0.8 is 74).
        restart_momentum: zero the SGD momentum buffers at the start of every epoch, as the
            authors' `adjust_optimizer` did by building a new SGD each epoch.
        authors_test_passes: 0, or the number of passes over the test split the trainer makes at
            the end of every epoch through the TRAINING transform (random crop + flip), the
            authors' ImageNet-subset protocol: the first pass's accuracy is their per-epoch test
            accuracy (they kept the best epoch), and ACR is one ratio of sums over all passes.
        warmup_epochs: warm-up length of 'warmup_cosine', in full-data epochs.
        seed: seed of initialisation, data order and augmentation.
        strategy: 'auto' (mirrored on several GPUs, else one device), 'default', 'mirrored' or
            'multi_worker' (MultiWorkerMirroredStrategy from TF_CONFIG).
        num_cpu_replicas: logical CPU devices for 'mirrored' on a machine without GPUs.
        collective_timeout_s: 'multi_worker' only: seconds after which any collective op (the
            gradient all-reduce, a metric read) fails with DeadlineExceeded, so a stalled peer
            stops the run instead of hanging it (`tf.distribute.experimental.CommunicationOptions`).
            It must exceed the longest time one worker can wait for another at a collective,
            such as the chief writing a checkpoint. Left out of the hash at its default.
        mixed_precision: 'auto' (mixed_float16 on GPUs, float32 elsewhere), 'on' (mixed_float16),
            'bfloat16' (mixed_bfloat16: for CPUs with native bfloat16, AMX or AVX512-BF16, where
            convolutions run about 1.5x faster; see `machine.native_bfloat16`), 'off', or
            'native_bfloat16' (decided where the run trains: mixed_float16 on GPUs, mixed_bfloat16
            on a CPU that computes bfloat16 natively, float32 elsewhere; what a compiled pipeline
            carries for the cpu profile).
        deterministic: enable TensorFlow op determinism.
        max_steps_per_epoch: cap on steps per epoch (0 = whole epoch); for benchmarks and smoke runs.
        eval_every: evaluate on the test split every N epochs for the curves of Fig. 3 (0 = never).
            These figures are only logged: nothing uses them to steer training or pick a checkpoint.
    """

    epochs: int = 200
    learning_rate: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "step"
    lr_drop_at: tuple[float, ...] = (0.75,)
    lr_drop_factor: float = 0.1
    warmup_epochs: float = 0.0
    seed: int = 0
    strategy: str = "auto"
    num_cpu_replicas: int = 2
    mixed_precision: str = "auto"
    deterministic: bool = False
    max_steps_per_epoch: int = 0
    eval_every: int = 1
    lr_milestones: tuple[tuple[int, float], ...] = dataclasses.field(
        default=(), metadata={HASHED_WHEN_DEFAULT: False})
    epoch_rounding: str = dataclasses.field(default="ceil",
                                            metadata={HASHED_WHEN_DEFAULT: False})
    restart_momentum: bool = dataclasses.field(default=False,
                                               metadata={HASHED_WHEN_DEFAULT: False})
    authors_test_passes: int = dataclasses.field(default=0, metadata={HASHED_WHEN_DEFAULT: False})
    collective_timeout_s: float = dataclasses.field(default=300.0,
                                                    metadata={HASHED_WHEN_DEFAULT: False})

    def __post_init__(self):
        _require(_is_int(self.epochs) and 1 <= self.epochs <= 100_000, "train.epochs",
                 "must be an integer in [1, 100000]", self.epochs)
        _require(_is_number(self.learning_rate) and 0 < self.learning_rate <= 10,
                 "train.learning_rate", "must be in (0, 10]", self.learning_rate)
        _require(_is_number(self.momentum) and 0 <= self.momentum < 1,
                 "train.momentum", "must be in [0, 1)", self.momentum)
        _choice("train.schedule", self.schedule, SCHEDULES)
        object.__setattr__(self, "lr_drop_at", tuple(self.lr_drop_at))
        _require(all(_is_number(x) and 0 < x < 1 for x in self.lr_drop_at)
                 and list(self.lr_drop_at) == sorted(self.lr_drop_at), "train.lr_drop_at",
                 "must be increasing fractions in (0, 1)", self.lr_drop_at)
        _require(_is_number(self.lr_drop_factor) and 0 < self.lr_drop_factor <= 1,
                 "train.lr_drop_factor", "must be in (0, 1]", self.lr_drop_factor)
        _require(_is_number(self.warmup_epochs) and 0 <= self.warmup_epochs
                 < self.epochs, "train.warmup_epochs", "must be in [0, epochs)",
                 self.warmup_epochs)
        _require(_is_int(self.seed) and 0 <= self.seed < 2**31, "train.seed",
                 "must be an integer in [0, 2**31)", self.seed)
        _choice("train.strategy", self.strategy, STRATEGIES)
        _require(_is_int(self.num_cpu_replicas) and 1 <= self.num_cpu_replicas <= 64,
                 "train.num_cpu_replicas", "must be an integer in [1, 64]", self.num_cpu_replicas)
        _choice("train.mixed_precision", self.mixed_precision, MIXED_PRECISION)
        _require(_is_number(self.collective_timeout_s) and 1 <= self.collective_timeout_s <= 86400,
                 "train.collective_timeout_s", "must be a number of seconds in [1, 86400]",
                 self.collective_timeout_s)
        _require(_is_int(self.max_steps_per_epoch) and self.max_steps_per_epoch >= 0,
                 "train.max_steps_per_epoch", "must be an integer >= 0", self.max_steps_per_epoch)
        _require(_is_int(self.eval_every) and self.eval_every >= 0, "train.eval_every",
                 "must be an integer >= 0", self.eval_every)
        _choice("train.epoch_rounding", self.epoch_rounding, EPOCH_ROUNDINGS)
        _require(isinstance(self.restart_momentum, bool), "train.restart_momentum",
                 "must be true or false", self.restart_momentum)
        _require(_is_int(self.authors_test_passes) and 0 <= self.authors_test_passes <= 100,
                 "train.authors_test_passes", "must be an integer in [0, 100]",
                 self.authors_test_passes)
        _require(isinstance(self.lr_milestones, (list, tuple)), "train.lr_milestones",
                 "must be a list of [epoch, factor] pairs", self.lr_milestones)
        milestones = tuple(tuple(m) if isinstance(m, (list, tuple)) else m
                           for m in self.lr_milestones)
        object.__setattr__(self, "lr_milestones", milestones)
        _require(all(isinstance(m, tuple) and len(m) == 2 and _is_int(m[0])
                     and 1 <= m[0] < self.epochs and _is_number(m[1]) and 0 < m[1] <= 1
                     for m in milestones)
                 and [m[0] for m in milestones] == sorted({m[0] for m in milestones}),
                 "train.lr_milestones", "must be [epoch, factor] pairs with increasing epochs in "
                 "[1, epochs) and factors in (0, 1]", self.lr_milestones)
        _require(self.schedule != "milestones" or bool(milestones), "train.lr_milestones",
                 "must not be empty when train.schedule is 'milestones'", self.lr_milestones)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One training run: data view, network and recipe."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self):
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            _require(isinstance(getattr(self, name), kind), name, f"must be a {kind.__name__}",
                     getattr(self, name))

    def epochs_to_run(self) -> int:
        """Epochs over the (possibly reduced) training split with the full-data update count."""
        return self.scaled_epoch(self.train.epochs)

    def scaled_epoch(self, epoch: int) -> int:
        """Full-split epoch `epoch` scaled to the data fraction by `train.epoch_rounding`.

        'ceil': ceil(epoch / f) (a float tolerance keeps 12 / 0.6 at 20); 'floor': the authors'
        int(epoch // f), Python's float floor division, so 200 // 0.2 is 999, not 1000.
        """
        f = self.data.fraction
        if self.train.epoch_rounding == "floor":
            return max(1, int(epoch // f))
        return max(1, math.ceil(epoch / f - 1e-9))


def to_dict(cfg) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def hashed_fields(cfg) -> dict:
    """The fields of a config dataclass that its hash covers (nested configs recursively)."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not f.metadata.get(HASHED_WHEN_DEFAULT, True) and value == f.default:
            continue
        out[f.name] = hashed_fields(value) if dataclasses.is_dataclass(value) else value
    return out


def config_hash(cfg) -> str:
    """A short stable hash of a config, used to name and skip finished outputs.

    Fields added after runs were recorded carry `HASHED_WHEN_DEFAULT: False`: at their default
    they are left out, so adding one keeps every existing hash (and finished run) valid.

    The hash sees values as they are: TrainConfig(warmup_epochs=2) hashes 2, but `from_dict` turns
    a JSON 2 into 2.0 for a float field, so the same config rebuilt from JSON hashes differently.
    Finished runs carry the hash of whichever form built them; neither may change.
    """
    return fingerprint(hashed_fields(cfg))


def from_dict(kind: type, data: Any, field: str = ""):
    """Builds a config dataclass from a (JSON) dict, rejecting unknown keys by name.

    Args:
        kind: the dataclass type to build.
        data: a mapping of field names to values (nested mappings for nested configs).
        field: dotted prefix for error messages.

    Returns:
        An instance of `kind`, validated by its __post_init__.

    Raises:
        ConfigError: for a non-mapping, an unknown key or a value of the wrong type.
    """
    prefix = f"{field}." if field else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{field or kind.__name__} must be a mapping; got {data!r}.")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - set(fields), key=str)  # JSON keys are strings; others may not be
    if unknown:
        raise ConfigError(f"Unknown field {prefix + str(unknown[0])!r}. Available: "
                          f"{', '.join(sorted(fields))}.")
    hints = typing.get_type_hints(kind)
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = from_dict(hint, value, prefix + name)
        else:
            kwargs[name] = _coerce(hint, value, prefix + name)
    return kind(**kwargs)


def parse_config(kind: type, value: Any):
    """A `kind` config from what an entry point received: the config itself, a mapping
    (`from_dict`), or that mapping as a JSON string; None and '' give the defaults.

    Raises:
        ConfigError: for malformed JSON, a non-mapping, an unknown key or an invalid value.
    """
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            value = json.loads(value or "{}")
        except (json.JSONDecodeError, RecursionError) as e:
            raise ConfigError(f"The {kind.__name__} must be a JSON object; got {value!r:.200} "
                              f"({e}).") from e
    return from_dict(kind, {} if value is None else value)


def _coerce(hint, value, field: str):
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{field} must be a list; got {value!r}.")
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ConfigError(f"{field} must be of type {hint.__name__}; got {value!r}.")
    return value


def apply_overrides(cfg, overrides: list[str]):
    """Applies `a.b=value` overrides (value parsed as JSON, else taken as a string).

    Args:
        cfg: a config dataclass instance.
        overrides: strings like 'train.epochs=2' or 'data.labels=coarse'.

    Returns:
        A new, validated config.

    Raises:
        ConfigError: for a malformed override or an unknown field (listing the choices).
    """
    data = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects FIELD=VALUE (e.g. train.epochs=2); got {item!r}.")
        path, text = item.split("=", 1)
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        except RecursionError as e:
            raise ConfigError(f"--set {path.strip()}: the value nests too deeply to parse; got "
                              f"{text[:40]!r}...") from e
        node = data
        parts = path.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"Unknown config section {part!r} in --set {item!r}. "
                                  f"Available: {', '.join(k for k, v in node.items() if isinstance(v, dict))}.")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"Unknown field {path!r} in --set {item!r}. Available: "
                              f"{', '.join(sorted(node))}.")
        node[parts[-1]] = value
    return from_dict(type(cfg), data)
