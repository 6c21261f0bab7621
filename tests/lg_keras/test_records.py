"""The record schema: feature keys of the label views, noisy variants included."""

import pytest

from lg_keras import records
from lg_keras.config import noise_variant


@pytest.mark.parametrize("view,feature", [
    ("fine", "fine_label"),
    ("coarse", "coarse_label"),
    ("fine_noise_0.1", "fine_label_noise_0.1"),
    ("fine_noise_launched_0.1", "fine_label_noise_launched_0.1"),
    ("fine_cluster_5", "fine_label_cluster_5"),
])
def test_label_feature(view, feature):
    assert records.label_feature(view) == feature


@pytest.mark.parametrize("kind", ["within_coarse", "launched"])
def test_noise_view_and_feature_share_the_variant_name(kind):
    variant = noise_variant(0.03, kind)
    assert records.label_feature(f"fine_noise_{variant}") == records.noise_feature(variant)


def test_unknown_label_view():
    with pytest.raises(ValueError, match="fine_noisy_0.1"):
        records.label_feature("fine_noisy_0.1")
