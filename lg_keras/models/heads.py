"""Classifier heads applied to the pooled penultimate features.

- 'linear': Dense(num_classes), the authors' baseline CNN.
- 'extra_layer': Table IV's "Extra layer" exactly as the authors' code builds it:
  Linear(features -> num_fine_classes) then Linear(-> num_classes) with NO activation between them.
  The composite is still affine (a rank-limited linear classifier): it adds parameters but, despite
  the paper's wording ("increase network non-linearity"), no non-linearity.
- 'extra_layer_relu': the same two layers with a ReLU between them, closer to the paper's wording;
  not what produced Table IV.
- 'dropout': Dropout(rate) between the pooled features and Dense(num_classes) (Table V, rate 0.3).

All Dense layers use PyTorch nn.Linear's default init and PyTorch-style weight decay on kernel and
bias (see `layers.py`). The last layer is named `logits`, outputs logits (no softmax) and computes
in float32 even under a mixed-precision policy.
"""

import keras

from lg_keras.errors import ConfigError
from lg_keras.models import HEAD_NAMES, layers

# Heads that need the number of fine classes: the width of the extra layer.
_NEEDS_FINE = ('extra_layer', 'extra_layer_relu')


def check_head_args(owner, head, num_fine_classes, dropout):
    """Validates the head arguments a model constructor receives (the head's name is the config's
    to validate, from the registry's names; `apply_head` looks it up).

    Args:
        owner: name of the model being built, for the error message.
        head: one of HEAD_NAMES.
        num_fine_classes: width of the extra layer; required (>= 1) for the extra-layer heads.
        dropout: dropout rate of the 'dropout' head; must be in [0, 1).

    Raises:
        ConfigError: if a value breaks its rule.
    """
    if head in _NEEDS_FINE:
        valid = isinstance(num_fine_classes, int) and not isinstance(num_fine_classes, bool)
        if not valid or num_fine_classes < 1:
            raise ConfigError(f"{owner} head={head!r} needs num_fine_classes, a positive integer (the width "
                              f"of the extra layer); got {num_fine_classes!r}.")
    if not 0 <= dropout < 1:
        raise ConfigError(f'{owner} dropout must be in [0, 1); got {dropout!r}.')


def apply_head(features, head, num_classes, *, num_fine_classes=None, dropout=0.3, weight_decay=5e-4):
    """Adds a classifier head on top of pooled features.

    Args:
        features: (batch, channels) tensor, the pooled penultimate features.
        head: one of HEAD_NAMES.
        num_classes: number of output logits.
        num_fine_classes: width of the extra layer (extra-layer heads only).
        dropout: rate of the 'dropout' head's Dropout layer (ignored by the other heads).
        weight_decay: PyTorch-style weight decay for every Dense kernel and bias.

    Returns:
        (batch, num_classes) float32 logits from a Dense layer named `logits`.

    Raises:
        ConfigError: on an unknown head or missing num_fine_classes.
    """
    if head not in _BEFORE_LOGITS:
        raise ConfigError(f"Unknown head {head!r}. Available: {', '.join(_BEFORE_LOGITS)}.")
    check_head_args('head', head, num_fine_classes, dropout)
    x = _BEFORE_LOGITS[head](features, num_fine_classes=num_fine_classes, dropout=dropout,
                             weight_decay=weight_decay)
    return layers.dense(x, num_classes, weight_decay=weight_decay, dtype='float32', name='logits')


def _extra_layer(activation):
    def before_logits(x, *, num_fine_classes, dropout, weight_decay):
        del dropout
        return layers.dense(x, num_fine_classes, weight_decay=weight_decay, activation=activation,
                            name='extra_layer')
    return before_logits


# What each head puts between the pooled features and the `logits` layer.
_BEFORE_LOGITS = {
    'linear': lambda x, **_: x,
    'extra_layer': _extra_layer(None),
    'extra_layer_relu': _extra_layer('relu'),
    'dropout': lambda x, *, dropout, **_: keras.layers.Dropout(dropout, name='head_dropout')(x),
}
assert tuple(_BEFORE_LOGITS) == HEAD_NAMES, "heads.py builds exactly the registry's heads"
