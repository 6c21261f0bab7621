"""Model registry: name -> builder, throughput formula and description of the paper's networks.

- 'preact_resnet18': `PreActResNet18(width=cfg.width)`; width 64 for CIFAR-10 (11.2M parameters),
  16 for the ImageNet subsets (0.7M) (Table III).
- 'wide_resnet': `WideResNet(depth=cfg.depth, widen_factor=cfg.widen_factor,
  block_dropout=cfg.block_dropout)`; WRN-28-10, dropout 0.3 for CIFAR-100 (36.5M) (Table III).

Every model takes `cfg.head` (see `HEAD_NAMES`), `cfg.dropout` (the 'dropout' head's rate),
`cfg.weight_decay` (PyTorch semantics, as L2 regularisers), `cfg.bn_momentum` and `cfg.bn_epsilon`.

The registry's names are what `ModelConfig` accepts (it validates `name` and `head` once, where
the config is made); the planner estimates run times with each entry's throughput formula and the
plan printout describes a network with its `describe`. Adding a network is one `register_model`
call here plus its own module. Importing this package does not import Keras: the builders import
their module when called.

    from lg_keras.models import build_model
    model = build_model(cfg.model, num_classes=10, input_shape=(32, 32, 3))
"""

import dataclasses
import importlib
from typing import Any, Callable

from lg_keras.errors import ConfigError

# Classifier heads (`heads.py` builds each): the registry's head names.
HEAD_NAMES = ('linear', 'extra_layer', 'extra_layer_relu', 'dropout')

# Training images/s at 32 x 32, float32, batch 128 on the reference 2-core CPU (FACTS.md).
# preact_resnet18 width 16 with the fused BatchNorm: quiet CIFAR-10 epochs of the cpu profile took
# 84 s with their validation pass (2026-11-29), i.e. about 640 training images/s; width 64 about
# 85; other widths follow (16 / width) ** 1.5, which fits both.
PREACT_RESNET18_W16_IMAGES_PER_S = 640.0
# WRN-28-10: estimated, about 9x the FLOPs of width 64 (85 images/s); not measured.
WRN_28_10_IMAGES_PER_S = 9.0


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One network of the registry.

    Attributes:
        build: `build(model_cfg, **common)` returns the Keras model; `common` holds num_classes,
            head, num_fine_classes, dropout, weight_decay, bn_momentum, bn_epsilon, init and
            image_shape.
        train_images_per_s: `train_images_per_s(model_cfg)`, the estimated training images/s at
            32 x 32 px in float32 on the reference 2-core CPU; the planner scales it by the
            input's pixel count and the precision.
        describe: `describe(model_cfg)`, the network in a few words ('preact_resnet18 width 16').
    """

    build: Callable[..., Any]
    train_images_per_s: Callable[[Any], float]
    describe: Callable[[Any], str]


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, entry: ModelEntry) -> ModelEntry:
    """Adds `entry` to the registry as `name`.

    Raises:
        ConfigError: if `name` is already registered.
    """
    if name in _MODELS:
        raise ConfigError(f"Model {name!r} is registered twice.")
    _MODELS[name] = entry
    return entry


def unregister_model(name: str) -> None:
    """Removes a model registered by `register_model` (tests)."""
    del _MODELS[name]


def model_names() -> tuple[str, ...]:
    """The registered model names, in registration order."""
    return tuple(_MODELS)


def model_entry(name: str) -> ModelEntry:
    """The registry entry of model `name`.

    Raises:
        ConfigError: for an unknown name, listing the choices.
    """
    if name not in _MODELS:
        raise ConfigError(f"Unknown model {name!r}. Available: {', '.join(_MODELS)}.")
    return _MODELS[name]


def build_model(model_cfg, num_classes: int, input_shape: tuple[int, int, int],
                num_fine_classes: int | None = None):
    """Builds the network `model_cfg` names.

    Args:
        model_cfg: a `ModelConfig` (read by attribute: name, width, head, dropout, weight_decay,
            bn_momentum, bn_epsilon, depth, widen_factor, block_dropout, final_norm, init).
        num_classes: number of output logits (fine or coarse classes, whichever the run trains on).
        input_shape: (height, width, channels) of the images; height and width may be None.
        num_fine_classes: width of the extra layer; required by the extra-layer heads.

    Returns:
        An uncompiled functional `keras.Model` with layers `penultimate` and `logits`.

    Raises:
        ConfigError: on an unknown model or head name (listing the choices), or an invalid value.
    """
    common = dict(num_classes=num_classes, head=model_cfg.head, num_fine_classes=num_fine_classes,
                  dropout=model_cfg.dropout, weight_decay=model_cfg.weight_decay,
                  bn_momentum=model_cfg.bn_momentum, bn_epsilon=model_cfg.bn_epsilon,
                  init=model_cfg.init, image_shape=tuple(input_shape))
    return model_entry(model_cfg.name).build(model_cfg, **common)


# --------------------------------------------------------------------------- the networks


def _build_preact_resnet18(cfg, **common):
    from lg_keras.models.preact_resnet import PreActResNet18
    return PreActResNet18(width=cfg.width, final_norm=cfg.final_norm, **common)


def _build_wide_resnet(cfg, **common):
    from lg_keras.models.wide_resnet import WideResNet
    return WideResNet(depth=cfg.depth, widen_factor=cfg.widen_factor,
                      block_dropout=cfg.block_dropout, **common)


register_model('preact_resnet18', ModelEntry(
    build=_build_preact_resnet18,
    train_images_per_s=lambda cfg: PREACT_RESNET18_W16_IMAGES_PER_S * (16 / cfg.width) ** 1.5,
    describe=lambda cfg: (f"preact_resnet18 width {cfg.width}"
                          f"{'' if cfg.final_norm else ' (no final BN)'}")))
register_model('wide_resnet', ModelEntry(
    build=_build_wide_resnet,
    # Cost grows with widen_factor ** 2 and with depth (blocks per stage = (depth - 4) / 6).
    train_images_per_s=lambda cfg: (WRN_28_10_IMAGES_PER_S * (cfg.widen_factor / 10) ** -2
                                    * 24 / (cfg.depth - 4)),
    describe=lambda cfg: f"wide_resnet {cfg.depth}-{cfg.widen_factor} dropout "
                         f"{cfg.block_dropout:g}"))

# The names as registered here (the config's validation reads `model_names()`, which also sees
# models registered later).
MODEL_NAMES = model_names()

_CLASSES = {'PreActResNet18': 'lg_keras.models.preact_resnet',
            'WideResNet': 'lg_keras.models.wide_resnet'}

__all__ = ['HEAD_NAMES', 'MODEL_NAMES', 'ModelEntry', 'PreActResNet18', 'WideResNet',
           'build_model', 'model_entry', 'model_names', 'register_model']


def __getattr__(name: str):
    # The Keras classes load on first use, so the config and the planner import no Keras.
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
