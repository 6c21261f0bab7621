"""Typed configuration: frozen dataclasses, the only config types of the project.

`BuildConfig` describes a dataset build (source, hierarchy, noise, subset size). `ExperimentConfig`
nests `DataConfig`, `ModelConfig` and `TrainConfig` for one training run. Each validates itself in
`__post_init__` and raises `ConfigError` naming the field, the rule and the value. Entry points build
a config once (from flags or `--set a.b=value` overrides), log it and write it to `config.json`
beside the results.

The components' own configs (evaluator, cluster, reporter) live in `lg_keras.component_configs`.
Both are turned into dicts and back, overridden and hashed by `lg_keras.config_io`; label-view
names (`DataConfig.labels`) are parsed by `lg_keras.label_views`.
"""

import dataclasses
import math

from lg_keras import models
from lg_keras.config_checks import choice, is_int, is_number, require
from lg_keras.config_io import HASHED_WHEN_DEFAULT
from lg_keras.label_views import NOISE_KINDS, noise_variant, parse_label_view

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
IMAGE_ENCODINGS = ("auto", "raw", "png")
COMPRESSIONS = ("none", "gzip")
# Model and head names come from the model registry (`lg_keras.models`), validated here once.
MODEL_NAMES, HEAD_NAMES = models.MODEL_NAMES, models.HEAD_NAMES


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
        require(isinstance(self.dataset, str) and bool(self.dataset), "dataset",
                 "must be a non-empty string", self.dataset)
        require(isinstance(self.hierarchy, str) and bool(self.hierarchy), "hierarchy",
                 "must be a non-empty string", self.hierarchy)
        object.__setattr__(self, "noise", tuple(self.noise))
        for rate in self.noise:
            require(is_number(rate) and 0 < rate <= 1, "noise",
                     "rates must be numbers in (0, 1]", rate)
        require(len(set(self.noise)) == len(self.noise), "noise", "must not repeat a rate",
                 self.noise)
        require(is_int(self.seed) and self.seed >= 0, "seed",
                 "must be a non-negative integer", self.seed)
        for name in ("max_train_per_class", "max_test_per_class"):
            value = getattr(self, name)
            require(value is None or (is_int(value) and value >= 1), name,
                     "must be None or an integer >= 1", value)
        for name in ("train_shards", "test_shards"):
            value = getattr(self, name)
            require(is_int(value) and 0 <= value <= 10_000, name,
                     "must be an integer in [0, 10000]", value)
        choice("compression", self.compression, COMPRESSIONS)
        choice("image_encoding", self.image_encoding, IMAGE_ENCODINGS)
        choice("noise_kind", self.noise_kind, NOISE_KINDS)
        require(is_number(self.test_fraction) and 0 <= self.test_fraction < 1,
                 "test_fraction", "must be a number in [0, 1)", self.test_fraction)
        require(not self.test_fraction or self.dataset.startswith("folder:"), "test_fraction",
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
        require(is_number(self.fraction) and 0 < self.fraction <= 1, "data.fraction",
                 "must be in (0, 1]", self.fraction)
        require(is_int(self.image_size) and 0 <= self.image_size <= 1024,
                 "data.image_size", "must be an integer in [0, 1024]", self.image_size)
        choice("data.augment", self.augment, AUGMENTATIONS)
        choice("data.normalize", self.normalize, NORMALIZATIONS)
        require(is_int(self.batch_size) and 1 <= self.batch_size <= 65536,
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
        choice("model.name", self.name, models.model_names())
        choice("model.init", self.init, INITIALIZATIONS)
        require(isinstance(self.final_norm, bool), "model.final_norm", "must be true or false",
                 self.final_norm)
        require(self.final_norm or self.name == "preact_resnet18", "model.final_norm",
                 "can be false only for preact_resnet18 (the Wide ResNet always ends with "
                 "BatchNorm-ReLU, as the authors' code does)", self.final_norm)
        choice("model.head", self.head, HEAD_NAMES)
        require(is_int(self.width) and 1 <= self.width <= 1024, "model.width",
                 "must be an integer in [1, 1024]", self.width)
        for name in ("dropout", "block_dropout"):
            value = getattr(self, name)
            require(is_number(value) and 0 <= value < 1, f"model.{name}",
                     "must be in [0, 1)", value)
        require(is_number(self.weight_decay) and 0 <= self.weight_decay < 1,
                 "model.weight_decay", "must be in [0, 1)", self.weight_decay)
        require(is_number(self.bn_momentum) and 0 <= self.bn_momentum < 1,
                 "model.bn_momentum", "must be in [0, 1)", self.bn_momentum)
        require(is_number(self.bn_epsilon) and 0 < self.bn_epsilon < 1,
                 "model.bn_epsilon", "must be in (0, 1)", self.bn_epsilon)
        require(is_int(self.depth) and self.depth >= 10 and (self.depth - 4) % 6 == 0,
                 "model.depth", "must be an integer >= 10 with (depth - 4) divisible by 6", self.depth)
        require(is_int(self.widen_factor) and 1 <= self.widen_factor <= 32,
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
        require(is_int(self.epochs) and 1 <= self.epochs <= 100_000, "train.epochs",
                 "must be an integer in [1, 100000]", self.epochs)
        require(is_number(self.learning_rate) and 0 < self.learning_rate <= 10,
                 "train.learning_rate", "must be in (0, 10]", self.learning_rate)
        require(is_number(self.momentum) and 0 <= self.momentum < 1,
                 "train.momentum", "must be in [0, 1)", self.momentum)
        choice("train.schedule", self.schedule, SCHEDULES)
        object.__setattr__(self, "lr_drop_at", tuple(self.lr_drop_at))
        require(all(is_number(x) and 0 < x < 1 for x in self.lr_drop_at)
                 and list(self.lr_drop_at) == sorted(self.lr_drop_at), "train.lr_drop_at",
                 "must be increasing fractions in (0, 1)", self.lr_drop_at)
        require(is_number(self.lr_drop_factor) and 0 < self.lr_drop_factor <= 1,
                 "train.lr_drop_factor", "must be in (0, 1]", self.lr_drop_factor)
        require(is_number(self.warmup_epochs) and 0 <= self.warmup_epochs
                 < self.epochs, "train.warmup_epochs", "must be in [0, epochs)",
                 self.warmup_epochs)
        require(is_int(self.seed) and 0 <= self.seed < 2**31, "train.seed",
                 "must be an integer in [0, 2**31)", self.seed)
        choice("train.strategy", self.strategy, STRATEGIES)
        require(is_int(self.num_cpu_replicas) and 1 <= self.num_cpu_replicas <= 64,
                 "train.num_cpu_replicas", "must be an integer in [1, 64]", self.num_cpu_replicas)
        choice("train.mixed_precision", self.mixed_precision, MIXED_PRECISION)
        require(is_number(self.collective_timeout_s) and 1 <= self.collective_timeout_s <= 86400,
                 "train.collective_timeout_s", "must be a number of seconds in [1, 86400]",
                 self.collective_timeout_s)
        require(is_int(self.max_steps_per_epoch) and self.max_steps_per_epoch >= 0,
                 "train.max_steps_per_epoch", "must be an integer >= 0", self.max_steps_per_epoch)
        require(is_int(self.eval_every) and self.eval_every >= 0, "train.eval_every",
                 "must be an integer >= 0", self.eval_every)
        choice("train.epoch_rounding", self.epoch_rounding, EPOCH_ROUNDINGS)
        require(isinstance(self.restart_momentum, bool), "train.restart_momentum",
                 "must be true or false", self.restart_momentum)
        require(is_int(self.authors_test_passes) and 0 <= self.authors_test_passes <= 100,
                 "train.authors_test_passes", "must be an integer in [0, 100]",
                 self.authors_test_passes)
        require(isinstance(self.lr_milestones, (list, tuple)), "train.lr_milestones",
                 "must be a list of [epoch, factor] pairs", self.lr_milestones)
        milestones = tuple(tuple(m) if isinstance(m, (list, tuple)) else m
                           for m in self.lr_milestones)
        object.__setattr__(self, "lr_milestones", milestones)
        require(all(isinstance(m, tuple) and len(m) == 2 and is_int(m[0])
                     and 1 <= m[0] < self.epochs and is_number(m[1]) and 0 < m[1] <= 1
                     for m in milestones)
                 and [m[0] for m in milestones] == sorted({m[0] for m in milestones}),
                 "train.lr_milestones", "must be [epoch, factor] pairs with increasing epochs in "
                 "[1, epochs) and factors in (0, 1]", self.lr_milestones)
        require(self.schedule != "milestones" or bool(milestones), "train.lr_milestones",
                 "must not be empty when train.schedule is 'milestones'", self.lr_milestones)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One training run: data view, network and recipe."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self):
        for name, kind in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
            require(isinstance(getattr(self, name), kind), name, f"must be a {kind.__name__}",
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
