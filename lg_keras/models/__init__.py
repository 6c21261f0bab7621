"""Model registry: `build_model(cfg.model, num_classes, input_shape)` builds the paper's networks.

- 'preact_resnet18': `PreActResNet18(width=cfg.width)`; width 64 for CIFAR-10 (11.2M parameters),
  16 for the ImageNet subsets (0.7M) (Table III).
- 'wide_resnet': `WideResNet(depth=cfg.depth, widen_factor=cfg.widen_factor,
  block_dropout=cfg.block_dropout)`; WRN-28-10, dropout 0.3 for CIFAR-100 (36.5M) (Table III).

Every model takes `cfg.head` (see `heads.HEAD_NAMES`), `cfg.dropout` (the 'dropout' head's rate),
`cfg.weight_decay` (PyTorch semantics, as L2 regularisers), `cfg.bn_momentum` and `cfg.bn_epsilon`.
"""

import keras

from lg_keras.errors import ConfigError
from lg_keras.models.heads import HEAD_NAMES
from lg_keras.models.preact_resnet import PreActResNet18
from lg_keras.models.wide_resnet import WideResNet

MODEL_NAMES = ('preact_resnet18', 'wide_resnet')

__all__ = ['HEAD_NAMES', 'MODEL_NAMES', 'PreActResNet18', 'WideResNet', 'build_model']


def build_model(model_cfg, num_classes: int, input_shape: tuple[int, int, int],
                num_fine_classes: int | None = None) -> keras.Model:
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
        ConfigError: on an unknown model or head name, or an invalid value.
    """
    if model_cfg.name not in MODEL_NAMES:
        raise ConfigError(f"Unknown model {model_cfg.name!r}. Available: {', '.join(MODEL_NAMES)}.")
    if model_cfg.head not in HEAD_NAMES:
        raise ConfigError(f"Unknown head {model_cfg.head!r}. Available: {', '.join(HEAD_NAMES)}.")
    common = dict(num_classes=num_classes, head=model_cfg.head, num_fine_classes=num_fine_classes,
                  dropout=model_cfg.dropout, weight_decay=model_cfg.weight_decay,
                  bn_momentum=model_cfg.bn_momentum, bn_epsilon=model_cfg.bn_epsilon,
                  init=model_cfg.init, image_shape=tuple(input_shape))
    if model_cfg.name == 'preact_resnet18':
        return PreActResNet18(width=model_cfg.width, final_norm=model_cfg.final_norm, **common)
    return WideResNet(depth=model_cfg.depth, widen_factor=model_cfg.widen_factor,
                      block_dropout=model_cfg.block_dropout, **common)
