"""Label views: which labels a run trains on, and the one parser of their names.

A label view is the string `DataConfig.labels` holds: 'coarse', 'fine', 'fine_noise_<r>' (noise
within each coarse class), 'fine_noise_launched_<r>' (the authors' loop as launched) or
'fine_cluster_<k>'. Code parses it once (`parse_label_view`) and reads the parts;
`lg_keras.records.label_feature` derives the record feature from them. Adding a kind of view is a
change to this module (its pattern and `LabelView.kind`), `records.label_feature` and
`DatasetInfo.label_views`.
"""

import dataclasses
import re

from lg_keras.config_checks import choice
from lg_keras.errors import ConfigError

LABEL_VIEW_PATTERN = re.compile(
    r"^(coarse|fine|fine_noise_(launched_)?(\d+(\.\d+)?)|fine_cluster_(\d+))$")
NOISE_VIEW_PREFIX, CLUSTER_VIEW_PREFIX = "fine_noise_", "fine_cluster_"
# Fine-label noise kinds (Table VII): "within_coarse" swaps fine labels inside a coarse class (the
# authors' fixed code); "launched" is their loop as it stood when the Table VII runs were launched
# (swap partner a position in the whole training set, so swaps cross coarse classes).
NOISE_KINDS = ("within_coarse", "launched")


def format_rate(rate: float) -> str:
    """Formats a noise rate for feature and label-view names: 0.1 -> '0.1', 0.03 -> '0.03'."""
    return f"{rate:g}"


def noise_variant(rate: float, kind: str = "within_coarse") -> str:
    """The name of a noisy fine-label variant: 0.1 -> '0.1' (within_coarse), 'launched_0.1'.

    The label view is 'fine_noise_' + this name, the record feature 'fine_label_noise_' + it.
    """
    choice("noise_kind", kind, NOISE_KINDS)
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
